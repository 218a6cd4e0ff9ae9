#!/usr/bin/perl
# Messages say exactly what happened (issue 11, items 10-13): a foreign SQLite file gets the
# same single line and exit 3 from page as from the other verbs; help resolves a bare script
# name and aligns its parameters; the man page is 'ipe-run help --man'; add-indicator says
# an export was made even in a plan; number options and parameters name the option and the
# value as typed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IpeTest;
use Test::More;
use JSON::PP;

my $db = demo_db();
my $C2 = '89.160.20.128';

sub sql1 {
    my ($q) = @_;
    my ($out, $err, $rc) = ipe('sql', $q, '--db', $db, '-f', 'csv');
    die "sql failed: $err" if $rc > 1;
    my @lines = split /\r\n/, $out;
    return $lines[1];
}

# item 10: a valid SQLite file that is not an ipe workspace
{
    my $dir = tmpdir();
    my $foreign = "$dir/other.db";
    system('sqlite3', $foreign, 'CREATE TABLE notes (id INTEGER, body TEXT); INSERT INTO notes VALUES (1, "x");') == 0
        or die 'sqlite3 failed';
    my $line = "ipe-run: $foreign is not an ipe workspace (no such table: _ipe_meta); create one with 'ipe-run demo' "
        . "(a demo workspace) or choose one with --db / IPE_DB\n";
    for my $args (['page', $C2], ['page', $C2, '-f', 'json'], ['page', $C2, '--offline', '--only', 'overview'],
                  ['insight', 'remote-connections', $C2], ['sql', 'SELECT 1'], ['audit'],
                  ['hunt', 'ip-everywhere', '--ip', $C2]) {
        my ($o, $e, $rc) = ipe(@$args, '--db', $foreign);
        is($rc, 3, "foreign workspace: @$args: exit 3");
        is($e, $line, "foreign workspace: @$args: the single line");
        is($o, '', "foreign workspace: @$args: nothing on stdout");
    }
    my ($o) = ipe('sql', 'SELECT 1', '--db', $foreign);
    is(-s $foreign > 0 ? 'kept' : 'lost', 'kept', 'foreign workspace: the file is left alone');
}

# item 11: help resolves a bare script name; parameters in aligned columns; the man page
{
    my ($full, $e1, $rc1) = ipe('help', 'insight', 'remote-connections');
    my ($bare, $e2, $rc2) = ipe('help', 'remote-connections');
    is($rc2, 0, 'help <bare insight name>: exit 0') or diag $e2;
    is($bare, $full, 'help <bare name> = help insight <name>');
    my ($act) = ipe('help', 'add-indicator');
    like($act, qr/^action add-indicator — Add indicator$/m, 'help <bare action name>');
    my ($hunt) = ipe('help', 'ip-everywhere');
    like($hunt, qr/^hunt ip-everywhere — /m, 'help <bare hunt name>');
    my ($o, $e, $rc) = ipe('help', 'remote-connectoins');
    is($rc, 3, 'help <unknown name>: exit 3');
    is($e, "ipe-run: help: no verb, insight, hunt or action named 'remote-connectoins' "
        . "(did you mean: insight remote-connections?)\n", 'help <unknown name>: suggestions across kinds');
    ($o, $e, $rc) = ipe('help', 'zzzzzzzzzzzz');
    is($e, "ipe-run: help: no verb, insight, hunt or action named 'zzzzzzzzzzzz' (see 'ipe-run list')\n",
       'help <nothing like it>');
    # a name that is both an insight and a hunt (a hunt of your own)
    my $home = tmpdir();
    mkdir "$home/hunts";
    my ($src) = ipe('help', 'hunt', 'ip-everywhere');
    my ($file) = $src =~ /^file: (.*)$/m;
    my $code = slurp($file);
    $code =~ s/name = "ip-everywhere"/name = "remote-connections"/ or die 'no name in ip-everywhere';
    spew("$home/hunts/remote-connections.lua", $code);
    ($o, $e, $rc) = ipe({ env => { IPE_PATH => $home } }, 'help', 'remote-connections');
    is($rc, 2, 'help <name of an insight and a hunt>: exit 2');
    is($e, "ipe-run: help: 'remote-connections' is an insight and a hunt; say which: "
        . "ipe-run help insight remote-connections\n", 'help <ambiguous name>: says which to choose');
    ($o, $e, $rc) = ipe('help', 'sql');
    like($o, qr/^usage: ipe-run sql /, 'help <verb> still shows the verb');
    # aligned parameter columns: every description starts in the same column
    my @params = grep { /^  \S/ } split /\n/, (split /\nparameters:\n/, $act)[1];
    is(scalar @params, 10, 'add-indicator: ten parameters');
    my %col;
    for my $l (@params) { $l =~ /^  \S+ +\S+ +/ or next; $col{length $&}++ }
    is(scalar keys %col, 1, 'help: one description column for every parameter') or diag explain \%col;
    my ($act80) = ipe({ env => { COLUMNS => 80 } }, 'help', 'add-indicator');
    utf8::decode($act80);
    my @long = grep { length > 80 } split /\n/, (split /\nparameters:\n/, $act80)[1];
    is(scalar @long, 0, 'help at 80 columns: parameter lines wrapped within 80');
    # the man page is generated from the same source as --help and installed as is
    my ($man, $me, $mrc) = ipe('help', '--man');
    is($mrc, 0, 'help --man: exit 0');
    is($man, slurp(repo_root() . '/core/ipe-run.1'), 'core/ipe-run.1 is what help --man prints (make man)');
    for my $v (qw(insight page hunt action list help check sql test demo enrich ingest audit migrate)) {
        like($man, qr/^\.SS \Q$v\E$/m, "man: a section for $v");
    }
    like($man, qr/^\.B IPE_GEOIP$/m, 'man: IPE_GEOIP');
    ($o, $e, $rc) = ipe('help', '--man', 'x');
    is($rc, 2, 'help --man x: exit 2');
    is($e, "ipe-run: help: --man takes no argument\n", 'help --man x: the line');
}

