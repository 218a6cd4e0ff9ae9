#!/usr/bin/perl
# ipe-run hunt end to end: the query header and raw results in every format,
# --show-query, --edit with a scripted $EDITOR (copy, defaults, run, in-place
# re-edit, a failing editor), insight --as-hunt, hunts that try to write, and
# every bad input with its exact line and exit code.
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

sub run_ok {
    my ($name, $want_rc, @args) = @_;
    my ($out, $err, $rc) = ipe(@args);
    is($rc, $want_rc, "$name: exit code $want_rc") or diag("stderr: $err");
    return ($out, $err);
}

# --help, list, help, check
for my $verb (qw(hunt action audit)) {
    my ($out) = run_ok("$verb --help", 0, $verb, '--help');
    like($out, qr/^usage: ipe-run \Q$verb\E/, "$verb --help prints its usage");
}
{
    my ($out) = run_ok('list hunts', 0, 'list', 'hunts', '-f', 'csv');
    my @names = sort map { (split /,/)[1] } grep { /^hunt,/ } split /\r\n/, $out;
    is_deeply(\@names, [qw(beaconing-to-ip failed-logons-from-ip firewall-traffic-for-ip hosts-contacting-ip
                          ip-everywhere multiple-users-from-ip new-ips-first-seen rare-ports-to-ip signins-from-ip
                          subnet-sweep ti-matches-in-traffic)], 'list hunts: the eleven built-in hunts');
    ($out) = run_ok('help hunt', 0, 'help', 'hunt', 'beaconing-to-ip');
    like($out, qr/^hunt beaconing-to-ip — Beaconing to the IP$/m, 'help: title');
    like($out, qr/^  max_jitter_pct\s+int\s+at most this standard deviation/m, 'help: typed parameters');
    ($out) = run_ok('check', 0, 'check');
    like($out, qr/^ok   hunt subnet-sweep$/m, 'check: hunts pass the contract');
}

