package MockTI;
# A mock of the seven threat-intelligence APIs on 127.0.0.1 (core Perl only).
#
# It serves the recorded vendor bodies of tests/fixtures/ti-responses and
# every fault a provider can show. A provider's base_url names the behaviour:
#
#     http://127.0.0.1:PORT/<mode>/<provider>
#
# and the client appends the vendor path (/api/v3/ip_addresses/8.8.8.8, ...).
# Modes: ok, delayN (N ms, then ok), togetherN (no answer until N requests of this mode
# are in, then ok; 504 if they are not all in within 5 s: proof that a client sends them
# at once, whatever the load; once per server), timeout (no answer for 30 s), 404, 500,
# 503, 401, 403, 429 (Retry-After 30), 429-N (Retry-After N), truncated (a
# JSON body cut in half, served with a correct length), html (a 200 HTML page),
# html502, huge (a 50 MB body with its Content-Length), hugechunked (50 MB, no
# length), reset (the connection is reset), partial (fewer bytes than the
# Content-Length), echo401 (a 401 whose JSON error text repeats every request header).
# With files => {...} it also serves static files (geo database downloads, see serve_file).
# The MDTI token endpoint is /<mode>/mdti-login/<tenant>/oauth2/v2.0/token.
#
# With keys => {provider => value} the mock checks each provider's
# credential header and answers 401 (the vendor's error body) when it is
# missing or wrong. Every request is appended to the log file as one line:
#     <mode> <provider> <METHOD> <path> auth=<ok|missing|bad|unchecked>
#
#   my $m = MockTI->start(keys => {...});   $m->base('ok', 'virustotal'); $m->requests; $m->stop;
# or from a shell:  perl tests/lib/MockTI.pm --port-file F [--log F] [--key provider=value]... [--watch PID]
# (--watch: stop when that process is gone).
use strict;
use warnings;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_LINGER);
use File::Spec;
use File::Temp qw(tempdir);
use Cwd qw(abs_path);
use POSIX ();

my $here = (File::Spec->splitpath(abs_path(__FILE__)))[1];
our $FIXTURES = abs_path("$here/../fixtures/ti-responses");

sub fixtures_dir { $FIXTURES && -d $FIXTURES ? $FIXTURES : undef }

sub slurp {
    my $f = shift;
    open my $fh, '<', $f or die "MockTI: $f: $!";
    local $/;
    my $s = <$fh>;
    close $fh;
    return $s;
}

sub fixture { slurp("$FIXTURES/$_[0]") }

# The recorded body for a provider and IP: (status, body).
sub answer_for {
    my ($provider, $ip) = @_;
    if ($provider eq 'virustotal') {
        return (200, fixture('virustotal/gti_v3_ip_8.8.8.8__demisto-content.json'));
    } elsif ($provider eq 'abuseipdb') {
        return (200, fixture('abuseipdb/check_38.75.137.9__msticpy.json')) if $ip eq '38.75.137.9';
        return (200, fixture('abuseipdb/check_180.126.219.126_verbose__cisco-tr05.json'));
    } elsif ($provider eq 'greynoise') {
        return (404, fixture('greynoise/community_123.123.115.117_unknown__redelk.json')) if $ip eq '123.123.115.117';
        return (200, fixture('greynoise/community_8.8.8.8_benign__redelk.json')) if $ip eq '8.8.8.8';
        return (200, fixture('greynoise/community_222.187.238.136_malicious__redelk.json')) if $ip eq '222.187.238.136';
        return (200, fixture('greynoise/community_51.91.185.74_malicious__msticpy.json'));
    } elsif ($provider eq 'otx') {
        return (200, fixture('otx/indicators_IPv4_8.8.88.8_general_no_pulses__demisto-content.json')) if $ip eq '8.8.88.8';
        return (200, fixture('otx/indicators_IPv4_98.136.103.23_general_1_pulse__demisto-content.json'));
    } elsif ($provider eq 'anomali') {
        return (200, '{"objects": [], "meta": {"total_count": 0, "offset": 0, "limit": 50, "next": null}}')
            if $ip eq '192.88.1.1';
        return (200, fixture('anomali-threatstream/intelligence_ip_78.78.78.67__demisto-content.json'));
    } elsif ($provider eq 'recorded-future') {
        return (200, fixture('recorded-future/v2_enrichment_domain_cisco.com__cisco-tr05.json'));
    } elsif ($provider eq 'mdti') {
        return (200, fixture('ms-defender-ti/host_reputation__demisto-content.json'));
    }
    return (404, '{"error": "unknown provider"}');
}

sub not_found_body {
    my $provider = shift;
    return fixture('virustotal/error_404_NotFoundError__vt-py.json') if $provider eq 'virustotal';
    return '{"error": {"code": "NotFound", "message": "Resource not found"}}';
}