# item 12: add-indicator --export with -o in a plan: the export is made and said so
{
    my $dir = tmpdir();
    my $before = sql1("SELECT count(*) FROM ThreatIntelligenceIndicator");
    my ($o, $e, $rc) = ipe({ env => { COLUMNS => 200 } }, 'action', 'add-indicator', '192.0.2.77', '--export', 'stix',
                           '-o', "$dir/ti.json", '--db', $db);
    is($rc, 0, 'plan + export: exit 0') or diag $e;
    ok(-s "$dir/ti.json", 'plan + export: the bundle is written');
    my $bundle = decode_json(slurp("$dir/ti.json"));
    my $n = grep { $_->{type} eq 'indicator' } @{ $bundle->{objects} };
    is($e, "ipe-run: action 'add-indicator': exported $n indicator(s) as a STIX 2.1 bundle to $dir/ti.json\n",
       'plan + export: stderr says where the bundle went');
    like($o, qr/^Mode: plan only — the workspace was not changed; add --execute to act \(the export was made all the same\)$/m,
         'plan + export: the mode says the export was made');
    unlike($o, qr/nothing was changed/, 'plan + export: never "nothing was changed"');
    like($o, qr/^What would be done \(the export was made\)$/m, 'plan + export: the steps title');
    like($o, qr/^indicator\.add\s+192\.0\.2\.77\s+would create\s/m, 'plan + export: the indicator would be added');
    unlike(join(',', map { $_->{pattern} } grep { $_->{type} eq 'indicator' } @{ $bundle->{objects} }), qr/192\.0\.2\.77/,
           'plan + export: the planned indicator is not in the bundle');
    is(sql1("SELECT count(*) FROM ThreatIntelligenceIndicator"), $before, 'plan + export: the table is unchanged');
    ($o, $e, $rc) = ipe({ env => { COLUMNS => 200 } }, 'action', 'add-indicator', '192.0.2.77', '--db', $db);
    like($o, qr/^Mode: plan only — nothing was changed; add --execute to act$/m, 'plan without export: nothing was changed');
    is($e, '', 'plan without export: nothing on stderr');
    ($o) = ipe({ env => { COLUMNS => 200 } }, 'action', 'add-indicator', '192.0.2.78', '--execute', '--db', $db);
    like($o, qr/^Mode: executed$/m, 'execute: executed');
    like($o, qr/^indicator\.add\s+192\.0\.2\.78\s+create\s/m, 'execute: created');
    ($o) = ipe({ env => { COLUMNS => 200 } }, 'action', 'add-indicator', '192.0.2.78', '--execute', '--db', $db);
    like($o, qr/^Mode: executed — nothing needed to change$/m, 'execute again: says nothing needed to change');
    like($o, qr/^indicator\.add\s+192\.0\.2\.78\s+unchanged\s/m, 'execute again: unchanged');
    ($o, $e, $rc) = ipe('action', 'add-indicator', '--export', 'stix', '--db', $db);
    my $m = grep { $_->{type} eq 'indicator' } @{ decode_json($o)->{objects} };
    is($m, $n + 1, 'export to stdout: the executed indicator is in the bundle');
    is($e, "ipe-run: action 'add-indicator': exported $m indicator(s) as a STIX 2.1 bundle\n",
       'export to stdout: the note names no file');
}

