#!/usr/bin/perl
# Text output at 80, 120 and 200 columns (issue 11, items 8 and 9): nothing that identifies
# something — an IP, a name, an id, a time — is ever cut. Each verb runs twice on the demo
# workspace, as JSON and as text; every IP and time of the JSON, and every word of every text
# cell, must appear whole in the text. Output that is not a terminal is 80 columns unless
# COLUMNS or --width says otherwise, and bars stay within 40 columns.
use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IpeTest;
use Test::More;
use JSON::PP;

my $db = demo_db();
my $C2 = '89.160.20.128';
my $MMDB = fixtures_dir() . '/mmdb/test-data';
my %GEO = (IPE_GEOIP => "$MMDB/GeoIP2-City-Test.mmdb:$MMDB/GeoLite2-ASN-Test.mmdb");
binmode Test::More->builder->$_, ':encoding(UTF-8)' for qw(output failure_output todo_output);

# an executed action, so that audit has rows
{
    my ($o, $e, $rc) = ipe('action', 'add-indicator', $C2, '-p', 'description=beacons every minute', '--execute',
                           '--db', $db);
    is($rc, 0, 'an executed action for audit') or diag $e;
}

# what the text format shows of a value of this type (see ipe.render.text cell)
sub shown {
    my ($v, $type) = @_;
    return undef if !defined $v || ref $v;
    $type //= 'text';
    return undef if $type =~ /^(count|number|bytes|bool|json)$/;
    if ($type eq 'time') {
        return "$1 $2" if $v =~ /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)\.\d+Z$/;
        return $v;
    }
    return $v if $type eq 'ip';
    return grep { length } split /[\s,]+/, $v;    # free text may wrap between words, never inside one
}

# every identifying value of a JSON record: [value, where]
sub identifiers {
    my ($rec, $where) = @_;
    my @out;
    for my $s (@{ $rec->{sections} || [] }) {
        if ($s->{kind} eq 'table') {
            my @cols = @{ $s->{columns} };
            for my $row (@{ $s->{rows} }) {
                for my $i (0 .. $#cols) {
                    push @out, map { [$_, "$where $cols[$i]{name}"] } grep { defined } shown($row->[$i], $cols[$i]{type});
                }
            }
        } elsif ($s->{kind} eq 'kv') {
            for my $it (@{ $s->{items} }) {
                push @out, map { [$_, "$where $it->{key}"] } grep { defined } shown($it->{value}, $it->{type});
            }
        } elsif ($s->{kind} eq 'chart' && $s->{chart} eq 'bar') {
            push @out, map { [$_, "$where chart label"] } @{ $s->{labels} };
        }
    }
    return @out;
}

my @VERBS = (
    [ 'insight', [ 'insight', 'remote-connections', $C2 ] ],
    [ 'insight ip-details', [ 'insight', 'ip-details', '81.2.69.160' ] ],
    [ 'hunt', [ 'hunt', 'ip-everywhere', '--ip', $C2 ] ],
    [ 'sql', [ 'sql', "SELECT TimeGenerated, IPAddress, UserPrincipalName, AppDisplayName, ResultDescription, "
                 . "Location FROM SigninLogs WHERE IPAddress = '216.160.83.56' ORDER BY TimeGenerated LIMIT 12" ] ],
    [ 'audit', [ 'audit' ] ],
    [ 'list', [ 'list' ] ],
    [ 'page', [ 'page', $C2, '--offline' ] ],
    [ 'action', [ 'action', 'add-indicator', '216.160.83.56' ] ],
);

