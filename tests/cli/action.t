#!/usr/bin/perl
# ipe-run action and ipe-run audit end to end: plans that write nothing, executed
# changes and their audit rows, idempotency and versions, the STIX export written
# atomically and compared with the table, IP ranges, the activity log, go hunt,
# a read-only workspace, and every bad input with its exact line and exit code.
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
my $IP = '203.0.113.7';
my $USER = getpwuid($>);

sub run_ok {
    my ($name, $want_rc, @args) = @_;
    my ($out, $err, $rc) = ipe(@args);
    is($rc, $want_rc, "$name: exit code $want_rc") or diag("stderr: $err");
    return ($out, $err);
}

sub sql {
    my ($q) = @_;
    my ($out, $err, $rc) = ipe('sql', $q, '--db', $db, '-f', 'csv');
    die "sql failed: $err" if $rc > 1;
    my @lines = split /\r\n/, $out;
    shift @lines;
    return @lines;
}

sub ti_count { (sql("SELECT count(*) FROM ThreatIntelligenceIndicator"))[0] }
# the response actions' own tables once they hold rows (the migration creates them empty)
sub tables {
    my @names = sql("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '\\_ipe\\_%' ESCAPE '\\' ORDER BY name");
    join ',', grep { $_ eq '_ipe_meta' || (/^_ipe_(audit|ip_ranges)$/ && (sql("SELECT count(*) FROM $_"))[0] > 0) } @names;
}

# a plan changes nothing
{
    my $before = ti_count();
    my ($out) = run_ok('plan', 0, { env => { COLUMNS => 400 } }, 'action', 'add-indicator', $IP, '-p', 'tags=scanner', '--db', $db);
    like($out, qr/^Plan: add-indicator$/m, 'plan: titled as a plan');
    like($out, qr/^Mode: plan only — nothing was changed; add --execute to act$/m, 'plan: says nothing changed');
    like($out, qr/^indicator\.add\s+203\.0\.113\.7\s+would create\s+IndicatorId [0-9A-F]{64}, version 1\s/m, 'plan: what it would do');
    is(ti_count(), $before, 'plan: no indicator written');
    is(tables(), '_ipe_meta', 'plan: not even the audit table');
    my ($o, $err, $rc) = ipe('audit', '--db', $db);
    is($rc, 1, 'audit with nothing executed: exit 1');
    like($o, qr/^no results: no executed actions recorded$/m, 'audit: says so');
}

# execute: the indicator, its audit row; again: unchanged; changed: a new version
my $id;
{
    my $before = ti_count();
    my ($out) = run_ok('execute', 0, { env => { COLUMNS => 400 } }, 'action', 'add-indicator', $IP, '-p', 'tags=scanner',
                       '-p', 'threat_type=C2', '-p', 'action=block', '--execute', '--db', $db);
    like($out, qr/^Done: add-indicator$/m, 'execute: done');
    ($id) = $out =~ /^indicator\.add\s+203\.0\.113\.7\s+create\s+IndicatorId ([0-9A-F]{64}), version 1\s/m;
    ok($id, 'execute: created');
    is(ti_count(), $before + 1, 'execute: one row written');
    is_deeply([sql("SELECT IndicatorId, NetworkIP, Action, ThreatType, Tags, ExpirationDateTime, IndicatorProvider FROM ThreatIntelligenceIndicator WHERE NetworkIP = '$IP'")],
              ["$id,$IP,block,C2,\"[\"\"scanner\"\"]\",2026-12-27T12:00:00.000Z,ipe"], 'execute: the row');
    run_ok('execute again', 0, 'action', 'add-indicator', $IP, '-p', 'tags=scanner', '-p', 'threat_type=C2',
           '-p', 'action=block', '--execute', '--db', $db);
    is(ti_count(), $before + 1, 'the same again: no new row');
    ($out) = run_ok('update', 0, { env => { COLUMNS => 400 } }, 'action', 'add-indicator', $IP, '-p', 'confidence=40',
                    '--execute', '--db', $db, '--now', '2026-11-27T12:30:00Z');
    like($out, qr/^indicator\.add\s+203\.0\.113\.7\s+update\s+IndicatorId $id, version 2\s/m, 'a change: version 2');
    is_deeply([sql("SELECT count(*), count(DISTINCT IndicatorId), max(ConfidenceScore) FROM ThreatIntelligenceIndicator WHERE NetworkIP = '$IP'")],
              ["2,1,80"], 'one indicator, two versions');
}

