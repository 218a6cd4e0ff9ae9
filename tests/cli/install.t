#!/usr/bin/perl
# make install PREFIX=...: the binary finds its scripts under $PREFIX/share/ipe from
# any directory, and the man page is installed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IpeTest;
use Test::More;

my $root = repo_root();
my $prefix = tmpdir() . "/prefix";
# its own make, not the variables of a make that runs the tests (make asan's B= and BIN= name
# another binary): install builds and installs the plain ipe-run
my $rc = system("env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C '$root' install PREFIX='$prefix' >/dev/null 2>&1");
is($rc, 0, 'make install PREFIX= succeeds');
ok(-x "$prefix/bin/ipe-run", 'the binary is installed');
ok(-f "$prefix/share/man/man1/ipe-run.1", 'the man page is installed');
ok(-f "$prefix/share/ipe/insights/remote-connections.lua", 'the insights are installed');
ok(-f "$prefix/share/ipe/data/demo-geo/$_", "the demo's geo data: $_ is installed")
    for qw(GeoIP2-City-Test.mmdb GeoIP2-ISP-Test.mmdb GeoLite2-ASN-Test.mmdb LICENSE-APACHE LICENSE-MIT README.md);

my $db = demo_db();
my $cwd = tmpdir();
chdir $cwd or die;
my $out = `'$prefix/bin/ipe-run' list insights -f csv 2>&1`;
like($out, qr{^insight,remote-connections,.*,\Q$prefix\E/share/ipe/insights/remote-connections\.lua\r$}m,
     'the installed binary finds its scripts in $PREFIX/share/ipe');
$out = `'$prefix/bin/ipe-run' insight remote-connections 89.160.20.128 --db '$db' --now 2026-11-27T12:00:00Z -f csv 2>&1`;
like($out, qr/^wks-007,10\.0\.2\.17,outbound,443\/tcp,allow,1440,/m, 'and runs them from any directory');
$out = `'$prefix/bin/ipe-run' insight ip-details 89.160.20.128 --db '$db' -f csv 2>&1`;
like($out, qr/^City,Link\x{c3}\x{b6}ping,"GeoIP2-City-Test\.mmdb \(MaxMind test data, not real\)",2026-02-04\r$/m,
     'the installed binary finds the demo workspace\'s geo databases in $PREFIX/share/ipe/data/demo-geo');
chdir $root;
done_testing();