# item 13: numbers: the option and the value as typed
{
    my @ins = ('insight', 'remote-connections', $C2, '--db', $db);
    my $p = "ipe-run: insight 'remote-connections': parameter 'limit'";
    for my $case (
        [[@ins, '-p', 'limit=9223372036854775807'], "$p: 9223372036854775807 is above the maximum 100000\n"],
        [[@ins, '-p', 'limit=-9223372036854775809'], "$p: -9223372036854775809 is below the minimum 1\n"],
        [[@ins, '-p', 'limit=99999999999999999999999'], "$p: 99999999999999999999999 is above the maximum 100000\n"],
        [[@ins, '-p', 'limit=0'], "$p: 0 is below the minimum 1\n"],
        [[@ins, '-p', 'limit=1e3'], "$p: '1e3' is not a whole number\n"],
        [[@ins, '-p', 'limit=0x10'], "$p: '0x10' is not a whole number\n"],
        [['hunt', 'beaconing-to-ip', '--ip', $C2, '-p', 'min_connections=18446744073709551616', '--db', $db],
         "ipe-run: hunt 'beaconing-to-ip': parameter 'min_connections': 18446744073709551616 is above the maximum 10000000\n"],
        [[@ins, '--since', '99999999999d'],
         "ipe-run: --since: '99999999999d' is out of range (the window would start before the year 0000)\n"],
        [[@ins, '--since', '9999999999999d'], "ipe-run: --since: '9999999999999d' is not a duration (use e.g. 7d, 12h, 30m)\n"],
        [[@ins, '--timeout', '0'], "ipe-run: --timeout: '0' must be more than 0 seconds\n"],
        [[@ins, '--timeout', '0.0'], "ipe-run: --timeout: '0.0' must be more than 0 seconds\n"],
        [[@ins, '--timeout', 'nan'], "ipe-run: --timeout: 'nan' is not a number of seconds\n"],
        [[@ins, '--timeout', 'inf'], "ipe-run: --timeout: 'inf' is not a number of seconds\n"],
        [[@ins, '--timeout', '-1'], "ipe-run: --timeout: '-1' is not a number of seconds\n"],
        [[@ins, '--timeout', '1e400'], "ipe-run: --timeout: '1e400' is not a number of seconds\n"],
        [[@ins, '--timeout', '3601'], "ipe-run: --timeout: '3601' is above the maximum of 3600 seconds\n"],
        [['sql', 'SELECT 1', '--timeout', 'soon', '--db', $db], "ipe-run: --timeout: 'soon' is not a number of seconds\n"],
        [['page', $C2, '--timeout', '0', '--db', $db], "ipe-run: --timeout: '0' must be more than 0 seconds\n"],
        [['audit', '--limit', '9223372036854775807x', '--db', $db],
         "ipe-run: audit: --limit must be a whole number from 1 to 1000000, got '9223372036854775807x'\n"],
        [['audit', '--limit', '99999999999999999999', '--db', $db],
         "ipe-run: audit: --limit must be a whole number from 1 to 1000000, got '99999999999999999999'\n"],
    ) {
        my ($args, $want) = @$case;
        my ($o, $e, $rc) = ipe(@$args);
        my $name = join ' ', grep { $_ ne '--db' && $_ ne $db } @$args;
        is($rc, 2, "$name: exit 2");
        is($e, $want, "$name: the exact line");
        is($o, '', "$name: no output");
    }
    my ($o, $e, $rc) = ipe(@ins, '--timeout', '2.5', '-p', 'limit=+5');
    is($rc, 0, 'a fractional --timeout and a signed whole number are accepted') or diag $e;
    like($o, qr/^ip=89\.160\.20\.128  limit=5 /m, '-p limit=+5 is 5');
}

done_testing();