sub unauthorized_body {
    my $provider = shift;
    return fixture('abuseipdb/error_401_auth__cisco-tr05.json') if $provider eq 'abuseipdb';
    return '{"error": {"code": "WrongCredentialsError", "message": "Wrong API key"}}' if $provider eq 'virustotal';
    return '{"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}}' if $provider eq 'mdti';
    return '{"message": "Unauthorized"}';
}

sub rate_limited_body {
    my $provider = shift;
    return fixture('abuseipdb/error_429_rate_limit__cisco-tr05.json') if $provider eq 'abuseipdb';
    return '{"error": {"code": "QuotaExceededError", "message": "Quota exceeded"}}';
}

# Does the request carry the provider's credential?
sub auth_state {
    my ($keys, $provider, $h) = @_;
    return 'unchecked' unless $keys && exists $keys->{$provider};
    my $want = $keys->{$provider};
    my %where = (virustotal => ['x-apikey', $want], abuseipdb => ['key', $want], greynoise => ['key', $want],
                 otx => ['x-otx-api-key', $want], 'recorded-future' => ['x-rftoken', $want],
                 anomali => ['authorization', "apikey $want"], mdti => ['authorization', "Bearer $want"]);
    my ($name, $value) = @{ $where{$provider} || ['authorization', $want] };
    return 'missing' unless defined $h->{$name};
    return $h->{$name} eq $value ? 'ok' : 'bad';
}

sub send_all {
    my ($c, $data) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $data) {
        my $w = syswrite($c, $data, 65536, $off);
        return 0 unless defined $w && $w > 0;
        $off += $w;
    }
    return 1;
}

