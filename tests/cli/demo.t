#!/usr/bin/perl
# ipe-run demo and `make demo` (issue 11, items 5 and 6): a demo workspace says so, and the
# demo replaces only such a workspace — a workspace with ingested data survives both `demo`
# and `make demo` byte for byte, with one line naming the path and --force; the demo
# workspace's IP details come from the bundled MaxMind test databases, named as test data,
# and no other workspace ever uses them.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IpeTest;
use Test::More;
use JSON::PP;
use File::Spec;
use File::Copy qw(copy);

my $root = repo_root();
my $F = fixtures_dir();
my @SMALL = ('--events', 12000, '--seed', 1);

# A workspace with ingested data (real-world SigninLogs rows).
sub ingested {
    my $dir = tmpdir();
    my $db = "$dir/workspace.db";
    my ($out, $err, $rc) = ipe('ingest', "$F/sentinel/msticpy/SigninLogs.jsonl", '--db', $db);
    die "ingest failed ($rc): $err" if $rc != 0;
    return ($dir, $db);
}

sub refusal {
    my ($db, $why) = @_;
    return "ipe-run: demo: $db is $why; refusing to replace it (add --force to replace it anyway, or choose another --db)\n";
}

# 1. `ipe-run demo` without --force leaves a workspace with ingested data alone.
{
    my ($dir, $db) = ingested();
    my $before = slurp($db);
    my ($out, $err, $rc) = ipe('demo', '--db', $db, @SMALL);
    is($rc, 2, 'demo over an ingested workspace: exit 2');
    is($err, refusal($db, 'not a demo workspace'), 'demo over an ingested workspace: the one line names the path and --force');
    is($out, '', 'demo over an ingested workspace: nothing on stdout');
    ok(slurp($db) eq $before, 'demo over an ingested workspace: the file is byte-identical');
    opendir my $dh, $dir or die;
    my @left = grep { /building/ } readdir $dh;
    is(scalar @left, 0, 'demo over an ingested workspace: no temporary file');
    # through IPE_DB / the default path too
    ($out, $err, $rc) = ipe({ env => { IPE_DB => $db } }, 'demo', @SMALL);
    is($err, refusal($db, 'not a demo workspace'), 'IPE_DB: refused the same way');
    ok(slurp($db) eq $before, 'IPE_DB: the file is byte-identical');
}

# 2. `make demo` is the same command: it never passes --force.
{
    my ($dir, $db) = ingested();
    my $data = tmpdir();
    mkdir "$data/ipe" or die;
    copy($db, "$data/ipe/workspace.db") or die;
    my $before = slurp("$data/ipe/workspace.db");
    my $bin = File::Spec->abs2rel($ENV{IPE_RUN} || "$root/ipe-run", $root);
    my $log = "$data/make.log";
    my $rc = do {
        local %ENV = (PATH => $ENV{PATH}, HOME => $data, XDG_DATA_HOME => $data, XDG_CONFIG_HOME => "$data/config",
                      XDG_STATE_HOME => "$data/state", IPE_NOW => NOW, NO_COLOR => 1, LANG => 'C.UTF-8');
        # -o: the binary is taken as it is (never rebuilt by this test)
        system("make -s -C '$root' -o '$bin' BIN='$bin' demo >'$log' 2>&1") >> 8;
    };
    isnt($rc, 0, 'make demo over an ingested workspace fails');
    my $ws = "$data/ipe/workspace.db";
    like(slurp($log), qr/^\Q${\ refusal($ws, 'not a demo workspace')}\E/m, 'make demo: the refusal line');
    ok(slurp($ws) eq $before, 'make demo: the ingested workspace is byte-identical');
    unlike(slurp("$root/Makefile"), qr/^\t.*demo --force/m, 'the Makefile never runs demo --force');
}

# 3. A demo workspace is replaced without --force; one with data added since is not.
{
    my $dir = tmpdir();
    my $db = "$dir/demo.db";
    my ($out, $err, $rc) = ipe('demo', '--db', $db, @SMALL);
    is($rc, 0, 'demo: built');
    ($out, $err, $rc) = ipe('sql', "SELECT key FROM _ipe_meta WHERE key IN ('demo', 'demo_geo') ORDER BY key", '--db', $db, '-f', 'csv');
    is($out, "key\r\ndemo\r\ndemo_geo\r\n", 'demo: the workspace is marked, with its geo databases');
    ($out, $err, $rc) = ipe('demo', '--db', $db, '--events', 12500, '--seed', 2);
    is($rc, 0, 'a demo workspace is replaced without --force');
    is($err, '', 'without a word on stderr');
    like($out, qr/^demo workspace \Q$db\E: 12500 rows, .*\(seed 2\)$/m, 'by the new demo');
    ($out, $err, $rc) = ipe('ingest', "$F/sentinel/msticpy/SigninLogs.jsonl", '--db', $db);
    is($rc, 0, 'data ingested into the demo workspace');
    my $before = slurp($db);
    ($out, $err, $rc) = ipe('demo', '--db', $db, @SMALL);
    is($rc, 2, 'a demo workspace with ingested data: exit 2');
    is($err, refusal($db, 'a demo workspace with data added or removed since it was built'),
       'a demo workspace with ingested data: the one line');
    ok(slurp($db) eq $before, 'a demo workspace with ingested data: byte-identical');
    ($out, $err, $rc) = ipe('demo', '--db', $db, @SMALL, '--force');
    is($rc, 0, '--force replaces it');
    ($out) = ipe('sql', "SELECT count(*) AS n FROM _ipe_ingest", '--db', $db, '-f', 'csv');
    is($out, "n\r\n0\r\n", '--force: the ingested data is gone, the demo is back');
}

