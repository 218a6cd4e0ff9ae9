#!/usr/bin/perl
# ipe-run kql end to end: a query as an argument, from -f FILE and from standard input,
# --explain (the SQL with its bound values, nothing run), formats, the window, and errors
# as one line with line and column, the query's line and a caret under the token, exit 2.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IpeTest;
use Test::More;
use JSON::PP;

my $db = demo_db();
my $dir = IpeTest::tmpdir();

# the reference: the same count by raw SQL through ipe-run sql
my ($ref) = ipe('sql', '--db', $db, '-f', 'csv', '--since', '30d',
  "SELECT AppDisplayName, count(*) AS n FROM SigninLogs WHERE TimeGenerated >= :from AND TimeGenerated <= :to GROUP BY 1 ORDER BY 2 DESC, 1");
my @want = grep { length } split /\r?\n/, $ref;
shift @want;

subtest 'a query as an argument: rows equal to the raw SQL' => sub {
  my ($out, $err, $rc) = ipe('kql', '--db', $db, '--format', 'csv', '--since', '30d',
    'SigninLogs | summarize n = count() by AppDisplayName | order by n desc, AppDisplayName asc');
  is($rc, 0, 'exit 0') or diag($err);
  my @got = grep { length } split /\r?\n/, $out;
  is(shift @got, 'AppDisplayName,n', 'the header');
  is_deeply(\@got, \@want, 'the rows');
  ok(@got > 1, 'more than one group');
};

subtest '-f FILE and - for standard input give the same result' => sub {
  my $q = "SigninLogs\n| summarize n = count() by AppDisplayName\n| order by n desc, AppDisplayName asc\n";
  IpeTest::spew("$dir/q.kql", $q);
  my ($a, $ea, $ra) = ipe('kql', '--db', $db, '--format', 'csv', '--since', '30d', '-f', "$dir/q.kql");
  my ($b, $eb, $rb) = ipe({ stdin => $q }, 'kql', '--db', $db, '--format', 'csv', '--since', '30d', '-');
  my ($c, $ec, $rc) = ipe({ stdin => $q }, 'kql', '--db', $db, '--format', 'csv', '--since', '30d', '-f', '-');
  is_deeply([$ra, $rb, $rc], [0, 0, 0], 'exit 0') or diag("$ea$eb$ec");
  is($a, $b, 'file and stdin agree');
  is($a, $c, '-f - reads stdin');
  my @got = grep { length } split /\r?\n/, $a;
  shift @got;
  is_deeply(\@got, \@want, 'the rows');
};

