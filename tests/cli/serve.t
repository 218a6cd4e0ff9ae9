#!/usr/bin/perl
# ipe-run serve end to end over raw sockets: the token wall (with its delay), safe defaults,
# bad requests (traversal, unknown routes, oversize bodies and headers, malformed IPs, missing
# CSRF token) answered 4xx in one line, slow clients and floods, the streamed page against
# `ipe-run page -f html`, stable URLs and their commands, hunt forms and downloads against
# `ipe-run hunt`, actions: plan, confirmation with the CSRF token, audit. Each server runs on a
# free 127.0.0.1 port in a temporary folder and is stopped by its PID (IpeServe).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::IP;
use IpeTest;
use IpeServe;

my $db = demo_db();
my $IP = '89.160.20.128';
my ($FROM, $TO) = ('2026-11-20T12:00:00.000Z', '2026-11-27T12:00:00.000Z');   # --since 7d before NOW
my $W = "from=$FROM&to=$TO";

sub one_line { my ($r, $status, $re, $name) = @_;
    is($r->{status}, $status, "$name: $status");
    like($r->{body}, qr/\A$status $re\n\z/, "$name: one line") or diag($r->{raw});
    unlike($r->{body}, qr/traceback|stack|\.lua:\d+/i, "$name: no trace");
}

# --- start-up: safe defaults and bad options ----------------------------------------------------
{
    my ($out, $err, $rc) = ipe('serve', '--db', $db, '--listen', '0.0.0.0:0');
    is($rc, 2, 'non-loopback without TLS: exit 2');
    is($err, "ipe-run: serve: 0.0.0.0 is not a loopback address: give --tls-cert and --tls-key, or --insecure-http "
        . "to serve plain HTTP on the network\n", 'non-loopback without TLS: one line');
    ($out, $err, $rc) = ipe('serve', '--db', $db, '--listen', 'localhost:80');
    is($rc, 2, 'a host name: exit 2');
    is($err, "ipe-run: serve: --listen 'localhost:80': 'localhost' is not an IP address\n", 'a host name: one line');
    ($out, $err, $rc) = ipe('serve', '--db', $db, '--tls-cert', '/nonexistent.pem');
    is($err, "ipe-run: serve: --tls-cert and --tls-key go together\n", 'a cert without its key');
    ($out, $err, $rc) = ipe('serve', '--db', '/nonexistent/ws.db');
    is($rc, 3, 'no workspace: exit 3');
    is($out, '', 'no workspace: no URL printed');
    ($out, $err, $rc) = ipe('serve', '--db', $db, '--max-handlers', '0');
    is($rc, 2, '--max-handlers 0: exit 2');
    is($err, "ipe-run: --max-handlers: '0' is below the minimum 1\n", '--max-handlers 0: one line');
    is($out, '', '--max-handlers 0: no URL printed');
}