# 4. Anything else at the path: refused, untouched; --force replaces a non-demo workspace.
{
    my $dir = tmpdir();
    spew("$dir/notes.db", "my notes\n");
    my ($out, $err, $rc) = ipe('demo', '--db', "$dir/notes.db", @SMALL);
    is($rc, 2, 'a file that is not a workspace: exit 2');
    is($err, refusal("$dir/notes.db", 'not a demo workspace'), 'a file that is not a workspace: the one line');
    is(slurp("$dir/notes.db"), "my notes\n", 'a file that is not a workspace: untouched');
    mkdir "$dir/d" or die;
    ($out, $err, $rc) = ipe('demo', '--db', "$dir/d", @SMALL);
    is($err, refusal("$dir/d", 'not a demo workspace'), 'a directory: refused');
    my (undef, $db) = ingested();
    ($out, $err, $rc) = ipe('demo', '--db', $db, @SMALL, '--force');
    is($rc, 0, '--force replaces a workspace that is not a demo workspace');
    ($out) = ipe('sql', "SELECT key FROM _ipe_meta WHERE key = 'demo'", '--db', $db, '-f', 'csv');
    is($out, "key\r\ndemo\r\n", '--force: it is a demo workspace now');
}

# 5. IP details in the demo: the bundled MaxMind test databases, named as test data.
sub details {
    my ($env, $db, $ip) = @_;
    my ($out, $err, $rc) = ipe({ env => $env }, 'insight', 'ip-details', $ip, '--db', $db, '-f', 'json');
    my $doc = eval { decode_json($out) } || {};
    my %kv = map { ($_->{key} => $_->{value}) } @{ $doc->{sections}[0]{items} || [] };
    my %src = map { ($_->[0] => $_->[2]) } @{ $doc->{sections}[1]{rows} || [] };
    return (\%kv, \%src, $doc, $rc);
}
{
    my $db = demo_db();
    my $TEST = ' (MaxMind test data, not real)';
    my ($kv, $src, $doc, $rc) = details({}, $db, '89.160.20.128');
    is($rc, 0, 'demo: ip-details for the C2 server');
    is_deeply([ @$kv{'Organization (ISP)', 'ASN', 'Country/Region', 'State', 'City', 'Latitude/Longitude'} ],
              [ 'Bredband2 AB (AS holder)', 'AS29518 Bredband2 AB', 'Sweden (SE)', "\x{d6}sterg\x{f6}tland County (E)",
                "Link\x{f6}ping", '58.4167, 15.6167 (within 76 km)' ],
              'demo: 89.160.20.128 — AS holder, ASN, country, state, city, coordinates (values of EXPECTED.md)');
    is($src->{City}, "GeoIP2-City-Test.mmdb$TEST", 'demo: the city comes from the City test database, named as test data');
    is($src->{ASN}, "GeoIP2-ISP-Test.mmdb$TEST", 'demo: the ASN from the ISP test database, named as test data');
    ($kv, $src) = details({}, $db, '216.160.83.56');
    is_deeply([ @$kv{'Organization (ISP)', 'ASN', 'Country/Region', 'City', 'Postal code', 'Connection type'} ],
              [ 'Lariat Software (Century Link)', 'AS209', 'United States (US)', 'Milton', '98354', 'Corporate' ],
              'demo: 216.160.83.56 — organization, ISP, ASN, country, city, postal code, connection type');
    is($src->{ISP}, "GeoIP2-ISP-Test.mmdb$TEST", 'demo: the ISP named with its test database');
    my @dbs = map { $_->[0] } @{ $doc->{sections}[2]{rows} || [] };
    is(scalar(grep { !/\Q$TEST\E$/ } @dbs), 0, 'demo: every database consulted is named as test data');
    is(scalar @dbs, 6, 'demo: the six bundled databases');
    ($kv) = details({ IPE_GEOIP => '' }, $db, '89.160.20.128');
    is($kv->{City}, undef, 'IPE_GEOIP (set, even empty) wins over the demo databases');

    # which story IPs the bundled databases cover (data/demo-geo/README.md says the same)
    my %covered = ('89.160.20.128' => 'SE', '216.160.83.56' => 'US', '2001:218:85a3::8a2e:370:7334' => 'JP',
                   '151.101.1.140' => undef, '45.33.32.156' => undef);
    for my $ip (sort keys %covered) {
        my ($k, undef, $d) = details({}, $db, $ip);
        my $want = $covered{$ip};
        if ($want) { like($k->{'Country/Region'} // '', qr/\($want\)$/, "demo: $ip is covered ($want)") }
        else { is_deeply([ @$k{'Country/Region', 'City', 'ASN'} ], [ undef, undef, undef ], "demo: $ip is not covered: no country, city or ASN") }
    }

    # any other workspace: never the test databases
    my (undef, $ws) = ingested();
    ($kv, $src, $doc) = details({}, $ws, '89.160.20.128');
    is($kv->{City}, undef, 'an ingested workspace: no city from the test databases');
    like($doc->{message} // '', qr/^No geo database is configured/, 'an ingested workspace: no geo database at all');
    # a demo workspace naming a file outside the bundled folder is ignored
    my $copy = tmpdir() . '/demo.db';
    copy($db, $copy) or die;
    system('sqlite3', $copy, "UPDATE _ipe_meta SET value = '../../../etc/passwd:GeoIP2-City-Test.mmdb' WHERE key = 'demo_geo'") == 0 or die;
    ($kv, $src, $doc) = details({}, $copy, '89.160.20.128');
    @dbs = map { $_->[0] } @{ $doc->{sections}[2]{rows} || [] };
    is_deeply(\@dbs, ["GeoIP2-City-Test.mmdb$TEST"], 'only the bundled folder\'s known names count');
}

done_testing();
