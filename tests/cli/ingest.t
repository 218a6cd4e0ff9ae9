#!/usr/bin/perl
# ipe-run ingest end to end: options and their errors, the real fixtures of
# tests/fixtures into a workspace and the insights that then see them,
# malformed inputs (exact errors, nothing written), duplicates, --skip-bad and
# --rejects, standard input, a kill -9 in the middle of an ingest, and a reader
# working while an ingest runs.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IpeTest;
use BigIngest qw(csl_jsonl ingest_pipe);
use Test::More;
use JSON::PP;
use POSIX ':sys_wait_h';
use POSIX ();

my $dir = tmpdir();
my $FIX = fixtures_dir();

sub run_ok {
    my ($name, $want_rc, @args) = @_;
    my ($out, $err, $rc) = ipe(@args);
    is($rc, $want_rc, "$name: exit code $want_rc") or diag("stdout: $out\nstderr: $err");
    return ($out, $err);
}

sub sql_value {
    my ($db, $sql) = @_;
    my ($out, $err, $rc) = ipe('sql', $sql, '--db', $db, '-f', 'json');
    die "sql failed ($rc): $err" if $rc > 1;
    my $rows = decode_json($out)->{sections}[0]{rows};
    return @$rows ? $rows->[0][0] : undef;
}

# --help and usage errors
{
    my ($out) = run_ok('--help', 0, 'ingest', '--help');
    like($out, qr/^usage: ipe-run ingest \[options\] FILE\.\.\. \| -$/m, '--help: usage line');
    like($out, qr/^  --skip-bad /m, '--help: documents --skip-bad');
    like($out, qr/^exit codes: 0 every file ingested, 1 a file failed/m, '--help: documents the exit codes');
    like($out, qr/Sysmon EventID 3\s+-> DeviceNetworkEvents/, '--help: documents the Sysmon mapping');
}
my $db0 = "$dir/usage.db";
my @usage = (
    [['ingest'], "ipe-run: ingest: no input; give FILE... or - for standard input\n"],
    [['ingest', '--format', 'xml', 'x'], "ipe-run: ingest: unknown format 'xml' (use csv, json, jsonl, cef, syslog, winevent, stix, misp, blocklist, watchlist)\n"],
    [['ingest', '--table', 'Nope', 'x'], "ipe-run: ingest: unknown table 'Nope' (tables: CommonSecurityLog, Syslog, SecurityEvent, SigninLogs, AuditLogs, OfficeActivity, BehaviorAnalytics, Heartbeat, SecurityAlert, SecurityIncident, ThreatIntelligenceIndicator, Watchlist, HuntingBookmark, Anomalies, DeviceNetworkEvents, DeviceInfo, AzureActivity)\n"],
    [['ingest', '--format', 'cef', '--table', 'Syslog', 'x'], "ipe-run: ingest: --format cef writes CommonSecurityLog; --table Syslog does not apply\n"],
    [['ingest', '--format', 'winevent', '--table', 'SecurityEvent', 'x'], "ipe-run: ingest: --format winevent writes SecurityEvent (Security channel) and DeviceNetworkEvents (Sysmon EventID 3); --table SecurityEvent does not apply\n"],
    [['ingest', '--rejects', "$dir/r.txt", 'x'], "ipe-run: ingest: --rejects FILE needs --skip-bad\n"],
    [['ingest', '--format', 'watchlist', 'x'], "ipe-run: ingest: a watchlist needs --search-key COL (the column that holds the key, e.g. an IP)\n"],
    [['ingest', '--search-key', 'IP', '--format', 'csv', 'x'], "ipe-run: ingest: --search-key is for watchlists, not --format csv\n"],
    [['ingest', '--confidence', '200', 'x'], "ipe-run: ingest: --confidence must be a number from 0 to 100, got '200'\n"],
    [['ingest', '--expires', '7x', 'x'], "ipe-run: ingest: --expires must be a duration (30d), a time or never, got '7x'\n"],
    [['ingest', '-', '-'], "ipe-run: ingest: standard input (-) can be read only once\n"],
    [['ingest', '--bogus', 'x'], "ipe-run: ingest: unknown option --bogus (see 'ipe-run ingest --help')\n"],
);
for my $case (@usage) {
    my ($args, $want) = @$case;
    my ($out, $err, $rc) = ipe(@$args, '--db', $db0);
    is($rc, 2, "usage (@$args[1 .. $#$args]): exit 2");
    is($err, $want, "usage (@$args[1 .. $#$args]): the exact line");
    is($out, '', "usage (@$args[1 .. $#$args]): nothing on stdout");
}
{
    my ($out, $err, $rc) = ipe('ingest', '/nonexistent/x.csv', '--db', $db0);
    is($rc, 3, 'a missing file: exit 3');
    is($err, "ipe-run: ingest: /nonexistent/x.csv does not exist\n", 'a missing file: the exact line');
    ($out, $err, $rc) = ipe('ingest', $dir, '--db', $db0);
    is($rc, 3, 'a directory: exit 3');
    is($err, "ipe-run: ingest: $dir is a directory, not a file\n", 'a directory: the exact line');
    ok(!-e $db0, 'no workspace is created for a usage error or a missing file');
}

