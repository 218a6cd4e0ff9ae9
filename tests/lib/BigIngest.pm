package BigIngest;
# What the ingest tests that kill or read during an ingest share: generated CommonSecurityLog
# rows, and an `ipe-run ingest -` reading a pipe the test holds open (so it is mid-input, for
# sure, for as long as the test wants).
use strict;
use warnings;
use Exporter 'import';
use IO::Handle;
use POSIX ();
use IpeTest;

our @EXPORT_OK = qw(csl_jsonl ingest_pipe);

# csl_jsonl(n) -> (text, probe, probe_rows): n CommonSecurityLog JSON lines (row i from
# 10.<i % 256>.<(i >> 8) % 256>.<i % 250 + 1>), the source address of row 1000 and its row count
sub csl_jsonl {
    my ($n) = @_;
    my $ip = sub { my $i = shift; sprintf('10.%d.%d.%d', $i % 256, ($i >> 8) % 256, $i % 250 + 1) };
    my ($probe, $probe_n, $text) = ($ip->(1000), 0, '');
    for my $i (1 .. $n) {
        my $src = $ip->($i);
        $probe_n++ if $src eq $probe;
        $text .= sprintf '{"TimeGenerated":"2024-02-%02dT%02d:%02d:%02d.000Z","SourceIP":"%s","SourcePort":%d,'
            . '"DestinationIP":"203.0.113.%d","DestinationPort":443,"DeviceAction":"allow","Type":"CommonSecurityLog"}' . "\n",
            1 + $i % 28, $i % 24, $i % 60, $i % 59, $src, 1024 + $i % 60000, $i % 250 + 1;
    }
    return ($text, $probe, $probe_n);
}

# ingest_pipe(db, text, dir) -> (pid, write end): `ipe-run ingest - --db db` (stdout and stderr
# in dir/pipe.out and dir/pipe.err) fed text; returns once the ingest has read all of it but a
# pipe buffer. The caller writes the rest and closes the pipe, or kills the ingest.
sub ingest_pipe {
    my ($db, $text, $dir) = @_;
    $SIG{PIPE} = 'IGNORE';
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        close $w;
        open STDIN, '<&', $r or POSIX::_exit(126);
        open STDOUT, '>', "$dir/pipe.out" or POSIX::_exit(126);
        open STDERR, '>', "$dir/pipe.err" or POSIX::_exit(126);
        $ENV{IPE_NOW} = NOW;
        exec $ENV{IPE_RUN} || repo_root() . '/ipe-run', 'ingest', '-', '--db', $db or POSIX::_exit(127);
    }
    close $r;
    $w->autoflush(1);
    print {$w} $text;
    return ($pid, $w);
}

1;
