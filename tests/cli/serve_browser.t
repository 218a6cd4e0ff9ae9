#!/usr/bin/perl
# ipe-run serve in headless Chromium, driven over the DevTools protocol (tests/lib/cdp.py: real
# mouse clicks and typing): the token wall, the IP page streamed and complete, an IP pivot and
# the back button, a host pivot, a KQL query typed and run, a hunt form typed and run, an action confirmed with and without its CSRF
# token; and attacker-controlled strings — script, HTML and SVG payloads in ingested log
# records, alerts and threat-intelligence indicators, and in a threat-intelligence provider's
# answer — shown as text: nothing runs, no element or handler comes from them. The DOM is asserted.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IPC::Open2;
use JSON::PP;
use IO::Socket::IP;
use POSIX ();
use File::Copy qw(copy);
use IpeTest;
use IpeServe;

my $chromium = $ENV{IPE_CHROMIUM} || (grep { -x } map { "$_/chromium" } split /:/, $ENV{PATH})[0];
ok($chromium, 'headless Chromium is installed (apt-get install -y --no-install-recommends chromium)') or do {
    done_testing();
    exit 0;
};

my ($FROM, $TO) = ('2026-11-20T12:00:00.000Z', '2026-11-27T12:00:00.000Z');
my $W = "from=$FROM&to=$TO";
my $EVIL = '45.155.205.233';
my @P = (
    q{<script>window.__pwned=1;alert(1)</script>},
    q{<img src=x onerror="window.__pwned=2;alert(2)">},
    q{<svg/onload="window.__pwned=3"><circle r=9></circle></svg>},
    q{"><iframe srcdoc="<script>parent.__pwned=4</script>"></iframe>},
    q{</template><i data-filled="page-head"></i><script>window.__pwned=5</script>},
);

# --- a workspace with hostile records, alerts and indicators --------------------------------------
my $dir = tmpdir();
my $db = "$dir/ws.db";
copy(demo_db(), $db) or die "copy: $!";
my $json = JSON::PP->new->canonical;
spew("$dir/csl.jsonl", $json->encode({ Type => 'CommonSecurityLog', TimeGenerated => '2026-11-26T10:00:00.000Z',
    DeviceVendor => $P[0], DeviceProduct => $P[1], Activity => $P[2], SourceIP => '10.0.2.17', DestinationIP => $EVIL,
    DestinationPort => 443, Protocol => 'TCP', DeviceAction => 'allow', SourceHostName => $P[3], DestinationHostName => $P[4],
    Computer => $P[2], SentBytes => 100, ReceivedBytes => 200 }) . "\n");
spew("$dir/alert.jsonl", $json->encode({ Type => 'SecurityAlert', TimeGenerated => '2026-11-26T10:05:00.000Z',
    SystemAlertId => 'evil-1', DisplayName => $P[0], AlertName => $P[4], AlertSeverity => 'High', Description => $P[1],
    Status => 'New', StartTime => '2026-11-26T10:00:00.000Z', EndTime => '2026-11-26T10:05:00.000Z', Tactics => $P[2],
    Entities => $json->encode([{ Type => 'ip', Address => $EVIL }, { Type => 'host', HostName => $P[3] }]) }) . "\n");
spew("$dir/ti.jsonl", $json->encode({ Type => 'ThreatIntelligenceIndicator', TimeGenerated => '2026-11-26T09:00:00.000Z',
    IndicatorId => 'evil-ind-1', NetworkIP => $EVIL, Description => $P[3] . $P[4], ThreatType => $P[1],
    ConfidenceScore => 90, Active => JSON::PP::true, ExpirationDateTime => '2027-01-01T00:00:00.000Z',
    IndicatorProvider => $P[2], SourceSystem => 'test' }) . "\n");
for my $f (qw(csl alert ti)) {
    my ($o, $e, $rc) = ipe('ingest', '--db', $db, "$dir/$f.jsonl");
    is($rc, 0, "ingest the hostile $f records") or diag($e);
}

# --- a threat-intelligence provider whose answer is hostile (GreyNoise's community API shape) ------
my $ti = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 16, ReuseAddr => 1) or die "listen: $@";
my $ti_port = $ti->sockport;
my $ti_pid = fork() // die;
if (!$ti_pid) {
    open STDOUT, '>', '/dev/null';
    open STDERR, '>', '/dev/null';
    my $body = $json->encode({ ip => $EVIL, noise => JSON::PP::true, riot => JSON::PP::false, classification => 'malicious',
        name => $P[0], link => 'javascript:window.__pwned=7', last_seen => '2026-11-25', message => $P[1] . $P[2] });
    while (my $c = $ti->accept) {
        my $req = '';
        while (defined(my $line = <$c>)) { $req .= $line; last if $line eq "\r\n" }
        print $c "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " . length($body)
            . "\r\nConnection: close\r\n\r\n$body";
        close $c;
    }
    POSIX::_exit(0);
}
END { local $?; if ($ti_pid) { kill "KILL", $ti_pid; waitpid $ti_pid, 0 } }
close $ti;
my $config = "$dir/config";
spew($config, "[provider.greynoise]\nbase_url = http://127.0.0.1:$ti_port\nenabled = true\n");
chmod 0600, $config;

