package Bench;
# Timing helpers for the benchmarks: run a command N times, report the median.
use strict;
use warnings;
use Exporter 'import';
use Config;
use Time::HiRes qw(time);
our @EXPORT = qw(median_ms medians_ms run_quiet);

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

# The CPU time (user + system) of the reaped children so far, in ms: getrusage(RUSAGE_CHILDREN)
# (microseconds) on x86_64 Linux, else times() (clock ticks of 10 ms)
sub children_cpu_ms {
    if ($Config{archname} =~ /^x86_64-linux/) {
        my $ru = "\0" x 144;
        if (syscall(98, -1, $ru) == 0) {    # SYS_getrusage, RUSAGE_CHILDREN
            my ($us, $uu, $ss, $su) = unpack 'q4', $ru;
            return ($us + $ss) * 1000 + ($uu + $su) / 1000;
        }
    }
    my (undef, undef, $cu, $cs) = times;
    return ($cu + $cs) * 1000;
}

# medians_ms($runs, @cmd) -> (median wall time, median CPU time (user + system) of the command),
# in ms: on a loaded machine the CPU time is the steadier of the two
sub medians_ms {
    my ($runs, @cmd) = @_;
    my (@wall, @cpu);
    for (1 .. $runs) {
        my $c0 = children_cpu_ms();
        my $t0 = time;
        my $rc = run_quiet(@cmd);
        die "benchmark command failed ($rc): @cmd\n" if $rc > 1;
        push @wall, (time - $t0) * 1000;
        push @cpu, children_cpu_ms() - $c0;
    }
    my $median = sub {
        my @t = sort { $a <=> $b } @_;
        return @t % 2 ? $t[$#t / 2] : ($t[@t / 2 - 1] + $t[@t / 2]) / 2;
    };
    return ($median->(@wall), $median->(@cpu));
}

1;
