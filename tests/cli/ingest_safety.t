#!/usr/bin/perl
# ipe-run ingest refuses safely (issue 10, items 11-16): duplicates recognized per
# record (trailing newline, CSV vs JSON lines, partial overlap, --force), a refused
# ingest leaves the workspace byte-identical (each reason), --rejects fails first,
# --table that maps nothing, read-only workspaces (file mode 0444, a read-only
# folder: root too) readable by sql/insight/hunt/page and refused by ingest, and the
# time and memory budgets of `ipe-run sql`.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IpeTest;
use Test::More;
use JSON::PP;
use Digest::MD5 qw(md5_hex);

my $dir = tmpdir();
my $FIX = fixtures_dir();
my $CSV = "$FIX/sentinel/azure-sentinel/CommonSecurityLog__ASIM_Cisco_ASA_NetworkSession_IngestedLogs.csv";
my $NOWT = '2026-11-27T12:00:00.000Z';

sub sql_value {
    my ($db, $sql) = @_;
    my ($out, $err, $rc) = ipe('sql', $sql, '--db', $db, '-f', 'json');
    die "sql failed ($rc): $err" if $rc > 1;
    my $rows = decode_json($out)->{sections}[0]{rows};
    return @$rows ? $rows->[0][0] : undef;
}

# the workspace as bytes, and which of its -wal / -shm / -journal files exist
sub state_of {
    my ($db) = @_;
    return join(' ', -e $db ? md5_hex(slurp($db)) : 'absent', map { -e "$db$_" ? $_ : () } qw(-wal -shm -journal));
}

# a CSV line split into fields (RFC 4180 quoting)
sub csv_fields {
    my ($l) = @_;
    my @f = ('');
    my $q = 0;
    for (my $i = 0; $i < length $l; $i++) {
        my $c = substr($l, $i, 1);
        if ($q) {
            if ($c eq '"') {
                if (substr($l, $i + 1, 1) eq '"') { $f[-1] .= '"'; $i++ } else { $q = 0 }
            } else { $f[-1] .= $c }
        } elsif ($c eq '"') { $q = 1 }
        elsif ($c eq ',') { push @f, '' }
        else { $f[-1] .= $c }
    }
    return @f;
}

# the CSV export as JSON lines: keys sorted (another order than the CSV's), empty
# values left out, whole numbers as JSON numbers
sub csv_to_jsonl {
    my ($csv) = @_;
    my $js = JSON::PP->new->canonical;
    my ($head, @lines) = split /\r?\n/, slurp($csv);
    my @h = csv_fields($head);
    my $out = '';
    for my $l (@lines) {
        my @v = csv_fields($l);
        my %r;
        for my $i (0 .. $#h) {
            next if !defined $v[$i] || $v[$i] eq '';
            $r{$h[$i]} = $v[$i] =~ /^[1-9]\d{0,8}\z/ ? $v[$i] + 0 : $v[$i];
        }
        $out .= $js->encode(\%r) . "\n";
    }
    return $out;
}

my ($head, @records) = split /(?<=\n)/, slurp($CSV);