# the audit trail
{
    my ($out) = run_ok('audit', 0, 'audit', '--db', $db, '-f', 'json');
    my $j = decode_json($out);
    my @rows = @{ $j->{sections}[0]{rows} };
    is(scalar @rows, 3, 'audit: three executions');
    is_deeply([@{ $rows[0] }[0 .. 5]], ['2026-11-27T12:30:00.000Z', $USER, 'add-indicator', 'indicator.add', $IP,
              "updated: IndicatorId $id, version 2"], 'audit: newest first, with who and what');
    is($rows[1][5], "unchanged: IndicatorId $id, version 1", 'audit: the unchanged re-add');
    is($rows[2][5], "created: IndicatorId $id, version 1", 'audit: the creation');
    is(decode_json($rows[0][6])->{confidence}, 40, 'audit: the parameters');
    is_deeply([map { $_->{name} } @{ $j->{sections}[0]{columns} }], [qw(Time User Action Operation Target Result Parameters)],
              'audit: columns');
    ($out) = run_ok('audit csv', 0, 'audit', '--db', $db, '-f', 'csv', '--since', '20m', '--now', '2026-11-27T12:30:00Z');
    is(scalar(() = $out =~ /\r\n/g), 2, 'audit --since: only the last 20 minutes (header and one row)');
    my ($o, $err, $rc) = ipe('audit', '--db', $db, '--action', 'ip-ranges');
    is($rc, 1, 'audit --action with no entries: exit 1');
    ($o, $err, $rc) = ipe('audit', '--db', $db, '--limit', 'x');
    is($err, "ipe-run: audit: --limit must be a whole number from 1 to 1000000, got 'x'\n", 'audit --limit: checked');
}

