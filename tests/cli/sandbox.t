#!/usr/bin/perl
# The sandbox: one case per escape attempt, each with its exact error, and
# proof that the budgets hold against JIT loops, memory bombs and patterns.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IpeTest;
use Test::More;

my $db = demo_db();
my $fixtures = repo_root() . "/tests/fixtures/sandbox";
my %env = (IPE_PATH => $fixtures, IPE_TIMEOUT => 2);

sub attempt {
    my ($name, @extra) = @_;
    my ($out, $err, $rc) = ipe({ env => \%env }, 'insight', $name, '1.2.3.4', '--db', $db, @extra);
    return ($out, $err, $rc);
}

my %cases = (
    'io-open'          => qr/undeclared global 'io' \(scripts cannot touch files\)/,
    'os-execute'       => qr/attempt to call field 'execute' \(a nil value\)/,
    'require-ffi'      => qr/module 'ffi' is not available to scripts/,
    'require-debug'    => qr/module 'debug' is not available to scripts/,
    'string-dump'      => qr/attempt to call field 'dump' \(a nil value\)/,
    'string-meta-dump' => qr/attempt to call field 'dump' \(a nil value\)/,
    'string-metatable' => qr/attempt to index a boolean value/,
    'global-write'     => qr/assignment to undeclared global 'leaked' \(use local\)/,
    'global-read'      => qr/undeclared global 'undefined_thing'/,
    'getfenv'          => qr/undeclared global 'getfenv' \(environments are not reachable\)/,
    'loadstring'       => qr/undeclared global 'loadstring' \(scripts cannot load code\)/,
    'load-text'        => qr/undeclared global 'load' \(scripts cannot load code\)/,
    'rawset-env'       => qr/undeclared global 'rawset' \(globals cannot be created\)/,
    'package-loaded'   => qr/undeclared global 'package'/,
    'coroutine-escape' => qr/undeclared global 'getfenv'/,
);
for my $name (sort keys %cases) {
    my ($out, $err, $rc) = attempt($name);
    is($rc, 1, "$name: exit code 1");
    like($err, qr/^ipe-run: insight '\Q$name\E': \S*\/\Q$name\E\.lua:\d+: /m, "$name: error names the script and file:line");
    like($err, $cases{$name}, "$name: the exact reason");
    unlike($err, qr/stack traceback/, "$name: no traceback without -v");
}
ok(!-e '/tmp/ipe-escaped', 'os.execute did not run');

{
    my ($out, $err, $rc) = attempt('global-read', '-v');
    like($err, qr/stack traceback/, '-v adds the traceback');
}

for my $case (['jit-loop', qr/ran out of time \(budget 2s\)/, 2],
              ['catastrophic-pattern', qr/ran out of time \(budget 2s\)/, 2],
              ['memory-bomb', qr/exceeded its memory budget \(256 MB\)/, 30]) {
    my ($name, $re, $budget) = @$case;
    my $t0 = time;
    my ($out, $err, $rc) = attempt($name, '--timeout', $budget);
    is($rc, 1, "$name: exit code 1");
    like($err, $re, "$name: stopped by its budget");
    cmp_ok(time - $t0, '<=', $budget + 6, "$name: stopped on time");
}

{
    my ($out, $err, $rc) = attempt('module-tamper', '-f', 'json');
    is($rc, 0, 'module-tamper runs');
    like($out, qr/"still","value":"true"|"key":"still","value":"true"/, 'a script changes only its own copy of a module');
}

# A module's nested tables are the script's own too: ipaddr's range entries are the
# very tables the runtime classifies with (the egress policy), result.STATUSES what it
# validates with; a second script in the same worker (ctx.run) sees pristine modules.
{
    my @tamper = ({ env => \%env }, 'insight', 'module-deep-tamper', '10.1.2.3', '--db', $db);
    my ($out, $err, $rc) = ipe(@tamper, '-f', 'json');
    is($rc, 0, 'module-deep-tamper runs');
    like($out, qr/"key":"own-classify","value":"private"/, 'deep tamper: the runtime still classifies 10.1.2.3 as private');
    like($out, qr/"key":"probe-classify","value":"private"/, 'deep tamper: another script in the worker classifies it as private');
    like($out, qr/"key":"probe-range1","value":"0.0.0.0\/32"/, 'deep tamper: another script sees every range');
    like($out, qr/"key":"probe-range3","value":"private"/, 'deep tamper: another script sees the range entries unchanged');
    like($out, qr/"key":"probe-bogus-status","value":"nil"/, 'deep tamper: another script sees result.STATUSES unchanged');
    like($out, qr/"key":"probe-evil-type","value":"nil"/, 'deep tamper: another script sees result.COLUMN_TYPES unchanged');
    ($out, $err, $rc) = ipe(@tamper, '-p', 'status=bogus');
    is($rc, 1, 'deep tamper: a status added to the script\'s copy of result.STATUSES is refused (exit 1)');
    is($err, "ipe-run: insight 'module-deep-tamper': $fixtures/insights/module-deep-tamper.lua:11: bad result: "
           . "unknown status 'bogus' (use ok, empty, error or skipped)\n",
       'deep tamper: the runtime validates with its own status list');
}

{
    my ($out, $err, $rc) = ipe({ env => { %env, COLUMNS => 250 } }, 'list', 'insights');
    like($out, qr/toplevel-loop\s+BROKEN\s+loading ran out of time/, 'a script that loops while loading is listed as BROKEN');
    is($rc, 1, 'list exits 1 when a script is broken');
}

{
    my $dir = tmpdir();
    mkdir "$dir/insights";
    spew("$dir/insights/bytecode.lua", "\x1bLJ\x02\x00garbage");
    my ($out, $err, $rc) = ipe({ env => { IPE_PATH => $dir } }, 'insight', 'bytecode', '1.2.3.4', '--db', $db);
    is($rc, 3, 'bytecode: exit code 3 (broken)');
    like($err, qr/bytecode is refused: scripts load as text only/, 'bytecode is refused');
}

done_testing();