# 11. duplicates are recognized by their records
{
    my $db = "$dir/dup.db";
    my ($out, $err, $rc) = ipe('ingest', $CSV, '--db', $db);
    is($rc, 0, 'duplicates: the export goes in');
    my $first = "ingest #1 ($CSV at $NOWT)";

    my $nl = "$dir/newline.csv";
    spew($nl, slurp($CSV) . "\n");
    my $before = state_of($db);
    ($out, $err, $rc) = ipe('ingest', $nl, '--db', $db);
    is($rc, 1, 'one more trailing newline: exit 1');
    is($err, "ipe-run: ingest: $nl: CSV export (extension .csv) into CommonSecurityLog (its Type column)\n"
        . "ipe-run: ingest: $nl: already ingested: all 9 records were loaded by $first; use --force to ingest them again\n",
        'one more trailing newline: refused, naming the ingest that loaded the records');
    is($out, '', 'one more trailing newline: nothing on stdout');
    is(state_of($db), $before, 'one more trailing newline: the workspace is byte-identical');

    my $jl = "$dir/export.jsonl";
    spew($jl, csv_to_jsonl($CSV));
    ($out, $err, $rc) = ipe('ingest', $jl, '--db', $db);
    is($rc, 1, 'the same records as JSON lines: exit 1');
    is((split /\n/, $err)[-1], "ipe-run: ingest: $jl: already ingested: all 9 records were loaded by $first; "
        . "use --force to ingest them again", 'the same records as JSON lines: refused');
    is(state_of($db), $before, 'the same records as JSON lines: the workspace is byte-identical');
    is(sql_value($db, 'SELECT count(*) FROM CommonSecurityLog'), 9, 'still the 9 rows');

    # partial overlap: the new records go in, the others are named and skipped
    my $part = "$dir/part.csv";
    (my $new = $records[0]) =~ s/2024-06-02T08:23:45/2024-06-09T08:23:45/g;
    spew($part, $head . join('', @records[0 .. 2]) . $new);
    ($out, $err, $rc) = ipe('ingest', $part, '--db', $db);
    is($rc, 0, 'partial overlap: exit 0');
    is($out, "$part: 1 row into CommonSecurityLog, 3 already ingested\n", 'partial overlap: the summary');
    is((split /\n/, $err)[-1], "ipe-run: ingest: $part: 3 of 4 records were already loaded by $first: "
        . "not loaded again (--force loads them)", 'partial overlap: which ingest had them');
    is(sql_value($db, 'SELECT count(*) FROM CommonSecurityLog'), 10, 'partial overlap: one row more');
    is(sql_value($db, "SELECT count(*) FROM CommonSecurityLog WHERE TimeGenerated LIKE '2024-06-09%'"), 1,
        'partial overlap: the new record is the one loaded');

    # the same record twice in a file: loaded twice; once more than before: one copy new
    my $twice = "$dir/twice.csv";
    spew($twice, $head . $new . $new . $records[0]);
    ($out, $err, $rc) = ipe('ingest', $twice, '--db', $db);
    is($rc, 0, 'a record twice, once known: exit 0');
    is($out, "$twice: 1 row into CommonSecurityLog, 2 already ingested\n",
        'a record twice, once known: the second copy is new, the first and the old record are not');
    like($err, qr/: 2 of 3 records were already loaded by \Q$first\E: 1 and ingest #2 \(\Q$part\E at \Q$NOWT\E\): 1: /,
        'a record twice, once known: both earlier ingests named');
    is(sql_value($db, "SELECT count(*) FROM CommonSecurityLog WHERE TimeGenerated LIKE '2024-06-09%'"), 2,
        'a record twice: now two copies');

    ($out, $err, $rc) = ipe('ingest', '--force', $jl, '--db', $db);
    is($rc, 0, '--force: exit 0');
    is($out, "$jl: 9 rows into CommonSecurityLog\n", '--force: loads the duplicates');
    is(sql_value($db, 'SELECT count(*) FROM CommonSecurityLog'), 20, '--force: 9 rows more');
    is(sql_value($db, 'SELECT count(*) FROM _ipe_ingest'), 4, 'the ingest log has the four ingests');
}

