#!/usr/bin/perl
# ipe-run end to end: every verb and format, golden outputs where stable, and
# every bad input of issue 2 with its exact message and exit code.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IpeTest;
use Test::More;
use JSON::PP;

my $db = demo_db();
my $C2 = '89.160.20.128';

sub run_ok {
    my ($name, $want_rc, @args) = @_;
    my ($out, $err, $rc) = ipe(@args);
    is($rc, $want_rc, "$name: exit code $want_rc") or diag("stderr: $err");
    return ($out, $err);
}

# --help on every verb
for my $verb (qw(insight list help check sql test demo page hunt action audit enrich geo ingest migrate)) {
    my ($out) = run_ok("$verb --help", 0, $verb, '--help');
    like($out, qr/^usage: ipe-run \Q$verb\E/, "$verb --help prints its usage");
}
{
    my ($out, $err, $rc) = ipe();
    is($rc, 2, 'no verb: exit 2');
    like($err, qr/^usage: ipe-run <verb>/, 'no verb: usage on stderr');
    is($out, '', 'no verb: nothing on stdout');
    ($out, $err, $rc) = ipe('frobnicate');
    is($rc, 2, 'unknown verb: exit 2');
    is($err, "ipe-run: unknown verb 'frobnicate' (see 'ipe-run --help')\n", 'unknown verb: one line');
    ($out, $err, $rc) = ipe('list', '--bogus');
    is($err, "ipe-run: list: unknown option --bogus (see 'ipe-run list --help')\n", 'unknown option: one line');
    ($out) = run_ok('--version', 0, '--version');
    like($out, qr/^ipe-run \d+\.\d+\.\d+$/, 'version');
}

