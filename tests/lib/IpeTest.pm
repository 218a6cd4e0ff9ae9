package IpeTest;
# Helpers for the CLI end-to-end tests: run ipe-run with a clean environment and
# capture stdout, stderr and the exit code separately.
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use File::Spec;
use Cwd qw(abs_path);
use POSIX ();

our @EXPORT = qw(ipe ipe_ok repo_root fixtures_dir demo_db tmpdir NOW slurp spew);

use constant NOW => '2026-11-27T12:00:00Z';

my $root = abs_path(File::Spec->catdir((File::Spec->splitpath(abs_path(__FILE__)))[1], '..', '..'));
sub repo_root { $root }
sub fixtures_dir { "$root/tests/fixtures" }
sub bin { $ENV{IPE_RUN} || "$root/ipe-run" }
sub tmpdir { tempdir('ipe-test-XXXXXX', TMPDIR => 1, CLEANUP => 1) }

# Each test file gets its own XDG folders: nothing of the developer's leaks in or out.
my $xdg;
sub xdg_home { $xdg //= tmpdir() }

# ipe({env => {...}, stdin => '...'}, args...) -> (stdout, stderr, exit code)
sub ipe {
    my $opts = ref $_[0] eq 'HASH' ? shift : {};
    my @cmd = (bin(), @_);
    unshift @cmd, qw(valgrind -q --error-exitcode=99 --leak-check=no) if $ENV{IPE_VALGRIND};
    my %env = (PATH => $ENV{PATH}, HOME => $ENV{HOME} // '/tmp', COLUMNS => 100, NO_COLOR => 1,
               IPE_NOW => NOW, LANG => 'C.UTF-8', XDG_DATA_HOME => xdg_home(),
               XDG_STATE_HOME => xdg_home() . '/state', XDG_CONFIG_HOME => xdg_home() . '/config');
    for my $k (qw(ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS)) { $env{$k} = $ENV{$k} if defined $ENV{$k} }
    my $extra = $opts->{env} || {};
    for my $k (keys %$extra) { defined $extra->{$k} ? ($env{$k} = $extra->{$k}) : delete $env{$k} }
    local %ENV = %env;
    my $dir = tmpdir();
    spew("$dir/in", defined $opts->{stdin} ? $opts->{stdin} : '');
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        # never die in the child: that would run the parent's destructors (a mock server's stop) here
        open(STDIN, '<', "$dir/in") && open(STDOUT, '>', "$dir/out") && open(STDERR, '>', "$dir/err")
            or POSIX::_exit(126);
        { exec { $cmd[0] } @cmd }
        print STDERR "exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $status = $?;
    my ($o, $e) = (slurp("$dir/out"), slurp("$dir/err"));
    return ($o, $e, $status & 127 ? 128 + ($status & 127) : $status >> 8);
}

sub slurp { my $f = shift; open my $fh, '<', $f or die "$f: $!"; local $/; my $s = <$fh>; close $fh; $s }
sub spew { my ($f, $s) = @_; open my $fh, '>', $f or die "$f: $!"; print $fh $s; close $fh }

# A demo workspace built once per test file (pinned time, small).
my %demo;
sub demo_db {
    my (%o) = @_;
    my $events = $o{events} // 20000;
    return $demo{$events} if $demo{$events};
    my $dir = tmpdir();
    my $db = "$dir/demo.db";
    my ($out, $err, $rc) = ipe('demo', '--db', $db, '--events', $events, '--seed', 1);
    die "demo failed ($rc): $err" if $rc != 0;
    return $demo{$events} = $db;
}

1;