# a long panel budget: a loaded machine must not turn a slow panel into a failed one here
my $s = serve_start(args => ['--db', $db, '--allow-actions', '--timeout', '120'], env => { IPE_CONFIG => $config });
ok($s->{token}, 'server started') or BAIL_OUT($s->{err} // 'no server');

# --- the browser -----------------------------------------------------------------------------------
local $ENV{IPE_CDP_LOG} = "$dir/chromium.log";
my $cdp_pid = open2(my $from, my $to, 'python3', repo_root() . '/tests/lib/cdp.py', $chromium);
sub cdp {
    my (%c) = @_;
    print $to $json->encode(\%c), "\n";
    my $line = <$from> // do { waitpid $cdp_pid, 0; die "cdp.py ended (status $?) on $c{cmd}\n" };
    my $r = decode_json($line);
    diag("cdp $c{cmd}: $r->{error}") if $r->{error};
    return $r;
}
sub js { cdp(cmd => 'eval', js => shift)->{value} }
sub url_path { my $u = shift // ''; $u =~ s{^https?://[^/]+}{}; $u }

# every element with an on* attribute, every element that loads something, and our scripts
my $INERT = q{(function(){var all=Array.prototype.slice.call(document.querySelectorAll('*'));
  return {handlers: all.filter(function(e){return Array.prototype.some.call(e.attributes,function(a){return /^on/i.test(a.name);});}).length,
    loaders: document.querySelectorAll('img,iframe,object,embed,link,[src],[srcdoc]').length,
    scripts: document.scripts.length, pwned: typeof window.__pwned, templates: document.querySelectorAll('template').length,
    jsurls: document.querySelectorAll('a[href^="javascript:" i]').length,
    text: document.body.textContent};})()};

# token wall
my $r = cdp(cmd => 'goto', url => "$s->{base}/ip/$EVIL?$W");
like(js('document.body.textContent'), qr/^401 access token required: open the URL ipe-run serve printed\n$/,
    'token wall: a page without the token is refused');
$r = cdp(cmd => 'goto', url => $s->{url});
is(url_path($r->{url}), '/', 'the printed URL: logged in, the token gone from the address bar');
is(js('document.cookie'), '', 'the cookie is HttpOnly: no script can read it');

# the IP page of the hostile records
$r = cdp(cmd => 'goto', url => "$s->{base}/ip/$EVIL?$W");
is(url_path($r->{url}), "/ip/$EVIL?$W", 'the page: its stable URL');
my $d = js($INERT);
is($d->{templates}, 0, 'every streamed panel is in place (no template left)');
is(js('document.querySelectorAll("section.panel.is-running").length'), 0, 'no panel still running');
is(js('document.querySelector("#page-head .st").textContent'), 'complete', 'the final status');
is(js('document.documentElement.className'), 'js', "the page's script ran under the CSP");
is($d->{pwned}, 'undefined', 'no payload ran');
is($d->{handlers}, 0, 'no element with an event handler attribute');
is($d->{loaders}, 0, 'no element that loads anything');
is($d->{jsurls}, 0, 'no javascript: link');
is($d->{scripts}, 3, 'three scripts: the stream filler, the data block, the page script');
is_deeply(cdp(cmd => 'dialogs')->{value}, [], 'no alert opened');
for my $i (0 .. $#P) {
    ok(index($d->{text}, $P[$i]) >= 0, "payload " . ($i + 1) . " is shown as text");
}
like($d->{text}, qr/\Q$P[0]\E/, 'the TI provider\'s hostile name is shown as text');
ok(js(q{Array.prototype.some.call(document.querySelectorAll('#panel-greynoise-ip dd, #panel-greynoise-ip td'),
    function(e){return e.textContent.indexOf('<script>window.__pwned=1')>=0;})}), 'in the GreyNoise panel, as text');
ok(js(q{Array.prototype.some.call(document.querySelectorAll('#panel-ti-match td'),
    function(e){return e.textContent.indexOf('<iframe srcdoc=')>=0;})}), 'the indicator description in ti-match, as text');

# an IP pivot, then back
cdp(cmd => 'click', selector => '#tab-observed', nowait => JSON::PP::true);
is(js('document.querySelector("#tab-observed").getAttribute("aria-selected")'), 'true', 'the observed tab is open');
$r = cdp(cmd => 'click', selector => '#tp-observed a.pivot[href^="/ip/"]');
like(url_path($r->{url}), qr{^/ip/10\.0\.\d+\.\d+\?\Q$W\E$}, 'an IP pivot opens that IP\'s page with the same window');
like(js('document.querySelector("h1").textContent'), qr/^10\.0\.\d+\.\d+$/, 'its page');
$r = cdp(cmd => 'back');
like(url_path($r->{url}), qr{^/ip/\Q$EVIL?$W\E(#tab=observed)?$}, "the back button returns to the first page");
is(js('document.querySelector("h1").textContent'), $EVIL, 'and shows it');

# a host pivot: the hostile host's activity with the IP (the hunt, filtered to it), then back
my $tp = js(q{(function(){var a=document.querySelector('a.pivot[href^="/hunt/hosts-contacting-ip?host=%22%3E%3Ciframe"]');
  var t=a&&a.closest('[role=tabpanel]'); return t?t.id:(a?'':null);})()});
ok(defined $tp, 'the hostile host is a pivot on the page');
cdp(cmd => 'click', selector => '#' . ($tp =~ s/^tp-/tab-/r), nowait => JSON::PP::true) if $tp;
$r = cdp(cmd => 'click', selector => 'a.pivot[href^="/hunt/hosts-contacting-ip?host=%22%3E%3Ciframe"]');
like(url_path($r->{url}), qr{^/hunt/hosts-contacting-ip\?host=%22%3E%3Ciframe%20srcdoc%3D%22%3Cscript%3Eparent\.__pwned%3D4%3C%2Fscript%3E%22%3E%3C%2Fiframe%3E&ip=\Q$EVIL&$W\E$},
    'a host pivot opens the hunt for that host and the IP, with the window');
is(js('document.querySelectorAll("#run .section-table tbody tr").length'), 1, 'the hunt: that one host');
is(js('document.querySelector("#run .section-table tbody td").textContent'), $P[3], 'the hostile host name, as text');
$d = js($INERT);
is($d->{pwned}, 'undefined', 'host pivot: no payload ran');
is($d->{handlers} + $d->{loaders} + $d->{jsurls}, 0, 'host pivot: no handler, loader or javascript: link');
$r = cdp(cmd => 'back');
like(url_path($r->{url}), qr{^/ip/\Q$EVIL?$W\E(#tab=\w+)?$}, 'back to the IP page');

# a KQL query typed and run: its table, its pivots, hostile values as text
$r = cdp(cmd => 'goto', url => "$s->{base}/kql?$W");
my $query = qq{CommonSecurityLog\n| where DestinationIP == "$EVIL" and SourceHostName has "iframe"\n| project SourceHostName, DeviceVendor, SourceIP};
is(cdp(cmd => 'type', selector => '#f-q', text => $query)->{value}, $query, 'typed a KQL query');
$r = cdp(cmd => 'click', selector => 'form.kql button[type=submit]');
(my $wform = $W) =~ s/:/%3A/g;   # as a form encodes it
like(url_path($r->{url}), qr{^/kql\?q=CommonSecurityLog%0D%0A%7C\+where\+DestinationIP\+%3D%3D\+%2245\.155\.205\.233%22.*&\Q$wform\E$},
    'the query: a GET with the window (a stable URL)');
is(js('document.querySelector("#f-q").value'), $query, 'the query stays in the form, as typed');
is(js('document.querySelectorAll("#run .section-table tbody tr").length'), 1, 'the result table: one row');
is_deeply(js('Array.prototype.map.call(document.querySelectorAll("#run .section-table tbody td"), function(e){return e.textContent;})'),
    [$P[3], $P[0], '10.0.2.17'], 'its cells, the hostile ones as text');
is(js('document.querySelector("#run .section-table tbody td:nth-child(3) a.pivot").getAttribute("href")'), "/ip/10.0.2.17?$W",
    'an IP in it is a pivot');
ok(js('!!document.querySelector(".downloads a[href*=\"format=csv\"]")'), 'a CSV download link');
$d = js($INERT);
is($d->{pwned}, 'undefined', 'KQL: no payload ran');
is($d->{handlers} + $d->{loaders} + $d->{jsurls}, 0, 'KQL: no handler, loader or javascript: link');

# a hunt form: typed, run
$r = cdp(cmd => 'goto', url => "$s->{base}/hunt/hosts-contacting-ip?$W");
is(cdp(cmd => 'type', selector => '#f-ip', text => '89[.]160[.]20[.]128')->{value}, '89[.]160[.]20[.]128', 'typed a defanged IP');
$r = cdp(cmd => 'click', selector => 'form.form button[type=submit]');
like(url_path($r->{url}), qr{^/hunt/hosts-contacting-ip\?ip=89%5B\.%5D160%5B\.%5D20%5B\.%5D128&limit=1000&}, 'the form: a GET with its parameters');
cmp_ok(js('document.querySelectorAll("#run tbody tr").length'), '>', 0, 'the hunt result rows');
ok(js('!!document.querySelector("a[href*=\"format=csv\"]")'), 'a CSV download link');

# an action: without its CSRF token, then with it
$r = cdp(cmd => 'goto', url => "$s->{base}/action/add-indicator?ip=203.0.113.77&$W");
like(js('document.body.textContent'), qr/would create/, 'the plan comes first');
cdp(cmd => 'type', selector => '#f-operator', text => 'Bob');
js('document.querySelector("input[name=csrf]").remove(); true');
$r = cdp(cmd => 'click', selector => 'form.form button[type=submit]');
is(js('document.body.textContent'), "403 missing CSRF token: reload the action's page and confirm again\n",
    'confirmed without the CSRF token: refused');
my ($n) = ipe('sql', '--db', $db, "SELECT count(*) AS n FROM ThreatIntelligenceIndicator WHERE NetworkIP = '203.0.113.77'", '-f', 'csv');
like($n, qr/\An\r?\n0\r?\n\z/, 'nothing changed');
$r = cdp(cmd => 'goto', url => "$s->{base}/action/add-indicator?ip=203.0.113.77&$W");
cdp(cmd => 'type', selector => '#f-operator', text => 'Bob');
$r = cdp(cmd => 'click', selector => 'form.form button[type=submit]');
is(url_path($r->{url}), '/action/add-indicator', 'confirmed with the CSRF token: executed');
ok(js(q{Array.prototype.some.call(document.querySelectorAll('[data-id="audit"] td'),
    function(e){return e.textContent === 'Bob (ipe-run serve, 127.0.0.1)';})}), 'the audit row with the operator is shown');
($n) = ipe('sql', '--db', $db, "SELECT count(*) AS n FROM ThreatIntelligenceIndicator WHERE NetworkIP = '203.0.113.77'", '-f', 'csv');
like($n, qr/\An\r?\n1\r?\n\z/, 'the indicator is in');

print $to $json->encode({ cmd => 'quit' }), "\n";
close $to;
waitpid $cdp_pid, 0;
is($?, 0, 'the browser driver ended cleanly');
is(serve_stop($s), 0, 'server stopped');
unlike($s->{err}, qr/internal error/, 'no internal error');
done_testing();
