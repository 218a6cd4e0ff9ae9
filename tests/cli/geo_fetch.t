#!/usr/bin/perl
# ipe-run geo fetch (issue 11 item 6) against a local mock download server (tests/lib/MockTI.pm):
# DB-IP Lite (.mmdb.gz, month-dated, last month's when this month's is not out) and GeoLite2
# (.tar.gz behind a licence key and a redirect) are downloaded, decompressed, checked and
# installed in $XDG_DATA_HOME/ipe/geo, where ipe then finds them; every bad download (HTTP
# errors, truncated or non-gzip data, not a MaxMind DB, the wrong edition, a missing archive
# member) installs nothing, keeps what was there and leaves no temporary file; the licence
# key never shows.
#
# The served databases are MaxMind's test databases; the DB-IP ones get DB-IP's database_type
# by a rewrite of their metadata string (the values stay MaxMind's test values).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IpeTest;
use MockTI;
use Test::More;
use IO::Compress::Gzip qw(gzip $GzipError);
use Archive::Tar;

my $D = fixtures_dir() . '/mmdb/test-data';

# set_type(bytes, old, new): the metadata's database_type string, re-encoded (MaxMind DB spec:
# a UTF-8 string's control byte is 0x40 | length below 29, else 0x40 | 29 and length - 29). The
# languages array's elements are pointers into the metadata, which a longer string would shift:
# they are replaced by the strings they point to first.
sub set_type {
    my ($db, $old, $new) = @_;
    my $enc = sub { my $s = shift; length($s) < 29 ? chr(0x40 | length $s) . $s : chr(0x5d) . chr(length($s) - 29) . $s };
    my $marker = "\xab\xcd\xefMaxMind.com";
    my $at = rindex($db, $marker);
    die "no metadata" if $at < 0;
    my $meta = substr($db, $at + length $marker);
    my $l = index($meta, "Ilanguages") + length "Ilanguages";
    my ($c, $x) = map { ord } split //, substr($meta, $l, 2);
    die "languages is not a short array" unless $c >> 5 == 0 && $x == 4;
    my ($pos, @items) = ($l + 2);
    for (1 .. ($c & 0x1f)) {
        my $b = ord substr($meta, $pos, 1);
        my $off = $b >> 5 == 1 && !($b & 0x18) ? (($b & 7) << 8) | ord substr($meta, $pos + 1, 1) : $pos;
        my $len = ord(substr($meta, $off, 1)) & 0x1f;
        die "not a short string" unless ord(substr($meta, $off, 1)) >> 5 == 2 && $len < 29;
        push @items, substr($meta, $off, 1 + $len);
        $pos += $off == $pos ? 1 + $len : 2;
    }
    substr($meta, $l + 2, $pos - $l - 2) = join '', @items;
    my $from = "\x4ddatabase_type" . $enc->($old);
    $meta =~ s/\Q$from\E/"\x4ddatabase_type" . $enc->($new)/e or die "no database_type '$old'";
    return substr($db, 0, $at) . $marker . $meta;
}
sub gz { my $in = shift; my $out; gzip(\$in => \$out) or die $GzipError; $out }
sub tgz {
    my (%files) = @_;
    my $tar = Archive::Tar->new;
    $tar->add_data($_, $files{$_}) for sort keys %files;
    my $dir = tmpdir();
    $tar->write("$dir/x.tar") or die;
    return gz(slurp("$dir/x.tar"));
}

