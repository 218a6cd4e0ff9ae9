#!/usr/bin/perl
# ipe-run ingest, issue 10 items 8-10: a JSON line with text after the record is a
# bad record (file:line: reason) and --skip-bad keeps the good lines around it; a
# too-deeply nested JSON document names the file and line; IP columns hold a
# normalized address or NULL, other values go to _Extra and are counted on the
# summary line. Exact lines, exit codes, and nothing written on failure.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IpeTest;
use Test::More;
use JSON::PP;

my $dir = tmpdir();

sub rows {
    my ($db, $sql) = @_;
    my ($out, $err, $rc) = ipe('sql', $sql, '--db', $db, '-f', 'json');
    die "sql failed ($rc): $err" if $rc > 1;
    return decode_json($out)->{sections}[0]{rows};
}

sub seed {
    my ($db) = @_;
    spew("$dir/seed.jsonl", qq({"TimeGenerated":"2024-01-01T00:00:00Z","Computer":"seed","Type":"Heartbeat"}\n));
    my ($out, $err, $rc) = ipe('ingest', "$dir/seed.jsonl", '--db', $db);
    die "seed: $err" if $rc;
}

my $hb = sub { my ($c, $s) = @_; qq({"TimeGenerated":"2024-01-01T00:00:0${s}Z","Computer":"$c","Type":"Heartbeat"}) };

# item 8: text after the record on a JSON line
{
    my $db = "$dir/t8.db";
    seed($db);
    my $first = "$dir/first-bad.jsonl";
    spew($first, $hb->('a', 1) . " trailing\n" . $hb->('b', 2) . "\n" . $hb->('c', 3) . "\n");
    my $middle = "$dir/middle-bad.jsonl";
    spew($middle, $hb->('d', 1) . "\n" . $hb->('e', 2) . "}\n" . $hb->('f', 3) . "\n");
    my ($out, $err, $rc) = ipe('ingest', $first, '--db', $db);
    is($rc, 1, 'text after the first record: exit 1');
    is($err, "ipe-run: ingest: $first:1: invalid JSON: text after the end of the record (character 75)\n",
        'text after the first record: file:line: reason, no internal error');
    ($out, $err, $rc) = ipe('ingest', $middle, '--db', $db);
    is($rc, 1, 'text after a later record: exit 1');
    is($err, "ipe-run: ingest: $middle: JSON lines (extension .jsonl) into Heartbeat (its Type column)\n"
        . "ipe-run: ingest: $middle:2: invalid JSON: text after the end of the record (character 75)\n",
        'text after a later record: file:line: reason');
    is_deeply(rows($db, 'SELECT Computer FROM Heartbeat ORDER BY Computer'), [['seed']], 'nothing of either file written');

    ($out, $err, $rc) = ipe('ingest', '--skip-bad', $first, $middle, '--db', $db);
    is($rc, 0, '--skip-bad: exit 0');
    is($out, "$first: 2 rows into Heartbeat, 1 rejected\n$middle: 2 rows into Heartbeat, 1 rejected\n",
        '--skip-bad: the summary lines');
    like($err, qr/^  \Q$first\E:1: invalid JSON: text after the end of the record \(character 75\)$/m,
        '--skip-bad: the first file\'s reason');
    like($err, qr/^  \Q$middle\E:2: invalid JSON: text after the end of the record \(character 75\)$/m,
        '--skip-bad: the second file\'s reason');
    is_deeply(rows($db, 'SELECT Computer FROM Heartbeat ORDER BY Computer'),
        [['b'], ['c'], ['d'], ['f'], ['seed']], '--skip-bad: the good lines after the bad one are in');
}

