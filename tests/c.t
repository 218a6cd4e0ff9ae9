#!/usr/bin/perl
# The C unit tests (one per binding) as TAP subtests, with the temporary HOME and XDG
# folders of IpeTest. No C test built is a failure: `make test` builds them.
#
# Under IPE_VALGRIND=1 (make valgrind) each runs under memcheck: a memory error in any of its
# processes fails it (--error-exitcode, in a forked worker too, through its exit status), and so
# does a leak (definite or indirect) of the test process itself. A forked worker or HTTP
# handler ends with _exit() by design, nothing of the parent's state torn down (as
# LeakSanitizer, which checks no _exit): what it leaves allocated is not a leak. The tests of
# timing scale their bounds by IPE_TEST_SLOW (tap.h), 10 under valgrind.
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
my $vg = $ENV{IPE_VALGRIND};
my $logs = $vg && tmpdir();
$ENV{IPE_TEST_SLOW} = 10 if $vg;

# run(test) -> its output (stdout and stderr), exit status, pid
sub run {
    my ($t, $name) = @_;
    my @cmd = $vg ? ('valgrind', '--leak-check=full', '--errors-for-leak-kinds=none', '--show-leak-kinds=definite,indirect',
                     '--error-exitcode=9', "--log-file=$logs/$name.%p.log", $t) : ($t);
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) { open(STDERR, '>&', \*STDOUT) or die; exec(@cmd) or die "exec $cmd[0]: $!" }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($out, $?, $pid);
}

for my $t (@tests) {
    my $name = (split m{/}, $t)[-1];
    my ($out, $rc, $pid) = run($t, $name);
    print map { "    $_\n" } split /\n/, $out;
    ok($rc == 0 && $out =~ /^1\.\.[1-9]/m && $out !~ /^(?:not ok|.*# SKIP)/m, $name);
    next unless $vg;
    my $log = slurp("$logs/$name.$pid.log");
    my @errors = map { slurp($_) =~ /^==\d+== (?:Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and dest).*/mg }
        glob("$logs/$name.*.log");
    is(join("\n", @errors), '', "$name: no memory error in any of its processes");
    my %lost = $log =~ /^==\d+==\s+(definitely|indirectly) lost: ([\d,]+) bytes/mg;
    ok($log =~ /ERROR SUMMARY: 0 errors/ && !grep({ $_ ne '0' } values %lost), "$name: the test process leaks nothing")
        or diag($log);
}
done_testing();
