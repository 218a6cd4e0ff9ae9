package Bench;
# Timing helpers for the benchmarks: run a command N times, report the median.
use strict;
use warnings;
use Exporter 'import';
use Time::HiRes qw(time);
our @EXPORT = qw(median_ms run_quiet);

sub run_quiet {
    my @cmd = @_;
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec @cmd or exit 127;
    }
    waitpid $pid, 0;
    return $? >> 8;
}

# median_ms($runs, @cmd) -> median wall time in ms (the command must exit 0 or 1)
sub median_ms {
    my ($runs, @cmd) = @_;
    my @t;
    for (1 .. $runs) {
        my $t0 = time;
        my $rc = run_quiet(@cmd);
        die "benchmark command failed ($rc): @cmd\n" if $rc > 1;
        push @t, (time - $t0) * 1000;
    }
    @t = sort { $a <=> $b } @t;
    return @t % 2 ? $t[$#t / 2] : ($t[@t / 2 - 1] + $t[@t / 2]) / 2;
}

1;