subtest '--explain prints the SQL and the bound values, runs nothing' => sub {
  my ($out, $err, $rc) = ipe('kql', '--db', "$dir/none.db", '--now', '2026-11-27T00:00:00Z', '--explain',
    'SigninLogs | where IPAddress == "1.2.3.4" | summarize count() by AppDisplayName');
  is($rc, 0, 'exit 0 without a workspace') or diag($err);
  like($out, qr/^WITH "_k1" AS NOT MATERIALIZED \(SELECT "TimeGenerated", /, 'the SQL');
  like($out, qr/WHERE \("IPAddress" = :k1\)/, 'the value is a parameter');
  unlike($out =~ s/^--.*$//mgr, qr/1\.2\.3\.4/, 'the SQL text holds no value');
  like($out, qr/^-- :from = '2026-11-20T00:00:00\.000Z'\n-- :to = '2026-11-27T00:00:00\.000Z'\n-- :k1 = '1\.2\.3\.4'\n\z/m, 'the bound values');
  ok(!-e "$dir/none.db", 'no workspace was created');
  ($out) = ipe('kql', '--now', '2026-11-27T00:00:00Z', '--explain', 'SigninLogs | where TimeGenerated > ago(1h) | count');
  unlike($out, qr/:from/, 'a query with its own TimeGenerated filter has no window');
  like($out, qr/-- :k1 = '2026-11-26T23:00:00\.000Z'/, 'ago() is the current time less the span');
};

subtest 'a batch: statements separated by ; print one table each, in order, with the lets before them' => sub {
  my $q = 'let apps = SigninLogs | summarize n = count() by AppDisplayName; apps | order by n desc, AppDisplayName asc | as Apps; '
    . 'let m = 1; apps | where n >= m | count';
  my ($out, $err, $rc) = ipe('kql', '--db', $db, '--format', 'csv', '--since', '30d', $q);
  is($rc, 0, 'exit 0') or diag($err);
  my @got = grep { length } split /\r?\n/, $out;
  is(shift @got, 'AppDisplayName,n', 'the first table\'s header');
  is_deeply([@got[0 .. $#want]], \@want, 'its rows: the raw SQL\'s');
  is_deeply([@got[@want .. $#got]], ['Count', scalar @want], 'then the second table: its count');
  ($out, $err, $rc) = ipe('kql', '--db', $db, '--since', '30d', $q);
  like($out, qr/^Apps\nAppDisplayName +n\n.*^Table_1\nCount\n/ms, 'text: titled by "as", else Table_N');
  ($out) = ipe('kql', '--db', $db, '--format', 'json', '--since', '30d', $q);
  my $j = decode_json($out);
  is(scalar @{ $j->{sections} }, 2, 'json: two sections');
  is(scalar @{ $j->{queries} }, 2, '... and two queries');
  ($out, $err, $rc) = ipe('kql', '--now', '2026-11-27T00:00:00Z', '--explain', 'print a = 1; print b = "x"');
  is($rc, 0, '--explain of a batch: exit 0');
  is($out, qq{WITH "_k1" AS NOT MATERIALIZED (SELECT :k1 AS "a")\nSELECT "a" AS "a" FROM "_k1";\n-- :k1 = 1\n\n}
    . qq{WITH "_k1" AS NOT MATERIALIZED (SELECT :k1 AS "b")\nSELECT coalesce("b", '') AS "b" FROM "_k1";\n-- :k1 = 'x'\n}, '--explain: each statement\'s SQL and values');
  ($out, $err, $rc) = ipe('kql', '--db', $db, 'print a = b; let b = 1; print b');
  is($rc, 2, 'a let is seen only by the statements after it: exit 2');
  like($err, qr/\Aipe-run: kql:1:11: unknown name 'b'\n/, '... the error names the place');
};

subtest 'formats: json shows dynamic values as JSON and bools as bools' => sub {
  my ($out, $err, $rc) = ipe('kql', '--db', $db, '--format', 'json',
    'print d = dynamic({"a":[1,2]}), b = 1 < 2, s = "x", t = 90m');
  is($rc, 0, 'exit 0') or diag($err);
  my $j = decode_json($out);
  my $row = $j->{sections}[0]{rows}[0];
  is_deeply($row->[0], { a => [1, 2] }, 'a dynamic as JSON');
  ok($row->[1] && JSON::PP::is_bool($row->[1]), 'a bool');
  is($row->[2], 'x', 'a string');
  is($row->[3], '01:30:00', 'a timespan as Kusto writes it');
};

sub err_is {
  my ($name, $query, $want, @extra) = @_;
  my ($out, $err, $rc) = ipe('kql', '--db', $db, @extra, $query);
  is($rc, 2, "$name: exit 2");
  is($err, $want, "$name: the message, the line and the caret");
  is($out, '', "$name: nothing on stdout");
}

subtest 'errors: one line with line and column, the query line, a caret under the token' => sub {
  err_is('unknown column', 'SigninLogs | where IPAdress == "1.2.3.4"',
    "ipe-run: kql:1:20: unknown column 'IPAdress' (did you mean IPAddress?)\n"
    . "SigninLogs | where IPAdress == \"1.2.3.4\"\n"
    . "                   ^\n");
  err_is('summarize without aggregation', "SigninLogs\n| summarize",
    "ipe-run: kql:2:3: 'summarize' needs an aggregation\n| summarize\n  ^\n");
  err_is('unsupported operator', 'SigninLogs | make-series count() on TimeGenerated step 1h',
    "ipe-run: kql:1:14: 'make-series' is not supported\n"
    . "SigninLogs | make-series count() on TimeGenerated step 1h\n"
    . "             ^\n");
  err_is('unsupported plugin', 'SigninLogs | evaluate bag_unpack(LocationDetails)',
    "ipe-run: kql:1:23: 'evaluate bag_unpack' is not supported\n"
    . "SigninLogs | evaluate bag_unpack(LocationDetails)\n"
    . "                      ^\n");
  err_is('externaldata', 'externaldata (a:string) [@"https://example.org/x.csv"]',
    "ipe-run: kql:1:1: 'externaldata' is not supported: ipe reads only the local workspace\n"
    . "externaldata (a:string) [\@\"https://example.org/x.csv\"]\n"
    . "^\n");
  err_is('mv-apply: the subquery sees only the expanded columns',
    "Heartbeat\n| mv-apply ip = ComputerPrivateIPs to typeof(string) on (where Computer has ip)",
    "ipe-run: kql:2:64: unknown column 'Computer'\n"
    . "| mv-apply ip = ComputerPrivateIPs to typeof(string) on (where Computer has ip)\n"
    . (' ' x 63) . "^\n");
  err_is('unknown table', 'SecurityEvents | take 1',
    "ipe-run: kql:1:1: unknown table 'SecurityEvents' (did you mean SecurityEvent?)\nSecurityEvents | take 1\n^\n");
  IpeTest::spew("$dir/bad.kql", "let ip = \"1.2.3.4\";\nSigninLogs\n| where IPAddress == ip and strlenn(UserAgent) > 3\n");
  my ($out, $err, $rc) = ipe('kql', '--db', $db, '-f', "$dir/bad.kql");
  is($rc, 2, 'a file: exit 2');
  is($err, "ipe-run: $dir/bad.kql:3:29: 'strlenn' is not supported\n"
    . "| where IPAddress == ip and strlenn(UserAgent) > 3\n"
    . "                            ^\n", 'a file: the file name, line and caret');
};

subtest 'usage errors' => sub {
  my ($out, $err, $rc) = ipe('kql', '--db', $db);
  is($rc, 2, 'no query: exit 2');
  is($err, "ipe-run: kql: no query given; usage: ipe-run kql 'QUERY'\n", 'no query: the line');
  ($out, $err, $rc) = ipe('kql', '--db', $db, '-f', "$dir/missing.kql");
  is($rc, 3, 'a missing file: exit 3');
  like($err, qr/^ipe-run: kql: cannot read \Q$dir\E\/missing\.kql: No such file or directory\n\z/, 'a missing file: the line');
  ($out, $err, $rc) = ipe('kql', '--db', $db, 'SigninLogs | where IPAddress == "203.0.113.254"');
  is($rc, 1, 'no rows: exit 1');
  ($out, $err, $rc) = ipe('kql', '--db', "$dir/nothing.db", 'SigninLogs | count');
  is($rc, 3, 'no workspace: exit 3');
  like($err, qr/^ipe-run: no workspace at \Q$dir\E\/nothing\.db; /, 'no workspace: the line');
  ($out, $err, $rc) = ipe('kql', '--db', $db, '--format', 'xml', 'SigninLogs | count');
  is($rc, 2, 'a bad format: exit 2');
  is($err, "ipe-run: kql: unknown format 'xml' (use table, box, json, csv, md or html)\n", 'a bad format: the line');
  ($out, $err, $rc) = ipe('kql', '--db', $db, '-f', "$dir/q.kql", 'SigninLogs');
  is($rc, 2, 'a file and an argument: exit 2');
  is($err, "ipe-run: kql: give the query as an argument or with -f FILE, not both\n", 'a file and an argument: the line');
};

subtest 'an older workspace: one line saying how to upgrade it, exit 3' => sub {
  my $old = "$dir/old.db";
  IpeTest::spew("$dir/s.jsonl", qq({"TimeGenerated":"2026-11-26T10:00:00Z","HostName":"h"}\n));
  my ($out, $err, $rc) = ipe('ingest', '--db', $old, '--table', 'Syslog', "$dir/s.jsonl");
  is($rc, 0, 'a workspace') or diag($err);
  IpeTest::spew("$dir/lower_test.lua", qq(local db = assert(require("ipe.sqlite").open("$old", "rw"))\n)
    . qq(db:exec("UPDATE _ipe_meta SET value = '1' WHERE key = 'schema_version'")\ndb:close()\n));
  ($out, $err, $rc) = ipe('test', "$dir/lower_test.lua");
  ($out, $err, $rc) = ipe('kql', '--db', $old, 'Syslog | count');
  like($err, qr/^ipe-run: workspace \Q$old\E has schema version 1, this ipe needs \d+; upgrade it with 'ipe-run migrate --db \Q$old\E'\n\z/,
    'the line');
  is($rc, 3, 'exit 3');
  is($out, '', 'nothing on stdout');
};

subtest '-o FILE: written whole; a failed query leaves no file' => sub {
  my ($out, $err, $rc) = ipe('kql', '--db', $db, '--format', 'csv', '-o', "$dir/out.csv", 'print a = 1, b = "x"');
  is($rc, 0, 'exit 0') or diag($err);
  is(IpeTest::slurp("$dir/out.csv"), "a,b\r\n1,x\r\n", 'the file');
  ($out, $err, $rc) = ipe('kql', '--db', $db, '-o', "$dir/bad.csv", 'SigninLogs | where nope == 1');
  is($rc, 2, 'an error in the query: exit 2');
  ok(!-e "$dir/bad.csv", 'no file');
};

subtest 'KQL scripts: check compiles the query; hunt runs it and --show-query shows the KQL' => sub {
  my $root = "$dir/scripts";
  mkdir $root; mkdir "$root/hunts";
  my $head = qq~return {\n  name = "%s", kind = "hunt", title = "KQL hunt", summary = "s", description = "d",\n~
    . qq~  categories = { "offline", "identity" }, sources = { "SigninLogs" },\n~
    . qq~  params = { { name = "ip", type = "ip", required = true, help = "the IP" } },\n  language = "kql",\n~;
  IpeTest::spew("$root/hunts/kql-bad.lua", sprintf($head, 'kql-bad') . "  query = [[\nSigninLogs\n| where IPAddres == ip\n]],\n}\n");
  IpeTest::spew("$root/hunts/kql-good.lua", sprintf($head, 'kql-good')
    . "  query = [[\nSigninLogs\n| where IPAddress == ip\n| summarize n = count() by AppDisplayName\n| order by n desc, AppDisplayName asc\n]],\n}\n");
  my ($out, $err, $rc) = ipe('check', "$root/hunts/kql-bad.lua", "$root/hunts/kql-good.lua");
  is($rc, 1, 'check: exit 1');
  is($out, "FAIL hunt kql-bad: $root/hunts/kql-bad.lua:8: query:2:9: unknown column 'IPAddres' (did you mean IPAddress?)\n"
    . "ok   hunt kql-good\n2 script(s) checked, 1 with problems\n", 'check: the line of the file and of the query');
  my $env = { env => { IPE_PATH => $root } };
  ($out, $err, $rc) = ipe($env, 'hunt', 'kql-good', '--db', $db, '--ip', '131.107.0.89', '--since', '30d', '-f', 'csv');
  is($rc, 0, 'hunt: exit 0') or diag($err);
  my ($ref2) = ipe('sql', '--db', $db, '-f', 'csv', '--since', '30d', "SELECT AppDisplayName, count(*) AS n FROM SigninLogs "
    . "WHERE IPAddress = '131.107.0.89' AND TimeGenerated >= :from AND TimeGenerated <= :to GROUP BY 1 ORDER BY 2 DESC, 1");
  is($out, $ref2, 'hunt: the rows of the raw SQL');
  ($out, $err, $rc) = ipe($env, 'hunt', 'kql-good', '--db', $db, '--ip', '131.107.0.89', '--show-query');
  is($rc, 0, '--show-query: exit 0');
  like($out, qr/\A-- hunt kql-good: KQL\n-- \| SigninLogs\n-- \| \| where IPAddress == ip\n/, '--show-query: the KQL');
  like($out, qr/\n-- hunt kql-good: query 1 \(.*k1=131\.107\.0\.89.*\)\nWITH /, '--show-query: the SQL and its values');
};

done_testing();
