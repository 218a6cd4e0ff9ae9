#!/usr/bin/perl
# ipe-run page end to end (issue 4): the story IPs of the demo workspace in text (80 and 200
# columns), JSON and HTML; an IP with no data; an internal IP; an IPv6 IP; the incidents
# filters; partial results when a panel fails or runs out of time; every bad argument with its
# exact message; the rollup kept by rows a plain sqlite3 client inserts.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IpeTest;
use Test::More;
use JSON::PP;

my $db = demo_db();
my $C2 = '89.160.20.128';
my $SPRAY = '216.160.83.56';
my $INTERNAL = '10.0.1.20';
my $QUIET = '192.0.2.200';

# Until ipe.schema runs the rollup migration itself, add it to the test workspace (a no-op once it does).
{
    my $dir = tmpdir();
    spew("$dir/rollup_test.lua", <<'LUA');
local sqlite = require "ipe.sqlite"
local db = assert(sqlite.open(require("ipe.proc").getenv("ROLLUP_DB"), "rw"))
if #db:query("SELECT 1 FROM sqlite_master WHERE name = '_ipe_ip_activity'") == 0 then
  require("ipe.migrations.rollup").up(db)
end
db:close()
LUA
    my ($out, $err, $rc) = ipe({ env => { ROLLUP_DB => $db } }, 'test', "$dir/rollup_test.lua");
    die "cannot add the rollup: $err$out" if $rc != 0;
}

sub page {
    my ($opts, @args) = ref $_[0] eq 'HASH' ? @_ : ({}, @_);
    return ipe($opts, 'page', @args, '--db', $db, '--offline');
}

sub json_page {
    my ($out, $err, $rc) = page(@_, '-f', 'json');
    my $j = eval { decode_json($out) } or diag("not JSON: $err");
    return ($j, $rc, $err);
}

sub panels_of { my $j = shift; return { map { $_->{id} => $_ } @{ $j->{panels} } } }