my $CITY = set_type(slurp("$D/GeoIP2-City-Test.mmdb"), 'GeoIP2-City', 'DBIP-City-Lite');
my $ASN = set_type(slurp("$D/GeoLite2-ASN-Test.mmdb"), 'GeoLite2-ASN', 'DBIP-ASN-Lite (compat=GeoLite2-ASN)');
my $GL_CITY = slurp("$D/GeoLite2-City-Test.mmdb");
my $KEY = 'mm-licence-9f8e7d6c5b4a';
my $GZ = { 'Content-Type' => 'application/gzip' };
my $good_city = gz($CITY);
my %files = (
    '/ok/city-2026-11.mmdb.gz' => [200, $good_city, $GZ],
    '/ok/asn-2026-11.mmdb.gz' => [404, 'Not Found'],              # not out yet: last month's
    '/ok/asn-2026-10.mmdb.gz' => [200, gz($ASN), $GZ],
    '/ok/country-2026-11.mmdb.gz' => [404, 'Not Found'],
    '/ok/country-2026-10.mmdb.gz' => [404, 'Not Found'],
    '/e500/city-2026-11.mmdb.gz' => [500, 'oops'],
    '/cut/city-2026-11.mmdb.gz' => [200, substr($good_city, 0, int(length($good_city) / 2)), $GZ],
    '/html/city-2026-11.mmdb.gz' => [200, '<html><body>Please accept the licence</body></html>', { 'Content-Type' => 'text/html' }],
    '/notmmdb/city-2026-11.mmdb.gz' => [200, gz("just some text, not a database\n" x 100), $GZ],
    '/wrongtype/city-2026-11.mmdb.gz' => [200, gz($ASN), $GZ],
    '/broken/city-2026-11.mmdb.gz' => [200, gz(set_type(slurp("$D/GeoIP2-City-Test-Broken-Double-Format.mmdb"), 'GeoIP2-City', 'DBIP-City-Lite')), $GZ],
    '/mm/GeoLite2-City' => [302, '', { Location => '/storage/GeoLite2-City_20260204.tar.gz' }],
    '/storage/GeoLite2-City_20260204.tar.gz' => [200, tgz('GeoLite2-City_20260204/COPYRIGHT.txt' => "test\n",
                                                          'GeoLite2-City_20260204/GeoLite2-City.mmdb' => $GL_CITY), $GZ],
    '/mm/GeoLite2-ASN' => [200, tgz('GeoLite2-ASN_20260204/README.txt' => "no database here\n"), $GZ],
);
my $mock = MockTI->start(files => \%files, license_key => $KEY, license_prefix => '/mm/');
my $port = $mock->port;

