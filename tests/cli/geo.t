#!/usr/bin/perl
# Geo end to end: the ip-details insight (with and without databases, no workspace), the
# database configuration (IPE_GEOIP, the config file), ipe-run enrich (JSON lines, CSV, CSV
# input, bad lines, output files), and every broken MaxMind database of tests/fixtures with its
# exact message. Values from tests/fixtures/mmdb/EXPECTED.md.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IpeTest;
use Test::More;
use JSON::PP;

my $F = fixtures_dir() . "/mmdb";
my $D = "$F/test-data";
sub db { join ':', map { "$D/$_.mmdb" } @_ }
my $ALL = db(qw(GeoIP2-City-Test GeoLite2-ASN-Test GeoIP2-ISP-Test GeoIP2-Connection-Type-Test GeoIP2-Anonymous-IP-Test));

# A home without a workspace or a config file: ip-details needs neither.
my $home = tmpdir();
sub geo_env { my ($paths, %more) = @_; return { HOME => $home, IPE_CONFIG => "$home/none", IPE_GEOIP => $paths, %more } }
sub run { my ($env, @args) = @_; my $stdin = ref $args[0] eq 'SCALAR' ? ${ shift @args } : undef;
          return ipe({ env => $env, defined $stdin ? (stdin => $stdin) : () }, @args) }

sub details {
    my ($json) = @_;
    my $rec = decode_json($json);
    my %kv = map { $_->{key} => $_->{value} } @{ $rec->{sections}[0]{items} };
    return ($rec, \%kv);
}