# the query with its bound values as a header, then the raw results
{
    my ($out) = run_ok('hunt table', 0, { env => { COLUMNS => 200 } }, 'hunt', 'beaconing-to-ip', '--ip', $C2, '--db', $db);
    like($out, qr/\A-- hunt beaconing-to-ip: KQL\n-- \| let ip = "0\.0\.0\.0";\n(?:-- \|.*\n)+-- hunt beaconing-to-ip: query 1 \(from=2026-11-20T12:00:00\.000Z to=2026-11-27T12:00:00\.000Z k1=89\.160\.20\.128 (?:k\d+=\S+ )*k2=20 (?:k\d+=\S+ )*k3=10 .*\)\nWITH "_k1" AS NOT MATERIALIZED \(/,
         'table: the KQL, then the query and its bound values first');
    like($out, qr/^\nbeaconing-to-ip — Beaconing to the IP\nip=89\.160\.20\.128  min_connections=20  max_jitter_pct=10  from /m,
         'table: then the heading and the parameters');
    my @hosts = $out =~ /^DeviceNetworkEvents\s+(wks-\d+)\.contoso\.com\s+1,440\s+300\s/mg;
    is_deeply([sort @hosts], [qw(wks-007 wks-013 wks-021)], 'table: the beaconing hosts');
    ($out) = run_ok('hunt csv', 0, 'hunt', 'beaconing-to-ip', '--ip', $C2, '--db', $db, '-f', 'csv');
    like($out, qr/\ASource,Host,Connections,IntervalSec,StdDevSec,JitterPct,FirstSeen,LastSeen\r\n/, 'csv: data only');
    is(scalar(() = $out =~ /\r\n/g), 7, 'csv: header and six rows');
    ($out) = run_ok('hunt md', 0, 'hunt', 'beaconing-to-ip', '--ip', $C2, '--db', $db, '-f', 'md');
    like($out, qr/\A```sql\n-- hunt beaconing-to-ip: KQL\n/, 'md: the query fenced');
    like($out, qr/^\| Source\s+\| Host\s+\|/m, 'md: the results');
    ($out) = run_ok('hunt json', 0, 'hunt', 'beaconing-to-ip', '--ip', $C2, '--db', $db, '-f', 'json');
    my $j = decode_json($out);
    is($j->{kind}, 'hunt', 'json: kind');
    is_deeply([@{ $j->{queries}[0]{params} }{qw(k1 k2 k3)}], ['89.160.20.128', 20, 10], 'json: the bound values');
    like($j->{queries}[0]{sql}, qr/^WITH "_k1" AS NOT MATERIALIZED/, 'json: the query');
    is(scalar @{ $j->{sections}[0]{rows} }, 6, 'json: the rows');
    my $file = "$db.hunt.csv";
    ($out) = run_ok('hunt -o', 0, 'hunt', 'beaconing-to-ip', '--ip', $C2, '--db', $db, '-f', 'csv', '-o', $file);
    is($out, '', '-o: nothing on stdout');
    like(slurp($file), qr/\ASource,Host,/, '-o: the file holds the rows');
}

# --show-query prints only the query
{
    my ($out) = run_ok('show-query', 0, 'hunt', 'multiple-users-from-ip', '--ip', $SPRAY, '--db', $db, '--show-query');
    like($out, qr/\A-- hunt multiple-users-from-ip: KQL\n-- \| let ip = "0\.0\.0\.0";\n/, 'show-query: the KQL first');
    like($out, qr/^-- hunt multiple-users-from-ip: query 1 \(from=\S+ to=\S+ k1=216\.160\.83\.56 .*\)\nWITH /m,
         'show-query: the summary query with its bound values');
    like($out, qr/^-- hunt multiple-users-from-ip: query 2 \(from=\S+ to=\S+ k1=216\.160\.83\.56 .*\)\nWITH /m,
         'show-query: the accounts query (the batch\'s second statement)');
    unlike($out, qr/grady\.archie|Password-spray pattern/, 'show-query: no rows, no results');
    ($out) = run_ok('show-query empty', 0, 'hunt', 'beaconing-to-ip', '--ip', '192.0.2.200', '--db', $db, '--show-query');
    like($out, qr/\A-- hunt beaconing-to-ip: KQL\n/, 'show-query: printed (exit 0) even when nothing matches');
    ($out) = run_ok('show-query json', 0, 'hunt', 'subnet-sweep', '-p', 'cidr=10.0.1.0/24', '--db', $db, '--show-query', '-f', 'json');
    my $j = decode_json($out);
    is($j->{queries}[0]{params}{cidr}, '10.0.1.0/24', 'show-query json: the bound CIDR');
    ok(!exists $j->{sections}, 'show-query json: no sections');
}

# the stories, from the command line
{
    my ($out) = run_ok('spray', 0, 'hunt', 'multiple-users-from-ip', '--ip', $SPRAY, '--db', $db, '-f', 'csv');
    like($out, qr/^SigninLogs,30,62,60,2,96\.8,/m, 'multiple-users-from-ip: the spray source');
    ($out) = run_ok('sweep', 0, 'hunt', 'subnet-sweep', '-p', 'cidr=10.0.1.0/24', '--db', $db, '-f', 'csv');
    like($out, qr/^CommonSecurityLog,10\.0\.4\.99,wks-040,240,/m, 'subnet-sweep: the sweep');
    ($out) = run_ok('rare port', 0, 'hunt', 'rare-ports-to-ip', '--ip', '45.33.32.156', '--db', $db, '-f', 'csv');
    like($out, qr/^4444,10,wks-031,10,1,/m, 'rare-ports-to-ip: port 4444');
    ($out) = run_ok('ti match', 0, 'hunt', 'ti-matches-in-traffic', '--db', $db, '-f', 'csv');
    is(scalar(() = $out =~ /^89\.160\.20\.128,C2,/mg), 6, 'ti-matches-in-traffic: the C2 traffic');
    ($out) = run_ok('nothing', 1, 'hunt', 'beaconing-to-ip', '--ip', '151.101.1.140', '--db', $db);
    like($out, qr/^no results$/m, 'a hunt that finds nothing: exit 1');
}

# bad input: one line, documented exit code, nothing on stdout
my @bad = (
    [['hunt'], 2, "ipe-run: hunt: which hunt? usage: ipe-run hunt <name> [--ip IP] (see 'ipe-run list hunts')\n"],
    [['hunt', 'beaconing-to-iq', '--ip', $C2, '--db', $db], 3,
     "ipe-run: no hunt named 'beaconing-to-iq' (did you mean: beaconing-to-ip?)\n"],
    [['hunt', 'beaconing-to-ip', '--db', $db], 2,
     "ipe-run: hunt 'beaconing-to-ip': parameter 'ip' is required (the IP address connected to)\n"],
    [['hunt', 'beaconing-to-ip', '--ip', '1.2.3.999', '--db', $db], 2,
     "ipe-run: hunt 'beaconing-to-ip': parameter 'ip': '1.2.3.999' is not an IP address\n"],
    [['hunt', 'beaconing-to-ip', '--ip', $C2, '-p', 'min_connections=many', '--db', $db], 2,
     "ipe-run: hunt 'beaconing-to-ip': parameter 'min_connections': 'many' is not a whole number\n"],
    [['hunt', 'beaconing-to-ip', '--ip', $C2, '-p', 'max_jitter_pct=101', '--db', $db], 2,
     "ipe-run: hunt 'beaconing-to-ip': parameter 'max_jitter_pct': 101 is above the maximum 100\n"],
    [['hunt', 'subnet-sweep', '-p', 'cidr=10.0.1.0/33', '--db', $db], 2,
     "ipe-run: hunt 'subnet-sweep': parameter 'cidr': '10.0.1.0/33' is not a valid CIDR: prefix length 33 is out of range 0-32\n"],
    [['hunt', 'subnet-sweep', '--ip', $C2, '-p', 'cidr=10.0.1.0/24', '--db', $db], 2,
     "ipe-run: hunt 'subnet-sweep' has no parameter 'ip' (parameters: cidr, min_hosts, limit)\n"],
    [['hunt', 'new-ips-first-seen', '-p', 'history=forever', '--db', $db], 2,
     "ipe-run: hunt 'new-ips-first-seen': parameter 'history': 'forever' is not a duration (use e.g. 7d, 12h, 30m)\n"],
    [['hunt', 'beaconing-to-ip', $C2, '--db', $db], 2,
     "ipe-run: hunt: unexpected argument '89.160.20.128' (give the IP with --ip, parameters with -p key=value)\n"],
    [['hunt', 'beaconing-to-ip', '--ip', $C2, '-p', "ip=$C2", '--db', $db], 2,
     "ipe-run: hunt: the IP is given twice (--ip and -p ip=)\n"],
    [['hunt', 'beaconing-to-ip', '--ip', $C2, '--edit', '--show-query', '--db', $db], 2,
     "ipe-run: hunt: --edit and --show-query exclude each other\n"],
    [['hunt', 'beaconing-to-ip', '--ip', $C2, '--since', '3x', '--db', $db], 2,
     "ipe-run: --since: '3x' is not a duration (use e.g. 7d, 12h, 30m)\n"],
    [['hunt', 'beaconing-to-ip', '--ip', $C2, '--db', '/nonexistent/ws.db'], 3,
     "ipe-run: no workspace at /nonexistent/ws.db; create one with 'ipe-run demo' (a demo workspace) or choose one with --db / IPE_DB\n"],
);
for my $case (@bad) {
    my ($args, $want_rc, $want_err) = @$case;
    my ($out, $err, $rc) = ipe(@$args);
    my $label = join(' ', @$args[0 .. ($#$args > 3 ? 3 : $#$args)]);
    is($rc, $want_rc, "bad input ($label): exit $want_rc");
    is($err, $want_err, "bad input ($label): the exact line");
    is($out, '', "bad input ($label): nothing on stdout");
}

# --edit with a scripted $EDITOR
my $home = tmpdir();
my $editor = "$home/editor.sh";
spew($editor, "#!/bin/sh\nsed -i 's/default = 20, min = 3/default = 1441, min = 3/' \"\$1\"\n");
chmod 0755, $editor;
my %env = (IPE_PATH => $home, EDITOR => $editor, XDG_DATA_HOME => "$home/xdg");
my $copy = "$home/hunts/beaconing-to-ip-89-160-20-128.lua";
{
    my ($out, $err, $rc) = ipe({ env => \%env }, 'hunt', 'beaconing-to-ip', '--ip', $C2, '-p', 'max_jitter_pct=5', '--edit', '--db', $db);
    is($rc, 1, '--edit: the edited copy ran and found nothing (threshold raised by the editor): exit 1');
    is($err, "ipe-run: hunt 'beaconing-to-ip-89-160-20-128' saved as $copy\n", '--edit: says where the copy is');
    like($out, qr/^-- hunt beaconing-to-ip-89-160-20-128: query 1 \(from=\S+ to=\S+ k1=89\.160\.20\.128 (?:k\d+=\S+ )*k2=1441 (?:k\d+=\S+ )*k3=5 .*\)\n/m,
         '--edit: the copy ran with the edited default and the given ones');
    ok(-f $copy, '--edit: the copy is in the first IPE_PATH entry\'s hunts/');
    my $text = slurp($copy);
    like($text, qr/^-- with new defaults: ip=89\.160\.20\.128, max_jitter_pct=5\.$/m, '--edit: the header names the new defaults');
    like($text, qr/\{ name = "ip", type = "ip", default = "89\.160\.20\.128", help = /, '--edit: ip became a default');
    like($text, qr/^  name = "beaconing-to-ip-89-160-20-128",$/m, '--edit: the copy has its own name');

    # the copy is a hunt like any other: found by name, runs without --ip
    ($out, $err, $rc) = ipe({ env => \%env }, 'hunt', 'beaconing-to-ip-89-160-20-128', '-p', 'min_connections=20', '--db', $db, '-f', 'csv');
    is($rc, 0, 'the copy runs by name');
    is(scalar(() = $out =~ /\r\n/g), 7, 'the copy finds the six beaconing rows with its stored ip');

    # editing the copy again edits it in place
    spew($editor, "#!/bin/sh\nexit 0\n");
    ($out, $err, $rc) = ipe({ env => \%env }, 'hunt', 'beaconing-to-ip-89-160-20-128', '-p', 'min_connections=1000', '--edit', '--db', $db, '-f', 'csv');
    is($rc, 0, 'in-place edit: ran');
    is($err, "ipe-run: hunt 'beaconing-to-ip-89-160-20-128' saved as $copy\n", 'in-place edit: same file');
    like(slurp($copy), qr/default = 1000, min = 3/, 'in-place edit: the new default stored');
    opendir(my $dh, "$home/hunts") or die; my @files = grep { /\.lua$/ } readdir $dh; closedir $dh;
    is(scalar @files, 1, 'in-place edit: no second copy');

    # a second copy of the original gets a new name
    ($out, $err, $rc) = ipe({ env => \%env }, 'hunt', 'beaconing-to-ip', '--ip', $C2, '--edit', '--db', $db, '-f', 'csv');
    is($err, "ipe-run: hunt 'beaconing-to-ip-89-160-20-128-2' saved as $home/hunts/beaconing-to-ip-89-160-20-128-2.lua\n",
       'a name already taken gets a suffix');

    # the editor fails: the copy is kept, not run
    ($out, $err, $rc) = ipe({ env => { %env, EDITOR => 'exit 4;' } }, 'hunt', 'ip-everywhere', '--ip', $SPRAY, '--edit', '--db', $db);
    my $kept = "$home/hunts/ip-everywhere-216-160-83-56.lua";
    is($rc, 1, 'failing editor: exit 1');
    is($err, "ipe-run: hunt 'ip-everywhere-216-160-83-56' saved as $kept\n"
           . "ipe-run: the editor 'exit 4;' exited with status 4; the copy $kept is kept and was not run\n",
       'failing editor: one line says so');
    is($out, '', 'failing editor: nothing ran');
    ok(-f $kept, 'failing editor: the copy is kept');

    # no IPE_PATH: $XDG_DATA_HOME/ipe/hunts, parameters other than the IP: "-custom"
    ($out, $err, $rc) = ipe({ env => { EDITOR => 'true', XDG_DATA_HOME => "$home/xdg", IPE_PATH => undef } },
        'hunt', 'subnet-sweep', '-p', 'cidr=10.0.1.0/24', '--edit', '--db', $db, '-f', 'csv');
    is($rc, 0, 'XDG folder: ran');
    is($err, "ipe-run: hunt 'subnet-sweep-custom' saved as $home/xdg/ipe/hunts/subnet-sweep-custom.lua\n",
       'XDG folder: the copy is in $XDG_DATA_HOME/ipe/hunts');
    like($out, qr/^CommonSecurityLog,10\.0\.4\.99,/m, 'XDG folder: the copy found the sweep');

    # a bad new default: refused before anything is copied
    ($out, $err, $rc) = ipe({ env => \%env }, 'hunt', 'rare-ports-to-ip', '--ip', '10.0.0.300', '--edit', '--db', $db);
    is($rc, 2, 'bad default: exit 2');
    is($err, "ipe-run: hunt 'rare-ports-to-ip': parameter 'ip': '10.0.0.300' is not an IP address\n", 'bad default: one line');
    ok(!-e "$home/hunts/rare-ports-to-ip-10-0-0-300.lua", 'bad default: no copy');
}

# insight --as-hunt
{
    my ($help) = ipe('insight', '--help');
    like($help, qr/^  --as-hunt +copy the insight as a hunt/m, '--as-hunt: documented in insight --help');
    my ($out, $err, $rc) = ipe({ env => { %env, EDITOR => 'true' } }, 'insight', 'remote-connections', $C2, '-p', 'limit=2',
                               '--as-hunt', '--db', $db, '-f', 'csv');
    is($rc, 0, '--as-hunt: ran');
    is($err, "ipe-run: insight 'remote-connections' copied as hunt 'remote-connections-89-160-20-128' saved as "
           . "$home/hunts/remote-connections-89-160-20-128.lua\n", '--as-hunt: a hunt copy');
    is(scalar(() = $out =~ /\r\n/g), 3, '--as-hunt: the copy ran with limit=2');
    like(slurp("$home/hunts/remote-connections-89-160-20-128.lua"), qr/^  kind = "hunt",$/m, '--as-hunt: kind hunt');
    ($out, $err, $rc) = ipe({ env => \%env }, 'list', 'hunts', '-f', 'csv');
    like($out, qr/^hunt,remote-connections-89-160-20-128,/m, '--as-hunt: listed as a hunt');
}

# hunts cannot write
{
    my $dir = tmpdir();
    mkdir "$dir/hunts";
    my $head = 'title = "t", summary = "s", description = "d", categories = { "offline" }, sources = {}, params = {}';
    spew("$dir/hunts/try-actions.lua", "return { name = \"try-actions\", kind = \"hunt\", $head,\n"
        . "  run = function(ctx) return ctx.actions.indicator_add{ ip = '1.2.3.4' } end }\n");
    spew("$dir/hunts/try-write.lua", "return { name = \"try-write\", kind = \"hunt\", $head,\n"
        . "  run = function(ctx) ctx.db:query('DELETE FROM Syslog') end }\n");
    my ($before) = ipe('sql', 'SELECT count(*) FROM Syslog', '--db', $db, '-f', 'csv');
    my ($out, $err, $rc) = ipe({ env => { IPE_PATH => $dir } }, 'hunt', 'try-actions', '--db', $db);
    is($rc, 1, 'a hunt using ctx.actions: exit 1');
    is($err, "ipe-run: hunt 'try-actions': ctx.actions is only for actions: a hunt cannot change anything (insights and "
           . "hunts are read-only; write an action in actions/ and run it with 'ipe-run action')\n", 'ctx.actions: the reason');
    ($out, $err, $rc) = ipe({ env => { IPE_PATH => $dir } }, 'hunt', 'try-write', '--db', $db);
    is($rc, 1, 'a hunt writing through ctx.db: exit 1');
    is($err, "ipe-run: hunt 'try-write': $dir/hunts/try-write.lua:2: not authorized\n", 'ctx.db write: refused');
    my ($after) = ipe('sql', 'SELECT count(*) FROM Syslog', '--db', $db, '-f', 'csv');
    is($after, $before, 'the workspace is unchanged');
}

done_testing();
