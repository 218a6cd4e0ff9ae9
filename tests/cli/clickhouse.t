#!/usr/bin/perl
# ClickHouse (issue 12): a real 2-shard cluster (tests/lib/ClickHouseCluster.pm) behind
# ipe.clickhouse, ipe-run migrate --db clickhouse://... and ingest; stopped by PID at the end.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IpeTest;
use ClickHouseCluster;

my $c = ClickHouseCluster->start;
my $root = repo_root();
my $pw = $ClickHouseCluster::PASSWORD;
utf8::encode($pw);

# the Lua tests that need a server: their TAP lines become one subtest each
for my $file (glob "$root/tests/clickhouse/*_test.lua") {
    my ($out, $err, $rc) = ipe({ env => { IPE_TEST_CH_URL => $c->url('default', single => 1),
        IPE_TEST_CH_CLUSTER_URL => $c->url('ipe_lua'), IPE_TEST_CH_PASSWORD => $pw } }, 'test', $file);
    my $name = $file =~ s{.*/}{}r;
    subtest $name => sub {
        my $n = 0;
        for (split /\n/, $out) {
            if (/^(not )?ok \d+ - (.*)$/) { $n++; ok(!$1, $2) }
            elsif (/^#\s*(.*)/) { diag($1) }
        }
        ok($n > 0, "$name ran cases");
        is($rc, 0, "$name exit code");
        diag($err) if $err ne '';
    };
}

done_testing;