# a host whose name is hostile, talking to an IP of its own (the pivots' escaping)
my $HOSTILE = q{<img src=x onerror=alert(1)>"&'?#/.corp};
my $HIP = '198.51.100.66';
{
    my $d = tmpdir();
    spew("$d/csl.jsonl", qq({"Type":"CommonSecurityLog","TimeGenerated":"2026-11-26T10:00:00.000Z","SourceIP":"10.0.9.9",)
        . qq("SourceHostName":"<img src=x onerror=alert(1)>\\"&'?#/.corp","DestinationIP":"$HIP","DestinationPort":443,)
        . qq("Protocol":"TCP","DeviceAction":"allow"}\n));
    my ($o, $e, $rc) = ipe('ingest', '--db', $db, "$d/csl.jsonl");
    is($rc, 0, 'ingest a record with a hostile host name') or diag($e);
}

my $s = serve_start(args => ['--db', $db, '--offline', '--allow-actions', '--idle-timeout', '2', '--max-connections', '24',
    '--timeout', '120']);
ok($s->{token}, 'the URL with its token is printed once on stdout') or BAIL_OUT("no server: " . ($s->{err} // ''));
like($s->{token}, qr/^[0-9a-f]{64}$/, 'the token: 256 random bits');
is($s->{host}, '127.0.0.1', 'listens on loopback');
my $s2 = serve_start(args => ['--db', $db, '--offline']);
isnt($s2->{token}, $s->{token}, 'each start draws a new token');

# --- the token wall ------------------------------------------------------------------------------
{
    one_line(http_req($s, 'GET', '/'), 401, 'access token required: open the URL ipe-run serve printed', 'no token');
    one_line(http_req($s, 'GET', "/ip/$IP?$W"), 401, 'access token required: open the URL ipe-run serve printed',
        'no token on a page: nothing about the route');
    my $r = http_req($s, 'GET', '/?token=' . ('0' x 64));
    one_line($r, 401, 'wrong access token', 'wrong token');
    cmp_ok($r->{elapsed}, '>=', 0.9, 'wrong token: answered after a delay');
    $r = http_req($s, 'GET', '/', cookie => 'ipe_token=' . ('a' x 64));
    one_line($r, 401, 'wrong access token', 'wrong cookie');
    cmp_ok($r->{elapsed}, '>=', 0.9, 'wrong cookie: answered after a delay');
    $r = http_req($s, 'GET', '/', cookie => "ipe_token=$s2->{token}");
    is($r->{status}, 401, "another server's token is refused");
    $r = http_req($s, 'GET', "/ip/$IP?token=$s->{token}&$W");
    is($r->{status}, 303, 'right token: redirect');
    like($r->{headers}{'set-cookie'}, qr/^ipe_token=$s->{token}; Path=\/; HttpOnly; SameSite=Strict$/, 'the cookie: HttpOnly, SameSite=Strict');
    unlike($r->{headers}{location}, qr/token/, 'the token leaves the URL');
    like($r->{headers}{location}, qr{^/ip/89\.160\.20\.128\?from=}, 'to the page asked for');
    # a slow wrong-token answer does not hold others: the delay is the connection's own
    my $t0 = time;
    my $pid = fork() // die;
    if (!$pid) { http_req($s, 'GET', '/?token=bad'); POSIX::_exit(0) }
    sleep 0.1;
    my $c = login($s);
    $r = http_req($s, 'GET', '/', cookie => $c);
    is($r->{status}, 200, 'a right request beside a delayed wrong one');
    cmp_ok(time - $t0, '<', 0.9, 'not held by the delay');
    waitpid $pid, 0;
}
my $cookie = login($s);
ok($cookie, 'logged in');

# --- headers of every answer ---------------------------------------------------------------------
{
    my $r = http_req($s, 'GET', '/', cookie => $cookie);
    is($r->{status}, 200, 'home: 200');
    like($r->{headers}{'content-security-policy'}, qr/^default-src 'none'; script-src 'sha256-[^']+' 'sha256-[^']+'; style-src /,
        'CSP: scripts only by hash');
    unlike($r->{headers}{'content-security-policy'}, qr/unsafe-inline|unsafe-eval|'self' 'unsafe/, 'CSP: nothing unsafe');
    like($r->{headers}{'content-security-policy'}, qr/frame-ancestors 'none'$/, 'CSP: no framing');
    is($r->{headers}{'x-content-type-options'}, 'nosniff', 'nosniff');
    is($r->{headers}{'cache-control'}, 'no-store', 'no-store');
    like($r->{body}, qr/<form action="\/search" method="get" role="search">/, 'home: the search box');
}

# --- bad requests: 4xx, one line, never a trace ----------------------------------------------------
{
    one_line(http_req($s, 'GET', '/nope', cookie => $cookie), 404, 'no such page: /nope', 'unknown route');
    one_line(http_req($s, 'GET', '/../../etc/passwd', cookie => $cookie), 400, q{bad path \(a '\.\.' segment\)}, 'traversal');
    one_line(http_req($s, 'GET', '/ip/%2e%2e/%2e%2e/etc/passwd', cookie => $cookie), 400, q{bad path \(a '\.\.' segment\)},
        'encoded traversal');
    one_line(http_req($s, 'GET', '/ip/..%2f..%2fetc%2fpasswd', cookie => $cookie), 400, q{bad path \(a '\.\.' segment\)},
        'traversal with encoded slashes');
    one_line(http_req($s, 'GET', '/ip/1.2.3.4%00', cookie => $cookie), 400, 'bad path \(a control character or backslash\)', 'a NUL');
    one_line(http_req($s, 'GET', '/ip/%zz', cookie => $cookie), 400, 'bad path \(a malformed %-escape\)', 'bad escape');
    one_line(http_req($s, 'GET', "/ip/300.1.1.1?$W", cookie => $cookie), 400, q{not an IP address: '300\.1\.1\.1'.*},
        'malformed IP');
    one_line(http_req($s, 'GET', "/ip/$IP?from=yesterday&to=$TO", cookie => $cookie), 400, '--from: .*', 'malformed window');
    one_line(http_req($s, 'GET', '/search?q=not-an-ip', cookie => $cookie), 400,
        q{search: 'not-an-ip' is not an IP address or a CIDR block}, 'search: not an IP');
    one_line(http_req($s, 'DELETE', '/', cookie => $cookie), 405, 'method DELETE not allowed here \(use GET, HEAD\)', 'a method');
    one_line(http_req($s, 'GET', '/' . ('a' x 17000), cookie => $cookie), 414, 'request target too long', 'a long target');
    one_line(http_req($s, 'GET', '/hunt/no-such-hunt', cookie => $cookie), 404, q{no hunt 'no-such-hunt' \(see ipe-run list hunts\)},
        'unknown hunt');
    # oversize body: refused from its Content-Length, before it is read
    my $r = raw_req($s, "POST /action/add-indicator HTTP/1.1\r\nHost: x\r\nCookie: $cookie\r\nContent-Type: "
        . "application/x-www-form-urlencoded\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n" . ('a' x 1000));
    one_line($r, 413, 'request body too large', 'oversize body');
    # oversize headers: the connection's memory limit
    $r = raw_req($s, "GET / HTTP/1.1\r\nHost: x\r\nCookie: $cookie\r\nX-Big: " . ('b' x 40000) . "\r\nConnection: close\r\n\r\n");
    like($r->{status}, qr/^4\d\d$/, "oversize headers: 4xx ($r->{status})");
    unlike($r->{body}, qr/\.lua|traceback/i, 'oversize headers: no trace');
    $r = raw_req($s, "NONSENSE\r\n\r\n");
    like($r->{status}, qr/^(4\d\d|0)$/, 'a malformed request line: 4xx or closed');
    $r = http_req($s, 'GET', '/', cookie => $cookie);
    is($r->{status}, 200, 'still serving after the bad requests');
}

# --- slow clients and floods ---------------------------------------------------------------------
{
    # slowloris: more half-sent requests than one address may hold
    my @slow;
    for (1 .. 20) {
        my $c = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $s->{port}) or last;
        print $c "GET / HTTP/1.1\r\nHost: x\r\n";
        push @slow, $c;
    }
    cmp_ok(scalar @slow, '>=', 16, 'slow connections opened');
    my $r = http_req($s, 'GET', '/', cookie => $cookie, src => '127.0.0.2', timeout => 10);
    is($r->{status}, 200, 'another client is served while one address holds its share of slow connections');
    cmp_ok($r->{elapsed}, '<', 3, 'promptly');
    # the idle ones are closed after --idle-timeout (2 s)
    my $t0 = time;
    my $c = $slow[0];
    my $rin = '';
    vec($rin, fileno($c), 1) = 1;
    my $closed = 0;
    while (time - $t0 < 10) {
        next unless select(my $rout = $rin, undef, undef, 0.5) > 0;
        my $n = sysread($c, my $buf, 4096);
        if (!$n) { $closed = 1; last }
    }
    ok($closed, 'a stalled request is closed by the server');
    cmp_ok(time - $t0, '<', 8, 'within the idle timeout');
    close $_ for @slow;
    # a flood: many connections at once; the limits hold and the server still answers
    my @flood;
    for (1 .. 200) {
        my $f = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $s->{port}, Timeout => 2) or next;
        push @flood, $f;
    }
    close $_ for @flood;
    sleep 0.5;
    $r = http_req($s, 'GET', '/', cookie => $cookie, timeout => 10);
    is($r->{status}, 200, 'served after a flood of connections');
}

# --- the IP page: streamed, the same panels as page -f html ---------------------------------------
my $page;
{
    my $r = http_req($s, 'GET', "/ip/$IP?$W", cookie => $cookie);
    is($r->{status}, 200, 'page: 200');
    ok($r->{chunked}, 'page: streamed (chunked)');
    like($r->{headers}{'content-type'}, qr{^text/html; charset=utf-8}, 'page: HTML');
    $page = $r->{body};
    my ($html) = ipe('page', $IP, '--db', $db, '--offline', '--from', $FROM, '--to', $TO, '-f', 'html');
    my @ids = $html =~ /<section class="panel [^"]*" id="(panel-[\w-]+)"/g;
    cmp_ok(scalar @ids, '>', 10, 'page -f html: its panels');
    my %filled = map { $_ => 1 } $page =~ /<template data-fill="(panel-[\w-]+)">/g;
    is_deeply([sort keys %filled], [sort @ids], 'every panel of page -f html arrives, each once');
    # each panel as the CLI renders it, but for the links the server adds and the run times
    my $norm = sub {
        my $x = shift;
        $x =~ s{<a class="pivot" href="[^"]*">(.*?)</a>}{$1}g;
        $x =~ s{ <a class="open" href="[^"]*">[^<]*</a>}{}g;
        $x =~ s{<span class="timing" title="run time">[^<]*</span>}{}g;
        $x =~ s{grid-\d+}{grid}g;
        $x =~ s{chart-\d+-}{chart-}g;
        return $x;
    };
    my $same = 0;
    for my $id (@ids) {
        my ($cli) = $html =~ m{(<section class="panel [^"]*" id="\Q$id\E".*?</section>)(?=<section|</aside>|<h2|</section>|<p class="empty")}s;
        my ($srv) = $page =~ m{<template data-fill="\Q$id\E">(.*?)</template>}s;
        $same++ if defined $cli && defined $srv && $norm->($cli) eq $norm->($srv);
        is($norm->($srv // ''), $norm->($cli // ''), "panel $id: the renderer's HTML") unless defined $cli && defined $srv && $norm->($cli) eq $norm->($srv);
    }
    is($same, scalar @ids, 'every panel: the same HTML as page -f html');
    like($page, qr{<template data-fill="page-head"><div id="page-head"><header class="top">.*?<span class="st st-page-ok">complete</span>}s,
        'the final status arrives last');
    like($page, qr{<a class="pivot" href="/ip/10\.0\.\d+\.\d+\?from=\Q$FROM\E&amp;to=\Q$TO\E">}, 'an IP in a table is a pivot with the window');
    like($page, qr{<a class="open" href="/hunt/hosts-contacting-ip\?ip=89\.160\.20\.128&amp;from=}, 'a panel opens its hunt');
    like($page, qr{<a class="open" href="/hunt/ip-everywhere\?ip=89\.160\.20\.128&amp;from=[^"]*">Go hunt</a>}, '"Go hunt" opens the query');
    like($page, qr{<a class="open" href="/action/add-indicator\?ip=89\.160\.20\.128&amp;from=}, 'an action opens its plan');
    my ($cmd) = $page =~ m{<span class="cmd-label">Command</span><code>([^<]+)</code>};
    is($cmd, "ipe-run page $IP --from $FROM --to $TO --db $db", 'copy as command: the equivalent ipe-run command');
    unlike($page, qr/<script>(?!\(function \(\) \{\n  'use strict';)/, 'only the two hashed scripts');
}

# --- stable URLs ------------------------------------------------------------------------------------
{
    my $r = http_req($s, 'GET', '/ip/89[.]160[.]20[.]128', cookie => $cookie);
    is($r->{status}, 303, 'a defanged IP: redirect');
    is($r->{headers}{location}, "/ip/$IP?$W", 'to the normalized IP with the window resolved');
    $r = http_req($s, 'GET', "/ip/$IP?since=1d", cookie => $cookie);
    is($r->{headers}{location}, "/ip/$IP?from=2026-11-26T12:00:00.000Z&to=$TO", 'since: resolved into from and to');
    $r = http_req($s, 'GET', '/search?q=89%5B.%5D160%5B.%5D20%5B.%5D128', cookie => $cookie);
    is($r->{headers}{location}, "/ip/$IP?$W", 'search: a defanged IP');
    $r = http_req($s, 'GET', '/search?q=10.0.1.7%2F24', cookie => $cookie);
    is($r->{headers}{location}, "/hunt/subnet-sweep?cidr=10.0.1.0%2F24&$W", 'search: a CIDR opens the sweep');
    $r = http_req($s, 'HEAD', "/ip/$IP?$W", cookie => $cookie);
    is($r->{status}, 200, 'HEAD: 200');
}

# --- pivots: hosts, accounts and indicators, by column type and name, with the window ------------
{
    my $wq = "from=\Q$FROM\E&amp;to=\Q$TO\E";
    like($page, qr{<td><a class="pivot" href="/hunt/hosts-contacting-ip\?host=wks-\d+&amp;ip=89\.160\.20\.128&amp;$wq">wks-\d+</a></td>},
        'a host opens the hunt of its activity with the IP, with the window');
    like($page, qr{<a class="pivot" href="/hunt/failed-logons-from-ip\?account=contoso%5C[a-z.]+&amp;ip=89\.160\.20\.128&amp;$wq">contoso\\[a-z.]+</a>},
        'an account (a proxy\'s DOMAIN\\user) opens the failed-logons hunt for it, escaped in the URL');
    like($page, qr{<a class="pivot" href="/kql\?q=ThreatIntelligenceIndicator%0A%7C%20where%20IndicatorId%20%3D%3D%20%22[0-9A-F]{64}%22&amp;$wq">},
        'an indicator id opens the KQL query that finds it');
    unlike($page, qr{<a class="pivot" href="/hunt/[^"]*"><span}, 'no pivot on a badge or a number');
    # a host pivot gives that host's row of the hunt, as ipe-run hunt -p host= does
    my ($href, $host) = $page =~ m{<a class="pivot" href="(/hunt/hosts-contacting-ip\?host=[^"]+)">([^<]+)</a>};
    $href =~ s/&amp;/&/g;
    my $r = http_req($s, 'GET', $href, cookie => $cookie);
    is($r->{status}, 200, "host pivot: 200 ($host)");
    my @rows = $r->{body} =~ m{<tr data-row="\d+">}g;
    is(scalar @rows, 1, 'host pivot: one host');
    $r = http_req($s, 'GET', "$href&format=csv", cookie => $cookie);
    my ($csv) = ipe('hunt', 'hosts-contacting-ip', '--ip', $IP, '-p', "host=$host", '--db', $db, '--from', $FROM, '--to', $TO,
        '-f', 'csv');
    is($r->{body}, $csv, 'host pivot: what ipe-run hunt -p host= writes');
    (my $short = $host) =~ s/\..*//;
    like($csv, qr/\A[^\n]*\n\Q$short\E,[^\n]*\n\z/, 'and it is that host (its short name, as device events name it)');
    # an account pivot
    my ($acc) = $page =~ m{<a class="pivot" href="(/hunt/failed-logons-from-ip\?account=[^"]+)">};
    $acc =~ s/&amp;/&/g;
    is(http_req($s, 'GET', $acc, cookie => $cookie)->{status}, 200, 'account pivot: the failed-logons hunt runs');
    # accounts by their source: on the spray source's failed logons, an Entra ID account opens its
    # sign-ins, a Windows one its failed logons; on the ssh brute-forcer's, a Linux one its failed logons
    my $SPRAY = '216.160.83.56';
    $r = http_req($s, 'GET', "/hunt/failed-logons-from-ip?ip=$SPRAY&$W", cookie => $cookie);
    is($r->{status}, 200, 'the failed logons of the spray source');
    like($r->{body}, qr{<td>SigninLogs</td><td><a class="pivot" href="/hunt/signins-from-ip\?account=pradeep\.gupta%40contoso\.com&amp;ip=216\.160\.83\.56&amp;$wq">pradeep\.gupta\@contoso\.com</a></td>},
        'a SigninLogs account: the sign-ins hunt');
    like($r->{body}, qr{<td>SecurityEvent</td><td><a class="pivot" href="/hunt/failed-logons-from-ip\?account=CONTOSO%5Cpradeep\.gupta&amp;ip=216\.160\.83\.56&amp;$wq">CONTOSO\\pradeep\.gupta</a></td>},
        'a SecurityEvent account: the failed-logons hunt');
    unlike($r->{body}, qr{<td>SecurityEvent</td><td><a class="pivot" href="/hunt/signins-from-ip}, 'no SecurityEvent account opens the sign-ins');
    $r = http_req($s, 'GET', "/hunt/failed-logons-from-ip?ip=45.33.32.156&$W", cookie => $cookie);
    like($r->{body}, qr{<td>Syslog</td><td><a class="pivot" href="/hunt/failed-logons-from-ip\?account=root&amp;ip=45\.33\.32\.156&amp;$wq">root</a></td>},
        'a Syslog account: the failed-logons hunt');
    # the Windows account's pivot: its rows, as ipe-run hunt -p account= writes them
    $r = http_req($s, 'GET', "/hunt/failed-logons-from-ip?account=CONTOSO%5Cpradeep.gupta&ip=$SPRAY&$W&format=csv", cookie => $cookie);
    my ($acsv) = ipe('hunt', 'failed-logons-from-ip', '--ip', $SPRAY, '-p', 'account=CONTOSO\pradeep.gupta', '--db', $db,
        '--from', $FROM, '--to', $TO, '-f', 'csv');
    is($r->{body}, $acsv, 'account pivot: what ipe-run hunt -p account= writes');
    like($acsv, qr{\ASource,[^\n]*\n(?:(?:SigninLogs,pradeep\.gupta\@contoso\.com|SecurityEvent,CONTOSO\\pradeep\.gupta),[^\n]*\n){3}\z},
        'and it is that account: its Windows failures and its user@ sign-ins');
    # a hostile account: bound, never SQL: no rows, not every account
    $r = http_req($s, 'GET', "/hunt/failed-logons-from-ip?account=%27%20OR%20%271%27%3D%271&ip=$SPRAY&$W&format=csv", cookie => $cookie);
    is($r->{status}, 200, 'a hostile account: 200');
    like($r->{body}, qr{\ASource,Account,Target,Code,Reason,Attempts,FirstSeen,LastSeen\r?\n\z}, 'a hostile account: no rows');
    # a hostile host name: escaped in the URL and in the HTML, and its pivot finds it
    $r = http_req($s, 'GET', "/hunt/hosts-contacting-ip?ip=$HIP&$W", cookie => $cookie);
    is($r->{status}, 200, 'the hunt of the IP the hostile host talked to');
    my $enc = '%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%22%26%27%3F%23%2F.corp';
    like($r->{body}, qr{<td><a class="pivot" href="/hunt/hosts-contacting-ip\?host=\Q$enc\E&amp;ip=198\.51\.100\.66&amp;$wq">&lt;img src=x onerror=alert\(1\)&gt;&quot;&amp;&#39;\?#/\.corp</a></td>},
        'a hostile host name: %-escaped in its pivot, HTML-escaped as text');
    unlike($r->{body}, qr{<img}, 'no element from the host name');
    $r = http_req($s, 'GET', "/hunt/hosts-contacting-ip?host=$enc&ip=$HIP&$W&format=csv", cookie => $cookie);
    like($r->{body}, qr{\AHost,[^\n]*\n"<img src=x onerror=alert\(1\)>""&'\?#/\.corp",10\.0\.9\.9,1,}, 'its pivot finds that host');
    # the indicator pivot runs
    my ($ind) = $page =~ m{<a class="pivot" href="(/kql\?q=ThreatIntelligenceIndicator[^"]+)">};
    $ind =~ s/&amp;/&/g;
    $r = http_req($s, 'GET', $ind, cookie => $cookie);
    is($r->{status}, 200, 'indicator pivot: the KQL page');
    my @ind = $r->{body} =~ m{<tr data-row="\d+">}g;
    cmp_ok(scalar @ind, '>=', 1, 'indicator pivot: the indicator');
}

# --- the KQL page: a query of one's own, read-only, with downloads ------------------------------------
{
    my $q = 'SigninLogs | summarize n = count() by IPAddress | top 3 by n';
    (my $qe = $q) =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge;
    my $r = http_req($s, 'GET', '/kql', cookie => $cookie);
    is($r->{headers}{location}, "/kql?$W", 'KQL: the window resolved into the URL');
    is(http_req($s, 'GET', '/kql?format=csv', cookie => $cookie)->{headers}{location}, "/kql?format=csv&$W",
        'KQL: the window resolved, the format kept');
    one_line(http_req($s, 'GET', "/kql?format=csv&$W", cookie => $cookie), 400, 'kql: no query given \(q=\)',
        'KQL: a download without a query');
    $r = http_req($s, 'GET', "/kql?$W", cookie => $cookie);
    is($r->{status}, 200, 'KQL: the form');
    like($r->{body}, qr{<textarea id="f-q" name="q" rows="8" cols="100" spellcheck="false" required>\n</textarea>}, 'KQL: the textarea');
    $r = http_req($s, 'GET', "/kql?q=$qe", cookie => $cookie);
    is($r->{status}, 303, 'KQL: a query without its window: redirect');
    is($r->{headers}{location}, "/kql?q=$qe&$W", 'to its stable URL');
    $r = http_req($s, 'GET', "/kql?q=$qe&$W", cookie => $cookie);
    is($r->{status}, 200, 'KQL: run');
    like($r->{body}, qr{<textarea [^>]*>\nSigninLogs \| summarize n = count\(\) by IPAddress \| top 3 by n</textarea>}, 'the query stays in the form');
    my @rows = $r->{body} =~ m{<tr data-row="\d+">}g;
    is(scalar @rows, 3, 'the table: three rows');
    like($r->{body}, qr{<td><a class="pivot" href="/ip/131\.107\.0\.89\?from=}, 'its IPs are pivots');
    my ($cmd) = $r->{body} =~ m{<span class="cmd-label">Command</span><code>([^<]+)</code>};
    is($cmd, "ipe-run kql &#39;$q&#39; --from $FROM --to $TO --db $db", 'the equivalent command');
    like($r->{body}, qr{<a href="/kql\?q=\Q$qe\E&amp;format=csv&amp;from=\Q$FROM\E&amp;to=\Q$TO\E">CSV</a>}, 'a CSV download link');
    $r = http_req($s, 'GET', "/kql?q=$qe&format=csv&$W", cookie => $cookie);
    my ($csv) = ipe('kql', $q, '--db', $db, '--from', $FROM, '--to', $TO, '--format', 'csv');
    is($r->{body}, $csv, 'CSV download: what ipe-run kql -f csv writes');
    like($r->{headers}{'content-disposition'}, qr/^attachment; filename="query\.csv"$/, 'CSV: a download');
    $r = http_req($s, 'GET', "/kql?q=$qe&format=json&$W", cookie => $cookie);
    my ($json) = ipe('kql', $q, '--db', $db, '--from', $FROM, '--to', $TO, '--format', 'json');
    my $strip = sub { my $x = shift; $x =~ s/"ms":\s*[\d.e+-]+/"ms":0/g; $x };
    is($strip->($r->{body}), $strip->($json), 'JSON download: what ipe-run kql -f json writes');
    # a query of several lines stays one: its text area and its command keep the line breaks, a
    # control character is shown escaped
    my $ml = "SigninLogs\n| where UserPrincipalName != \"\x01\"\n| take 1";
    (my $mle = $ml) =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge;
    $r = http_req($s, 'GET', "/kql?q=$mle&$W", cookie => $cookie);
    is($r->{status}, 200, 'a query of several lines: run');
    like($r->{body}, qr{<textarea [^>]*>\nSigninLogs\n\| where UserPrincipalName != &quot;\\x01&quot;\n\| take 1</textarea>},
        'its text area keeps its lines');
    like($r->{body}, qr{<code>ipe-run kql &#39;SigninLogs\n\| where UserPrincipalName != &quot;\\x01&quot;\n\| take 1&#39; --from},
        'its command too');
    $r = http_req($s, 'GET', "/kql?q=" . ($mle =~ s/%0A/%0D%0A/gr) . "&$W", cookie => $cookie);
    like($r->{body}, qr{<textarea [^>]*>\nSigninLogs\n\| where}, 'CR LF from a form: one line break');
    # let values: p=name=value as ipe-run kql -p name=value, in the form, the URLs and the command,
    # typed as the query's let, bound (never SQL); an empty p (the form's blank field) is no value
    {
        my $lq = 'let ip = "0.0.0.0"; let n = 10; SigninLogs | where IPAddress == ip '
            . '| summarize c = count() by UserPrincipalName | order by c desc, UserPrincipalName asc | take n';
        (my $lqe = $lq) =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge;
        my $ps = 'p=ip%3D216.160.83.56&p=&p=n%3D2';
        my $r = http_req($s, 'GET', "/kql?q=$lqe&$ps", cookie => $cookie);
        is($r->{headers}{location}, "/kql?q=$lqe&p=ip%3D216.160.83.56&p=n%3D2&$W", 'let values: the window resolved, the values kept in order');
        $r = http_req($s, 'GET', "/kql?q=$lqe&$ps&$W", cookie => $cookie);
        is($r->{status}, 200, 'let values: run');
        my @lrows = $r->{body} =~ m{<tr data-row="\d+">}g;
        is(scalar @lrows, 2, 'n=2: two rows (typed as the let: a number for take)');
        my ($lcmd) = $r->{body} =~ m{<span class="cmd-label">Command</span><code>([^<]+)</code>};
        like($lcmd, qr{^ipe-run kql &#39;let ip = &quot;0\.0\.0\.0&quot;;.*&#39; -p ip=216\.160\.83\.56 -p n=2 --from \Q$FROM\E --to \Q$TO\E --db },
            'let values: in the command as -p, in order');
        like($r->{body}, qr{<input id="f-p1" name="p" value="ip=216\.160\.83\.56"[^>]*><input id="f-p2" name="p" value="n=2"[^>]*><input id="f-p3" name="p" value="" placeholder="name=value"},
            'let values: in the form, and a field for another');
        like($r->{body}, qr{<a href="/kql\?q=\Q$lqe\E&amp;p=ip%3D216\.160\.83\.56&amp;p=n%3D2&amp;format=csv&amp;from=}, 'let values: in the download links');
        $r = http_req($s, 'GET', "/kql?q=$lqe&$ps&format=csv&$W", cookie => $cookie);
        my ($lcsv, undef, $lrc) = ipe('kql', $lq, '-p', 'ip=216.160.83.56', '-p', 'n=2', '--db', $db, '--from', $FROM, '--to', $TO,
            '--format', 'csv');
        is($lrc, 0, 'ipe-run kql -p: rows');
        is($r->{body}, $lcsv, 'let values: the CSV download is what ipe-run kql -p writes');
        like($lcsv, qr/\AUserPrincipalName,c\r?\n(?:[^\n]+\n){2}\z/, 'and that is two accounts');
        # typed like the CLI: a number's let given a word is the query's error, one line
        my (undef, $lerr, $lrc2) = ipe('kql', $lq, '-p', 'n=abc', '--db', $db);
        is($lrc2, 2, 'ipe-run kql -p n=abc: exit 2');
        my ($first) = $lerr =~ /\Aipe-run: ([^\n]*)\n/;
        is($first, q{kql:1:1: 'abc' is not a number}, 'ipe-run kql -p n=abc: its line');
        $r = http_req($s, 'GET', "/kql?q=$lqe&p=n%3Dabc&$W", cookie => $cookie);
        is($r->{status}, 400, 'p=n=abc: 400');
        (my $first_html = $first) =~ s/'/&#39;/g;
        like($r->{body}, qr{role="alert">\Q$first_html\E</p>}, 'p=n=abc: the same line as ipe-run kql');
        one_line(http_req($s, 'GET', "/kql?q=$lqe&p=n%3Dabc&format=csv&$W", cookie => $cookie), 400, "\Q$first\E", 'p=n=abc: the download');
        one_line(http_req($s, 'GET', "/kql?q=$lqe&p=n&$W", cookie => $cookie), 400, q{kql: -p expects key=value, got 'n'},
            'a p without =');
        # a hostile value: bound, so no rows (not every row), and escaped in the form and the command
        my $hv = q{' OR '1'='1" <b>x</b>};
        (my $hve = "ip=$hv") =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge;
        $r = http_req($s, 'GET', "/kql?q=$lqe&p=$hve&$W", cookie => $cookie);
        is($r->{status}, 200, 'a hostile value: run');
        is(scalar(() = $r->{body} =~ m{<tr data-row="\d+">}g), 0, 'a hostile value: bound, no rows');
        like($r->{body}, qr{<input id="f-p1" name="p" value="ip=&#39; OR &#39;1&#39;=&#39;1&quot; &lt;b&gt;x&lt;/b&gt;"}, 'escaped in the form');
        like($r->{body}, qr{ -p &#39;ip=&#39;\\&#39;&#39; OR &#39;\\&#39;&#39;1&#39;}, 'quoted in the command (as a shell reads it)');
        unlike($r->{body}, qr{<b>x</b>}, 'no markup from the value');
        $r = http_req($s, 'GET', "/kql?q=$lqe&p=$hve&format=csv&$W", cookie => $cookie);
        my ($hcsv) = ipe('kql', $lq, '-p', "ip=$hv", '--db', $db, '--from', $FROM, '--to', $TO, '--format', 'csv');
        is($r->{body}, $hcsv, 'a hostile value: what ipe-run kql -p writes');
    }
    # an error in the query: the one line with its line and column, escaped
    my $bad = "SigninLogs\n| where <script>alert(1)</script>";
    (my $be = $bad) =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge;
    $r = http_req($s, 'GET', "/kql?q=$be&$W", cookie => $cookie);
    is($r->{status}, 400, 'a bad query: 400');
    like($r->{body}, qr{<p class="msg msg-error notice" role="alert">kql:2:9: expected an expression, found &#39;&lt;&#39;</p>},
        'a bad query: the one line with line and column, escaped');
    unlike($r->{body}, qr{<script>alert}, 'nothing of the query becomes markup');
    one_line(http_req($s, 'GET', "/kql?q=$be&format=csv&$W", cookie => $cookie), 400,
        q{kql:2:9: expected an expression, found '<'}, 'a bad query\'s download');
    one_line(http_req($s, 'GET', "/kql?q=$qe&format=xml&$W", cookie => $cookie), 400, q{format: use csv or json, not 'xml'},
        'KQL: a bad download format');
    one_line(http_req($s, 'POST', "/kql?q=$qe&$W", cookie => $cookie, body => ''), 405,
        'method POST not allowed here \(use GET, HEAD\)', 'KQL: GET only');
    # an operator outside the subset, and a failing run: one line each
    $r = http_req($s, 'GET', "/kql?q=" . 'SigninLogs%20%7C%20make-series%20n%3Dcount()&' . $W, cookie => $cookie);
    like($r->{body}, qr{role="alert">kql:1:14: &#39;make-series&#39; is not supported[^<]*</p>}, 'an operator outside the subset: named');
    # the budgets of ipe-run kql: --timeout stops a query that runs too long, in one line
    my $t = serve_start(args => ['--db', $db, '--offline', '--timeout', '0.5']);
    my $tc = login($t);
    my $slow = 'SigninLogs | join kind=inner (SigninLogs) on TenantId | join kind=inner (SigninLogs) on TenantId | count';
    (my $se = $slow) =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge;
    $r = http_req($t, 'GET', "/kql?q=$se&$W", cookie => $tc, timeout => 30);
    is($r->{status}, 500, 'a query over its time budget: 500');
    like($r->{body}, qr{role="alert">kql: the query ran out of time \(budget 0\.5s; --timeout raises it\)</p>}, 'over budget: the one line');
    one_line(http_req($t, 'GET', "/kql?q=$se&format=csv&$W", cookie => $tc, timeout => 30), 500,
        'kql: the query ran out of time \(budget 0\.5s; --timeout raises it\)', 'over budget: the download');
    is(http_req($t, 'GET', '/', cookie => $tc)->{status}, 200, 'the server goes on');
    is(serve_stop($t), 0, 'stopped');
    unlike($t->{err}, qr/internal error/, 'no internal error');
}

# --- hunts: typed forms, results, downloads -------------------------------------------------------
{
    my $r = http_req($s, 'GET', "/hunt/hosts-contacting-ip?$W", cookie => $cookie);
    is($r->{status}, 200, 'hunt without its IP: the form');
    like($r->{body}, qr{<input id="f-ip" name="ip" type="text" value="" required>}, 'form: the required ip');
    like($r->{body}, qr{<input id="f-limit" name="limit" type="number" step="1" min="1" max="100000" value="1000">},
        'form: an int with its bounds and default');
    $r = http_req($s, 'GET', "/hunt/hosts-contacting-ip?ip=$IP&$W", cookie => $cookie);
    is($r->{status}, 200, 'hunt: run');
    like($r->{body}, qr{<a class="pivot" href="/ip/}, 'hunt result: pivots');
    $r = http_req($s, 'GET', "/hunt/hosts-contacting-ip?ip=$IP&$W&format=csv", cookie => $cookie);
    my ($csv) = ipe('hunt', 'hosts-contacting-ip', '--ip', $IP, '--db', $db, '--from', $FROM, '--to', $TO, '-f', 'csv');
    is($r->{body}, $csv, 'CSV download: what ipe-run hunt -f csv writes');
    like($r->{headers}{'content-disposition'}, qr/^attachment; filename="hosts-contacting-ip\.csv"$/, 'CSV: a download');
    $r = http_req($s, 'GET', "/hunt/hosts-contacting-ip?ip=$IP&$W&format=json", cookie => $cookie);
    my ($json) = ipe('hunt', 'hosts-contacting-ip', '--ip', $IP, '--db', $db, '--from', $FROM, '--to', $TO, '-f', 'json');
    my $strip = sub { my $x = shift; $x =~ s/"ms":\s*[\d.e+-]+/"ms":0/g; $x };
    is($strip->($r->{body}), $strip->($json), 'JSON download: what ipe-run hunt -f json writes');
    $r = http_req($s, 'GET', "/hunt/hosts-contacting-ip?ip=$IP&limit=0&$W", cookie => $cookie);
    is($r->{status}, 400, 'a bad parameter: 400');
    like($r->{body}, qr/role="alert">[^<]*limit[^<]*</, 'a bad parameter: the message on the form');
    $r = http_req($s, 'GET', "/hunt/hosts-contacting-ip?ip=$IP&$W&format=xml", cookie => $cookie);
    one_line($r, 400, q{format: use csv or json, not 'xml'}, 'a bad download format');
}

# --- actions: plan, confirmation with the CSRF token, audit ---------------------------------------
{
    my $r = http_req($s, 'GET', "/action/add-indicator?ip=203.0.113.9&$W", cookie => $cookie);
    is($r->{status}, 200, 'action: the plan');
    like($r->{body}, qr/would create/, 'the plan says what it would do');
    my ($csrf) = $r->{body} =~ /<input type="hidden" name="csrf" value="([0-9a-f]{64})">/;
    ok($csrf, 'the confirmation form carries the CSRF token');
    my ($n) = ipe('sql', '--db', $db, "SELECT count(*) AS n FROM ThreatIntelligenceIndicator WHERE NetworkIP = '203.0.113.9'", '-f', 'csv');
    like($n, qr/\An\r?\n0\r?\n\z/, 'planning changed nothing');
    my $form = "ip=203.0.113.9&from=$FROM&to=$TO&operator=alice";
    one_line(http_req($s, 'POST', '/action/add-indicator', cookie => $cookie, body => $form), 403,
        'missing CSRF token: reload the action\'s page and confirm again', 'POST without the CSRF token');
    one_line(http_req($s, 'POST', '/action/add-indicator', cookie => $cookie, body => "$form&csrf=" . ('0' x 64)), 403,
        'wrong CSRF token: reload the action\'s page and confirm again', 'POST with a wrong CSRF token');
    one_line(http_req($s, 'POST', '/action/add-indicator', cookie => $cookie, body => "$form&csrf=$csrf",
        headers => { 'Sec-Fetch-Site' => 'cross-site' }), 403, 'a cross-site form: reload the action\'s page and confirm again',
        'a cross-site POST');
    one_line(http_req($s, 'POST', '/action/add-indicator', body => "$form&csrf=$csrf"), 401,
        'access token required: open the URL ipe-run serve printed', 'POST without the cookie');
    one_line(http_req($s, 'POST', '/action/add-indicator', cookie => $cookie, body => "ip=203.0.113.9&csrf=$csrf"), 400,
        'operator: your name is required to execute an action', 'POST without the operator');
    ($n) = ipe('sql', '--db', $db, "SELECT count(*) AS n FROM ThreatIntelligenceIndicator WHERE NetworkIP = '203.0.113.9'", '-f', 'csv');
    like($n, qr/\An\r?\n0\r?\n\z/, 'refused POSTs changed nothing');
    $r = http_req($s, 'POST', '/action/add-indicator', cookie => $cookie, body => "$form&csrf=$csrf");
    is($r->{status}, 200, 'confirmed with the CSRF token: executed');
    like($r->{body}, qr{Audit trail \(this execution\)}, 'the audit rows are shown');
    like($r->{body}, qr{<td>alice \(ipe-run serve, 127\.0\.0\.1\)</td><td>add-indicator</td>}, 'audited with the operator');
    my ($audit) = ipe('audit', '--db', $db, '-f', 'csv');
    like($audit, qr/"alice \(ipe-run serve, 127\.0\.0\.1\)",add-indicator,indicator\.add,203\.0\.113\.9/, 'ipe-run audit shows it');
    ($n) = ipe('sql', '--db', $db, "SELECT count(*) AS n FROM ThreatIntelligenceIndicator WHERE NetworkIP = '203.0.113.9'", '-f', 'csv');
    like($n, qr/\An\r?\n1\r?\n\z/, 'the indicator is in');
    # read-only by default
    my $c2 = login($s2);
    $r = http_req($s2, 'GET', "/action/add-indicator?ip=203.0.113.10&$W", cookie => $c2);
    like($r->{body}, qr/Read-only: this is the plan only/, 'without --allow-actions: no confirmation form');
    unlike($r->{body}, qr/name="csrf"/, 'without --allow-actions: no CSRF token handed out');
    one_line(http_req($s2, 'POST', '/action/add-indicator', cookie => $c2, body => "ip=203.0.113.10&operator=x&csrf=x"), 403,
        'actions are off: ipe-run serve is read-only \(start it with --allow-actions\)', 'without --allow-actions: POST refused');
}

# --- a slow threat-intelligence provider never holds the page -------------------------------------
{
    my $ti = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 16, ReuseAddr => 1) or die "listen: $@";
    my $ti_pid = fork() // die;
    if (!$ti_pid) {
        open STDOUT, '>', '/dev/null';
        my $body = '{"ip":"89.160.20.128","noise":false,"riot":false,"message":"IP not observed"}';
        local $SIG{CHLD} = 'IGNORE';
        while (my $c = $ti->accept) {
            if (fork()) { close $c; next }   # one process a client: the provider answers several at once
            while (defined(my $line = <$c>)) { last if $line eq "\r\n" }
            sleep 4;   # a slow provider
            print $c "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " . length($body)
                . "\r\nConnection: close\r\n\r\n$body";
            close $c;
            POSIX::_exit(0);
        }
        POSIX::_exit(0);
    }
    my $cfg = tmpdir() . '/config';
    spew($cfg, "[provider.greynoise]\nbase_url = http://127.0.0.1:" . $ti->sockport . "\nenabled = true\n");
    chmod 0600, $cfg;
    close $ti;
    my $o = serve_start(args => ['--db', $db, '--timeout', '120'], env => { IPE_CONFIG => $cfg });
    my $c = login($o);
    my $sock = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $o->{port}) or die;
    print $sock "GET /ip/$IP?$W HTTP/1.1\r\nHost: x\r\nCookie: $c\r\nConnection: close\r\n\r\n";
    my ($buf, %at) = ('');
    my $t0 = time;
    while (sysread($sock, my $chunk, 65536)) {
        $buf .= $chunk;
        for my $id ($buf =~ /<template data-fill="(panel-[\w-]+)">/g) { $at{$id} //= time - $t0 }
    }
    close $sock;
    # two slow pages at once: each is prepared by its own handler, so both take one delay, not two
    my @socks = map {
        my $k = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $o->{port}) or die;
        print $k "GET /ip/89.160.20.11$_?$W HTTP/1.1\r\nHost: x\r\nCookie: $c\r\nConnection: close\r\n\r\n";
        $k } (2, 3);
    my $t1 = time;
    my @done;
    for my $k (@socks) {
        my $b = '';
        while (sysread($k, my $chunk, 65536)) { $b .= $chunk }
        push @done, [time - $t1, $b];
        close $k;
    }
    for my $i (0, 1) {
        like($done[$i][1], qr{<template data-fill="panel-greynoise-ip">.*</html>}s, "concurrent page $i: complete, with the slow panel");
        cmp_ok($done[$i][0], '>=', 3.5, "concurrent page $i: waited for its provider");
    }
    cmp_ok($done[1][0], '<', 7, 'two slow pages at once: served in about one provider delay, not two')
        or diag("finished after $done[0][0] s and $done[1][0] s");
    is(serve_stop($o), 0, 'stopped');
    # over the handler limit: 503 in one line, the server goes on
    $o = serve_start(args => ['--db', $db, '--timeout', '120', '--max-handlers', '1'], env => { IPE_CONFIG => $cfg });
    $c = login($o);
    my $slow = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $o->{port}) or die;
    print $slow "GET /ip/89.160.20.114?$W HTTP/1.1\r\nHost: x\r\nCookie: $c\r\nConnection: close\r\n\r\n";
    sysread($slow, my $first, 100);   # its handler has started
    one_line(http_req($o, 'GET', "/ip/$IP?$W", cookie => $c), 503,
        'busy: 1 pages are being prepared at once already; try again', 'over --max-handlers');
    is(http_req($o, 'GET', '/', cookie => $c)->{status}, 200, 'over --max-handlers: the search box is still served');
    close $slow;
    kill 'KILL', $ti_pid;
    waitpid $ti_pid, 0;
    ok(defined $at{'panel-greynoise-ip'}, 'the slow provider\'s panel arrives');
    my @others = grep { $_ ne 'panel-greynoise-ip' } keys %at;
    cmp_ok(scalar @others, '>', 10, 'the other panels arrive');
    my $before = grep { $at{$_} < $at{'panel-greynoise-ip'} } @others;
    cmp_ok($before, '>=', scalar(@others) - 6, 'most panels arrive before the slow provider\'s (only its worker-mates wait)')
        or diag(join ", ", map { "$_ $at{$_}" } sort { $at{$a} <=> $at{$b} } keys %at);
    cmp_ok($at{'panel-greynoise-ip'}, '>=', 3.5, 'the slow panel comes after its provider answered');
    like($buf, qr{<template data-fill="panel-greynoise-ip"><section class="panel panel-insights is-ok"[^<]*<header[^>]*><h3[^>]*>GreyNoise IP Address</h3><span class="st st-ok">},
        'and shows its answer');
    is(serve_stop($o), 0, 'stopped');
}

# --- HTTPS with a certificate and key ------------------------------------------------------------
{
    my $d = tmpdir();
    system("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 2 -keyout '$d/key.pem' "
        . "-out '$d/cert.pem' 2>/dev/null") == 0 or die "openssl failed";
    my ($out, $err, $rc);
    spew("$d/bad.pem", "not a certificate\n");
    ($out, $err, $rc) = ipe('serve', '--db', $db, '--tls-cert', "$d/bad.pem", '--tls-key', "$d/key.pem");
    is($rc, 2, 'a file that is not PEM: exit 2');
    is($err, "ipe-run: serve: --tls-cert: $d/bad.pem is not a PEM file\n", 'a file that is not PEM: one line');
    my $t = serve_start(args => ['--db', $db, '--offline', '--tls-cert', "$d/cert.pem", '--tls-key', "$d/key.pem"]);
    is($t->{scheme}, 'https', 'with a certificate: the URL is https');
    my $head = `curl -sk -i --max-time 20 '$t->{url}'`;
    like($head, qr{^HTTP/1\.1 303 }, 'HTTPS: the token logs in');
    like($head, qr{^Set-Cookie: ipe_token=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Strict; Secure\r$}m, 'HTTPS: the cookie is Secure');
    my $plain = http_req($t, 'GET', '/');
    isnt($plain->{status}, 200, 'plain HTTP to the HTTPS port gets no page');
    is(serve_stop($t), 0, 'HTTPS server stopped');
}

# --- the log never shows the token; SIGTERM stops it ---------------------------------------------------
is(serve_stop($s), 0, 'SIGTERM: exit 0');
is(serve_stop($s2, 'INT'), 0, 'SIGINT: exit 0');
unlike($s->{err}, qr/$s->{token}/, 'the token is never logged');
like($s->{err}, qr{GET /\?token=\[redacted\] 303}, 'the access log redacts it');
unlike($s->{err}, qr/internal error/, 'no internal error');
unlike($s->{err}, qr/AddressSanitizer|LeakSanitizer|runtime error:/, 'no sanitizer report (under make asan)');

done_testing();
