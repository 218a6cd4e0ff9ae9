package IpeTest;
# Helpers for the CLI end-to-end tests: run ipe-run with a clean environment and
# capture stdout, stderr and the exit code separately.
#
# Loading this module isolates the whole test process from the developer's
# environment: HOME and every XDG_*_HOME point into a fresh temporary folder, the
# ipe settings (IPE_* but the harness's own knobs), proxies and colour requests
# are removed. Everything a test starts (ipe(), system, fork/exec) inherits that.
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use File::Spec;
use Cwd qw(abs_path);
use POSIX ();

our @EXPORT = qw(ipe ipe_ok repo_root fixtures_dir demo_db tmpdir NOW slurp spew isolated_home);

use constant NOW => '2026-11-27T12:00:00Z';

my $root = abs_path(File::Spec->catdir((File::Spec->splitpath(abs_path(__FILE__)))[1], '..', '..'));
sub repo_root { $root }
sub fixtures_dir { "$root/tests/fixtures" }
sub bin { $ENV{IPE_RUN} || "$root/ipe-run" }
sub tmpdir { tempdir('ipe-test-XXXXXX', TMPDIR => 1, CLEANUP => 1) }

# The harness's own knobs (which binary, valgrind, a browser); every other IPE_* is a setting.
my %KEEP = map { $_ => 1 } qw(IPE_RUN IPE_C_TESTS IPE_VALGRIND IPE_CHROMIUM);

# Each test file gets its own HOME and XDG folders: nothing of the developer's leaks in or out.
my $home;
sub isolated_home { $home }
sub isolate {
    $home = tmpdir();
    mkdir "$home/$_" for qw(home data state config cache);
    %ENV = (%ENV, HOME => "$home/home", XDG_DATA_HOME => "$home/data", XDG_STATE_HOME => "$home/state",
            XDG_CONFIG_HOME => "$home/config", XDG_CACHE_HOME => "$home/cache", NO_COLOR => 1, LANG => 'C.UTF-8',
            TZ => 'UTC');
    for my $k (keys %ENV) {
        delete $ENV{$k} if ($k =~ /^IPE_/ && !$KEEP{$k}) || $k =~ /^(?:https?|all|no|ftp)_proxy$/i
            || $k =~ /^(?:EDITOR|VISUAL|XDG_RUNTIME_DIR|XDG_DATA_DIRS|XDG_CONFIG_DIRS)$/;
    }
}
isolate();
sub xdg_home { $ENV{XDG_DATA_HOME} }

# ipe({env => {...}, stdin => '...'}, args...) -> (stdout, stderr, exit code)
sub ipe {
    my $opts = ref $_[0] eq 'HASH' ? shift : {};
    my @cmd = (bin(), @_);
    my $dir = tmpdir();
    my $vg = $ENV{IPE_VALGRIND};
    # under valgrind: memory errors in any process, and leaks of ipe-run's own process, exit 99
    # with valgrind's report on stderr; its workers end with _exit() by design (leaks not checked)
    unshift @cmd, 'valgrind', '--error-exitcode=99', '--leak-check=full', '--errors-for-leak-kinds=none',
        '--show-leak-kinds=definite,indirect', "--log-file=$dir/vg.%p" if $vg;
    my %env = (PATH => $ENV{PATH}, COLUMNS => 100, NO_COLOR => 1, IPE_NOW => NOW, LANG => 'C.UTF-8',
               map { $_ => $ENV{$_} } qw(HOME XDG_DATA_HOME XDG_STATE_HOME XDG_CONFIG_HOME XDG_CACHE_HOME TZ));
    for my $k (qw(ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS)) { $env{$k} = $ENV{$k} if defined $ENV{$k} }
    my $extra = $opts->{env} || {};
    for my $k (keys %$extra) { defined $extra->{$k} ? ($env{$k} = $extra->{$k}) : delete $env{$k} }
    local %ENV = %env;
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
    my $rc = $status & 127 ? 128 + ($status & 127) : $status >> 8;
    return ($o, $e . valgrind_report($dir, $pid, \$rc), $rc) if $vg;
    return ($o, $e, $rc);
}

# valgrind_report(dir, pid, \rc) -> the logs of the processes with memory errors (and of ipe-run's
# own process when it leaked), setting rc to 99 then; '' when clean
sub valgrind_report {
    my ($dir, $pid, $rc) = @_;
    my $out = '';
    for my $log (glob("$dir/vg.*")) {
        my $text = slurp($log);
        my $own = $log eq "$dir/vg.$pid";
        my $leaked = $own && $text =~ /^==\d+==\s+(?:definitely|indirectly) lost: [1-9]/m;
        my $errors = $text =~ /^==\d+== (?:Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and dest|Argument)/m
            || $text =~ /ERROR SUMMARY: [1-9]/;   # a worker that exec()s or is killed writes no summary
        next unless $leaked || $errors;
        $$rc = 99;
        $out .= $text;
    }
    return $out;
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