# list, help, check
{
    my ($out) = run_ok('list insights', 0, 'list', 'insights', '--width', 200);
    like($out, qr/^insight\s+remote-connections\s+offline,network/m, 'list shows remote-connections');
    like($out, qr/^insight\s+anomalies-count\s+offline,anomaly/m, 'list shows anomalies-count');
    ($out) = run_ok('list --category anomaly', 0, 'list', '--category', 'anomaly', '-f', 'csv');
    like($out, qr/anomalies-count/, 'category filter keeps anomalies-count');
    unlike($out, qr/remote-connections/, 'category filter drops remote-connections');
    my ($o, $err, $rc) = ipe('list', '--category', 'nope');
    is($rc, 2, 'unknown category: exit 2');
    like($err, qr/^ipe-run: list: unknown category 'nope' \(categories: activity, alerts, /, 'unknown category names the vocabulary');
    ($out) = run_ok('help insight', 0, 'help', 'insight', 'remote-connections');
    like($out, qr/^insight remote-connections — IP address remote connections$/m, 'help title');
    like($out, qr/^  limit\s+int\s+at most this many rows \(default 500\)$/m, 'help lists typed parameters');
    like($out, qr/^reads: DeviceNetworkEvents,CommonSecurityLog,SecurityEvent,Syslog,_ipe_ip_activity,_ipe_ip_peers,_ipe_ip_queries$/m, 'help lists tables read');
    ($out) = run_ok('check', 0, 'check');
    like($out, qr/^\d+ script\(s\) checked, 0 with problems$/m, 'check: all built-in scripts pass');
    ($o, $err, $rc) = ipe('check', '/nonexistent/x.lua');
    is($rc, 3, 'check of a missing path: exit 3');
    is($err, "ipe-run: check: /nonexistent/x.lua does not exist\n", 'check of a missing path: one line');
}

# check catches contract problems
{
    my $dir = tmpdir();
    mkdir "$dir/insights";
    spew("$dir/insights/bad-one.lua", <<'LUA');
return { name = "other", kind = "insight", title = "t", summary = "s", description = "d",
  categories = { "network", "made-up" }, sources = { "NoSuchTable" }, catagories = 1,
  params = { { name = "ip", type = "ip", required = true } }, run = function() end }
LUA
    spew("$dir/insights/remote-connections.lua", "return {}\n");
    my ($out, $err, $rc) = ipe({ env => { IPE_PATH => $dir } }, 'check');
    is($rc, 1, 'check with problems: exit 1');
    like($out, qr/^FAIL insight bad-one: .*unknown field 'catagories'/m, 'unknown field');
    like($out, qr/field 'name' is 'other' but the file is named bad-one\.lua/, 'name must equal the stem');
    like($out, qr/unknown category 'made-up'/, 'unknown category');
    like($out, qr/categories must include exactly one of 'offline' or 'external'/, 'offline/external required');
    like($out, qr/unknown source table 'NoSuchTable'/, 'unknown table');
    like($out, qr/parameter 'ip': 'help' is missing/, 'param help required');
    like($out, qr/^FAIL insight remote-connections: duplicate insight name 'remote-connections': also defined in \S+\/insights\/remote-connections\.lua$/m,
         'a duplicate name is an error naming both files');
}

# insight in every format
{
    my ($out) = run_ok('insight table', 0, { env => { COLUMNS => 200 } }, 'insight', 'remote-connections', $C2, '--db', $db);
    like($out, qr/^remote-connections — IP address remote connections$/m, 'table: heading');
    like($out, qr/^wks-007\s+10\.0\.2\.17\s+outbound\s+443\/tcp\s+allow\s+1,440\s/m, 'table: the beaconing host');
    ($out) = run_ok('insight json', 0, 'insight', 'remote-connections', $C2, '--db', $db, '-f', 'json');
    my $j = decode_json($out);
    is($j->{status}, 'ok', 'json: status ok');
    is($j->{params}{ip}, $C2, 'json: params');
    is_deeply([map { $_->{name} } @{ $j->{sections}[0]{columns} }],
              [qw(Host HostIP Direction Service Action Events FirstSeen LastSeen Source)], 'json: ordered columns');
    my %hosts = map { $_->[0] => 1 } @{ $j->{sections}[0]{rows} };
    ok($hosts{'wks-007'} && $hosts{'wks-013'} && $hosts{'wks-021'}, 'json: the three beaconing hosts');
    like($j->{queries}[-1]{sql}, qr/FROM DeviceNetworkEvents WHERE RemoteIP = :ip/, 'json: the query');
    is($j->{queries}[-1]{params}{ip}, $C2, 'json: bound values recorded');
    ok($j->{timing}{ms} > 0, 'json: timing');
    ($out) = run_ok('insight csv', 0, 'insight', 'remote-connections', $C2, '--db', $db, '-f', 'csv');
    like($out, qr/^Host,HostIP,Direction,Service,Action,Events,FirstSeen,LastSeen,Source\r\n/, 'csv: header with CRLF');
    ($out) = run_ok('insight md', 0, 'insight', 'remote-connections', $C2, '--db', $db, '-f', 'md');
    like($out, qr/^\| Host\s+\| HostIP\s+\| Direction/m, 'md: pipe table');
    ($out) = run_ok('insight box', 0, 'insight', 'remote-connections', $C2, '--db', $db, '-f', 'box');
    like($out, qr/^┌─/m, 'box: borders');
    ($out) = run_ok('--show-query', 0, 'insight', 'remote-connections', $C2, '--db', $db, '--show-query');
    like($out, qr/^-- query \d+ \(ip=89\.160\.20\.128 /m, 'show-query: bound values');
    unlike($out, qr/\e\[/, 'no colour when not a terminal');
    my $o = "$db.out.json";
    ($out) = run_ok('-o FILE', 0, 'insight', 'remote-connections', $C2, '--db', $db, '-f', 'json', '-o', $o);
    is($out, '', '-o: nothing on stdout');
    is(decode_json(slurp($o))->{status}, 'ok', '-o: the file holds the result');
}

# colour only on a terminal, never with NO_COLOR (a terminal via script(1): bsdutils, core/tools/deps.sh test)
{
    ok(-x '/usr/bin/script', 'script(1) is installed (make test installs bsdutils)');
    my $bin = $ENV{IPE_RUN} || repo_root() . '/ipe-run';
    my $cmd = "'$bin' insight remote-connections $C2 --db '$db' --now " . NOW;
    local $ENV{TERM} = 'xterm';
    local $ENV{COLUMNS} = 200;
    delete local $ENV{NO_COLOR};
    my $out = `/usr/bin/script -qec "$cmd" /dev/null`;
    like($out, qr/\e\[1mremote-connections/, 'a terminal gets colour');
    local $ENV{NO_COLOR} = 1;
    $out = `/usr/bin/script -qec "$cmd" /dev/null`;
    unlike($out, qr/\e\[/, 'NO_COLOR: no colour on a terminal');
    like($out, qr/wks-007/, 'NO_COLOR: the data is still there');
}

# the anomalies insight: table and chart
{
    my ($out) = run_ok('anomalies-count', 0, 'insight', 'anomalies-count', $C2, '--db', $db, '-f', 'json');
    my $j = decode_json($out);
    is($j->{sections}[0]{columns}[0]{name}, 'Template', 'anomalies: by template');
    ok($j->{sections}[0]{rows}[0][1] >= 1, 'anomalies: counted');
    is($j->{sections}[1]{kind}, 'chart', 'anomalies: a chart');
    is($j->{sections}[1]{chart}, 'time', 'anomalies: a time chart');
    is(scalar @{ $j->{sections}[1]{labels} }, 8, 'anomalies: one bucket per day of the 7-day window');
    my ($sum) = 0;
    $sum += $_ for @{ $j->{sections}[1]{series}[0]{values} };
    my $total = 0;
    $total += $_->[1] for @{ $j->{sections}[0]{rows} };
    is($sum, $total, 'anomalies: the chart adds up to the table');
    ($out) = run_ok('anomalies --since 12h', 0, 'insight', 'anomalies-count', $C2, '--db', $db, '--since', '30d', '-f', 'json');
    ($out) = run_ok('anomalies hourly', 1, 'insight', 'anomalies-count', '192.0.2.200', '--db', $db, '--since', '1d', '-f', 'json');
    is(decode_json($out)->{status}, 'empty', 'an IP without anomalies is empty');
}

# IP spellings
{
    for my $spelling ('89[.]160[.]20[.]128', '::ffff:89.160.20.128', ' 89.160.20.128 ', '89(.)160(.)20(.)128') {
        my ($out) = run_ok("spelling '$spelling'", 0, 'insight', 'remote-connections', $spelling, '--db', $db, '-f', 'json');
        is(decode_json($out)->{params}{ip}, $C2, "'$spelling' is shown normalized");
    }
    my ($out) = run_ok('IPv6 spelling', 1, 'insight', 'remote-connections', '2001:0DB8:0000:0000:0000:0000:0000:0001', '--db', $db, '-f', 'json');
    is(decode_json($out)->{params}{ip}, '2001:db8::1', 'IPv6 is shown compressed and lower-case');
}

# bad input: one line, documented exit code
my $notes = tmpdir() . '/notes.db';
spew($notes, "not a demo workspace\n");
my @bad = (
    [['insight', 'remote-connections', '1.2.3.999', '--db', $db], 2,
     "ipe-run: insight 'remote-connections': parameter 'ip': '1.2.3.999' is not an IP address\n"],
    [['insight', 'remote-connections', 'abc', '--db', $db], 2,
     "ipe-run: insight 'remote-connections': parameter 'ip': 'abc' is not an IP address\n"],
    [['insight', 'remote-connections', '', '--db', $db], 2,
     "ipe-run: insight 'remote-connections': parameter 'ip': empty IP address\n"],
    [['insight', 'remote-connections', '1.2.3.4/33', '--db', $db], 2,
     "ipe-run: insight 'remote-connections': parameter 'ip': '1.2.3.4/33' is a network, not an IP address\n"],
    [['insight', 'remote-conections', '1.2.3.4', '--db', $db], 3,
     "ipe-run: no insight named 'remote-conections' (did you mean: remote-connections?)\n"],
    [['insight', 'remote-connections', '1.2.3.4', '--db', '/nonexistent/ws.db'], 3,
     "ipe-run: no workspace at /nonexistent/ws.db; create one with 'ipe-run demo' (a demo workspace) or choose one with --db / IPE_DB\n"],
    [['insight', 'remote-connections', '1.2.3.4', '-p', 'foo=1', '--db', $db], 2,
     "ipe-run: insight 'remote-connections' has no parameter 'foo' (parameters: ip, limit)\n"],
    [['insight', 'remote-connections', '1.2.3.4', '-p', 'limit=many', '--db', $db], 2,
     "ipe-run: insight 'remote-connections': parameter 'limit': 'many' is not a whole number\n"],
    [['insight', 'remote-connections', '1.2.3.4', '--since', '7x', '--db', $db], 2,
     "ipe-run: --since: '7x' is not a duration (use e.g. 7d, 12h, 30m)\n"],
    [['insight', 'remote-connections', '1.2.3.4', '--from', '2026-13-01', '--db', $db], 2,
     "ipe-run: --from: '2026-13-01' is not a time (use ISO 8601, e.g. 2026-11-27T08:00:00Z)\n"],
    [['insight', 'remote-connections', '1.2.3.4', '--since', '1d', '--from', '2026-11-01', '--db', $db], 2,
     "ipe-run: --since cannot be combined with --from/--to\n"],
    [['insight', 'remote-connections', '1.2.3.4', '-f', 'xml', '--db', $db], 2,
     "ipe-run: insight: unknown format 'xml' (use table, box, json, csv, md or html)\n"],
    [['insight', 'remote-connections'], 2,
     "ipe-run: insight: no IP given; usage: ipe-run insight remote-connections <ip>\n"],
    [['sql', 'DELETE FROM Syslog', '--db', $db], 2,
     "ipe-run: sql: refused: the workspace is read-only here and only reads are allowed\n"],
    [['sql', "ATTACH '/tmp/x.db' AS x", '--db', $db], 2,
     "ipe-run: sql: refused: the workspace is read-only here and only reads are allowed\n"],
    [['sql', 'SELECT nope FROM Syslog', '--db', $db], 2, "ipe-run: sql: no such column: nope\n"],
    [['sql', 'SELECT :x', '--db', $db], 2, "ipe-run: sql: no value for :x (use -p x=VALUE)\n"],
    [['demo', '--events', 'lots', '--db', "$db.new"], 2,
     "ipe-run: demo: --events must be a whole number from 10239 to 100000000, got 'lots'\n"],
    [['demo', '--db', $notes], 2, "ipe-run: demo: $notes is not a demo workspace; refusing to replace it (add --force to replace it anyway, or choose another --db)\n"],
);
for my $case (@bad) {
    my ($args, $want_rc, $want_err) = @$case;
    my ($out, $err, $rc) = ipe(@$args);
    my $label = join(' ', map { length $_ ? $_ : "''" } @$args[0 .. ($#$args > 2 ? 2 : $#$args)]);
    is($rc, $want_rc, "bad input ($label): exit $want_rc");
    is($err, $want_err, "bad input ($label): the exact line");
    is($out, '', "bad input ($label): nothing on stdout");
}

# a corrupt or foreign workspace
{
    my $dir = tmpdir();
    spew("$dir/junk.db", "this is not a database\n" x 100);
    my ($out, $err, $rc) = ipe('insight', 'remote-connections', '1.2.3.4', '--db', "$dir/junk.db");
    is($rc, 3, 'corrupt workspace: exit 3');
    like($err, qr/^ipe-run: \S+junk\.db is not an ipe workspace \(not a SQLite database\); create one with 'ipe-run demo'/, 'corrupt workspace: says how to create one');
    system('sqlite3', "$dir/foreign.db", 'CREATE TABLE x (a)') == 0 or die;
    ($out, $err, $rc) = ipe('insight', 'remote-connections', '1.2.3.4', '--db', "$dir/foreign.db");
    is($rc, 3, 'foreign database: exit 3');
    like($err, qr/^ipe-run: \S+foreign\.db is not an ipe workspace \(no such table: _ipe_meta\)/, 'foreign database: says so');
}

# sql: read-only queries, the workspace unchanged after a refused write
{
    my ($out) = run_ok('sql count', 0, 'sql', 'SELECT count(*) AS n FROM Syslog', '--db', $db, '-f', 'json');
    my $before = decode_json($out)->{sections}[0]{rows}[0][0];
    ok($before > 0, 'sql: Syslog has rows');
    ipe('sql', 'DELETE FROM Syslog', '--db', $db);
    ($out) = run_ok('sql count again', 0, 'sql', 'SELECT count(*) AS n FROM Syslog', '--db', $db, '-f', 'json');
    is(decode_json($out)->{sections}[0]{rows}[0][0], $before, 'sql: a refused write changed nothing');
    ($out) = run_ok('sql with -p', 0, 'sql', 'SELECT :ip AS ip, :from <= :to AS ok', '-p', 'ip=1.2.3.4', '--db', $db, '-f', 'csv');
    is($out, "ip,ok\r\n1.2.3.4,1\r\n", 'sql: bound parameters and the window');
}

# demo: deterministic, atomic
{
    my $dir = tmpdir();
    run_ok('demo a', 0, 'demo', '--db', "$dir/a.db", '--events', 12000, '--seed', 7);
    run_ok('demo b', 0, 'demo', '--db', "$dir/b.db", '--events', 12000, '--seed', 7);
    my $q = "SELECT count(*) || ':' || sum(length(SourceIP)) || ':' || max(TimeGenerated) FROM CommonSecurityLog";
    my ($a) = ipe('sql', $q, '--db', "$dir/a.db", '-f', 'csv');
    my ($b) = ipe('sql', $q, '--db', "$dir/b.db", '-f', 'csv');
    is($a, $b, 'demo: same seed, events and time give the same rows');
    opendir(my $dh, $dir) or die "$dir: $!";
    my @left = grep { /building/ } readdir $dh;
    closedir $dh;
    is(scalar @left, 0, 'demo: no temporary file left behind');
}

# an older workspace is refused until migrated; migrate upgrades it in place
{
    my $dir = tmpdir();
    my $old = "$dir/v1.db";
    spew("$dir/make_v1_test.lua", <<"LUA");
local sqlite = require "ipe.sqlite"
local schema = require "ipe.schema"
local db = assert(sqlite.open("$old", "rwc"))
for _, sql in ipairs(schema.ddl(1)) do db:exec(sql) end
db:exec("CREATE TABLE _ipe_meta (key TEXT PRIMARY KEY, value TEXT)")
db:exec("INSERT INTO _ipe_meta VALUES ('schema_version', '1')")
db:exec("INSERT INTO Syslog (TimeGenerated, Computer, ProcessName, SyslogMessage) VALUES " ..
        "('2026-11-26T10:00:00.000Z', 'srv-lnx01', 'sshd', 'Failed password for root from 198.51.100.9 port 4711 ssh2')")
db:close()
LUA
    my ($o, $e, $rc) = ipe('test', "$dir/make_v1_test.lua");
    is($rc, 0, 'a version-1 workspace is made') or diag($e);
    my ($out, $err);
    ($out, $err, $rc) = ipe('insight', 'remote-connections', '198.51.100.9', '--db', $old);
    is($rc, 3, 'an older workspace: exit 3');
    like($err, qr/^ipe-run: workspace \Q$old\E has schema version 1, this ipe needs \d+; upgrade it with 'ipe-run migrate --db \Q$old\E'\n\z/,
         'an older workspace: says how to upgrade it');
    ($out, $err, $rc) = ipe('migrate', '--db', $old);
    is($rc, 0, 'migrate: exit 0');
    like($out, qr/^workspace \Q$old\E migrated from schema version 1 to \d+$/m, 'migrate: says from and to');
    ($out, $err, $rc) = ipe('insight', 'remote-connections', '198.51.100.9', '--db', $old, '-f', 'csv');
    is($rc, 0, 'after migrate the insight runs');
    like($out, qr/^srv-lnx01,,logon,sshd,logon failure,1,2026-11-26T10:00:00\.000Z,/m, 'and sees the old rows (rollups built)');
    ($out, $err, $rc) = ipe('migrate', '--db', $old);
    like($out, qr/is current \(schema version \d+\)$/m, 'migrate again: already current');
}

# test verb runs a researcher's tests
{
    my ($out) = run_ok('test examples', 0, 'test', repo_root() . '/examples/tests');
    like($out, qr/^ok 1 - groups sign-ins by application within the window$/m, 'test: TAP from the example');
    like($out, qr/^1\.\.\d+$/m, 'test: a plan');
}

done_testing();
