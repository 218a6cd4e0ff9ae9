package IpeServe;
# Helpers for the ipe-run serve tests: start a server on a free 127.0.0.1 port in a temporary
# folder, talk raw HTTP/1.1 to it over sockets (nothing normalizes the request line, so path
# traversal and malformed requests reach the server as written), and stop it by PID — at the
# end of the test file too, whatever happened.
use strict;
use warnings;
use Exporter 'import';
use IO::Socket::IP;
use Time::HiRes qw(time sleep);
use POSIX ();
use IpeTest;

our @EXPORT = qw(serve_start serve_stop http_req raw_req login);

my @started;

# The tests write to sockets the server closes on purpose (oversize requests, slow clients,
# floods): a write then fails with EPIPE, which a test checks, instead of killing it.
$SIG{PIPE} = 'IGNORE';

# serve_start(args => [...], env => {...}) -> {pid, dir, url, base, token, port, host}
sub serve_start {
    my (%o) = @_;
    my $dir = tmpdir();
    my @cmd = ($ENV{IPE_RUN} || repo_root() . "/ipe-run", 'serve', '--listen', '127.0.0.1:0', @{ $o{args} || [] });
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        my %env = (PATH => $ENV{PATH}, LANG => 'C.UTF-8', IPE_NOW => IpeTest::NOW, NO_COLOR => 1,
                   map { $_ => $ENV{$_} } grep { defined $ENV{$_} }
                   qw(HOME XDG_DATA_HOME XDG_STATE_HOME XDG_CONFIG_HOME XDG_CACHE_HOME TZ ASAN_OPTIONS UBSAN_OPTIONS));
        my $extra = $o{env} || {};
        for my $k (keys %$extra) { defined $extra->{$k} ? ($env{$k} = $extra->{$k}) : delete $env{$k} }
        %ENV = %env;
        open(STDIN, '<', '/dev/null') && open(STDOUT, '>', "$dir/out") && open(STDERR, '>', "$dir/err")
            or POSIX::_exit(126);
        { exec { $cmd[0] } @cmd }
        POSIX::_exit(127);
    }
    push @started, $pid;
    my $s = { pid => $pid, dir => $dir };
    my $until = time + 60;
    while (time < $until) {
        my $out = -e "$dir/out" ? IpeTest::slurp("$dir/out") : '';
        if ($out =~ m{^(https?)://([\d.]+):(\d+)/\?token=([0-9a-f]+)\n}) {
            @$s{qw(scheme host port token)} = ($1, $2, $3, $4);
            $s->{base} = "$1://$2:$3";
            $s->{url} = $out =~ s/\n.*//sr;
            return $s;
        }
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            $s->{rc} = $? >> 8;
            $s->{out} = $out;
            $s->{err} = IpeTest::slurp("$dir/err");
            @started = grep { $_ != $pid } @started;
            return $s;
        }
        sleep 0.05;
    }
    die "ipe-run serve did not start in 60 s: " . IpeTest::slurp("$dir/err");
}

# serve_stop($s [, signal]) -> the exit code (the server is killed if it does not stop in 20 s)
sub serve_stop {
    my ($s, $sig) = @_;
    return $s->{rc} if defined $s->{rc};
    kill $sig || 'TERM', $s->{pid};
    my $until = time + 20;
    while (time < $until) {
        if (waitpid($s->{pid}, POSIX::WNOHANG()) == $s->{pid}) {
            $s->{rc} = $? & 127 ? 128 + ($? & 127) : $? >> 8;
            @started = grep { $_ != $s->{pid} } @started;
            $s->{err} = IpeTest::slurp("$s->{dir}/err");
            return $s->{rc};
        }
        sleep 0.05;
    }
    kill 'KILL', $s->{pid};
    waitpid $s->{pid}, 0;
    @started = grep { $_ != $s->{pid} } @started;
    return 137;
}

# a test killed by a signal still stops its servers (die runs the END block below)
$SIG{$_} = sub { die "killed by SIG$_[0]\n" } for qw(TERM INT HUP);

END {
    local $?;   # the test's exit status stays its own
    for my $pid (@started) { kill 'KILL', $pid; waitpid $pid, 0 }
}

# raw_req($s, $bytes, %o) -> {status, reason, headers => {lc name => value}, body, raw, elapsed}
#   o: src => '127.0.0.2' (the client's address), timeout => seconds
sub raw_req {
    my ($s, $bytes, %o) = @_;
    my $t0 = time;
    my $sock = IO::Socket::IP->new(PeerHost => $s->{host}, PeerPort => $s->{port}, Proto => 'tcp',
                                   ($o{src} ? (LocalHost => $o{src}) : ()), Timeout => 10)
        or return { status => 0, error => "connect: $@" };
    $sock->autoflush(1);
    print $sock $bytes;
    my $raw = '';
    my $deadline = time + ($o{timeout} || 60);
    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno($sock), 1) = 1;
        my $n = select(my $rout = $rin, undef, undef, 0.5);
        next unless $n > 0;
        my $got = sysread($sock, my $buf, 65536);
        last unless $got;
        $raw .= $buf;
    }
    close $sock;
    my $r = parse_response($raw);
    $r->{elapsed} = time - $t0;
    return $r;
}

sub parse_response {
    my ($raw) = @_;
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    my $r = { raw => $raw, status => 0, headers => {}, body => $body // '' };
    return $r unless defined $head && $head =~ m{^HTTP/1\.[01] (\d{3}) ?([^\r\n]*)};
    @$r{qw(status reason)} = ($1, $2);
    for my $line (split /\r\n/, $head) {
        next unless $line =~ /^([^:]+):\s*(.*)$/;
        my $k = lc $1;
        $r->{headers}{$k} = exists $r->{headers}{$k} ? "$r->{headers}{$k}, $2" : $2;
    }
    if (($r->{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        my ($rest, $out) = ($r->{body}, '');
        while ($rest =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $out .= substr($rest, 0, $n);
            $rest = substr($rest, $n + 2);
        }
        $r->{body} = $out;
        $r->{chunked} = 1;
    }
    return $r;
}

# http_req($s, METHOD, target, cookie => ..., headers => {...}, body => ..., src => ...)
sub http_req {
    my ($s, $method, $target, %o) = @_;
    my $h = "$method $target HTTP/1.1\r\nHost: $s->{host}:$s->{port}\r\nConnection: close\r\n";
    $h .= "Cookie: $o{cookie}\r\n" if defined $o{cookie};
    for my $k (sort keys %{ $o{headers} || {} }) { $h .= "$k: $o{headers}{$k}\r\n" }
    if (defined $o{body}) {
        $h .= "Content-Type: " . ($o{type} || 'application/x-www-form-urlencoded') . "\r\n";
        $h .= "Content-Length: " . length($o{body}) . "\r\n";
    }
    return raw_req($s, "$h\r\n" . ($o{body} // ''), %o);
}

# login($s) -> the cookie header value the token gives
sub login {
    my ($s) = @_;
    my $r = http_req($s, 'GET', "/?token=$s->{token}");
    my ($c) = ($r->{headers}{'set-cookie'} // '') =~ /^(ipe_token=[0-9a-f]+)/;
    return $c;
}

1;
