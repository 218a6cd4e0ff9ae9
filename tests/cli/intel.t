#!/usr/bin/perl
# The threat-intelligence insights end to end against the mock vendor APIs on
# 127.0.0.1 (tests/lib/MockTI.pm): every provider's answer, every fault, the
# cache and its age, --offline sending nothing, rate limits shared between
# processes, Retry-After, the circuit breaker, and keys never shown anywhere.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IpeTest;
use MockTI;
use Test::More;
use JSON::PP;
use Time::HiRes qw(time);
use POSIX ();


my $db = demo_db();
my %KEY = (virustotal => 'vt-cli-key-1111', abuseipdb => 'abuse-cli-key-2222', 'recorded-future' => 'rf-cli-key-3333',
           anomali => 'anomali-cli-key-4444', mdti => 'mdti-cli-token-5555', greynoise => 'gn-cli-key-6666',
           otx => 'otx-cli-key-7777');
my $SECRET = 'mdti-client-secret-8888';
my $mock = MockTI->start(keys => { %KEY, anomali => "analyst:$KEY{anomali}", 'mdti-secret' => $SECRET });
my %INSIGHT = (mdti => 'defender-ti-reputation', virustotal => 'virustotal-ip', 'recorded-future' => 'recorded-future-ip',
               anomali => 'anomali-ip', abuseipdb => 'abuseipdb-ip', greynoise => 'greynoise-ip', otx => 'otx-ip');
my @PROVIDERS = qw(mdti virustotal recorded-future anomali abuseipdb greynoise otx);

# A config file: every provider at the mock in the given mode (default ok).
my $n = 0;
sub config {
    my (%o) = @_;
    my $dir = tmpdir();
    my $text = '';
    $text .= "[intel]\n$o{intel}\n" if $o{intel};
    for my $p (@PROVIDERS) {
        my $mode = $o{modes}{$p} // $o{mode} // 'ok';
        $text .= "[provider.$p]\nbase_url = " . $mock->base($mode, $p) . "\n";
        $text .= $o{extra}{$p} . "\n" if $o{extra}{$p};
        next if $o{nokeys};
        if ($p eq 'anomali') { $text .= "user = analyst\nkey = $KEY{anomali}\n" }
        elsif ($p eq 'mdti') {
            $text .= "tenant_id = contoso\nclient_id = app-1\nclient_secret = $SECRET\nlogin_url = " . $mock->base('ok', 'mdti-login') . "\n";
        } else { $text .= "key = $KEY{$p}\n" }
    }
    spew("$dir/config", $text);
    chmod 0600, "$dir/config";
    return "$dir/config";
}

sub env_for {
    my ($cfg, %extra) = @_;
    return { IPE_CONFIG => $cfg, XDG_STATE_HOME => $extra{state} // tmpdir(), IPE_HOME => repo_root(),
             map { $_ => $extra{$_} } grep { $_ ne 'state' } keys %extra };
}

sub kv {
    my ($out) = @_;
    my $doc = eval { decode_json($out) } or return {};
    my %kv = map { ($_->{key} => $_->{value}) } @{ $doc->{sections}[0]{items} || [] };
    $kv{_status} = $doc->{status};
    $kv{_message} = $doc->{message};
    $kv{_evidence} = scalar @{ $doc->{sections}[1]{rows} || [] };
    return \%kv;
}

# Under valgrind every run is many times slower: give the scripts room.
my @SLOW = $ENV{IPE_VALGRIND} ? ('--timeout', '120') : ();

sub run_json {
    my ($env, $p, $ip, @extra) = @_;
    my ($out, $err, $rc) = ipe({ env => $env }, 'insight', $INSIGHT{$p}, $ip, '--db', $db, '-f', 'json', @SLOW, @extra);
    return (kv($out), $err, $rc, $out);
}