sub reply {
    my ($c, $status, $body, %h) = @_;
    my %reason = (200 => 'OK', 302 => 'Found', 400 => 'Bad Request', 401 => 'Unauthorized', 403 => 'Forbidden',
                  404 => 'Not Found', 429 => 'Too Many Requests', 500 => 'Internal Server Error',
                  502 => 'Bad Gateway', 503 => 'Service Unavailable');
    my $ct = delete $h{type} // 'application/json';
    my $len = delete $h{length} // length $body;
    my $head = "HTTP/1.1 $status " . ($reason{$status} // 'Status') . "\r\nContent-Type: $ct\r\n";
    $head .= "Content-Length: $len\r\n" if $len >= 0;
    $head .= "$_: $h{$_}\r\n" for sort keys %h;
    $head .= "Connection: close\r\n\r\n";
    send_all($c, $head . $body);
}

sub read_request {
    my $c = shift;
    my $buf = '';
    while ($buf !~ /\r\n\r\n/) {
        my $n = sysread($c, $buf, 65536, length $buf);
        return unless $n;
        return if length $buf > 1 << 20;
    }
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    my ($line, @lines) = split /\r\n/, $head;
    my ($method, $path) = split / /, $line;
    my %h;
    for (@lines) { my ($k, $v) = /^([^:]+):\s*(.*)$/ or next; $h{lc $k} = $v }
    my $want = $h{'content-length'} // 0;
    while (length $body < $want) {
        my $n = sysread($c, $body, $want - length $body, length $body);
        last unless $n;
    }
    return ($method, $path, \%h, $body, $head);
}

sub log_line {
    my ($log, $line) = @_;
    return unless $log;
    open my $fh, '>>', $log or return;
    print $fh "$line\n";
    close $fh;
}

# together(log, mode, n) -> true once n requests of mode are in the log (within 5 s)
sub together {
    my ($log, $mode, $n) = @_;
    for (1 .. 250) {
        open my $fh, '<', $log or return 0;
        my $seen = grep { /^\Q$mode\E / } <$fh>;
        close $fh;
        return 1 if $seen >= $n;
        select(undef, undef, undef, 0.02);
    }
    return 0;
}

sub huge {
    my ($c, $with_length) = @_;
    my $size = 50 * 1024 * 1024;
    my $head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
             . ($with_length ? "Content-Length: $size\r\n" : '') . "Connection: close\r\n\r\n{\"data\": \"";
    send_all($c, $head) or return;
    my $chunk = 'x' x 65536;
    for (1 .. 800) { send_all($c, $chunk) or return }
}

# Static files (geo database downloads): files => { '/path' => [status, body, {headers}] }, the
# query string ignored; with license_key => K a request for a path under license_prefix (default
# every path) must carry license_key=K in its query (else 401). Logged as "file <METHOD> <path> key=<ok|missing|bad|unchecked>" (never the key).
sub serve_file {
    my ($c, $opts, $method, $path) = @_;
    my ($p, $q) = split /\?/, $path, 2;
    my $f = $opts->{files}{$p} or return 0;
    my %q = map { my ($k, $v) = split /=/, $_, 2; ($k, $v // '') } split /&/, $q // '';
    s/%([0-9A-Fa-f]{2})/chr hex $1/ge for values %q;
    my $prefix = $opts->{license_prefix} // '/';
    my $key = !defined $opts->{license_key} || index($p, $prefix) != 0 ? 'unchecked'
            : !defined $q{license_key} ? 'missing' : $q{license_key} eq $opts->{license_key} ? 'ok' : 'bad';
    log_line($opts->{log}, "file $method $p key=$key");
    if ($key eq 'missing' || $key eq 'bad') { reply($c, 401, 'Invalid license key', type => 'text/plain'); return 1 }
    my ($status, $body, $h) = @$f;
    reply($c, $status, $body, type => 'application/octet-stream', %{ $h || {} });
    return 1;
}

sub handle {
    my ($c, $opts) = @_;
    my ($method, $path, $h, $body) = read_request($c);
    return unless $method;
    return if $opts->{files} && serve_file($c, $opts, $method, $path);
    my ($mode, $provider, $rest) = $path =~ m{^/([^/]+)/([^/]+)(/[^?]*)?} or return reply($c, 400, '{}');
    $rest //= '';
    my $auth = $provider eq 'mdti-login' ? 'unchecked' : auth_state($opts->{keys}, $provider, $h);
    log_line($opts->{log}, "$mode $provider $method $path auth=$auth");
    my ($ip) = $path =~ m{((?:\d{1,3}\.){3}\d{1,3})};
    ($ip) = $path =~ /value=([^&]+)/ unless $ip;
    $ip //= '';
    if ($mode =~ /^delay(\d+)$/) { select(undef, undef, undef, $1 / 1000); $mode = 'ok' }
    if ($mode =~ /^together(\d+)$/) {
        return reply($c, 504, '{"error": "the requests did not come together"}') unless together($opts->{log}, $mode, $1);
        $mode = 'ok';
    }
    if ($mode eq 'timeout') { # no answer: wait until the client gives up (or 30 s)
        my $rin = '';
        vec($rin, fileno($c), 1) = 1;
        select($rin, undef, undef, 30);
        return;
    }
    if ($mode eq 'reset') { setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0)); return }
    if ($provider eq 'mdti-login') {
        my %form = map { my ($k, $v) = split /=/, $_, 2; ($k, $v // '') } split /&/, $body // '';
        s/%([0-9A-Fa-f]{2})/chr hex $1/ge for values %form;
        my $want = $opts->{keys} && $opts->{keys}{'mdti-secret'};
        if ($mode eq 'ok' && (!$want || ($form{client_secret} // '') eq $want) && ($form{grant_type} // '') eq 'client_credentials') {
            return reply($c, 200, sprintf('{"token_type":"Bearer","expires_in":3599,"access_token":"%s"}',
                                         $opts->{keys}{mdti} // 'mock-access-token'));
        }
        return reply($c, 401, '{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}');
    }
    return reply($c, 401, unauthorized_body($provider)) if $auth eq 'missing' || $auth eq 'bad';
    if ($mode eq 'ok') { my ($s, $b) = answer_for($provider, $ip); return reply($c, $s, $b) }
    if ($mode eq '404') { return reply($c, 404, not_found_body($provider)) }
    if ($mode =~ /^(500|503)$/) { return reply($c, $1, '{"error": {"code": "ServerError", "message": "try later"}}') }
    if ($mode eq '401') { return reply($c, 401, unauthorized_body($provider)) }
    if ($mode eq '403') { return reply($c, 403, unauthorized_body($provider)) }
    if ($mode =~ /^429(?:-(\d+))?$/) { return reply($c, 429, rate_limited_body($provider), 'Retry-After' => $1 // 30) }
    if ($mode eq 'truncated') {
        my (undef, $b) = answer_for($provider, $ip);
        return reply($c, 200, substr($b, 0, int(length($b) / 2)));
    }
    if ($mode eq 'html') {
        return reply($c, 200, "<html><head><title>Sign in</title></head><body>Proxy login required</body></html>",
                     type => 'text/html');
    }
    if ($mode eq 'html502') {
        return reply($c, 502, "<html><body><h1>502 Bad Gateway</h1></body></html>", type => 'text/html');
    }
    if ($mode eq 'huge') { return huge($c, 1) }
    if ($mode eq 'hugechunked') { return huge($c, 0) }
    if ($mode eq 'partial') {
        my (undef, $b) = answer_for($provider, $ip);
        return reply($c, 200, substr($b, 0, 100), length => length $b);
    }
    if ($mode eq 'echo401') { # a careless service that repeats the request headers in its error
        my $echo = join '; ', map { "$_: $h->{$_}" } sort keys %$h;
        $echo =~ s/(["\\])/\\$1/g;
        return reply($c, 401, qq({"error": {"code": "Unauthorized", "message": "$echo"}, "message": "$echo", ) .
                              qq("detail": "$echo", "errors": [{"detail": "$echo", "status": 401}]}));
    }
    return reply($c, 400, '{"error": "unknown mode"}');
}

# A pool of pre-forked workers, each serving one connection at a time, so
# concurrent requests are answered in parallel without a fork per request
# (a delay of 300 ms is 300 ms, not 300 ms plus the queue of forks ahead).
our $POOL = 24;

sub worker_loop {
    my ($sock, $opts) = @_;
    $SIG{PIPE} = 'IGNORE';
    while (1) {
        my $c = $sock->accept or next;
        handle($c, $opts);
        close $c;
    }
}

# The leader keeps the pool full; with $opts->{watch} it stops the whole
# server (its process group) once that process is gone, so a test killed
# half-way leaves no server behind.
sub serve {
    my ($sock, $opts) = @_;
    $SIG{PIPE} = 'IGNORE';
    my %workers;
    while (1) {
        while (keys %workers < $POOL) {
            my $pid = fork;
            last unless defined $pid;
            if ($pid == 0) { worker_loop($sock, $opts); POSIX::_exit(0) }
            $workers{$pid} = 1;
        }
        while ((my $gone = waitpid(-1, POSIX::WNOHANG())) > 0) { delete $workers{$gone} }
        if ($opts->{watch} && !kill(0, $opts->{watch})) { kill 'KILL', -$$; POSIX::_exit(0) }
        select(undef, undef, undef, 0.2);
    }
}

sub start {
    my ($class, %opts) = @_;
    die "MockTI: no fixtures at tests/fixtures/ti-responses\n" unless fixtures_dir();
    my $dir = tempdir('ipe-mockti-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    $opts{log} //= "$dir/requests.log";
    open my $fh, '>', $opts{log} or die "MockTI: $opts{log}: $!";
    close $fh;
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 128, ReuseAddr => 1, Proto => 'tcp')
        or die "MockTI: cannot listen on 127.0.0.1: $!";
    my $parent = $$;
    my $pid = fork // die "MockTI: fork: $!";
    if ($pid == 0) {
        setpgrp(0, 0);
        serve($sock, { %opts, watch => $parent });
        POSIX::_exit(0);
    }
    my $port = $sock->sockport;
    close $sock;
    return bless { pid => $pid, port => $port, log => $opts{log}, dir => $dir, owner => $$ }, $class;
}

sub port { $_[0]{port} }
sub base { my ($self, $mode, $provider) = @_; "http://127.0.0.1:$self->{port}/$mode/$provider" }

# The request lines logged so far.
sub requests {
    my $self = shift;
    open my $fh, '<', $self->{log} or return ();
    my @lines = <$fh>;
    close $fh;
    chomp @lines;
    return @lines;
}

sub clear { my $self = shift; open my $fh, '>', $self->{log}; close $fh if $fh }

sub stop {
    my $self = shift;
    return unless $self->{pid};
    return unless $$ == $self->{owner};    # a forked copy of the object never stops the server
    kill 'KILL', -$self->{pid};
    kill 'KILL', $self->{pid};
    waitpid $self->{pid}, 0;
    $self->{pid} = undef;
}

sub DESTROY { $_[0]->stop }

# Shell use: run in the foreground until killed; the port goes to --port-file.
sub main {
    my @args = @_;
    my (%opts, $port_file);
    while (@args) {
        my $a = shift @args;
        if ($a eq '--port-file') { $port_file = shift @args }
        elsif ($a eq '--log') { $opts{log} = shift @args }
        elsif ($a eq '--key') { my ($p, $v) = split /=/, shift(@args), 2; $opts{keys}{$p} = $v }
        elsif ($a eq '--watch') { $opts{watch} = shift @args }
        else { die "MockTI: unknown argument $a\n" }
    }
    die "usage: perl MockTI.pm --port-file FILE [--log FILE] [--key provider=value]... [--watch PID]\n" unless $port_file;
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 128, ReuseAddr => 1, Proto => 'tcp')
        or die "MockTI: cannot listen on 127.0.0.1: $!";
    open my $fh, '>', "$port_file.tmp" or die "$port_file: $!";
    print $fh $sock->sockport, "\n";
    close $fh;
    rename "$port_file.tmp", $port_file or die "$port_file: $!";
    setpgrp(0, 0); # kill -- -PID stops the server and every connection it is serving
    serve($sock, \%opts);
}

main(@ARGV) unless caller;

1;
