#!/usr/bin/perl
# The C unit tests (one per binding) as TAP subtests, with the temporary HOME and XDG
# folders of IpeTest. No C test built is a failure: `make test` builds them.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IpeTest;
use Test::More;

my $dir = $ENV{IPE_C_TESTS} || repo_root() . '/build';
my @tests = grep { -x } glob("$dir/test_*");
ok(scalar @tests, "C tests are built in $dir (make test builds them)");
chdir repo_root() or die "chdir: $!";
$ENV{IPE_TEST_FIXTURES} = fixtures_dir() . '/mmdb';
for my $t (@tests) {
    my $out = `'$t' 2>&1`;
    my $rc = $?;
    print map { "    $_\n" } split /\n/, $out;
    my $name = (split m{/}, $t)[-1];
    ok($rc == 0 && $out =~ /^1\.\.[1-9]/m && $out !~ /^(?:not ok|.*# SKIP)/m, $name);
}
done_testing();
