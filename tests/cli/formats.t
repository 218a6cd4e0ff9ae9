#!/usr/bin/perl
# One -f vocabulary for every verb (ipe.verbs.common.FORMATS): table (also text), box, json,
# jsonl, csv, md, html. Every verb x every name: the output in that format, or exit 2 with one
# line naming the verb and the formats it writes, and nothing on stdout.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IpeTest;
use Test::More;
use JSON::PP;

my $db = demo_db();
my $C2 = '89.160.20.128';
my $RUN = 'table, box, json, csv, md or html';

# verb => [arguments, the formats it writes (as listed in its messages), stdin]
my %verbs = (
    insight => [['insight', 'remote-connections', $C2, '--db', $db], $RUN],
    hunt    => [['hunt', 'hosts-contacting-ip', '--ip', $C2, '--db', $db], $RUN],
    action  => [['action', 'activity-log', $C2, '--db', $db], $RUN],
    sql     => [['sql', 'SELECT 1 AS n, \'a\' AS s', '--db', $db], $RUN],
    audit   => [['audit', '--db', $db], $RUN],
    list    => [['list'], $RUN],
    page    => [['page', $C2, '--db', $db, '--offline', '--only', 'overview'], 'table, box, json or html'],
    enrich  => [['enrich', '-'], 'jsonl or csv', "192.0.2.1\n10.0.0.1\n"],
);

my %check = (
    table => sub { $_[0] ne '' && $_[0] !~ /^[{<]/ },
    box   => sub { $_[0] =~ /[│─]/ },
    json  => sub { my $v = eval { decode_json($_[0]) }; ref $v eq 'HASH' },
    jsonl => sub { my @l = split /\n/, $_[0]; @l > 0 && !grep { !eval { decode_json($_) } } @l },
    csv   => sub { $_[0] =~ /\A[^\n]*,[^\n]*\r?\n/ },
    md    => sub { $_[0] =~ /^\|.*\|$/m || $_[0] =~ /^#/m },
    html  => sub { $_[0] =~ /\A<!DOCTYPE html>/i },
);

for my $verb (sort keys %verbs) {
    my ($args, $writes, $stdin) = @{ $verbs{$verb} };
    my %can = map { $_ => 1 } split /, | or /, $writes;
    my $o = defined $stdin ? { stdin => $stdin } : {};
    my ($default, undef, $default_rc) = ipe($o, @$args);
    ok($default ne '', "$verb: output without -f");
    for my $fmt (qw(table text box json jsonl csv md html)) {
        my $canon = $fmt eq 'text' ? 'table' : $fmt;
        my ($out, $err, $rc) = ipe($o, @$args, '-f', $fmt);
        if ($can{$canon}) {
            is($rc, $default_rc, "$verb -f $fmt: exit code $default_rc") or diag($err);
            ok($check{$canon}->($out), "$verb -f $fmt: $canon output") or diag(substr($out, 0, 300));
            if ($canon eq 'table') {
                my $first = (split m{, | or }, $writes)[0];
                is($out, $default, "$verb -f $fmt: the default rendering") if $first eq 'table';
            }
        } else {
            is($rc, 2, "$verb -f $fmt: exit 2");
            is($err, "ipe-run: $verb: cannot write format '$canon' (use $writes)\n", "$verb -f $fmt: the error");
            is($out, '', "$verb -f $fmt: nothing on stdout");
        }
    }
    my ($out, $err, $rc) = ipe($o, @$args, '-f', 'xml');
    is($rc, 2, "$verb -f xml: exit 2");
    is($err, "ipe-run: $verb: unknown format 'xml' (use $writes)\n", "$verb -f xml: the error");
    is($out, '', "$verb -f xml: nothing on stdout");
}

# IPE_FORMAT: the default format of every verb; a name the verb does not write is passed over,
# a name outside the vocabulary is an error
{
    my @ins = ('insight', 'remote-connections', $C2, '--db', $db);
    my ($table) = ipe(@ins);
    my ($out, $err, $rc) = ipe({ env => { IPE_FORMAT => 'text' } }, @ins);
    is($out, $table, 'IPE_FORMAT=text: the table rendering');
    ($out) = ipe({ env => { IPE_FORMAT => 'json' } }, @ins);
    ok(eval { decode_json($out) }, 'IPE_FORMAT=json: JSON');
    ($out) = ipe({ env => { IPE_FORMAT => 'json' } }, @ins, '-f', 'csv');
    ok($check{csv}->($out), 'IPE_FORMAT=json -f csv: -f wins');
    my @page = ('page', $C2, '--db', $db, '--offline', '--only', 'overview');
    my ($ptable) = ipe(@page);
    ($out, $err, $rc) = ipe({ env => { IPE_FORMAT => 'csv' } }, @page);
    is($rc, 0, 'page with IPE_FORMAT=csv: exit 0');
    is($out, $ptable, 'page with IPE_FORMAT=csv: its default (table)');
    ($out, $err, $rc) = ipe({ env => { IPE_FORMAT => 'csv' }, stdin => "192.0.2.1\n" }, 'enrich', '-');
    like($out, qr/\Aip,class,/, 'enrich with IPE_FORMAT=csv: CSV');
    ($out, $err, $rc) = ipe({ env => { IPE_FORMAT => 'table' }, stdin => "192.0.2.1\n" }, 'enrich', '-');
    like($out, qr/\A\{"ip":"192\.0\.2\.1"/, 'enrich with IPE_FORMAT=table: its default (jsonl)');
    ($out, $err, $rc) = ipe({ env => { IPE_FORMAT => 'xml' } }, @ins);
    is($rc, 2, 'IPE_FORMAT=xml: exit 2');
    is($err, "ipe-run: insight: IPE_FORMAT: unknown format 'xml' (use $RUN)\n", 'IPE_FORMAT=xml: the error');
    is($out, '', 'IPE_FORMAT=xml: nothing on stdout');
}

done_testing();