# Run several ipe-run commands at once; returns [stdout, stderr, rc] per command.
sub parallel {
    my ($env, @cmds) = @_;
    my $dir = tmpdir();
    my @pids;
    for my $i (0 .. $#cmds) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my ($o, $e, $rc) = ipe({ env => $env }, @{ $cmds[$i] });
            spew("$dir/$i.out", $o);
            spew("$dir/$i.err", $e);
            spew("$dir/$i.rc", $rc);
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    waitpid $_, 0 for @pids;
    return map { [slurp("$dir/$_.out"), slurp("$dir/$_.err"), slurp("$dir/$_.rc")] } 0 .. $#cmds;
}

sub sent { my ($provider) = @_; scalar grep { / \Q$provider\E / } $mock->requests }

# 1. Every provider answers from its recorded body, with its credential checked by the mock.
{
    my $cfg = config();
    my $env = env_for($cfg);
    my %want = (mdti => 'malicious', virustotal => 'malicious', 'recorded-future' => 'unknown', anomali => 'unknown',
                abuseipdb => 'suspicious', greynoise => 'harmless', otx => 'harmless');
    for my $p (@PROVIDERS) {
        my ($kv, $err, $rc) = run_json($env, $p, '8.8.8.8');
        is($rc, 0, "$p: exit 0");
        is($kv->{Status}, 'ok', "$p: status ok");
        is($kv->{Verdict}, $want{$p}, "$p: verdict $want{$p}");
        is($kv->{Age}, '0s (live answer)', "$p: a live answer is 0s old");
        is($err, '', "$p: nothing on stderr");
    }
    my @lines = $mock->requests;
    is(scalar(grep { /auth=ok$/ } @lines), 7, 'the mock saw the right credential from all seven providers');
    ok(scalar(grep { /^ok mdti-login POST / } @lines), 'Defender TI got its token by the client-credentials flow');
    is(scalar(grep { /auth=(bad|missing)/ } @lines), 0, 'no request lacked its credential');
    my ($kv) = run_json($env, 'abuseipdb', '8.8.8.8');
    like($kv->{Score}, qr/^abuse confidence 21% \(2 reports from 2 users\)$/, 'abuseipdb: the score text');
    is($kv->{_evidence}, 2, 'abuseipdb: two reports as evidence');
    like($kv->{Age}, qr/^\w+ \(cached, fresh until \d{4}-\d\d-\d\dT/, 'the re-run is answered from the cache with its age');
    is(sent('abuseipdb'), 1, 'the cached re-run sent nothing');
    my ($out, $err, $rc) = ipe({ env => $env }, 'insight', 'virustotal-ip', '8.8.8.8', '--db', $db, @SLOW);
    like($out, qr/^Age:\s+\w+ \(cached, fresh until /m, 'the table rendering shows the age');
    like($out, qr/^Verdict:\s+malicious$/m, 'the table rendering shows the verdict');
}

# 2. A token from the environment; keys from the environment win over the file.
{
    my $cfg = config(nokeys => 1);
    my $env = env_for($cfg, IPE_MDTI_TOKEN => $KEY{mdti}, IPE_VT_API_KEY => $KEY{virustotal});
    my $abuse_before = sent('abuseipdb');
    my ($kv) = run_json($env, 'mdti', '9.9.9.1');
    is($kv->{Status}, 'ok', 'Defender TI with IPE_MDTI_TOKEN');
    ($kv) = run_json($env, 'virustotal', '9.9.9.1');
    is($kv->{Status}, 'ok', 'VirusTotal with IPE_VT_API_KEY');
    my ($k2, $err, $rc) = run_json($env, 'abuseipdb', '9.9.9.1');
    is($k2->{Status}, 'not_configured', 'no AbuseIPDB key: not_configured');
    is($rc, 1, 'not_configured exits 1');
    is($k2->{_status}, 'skipped', 'not_configured: the run is skipped, not failed');
    is($k2->{_message}, 'AbuseIPDB: not asked: set IPE_ABUSEIPDB_API_KEY ' .
             "(or key in [provider.abuseipdb] of $cfg)", 'the message names the variable, the key and the config file');
    is($err, '', 'a skipped run writes nothing on stderr');
    is(sent('abuseipdb'), $abuse_before, 'nothing was sent without a key');
}

# 2b. Only configured providers are asked (issue 11 item 7): without a key or `enabled = true`
# no provider — GreyNoise and OTX included — receives a request, on the insight or the page,
# and the page is not partial because of them, even with no network at all.
{
    my $cfg = config(nokeys => 1);
    my $before = scalar $mock->requests;
    my %how = (greynoise => "set IPE_GREYNOISE_API_KEY, or add [provider.greynoise] enabled = true to $cfg",
               otx => "set IPE_OTX_API_KEY, or add [provider.otx] enabled = true to $cfg");
    for my $p (qw(greynoise otx)) {
        my ($kv, $err, $rc) = run_json(env_for($cfg), $p, '9.9.9.3');
        is($kv->{Status}, 'not_configured', "$p without a key or enabled = true: not_configured");
        is($kv->{Message}, "not asked: $how{$p}", "$p: the panel says how to enable it");
        is($kv->{_status}, 'skipped', "$p: skipped, not failed");
    }
    my ($out, $err, $rc) = ipe({ env => env_for($cfg) }, 'page', '9.9.9.3', '--db', $db, '--only', 'insights', '-f', 'json', @SLOW);
    my $page = eval { decode_json($out) } || {};
    is(scalar $mock->requests, $before, 'not configured: the mock received no request at all (insights and page)');
    is($page->{status}, 'empty', 'the page is not partial because of providers never enabled');
    is($rc, 0, 'the page exits 0');
    is_deeply([ map { $_->{provider} } @{ $page->{not_asked} || [] } ],
              [ 'Microsoft Defender Threat Intelligence', 'VirusTotal', 'Recorded Future', 'Anomali ThreatStream',
                'AbuseIPDB', 'GreyNoise', 'AlienVault OTX' ], 'the page names the seven providers not asked');
    my ($gn) = grep { $_->{panel} eq 'greynoise-ip' } @{ $page->{not_asked} || [] };
    is($gn->{message}, "not asked: $how{greynoise}", 'and says how to enable each');
    ($out) = ipe({ env => env_for($cfg) }, 'page', '9.9.9.3', '--db', $db, '--only', 'insights', @SLOW);
    like($out, qr/^not asked \(not configured\): Microsoft Defender Threat Intelligence, VirusTotal, Recorded Future, Anomali ThreatStream, AbuseIPDB, GreyNoise, AlienVault OTX — each panel says how to enable it$/m,
         'the text page says which providers were not asked');
    ($out) = ipe({ env => env_for($cfg) }, 'page', '9.9.9.3', '--db', $db, '--only', 'insights', '-f', 'html', @SLOW);
    like($out, qr/not asked \(not configured\): Microsoft Defender Threat Intelligence, VirusTotal, Recorded Future, Anomali ThreatStream, AbuseIPDB, GreyNoise, AlienVault OTX</,
         'and so does the HTML page');

    # no network: every base_url is a closed port; nothing is enabled, so nothing is partial
    my $dir = tmpdir();
    my $text = join '', map { "[provider.$_]\nbase_url = http://127.0.0.1:9/$_\n" } @PROVIDERS;
    spew("$dir/config", $text);
    chmod 0600, "$dir/config";
    ($out, $err, $rc) = ipe({ env => env_for("$dir/config") }, 'page', '9.9.9.3', '--db', $db, '--only', 'insights', '-f', 'json', @SLOW);
    $page = eval { decode_json($out) } || {};
    is($page->{status}, 'empty', 'no network, no provider enabled: not partial');
    is_deeply($page->{failed}, [], 'no network, no provider enabled: no failed panel');

    # enabled = true: GreyNoise is asked without a key
    my $on = config(nokeys => 1, extra => { greynoise => 'enabled = true' });
    $before = sent('greynoise');
    my ($kv) = run_json(env_for($on), 'greynoise', '9.9.9.4');
    is(sent('greynoise'), $before + 1, 'enabled = true: GreyNoise was asked');
    ok((grep { m{^ok greynoise GET /ok/greynoise/v3/community/9\.9\.9\.4 auth=missing$} } $mock->requests),
       'enabled = true: asked without a key');
    # enabled = false: never asked, even with a key
    my $off = config(extra => { virustotal => 'enabled = false' });
    $before = sent('virustotal');
    ($kv) = run_json(env_for($off), 'virustotal', '9.9.9.5');
    is($kv->{Message}, "not asked: turned off (enabled = false in [provider.virustotal] of $off)", 'enabled = false: not asked');
    is(sent('virustotal'), $before, 'enabled = false: nothing sent');
}

# 3. --offline: nothing goes out, the cache still answers.
{
    my $cfg = config();
    my $state = tmpdir();
    my $before = scalar $mock->requests;
    for my $p (@PROVIDERS) {
        my ($kv, $err, $rc) = run_json(env_for($cfg, state => $state), $p, '9.9.9.2', '--offline');
        is($kv->{Status}, 'skipped_offline', "$p --offline without a cached answer: skipped_offline");
    }
    is(scalar $mock->requests, $before, '--offline: the mock received no request at all');
    my ($kv) = run_json(env_for($cfg, state => $state), 'greynoise', '9.9.9.2');
    is($kv->{Status}, 'ok', 'online: answered');
    my $after = scalar $mock->requests;
    ($kv) = run_json(env_for($cfg, state => $state), 'greynoise', '9.9.9.2', '--offline');
    is($kv->{Status}, 'ok', '--offline with a cached answer: the answer');
    like($kv->{Age}, qr/\(cached/, '--offline: the cached answer shows its age');
    is(scalar $mock->requests, $after, '--offline still sent nothing');
}

# 4. Private and internal addresses are never sent.
{
    my $cfg = config(intel => 'internal_ranges = 81.2.69.0/24');
    my $before = scalar $mock->requests;
    for my $case (['10.1.2.3', qr/^10\.1\.2\.3 is private \(RFC 1918\): it is never sent to a third party$/],
                  ['100.64.3.4', qr/is shared \(RFC 6598, carrier-grade NAT\)/],
                  ['fe80::1', qr/is link-local/],
                  ['81.2.69.142', qr/is in the internal range 81\.2\.69\.0\/24 \(\[intel\] internal_ranges\)/]) {
        my ($kv, $err, $rc) = run_json(env_for($cfg), 'virustotal', $case->[0]);
        is($kv->{Status}, 'skipped_private', "$case->[0]: skipped_private");
        like($kv->{Message}, $case->[1], "$case->[0]: the reason");
    }
    is(scalar $mock->requests, $before, 'no private or internal address reached the mock');
}

# 5. Faults: each gives its provider its status; all seven run at once, like a page.
{
    my %modes = (virustotal => 'timeout', abuseipdb => '429', greynoise => 'truncated', otx => 'html',
                 anomali => 'huge', 'recorded-future' => 'reset', mdti => '503');
    my $cfg = config(modes => \%modes, extra => { virustotal => 'timeout = 1' });
    my $t0 = time;
    my @res = parallel(env_for($cfg), map { ['insight', $INSIGHT{$_}, '8.8.4.4', '--db', $db, '-f', 'json', @SLOW] } @PROVIDERS);
    my $wall = time - $t0;
    my %got = map { ($PROVIDERS[$_] => kv($res[$_][0])) } 0 .. $#PROVIDERS;
    is($got{virustotal}{Status}, 'timeout', 'timeout: timeout');
    is($got{virustotal}{Message}, 'VirusTotal did not answer within 1s', 'timeout: the message');
    is($got{abuseipdb}{Status}, 'rate_limited', '429: rate_limited');
    like($got{abuseipdb}{Message}, qr/^AbuseIPDB is rate limiting \(HTTP 429\); retry after 30s: Daily rate limit of 1000/, '429: Retry-After and the vendor text');
    is($got{abuseipdb}{Verdict}, 'unknown', 'a rate-limited answer is never a clean verdict');
    is($got{greynoise}{Status}, 'error', 'truncated JSON: error');
    like($got{greynoise}{Message}, qr/^GreyNoise sent invalid JSON \(\d+ bytes\): /, 'truncated JSON: the message');
    is($got{otx}{Status}, 'error', 'HTML page: error');
    like($got{otx}{Message}, qr/HTML page, not JSON/, 'HTML page: the message');
    is($got{anomali}{Status}, 'error', '50 MB body: error');
    is($got{anomali}{Message}, 'Anomali ThreatStream sent more than 8388608 bytes: answer refused', '50 MB body: refused');
    is($got{'recorded-future'}{Status}, 'error', 'reset: error');
    like($got{'recorded-future'}{Message}, qr/^Recorded Future broke off the connection: /, 'reset: the message');
    is($got{mdti}{Status}, 'error', '5xx: error');
    like($got{mdti}{Message}, qr/failed \(HTTP 503\)/, '5xx: the message');
    for my $i (0 .. $#PROVIDERS) {
        is($res[$i][2], 1, "$PROVIDERS[$i]: a failed provider exits 1");
        like($res[$i][1], qr/^ipe-run: insight '\Q$INSIGHT{$PROVIDERS[$i]}\E': /, "$PROVIDERS[$i]: one line on stderr");
    }
    cmp_ok($wall, '<', $ENV{IPE_VALGRIND} ? 120 : 8, sprintf('seven faulty providers together took %.1fs', $wall));
}
{
    my %modes = (virustotal => '401', abuseipdb => '403', greynoise => 'partial', otx => 'html502',
                 anomali => 'hugechunked', 'recorded-future' => '500', mdti => '404');
    my $cfg = config(modes => \%modes);
    my @res = parallel(env_for($cfg), map { ['insight', $INSIGHT{$_}, '8.8.4.5', '--db', $db, '-f', 'json', @SLOW] } @PROVIDERS);
    my %got = map { ($PROVIDERS[$_] => kv($res[$_][0])) } 0 .. $#PROVIDERS;
    is($got{virustotal}{Status}, 'unauthorized', '401: unauthorized');
    is($got{virustotal}{Message}, 'VirusTotal refused the credentials (HTTP 401): WrongCredentialsError: Wrong API key', '401: the vendor text');
    is($got{abuseipdb}{Status}, 'unauthorized', '403: unauthorized');
    is($got{greynoise}{Status}, 'error', 'short body: error');
    is($got{otx}{Status}, 'error', 'HTML 502: error');
    is($got{otx}{Message}, 'AlienVault OTX failed (HTTP 502)', 'HTML 502: the status');
    is($got{anomali}{Message}, 'Anomali ThreatStream sent more than 8388608 bytes: answer refused', '50 MB without a length: refused');
    is($got{'recorded-future'}{Message}, 'Recorded Future failed (HTTP 500): try later', '500: the message');
    is($got{mdti}{Status}, 'not_found', '404: not_found');
    is($got{mdti}{_status}, 'empty', 'not_found without workspace indicators: the run is empty');
}

# 6. Keys never appear: not in output, errors, -v, --show-query, or the cache.
{
    my $cfg = config(mode => 'echo401');
    my $all = '';
    for my $p (@PROVIDERS) {
        for my $fmt ('table', 'json') {
            my ($out, $err, $rc) = ipe({ env => env_for($cfg) }, 'insight', $INSIGHT{$p}, '8.8.4.6', '--db', $db,
                                        '-f', $fmt, '-v', '--show-query', @SLOW);
            $all .= $out . $err;
        }
    }
    like($all, qr/\[redacted\]/, 'the echoed credentials were redacted');
    for my $secret (values(%KEY), $SECRET, 'mock-access-token') {
        unlike($all, qr/\Q$secret\E/, "no output or error shows $secret");
    }
    my ($out) = ipe({ env => env_for($cfg) }, 'sql', '--db', $db, '-f', 'json', 'SELECT * FROM _ipe_intel_cache');
    like($out, qr/virustotal/, 'the cache holds answers');
    for my $secret (values(%KEY), $SECRET) { unlike($out, qr/\Q$secret\E/, "the cache does not hold $secret") }
}

# 7. Rate limits are shared between concurrent processes: wait in turn, or say rate_limited at the deadline.
SKIP: {
    skip 'timing of concurrent processes is not meaningful under valgrind', 5 if $ENV{IPE_VALGRIND};
    my $cfg = config(extra => { abuseipdb => 'rate = 2/1m', greynoise => 'rate = 1/2s' });
    my $env = env_for($cfg);
    my $before = sent('abuseipdb');
    my @res = parallel($env, map { ['insight', 'abuseipdb-ip', "7.7.7.$_", '--db', $db, '-f', 'json', '--timeout', '8'] } 1 .. 3);
    my @st = sort map { kv($_->[0])->{Status} } @res;
    is_deeply(\@st, ['ok', 'ok', 'rate_limited'], 'three processes, two slots a minute: two answers, one rate_limited');
    is(sent('abuseipdb') - $before, 2, 'only two requests reached the provider');
    my ($limited) = grep { kv($_->[0])->{Status} eq 'rate_limited' } @res;
    like(kv($limited->[0])->{Message}, qr/^AbuseIPDB allows 2 requests per 1m: the next slot is in \w+, after this run's deadline$/,
         'the rate-limited run says when the next slot is');
    my $t0 = time;
    @res = parallel($env, map { ['insight', 'greynoise-ip', "7.7.8.$_", '--db', $db, '-f', 'json'] } 1 .. 2);
    my $wall = time - $t0;
    is_deeply([map { kv($_->[0])->{Status} } @res], ['ok', 'ok'], 'one request per 2s: both wait their turn and answer');
    cmp_ok($wall, '>=', 1.9, sprintf('the second waited for its slot (%.1fs)', $wall));
}

# 8. Retry-After of a 429 holds back the next run; repeated failures open the breaker.
{
    my $state = tmpdir();
    my ($kv) = run_json(env_for(config(modes => { greynoise => '429-300' }), state => $state), 'greynoise', '6.6.6.1');
    is($kv->{Status}, 'rate_limited', '429 with Retry-After: 300');
    my $before = sent('greynoise');
    ($kv) = run_json(env_for(config(), state => $state), 'greynoise', '6.6.6.2');
    is($kv->{Status}, 'rate_limited', 'the next run waits for Retry-After instead of asking');
    like($kv->{Message}, qr/^GreyNoise asked to wait \(Retry-After\): the next request may go in \w+, after this run's deadline$/,
         'and says so');
    is(sent('greynoise'), $before, 'nothing was sent during Retry-After');

    my $cfg = config(modes => { otx => '503' });
    for my $i (1 .. 3) { my ($k) = run_json(env_for($cfg, state => $state), 'otx', "6.6.7.$i"); is($k->{Status}, 'error', "503 #$i") }
    $before = sent('otx');
    ($kv) = run_json(env_for(config(), state => $state), 'otx', '6.6.7.9');
    is($kv->{Status}, 'error', 'after three failures the breaker is open');
    like($kv->{Message}, qr/^AlienVault OTX failed 3 times in a row: not asked again for \w+$/, 'the breaker says for how long');
    is(sent('otx'), $before, 'an open breaker sends nothing');
}

# 9. A config file others can read is refused; nothing is sent.
{
    my $cfg = config();
    chmod 0644, $cfg;
    my $before = scalar $mock->requests;
    my ($kv, $err, $rc) = run_json(env_for($cfg), 'virustotal', '5.5.5.5');
    is($kv->{Status}, 'error', 'a group/world-readable config: error');
    like($kv->{Message}, qr/is readable by group or others \(mode 644\); it may hold API keys: chmod 600 /, 'the fix is named');
    is(scalar $mock->requests, $before, 'nothing was sent');
}

# 10. --refresh asks again despite a fresh cached answer.
{
    my ($help) = ipe('insight', '--help');
    like($help, qr/^  --refresh +ask threat-intel services again/m, '--refresh: documented in insight --help');
    my $env = env_for(config());
    run_json($env, 'otx', '5.5.6.6');
    my $before = sent('otx');
    my ($kv) = run_json($env, 'otx', '5.5.6.6');
    is(sent('otx'), $before, 'without --refresh: the cached answer, nothing sent');
    ($kv) = run_json($env, 'otx', '5.5.6.6', '--refresh');
    is($kv->{Age}, '0s (live answer)', '--refresh: a live answer');
    is(sent('otx'), $before + 1, '--refresh: the provider was asked');
}

# 11. ctx.http: an external script reaches the network; with --offline nothing goes out.
{
    my $dir = tmpdir();
    mkdir "$dir/insights";
    spew("$dir/insights/http-probe.lua", <<'LUA');
return { name = "http-probe", kind = "insight", title = "HTTP probe", summary = "fetch a URL", description = "d",
  categories = { "external" }, sources = {},
  params = { { name = "ip", type = "ip", required = true, help = "the IP" },
             { name = "url", type = "string", required = true, help = "what to fetch" },
             { name = "key", type = "string", default = "", help = "a header value" } },
  run = function(ctx, p)
    local result = require "ipe.result"
    local res, err, kind = ctx.http.get(p.url, { timeout = 2, headers = { key = p.key } })
    return result.kv{ items = { { "status", res and res.status or 0, "number" }, { "error", err }, { "kind", kind },
                                { "bytes", res and #res.body or 0, "number" } } }
  end }
LUA
    my $url = $mock->base('ok', 'greynoise') . '/v3/community/8.8.8.8';
    my %env = (IPE_PATH => $dir, IPE_HOME => repo_root());
    my $before = scalar $mock->requests;
    my ($out, $err, $rc) = ipe({ env => \%env }, 'insight', 'http-probe', '8.8.8.8', '-p', "url=$url", '--db', $db,
                               '--offline', '-f', 'json', @SLOW);
    my $kv = kv($out);
    is($kv->{error}, 'offline: no network', 'ctx.http with --offline: "offline: no network"');
    is($kv->{kind}, 'offline', 'ctx.http with --offline: kind offline');
    is(scalar $mock->requests, $before, 'ctx.http with --offline: the mock received nothing');
    ($out, $err, $rc) = ipe({ env => \%env }, 'insight', 'http-probe', '8.8.8.8', '-p', "url=$url", '-p', "key=$KEY{greynoise}",
                            '--db', $db, '-f', 'json', @SLOW);
    $kv = kv($out);
    is($kv->{status}, 200, 'ctx.http online: HTTP 200 (the header the script set was sent)');
    is($kv->{bytes}, 221, 'ctx.http online: the body');
    is(scalar $mock->requests, $before + 1, 'ctx.http online: one request');
    ($out, $err, $rc) = ipe({ env => \%env }, 'insight', 'http-probe', '8.8.8.8', '-p', 'url=file:///etc/passwd', '--db', $db,
                            '-f', 'json', @SLOW);
    $kv = kv($out);
    is($kv->{error}, "only http and https URLs are allowed: 'file:///etc/passwd'", 'ctx.http refuses file://');
    is($kv->{kind}, 'protocol', 'ctx.http refuses file:// with kind protocol');
}

$mock->stop;
done_testing();