# the real fixtures
{
    my $db = "$dir/fixtures.db";
    my $csv = "$FIX/sentinel/azure-sentinel/CommonSecurityLog__ASIM_Cisco_ASA_NetworkSession_IngestedLogs.csv";
    my ($out, $err) = run_ok('Cisco ASA CSV', 0, 'ingest', $csv, '--db', $db);
    is($out, "$csv: 9 rows into CommonSecurityLog\n", 'Cisco ASA CSV: the summary on stdout');
    is($err, "ipe-run: ingest: created the workspace $db\n"
        . "ipe-run: ingest: $csv: CSV export (extension .csv) into CommonSecurityLog (its Type column)\n",
        'Cisco ASA CSV: what was detected, on stderr');
    ($out) = run_ok('remote-connections of a public IP of the export', 0, 'insight', 'remote-connections',
        '52.183.101.11', '--db', $db, '--from', '2024-06-01', '--to', '2024-06-10', '-f', 'json');
    my $rows = decode_json($out)->{sections}[0]{rows};
    is_deeply($rows, [['WIN-SERVER01.contoso.com', '10.10.20.1', 'outbound', '443/tcp', 'Allow', 1,
        '2024-06-02T08:23:45.123Z', '2024-06-02T08:23:45.123Z', 'CommonSecurityLog']],
        'remote-connections shows the firewall traffic to 52.183.101.11');
    ($out) = run_ok('remote-connections of 172.217.16.142', 0, 'insight', 'remote-connections', '172.217.16.142',
        '--db', $db, '--from', '2024-06-01', '--to', '2024-06-10', '-f', 'json');
    is(decode_json($out)->{sections}[0]{rows}[0][5], 2, 'the two duplicate rows of the export are both there');

    my $win = "$FIX/windows-events/covenant_sharpsc_query_dcerpc_smb_svcctl_2020-08-06012009.json";
    ($out, $err) = run_ok('OTRF Windows events', 0, 'ingest', $win, '--db', $db);
    is($out, "$win: 142 rows into SecurityEvent (130) and DeviceNetworkEvents (12), 207 skipped\n",
        'Windows events: the summary');
    like($err, qr/^ipe-run: ingest: \Q$win\E: Windows event JSON lines \(content\) into SecurityEvent \(Security channel\) and DeviceNetworkEvents \(Sysmon EventID 3\)$/m,
        'Windows events: what was detected');
    like($err, qr/^ipe-run: ingest: \Q$win\E: 207 records skipped: Sysmon EventID 7 \(94\), Sysmon EventID 10 \(47\), /m,
        'Windows events: the skipped events, by kind');
    ($out) = run_ok('remote-connections of a Sysmon peer', 0, 'insight', 'remote-connections', '172.18.39.6',
        '--db', $db, '--from', '2020-08-06', '--to', '2020-08-07', '-f', 'json');
    my %hosts = map { join('|', map { $_ // '' } @$_[0, 2, 3]) => 1 } @{ decode_json($out)->{sections}[0]{rows} };
    ok($hosts{'WORKSTATION5.theshire.local|outbound|135/tcp'}, 'the Sysmon connection of WORKSTATION5 to 172.18.39.6:135 shows up');
    ok($hosts{'WORKSTATION5.theshire.local|outbound|445/tcp'}, 'and the one to 445');
    ($out) = run_ok('remote-connections of the logon source', 0, 'insight', 'remote-connections', '172.18.39.5',
        '--db', $db, '--from', '2020-08-06', '--to', '2020-08-07', '-f', 'json');
    %hosts = map { join('|', map { $_ // '' } @$_[0, 2, 4]) => 1 } @{ decode_json($out)->{sections}[0]{rows} };
    ok($hosts{'WORKSTATION6.theshire.local|logon|logon success'}, 'the 4624 logon from 172.18.39.5 on WORKSTATION6 shows up');

    # the page's "observed in organization" (reads the per-IP rollup: created here when
    # this build's migrations do not create it yet)
    my ($oo_out, $oo_err, $oo_rc) = ipe('insight', 'observed-in-organization', '172.18.39.6', '--db', $db,
        '--from', '2020-08-06', '--to', '2020-08-07', '-f', 'json');
    if ($oo_rc != 0 && $oo_err =~ /no per-IP activity rollup/) {
        spew("$dir/rollup_test.lua", qq(local db = require("ipe.sqlite").open("$db", "rw")\n)
            . qq(require("ipe.migrations.rollup").up(db)\ndb:close()\n));
        run_ok('the rollup migration', 0, 'test', "$dir/rollup_test.lua");
        ($oo_out, $oo_err, $oo_rc) = ipe('insight', 'observed-in-organization', '172.18.39.6', '--db', $db,
            '--from', '2020-08-06', '--to', '2020-08-07', '-f', 'json');
    }
    is($oo_rc, 0, 'observed-in-organization for a Sysmon peer: exit 0') or diag($oo_err);
    my $oo_rows = eval { decode_json($oo_out)->{sections}[0]{rows} } || [];
    my %devices = map { $_->[0] => $_->[2] } @$oo_rows;
    is($devices{'WORKSTATION5.theshire.local'}, 'DeviceNetworkEvents', 'observed in organization: WORKSTATION5, from its Sysmon connections');
    is($devices{'WORKSTATION6.theshire.local'}, 'DeviceNetworkEvents', 'observed in organization: WORKSTATION6 too');

    my $stix = "$FIX/ti-feeds/stix21/poisonivy.json";
    ($out, $err) = run_ok('STIX bundle', 0, 'ingest', $stix, '--db', $db);
    is($out, "$stix: 65 rows into ThreatIntelligenceIndicator, 2 skipped\n", 'STIX: the summary');
    ($out) = run_ok('ti-match of an IP of a compound pattern', 0, 'insight', 'ti-match', '219.90.112.197',
        '--db', $db, '--since', '36500d', '-f', 'json');
    like($out, qr/poisonivy/, 'ti-match names the STIX bundle as the provider');
    is(sql_value($db, "SELECT count(DISTINCT ExternalIndicatorId) FROM ThreatIntelligenceIndicator WHERE NetworkIP = '219.90.112.197'"),
        3, 'the IP of three compound patterns is in three indicators');

    my $misp = "$FIX/ti-feeds/misp/existing_event.json";
    ($out, $err) = run_ok('MISP event', 0, 'ingest', $misp, '--db', $db);
    is($out, "$misp: 68 rows into ThreatIntelligenceIndicator, 54 skipped\n", 'MISP: the summary');
    is(sql_value($db, "SELECT IndicatorProvider FROM ThreatIntelligenceIndicator WHERE NetworkDestinationIP = '185.216.35.26'"),
        'CIRCL', 'MISP: an ip-dst inside an Object, with its provider');

    # the same content again: refused, with what was ingested before
    ($out, $err) = run_ok('the same file again', 1, 'ingest', $csv, '--db', $db);
    is($out, '', 'refused: nothing on stdout');
    like($err, qr/^ipe-run: ingest: \Q$csv\E: already ingested \(same content as \S+CommonSecurityLog__ASIM_Cisco_ASA_NetworkSession_IngestedLogs\.csv on 2026-11-27T12:00:00\.000Z: 9 rows into CommonSecurityLog\); use --force to ingest it again$/m,
        'refused: the exact reason');
    is(sql_value($db, 'SELECT count(*) FROM CommonSecurityLog'), 9, 'refused: no duplicate rows');
    run_ok('--force', 0, 'ingest', '--force', $csv, '--db', $db);
    is(sql_value($db, 'SELECT count(*) FROM CommonSecurityLog'), 18, '--force: the rows again');
}

# CEF, syslog, blocklists and watchlists from files written here
{
    my $db = "$dir/text.db";
    spew("$dir/fw.cef", "<134>Nov 26 10:00:00 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.2|TRAFFIC|end|3|"
        . "rt=Nov 26 2026 10:00:01 src=10.0.0.5 spt=51515 dst=203.0.113.9 dpt=443 proto=TCP act=deny "
        . "cs1Label=Rule cs1=Block\\=Web suser=contoso\\\\alice\n");
    spew("$dir/auth.log", "Nov 26 10:00:00 srv01 sshd[1234]: Failed password for root from 45.33.32.156 port 22 ssh2\n");
    spew("$dir/drop.txt", "; Spamhaus DROP\n45.33.32.0/24 ; SBL1\n198.51.100.7 # scanner\n");
    spew("$dir/suspicious-ips.csv", "IPAddress,Reason\n45.33.32.156,scanner\n");
    my ($out, $err) = run_ok('CEF, syslog, blocklist', 0, 'ingest', "$dir/fw.cef", "$dir/auth.log", "$dir/drop.txt",
        '--db', $db, '--provider', 'Spamhaus', '--confidence', '90');
    is($out, "$dir/fw.cef: 1 row into CommonSecurityLog\n$dir/auth.log: 1 row into Syslog\n"
        . "$dir/drop.txt: 2 rows into ThreatIntelligenceIndicator\n", 'three formats, three summaries');
    like($err, qr/^ipe-run: ingest: \Q$dir\E\/auth\.log: syslog \(content\) into Syslog$/m, 'syslog detected by content');
    my ($j) = run_ok('the CEF row', 0, 'sql', 'SELECT TimeGenerated, SourceIP, DestinationPort, DeviceAction, '
        . 'SimplifiedDeviceAction, DeviceCustomString1, SourceUserName, Computer FROM CommonSecurityLog', '--db', $db, '-f', 'json');
    is_deeply(decode_json($j)->{sections}[0]{rows}, [['2026-11-26T10:00:01.000Z', '10.0.0.5', 443, 'deny', 'Deny',
        'Block=Web', 'contoso\\alice', 'fw01']], 'the CEF row, unescaped and mapped');
    ($j) = run_ok('the blocklist rows', 0, 'sql', 'SELECT NetworkIP, NetworkCidrBlock, IndicatorProvider, ConfidenceScore, '
        . 'ExpirationDateTime, Description FROM ThreatIntelligenceIndicator ORDER BY rowid', '--db', $db, '-f', 'json');
    is_deeply(decode_json($j)->{sections}[0]{rows}, [[undef, '45.33.32.0/24', 'Spamhaus', 90, '2026-12-27T12:00:00.000Z', 'SBL1'],
        ['198.51.100.7', undef, 'Spamhaus', 90, '2026-12-27T12:00:00.000Z', 'scanner']], 'the blocklist rows');
    ($out) = run_ok('remote-connections from sshd syslog', 0, 'insight', 'remote-connections', '45.33.32.156',
        '--db', $db, '--from', '2026-11-26', '--to', '2026-11-27', '-f', 'json');
    is(decode_json($out)->{sections}[0]{rows}[0][0], 'srv01', 'the sshd failure names srv01');
    ($out, $err) = run_ok('watchlist', 0, 'ingest', '--search-key', 'ipaddress', "$dir/suspicious-ips.csv", '--db', $db);
    is($out, "$dir/suspicious-ips.csv: 2 rows into Watchlist\n", 'watchlist: header row and one item');
    is(sql_value($db, "SELECT WatchlistItem FROM Watchlist WHERE SearchKey = '45.33.32.156'"),
        '{"IPAddress":"45.33.32.156","Reason":"scanner"}', 'watchlist: the item');
    spew("$dir/suspicious-ips.csv", "IPAddress,Reason\n198.51.100.7,new\n");
    run_ok('watchlist updated', 0, 'ingest', '--search-key', 'IPAddress', "$dir/suspicious-ips.csv", '--db', $db);
    is(sql_value($db, "SELECT _DTItemStatus FROM Watchlist WHERE SearchKey = '45.33.32.156' ORDER BY rowid DESC LIMIT 1"),
        'Delete', 'watchlist: an item gone from the new file is deleted');
    my ($o2, $e2, $rc2) = ipe('ingest', '--search-key', 'Nope', "$dir/suspicious-ips.csv", '--db', $db, '--force');
    is($rc2, 1, 'watchlist without that column: exit 1');
    is($e2, "ipe-run: ingest: $dir/suspicious-ips.csv: watchlist CSV (--search-key) into Watchlist\n"
        . "ipe-run: ingest: $dir/suspicious-ips.csv: --search-key 'Nope' is not a column of the file (columns: IPAddress, Reason)\n",
        'watchlist without that column: the exact lines');
}

# malformed inputs: the exact error, exit 1, nothing written; other files still go in
{
    my $db = "$dir/bad.db";
    spew("$dir/seed.jsonl", qq({"TimeGenerated":"2024-01-01T00:00:00Z","HostName":"seed","Type":"Syslog"}\n));
    run_ok('seed', 0, 'ingest', "$dir/seed.jsonl", '--db', $db);
    my $big = '{"TimeGenerated":"2024-01-01T00:00:00Z","SyslogMessage":"' . ('A' x (10 * 1048576)) . '","Type":"Syslog"}' . "\n";
    my @cases = (
        ['truncated.json', qq([\n {"TimeGenerated":"2024-01-01T00:00:00Z","Type":"Syslog"},\n {"Time),
         'truncated.json: line 3: invalid JSON: the document ends before it is complete'],
        ['count.csv', "TimeGenerated,HostName,Type\n2024-01-01T00:00:00Z,a,Syslog\n2024-01-01T00:00:00Z,b\n",
         'count.csv:3: 2 fields, but the header has 3'],
        ['garbage.bin', "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00>\x00\x01",
         'garbage.bin: the file is binary (it holds NUL bytes), not text; ipe ingests text logs and feeds'],
        ['long.jsonl', $big, 'long.jsonl:1: the line is longer than 1048576 bytes (1 MiB, the record limit)'],
        ['latin1.jsonl', qq({"TimeGenerated":"2024-01-01T00:00:00Z","SyslogMessage":"caf\xe9","Type":"Syslog"}\n),
         'latin1.jsonl:1: invalid UTF-8 (byte 0xe9 at column 61); convert the file to UTF-8'],
        ['time.jsonl', qq({"TimeGenerated":"2024-02-30T10:00:00Z","Type":"Syslog"}\n),
         "time.jsonl:1: TimeGenerated: '2024-02-30T10:00:00Z' is not a valid time"],
        ['empty.jsonl', '', 'empty.jsonl: the file is empty: nothing to ingest'],
    );
    for my $c (@cases) {
        my ($name, $content, $want) = @$c;
        spew("$dir/$name", $content);
        my ($out, $err, $rc) = ipe('ingest', "$dir/$name", '--db', $db);
        is($rc, 1, "malformed $name: exit 1");
        is($err, "ipe-run: ingest: $dir/$want\n", "malformed $name: the exact error") if $name =~ /garbage|empty/;
        like($err, qr/^ipe-run: ingest: \Q$dir\/$want\E$/m, "malformed $name: the exact error") unless $name =~ /garbage|empty/;
        is($out, '', "malformed $name: nothing on stdout");
        is(sql_value($db, 'SELECT count(*) FROM Syslog'), 1, "malformed $name: nothing written");
    }
    spew("$dir/good.jsonl", qq({"TimeGenerated":"2024-01-02T00:00:00Z","HostName":"good","Type":"Syslog"}\n));
    my ($out, $err, $rc) = ipe('ingest', "$dir/time.jsonl", "$dir/good.jsonl", '--db', $db);
    is($rc, 1, 'a bad file and a good one: exit 1');
    is($out, "$dir/good.jsonl: 1 row into Syslog\n", 'the good one is still ingested');
    is(sql_value($db, 'SELECT count(*) FROM Syslog'), 2, 'one more row');
}

# --skip-bad and --rejects
{
    my $db = "$dir/skip.db";
    my @lines;
    for my $i (1 .. 12) {
        push @lines, sprintf('{"TimeGenerated":"2024-01-01T00:00:%02dZ","HostName":"h%d","Type":"Syslog"}', $i, $i);
        push @lines, '{"TimeGenerated":"not a time","Type":"Syslog"}';
    }
    spew("$dir/mixed.jsonl", join("\n", @lines) . "\n");
    my ($out, $err, $rc) = ipe('ingest', '--skip-bad', '--rejects', "$dir/rejects.txt", "$dir/mixed.jsonl", '--db', $db);
    is($rc, 0, '--skip-bad: exit 0');
    is($out, "$dir/mixed.jsonl: 12 rows into Syslog, 12 rejected\n", '--skip-bad: the summary counts the rejects');
    my @shown = $err =~ /^  \Q$dir\E\/mixed\.jsonl:\d+: TimeGenerated: 'not a time' is not a valid time$/mg;
    is(scalar @shown, 10, '--skip-bad: the first ten reasons on stderr');
    like($err, qr/^ipe-run: ingest: \Q$dir\E\/mixed\.jsonl: 12 records rejected \(the first ten below\); all in \Q$dir\E\/rejects\.txt$/m,
        '--skip-bad: the count on stderr');
    my @all = split /\n/, slurp("$dir/rejects.txt");
    is(scalar @all, 12, '--rejects: every rejected record');
    is($all[0], "$dir/mixed.jsonl:2: TimeGenerated: 'not a time' is not a valid time", '--rejects: file:line: reason');
    is($all[11], "$dir/mixed.jsonl:24: TimeGenerated: 'not a time' is not a valid time", '--rejects: the last one');
    is(sql_value($db, 'SELECT count(*) FROM Syslog'), 12, '--skip-bad: the good rows are in');
}

# standard input
{
    my $db = "$dir/stdin.db";
    my ($out, $err, $rc) = ipe({ stdin => "1.2.3.4\n5.6.7.8 # c2\n" }, 'ingest', '-', '--provider', 'pasted', '--db', $db);
    is($rc, 0, 'stdin: exit 0');
    is($out, "<stdin>: 2 rows into ThreatIntelligenceIndicator\n", 'stdin: the summary');
    like($err, qr/^ipe-run: ingest: <stdin>: blocklist \(content\) into ThreatIntelligenceIndicator$/m, 'stdin: detected');
    ($out, $err, $rc) = ipe({ stdin => "1.2.3.4\n5.6.7.8 # c2\n" }, 'ingest', '-', '--db', $db);
    is($rc, 1, 'stdin: the same content again is refused');
    like($err, qr/^ipe-run: ingest: <stdin>: already ingested \(same content as <stdin> on /m, 'stdin: refused, named');
}

# kill -9 mid-ingest leaves the workspace as it was; readers keep working. Deterministic: the
# ingest reads a pipe the test holds open (so it is mid-file for sure when killed), and a file
# size limit (prlimit --fsize) kills it by SIGXFSZ exactly when its writes outgrow the limit.
# The 400,000-row version is tests/slow/ingest_big.t (make test-slow).
{
    my $db = "$dir/big.db";
    spew("$dir/small.jsonl", qq({"TimeGenerated":"2024-01-01T00:00:00Z","SourceIP":"10.0.0.1","Type":"CommonSecurityLog"}\n));
    run_ok('a workspace with one row', 0, 'ingest', "$dir/small.jsonl", '--db', $db);
    my $rows = 10000;
    my ($text, $probe, $probe_n) = csl_jsonl($rows);
    spew("$dir/big.jsonl", $text);
    my $ipe = $ENV{IPE_RUN} || repo_root() . '/ipe-run';
    my $unchanged = sub {
        my ($name) = @_;
        is(sql_value($db, 'SELECT count(*) FROM CommonSecurityLog'), 1, "$name: the rows are as before");
        is(sql_value($db, 'SELECT count(*) FROM _ipe_ingest'), 1, "$name: nothing logged");
    };
    # an ingest of standard input, fed the first half of the rows -> (pid, the pipe)
    my $piped = sub { ingest_pipe($db, substr($text, 0, length($text) / 2), $dir) };

    my ($pid, $w) = $piped->();
    is(waitpid($pid, WNOHANG), 0, 'mid-ingest: it waits for the rest of its input');
    kill 'KILL', $pid;
    waitpid $pid, 0;
    close $w;
    $unchanged->('kill -9 mid-ingest');

    my @cmd = ('prlimit', '--fsize=' . 1048576, $ipe, 'ingest', "$dir/big.jsonl", '--db', $db);
    my $pid_x = fork() // die "fork: $!";
    if ($pid_x == 0) { $SIG{XFSZ} = 'DEFAULT'; open STDERR, '>', '/dev/null'; exec { $cmd[0] } @cmd or POSIX::_exit(127) }
    waitpid $pid_x, 0;
    is($? & 127, POSIX::SIGXFSZ(), 'a write past the file size limit: killed by SIGXFSZ');
    cmp_ok(-s "$db-wal" // 0, '>', 524288, 'the ingest had written over 512 KiB into the write-ahead log');
    $unchanged->('killed while writing the WAL');
    my ($ic) = `sqlite3 '$db' 'PRAGMA integrity_check'`;
    is($ic, "ok\n", 'after the kills the workspace passes integrity_check');

    # a reader while an ingest holds the write transaction (mid-input), then the ingest finishes
    ($pid, $w) = $piped->();
    my ($out, $err, $rc) = ipe('sql', 'SELECT count(*) AS n FROM CommonSecurityLog', '--db', $db, '-f', 'csv');
    is($rc, 0, 'a reader during the ingest: exit 0');
    is($out, "n\r\n1\r\n", 'a reader during the ingest sees the workspace as it was');
    is(waitpid($pid, WNOHANG), 0, 'the ingest was running all along');
    print {$w} substr($text, length($text) / 2);
    close $w;
    waitpid $pid, 0;
    is($? >> 8, 0, 'the ingest then finishes: exit 0');
    is(slurp("$dir/pipe.out"), "<stdin>: $rows rows into CommonSecurityLog\n", 'the ingest: its summary');
    is(sql_value($db, 'SELECT count(*) FROM CommonSecurityLog'), $rows + 1, 'after it: every row');
    is(sql_value($db, "SELECT count(*) FROM CommonSecurityLog WHERE SourceIP = '$probe'"), $probe_n, 'the new rows are found by their IP');
    like(`sqlite3 '$db' "EXPLAIN QUERY PLAN SELECT count(*) FROM CommonSecurityLog WHERE SourceIP = '$probe'"`,
        qr/USING COVERING INDEX ix_CommonSecurityLog_SourceIP/, 'through the rebuilt index');
    ($ic) = `sqlite3 '$db' 'PRAGMA integrity_check'`;
    is($ic, "ok\n", 'the workspace passes integrity_check');

    # the progress bar: on a terminal only (script(1), bsdutils, gives the ingest one)
    ok(-x '/usr/bin/script', 'script(1) is installed (make test installs bsdutils)');
    my $tty_db = "$dir/tty.db";
    my $cmd = "IPE_NOW=" . NOW . " '$ipe' ingest '$dir/big.jsonl' --db '$tty_db'";
    my $typed = `/usr/bin/script -qec "$cmd" /dev/null`;
    like($typed, qr/\r  \S*big\.jsonl \[#*\.*\]\s+\d+% \d+ rows \d+ rows\/s/, 'on a terminal: a progress bar with rows/s');
    like($typed, qr/\r\e\[K/, 'on a terminal: the bar is cleared at the end');
    is(sql_value($tty_db, 'SELECT count(*) FROM CommonSecurityLog'), $rows, 'on a terminal: every row');
}

done_testing();
