#!/usr/bin/perl
# make test-slow: a 400,000-row ingest (the bulk path: indexes rebuilt once, before the commit)
# while a reader works on the workspace; every row arrives, the index finds them, the workspace
# passes integrity_check. The small, deterministic kill -9 cases are in tests/cli/ingest.t.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IpeTest;
use BigIngest qw(csl_jsonl ingest_pipe);
use Test::More;
use JSON::PP;
use POSIX ();

my $dir = tmpdir();
my $db = "$dir/big.db";
sub sql_value {
    my ($sql) = @_;
    my ($out, $err, $rc) = ipe('sql', $sql, '--db', $db, '-f', 'json');
    die "sql failed ($rc): $err" if $rc > 1;
    return decode_json($out)->{sections}[0]{rows}[0][0];
}
spew("$dir/small.jsonl", qq({"TimeGenerated":"2024-01-01T00:00:00Z","SourceIP":"10.0.0.1","Type":"CommonSecurityLog"}\n));
my (undef, undef, $rc0) = ipe('ingest', "$dir/small.jsonl", '--db', $db);
is($rc0, 0, 'a workspace with one row');

my $rows = 400000;
my ($text, $probe, $probe_n) = csl_jsonl($rows);
ok($probe_n > 0, "the probe address $probe is in the input ($probe_n rows)");

# the ingest reads a pipe the test holds open: it is mid-file while the reader runs
my ($pid, $w) = ingest_pipe($db, substr($text, 0, length($text) / 2), $dir);
my ($out, $err, $rc) = ipe('sql', 'SELECT count(*) AS n FROM CommonSecurityLog', '--db', $db, '-f', 'csv');
is($out, "n\r\n1\r\n", 'a reader during the ingest sees the workspace as it was');
is(waitpid($pid, POSIX::WNOHANG()), 0, 'the ingest was running all along');
print {$w} substr($text, length($text) / 2);
close $w;
waitpid $pid, 0;
is($? >> 8, 0, 'the ingest finishes: exit 0') or diag(slurp("$dir/pipe.err"));
is(slurp("$dir/pipe.out"), "<stdin>: $rows rows into CommonSecurityLog\n", 'its summary');
is(sql_value('SELECT count(*) FROM CommonSecurityLog'), $rows + 1, 'every row');
is(sql_value("SELECT count(*) FROM CommonSecurityLog WHERE SourceIP = '$probe'"), $probe_n, 'the new rows are found by their IP');
like(`sqlite3 '$db' "EXPLAIN QUERY PLAN SELECT count(*) FROM CommonSecurityLog WHERE SourceIP = '$probe'"`,
     qr/USING COVERING INDEX ix_CommonSecurityLog_SourceIP/, 'through the rebuilt index');
my ($ic) = `sqlite3 '$db' 'PRAGMA integrity_check'`;
is($ic, "ok\n", 'the workspace passes integrity_check');
done_testing();
