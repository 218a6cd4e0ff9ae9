#!/usr/bin/perl
# Golden files: each tests/golden/<case>.cmd runs against the deterministic demo workspace
# (tests/golden/README.md) and its output must equal <case>.out; a difference is shown as a
# unified diff. `make golden` (perl tests/golden.t --update) rewrites the .out files, after
# which `git diff tests/golden` is the review.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IpeTest;
use Golden qw(cases run_case);
use Test::More;

my $update = @ARGV && $ARGV[0] eq '--update';
my $dir = repo_root() . '/tests/golden';
my @cases = cases();
ok(scalar @cases, 'golden cases in tests/golden');

# a stale .out (its .cmd gone) fails here and `make golden` removes it
my %cmd = map { $_ => 1 } @cases;
opendir my $dh, $dir or die "$dir: $!";
for my $stale (sort grep { /\.out$/ && !$cmd{ s/\.out$//r } } readdir $dh) {
    if ($update) { unlink "$dir/$stale"; diag("removed $stale") }
    else { fail("$stale has no .cmd (make golden removes it)") }
}

my ($written, $changed) = (0, 0);
for my $case (@cases) {
    my $got = run_case($case);
    my $file = "$dir/$case.out";
    my $want = -e $file ? slurp($file) : undef;
    if ($update) {
        next if defined $want && $want eq $got;
        spew($file, $got);
        $changed++;
        diag(defined $want ? "updated $case.out" : "created $case.out");
        next;
    }
    if (!defined $want) { fail("$case: no $case.out (make golden writes it)"); next }
    if ($got eq $want) { pass($case); next }
    fail($case);
    my $tmp = tmpdir();
    spew("$tmp/got", $got);
    diag(scalar `diff -u --label 'tests/golden/$case.out' --label '$case (this build)' '$file' '$tmp/got'`);
}
diag("make golden: $changed of " . scalar(@cases) . " .out files written; review with git diff tests/golden") if $update;
done_testing();