# item 9: too deeply nested JSON
{
    my $db = "$dir/t9.db";
    seed($db);
    my $deep = ('[' x 1001) . (']' x 1001);
    my @cases = (
        ['deep.json', qq({"TimeGenerated":"2024-01-01T00:00:00Z",\n"Computer":"x","a":$deep}\n), ['--table', 'Heartbeat'],
         "deep.json: line 2: invalid JSON: arrays and objects are nested more than 1000 deep (character 1060)"],
        ['deep-element.json', qq([{"TimeGenerated":"2024-01-01T00:00:00Z","Computer":"x"},\n{"a":$deep}]\n),
         ['--table', 'Heartbeat'],
         "deep-element.json:2: invalid JSON: member \"a\" is not valid JSON: arrays and objects are nested more than 1000 deep"],
        ['deep.jsonl', $hb->('x', 1) . "\n" . qq({"Computer":"y","a":$deep}\n), ['--table', 'Heartbeat'],
         "deep.jsonl:2: invalid JSON: member \"a\" is not valid JSON: arrays and objects are nested more than 1000 deep (character 21)"],
        ['deep-stix.json', qq({"type":"bundle","id":"bundle--1",\n"objects":$deep}\n), [],
         "deep-stix.json: line 2: invalid JSON: arrays and objects are nested more than 1000 deep (character 1045)"],
    );
    for my $c (@cases) {
        my ($name, $text, $opts, $want) = @$c;
        spew("$dir/$name", $text);
        my ($out, $err, $rc) = ipe('ingest', @$opts, "$dir/$name", '--db', $db);
        is($rc, 1, "$name: exit 1");
        my @lines = split /\n/, $err;
        is($lines[-1], "ipe-run: ingest: $dir/$want", "$name: the file and line, not ipe's source");
        unlike($err, qr/\.lua:\d+/, "$name: no Lua source position");
    }
    is_deeply(rows($db, 'SELECT count(*) FROM Heartbeat'), [[1]], 'nothing written');
    is_deeply(rows($db, 'SELECT count(*) FROM ThreatIntelligenceIndicator'), [[0]], 'nothing written (STIX)');
}

# item 10: IP columns hold a normalized address or NULL
{
    my $db = "$dir/t10.db";
    my $csv = "$dir/ips.csv";
    spew($csv, join("\n",
        'TimeGenerated,SourceIP,DestinationIP,DeviceAddress,RemoteIP',
        '2024-01-01T00:00:01Z,300.1.1.1,1.2.3.4:443,-,',
        '2024-01-01T00:00:02Z,"1.2.3.4,5.6.7.8",[2001:DB8::1]:443,2001:db8::zz,',
        '2024-01-01T00:00:03Z,::ffff:10.0.0.1,2001:0db8:0:0:0:0:0:2,10.1.1.1:514,1.2.3',
        '2024-01-01T00:00:04Z,10.0.0.2,8.8.8.8,10.0.0.3,8.8.4.4', '') );
    my ($out, $err, $rc) = ipe('ingest', '--table', 'CommonSecurityLog', $csv, '--db', $db);
    is($rc, 0, 'invalid IPs: exit 0');
    is($out, "$csv: 4 rows into CommonSecurityLog, 4 values were not IP addresses: kept in _Extra\n",
        'invalid IPs: the summary line counts them');
    is_deeply(rows($db, 'SELECT SourceIP, DestinationIP, DestinationPort, DeviceAddress, RemoteIP, _Extra '
        . 'FROM CommonSecurityLog ORDER BY TimeGenerated'), [
        [undef, '1.2.3.4', 443, undef, undef, '{"SourceIP":"300.1.1.1"}'],
        [undef, '2001:db8::1', 443, undef, undef, '{"DeviceAddress":"2001:db8::zz","SourceIP":"1.2.3.4,5.6.7.8"}'],
        ['10.0.0.1', '2001:db8::2', undef, '10.1.1.1', undef, '{"DeviceAddressPort":514,"RemoteIP":"1.2.3"}'],
        ['10.0.0.2', '8.8.8.8', undef, '10.0.0.3', '8.8.4.4', undef],
    ], 'invalid IPs: NULL in the column, the text in _Extra; ports split off; "-" and "" are no value');
    is_deeply(rows($db, q{SELECT count(*) FROM CommonSecurityLog WHERE SourceIP IS NOT NULL AND SourceIP NOT GLOB '*[^0-9.]*'
        AND SourceIP NOT GLOB '*:*'}), [[2]], 'the IPv4 column values are plain dotted quads');

    my $one = "$dir/one.jsonl";
    spew($one, qq({"TimeGenerated":"2024-01-01T00:00:00Z","Type":"Syslog","HostIP":"1.2.3"}\n));
    ($out, $err, $rc) = ipe('ingest', $one, '--db', $db);
    is($out, "$one: 1 row into Syslog, 1 value was not an IP address: kept in _Extra\n", 'one invalid IP: singular');
    is_deeply(rows($db, 'SELECT HostIP, _Extra FROM Syslog'), [[undef, '{"HostIP":"1.2.3"}']], 'one invalid IP: in _Extra');
}

done_testing();