# 12. a refused ingest leaves the workspace byte-identical
{
    my $db = "$dir/refuse.db";
    my ($out, $err, $rc) = ipe('ingest', $CSV, '--db', $db);
    is($rc, 0, 'refusals: a workspace');
    my $bad = "$dir/bad.cef";
    spew($bad, "garbage\n");
    my $ab = "$dir/ab.csv";
    spew($ab, "a,b\n1,2\n");
    my @cases = (
        ['the same file', [$CSV], 1, qr/^ipe-run: ingest: \Q$CSV\E: already ingested \(same content as /m],
        ['a malformed record', [$bad], 1, qr/^ipe-run: ingest: \Q$bad\E:1: not a CEF record/m],
        ['--table that maps nothing', ['--table', 'Heartbeat', $ab], 1, qr/maps none of its columns/],
        ['--rejects it cannot write', ['--skip-bad', '--rejects', "$dir/no/such/r.txt", $ab], 2,
         qr/^ipe-run: ingest: cannot write the rejects file: /m],
    );
    for my $c (@cases) {
        my ($name, $args, $want, $re) = @$c;
        my $before = state_of($db);
        ($out, $err, $rc) = ipe('ingest', @$args, '--db', $db);
        is($rc, $want, "refused ($name): exit $want");
        like($err, $re, "refused ($name): the reason");
        is(state_of($db), $before, "refused ($name): the workspace is byte-identical, no -wal/-shm left");
    }

    # a foreign SQLite file: no _ipe_meta, no WAL
    my $foreign = "$dir/foreign.db";
    system('sqlite3', $foreign, 'CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES (\'mine\');') == 0 or die;
    my $before = state_of($foreign);
    ($out, $err, $rc) = ipe('ingest', $CSV, '--db', $foreign);
    is($rc, 3, 'a foreign SQLite file: exit 3');
    is($err, "ipe-run: ingest: $foreign: database is not an ipe workspace: it has tables but no schema version\n",
        'a foreign SQLite file: one line');
    is(state_of($foreign), $before, 'a foreign SQLite file: byte-identical');
    is(`sqlite3 '$foreign' 'PRAGMA journal_mode; SELECT count(*) FROM sqlite_master'`, "delete\n1\n",
        'a foreign SQLite file: still in rollback-journal mode, no table added');

    # a new path: nothing left behind, not even the folders made for it
    my $new = "$dir/fresh/sub/ws.db";
    ($out, $err, $rc) = ipe('ingest', $bad, '--db', $new);
    is($rc, 1, 'a new workspace, the file refused: exit 1');
    is($err, "ipe-run: ingest: created the workspace $new\n"
        . "ipe-run: ingest: $bad: CEF (extension .cef) into CommonSecurityLog\n"
        . "ipe-run: ingest: $bad:1: not a CEF record (no 'CEF:' in the line)\n"
        . "ipe-run: ingest: nothing was ingested: the new workspace $new is removed again\n",
        'a new workspace, the file refused: the lines');
    ok(!-e $new && !-e "$new-wal" && !-e "$new-shm" && !-e "$dir/fresh", 'a new workspace: no file, no folder left');
}

# 13. --rejects is created before anything is loaded
{
    my $db = "$dir/rejects.db";
    my $mixed = "$dir/mixed.cef";
    spew($mixed, "CEF:0|V|P|1|1|n|5|src=203.0.113.9\ngarbage\n");
    my ($out, $err, $rc) = ipe('ingest', '--skip-bad', '--rejects', "$dir/nope/r.txt", $mixed, '--db', $db);
    is($rc, 2, '--rejects in a missing folder: exit 2');
    is($err, "ipe-run: ingest: cannot write the rejects file: $dir/nope/r.txt: No such file or directory\n",
        '--rejects in a missing folder: one line, before anything');
    ok(!-e $db, '--rejects in a missing folder: no workspace created, no row written');
    ($out, $err, $rc) = ipe('ingest', $CSV, '--db', $db);
    my $before = state_of($db);
    ($out, $err, $rc) = ipe('ingest', '--skip-bad', '--rejects', $mixed . '/r.txt', $mixed, '--db', $db);
    is($rc, 2, '--rejects under a file: exit 2');
    is($err, "ipe-run: ingest: cannot write the rejects file: $mixed/r.txt: Not a directory\n",
        '--rejects under a file: one line');
    is(state_of($db), $before, '--rejects under a file: the workspace is byte-identical');
    ($out, $err, $rc) = ipe('ingest', '--skip-bad', '--rejects', "$dir/r.txt", $mixed, '--db', $db);
    is($rc, 0, '--rejects writable: exit 0');
    is(slurp("$dir/r.txt"), "$mixed:2: not a CEF record (no 'CEF:' in the line)\n", '--rejects writable: the list');
}

# 14. --table T that maps none of the file's columns
{
    my $db = "$dir/table.db";
    my ($out, $err, $rc) = ipe('ingest', $CSV, '--db', $db);
    my $ab = "$dir/cols.csv";
    spew($ab, "alpha,beta\n1,2\n");
    my $before = state_of($db);
    ($out, $err, $rc) = ipe('ingest', '--table', 'Heartbeat', $ab, '--db', $db);
    is($rc, 1, '--table maps nothing: exit 1');
    is((split /\n/, $err)[-1], "ipe-run: ingest: $ab: --table Heartbeat maps none of its columns (alpha, beta) to "
        . "the table's (TimeGenerated, Computer, ComputerIP, ComputerPrivateIPs, RemoteIPCountry, RemoteIPLatitude, "
        . "RemoteIPLongitude, OSType, OSName, OSMajorVersion, OSMinorVersion, Category, Version, SCAgentChannel, "
        . "ComputerEnvironment, ResourceId, SubscriptionId, ResourceGroup, VMUUID, IsGatewayInstalled, Type, TenantId, "
        . "SourceSystem, _ResourceId); use --force to load them into _Extra anyway", '--table maps nothing: both lists');
    is(state_of($db), $before, '--table maps nothing: the workspace is byte-identical');
    my $generic = "$dir/generic.csv";
    spew($generic, "TimeGenerated,TenantId,alpha\n2026-11-27T10:00:00Z,t1,1\n");
    ($out, $err, $rc) = ipe('ingest', '--table', 'Heartbeat', $generic, '--db', $db);
    is($rc, 1, '--table maps only the columns every table has: refused too');
    like($err, qr/: --table Heartbeat maps none of its columns \(TimeGenerated, TenantId, alpha\) to the table's/,
        '--table maps only the columns every table has: the line');
    ($out, $err, $rc) = ipe('ingest', '--table', 'Heartbeat', '--force', $ab, '--db', $db);
    is($rc, 0, '--table maps nothing, --force: exit 0');
    is(sql_value($db, 'SELECT _Extra FROM Heartbeat'), '{"alpha":"1","beta":"2"}', '--force: the values are in _Extra');
}

# 15. a read-only workspace (the tests run as root: the mode bits are honoured anyway)
{
    my $src = "$dir/ro-src.db";
    my ($out, $err, $rc) = ipe('ingest', $CSV, '--db', $src);
    my @window = ('--from', '2024-06-01', '--to', '2024-06-10', '--timeout', '60');
    my $check = sub {
        my ($label, $db, $why) = @_;
        my $before = state_of($db);
        my ($o, $e, $r) = ipe('sql', 'SELECT count(*) FROM CommonSecurityLog', '--db', $db, '-f', 'csv');
        is("$r $o", "0 count(*)\r\n9\r\n", "$label: sql reads it");
        ($o, $e, $r) = ipe('insight', 'remote-connections', '52.183.101.11', '--db', $db, @window, '-f', 'json');
        is($r, 0, "$label: insight reads it") or diag($e);
        is(decode_json($o)->{sections}[0]{rows}[0][1], '10.10.20.1', "$label: insight: the host");
        ($o, $e, $r) = ipe('hunt', 'firewall-traffic-for-ip', '--ip', '52.183.101.11', '--db', $db, @window, '-f', 'csv');
        is($r, 0, "$label: hunt reads it") or diag($e);
        ($o, $e, $r) = ipe('page', '52.183.101.11', '--db', $db, '--offline', @window, '-f', 'json');
        is($r, 0, "$label: page reads it") or diag($e);
        ($o, $e, $r) = ipe('ingest', "$dir/export.jsonl", '--db', $db);
        is($r, 1, "$label: ingest: exit 1");
        is($e, "ipe-run: ingest: the workspace $db is read-only ($why); nothing was changed\n", "$label: ingest: one line");
        is(state_of($db), $before, "$label: byte-identical, no -wal/-shm created");
    };
    my $file = "$dir/ro-file.db";
    system('cp', $src, $file) == 0 or die;
    chmod 0444, $file;
    $check->('file mode 0444', $file, 'file mode 0444');
    mkdir "$dir/rodir";
    system('cp', $src, "$dir/rodir/ws.db") == 0 or die;
    chmod 0555, "$dir/rodir";
    $check->('read-only folder', "$dir/rodir/ws.db", 'folder mode 0555');
    my ($o, $e, $r) = ipe('ingest', $CSV, '--db', "$dir/rodir/new.db");
    is("$r $e", "1 ipe-run: ingest: the workspace $dir/rodir/new.db is read-only (folder mode 0555); nothing was changed\n",
        'a new workspace in a read-only folder: refused, nothing created');
    chmod 0755, "$dir/rodir";
}

# 16. ipe-run sql has the scripts' budgets
{
    my $db = "$dir/dup.db";
    my ($out, $err, $rc) = ipe('sql', 'SELECT zeroblob(1000000000)', '--db', $db);
    is($rc, 1, 'sql zeroblob(1e9): exit 1');
    is($err, "ipe-run: sql: the query ran out of memory (budget 256 MB; --memory raises it)\n", 'sql zeroblob(1e9): one line');
    is($out, '', 'sql zeroblob(1e9): nothing on stdout');
    my $cte = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';
    ($out, $err, $rc) = ipe('sql', $cte, '--db', $db);
    is($rc, 1, 'sql endless recursive CTE: exit 1');
    is($err, "ipe-run: sql: the query ran out of time (budget 10s; --timeout raises it)\n",
        'sql endless recursive CTE: one line, after the default 10 s');
    my $hex = 'SELECT length(hex(zeroblob(100000000)))';
    ($out, $err, $rc) = ipe('sql', $hex, '--db', $db, '-f', 'csv');
    is($err, "ipe-run: sql: the query ran out of memory (budget 256 MB; --memory raises it)\n", 'a 200 MB string: over budget');
    ($out, $err, $rc) = ipe('sql', $hex, '--db', $db, '-f', 'csv', '--memory', '1024', '--timeout', '120');  # (time is not what this checks: a loaded machine)
    is("$rc $out", "0 length(hex(zeroblob(100000000)))\r\n200000000\r\n", '--memory 1024 raises it');
    my $long = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 3000000) SELECT count(*) FROM c';
    ($out, $err, $rc) = ipe('sql', $long, '--db', $db, '--timeout', '0.05');
    is("$rc $err", "1 ipe-run: sql: the query ran out of time (budget 0.05s; --timeout raises it)\n", '--timeout 0.05: out of time');
    ($out, $err, $rc) = ipe('sql', $long, '--db', $db, '--timeout', '120', '-f', 'csv');
    is("$rc $out", "0 count(*)\r\n3000000\r\n", '--timeout 120 raises it');
    ($out, $err, $rc) = ipe('sql', 'SELECT 1', '--db', $db, '--memory', 'lots');
    is("$rc $err", "2 ipe-run: --memory: 'lots' is not a whole number of megabytes\n", '--memory lots: usage');
}

done_testing();
