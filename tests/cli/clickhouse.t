#!/usr/bin/perl
# ClickHouse (issue 12): a real 2-shard cluster (tests/lib/ClickHouseCluster.pm) behind
# ipe.clickhouse, ipe-run migrate --db clickhouse://... and ingest; stopped by PID at the end.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IpeTest;
use ClickHouseCluster;
use POSIX ();
use Time::HiRes qw(time sleep);

my $c = ClickHouseCluster->start;
my $root = repo_root();
my $pw = $ClickHouseCluster::PASSWORD;
utf8::encode($pw);

# the Lua tests that need a server: their TAP lines become one subtest each
for my $file (glob "$root/tests/clickhouse/*_test.lua") {
    my ($out, $err, $rc) = ipe({ env => { IPE_TEST_CH_URL => $c->url('default', single => 1),
        IPE_TEST_CH_CLUSTER_URL => $c->url('ipe_lua'), IPE_TEST_CH_PASSWORD => $pw } }, 'test', $file);
    my $name = $file =~ s{.*/}{}r;
    subtest $name => sub {
        my $n = 0;
        for (split /\n/, $out) {
            if (/^(not )?ok \d+ - (.*)$/) { $n++; ok(!$1, $2) }
            elsif (/^#\s*(.*)/) { diag($1) }
        }
        ok($n > 0, "$name ran cases");
        is($rc, 0, "$name exit code");
        diag($err) if $err ne '';
    };
}

# migrate: creates the database and tables on both nodes, idempotently
my $url = $c->url('ws');
{
    my ($out, $err, $rc) = ipe('migrate', '--db', $url);
    my $shown = 'clickhouse://default@127.0.0.1:' . $c->http(0) . '/ws';
    is($out, "workspace $shown migrated from schema version 0 to 3\n", 'migrate creates the workspace');
    is($err, '', 'migrate: nothing on stderr');
    is($rc, 0, 'migrate: exit 0');
    ($out, $err, $rc) = ipe('migrate', '--db', $url);
    is($out, "workspace $shown is current (schema version 3)\n", 'migrate again: current');
    is($rc, 0, 'migrate again: exit 0');
    for my $node (0, 1) {
        my %have = map { $_ => 1 } split /\n/, $c->sql($node, "SELECT name FROM system.tables WHERE database = 'ws'");
        my @missing = grep { !$have{$_} } map { ($_, "${_}_local", "${_}_dist") }
            qw(CommonSecurityLog Syslog SecurityEvent SigninLogs AuditLogs OfficeActivity BehaviorAnalytics Heartbeat
               SecurityAlert SecurityIncident ThreatIntelligenceIndicator Watchlist HuntingBookmark Anomalies
               DeviceNetworkEvents DeviceInfo AzureActivity _ipe_ingest _ipe_audit);
        is("@missing", '', "node $node has every table, its _local and _dist");
    }
    is($c->sql(0, "SELECT engine_full FROM system.tables WHERE database = 'ws' AND name = 'SigninLogs_dist'"),
        "Distributed(ipe, ws, SigninLogs_local, cityHash64(ifNull(IPAddress, \\'\\')))\n", 'sharded by the primary IP');
    like($c->sql(1, "SELECT engine_full FROM system.tables WHERE database = 'ws' AND name = 'SigninLogs_local'"),
        qr/^MergeTree PARTITION BY toYYYYMMDD\(TimeGenerated\) ORDER BY TimeGenerated/, 'partitioned by day');
    # the columns are ipe.schema's (as on a SQLite workspace), with the exact times beside them
    my $dir = tmpdir();
    spew("$dir/s.jsonl", qq({"TimeGenerated":"2026-01-01T00:00:00Z","HostName":"h"}\n));
    is((ipe('ingest', '--db', "$dir/w.db", '--table', 'Syslog', "$dir/s.jsonl"))[2], 0, 'a SQLite workspace to compare with');
    for my $t (qw(Syslog SigninLogs CommonSecurityLog)) {
        my @sqlite = map { (split /\|/)[1] } split /\n/, `sqlite3 '$dir/w.db' 'PRAGMA table_info($t)'`;
        my %tm = map { $_ => 1 } split /\n/, $c->sql(0, "SELECT name FROM system.columns WHERE database = 'ws' "
            . "AND table = '${t}_local' AND type LIKE '%DateTime%'");
        my @want = ((map { ($_, $tm{$_} ? "${_}_ms" : ()) } @sqlite), '_IngestId');
        my @got = split /\n/, $c->sql(0, "SELECT name FROM system.columns WHERE database = 'ws' AND table = '${t}_local'");
        is("@got", "@want", "$t: the SQLite workspace's columns, X_ms beside each time, _IngestId");
    }
}

# a column ipe.schema has and the workspace lacks (an older ipe's) is added by migrate
for my $node (0, 1) {
    $c->sql($node, "ALTER TABLE ws.Syslog_$_ DROP COLUMN ProcessName") for qw(dist local);
}
{
    my ($out, $err, $rc) = ipe('migrate', '--db', $url);
    is($rc, 0, 'migrate with a column missing: exit 0');
    for my $node (0, 1) {
        is($c->sql($node, "SELECT count() FROM system.columns WHERE database = 'ws' AND table IN ('Syslog_local', 'Syslog_dist') "
            . "AND name = 'ProcessName' AND type = 'Nullable(String)'"), "2\n", "node $node: the missing column is back");
    }
}

# a version-2 workspace (before the Sentinel columns of ipe.migrations.columns) is refused until
# migrated; migrate adds the columns on every node, keeps the other settings, records version 3
{
    my $shown = 'clickhouse://default@127.0.0.1:' . $c->http(0) . '/ws';
    my %keep = map { split /\t/ } split /\n/, $c->sql(0, "SELECT key, argMax(value, Version) FROM ws._ipe_meta GROUP BY key");
    my @added = (['AzureActivity', 'Category'], ['OfficeActivity', 'OrganizationName'], ['OfficeActivity', 'Logon_Type'],
                 ['OfficeActivity', 'ExtendedProperties'], ['SecurityEvent', 'SourceComputerId']);
    for my $node (0, 1) {
        for my $tc (@added) { $c->sql($node, "ALTER TABLE ws.$tc->[0]_$_ DROP COLUMN $tc->[1]") for qw(dist local) }
        $c->sql($node, "TRUNCATE TABLE ws._ipe_meta_local");
    }
    $c->sql(0, "INSERT INTO ws._ipe_meta_local (key, value, Version) VALUES ('schema_version', '2', 2), "
        . "('time_type', '$keep{time_type}', 2), ('record_hash_key', '$keep{record_hash_key}', 2)");
    my ($out, $err, $rc) = ipe('kql', '--db', $url, 'AzureActivity | where Category == "Administrative" | count');
    is($err, "ipe-run: workspace $shown has schema version 2, this ipe needs 3; upgrade it with 'ipe-run migrate --db $shown'\n",
        'a version-2 workspace: refused in one line saying how to upgrade it');
    is($rc, 3, '... exit 3');
    ($out, $err, $rc) = ipe('migrate', '--db', $url);
    is($out, "workspace $shown migrated from schema version 2 to 3\n", 'migrate: from 2 to 3');
    is($rc, 0, '... exit 0');
    for my $node (0, 1) {
        is($c->sql($node, "SELECT count() FROM system.columns WHERE database = 'ws' AND type = 'Nullable(String)' AND ("
            . join(' OR ', map { "(table IN ('$_->[0]_local', '$_->[0]_dist') AND name = '$_->[1]')" } @added) . ")"),
            "10\n", "node $node: the five columns on the local and distributed tables");
    }
    is($c->sql(0, "SELECT argMax(value, Version) FROM ws._ipe_meta WHERE key = 'time_type'"), "$keep{time_type}\n",
        'the time type is kept');
    ($out, $err, $rc) = ipe('kql', '--db', $url, '--format', 'csv', 'AzureActivity | where Category == "Administrative" | count');
    is("$rc " . ($out =~ s/\r//gr), "0 Count\n0\n", 'a query on AzureActivity.Category runs');
}

{
    my ($out, $err, $rc) = ipe('migrate', '--db', 'clickhouse://127.0.0.1:' . $c->http(0) . '/nozk?cluster=ipe');
    is($err, 'ipe-run: clickhouse 127.0.0.1:' . $c->http(0) . ": the cluster 'ipe' has no ZooKeeper for ON CLUSTER; "
        . "list the HTTP address of each of its nodes in the URL: ?cluster=ipe&nodes=host:port,host:port\n",
        'a cluster without ZooKeeper or nodes: one line');
    is($rc, 1, '... exit 1');
    ($out, $err, $rc) = ipe({ env => { IPE_CLICKHOUSE_PASSWORD => "not-$pw" } }, 'migrate', '--db', $c->url('ws', user => 'ipe'));
    is($err, 'ipe-run: clickhouse 127.0.0.1:' . $c->http(0) . ": Code 193: Wrong password for user ipe\n",
        'a wrong password: one line, the password not in it');
    is($rc, 1, '... exit 1');
    ($out, $err, $rc) = ipe('migrate', '--db', 'clickhouse://u:hunter2@127.0.0.1/x');
    is($err, "ipe-run: bad ClickHouse URL 'clickhouse://***\@127.0.0.1/x': put the password in IPE_CLICKHOUSE_PASSWORD "
        . "or the config file, not in the URL\n", 'a password in the URL is refused, unprinted');
    is($rc, 2, '... exit 2');
    ($out, $err, $rc) = ipe({ env => { IPE_CLICKHOUSE_PASSWORD => $pw } }, 'migrate', '--db', $c->url('ws', user => 'ipe'));
    like($out, qr/is current \(schema version 3\)/, 'the password from IPE_CLICKHOUSE_PASSWORD authenticates');
    my $cfg = tmpdir();
    spew("$cfg/config", "[workspace]\ndb = " . $c->url('ws', user => 'ipe') . "\nclickhouse_password = $pw\n");
    chmod 0600, "$cfg/config";
    ($out, $err, $rc) = ipe({ env => { IPE_CONFIG => "$cfg/config" } }, 'migrate');
    like($out, qr/is current \(schema version 3\)/, 'the workspace and password from the [workspace] config section');
    is($err, '', '... quietly');
}

# ingest: the same files into SQLite and into the cluster hold the same rows
my $fx = fixtures_dir();
my @files = ("$fx/windows-events/covenant_sharpsc_query_dcerpc_smb_svcctl_2020-08-06012009.json",
    glob("$fx/sentinel/azure-sentinel/*.csv"), "$fx/sentinel/msticpy/syslog_data.csv",
    "$fx/sentinel/msticpy/ThreatIntelligenceIndicator.csv", "$fx/sentinel/msticpy/SigninLogs.jsonl",
    "$fx/sentinel/msticpy/SecurityAlert.jsonl", "$fx/sentinel/msticpy/SecurityEvent_host_logons.jsonl");
my $ref = tmpdir() . '/ref.db';
{
    my ($o1, $e1, $r1) = ipe('ingest', '--db', $ref, @files);
    my ($o2, $e2, $r2) = ipe('ingest', '--db', $url, @files);
    is($r1, 0, 'ingest into SQLite: exit 0');
    is($r2, 0, 'ingest into ClickHouse: exit 0');
    is($o2, $o1, 'the same summary lines on stdout');
    (my $e1x = $e1) =~ s/^ipe-run: ingest: created the workspace .*\n//m;
    is($e2, $e1x, 'the same detection and fallback lines on stderr');
    for my $t (qw(SecurityEvent DeviceNetworkEvents CommonSecurityLog OfficeActivity SigninLogs Syslog
                  ThreatIntelligenceIndicator SecurityAlert)) {
        my ($x, $y) = $c->rows(1, 'ws', $ref, $t);
        my @a = @$x;
        my @b = @$y;
        ok(@a > 0, "$t: rows in SQLite");
        is_deeply(\@b, \@a, "$t: ClickHouse holds the same rows as SQLite");
    }
    my ($o3, $e3, $r3) = ipe('ingest', '--db', $url, "$fx/sentinel/msticpy/SigninLogs.jsonl");
    like($e3, qr/SigninLogs\.jsonl: already ingested \(same content as .*SigninLogs\.jsonl on 2026-11-27T12:00:00\.000Z: 86 rows into SigninLogs\); use --force to ingest it again\n/,
        'a file ingested before is refused (the ingest log is on the cluster)');
    is($r3, 1, '... exit 1');
}

# readers: ipe-run sql on the cluster (ClickHouse SQL), read-only
{
    my ($out, $err, $rc) = ipe('sql', '--db', $url, '-f', 'csv',
        "SELECT count() AS n, uniqExact(IPAddress) AS ips FROM SigninLogs WHERE IPAddress = :ip", '-p', 'ip=109.88.218.99');
    my ($lite) = `sqlite3 '$ref' "SELECT count(*) FROM SigninLogs WHERE IPAddress = '109.88.218.99'"` =~ /(\d+)/;
    is($out, "n,ips\r\n$lite,1\r\n", 'ipe-run sql reads the cluster; the count is SQLite\'s (CSV lines end in CRLF)');
    is($rc, 0, '... exit 0');
    ($out, $err, $rc) = ipe('sql', '--db', $url, "DROP TABLE Syslog");
    like($err, qr/^ipe-run: sql: clickhouse 127\.0\.0\.1:\d+: Code 164: Cannot drop table in readonly mode\n\z/,
        'a write through ipe-run sql: refused by the server (readonly=1), one line');
    is($rc, 1, '... exit 1');
    is($c->sql(0, "EXISTS TABLE ws.Syslog"), "1\n", '... and the table is still there');
}

# the verbs on the cluster: the workspace from --db, IPE_DB or the config file; each script's
# budgets as the server's settings; a server error is one line naming the server and the script
{
    my $dir = IpeTest::xdg_home() . '/ipe/insights';
    system('mkdir', '-p', $dir) == 0 or die;
    spew("$dir/budget-probe.lua", <<'LUA');
return {
  name = "budget-probe", kind = "insight", title = "Budget probe", summary = "the server's settings for this script",
  description = "A test script.", categories = { "offline" }, sources = { "SigninLogs" },
  params = { { name = "ip", type = "ip", required = true, help = "an IP" } },
  run = function(ctx, p)
    local rows = ctx.db:query("SELECT name, value FROM system.settings WHERE name IN ('max_execution_time', "
      .. "'max_memory_usage', 'readonly') ORDER BY name")
    return { kind = "table", title = "settings", columns = { { name = "name", type = "text" },
      { name = "value", type = "text" } }, rows = rows }
  end,
}
LUA
    spew("$dir/bad-column.lua", <<'LUA');
return {
  name = "bad-column", kind = "insight", title = "Bad column", summary = "reads a column no table has",
  description = "A test script.", categories = { "offline" }, sources = { "SigninLogs" },
  params = { { name = "ip", type = "ip", required = true, help = "an IP" } },
  run = function(ctx, p)
    return { kind = "table", title = "x", columns = { { name = "n", type = "text" } },
      rows = ctx.db:query("SELECT NoSuchColumn FROM SigninLogs") }
  end,
}
LUA
    my ($out, $err, $rc) = ipe({ env => { IPE_DB => $url } }, 'insight', 'budget-probe', '1.2.3.4', '--timeout', 7, '-f', 'csv');
    is($out, "name,value\r\nmax_execution_time,7\r\nmax_memory_usage,268435456\r\nreadonly,1\r\n",
       'IPE_DB names the cluster; the insight reads as a reader (readonly=1), its budgets as max_execution_time / max_memory_usage');
    is($rc, 0, '... exit 0');
    my $cfg = tmpdir();
    spew("$cfg/config", "[workspace]\ndb = $url\n");
    chmod 0600, "$cfg/config";
    ($out, $err, $rc) = ipe({ env => { IPE_CONFIG => "$cfg/config" } }, 'insight', 'bad-column', '1.2.3.4');
    like($err, qr/^ipe-run: insight 'bad-column': \S*bad-column\.lua:7: clickhouse 127\.0\.0\.1:${\ $c->http(0)}: Code 47: Unknown identifier: NoSuchColumn \(insight 'bad-column'\)\n\z/,
       'the config file names the cluster; a server error: one line, the script\'s line, the server, the script');
    is($rc, 1, '... exit 1');
    ($out, $err, $rc) = ipe('list', 'insights', '--db', $url);
    like($out, qr/budget-probe/, 'list --db clickhouse://...');
    is($rc, 0, '... exit 0');
    ($out, $err, $rc) = ipe('check', '--db', $url);
    like($out, qr/^FAIL insight bad-column: \S*bad-column\.lua:7: Code 47: Unknown identifier: NoSuchColumn$/m,
       'check --db clickhouse://...: the server analyses each statement');
    like($out, qr/^ok   insight budget-probe$/m, '... and passes the good ones');
    is($rc, 1, '... exit 1 (a script with a problem)');
    unlink "$dir/budget-probe.lua", "$dir/bad-column.lua";
}

# the C JSON-lines path (RowBinary batches) against the Lua path (IPE_INGEST_LUA=1,
# JSONEachRow): the same rows in ClickHouse, column for column, on the cluster
{
    my $dir = tmpdir();
    my $edge = "$dir/CommonSecurityLog_edge.jsonl";
    open my $fh, '>:raw', $edge or die;
    my @act = ('a\"b\\\\c', 'caf\u00e9', "caf\xc3\xa9 \xe2\x82\xac", '\ud83d\ude00', 'x\u0000y', "tab\there", '');
    my @cnt = ('2147483647', '2147483648', '-2147483648', '-2147483649', '"12"', 'null', '1e3');
    for my $i (1 .. 3000) {
        my $ip = $i % 11 == 0 ? '1.2.3.4:8080' : $i % 13 == 0 ? '-' : sprintf('10.1.%d.%d', $i % 256, 1 + $i % 254);
        my $extra = $i % 7 == 0 ? ',"Nested":{"a":[1,2]}' : $i % 17 == 0 ? ',"Type":"Syslog"' : '';
        my $start = $i % 2 ? sprintf(',"StartTime":"2025-01-01T00:00:%02d.%03dZ"', $i % 60, $i % 1000) : '';
        printf $fh qq({"TimeGenerated":"2025-11-24T16:%02d:%02d.%03dZ","SourceIP":"%s","SourcePort":%d,"DeviceAction":"%s","EventCount":%s,"SentBytes":%s%s%s}\n),
            $i % 60, ($i * 7) % 60, $i % 1000, $ip, 1024 + $i, $act[$i % @act], $cnt[$i % @cnt],
            $i % 3 ? 99999999999999 + $i : -$i, $start, $extra;
    }
    close $fh;
    my @in = ($edge, fixtures_dir() . '/sentinel/msticpy/SigninLogs.jsonl');
    my %sum;
    for my $mode ('c', 'lua') {
        my $u = $c->url("path_$mode");
        my ($o, $e, $rc) = ipe({ env => $mode eq 'lua' ? { IPE_INGEST_LUA => 1 } : {} }, 'ingest', '--db', $u, @in);
        is($rc, 0, "ingest through the $mode path: exit 0") or diag($e);
        for my $t ('CommonSecurityLog', 'Syslog', 'SigninLogs') {
            my $cols = $c->sql(0, "SELECT arrayStringConcat(groupArray(concat('ifNull(toString(', name, '), ''<null>'')')), "
                . "', ''|'', ') FROM system.columns WHERE database = 'path_$mode' AND table = '${t}_local' AND name != '_IngestId'");
            chomp $cols;
            $cols =~ s/\\'/'/g;
            $sum{$mode}{$t} = $c->sql(0, "SELECT count(), groupBitXor(cityHash64(concat($cols))) FROM path_$mode.$t");
        }
    }
    like($sum{c}{CommonSecurityLog}, qr/^[1-9]\d*\t/, 'rows went in through the C path');
    is_deeply($sum{c}, $sum{lua}, 'the C path and the Lua path store the same rows (counts and checksums of every column)');
}

# a failed or killed ingest: nothing of it visible, no duplicates when run again
{
    my $dir = tmpdir();
    my $rows = 300_000;
    my $big = "$dir/CommonSecurityLog_big.jsonl";
    open my $fh, '>', $big or die;
    for my $i (1 .. $rows) {
        printf $fh qq({"TimeGenerated":"2026-11-01T%02d:%02d:%02d.%03dZ","SourceIP":"10.0.%d.%d","DestinationIP":"198.51.100.%d","DestinationPort":%d,"DeviceVendor":"Acme"}\n),
            $i % 24, $i % 60, ($i * 7) % 60, $i % 1000, ($i >> 8) % 256, $i % 256, $i % 250, $i % 65536;
    }
    close $fh;
    my $visible = sub { $c->sql(0, "SELECT count() FROM ws.CommonSecurityLog") + 0 };
    my $uncommitted = sub { $c->sql(0, "SELECT count() FROM ws.CommonSecurityLog_dist WHERE _IngestId GLOBAL NOT IN "
        . "(SELECT Id FROM ws._ipe_ingest_dist)") + 0 };
    my $before = $visible->();

    # failed: a bad record after the first batches went in
    (my $bad = $big) =~ s/_big/_bad/;
    system('cp', $big, $bad) == 0 or die;
    open $fh, '>>', $bad or die;
    print $fh qq({"TimeGenerated":"yesterday-ish","SourceIP":"10.9.9.9"}\n);
    close $fh;
    my ($o, $e, $rc) = ipe('ingest', '--db', $url, $bad);
    my ($ol, $el, $rl) = ipe('ingest', '--db', tmpdir() . '/w.db', $bad);
    (my $el2 = $el) =~ s/^ipe-run: ingest: (?:created the workspace|nothing was ingested: the new workspace) .*\n//mg;
    is($e, $el2, 'a bad record: the same error lines as on SQLite');
    like($e, qr/CommonSecurityLog_bad\.jsonl:300001: /, '... naming file:line');
    is($rc, 1, '... exit 1');
    is($visible->(), $before, '... and nothing of the file is visible');
    my $t0 = time;
    sleep 1 while $uncommitted->() > 0 && time - $t0 < 60;
    is($uncommitted->(), 0, '... and its rows are deleted');

    # killed: kill -9 once rows of the file are on the shards, before its commit
    my %env = (%ENV, XDG_DATA_HOME => tmpdir(), XDG_CONFIG_HOME => tmpdir(), IPE_NOW => NOW);
    my $pid = fork() // die;
    if ($pid == 0) {
        %ENV = %env;
        open STDOUT, '>', "$dir/out"; open STDERR, '>', "$dir/err";
        { exec $ENV{IPE_RUN} || repo_root() . '/ipe-run', 'ingest', '--db', $url, $big }
        POSIX::_exit(127);
    }
    $t0 = time;
    select(undef, undef, undef, 0.05) until $uncommitted->() > 0 || time - $t0 > 120;
    ok($uncommitted->() > 0, 'rows of the running ingest are on the shards');
    is($visible->(), $before, '... but not visible while it runs');
    kill 'KILL', $pid;
    waitpid $pid, 0;
    is($? & 127, 9, 'the ingest was killed with SIGKILL');
    is($visible->(), $before, 'after kill -9: nothing of the file is visible');
    is($c->sql(0, "SELECT count() FROM ws._ipe_ingest WHERE Path LIKE '%CommonSecurityLog_big%'"), "0\n",
        '... and the ingest log does not have it');
    ($o, $e, $rc) = ipe('ingest', '--db', $url, $big);
    is($o, "$big: $rows rows into CommonSecurityLog\n", 'run again: the whole file goes in');
    is($rc, 0, '... exit 0');
    is($visible->(), $before + $rows, '... exactly once: no duplicates');
    for my $node (0, 1) {
        is($c->sql($node, "SELECT count() FROM system.mutations WHERE database = 'ws' AND table = 'CommonSecurityLog_local' "
            . "AND command LIKE 'DELETE WHERE _IngestId IN %'"), "2\n",
            "node $node: the failed ingest's rows and the killed one's are being deleted");
    }
    $t0 = time;
    sleep 1 while $uncommitted->() > 0 && time - $t0 < 300;
    is($uncommitted->(), 0, "the killed ingest's rows were deleted after the next ingest");
    is($c->sql(1, "SELECT count(), uniqExact(SourceIP) FROM ws.CommonSecurityLog_local WHERE SourceIP LIKE '10.0.%'") ne
       $c->sql(0, "SELECT count(), uniqExact(SourceIP) FROM ws.CommonSecurityLog_local WHERE SourceIP LIKE '10.0.%'"), 1,
       'the rows are spread over both shards');
    is($c->sql(0, "SELECT count() FROM (SELECT SourceIP FROM ws.CommonSecurityLog_local WHERE SourceIP LIKE '10.0.%' GROUP BY SourceIP) "
        . "WHERE SourceIP GLOBAL IN (SELECT SourceIP FROM remote('127.0.0.1:" . $c->{nodes}[1]{tcp} . "', ws.CommonSecurityLog_local))"), "0\n",
       "one IP's rows sit on one shard");
}

done_testing;