for my $v (@VERBS) {
    my ($name, $args) = @$v;
    my @db = $name eq 'list' ? () : ('--db', $db);
    my ($json, $je, $jrc) = ipe({ env => { COLUMNS => 80, %GEO } }, @$args, @db, '-f', 'json');
    ok($jrc == 0, "$name: json") or diag $je;
    my $j = decode_json($json);
    my @ids = $name eq 'page'
        # (a panel that did not run ok shows its status line, not its sections)
        ? map { identifiers($_->{record}, "panel $_->{id}") } grep { $_->{status} eq 'ok' } @{ $j->{panels} }
        : identifiers($j, $name);
    ok(@ids > 5, "$name: the JSON has identifying values to look for (" . scalar(@ids) . ")");
    for my $width (80, 120, 200) {
        my ($text, $te, $trc) = ipe({ env => { COLUMNS => $width, %GEO } }, @$args, @db);
        utf8::decode($text);
        # a hunt prints its SQL first: look only at the results, after it
        $text =~ s/\A.*?\n(?=ip-everywhere — )//s if $name eq 'hunt';
        is($trc, 0, "$name at $width: exit 0") or diag $te;
        my @missing = grep { index($text, $_->[0]) < 0 } @ids;
        is(scalar @missing, 0, "$name at $width columns: every IP, name, id and time is whole")
            or diag join "\n", map { "cut or missing: $_->[1]: '$_->[0]'" } @missing[0 .. ($#missing > 9 ? 9 : $#missing)];
        my @cut = grep { /\S…(?:\s|$)/ } split /\n/, $text;
        is(scalar @cut, 0, "$name at $width columns: no cell ends in …") or diag join "\n", @cut[0 .. ($#cut > 4 ? 4 : $#cut)];
    }
}

# --width on every verb that draws text: the same output as COLUMNS of that width
for my $v (@VERBS) {
    my ($name, $args) = @$v;
    my @db = $name eq 'list' ? () : ('--db', $db);
    my ($by_env) = ipe({ env => { COLUMNS => 100, %GEO } }, @$args, @db);
    my ($by_opt, $e, $rc) = ipe({ env => { COLUMNS => 200, %GEO } }, @$args, @db, '--width', 100);
    is($rc, 0, "$name --width 100: exit 0") or diag $e;
    is($by_opt, $by_env, "$name --width 100 = COLUMNS=100");
}

# the record view keeps its names aligned past [9]
{
    my ($text) = ipe({ env => { COLUMNS => 80 } }, 'sql', "SELECT TimeGenerated, IPAddress, UserPrincipalName, "
        . "AppDisplayName, ResultDescription FROM SigninLogs WHERE IPAddress = '216.160.83.56' LIMIT 12", '--db', $db);
    like($text, qr/^\[9\]  TimeGenerated:     \S/m, 'record [9]: two spaces after the tag');
    like($text, qr/^\[10\] TimeGenerated:     \S/m, 'record [10]: one space, names aligned with [9]');
    like($text, qr/^     IPAddress:         216\.160\.83\.56$/m, 'record: later names under the first');
    unlike($text, qr/\]\S/, 'no tag runs into its name');
}

# item 9: output that is not a terminal is 80 columns; COLUMNS and --width override it
sub widest {
    my $w = 0;
    for my $l (split /\n/, shift) { my $n = length($l); $w = $n if $n > $w }
    return $w;
}
sub longest_bar {
    my $w = 0;
    for my $l (split /\n/, shift) { while ($l =~ /([█▏▎▍▌▋▊▉]+)/g) { $w = length($1) if length($1) > $w } }
    return $w;
}
{
    my @page = ('page', $C2, '--offline', '--only', 'overview', '--db', $db);
    my ($t80) = ipe({ env => { COLUMNS => undef } }, @page);
    utf8::decode($t80);
    like($t80, qr/^━━ Overview ━+$/m, 'no COLUMNS, not a terminal: a page');
    my ($rule) = $t80 =~ /^(━━ Overview ━+)$/m;
    is(length($rule), 80, 'no COLUMNS, not a terminal: 80 columns');
    ok(longest_bar($t80) > 0 && longest_bar($t80) <= 40, 'bars at most 40 columns (' . longest_bar($t80) . ')');
    my ($t200) = ipe({ env => { COLUMNS => 200 } }, @page);
    utf8::decode($t200);
    ($rule) = $t200 =~ /^(━━ Overview ━+)$/m;
    is(length($rule), 200, 'COLUMNS=200: 200 columns');
    ok(longest_bar($t200) <= 40, 'COLUMNS=200: bars still at most 40 columns (' . longest_bar($t200) . ')');
    my ($tw) = ipe({ env => { COLUMNS => 200 } }, @page, '--width', 120);
    utf8::decode($tw);
    ($rule) = $tw =~ /^(━━ Overview ━+)$/m;
    is(length($rule), 120, '--width 120 wins over COLUMNS=200');
    my ($tj) = ipe({ env => { COLUMNS => 'junk' } }, @page);
    utf8::decode($tj);
    ($rule) = $tj =~ /^(━━ Overview ━+)$/m;
    is(length($rule), 80, 'COLUMNS that is not a number is ignored');
    my ($ti) = ipe({ env => { COLUMNS => undef } }, 'insight', 'remote-connections', $C2, '--db', $db, '--width', 200);
    like($ti, qr/^Host\s+HostIP\s+Direction/m, 'insight --width 200: a table');
    ($ti) = ipe({ env => { COLUMNS => undef } }, 'insight', 'remote-connections', $C2, '--db', $db);
    like($ti, qr/^\[1\] Host:/m, 'insight, not a terminal: 80 columns, records');
    my ($tl) = ipe({ env => { COLUMNS => undef } }, 'list', '--width', 300);
    ok(widest($tl) > 120, 'list --width 300: one line per script');
}

# --width: exact messages, exit 2, nothing written
for my $case (['10', "ipe-run: --width: '10' is below the minimum 20\n"],
              ['1001', "ipe-run: --width: '1001' is above the maximum 1000\n"],
              ['wide', "ipe-run: --width: 'wide' is not a whole number of columns\n"],
              ['-5', "ipe-run: --width: '-5' is not a whole number of columns\n"]) {
    my ($o, $e, $rc) = ipe('insight', 'remote-connections', $C2, '--db', $db, "--width=$case->[0]");
    is($rc, 2, "--width $case->[0]: exit 2");
    is($e, $case->[1], "--width $case->[0]: the message");
    is($o, '', "--width $case->[0]: no output");
}

# --help, and every verb's --help, read in 80 columns: no line is longer.
{
    my ($top, $terr, $trc) = ipe('--help');
    is($trc, 0, '--help: exit 0');
    my @verbs = map { /^  ([a-z]+)  / ? $1 : () } split /\n/, (split /\n\n/, $top)[2] // '';
    ok(@verbs >= 15, 'the verbs are listed (' . scalar(@verbs) . ')');
    for my $v ('', @verbs) {
        my ($o, $e, $rc) = $v eq '' ? ($top, $terr, $trc) : ipe($v, '--help');
        is($rc, 0, "$v --help: exit 0");
        my @long = grep { length($_) > 80 } split /\n/, $o;
        is_deeply(\@long, [], ($v || 'ipe-run') . ' --help: every line fits 80 columns');
    }
}

done_testing();