sub rows {
    my ($rec, $id) = @_;
    my ($sec) = grep { ($_->{id} // '') eq $id } @{ $rec->{sections} };
    return [] unless $sec;
    my @names = map { $_->{name} } @{ $sec->{columns} };
    return [ map { my $r = $_; +{ map { $names[$_] => $r->[$_] } 0 .. $#names } } @{ $sec->{rows} } ];
}

# --- ip-details ----------------------------------------------------------------------------

{
    my ($out, $err, $rc) = run(geo_env($ALL), 'insight', 'ip-details', '216.160.83.56', '-f', 'json');
    is($rc, 0, 'ip-details without a workspace: exit 0') or diag($err);
    my ($rec, $kv) = details($out);
    is_deeply([ @$kv{'IP', 'Class', 'Organization (ISP)', 'ASN', 'Country/Region', 'State', 'City', 'Carrier',
                     'Latitude/Longitude', 'Postal code', 'Registered country', 'Connection type', 'Anonymizer'} ],
              [ '216.160.83.56', 'public', 'Lariat Software (Century Link)', 'AS209', 'United States (US)',
                'Washington (WA)', 'Milton', undef, '47.2513, -122.3149 (within 22 km)', '98354', 'GB', 'Corporate',
                'none known' ],
              '216.160.83.56: Milton, WA, 98354 (EXPECTED.md)');
    my ($city) = grep { $_->{Field} eq 'City' } @{ rows($rec, 'sources') };
    is_deeply($city, { Field => 'City', Value => 'Milton', Database => 'GeoIP2-City-Test.mmdb', Built => '2026-02-04' },
              'the source database and build date of a value');
    my $dbs = rows($rec, 'databases');
    is_deeply([ map { "$_->{Database} $_->{Status} " . ($_->{Network} // '-') } @$dbs ],
              [ 'GeoIP2-City-Test.mmdb found 216.160.83.56/29', 'GeoLite2-ASN-Test.mmdb found 216.160.64.0/18',
                'GeoIP2-ISP-Test.mmdb found 216.160.83.56/29', 'GeoIP2-Connection-Type-Test.mmdb found 216.160.83.56/29',
                'GeoIP2-Anonymous-IP-Test.mmdb found 208.0.0.0/4' ],
              'every database consulted, with the network it answered for');

    ($out, $err, $rc) = run(geo_env($ALL), 'insight', 'ip-details', '149.101.100.1');
    is($rc, 0, 'ip-details text: exit 0');
    like($out, qr/^Carrier:\s+Verizon Wireless \(MCC 310, MNC 004\)$/m, '149.101.100.1: Verizon Wireless, MCC 310, MNC 004');
    like($out, qr/^ASN:\s+AS6167 CELLCO-PART$/m, '149.101.100.1: the ASN');

    ($out) = run(geo_env($ALL), 'insight', 'ip-details', '1.128.0.0', '-f', 'json');
    (undef, $kv) = details($out);
    is_deeply([ @$kv{'ASN', 'Organization (ISP)', 'City'} ], [ 'AS1221 Telstra Pty Ltd', 'Telstra Internet', undef ],
              '1.128.0.0: AS1221 Telstra');

    ($out) = run(geo_env(db(qw(GeoIP2-City-Test GeoIP2-Country-Test))), 'insight', 'ip-details', '2001:220::', '-f', 'json');
    (undef, $kv) = details($out);
    is($kv->{'Country conflict'}, 'KR (GeoIP2-City-Test.mmdb) vs SE (GeoIP2-Country-Test.mmdb)',
       'two databases that disagree on the country');

    ($out) = run(geo_env(db(qw(MaxMind-DB-test-ipv4-24 GeoIP2-City-Test))), 'insight', 'ip-details', '2001:218::1', '-f', 'json');
    ($rec, $kv) = details($out);
    is($kv->{'Country/Region'}, 'Japan (JP)', '2001:218::1: JP');
    is(rows($rec, 'databases')->[0]{Status}, 'not covered (IPv4-only database)', 'an IPv4-only database: not covered');
}

{
    my ($out, $err, $rc) = run(geo_env(''), 'insight', 'ip-details', '10.0.0.1');
    is($rc, 0, 'no database configured: still exit 0 (status ok)');
    like($out, qr/^Class:\s+private \(RFC 1918\)$/m, 'no database: the class');
    like($out, qr/^No geo database is configured, so only the class is shown\. To add one, run 'ipe-run geo fetch' \(the free DB-IP Lite databases\), or set IPE_GEOIP to a colon-separated list of \.mmdb files/m,
         'no database: says so and how to configure one');
    unlike($out, qr/Geo databases consulted/, 'no database: no databases table');
    ($out, $err, $rc) = run(geo_env(''), 'insight', 'ip-details', '100.64.1.1', '-f', 'json');
    my (undef, $kv) = details($out);
    is($kv->{Class}, 'shared (RFC 6598, carrier-grade NAT)', 'no database: shared address space');
    ($out, $err, $rc) = run(geo_env(''), 'insight', 'ip-details', 'not-an-ip');
    is($rc, 2, 'a bad IP: exit 2');
    like($err, qr/'not-an-ip' is not an IP address/, 'a bad IP: its message');
}

# --- configuration -------------------------------------------------------------------------

{
    my $dir = tmpdir();
    spew("$dir/config", "[geoip]\npaths = $D/GeoIP2-City-Test.mmdb : $D/GeoLite2-ASN-Test.mmdb\n");
    chmod 0600, "$dir/config";
    my %env = (HOME => $home, IPE_CONFIG => "$dir/config", IPE_GEOIP => undef);
    my ($out, $err, $rc) = ipe({ env => \%env }, 'insight', 'ip-details', '1.128.0.0', '-f', 'json');
    is($rc, 0, 'databases from the config file: exit 0') or diag($err);
    my ($rec, $kv) = details($out);
    is($kv->{ASN}, 'AS1221 Telstra Pty Ltd', 'the config file [geoip] paths are used');
    is(scalar @{ rows($rec, 'databases') }, 2, 'both configured databases');
    ($out) = ipe({ env => { %env, IPE_GEOIP => "$D/GeoIP2-City-Test.mmdb" } }, 'insight', 'ip-details', '1.128.0.0', '-f', 'json');
    is(scalar @{ rows(decode_json($out), 'databases') }, 1, 'IPE_GEOIP wins over the config file');
    ($out) = ipe({ env => { %env, IPE_GEOIP => '' } }, 'insight', 'ip-details', '1.128.0.0');
    like($out, qr/^No geo database is configured/m, 'IPE_GEOIP set but empty: no database, whatever the config file says');
    chmod 0644, "$dir/config";
    ($out, $err, $rc) = ipe({ env => \%env }, 'insight', 'ip-details', '1.128.0.0');
    is($rc, 1, 'a config file readable by others: the insight fails');
    like($err, qr/config \Q$dir\E\/config is readable by group or others \(mode 644\); it may hold API keys: chmod 600/,
         'a config file readable by others: how to fix it');
}

# --- enrich --------------------------------------------------------------------------------

my $MILTON = '{"ip":"216.160.83.56","class":"public","found":true,"organization":"Lariat Software","isp":"Century Link",'
  . '"asn":209,"country_code":"US","country_name":"United States","registered_country_code":"GB","continent_code":"NA",'
  . '"state":"Washington","state_code":"WA","city":"Milton","postal_code":"98354","latitude":47.2513,'
  . '"longitude":-122.3149,"accuracy_radius":22,"time_zone":"America/Los_Angeles","connection_type":"Corporate",'
  . '"is_anonymous":false,"is_anonymous_vpn":false,"is_hosting_provider":false,"is_public_proxy":false,'
  . '"is_tor_exit_node":false,"is_residential_proxy":false}';

{
    my $in = "216.160.83.56\n10.0.0.1\nx\n\n# a comment\n1[.]128[.]0[.]0\r\n2001:218::1\n149.101.100.1\n \t\n216.160.83.56\n";
    my ($out, $err, $rc) = run(geo_env($ALL), \$in, 'enrich');
    is($rc, 0, 'enrich: exit 0');
    my @lines = split /\n/, $out;
    is(scalar @lines, 6, 'enrich: one record per IP, bad, blank and comment lines skipped');
    is($lines[0], $MILTON, 'enrich: the exact JSON line (ordered keys, absent fields left out)');
    is($lines[1], '{"ip":"10.0.0.1","class":"private","found":false}', 'enrich: a private address, not found');
    my @recs = map { decode_json($_) } @lines;
    is_deeply([ @{ $recs[2] }{qw(ip asn as_organization isp)} ], [ '1.128.0.0', 1221, 'Telstra Pty Ltd', 'Telstra Internet' ],
              'enrich: a defanged IP with CRLF: 1.128.0.0, AS1221 Telstra');
    is_deeply([ @{ $recs[3] }{qw(ip country_code latitude)} ], [ '2001:218::1', 'JP', 35.68536 ], 'enrich: IPv6');
    is_deeply([ @{ $recs[4] }{qw(carrier mobile_country_code mobile_network_code)} ], [ 'Verizon Wireless', '310', '004' ],
              'enrich: the carrier and its codes as strings');
    is($lines[5], $MILTON, 'enrich: a repeated IP gives the same line');
    is($err, "ipe-run: enrich: line 3: 'x' is not an IP address\n"
           . "ipe-run: enrich: 6 IPs enriched (5 found in a geo database), 1 bad line skipped; databases: "
           . "GeoIP2-City-Test.mmdb (2026-02-04), GeoLite2-ASN-Test.mmdb (2026-02-04), GeoIP2-ISP-Test.mmdb (2026-02-04), "
           . "GeoIP2-Connection-Type-Test.mmdb (2026-02-04), GeoIP2-Anonymous-IP-Test.mmdb (2026-02-04)\n",
       'enrich: the bad line with its number, then the summary, on stderr');
}

{
    my ($out, $err, $rc) = run(geo_env(db('GeoIP2-City-Test')), \"216.160.83.56\n10.0.0.1\n", 'enrich', '-f', 'csv');
    is($rc, 0, 'enrich csv: exit 0');
    my @lines = split /\r\n/, $out;
    is($lines[0], 'ip,class,found,organization,isp,asn,as_organization,domain,country_code,country_name,'
        . 'registered_country_code,continent_code,state,state_code,district,city,postal_code,latitude,longitude,'
        . 'accuracy_radius,time_zone,mobile_country_code,mobile_network_code,carrier,connection_type,user_type,'
        . 'is_anonymous,is_anonymous_vpn,is_hosting_provider,is_public_proxy,is_tor_exit_node,is_residential_proxy,'
        . 'anonymizer_provider,country_conflict', 'enrich csv: the header');
    is($lines[1], '216.160.83.56,public,true,,,,,,US,United States,GB,NA,Washington,WA,,Milton,98354,47.2513,-122.3149,22,'
        . 'America/Los_Angeles,,,,,,,,,,,,,', 'enrich csv: a row');
    is($lines[2], '10.0.0.1,private,false' . (',' x 31), 'enrich csv: a row without geo data');
    ($out) = run(geo_env(db(qw(GeoIP2-City-Test GeoIP2-Country-Test))), \"2001:220::\n", 'enrich', '-f', 'csv');
    like($out, qr/,KR\/SE\r\n\z/, 'enrich csv: the country conflict');
    ($out) = run(geo_env(db(qw(GeoIP2-City-Test GeoIP2-Country-Test))), \"2001:220::\n", 'enrich');
    like($out, qr/,"country_conflict":\[\{"country_code":"KR","file":"GeoIP2-City-Test\.mmdb"\},\{"country_code":"SE","file":"GeoIP2-Country-Test\.mmdb"\}\]\}\n\z/,
         'enrich json: the country conflict');
}

{
    my $csv = "\xef\xbb\xbftime,Src IP,note\r\n2026-11-01,216.160.83.56,\"a, quoted \"\"note\"\"\"\r\n"
            . "2026-11-02,\"10.0.0.1\",\"two\nlines\"\r\n2026-11-03\r\n2026-11-04,bogus,x\r\n2026-11-05,1.128.0.0,y\r\n";
    my $dir = tmpdir();
    spew("$dir/in.csv", $csv);
    my ($out, $err, $rc) = run(geo_env($ALL), 'enrich', "$dir/in.csv", '--column', 'src ip');
    is($rc, 0, 'enrich --column: exit 0');
    my @ips = map { decode_json($_)->{ip} } split /\n/, $out;
    is_deeply(\@ips, [ '216.160.83.56', '10.0.0.1', '1.128.0.0' ], 'enrich --column: the column (case-insensitive name, BOM, quotes, a quoted newline)');
    like($err, qr/^ipe-run: enrich: line 5: no column 'src ip' \(the row has 1 field\)$/m,
         'enrich --column: a short row, numbered by its line in the file (a quoted newline counts)');
    like($err, qr/^ipe-run: enrich: line 6: 'bogus' is not an IP address$/m, 'enrich --column: a bad cell, with its line number');
    spew("$dir/open.csv", "ip,note\n8.8.8.8,\"never closed\n" . ("1.1.1.1,x\n" x 150) . "9.9.9.9,y\n");
    ($out, $err, $rc) = run(geo_env(''), 'enrich', "$dir/open.csv", '--column', 'ip');
    is($rc, 0, 'enrich --column: an unclosed quote is not fatal');
    like($err, qr/^ipe-run: enrich: line 2: a quoted field is not closed within 100 lines$/m,
         'enrich --column: an unclosed quote swallows at most 100 lines');
    is((split /\n/, $out)[-1], '{"ip":"9.9.9.9","class":"public","found":false}', 'enrich --column: and reading goes on');
    ($out, $err, $rc) = run(geo_env($ALL), 'enrich', "$dir/in.csv", '--column', 'dst');
    is($rc, 2, 'enrich: a missing column: exit 2');
    is($err, "ipe-run: enrich: no column 'dst' in the header of $dir/in.csv (columns: time, Src IP, note)\n",
       'enrich: a missing column: the header it has');
}

{
    my ($out, $err, $rc) = run(geo_env(''), \"x\ny\n", 'enrich');
    is($rc, 1, 'enrich: no IP at all: exit 1');
    is($out, '', 'enrich: no IP: nothing on stdout');
    like($err, qr/^ipe-run: enrich: 0 IPs enriched, 2 bad lines skipped; no geo database is configured/m, 'enrich: the summary');
    my $many = join '', map { "bad$_\n" } 1 .. 150;
    ($out, $err, $rc) = run(geo_env(''), \"$many 8.8.8.8\n", 'enrich');
    is($rc, 0, 'enrich: 150 bad lines are not fatal');
    my @reports = $err =~ /^ipe-run: enrich: line \d+: /mg;
    is(scalar @reports, 100, 'enrich: at most 100 bad lines reported');
    like($err, qr/^ipe-run: enrich: more bad lines follow; only the count is reported$/m, 'enrich: then only counted');
    like($err, qr/1 IP enriched, 150 bad lines skipped/, 'enrich: the count');
    is($out, "{\"ip\":\"8.8.8.8\",\"class\":\"public\",\"found\":false}\n", 'enrich without databases: the class');
    ($out, $err) = run(geo_env(''), \"\e]0;pwned\a\n", 'enrich');
    like($err, qr/line 1: '\\x1b\]0;pwned\\x07' is not an IP address/, 'enrich: control bytes in a bad line are escaped');
}

{
    my ($out, $err, $rc) = run(geo_env(''), 'enrich', '/nonexistent/ips.txt');
    is($rc, 3, 'enrich: a missing input: exit 3');
    is($err, "ipe-run: enrich: cannot read /nonexistent/ips.txt: No such file or directory\n", 'enrich: a missing input: message');
    ($out, $err, $rc) = run(geo_env(''), 'enrich', '/tmp');
    is($rc, 3, 'enrich: a directory: exit 3');
    ($out, $err, $rc) = run(geo_env(''), \"1.2.3.4\n", 'enrich', '-f', 'xml');
    is($rc, 2, 'enrich: an unknown format: exit 2');
    is($err, "ipe-run: enrich: unknown format 'xml' (use jsonl or csv)\n", 'enrich: an unknown format: message');
    ($out, $err, $rc) = run(geo_env(''), 'enrich', 'a', 'b');
    is($rc, 2, 'enrich: two inputs: exit 2');
}

{
    my $dir = tmpdir();
    my ($out, $err, $rc) = run(geo_env($ALL), \"216.160.83.56\n", 'enrich', '-o', "$dir/out.jsonl");
    is($rc, 0, 'enrich -o: exit 0');
    is($out, '', 'enrich -o: nothing on stdout');
    is(slurp("$dir/out.jsonl"), "$MILTON\n", 'enrich -o: the file');
    opendir my $dh, $dir or die;
    is_deeply([ sort grep { !/^\./ } readdir $dh ], [ 'out.jsonl' ], 'enrich -o: no temporary file left behind');
    ($out, $err, $rc) = run(geo_env($ALL), \"216.160.83.56\n", 'enrich', '-o', '/dev/null');
    is($rc, 0, 'enrich -o /dev/null: exit 0');
    ok(-c '/dev/null', 'enrich -o /dev/null: writes to the device, never renames over it');
}

# --- every broken database, with its exact message -----------------------------------------

my %open_error = (
    'bad-data/libmaxminddb/libmaxminddb-corrupt-search-tree.mmdb' => 'the search tree is corrupt (99 of its 100 nodes are unreachable)',
    'bad-data/libmaxminddb/libmaxminddb-metadata-marker-only.mmdb' => 'the metadata is incomplete',
    'bad-data/libmaxminddb/libmaxminddb-offset-integer-overflow.mmdb' => 'the metadata section contains bad data',
    'bad-data/libmaxminddb/libmaxminddb-separator-record-max-left.mmdb' => 'the search tree is corrupt (node 0 points into the data section separator)',
    'bad-data/libmaxminddb/libmaxminddb-separator-record-min-left.mmdb' => 'the search tree is corrupt (node 0 points into the data section separator)',
    'bad-data/libmaxminddb/libmaxminddb-separator-record-min-right.mmdb' => 'the search tree is corrupt (node 0 points into the data section separator)',
    'bad-data/libmaxminddb/libmaxminddb-uint64-max-epoch.mmdb' => 'the metadata build_epoch 18446744073709551615 is not a plausible time',
    'bad-data/maxminddb-golang/cyclic-data-structure.mmdb' => 'the metadata section contains bad data',
    'bad-data/maxminddb-golang/invalid-bytes-length.mmdb' => 'the metadata section contains bad data',
    'bad-data/maxminddb-golang/invalid-data-record-offset.mmdb' => 'the metadata section contains bad data',
    'bad-data/maxminddb-golang/invalid-map-key-length.mmdb' => 'the metadata section contains bad data',
    'bad-data/maxminddb-golang/invalid-string-length.mmdb' => 'the metadata section contains bad data',
    'bad-data/maxminddb-golang/metadata-is-an-uint128.mmdb' => 'the metadata section contains bad data',
    'bad-data/maxminddb-golang/unexpected-bytes.mmdb' => 'the metadata section contains bad data',
    'bad-data/maxminddb-python/bad-unicode-in-map-key.mmdb' => 'the data section separator is not 16 zero bytes',
    'test-data/GeoIP2-City-Test-Invalid-Node-Count.mmdb' => 'the metadata is invalid',
    'test-data/MaxMind-DB-test-broken-pointers-24.mmdb' => 'the search tree is corrupt (node 36 points past the end of the data section)',
    'test-data/MaxMind-DB-test-broken-search-tree-24.mmdb' => 'the search tree is corrupt (112 of its 164 nodes are unreachable)',
    'test-data/maps-with-pointers.raw' => 'not a MaxMind DB file (no metadata section)',
);
my %lookup_error = (   # file => [ip, reason]
    'bad-data/libmaxminddb/libmaxminddb-deep-array-nesting.mmdb' => [ '1.1.1.1', 'the data section contains bad data' ],
    'bad-data/libmaxminddb/libmaxminddb-deep-nesting.mmdb' => [ '1.1.1.1', 'the data section contains bad data' ],
    'bad-data/libmaxminddb/libmaxminddb-oversized-array.mmdb' => [ '1.1.1.1', 'the data section contains bad data' ],
    'bad-data/libmaxminddb/libmaxminddb-oversized-map.mmdb' => [ '1.1.1.1', 'the data section contains bad data' ],
    'test-data/GeoIP2-City-Test-Broken-Double-Format.mmdb' => [ '81.2.69.160', 'the data section contains bad data' ],
);
# Valid databases among bad-data (regression fixtures of libmaxminddb's metadata parser).
my %valid = map { ("bad-data/libmaxminddb/libmaxminddb-$_.mmdb" => 1) } qw(empty-array-last-in-metadata empty-map-last-in-metadata);

{
    my @all;
    for my $sub ('bad-data/libmaxminddb', 'bad-data/maxminddb-golang', 'bad-data/maxminddb-python') {
        opendir my $dh, "$F/$sub" or die "$F/$sub: $!";
        push @all, map { "$sub/$_" } grep { /\.mmdb$/ } readdir $dh;
    }
    push @all, 'test-data/maps-with-pointers.raw', map { "test-data/$_.mmdb" }
        qw(GeoIP2-City-Test-Invalid-Node-Count MaxMind-DB-test-broken-pointers-24 MaxMind-DB-test-broken-search-tree-24
           GeoIP2-City-Test-Broken-Double-Format);
    for my $file (sort @all) {
        my $path = "$F/$file";
        if (my $why = $open_error{$file}) {
            my ($out, $err, $rc) = run(geo_env("$path:$D/GeoLite2-ASN-Test.mmdb"), \"1.128.0.0\n", 'enrich');
            is($rc, 0, "$file: enrich goes on with the other databases");
            my (undef, $alone) = run(geo_env($path), \"1.128.0.0\n", 'enrich');
            like($alone, qr/none of the configured geo databases can be used \(see the warnings above\)/,
                 "$file: enrich alone: the summary says no database could be used");
            is((split /\n/, $err)[0], "ipe-run: enrich: warning: $path: $why (skipped)", "$file: enrich: one clear error");
            like($out, qr/"asn":1221/, "$file: enrich: the other database still answers");
            ($out, $err, $rc) = run(geo_env($path), 'insight', 'ip-details', '1.128.0.0', '-f', 'json');
            is($rc, 0, "$file: ip-details: exit 0");
            my $row = rows(decode_json($out), 'databases')->[0];
            is_deeply([ $row->{Status}, $row->{Error} ], [ 'error', "$path: $why" ], "$file: ip-details: the error row");
        } elsif (my $look = $lookup_error{$file}) {
            my ($ip, $why) = @$look;
            my ($out, $err, $rc) = run(geo_env($path), \"$ip\n", 'enrich');
            is($rc, 0, "$file: enrich: exit 0");
            is((split /\n/, $err)[0], "ipe-run: enrich: line 1: warning: $path: lookup of $ip failed: $why",
               "$file: enrich: one clear error for the lookup");
            is($out, "{\"ip\":\"$ip\",\"class\":\"public\",\"found\":false}\n", "$file: enrich: the line is still written");
            ($out, $err, $rc) = run(geo_env($path), 'insight', 'ip-details', $ip, '-f', 'json');
            my $row = rows(decode_json($out), 'databases')->[0];
            is_deeply([ $row->{Status}, $row->{Error} ], [ 'error', "$path: lookup of $ip failed: $why" ],
                      "$file: ip-details: the error row");
        } elsif ($valid{$file}) {
            my ($out, $err, $rc) = run(geo_env($path), \"1.1.1.1\n", 'enrich');
            is($rc, 0, "$file: a valid database: exit 0");
            like($err, qr/^ipe-run: enrich: 1 IP enriched \(1 found in a geo database\)/, "$file: a valid database opens and answers");
        } else {
            fail("$file: no expectation for this file");
        }
    }
}

done_testing();