sub rows_of {    # the rows of a panel's section (by id) as hashes
    my ($panel, $id) = @_;
    my ($s) = grep { ($_->{id} // '') eq $id } @{ $panel->{record}{sections} };
    return [] unless $s;
    my @names = map { $_->{name} } @{ $s->{columns} };
    return [ map { my $r = $_; +{ map { $names[$_] => $r->[$_] } 0 .. $#names } } @{ $s->{rows} } ];
}

my @MINE = qw(security-info log-activity logged-hosts incidents-by-severity ip-prevalence incidents-and-alerts
              observed-in-organization timeline network-traffic-inspection remote-connections-ti-match ti-match
              watchlist-insights);

# usage
{
    my ($out, $err, $rc) = ipe('page', '--help');
    is($rc, 0, '--help: exit 0');
    like($out, qr/^usage: ipe-run page <ip> \[options\]/, '--help: usage');
    like($out, qr/--where COL=V1,V2/, '--help: the incidents filters');
}

# the C2 server: JSON
my ($c2, $c2_rc) = json_page($C2);
{
    ok($c2, 'c2: JSON page');
    is($c2->{kind}, 'page', 'c2: kind');
    is($c2->{ip}, $C2, 'c2: ip');
    is($c2->{title}, "IP address $C2", 'c2: title');
    is_deeply($c2->{window}, { from => '2026-11-20T12:00:00.000Z', to => '2026-11-27T12:00:00.000Z' }, 'c2: window');
    is($c2->{offline}, JSON::PP::true, 'c2: offline');
    is($c2_rc, $c2->{status} eq 'partial' ? 1 : 0, 'c2: the exit code follows the status');
    ok($c2->{timing}{ms} > 0 && $c2->{timing}{parallel} >= 1, 'c2: timing');
    my $p = panels_of($c2);
    for my $id (@MINE, qw(anomalies-count remote-connections)) {
        is($p->{$id}{record}{status}, $id eq 'logged-hosts' || $id eq 'watchlist-insights' ? 'empty' : 'ok', "c2: $id status");
        ok(@{ $p->{$id}{record}{queries} } > 0, "c2: $id carries its queries");
        like($p->{$id}{hunt}, qr/^ipe-run (hunt \S+|insight \Q$id\E \Q$C2\E --as-hunt)\b.* --from 2026-11-20T12:00:00.000Z --to 2026-11-27T12:00:00.000Z$/,
             "c2: $id hunt command");
    }
    my @groups = map { $_->{group} } @{ $c2->{panels} };
    my %rank = (overview => 1, incidents => 2, observed => 3, timeline => 4, insights => 5);
    is_deeply([@groups], [sort { $rank{$a} <=> $rank{$b} } @groups], 'c2: panels in group order');
    is_deeply([map { $_->{id} } grep { $_->{group} eq 'overview' && $_->{id} ne 'ip-details' } @{ $c2->{panels} }],
              [qw(security-info log-activity logged-hosts incidents-by-severity ip-prevalence)], 'c2: the overview in order');
    my @insights = map { $_->{id} } grep { $_->{group} eq 'insights' } @{ $c2->{panels} };
    is_deeply([@insights[0 .. 10]], [qw(defender-ti-reputation virustotal-ip recorded-future-ip anomali-ip abuseipdb-ip
        anomalies-count network-traffic-inspection remote-connections-ti-match remote-connections ti-match watchlist-insights)],
        'c2: the eleven insights in the order of the entity page')
        or diag("insights: @insights");

    my %la = map { $_->{DataSource} => $_ } @{ rows_of($p->{'log-activity'}, 'log-activity') };
    is($la{CommonSecurityLog}{Events}, 4320, 'c2: 4,320 firewall records');
    is($la{DeviceNetworkEvents}{Events}, 4320, 'c2: 4,320 device network events');
    my $sec = $p->{'security-info'}{record}{sections}[0]{items};
    is_deeply([map { [$_->{key}, $_->{value}] } @$sec], [['Open incidents', 1], ['Active alerts', 1]], 'c2: security info');
    my $inc = rows_of($p->{'incidents-and-alerts'}, 'incidents');
    is($inc->[0]{Id}, '87', 'c2: incident 87');
    is($inc->[0]{AssignedTo}, 'Nestor Wilke', 'c2: assigned to');
    is_deeply([sort map { $_->{Device} } @{ rows_of($p->{'observed-in-organization'}, 'devices') }],
              [qw(wks-007.contoso.com wks-013.contoso.com wks-021.contoso.com)], 'c2: the three beaconing devices');
    my %ti = map { $_->{key} => $_->{value} } @{ $p->{'ti-match'}{record}{sections}[0]{items} };
    is($ti{Badge}, 'TI match: 2 live indicators', 'c2: the TI badge');
    my @kinds = map { $_->{Kind} } @{ rows_of($p->{timeline}, 'timeline') };
    is(scalar(grep { $_ eq 'Anomaly' } @kinds), 3, 'c2: three anomalies on the timeline');
    like($p->{'network-traffic-inspection'}{hunt}, qr/^ipe-run (hunt firewall-traffic-for-ip --ip \Q$C2\E|insight network-traffic-inspection \Q$C2\E --as-hunt) --from 2026-11-20T12:00:00.000Z --to 2026-11-27T12:00:00.000Z$/,
         'c2: network traffic opens a hunt');
    is(ref $c2->{actions}, 'ARRAY', 'c2: actions');
    for my $a (@{ $c2->{actions} }) { like($a->{command}, qr/^ipe-run action \Q$a->{name}\E\b/, "c2: action $a->{name} command") }
    my ($q) = grep { $_->{sql} =~ /_ipe_ip_activity/ } @{ $p->{'log-activity'}{record}{queries} };
    is($q->{params}{ip}, $C2, 'c2: bound values are recorded');
    is($q->{params}{from}, '2026-11-20T12:00:00.000Z', 'c2: the window is bound');
}

# The hunt commands reproduce the page's exact window, whatever form it was given in and whenever
# they are run: each is run (insight --as-hunt through EDITOR=true) at another time than the page
# and its window compared with the page's.
for my $form (
    [[], {}, 'the default 7d at IPE_NOW'],
    [['--since', '36h', '--now', '2026-11-25T06:30:00.125Z'], {}, '--since with --now'],
    [['--since', '2d'], { IPE_NOW => undef }, '--since on the clock'],
    [['--from', '2026-11-22T08:20:00Z', '--to', '2026-11-25T10:41:30.250Z'], {}, '--from/--to'],
    [['--from', '2026-11-24'], {}, '--from alone, to now'],
) {
    my ($args, $env, $what) = @$form;
    my ($j) = json_page({ env => $env }, $C2, @$args, '--only', 'security-info,observed,timeline,network-traffic-inspection');
    ok($j && $j->{window}{from} && $j->{window}{to}, "hunt commands, $what: the page") or next;
    my %cmds = map { $_->{hunt} => 1 } @{ $j->{panels} };
    ok(keys(%cmds) >= 3, "hunt commands, $what: several commands");
    for my $cmd (sort keys %cmds) {
        my @argv = split / /, $cmd;
        shift @argv;    # ipe-run
        my ($out, $err, $rc) = ipe({ env => { IPE_NOW => '2027-03-01T00:00:00Z', EDITOR => 'true', XDG_DATA_HOME => tmpdir() } },
                                   @argv, '--db', $db, ($argv[0] eq 'insight' ? '--offline' : ()), '-f', 'json');
        my $h = eval { decode_json($out) };
        ok($h, "hunt commands, $what: '$cmd' runs") or diag("rc $rc: $err");
        is_deeply($h && $h->{window}, $j->{window}, "hunt commands, $what: '$cmd' covers the page's window");
    }
}

# the C2 server: text in 80 and 200 columns
for my $cols (80, 200) {
    my ($out, $err, $rc) = page({ env => { COLUMNS => $cols } }, $C2);
    is($rc, $c2_rc, "text $cols: same exit code as JSON");
    like($out, qr/^IP address \Q$C2\E\nwindow 2026-11-20 12:00:00 → 2026-11-27 12:00:00 UTC · \d+ panels · /, "text $cols: heading");
    for my $h ('Overview', 'Incidents and alerts', 'Observed in organization', 'Timeline', 'Insights', 'Response actions') {
        like($out, qr/^━━ \Q$h\E (?:━)+$/m, "text $cols: group $h");
    }
    like($out, qr/^│ Open incidents │ │ Active alerts │$/m, "text $cols: security info cards");
    like($out, qr/^CommonSecurityLog\s+2026-11-22 \d\d:\d\d:\d\d\s+2026-11-27 \d\d:\d\d:\d\d\s+4,320$/m, "text $cols: log activity");
    like($out, qr/^hunt: ipe-run insight log-activity \Q$C2\E --as-hunt --from \S+ --to \S+$|^hunt: ipe-run hunt ip-everywhere --ip \Q$C2\E --from \S+ --to \S+$/m,
         "text $cols: hunt commands");
    my @long = grep { length($_) > $cols && !/^(hunt: |  ipe-run |window |error: |skipped: |no results: |-- query )/ } split /\n/, $out;
    # length() counts bytes of UTF-8: measure characters
    @long = grep { do { my $s = $_; utf8::decode($s); length($s) > $cols } } @long;
    is(scalar @long, 0, "text $cols: every table, card and chart line fits") or diag(join "\n", @long[0 .. 4]);
}
{
    my ($out) = page({ env => { COLUMNS => 80 } }, $C2);
    like($out, qr/^\[1\] Kind:\s+Incident$/m, 'text 80: the wide incidents table as one block per row');
    my ($wide) = page({ env => { COLUMNS => 200 } }, $C2, '--only', 'incidents', '--columns',
                      'Kind,Id,Title,Severity,Status,Classification,AssignedTo,LastActivity');
    like($wide, qr/^Kind\s+Id\s+Title\s+Severity\s+Status\s+Classification\s+AssignedTo\s+LastActivity$/m,
         'text 200: the incidents table as a table');
    my ($q) = page($C2, '--only', 'log-activity', '--show-query');
    like($q, qr/^-- query \d+ \(ip=\Q$C2\E /m, '--show-query: queries with their bound values');
    my ($box) = page($C2, '--only', 'log-activity', '-f', 'box');
    like($box, qr/^┌─/m, 'box: bordered tables');
}

# the spray source, the internal server, IPv6
{
    my ($j, $rc) = json_page($SPRAY);
    my $p = panels_of($j);
    my ($w) = @{ rows_of($p->{'watchlist-insights'}, 'watchlists') };
    is($w->{Alias}, 'suspicious-ips', 'spray: the watchlist hit');
    my %la = map { $_->{DataSource} => $_->{Events} } @{ rows_of($p->{'log-activity'}, 'log-activity') };
    is_deeply(\%la, { SigninLogs => 62, SecurityEvent => 40 }, 'spray: 62 sign-ins, 40 failed Windows logons');
    my ($ti) = @{ rows_of($p->{'ti-match'}, 'indicators') };
    is($ti->{Provider}, 'AbuseIPDB', 'spray: the AbuseIPDB indicator');
    my $sev = { map { $_->{Severity} => $_ } @{ rows_of($p->{'incidents-by-severity'}, 'severity') } };
    is_deeply([$sev->{Medium}{Incidents}, $sev->{Medium}{Alerts}], [1, 1], 'spray: a Medium incident and alert');

    ($j, $rc) = json_page($INTERNAL);
    $p = panels_of($j);
    is($rc, $j->{status} eq 'partial' ? 1 : 0, 'internal: exit code');
    ($w) = @{ rows_of($p->{'watchlist-insights'}, 'watchlists') };
    is($w->{Alias}, 'critical-servers', 'internal: on critical-servers');
    my ($h) = @{ rows_of($p->{'logged-hosts'}, 'logged-hosts') };
    is_deeply([$h->{Computer}, $h->{Reported}], ['srv-db01.contoso.com', 'private'], 'internal: the host that reports it');
    is($p->{'ti-match'}{record}{status}, 'empty', 'internal: no TI match');
    for my $id (qw(defender-ti-reputation virustotal-ip abuseipdb-ip)) {
        isnt($p->{$id}{record}{status}, 'error', "internal: $id does not fail offline");
    }

    ($j, $rc) = json_page('2001:0218:85A3:0:0:8A2E:0370:7334');
    is($j->{ip}, '2001:218:85a3::8a2e:370:7334', 'ipv6: normalized');
    $p = panels_of($j);
    my @la = @{ rows_of($p->{'log-activity'}, 'log-activity') };
    is_deeply([map { [$_->{DataSource}, $_->{Events}] } @la], [['SigninLogs', 8]], 'ipv6: eight sign-ins');
    is($p->{'observed-in-organization'}{record}{status}, 'empty', 'ipv6: no device');
}

# an IP with no data: every panel says so, exit 0
{
    # ip-details has something to say about any address (its class, and geo data when a
    # database is configured); every panel that reads the workspace or threat intelligence has not
    my ($j, $rc) = json_page($QUIET);
    is($rc, 0, 'quiet: exit 0');
    is_deeply($j->{failed}, [], 'quiet: nothing failed');
    my @found = map { $_->{id} } grep { $_->{record}{status} eq 'ok' } @{ $j->{panels} };
    is_deeply([grep { $_ ne 'ip-details' } @found], [], 'quiet: no panel found anything about it');
    is($j->{status}, @found ? 'ok' : 'empty', 'quiet: the page status says so');
    my @quiet = grep { $_->{id} ne 'ip-details' } @{ $j->{panels} };
    for my $pn (@quiet) { like($pn->{record}{status}, qr/^(empty|skipped)$/, "quiet: $pn->{id} has nothing") }
    my ($out, $err, $rc2) = page({ env => { COLUMNS => 80 } }, $QUIET);
    is($rc2, 0, 'quiet text: exit 0');
    my $said = () = $out =~ /^(no results(?:: .*)?|skipped: .*)$/mg;
    is($said, scalar @quiet, 'quiet text: every panel says so');
    is($err, '', 'quiet: nothing on stderr');
    my ($e) = json_page($QUIET, '--only', join(',', map { $_->{id} } @quiet));
    is($e->{status}, 'empty', 'quiet: without ip-details the page is empty');
    ($out) = page($QUIET, '--only', 'incidents,observed,timeline,log-activity', '--only', 'ti-match');
    like($out, qr/^No panel found anything about \Q$QUIET\E in this window\.$/m, 'quiet text: an empty page says so at the top');
}

# sections, filters, limits, output
{
    my ($j) = json_page($C2, '--only', 'overview', '--only', 'timeline,ti-match');
    my %g = map { $_->{group} => 1 } @{ $j->{panels} };
    is_deeply([sort keys %g], [qw(insights overview timeline)], '--only: groups and a panel');
    is(scalar(grep { $_->{group} eq 'insights' } @{ $j->{panels} }), 1, '--only: just the one insight');

    ($j) = json_page($C2, '--only', 'incidents', '--where', 'kind=alert', '--columns', 'Kind,Status,Title', '--sort', '-LastActivity');
    my ($s) = @{ panels_of($j)->{'incidents-and-alerts'}{record}{sections} };
    is_deeply([map { $_->{name} } @{ $s->{columns} }], [qw(Kind Status Title)], '--columns: chosen and ordered');
    is_deeply($s->{rows}, [['Alert', 'InProgress', 'Communication with C2 server']], '--where: the alert only');
    is($s->{note}, '1 of 2 rows where Kind = alert; sorted by LastActivity (descending)', '--where: the note says so');
    ($j) = json_page($C2, '--where', 'severity=Low');
    is(scalar @{ (panels_of($j)->{'incidents-and-alerts'}{record}{sections}[0]{rows}) }, 0, '--where: nothing Low');
    is(panels_of($j)->{'security-info'}{record}{sections}[0]{items}[0]{value}, 1, '--where leaves the overview alone');

    ($j) = json_page($C2, '--only', 'observed', '--limit', 2);
    is(scalar @{ rows_of(panels_of($j)->{'observed-in-organization'}, 'devices') }, 2, '--limit 2: two devices');
    ($j) = json_page($C2, '--only', 'remote-connections', '-p', 'remote-connections.limit=1');
    is(scalar @{ panels_of($j)->{'remote-connections'}{record}{sections}[0]{rows} }, 1, '-p panel.key=value');

    my $o = tmpdir() . '/page.json';
    my ($out, $err, $rc) = page($C2, '--only', 'overview', '-f', 'json', '-o', $o);
    is($out, '', '-o: nothing on stdout');
    is(decode_json(slurp($o))->{ip}, $C2, '-o: the page in the file');
    {
        my ($h, $herr, $hrc) = page($C2, '-f', 'html');
        is($herr, '', 'html: nothing on stderr');
        like($h, qr/^<!DOCTYPE html>/i, 'html: a document');
        like($h, qr/\Q$C2\E/, 'html: about the IP');
    }
}

# partial results: a panel that fails and one that runs out of time; the others render
{
    my $dir = tmpdir();
    mkdir "$dir/insights";
    my $head = 'kind = "insight", summary = "s", description = "d", categories = { "offline" }, sources = {},'
             . ' params = { { name = "ip", type = "ip", required = true, help = "the IP" } },';
    spew("$dir/insights/explodes.lua", qq{return { name = "explodes", title = "Explodes", $head
  page = { group = "overview", order = 35 }, run = function() error("the fixture fails", 0) end }\n});
    spew("$dir/insights/sleeps.lua", qq{return { name = "sleeps", title = "Sleeps", $head
  run = function() while true do end end }\n});
    spew("$dir/insights/loops-on-load.lua", "while true do end\n");
    my ($out, $err, $rc) = ipe({ env => { IPE_PATH => $dir, IPE_TIMEOUT => 2 } }, 'page', $C2, '--db', $db, '--offline',
                               '-f', 'json', '--timeout', 2);
    is($rc, 1, 'partial: exit 1');
    my $j = decode_json($out);
    is($j->{status}, 'partial', 'partial: status');
    is_deeply([sort @{ $j->{failed} }], [qw(explodes loops-on-load sleeps)], 'partial: says which failed');
    is(panels_of($j)->{'loops-on-load'}{record}{message}, 'loading ran out of time (budget 2s)',
       'partial: a script whose top level never returns is broken alone');
    my $p = panels_of($j);
    is($p->{explodes}{record}{message}, 'the fixture fails', 'partial: the error');
    is($p->{explodes}{group}, 'overview', 'partial: where the script put itself');
    is($p->{sleeps}{record}{message}, 'ran out of time (budget 2s)', 'partial: the timeout');
    is($p->{sleeps}{group}, 'insights', 'partial: a panel without a page field joins the insights');
    is($p->{'log-activity'}{record}{status}, 'ok', 'partial: the others render');
    like($err, qr/^ipe-run: page: panel 'explodes' failed: the fixture fails$/m, 'partial: stderr names the panel');
    ($out) = ipe({ env => { IPE_PATH => $dir, COLUMNS => 100 } }, 'page', $C2, '--db', $db, '--offline', '--only', 'explodes,log-activity');
    like($out, qr/^── Explodes (?:─)+\n\nerror: the fixture fails$/m, 'partial text: the error in place');
    like($out, qr/· partial \(1 failed: explodes\)$/m, 'partial text: the heading says so');
}

# bad arguments: one line, exit code, nothing on stdout
my $ws = "--db=$db";
my @bad = (
    [['page'], 2, "ipe-run: page: no IP given; usage: ipe-run page <ip> [options]\n"],
    [['page', '1.2.3.999', $ws], 2, "ipe-run: page: '1.2.3.999' is not an IP address\n"],
    [['page', '10.0.0.0/8', $ws], 2, "ipe-run: page: '10.0.0.0/8' is a network, not an IP address\n"],
    [['page', $C2, $SPRAY, $ws], 2, "ipe-run: page: unexpected argument '$SPRAY' (one IP per page)\n"],
    [['page', $C2, '-f', 'csv', $ws], 2, "ipe-run: page: cannot write format 'csv' (use table, box, json or html)\n"],
    [['page', $C2, '--only', 'overveiw', $ws], 2, qr/^ipe-run: --only: unknown section 'overveiw' \(sections: overview, incidents, observed, timeline, insights; or a panel: security-info, /],
    [['page', $C2, '--where', 'severity', $ws], 2, "ipe-run: --where: expected column=value[,value...], got 'severity'\n"],
    [['page', $C2, '--where', 'sevrity=High', $ws], 2,
     "ipe-run: --where: the incidents table has no column 'sevrity' (columns: Kind, Id, Title, Severity, Status, Classification, InvestigationState, Category, AssignedTo, LastActivity, ImpactedAssets, Incident)\n"],
    [['page', $C2, '--columns', 'Title,Owner', $ws], 2, qr/^ipe-run: --columns: the incidents table has no column 'Owner' \(columns: Kind, /],
    [['page', $C2, '--sort', 'Severity:up', $ws], 2, "ipe-run: --sort: direction must be asc or desc, got 'up'\n"],
    [['page', $C2, '--only', 'overview', '--sort', 'Severity', $ws], 2,
     "ipe-run: --sort applies to the incidents and alerts section, which is not on this page\n"],
    [['page', $C2, '--limit', 'many', $ws], 2,
     "ipe-run: page: insight 'observed-in-organization': parameter 'limit': 'many' is not a whole number\n"],
    [['page', $C2, '--only', 'overview', '--limit', 3, $ws], 2,
     "ipe-run: --limit applies to the observed in organization section, which is not on this page\n"],
    [['page', $C2, '-p', 'limit=3', $ws], 2,
     "ipe-run: page: -p expects panel.key=value (e.g. -p observed-in-organization.limit=20), got 'limit=3'\n"],
    [['page', $C2, '-p', 'timeline.top=3', $ws], 2, "ipe-run: page: insight 'timeline' has no parameter 'top' (parameters: ip)\n"],
    [['page', $C2, '--since', '7x', $ws], 2, "ipe-run: --since: '7x' is not a duration (use e.g. 7d, 12h, 30m)\n"],
    [['page', $C2, '--timeout', '0', $ws], 2, "ipe-run: --timeout: '0' must be more than 0 seconds\n"],
    [['page', $C2, '--db', '/nonexistent/ws.db'], 3,
     "ipe-run: no workspace at /nonexistent/ws.db; create one with 'ipe-run demo' (a demo workspace) or choose one with --db / IPE_DB\n"],
);
for my $case (@bad) {
    my ($args, $want_rc, $want) = @$case;
    my ($out, $err, $rc) = ipe(@$args);
    my $label = join ' ', grep { !/^--db/ } @$args;
    is($rc, $want_rc, "bad ($label): exit $want_rc");
    ref $want ? like($err, $want, "bad ($label): the message") : is($err, $want, "bad ($label): the exact line");
    is($out, '', "bad ($label): nothing on stdout");
}

# the rollup stays right for rows any SQLite client inserts (triggers in plain SQL)
{
    is(system('sqlite3 -version >/dev/null 2>&1'), 0, 'the sqlite3 CLI is installed (make test installs it)');
    my $copy = tmpdir() . '/copy.db';
    system('sqlite3', $db, ".backup '$copy'") == 0 or die 'backup failed';
    system('sqlite3', $copy, "INSERT INTO SigninLogs (TimeGenerated, IPAddress, UserPrincipalName) VALUES "
         . "('2026-11-27T10:00:00.000Z', '198.51.100.23', 'x\@contoso.com'), ('2026-11-27T10:30:00.000Z', '198.51.100.23', 'y\@contoso.com');"
         . "INSERT INTO Syslog (TimeGenerated, Computer, SyslogMessage) VALUES ('2026-11-27T11:00:00.000Z', 'srv-lnx02', 'Invalid user admin from 198.51.100.23 port 4242')") == 0
        or die 'insert failed';
    my ($out) = ipe('insight', 'log-activity', '198.51.100.23', '--db', $copy, '-f', 'csv');
    is($out, "DataSource,FirstSeen,LastSeen,Events\r\nSyslog,2026-11-27T11:00:00.000Z,2026-11-27T11:00:00.000Z,1\r\n"
           . "SigninLogs,2026-11-27T10:00:00.000Z,2026-11-27T10:30:00.000Z,2\r\n", 'sqlite3 inserts: counted');
    ($out) = ipe('insight', 'log-activity', '198.51.100.23', '--db', $copy, '--from', '2026-11-27T10:15:00Z', '--to', '2026-11-27T10:45:00Z', '-f', 'csv');
    is($out, "DataSource,FirstSeen,LastSeen,Events\r\nSigninLogs,2026-11-27T10:30:00.000Z,2026-11-27T10:30:00.000Z,1\r\n",
       'sqlite3 inserts: a window cutting the hour is exact');
}

done_testing();