sub setup {
    my (%o) = @_;
    my $home = tmpdir();
    mkdir "$home/config";
    mkdir "$home/config/ipe";
    my $mode = $o{mode} // 'ok';
    my $text = "[geoip]\ndbip_url = " . ($o{dbip_url} // "http://127.0.0.1:$port/$mode/{edition}-{month}.mmdb.gz") . "\n"
             . "maxmind_url = http://127.0.0.1:$port/mm/{edition}?license_key={key}&suffix=tar.gz\n";
    spew("$home/config/ipe/config", $text);
    chmod 0600, "$home/config/ipe/config";
    return { XDG_DATA_HOME => $home, XDG_CONFIG_HOME => "$home/config", XDG_STATE_HOME => "$home/state",
             HOME => $home, %{ $o{env} || {} } };
}
sub geo_dir { "$_[0]{XDG_DATA_HOME}/ipe/geo" }
sub listing {
    my $dir = shift;
    opendir my $dh, $dir or return ();
    return sort grep { !/^\.\.?$/ } readdir $dh;
}

# 1. DB-IP Lite: city and asn (asn from last month), installed and used.
{
    my $env = setup();
    $mock->clear;
    my ($out, $err, $rc) = ipe({ env => $env }, 'geo', 'fetch');
    is($rc, 0, 'geo fetch (DB-IP Lite city and asn): exit 0');
    is($err, '', 'geo fetch: nothing on stderr');
    my $dir = geo_dir($env);
    is($out, "installed $dir/dbip-city-lite.mmdb: DBIP-City-Lite, built 2026-02-04, " . length($CITY) . " bytes (DB-IP Lite city)\n"
           . "installed $dir/dbip-asn-lite.mmdb: DBIP-ASN-Lite (compat=GeoLite2-ASN), built 2026-02-04, " . length($ASN)
           . " bytes (DB-IP Lite asn)\n"
           . "licence: CC BY 4.0: credit \"IP Geolocation by DB-IP\" (https://db-ip.com) wherever you show its data\n",
       'geo fetch: what was installed, with the licence');
    ok(slurp("$dir/dbip-city-lite.mmdb") eq $CITY, 'the city database is the served one, decompressed');
    ok(slurp("$dir/dbip-asn-lite.mmdb") eq $ASN, 'the asn database is the served one, decompressed');
    is_deeply([ listing($dir) ], [ 'dbip-asn-lite.mmdb', 'dbip-city-lite.mmdb' ], 'no temporary file left');
    is_deeply([ $mock->requests ], [ 'file GET /ok/city-2026-11.mmdb.gz key=unchecked', 'file GET /ok/asn-2026-11.mmdb.gz key=unchecked',
                                    'file GET /ok/asn-2026-10.mmdb.gz key=unchecked' ],
              'this month\'s file, and last month\'s when this month\'s is not out');
    ($out, $err, $rc) = ipe({ env => $env }, 'geo', 'list', '--db', '/nonexistent/ws.db');
    is($out, "geo databases: $dir (ipe-run geo fetch)\n"
           . "  dbip-city-lite.mmdb  DBIP-City-Lite, built 2026-02-04  $dir/dbip-city-lite.mmdb\n"
           . "  dbip-asn-lite.mmdb  DBIP-ASN-Lite (compat=GeoLite2-ASN), built 2026-02-04  $dir/dbip-asn-lite.mmdb\n",
       'geo list: the fetched databases are found, city first');
    {   # [geoip] paths in the config file, and IPE_GEOIP, win over the fetched databases
        my $cfg = "$env->{XDG_CONFIG_HOME}/ipe/config";
        my $text = slurp($cfg);
        spew($cfg, $text . "paths = $D/GeoLite2-Country-Test.mmdb\n");
        my ($o) = ipe({ env => $env }, 'geo', 'list');
        like($o, qr{^geo databases: \Q$cfg\E \[geoip\] paths\n  GeoLite2-Country-Test\.mmdb  GeoLite2-Country, }, 'config paths win over fetched ones');
        spew($cfg, $text);
        ($o) = ipe({ env => { %$env, IPE_GEOIP => "$D/GeoLite2-ASN-Test.mmdb" } }, 'geo', 'list');
        like($o, qr{^geo databases: IPE_GEOIP\n  GeoLite2-ASN-Test\.mmdb  GeoLite2-ASN, }, 'IPE_GEOIP wins over everything');
    }
    ($out, $err, $rc) = ipe({ env => $env }, 'insight', 'ip-details', '89.160.20.128', '-f', 'csv');
    like($out, qr/^City,Link\x{c3}\x{b6}ping,dbip-city-lite\.mmdb,2026-02-04\r$/m, 'ip-details answers from the fetched database');
    like($out, qr/^ASN,29518,dbip-asn-lite\.mmdb,2026-02-04\r$/m, 'and names it (not as test data)');

    # 2. Every bad download: nothing installed, what was there kept, no temporary file, one line.
    my %before = map { ($_ => slurp("$dir/$_")) } listing($dir);
    my $host = "127.0.0.1:$port";
    my @bad = (
        ['e500', ['city'], "ipe-run: geo fetch: DB-IP Lite city: download from $host failed: HTTP 500\n"],
        ['cut', ['city'], "ipe-run: geo fetch: DB-IP Lite city: city-2026-11.mmdb.gz: not a valid gzip file (truncated)\n"],
        ['html', ['city'], "ipe-run: geo fetch: DB-IP Lite city: city-2026-11.mmdb.gz: not a valid gzip file (incorrect header check)\n"],
        ['notmmdb', ['city'], qr/^ipe-run: geo fetch: DB-IP Lite city: the download is not a usable MaxMind DB file: city-2026-11\.mmdb\.gz: .+\n\z/],
        ['wrongtype', ['city'], "ipe-run: geo fetch: DB-IP Lite city: the download is a 'DBIP-ASN-Lite (compat=GeoLite2-ASN)' database, not the city edition\n"],
        ['broken', ['city'], qr/^ipe-run: geo fetch: DB-IP Lite city: the download failed verification: city-2026-11\.mmdb\.gz: .+\n\z/],
        ['ok', ['city', 'country'], "ipe-run: geo fetch: DB-IP Lite country: download from $host failed: HTTP 404\n"],
        ['nowhere', ['asn'], "ipe-run: geo fetch: DB-IP Lite asn: download from $host failed: HTTP 400\n"],
    );
    for my $case (@bad) {
        my ($mode, $editions, $want) = @$case;
        my $e = setup(mode => $mode);
        $e->{XDG_DATA_HOME} = $env->{XDG_DATA_HOME};
        ($out, $err, $rc) = ipe({ env => $e }, 'geo', 'fetch', @$editions);
        my $what = "$mode (" . join(',', @$editions) . ')';
        is($rc, 1, "$what: exit 1");
        ref $want ? like($err, $want, "$what: the one line") : is($err, $want, "$what: the one line");
        is($out, '', "$what: nothing on stdout");
        is_deeply([ listing($dir) ], [ sort keys %before ], "$what: nothing installed, no temporary file");
        is(scalar(grep { slurp("$dir/$_") ne $before{$_} } keys %before), 0, "$what: the databases already there are untouched");
    }
}

# 3. GeoLite2 with a licence key: a redirect to the archive, the .mmdb out of the .tar.gz.
{
    my $env = setup(env => { MAXMIND_LICENSE_KEY => $KEY });
    $mock->clear;
    my ($out, $err, $rc) = ipe({ env => $env }, 'geo', 'fetch', 'city', '--source', 'maxmind');
    is($rc, 0, 'geo fetch --source maxmind: exit 0');
    my $dir = geo_dir($env);
    is($out, "installed $dir/GeoLite2-City.mmdb: GeoLite2-City, built 2026-02-04, " . length($GL_CITY) . " bytes (MaxMind GeoLite2 city)\n"
           . "licence: GeoLite2 End User License Agreement (https://www.maxmind.com/en/geolite2/eula)\n", 'GeoLite2 City installed');
    ok(slurp("$dir/GeoLite2-City.mmdb") eq $GL_CITY, 'the .mmdb of the archive, byte for byte');
    is_deeply([ $mock->requests ], [ 'file GET /mm/GeoLite2-City key=ok', 'file GET /storage/GeoLite2-City_20260204.tar.gz key=unchecked' ],
              'the key went with the request (and the redirect was followed)');

    ($out, $err, $rc) = ipe({ env => $env }, 'geo', 'fetch', 'asn', '--source', 'maxmind');
    is($err, "ipe-run: geo fetch: MaxMind GeoLite2 asn: the download: the archive holds no GeoLite2-ASN.mmdb\n",
       'an archive without the database: the one line');
    is_deeply([ listing($dir) ], [ 'GeoLite2-City.mmdb' ], 'nothing installed, no temporary file');

    my $bad = setup(env => { MAXMIND_LICENSE_KEY => 'wrong-key-1234' });
    ($out, $err, $rc) = ipe({ env => $bad }, 'geo', 'fetch', 'city', '--source', 'maxmind', '-v');
    is($rc, 1, 'a wrong licence key: exit 1');
    is($err, "ipe-run: geo fetch: MaxMind GeoLite2 city: download from 127.0.0.1:$port failed: HTTP 401 (is the licence key right?)\n",
       'a wrong licence key: the one line, without the key (even with -v)');
    is_deeply([ listing(geo_dir($bad)) ], [], 'a wrong licence key: nothing installed');
    my ($o2, $e2) = ipe({ env => setup(env => { MAXMIND_LICENSE_KEY => $KEY }) }, 'geo', 'fetch', 'asn', '--source', 'maxmind', '-v');
    unlike($o2 . $e2 . $out . $err, qr/\Q$KEY\E|wrong-key-1234/, 'the licence key never shows');
    ok(!(grep { /\Q$KEY\E/ } $mock->requests), '(nor in the mock\'s log)');

    ($out, $err, $rc) = ipe({ env => setup(env => { MAXMIND_LICENSE_KEY => '' }) }, 'geo', 'fetch', '--source', 'maxmind');
    is($rc, 2, 'no licence key: exit 2');
    like($err, qr/^ipe-run: geo fetch --source maxmind needs a GeoLite2 licence key: set MAXMIND_LICENSE_KEY /, 'no licence key: says how');
}

# 4. Usage errors.
{
    my @usage = (
        [['geo', 'fetch', 'planet'], "ipe-run: geo fetch: unknown edition 'planet' (city, asn, country)\n"],
        [['geo', 'fetch', '--source', 'ipinfo'], "ipe-run: geo fetch: unknown source 'ipinfo' (dbip or maxmind)\n"],
        [['geo'], "ipe-run: geo: say what to do: list or fetch (see 'ipe-run geo --help')\n"],
        [['geo', 'update'], "ipe-run: geo: unknown command 'update' (list or fetch)\n"],
    );
    for my $u (@usage) {
        my ($out, $err, $rc) = ipe({ env => setup() }, @{ $u->[0] });
        is($rc, 2, "@{$u->[0]}: exit 2");
        is($err, $u->[1], "@{$u->[0]}: the one line");
    }
    my $env = setup(dbip_url => 'http://download.example.com/{edition}.mmdb.gz');
    my ($out, $err, $rc) = ipe({ env => $env }, 'geo', 'fetch');
    is($err, "ipe-run: geo fetch: [geoip] dbip_url 'http://download.example.com/{edition}.mmdb.gz' is not an https URL (plain http only to this machine)\n",
       'plain http to another machine is refused');
    is($rc, 2, 'plain http: exit 2');
    is_deeply([ listing(geo_dir($env)) ], [], 'plain http: nothing fetched');
}

done_testing();