# STIX export: atomically to a file, parsed back, compared with the table
{
    my $dir = tmpdir();
    my ($out, $err) = run_ok('export', 0, 'action', 'add-indicator', '--export', 'stix', '-o', "$dir/ti.json", '--db', $db);
    like($out, qr/^indicators\.export\s+live indicators\s+export\s+(\d+) indicator\(s\) as a STIX 2\.1 bundle/m, 'export: reported');
    opendir(my $dh, $dir) or die; my @left = grep { !/^\./ } readdir $dh; closedir $dh;
    is_deeply(\@left, ['ti.json'], 'export: only the file, no temporary left');
    my $b = decode_json(slurp("$dir/ti.json"));
    is($b->{type}, 'bundle', 'export: a bundle');
    like($b->{id}, qr/^bundle--[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'export: bundle id');
    my @ind = grep { $_->{type} eq 'indicator' } @{ $b->{objects} };
    my @live = sql("SELECT NetworkIP, IndicatorId, ConfidenceScore, ExpirationDateTime FROM (SELECT *, ROW_NUMBER() OVER "
        . "(PARTITION BY IndicatorId ORDER BY TimeGenerated DESC, rowid DESC) AS v FROM ThreatIntelligenceIndicator) "
        . "WHERE v = 1 AND Active = 1 AND ExpirationDateTime > '2026-11-27T12:00:00.000Z' ORDER BY IndicatorId");
    is(scalar @ind, scalar @live, 'export: one indicator per live indicator of the table');
    my %by = map { $_->{x_ipe_indicator_id} => $_ } @ind;
    for my $row (@live) {
        my ($ip, $iid, $conf, $until) = split /,/, $row;
        my $o = $by{$iid};
        ok($o, "export: $ip is exported") or next;
        for my $f (qw(type spec_version id created modified pattern pattern_type valid_from)) {
            ok(defined $o->{$f}, "export: $ip has $f");
        }
        is($o->{spec_version}, '2.1', "export: $ip spec 2.1");
        like($o->{id}, qr/^indicator--[0-9a-f-]{36}$/, "export: $ip id");
        is($o->{pattern}, '[' . ($ip =~ /:/ ? 'ipv6' : 'ipv4') . "-addr:value = '$ip']", "export: $ip pattern");
        is($o->{confidence}, int($conf + 0.5), "export: $ip confidence");
        is($o->{valid_until}, $until, "export: $ip valid_until");
        ok($o->{valid_until} gt $o->{valid_from}, "export: $ip valid_until after valid_from");
    }
    is($by{$id}{confidence}, 40, 'export: the latest version of the added indicator');
    my ($o2, $err2, $rc2) = ipe('action', 'add-indicator', '--export', 'stix', '--db', $db);
    is($rc2, 0, 'export to stdout');
    is($o2, slurp("$dir/ti.json"), 'export to stdout: the same bundle');
    like($err2, qr/^ipe-run: action 'add-indicator': exported \d+ indicator\(s\) as a STIX 2\.1 bundle$/, 'export to stdout: a note on stderr');
    ($o2, $err2, $rc2) = ipe('action', 'add-indicator', '--export', 'stix', '-o', "$dir/missing/ti.json", '--db', $db);
    is($rc2, 1, 'export to an impossible path: exit 1');
    is($err2, "ipe-run: cannot write $dir/missing/ti.json: No such file or directory\n", 'export: one line');
}

# IP ranges
{
    my ($out) = run_ok('range plan', 0, 'action', 'ip-ranges', '131.107.0.0/16', '-p', 'op=add', '-p', 'name=contoso egress',
                       '-p', 'category=Corporate', '-p', 'tags=egress,nat', '--db', $db);
    like($out, qr/would create/, 'range: planned');
    is_deeply([sql("SELECT count(*) FROM _ipe_ip_ranges")], ['0'], 'range plan: no range written');
    run_ok('range add', 0, 'action', 'ip-ranges', '131.107.0.0/16', '-p', 'op=add', '-p', 'name=contoso egress',
           '-p', 'category=Corporate', '-p', 'tags=egress,nat', '--execute', '--db', $db);
    run_ok('range add again', 0, 'action', 'ip-ranges', '131.107.0.0/16', '-p', 'op=add', '-p', 'name=contoso egress',
           '-p', 'category=Corporate', '-p', 'tags=egress,nat', '--execute', '--db', $db);
    is_deeply([sql("SELECT Name, Cidr, Category, Tags FROM _ipe_ip_ranges")],
              ['contoso egress,131.107.0.0/16,Corporate,"[""egress"",""nat""]"'], 'range: stored once');
    ($out) = run_ok('range list', 0, 'action', 'ip-ranges', '131.107.0.89', '--db', $db, '-f', 'csv');
    like($out, qr/^contoso egress,131\.107\.0\.0\/16,Corporate,/m, 'range list: the range the IP falls in');
    my ($o, $err, $rc) = ipe('action', 'ip-ranges', '8.8.8.8', '--db', $db);
    is($rc, 1, 'range list: an IP in no range: exit 1');
    run_ok('range remove', 0, 'action', 'ip-ranges', '-p', 'op=remove', '-p', 'name=contoso egress', '--execute', '--db', $db);
    is_deeply([sql("SELECT count(*) FROM _ipe_ip_ranges")], ['0'], 'range: removed');
    ($out) = run_ok('audit ranges', 0, 'audit', '--action', 'ip-ranges', '--db', $db, '-f', 'csv');
    is(scalar(() = $out =~ /\r\n/g), 4, 'audit: three range changes');
    like($out, qr/^[^,]+,\Q$USER\E,ip-ranges,range\.remove,contoso egress,removed: 1 network\(s\),/m, 'audit: the removal');
}

# the activity log
{
    my ($out) = run_ok('activity-log', 0, 'action', 'activity-log', $SPRAY, '--db', $db, '-f', 'csv');
    my @rows = split /\r\n/, $out;
    is(shift @rows, 'TimeGenerated,TableName,Actor,Operation,Result', 'activity-log: columns');
    is(scalar @rows, 108, 'activity-log: every row about the spray source (62 sign-ins, 40 logons, 2 anomalies, 1 alert, 2 TI versions, 1 watchlist item)');
    my @times = map { (split /,/)[0] } @rows;
    is_deeply(\@times, [sort @times], 'activity-log: in time order');
    my %tables = map { (split /,/)[1] => 1 } @rows;
    is_deeply([sort keys %tables], [qw(Anomalies SecurityAlert SecurityEvent SigninLogs ThreatIntelligenceIndicator Watchlist)],
              'activity-log: from every table that mentions it');
    ($out) = run_ok('activity-log limit', 0, 'action', 'activity-log', $SPRAY, '-p', 'limit=5', '--since', '1d', '--db', $db, '-f', 'csv');
    is(scalar(() = $out =~ /\r\n/g), 3, 'activity-log --since 1d: the two newest rows (TI update, watchlist)');
}

# go hunt
{
    my $home = tmpdir();
    my $editor = "$home/editor.sh";
    spew($editor, "#!/bin/sh\nsed -i 's/default = true,/default = false,/' \"\$1\"\n");
    chmod 0755, $editor;
    my %env = (IPE_PATH => $home, EDITOR => $editor);
    my ($out) = run_ok('go-hunt plan', 0, { env => { %env, COLUMNS => 250 } }, 'action', 'go-hunt', $C2, '--db', $db);
    like($out, qr/^hunt\.edit\s+89\.160\.20\.128\s+would edit\s+copy hunt 'ip-everywhere' as 'ip-everywhere-89-160-20-128' with ip=89\.160\.20\.128, open \Q$editor\E on it, run the copy\s+\Q$home\E\/hunts\/ip-everywhere-89-160-20-128\.lua$/m,
         'go-hunt: the plan');
    ok(!-e "$home/hunts", 'go-hunt plan: nothing copied');
    ($out) = run_ok('go-hunt --run', 0, { env => { COLUMNS => 250 } }, 'action', 'go-hunt', $C2, '--hunt', 'hosts-contacting-ip',
                    '--run', '--db', $db);
    # (a KQL hunt: its query first, then the compiled SQL with the IP bound under the compiler's name)
    like($out, qr/\A-- hunt hosts-contacting-ip: KQL\n.*^-- hunt hosts-contacting-ip: query 1 \([^)]*=89\.160\.20\.128 /ms,
         'go-hunt --run: the hunt ran at once');
    like($out, qr/^wks-007\s+10\.0\.2\.17\s+2,880\s/m, 'go-hunt --run: its results');
    my ($o, $err, $rc) = ipe({ env => \%env }, 'action', 'go-hunt', $C2, '--execute', '--db', $db, '-f', 'csv');
    is($rc, 0, 'go-hunt --execute: edited and ran');
    is($err, "ipe-run: hunt 'ip-everywhere-89-160-20-128' saved as $home/hunts/ip-everywhere-89-160-20-128.lua\n", 'go-hunt: the copy');
    like(slurp("$home/hunts/ip-everywhere-89-160-20-128.lua"), qr/made by 'ipe-run action go-hunt 89\.160\.20\.128 --hunt ip-everywhere --execute'/,
         'go-hunt: the copy says where it came from');
    like($o, qr/^DeviceNetworkEvents,RemoteIP,equals,4320,/m, 'go-hunt: the copy ran');
    ($o, $err, $rc) = ipe({ env => { %env, EDITOR => 'false' } }, 'action', 'go-hunt', $SPRAY, '--execute', '--db', $db);
    is($rc, 1, 'go-hunt with a failing editor: exit 1');
    like($err, qr/^ipe-run: the editor 'false' exited with status 1; the copy \S+ip-everywhere-216-160-83-56\.lua is kept and was not run$/m,
         'go-hunt: the editor failure');
    ($out) = run_ok('audit go-hunt', 0, 'audit', '--action', 'go-hunt', '--db', $db, '-f', 'json');
    my @rows = @{ decode_json($out)->{sections}[0]{rows} };
    is(scalar @rows, 2, 'audit: both go-hunt executions');
    like($rows[0][5], qr/^the editor 'false' exited with status 1; the copy /, 'audit: the failed edit');
    like($rows[1][5], qr/^copied to \Q$home\E\/hunts\/ip-everywhere-89-160-20-128\.lua; edited; ran: ok$/, 'audit: the edit');
}

# a read-only workspace: nothing half-written
{
    my $before = ti_count();
    my $audit_before = (sql("SELECT count(*) FROM _ipe_audit"))[0];
    chmod 0444, $db or die;
    my ($out, $err, $rc) = ipe('action', 'add-indicator', '198.51.100.9', '--execute', '--db', $db);
    my ($o2, $err2, $rc2) = ipe('action', 'ip-ranges', '10.0.0.0/8', '-p', 'op=add', '-p', 'name=x', '--execute', '--db', $db);
    my ($o3, $err3, $rc3) = ipe('action', 'add-indicator', '198.51.100.9', '--db', $db);
    chmod 0644, $db or die;
    is($rc, 1, 'read-only workspace: exit 1');
    is($err, "ipe-run: action 'add-indicator': the workspace $db is read-only (file mode 0444); nothing was changed\n",
       'read-only workspace: one line');
    is($out, '', 'read-only workspace: nothing on stdout');
    is($rc2, 1, 'read-only workspace, ranges: exit 1');
    like($err2, qr/is read-only \(file mode 0444\); nothing was changed$/, 'read-only workspace, ranges: refused');
    is($rc3, 0, 'read-only workspace: a plan still works');
    is(ti_count(), $before, 'read-only workspace: no indicator');
    is((sql("SELECT count(*) FROM _ipe_audit"))[0], $audit_before, 'read-only workspace: no audit row');
    is_deeply([sql("SELECT count(*) FROM _ipe_ip_ranges WHERE Name = 'x'")], ['0'], 'read-only workspace: no range');
}

# bad input
my @bad = (
    [['action'], 2, "ipe-run: action: which action? usage: ipe-run action <name> [<target>] (see 'ipe-run list actions')\n"],
    [['action', 'add-indicater', $IP, '--db', $db], 3, "ipe-run: no action named 'add-indicater' (did you mean: add-indicator?)\n"],
    [['action', 'add-indicator', '1.2.3.999', '--db', $db], 2,
     "ipe-run: action 'add-indicator': parameter 'ip': '1.2.3.999' is not an IP address\n"],
    [['action', 'add-indicator', '--db', $db], 2,
     "ipe-run: action 'add-indicator': parameter 'ip' is required (the IP address to add; or export only with --export stix)\n"],
    [['action', 'add-indicator', $IP, '-p', 'expires=2026-01-01', '--execute', '--db', $db], 2,
     "ipe-run: action 'add-indicator': parameter 'expires': '2026-01-01' is in the past (now is 2026-11-27T12:00:00.000Z)\n"],
    [['action', 'add-indicator', $IP, '-p', 'expires=someday', '--execute', '--db', $db], 2,
     "ipe-run: action 'add-indicator': parameter 'expires': 'someday' is neither a duration (e.g. 30d) nor a time (ISO 8601)\n"],
    [['action', 'add-indicator', $IP, '-p', 'confidence=high', '--execute', '--db', $db], 2,
     "ipe-run: action 'add-indicator': parameter 'confidence': 'high' is not a whole number\n"],
    [['action', 'add-indicator', $IP, '-p', 'threat_type=Evil', '--db', $db], 2,
     "ipe-run: action 'add-indicator': parameter 'threat_type': 'Evil' is not one of: MaliciousActivity, C2, Botnet, Malware, "
     . "Phishing, Proxy, Darknet, Anonymization, Compromised, Benign, Unknown\n"],
    [['action', 'add-indicator', '--export', 'csv', '--db', $db], 2,
     "ipe-run: action 'add-indicator': parameter 'export': 'csv' is not one of: none, stix\n"],
    [['action', 'add-indicator', $IP, '-p', "ip=$IP", '--db', $db], 2,
     "ipe-run: action: the ip is given twice (as an argument and as -p ip=)\n"],
    [['action', 'add-indicator', '--export', 'stix', '-p', 'export=stix', '--db', $db], 2,
     "ipe-run: action: 'export' is given twice (--export and -p export=)\n"],
    [['action', 'add-indicator', $IP, 'extra', '--db', $db], 2,
     "ipe-run: action: unexpected argument 'extra' (set parameters with -p key=value)\n"],
    [['action', 'ip-ranges', '10.0.0.0/33', '-p', 'op=add', '-p', 'name=x', '--execute', '--db', $db], 2,
     "ipe-run: action 'ip-ranges': parameter 'cidr': '10.0.0.0/33' is not a valid CIDR: prefix length 33 is out of range 0-32\n"],
    [['action', 'ip-ranges', '10.0.0.0/8', '-p', 'op=add', '--execute', '--db', $db], 2,
     "ipe-run: action 'ip-ranges': parameter 'name' is required (the range's name)\n"],
    [['action', 'ip-ranges', '10.0.0.0/8', '-p', 'op=add', '-p', 'name=x', '-p', 'category=Trusted', '--db', $db], 2,
     "ipe-run: action 'ip-ranges': parameter 'category': 'Trusted' is not one of: Corporate, Administrative, Risky, VPN, Cloud provider, Other\n"],
    [['action', 'activity-log', '--db', $db], 2, "ipe-run: action 'activity-log': parameter 'ip' is required (the IP address)\n"],
    [['action', 'go-hunt', $C2, '--hunt', 'ip-everywere', '--db', $db], 3,
     "ipe-run: action 'go-hunt': no hunt named 'ip-everywere' (did you mean: ip-everywhere?)\n"],
    [['action', 'go-hunt', $C2, '--hunt', 'subnet-sweep', '--run', '--db', $db], 2,
     "ipe-run: hunt 'subnet-sweep' has no parameter 'ip' (parameters: cidr, min_hosts, limit)\n"],
    [['action', 'add-indicator', $IP, '--db', '/nonexistent/ws.db'], 3,
     "ipe-run: no workspace at /nonexistent/ws.db; create one with 'ipe-run demo' (a demo workspace) or choose one with --db / IPE_DB\n"],
    [['audit', 'x', '--db', $db], 2, "ipe-run: audit: unexpected argument 'x'\n"],
    [['audit', '--since', 'yesterday', '--db', $db], 2, "ipe-run: --since: 'yesterday' is not a duration (use e.g. 7d, 12h, 30m)\n"],
);
my $ti_before = ti_count();
my $audit_before = (sql("SELECT count(*) FROM _ipe_audit"))[0];
for my $case (@bad) {
    my ($args, $want_rc, $want_err) = @$case;
    my ($out, $err, $rc) = ipe(@$args);
    my $label = join(' ', @$args[0 .. ($#$args > 3 ? 3 : $#$args)]);
    is($rc, $want_rc, "bad input ($label): exit $want_rc");
    is($err, $want_err, "bad input ($label): the exact line");
    is($out, '', "bad input ($label): nothing on stdout");
}
is(ti_count(), $ti_before, 'bad input: no indicator written');
is((sql("SELECT count(*) FROM _ipe_audit"))[0], $audit_before, 'bad input: nothing audited');

done_testing();
