#!/usr/bin/perl
# A script author's errors, each as one line naming the script's file:line: SQL errors at
# run time and found by `check` without running the script, malformed results, failed
# assertions in `ipe-run test`, misspelt source tables; and the script's own timeout.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use IpeTest;
use Test::More;
use Time::HiRes qw(time);

my $db = demo_db();
my $dir = tmpdir();
mkdir "$dir/insights";
mkdir "$dir/hunts";
my %env = (IPE_PATH => $dir);

sub script {
    my ($kind, $name, $fields, $run) = @_;
    my $path = "$dir/${kind}s/$name.lua";
    spew($path, <<"LUA");
local result = require "ipe.result"
return {
  name = "$name", kind = "$kind", title = "Title of $name", summary = "s", description = "d",
  categories = { "offline" }, $fields
  params = { { name = "ip", type = "ip", required = true, help = "the IP" } },
  run = function(ctx, p)
$run
  end,
}
LUA
    return $path;
}

# The README's example with a misspelt column (the SQL starts on line 7, the column on line 8).
my $x = script('insight', 'x', 'sources = { "SigninLogs" },', <<'LUA');
    local rows, cols = ctx.db:query(
      "SELECT AppDisplayNam, COUNT(*) AS SignIns FROM SigninLogs " ..
      "WHERE IPAddress = :ip AND " .. ctx.db:window("TimeGenerated") ..
      " GROUP BY 1", { ip = p.ip })
    return result.from_query(rows, cols, { SignIns = "count" }, "Sign-ins")
LUA

# 14: at run time, the script's file:line and SQLite's message, without the binding's prefix: the
# line of the literal holding the fault when the statement is known from the text (as check
# finds it), else the line of the call
{
    my ($out, $err, $rc) = ipe({ env => \%env }, 'insight', 'x', '1.2.3.4', '--db', $db);
    is($rc, 1, 'SQL error at run time: exit 1');
    is($err, "ipe-run: insight 'x': $x:8: no such column: AppDisplayNam\n", 'SQL error at run time: the script\'s file:line, no sqlite: prefix');
    unlike($err, qr/ipe\/db\.lua/, 'SQL error at run time: the runtime\'s own file is not named');
    my $dyn = script('insight', 'dynamic-sql', 'sources = { "SigninLogs" },', <<'LUA');
    local col = p.ip and "AppDisplayNam"
    return result.from_query(ctx.db:query("SELECT " .. col .. " FROM SigninLogs"))
LUA
    ($out, $err, $rc) = ipe({ env => \%env }, 'insight', 'dynamic-sql', '1.2.3.4', '--db', $db);
    is($err, "ipe-run: insight 'dynamic-sql': $dyn:8: no such column: AppDisplayNam\n", 'SQL built at run time: the line of the call');
    ($out, $err, $rc) = ipe({ env => \%env }, 'check', $dyn);
    is($out, "ok   insight dynamic-sql\n1 script(s) checked, 0 with problems\n", 'SQL built at run time: check does not guess it');
    ($out, $err, $rc) = ipe({ env => \%env }, 'check', $x, '--db', "$dir/none.db");
    is($rc, 3, 'check --db with a missing workspace: exit 3');
    like($err, qr/^ipe-run: no workspace at \Q$dir\E\/none\.db; /, 'check --db with a missing workspace: one line naming it');
}

# 14: check finds it without running the script, against the workspace or a fresh schema
{
    my ($out, $err, $rc) = ipe({ env => \%env }, 'check', $x, '--db', $db);
    is($rc, 1, 'check: a script with a bad column fails (exit 1)');
    is($out, "FAIL insight x: $x:8: no such column: AppDisplayNam\n1 script(s) checked, 1 with problems\n",
       'check: the line of the literal that holds the bad column');
    ($out, $err, $rc) = ipe({ env => \%env }, 'check', $x);
    is($out, "FAIL insight x: $x:8: no such column: AppDisplayNam\n1 script(s) checked, 1 with problems\n",
       'check without a workspace: compiled against a fresh in-memory schema');
    is($err, '', 'check: nothing on stderr');
}

# 14: the statement is rebuilt from a one-return local function, table.concat, a local constant,
# :format and the ctx.db helpers; the error is on the line of the list element that holds it
{
    my $path = "$dir/hunts/composed.lua";
    spew($path, <<'LUA');
local result = require "ipe.result"
local TABLE = "CommonSecurityLog"
local function sql(db)
  local w = db:window("TimeGenerated")
  return table.concat({
    "SELECT DestinationPort AS Port, COUNT(*) AS Events",
    ("FROM %s"):format(TABLE),
    "WHERE SourceIP = :ip AND " .. w,
    "  AND DeviceActoin = 'deny'",
    "GROUP BY 1",
  }, "\n")
end
local function unknown_until_run(db, col) return "SELECT " .. col .. " FROM Nope" end
return {
  name = "composed", kind = "hunt", title = "t", summary = "s", description = "d",
  categories = { "offline" }, sources = { "CommonSecurityLog" },
  params = { { name = "ip", type = "ip", required = true, help = "the IP" } },
  run = function(ctx, p)
    local rows, cols = ctx.db:query(sql(ctx.db), { ip = p.ip })
    ctx.db:query(unknown_until_run(ctx.db, p.ip), {})
    ctx.db:value("SELECT count(*) FROM SecurityEvent WHERE " .. ctx.db:window("TimeGenerated"))
    return result.from_query(rows, cols, { Events = "count" })
  end,
}
LUA
    my ($out, $err, $rc) = ipe({ env => \%env }, 'check', $path);
    is($out, "FAIL hunt composed: $path:9: no such column: DeviceActoin\n1 script(s) checked, 1 with problems\n",
       'check: a statement built by a local function, table.concat, :format and a helper; only the statement known before the run');
    (my $fixed = slurp($path)) =~ s/DeviceActoin/DeviceAction/;
    spew($path, $fixed);
    ($out, $err, $rc) = ipe({ env => \%env }, 'check', $path);
    is($rc, 0, 'check: the corrected hunt passes (a statement that depends on the run is not guessed at)');
    is($out, "ok   hunt composed\n1 script(s) checked, 0 with problems\n", 'check: ok line');
}

# issue 12: a direct call of what only one engine has (or of an _ipe_ table) is reported with
# the ctx.db helper to use, one line per use, exit 1; the ported scripts have none
{
    my $path = script('insight', 'dialect', 'sources = { "SecurityEvent" },', <<'LUA');
    local rows, cols = ctx.db:query(
      "SELECT group_concat(DISTINCT Computer) AS Hosts, " ..
      "julianday(max(TimeGenerated)) AS J FROM SecurityEvent WHERE +TimeGenerated >= :from", {})
    ctx.db:value("SELECT count(*) FROM _ipe_ip_activity")
    local CH = "SELECT argMax(Computer, TimeGenerated) FROM SecurityEvent"
    return result.from_query(rows, cols)
LUA
    my ($out, $err, $rc) = ipe({ env => \%env }, 'check', $path);
    is($rc, 1, 'check: a dialect-specific call fails the script (exit 1)');
    is($out, "FAIL insight dialect: $path:8: 'group_concat' is SQLite-only; use ctx.db:string_agg(col, sep, distinct); "
       . "$path:9: 'julianday' is SQLite-only; use ctx.db:seconds_between(a, b); "
       . "$path:9: '+Col' is SQLite-only; use ctx.db:window(col); "
       . "$path:10: an _ipe_ table is internal to ipe; use ctx.db:rollup_query(name), rollup_rows(name) or named_ranges(); "
       . "$path:11: 'argMax' is ClickHouse-only; use ctx.db:latest(table, alias, keys, where)\n"
       . "1 script(s) checked, 1 with problems\n", 'check: each use on its own file:line with the helper to use');
    is($err, '', 'check: nothing on stderr');
    ($out, $err, $rc) = ipe('check');
    is($rc, 0, 'check: no built-in script calls a dialect-specific function');
    unlike($out, qr/^FAIL /m, 'check: every built-in script ok');
}

# 14: a write statement is refused at check time too (compiled against the read-only guard)
{
    my $path = script('insight', 'writes', 'sources = {},', <<'LUA');
    ctx.db:query("DELETE FROM SigninLogs")
    return {}
LUA
    my ($out) = ipe({ env => \%env }, 'check', $path, '--db', $db);
    is($out, "FAIL insight writes: $path:7: not authorized\n1 script(s) checked, 1 with problems\n",
       'check: a write is not authorized');
    ($out) = ipe({ env => \%env }, 'check', $path);
    is($out, "FAIL insight writes: $path:7: not authorized\n1 script(s) checked, 1 with problems\n",
       'check without a workspace: a write is not authorized either');
}

# 15: check catches unknown column types in from_query and result.table
{
    my $path = script('insight', 'bad-types', 'sources = {},', <<'LUA');
    local t = result.table{ columns = { { "When", "time" }, { "Hits", "cnt" }, { name = "Size", type = "bites" } }, rows = {} }
    return { t, result.from_query({}, { "A" }, { A = "count", B = "ipaddr" }) }
LUA
    my ($out, $err, $rc) = ipe({ env => \%env }, 'check', $path);
    is($rc, 1, 'check: unknown column types fail (exit 1)');
    is($out, "FAIL insight bad-types: $path:7: unknown column type 'cnt' (use text, ip, time, count, number, bytes, bool or json); "
           . "$path:7: unknown column type 'bites' (use text, ip, time, count, number, bytes, bool or json); "
           . "$path:8: unknown column type 'ipaddr' (use text, ip, time, count, number, bytes, bool or json)\n"
           . "1 script(s) checked, 1 with problems\n", 'check: each unknown column type with its line');
}

# 15: a misspelt source table suggests the real one
{
    my $path = script('insight', 'misspelt', 'sources = { "SignInLogs", "Nope" },', "    return {}\n");
    my ($out) = ipe({ env => \%env }, 'check', $path);
    is($out, "FAIL insight misspelt: $path: unknown source table 'SignInLogs' (did you mean 'SigninLogs'?); "
           . "unknown source table 'Nope'\n1 script(s) checked, 1 with problems\n", 'check: did you mean SigninLogs');
}

# 15: malformed results: one line naming the script's line, the section and what was expected;
# exit 1, the record keeps its title, no traceback
my @bad = (
    ['series-one', 'local c = result.chart{ chart = "bar", labels = { "a", "b" }, series = { name = "n", values = { 1, 2 } } }',
     'section 1 (chart): series must be a list of series { {name = "...", values = {one number per label}}, ... }, got one series (wrap it in a list)'],
    ['series-number', 'local c = result.chart{ chart = "bar", title = "Hits", labels = { "a" }, series = { 5 } }',
     'section 1 (chart "Hits"): series 1 must be {name = "...", values = {...}}, got a number (series is { {name = "...", values = {one number per label}}, ... })'],
    ['series-short', 'local c = result.chart{ chart = "time", labels = { "a", "b" }, series = { { name = "n", values = { 1 } } } }',
     "section 1 (chart): series 'n' has 1 values for 2 labels"],
    ['chart-max', 'local c = result.chart{ chart = "bar", labels = { "a" }, series = { { name = "n", values = { 1 } } }, max = -1 }',
     'section 1 (chart): max must be a positive number (the top of the scale), got -1'],
    ['short-row', 'local c = result.table{ columns = { "A", "B", "C" }, rows = { { "x", "y", "z" }, { "x", "y" } } }',
     "section 1 (table): row 2 has no value for column 3 'C' (3 columns; use result.null for an empty cell)"],
    ['long-row', 'local c = result.table{ columns = { "A" }, rows = { { "x", "y" } } }',
     'section 1 (table): row 1 has 2 cells for 1 columns'],
    ['bad-cell', 'local c = result.table{ columns = { "A" }, rows = { { {} } } }',
     "section 1 (table): row 1 column 'A' holds a table (want a string, number, boolean or result.null)"],
    ['bad-type', 'local c = result.table{ columns = { { "A", "cnt" } }, rows = {} }',
     "section 1 (table): column 'A' has unknown type 'cnt' (use text, ip, time, count, number, bytes, bool or json)"],
    ['bad-kind', 'local c = { kind = "pie" }', "section 1: unknown kind 'pie' (table, kv or chart)", 6],
    ['bad-note', 'local c = result.kv{ items = { { "a", 1 } }, note = {} }', 'section 1 (kv): note must be a string, got a table'],
    ['kv-function', 'local c = result.kv{ items = { { "a", function() end } } }',
     "section 1 (kv): item 'a' holds a function (want a string, number, boolean or result.null)"],
    ['not-a-section', 'local c = function() end',
     'run() returned a function; return a section (result.table, kv or chart), a list of them or result.output{...}', 6],
    ['output-sections', 'local c = result.output{ sections = 5 }', 'result.output: sections must be a list, got a number', 6],
);
for my $case (@bad) {
    my ($name, $code, $msg, $line) = @$case;
    my $path = script('insight', $name, 'sources = {},', "    $code\n    return c\n");
    my ($out, $err, $rc) = ipe({ env => \%env }, 'insight', $name, '1.2.3.4', '--db', $db, '-f', 'json');
    is($rc, 1, "$name: exit 1");
    is($err, "ipe-run: insight '$name': $path:" . ($line // 7) . ": bad result: $msg\n", "$name: one line with the script's file:line, the section and what was expected");
    like($out, qr/"title":"Title of \Q$name\E"/, "$name: the record keeps its title");
}
{
    # a result built in a tail call: the line where run() begins
    my $path = script('insight', 'tail-call', 'sources = {},', '    return result.chart{ chart = "bar", labels = { "a" }, series = 7 }');
    my ($out, $err, $rc) = ipe({ env => \%env }, 'insight', 'tail-call', '1.2.3.4', '--db', $db);
    is($err, "ipe-run: insight 'tail-call': $path:6: bad result: section 1 (chart): series must be a list of series "
           . "{ {name = \"...\", values = {one number per label}}, ... }, got a number\n", 'tail call: the line where run() begins');
}

# 15: a bar chart with a fixed scale
{
    script('insight', 'percent', 'sources = {},', <<'LUA');
    return result.chart{ chart = "bar", labels = { "half", "full" }, max = 100,
                         series = { { name = "pct", values = { 50, 100 } } } }
LUA
    my ($out, $err, $rc) = ipe({ env => { %env, COLUMNS => 40 } }, 'insight', 'percent', '1.2.3.4', '--db', $db);
    is($rc, 0, 'max: a bar chart with a fixed scale renders');
    my ($half) = $out =~ /^half (█*)/m;
    my ($full) = $out =~ /^full (█*)/m;
    # (bytes: each full block is 3 bytes of UTF-8)
    ok(length($full) > 0 && abs(length($half) / 3 * 2 - length($full) / 3) <= 1, 'max = 100: 50 is half the bar of 100');
    script('insight', 'percent-low', 'sources = {},', <<'LUA');
    return result.chart{ chart = "bar", labels = { "a", "b" }, max = 100,
                         series = { { name = "pct", values = { 10, 20 } } } }
LUA
    ($out) = ipe({ env => { %env, COLUMNS => 40 } }, 'insight', 'percent-low', '1.2.3.4', '--db', $db);
    my ($a) = $out =~ /^a (█*)/m;
    my ($b) = $out =~ /^b (█*)/m;
    ok(length($b) / 3 < 10, 'max = 100: 20 does not fill the bar (the scale is fixed, not the largest value)');
    ($out) = ipe({ env => \%env }, 'insight', 'percent-low', '1.2.3.4', '--db', $db, '-f', 'json');
    like($out, qr/"max":100/, 'max is in the JSON');
    # the SVG bars of the HTML rendering: the same chart with max = 200 and without
    for my $max ('max = 200,', '') {
        script('insight', $max ? 'svg-max' : 'svg-auto', 'sources = {},', <<"LUA");
    return result.chart{ chart = "bar", labels = { "a", "b" }, $max series = { { name = "n", values = { 50, 100 } } } }
LUA
    }
    my @w;
    for my $name ('svg-max', 'svg-auto') {
        my ($html) = ipe({ env => \%env }, 'insight', $name, '1.2.3.4', '--db', $db, '-f', 'html');
        push @w, [ $html =~ /<rect class="bar s1" x="[\d.]+" y="[\d.]+" width="([\d.]+)"/g ];
    }
    ok(@{$w[0]} == 2 && abs($w[0][1] * 2 - $w[1][1]) < 0.1, 'max = 200 in SVG: 100 takes half the width it takes on the largest-value scale');
}

# 16: a failed assertion names the test file's line
{
    my $t = "$dir/where_test.lua";
    spew($t, <<'LUA');
local T = require "ipe.testing"
local function helper(v) T.eq(v, 99, "helper") end
T.case("direct", function()
  T.eq(1 + 2, 99)
end)
T.case("through a helper", function()
  helper(3)
end)
T.case("like", function() T.like("abc", "^z") end)
LUA
    my ($out, $err, $rc) = ipe('test', $t);
    is($rc, 1, 'test: failures exit 1');
    like($out, qr/^not ok 1 - direct\n# \Q$t\E:4: got 3, want 99$/m, 'T.eq: file:line of the assertion');
    like($out, qr/^not ok 2 - through a helper\n# \Q$t\E:2: helper: got 3, want 99$/m, 'T.eq in a helper: the helper\'s line');
    like($out, qr/^not ok 3 - like\n# \Q$t\E:9: "abc" does not match "\^z"$/m, 'T.like: file:line');
}

# 19: the script's own timeout is honoured, bounded by the runtime's budget
{
    script('insight', 'own-timeout', 'sources = {}, timeout = 1,', "    while true do end\n");
    my $t0 = time;
    my ($out, $err, $rc) = ipe({ env => \%env }, 'insight', 'own-timeout', '1.2.3.4', '--db', $db, '--timeout', 20, '-f', 'json');
    my $took = time - $t0;
    is($rc, 1, 'own timeout: exit 1');
    is($err, "ipe-run: insight 'own-timeout': ran out of time (budget 1s, the script's timeout)\n", 'own timeout: the message');
    like($out, qr/"title":"Title of own-timeout".*"status":"error"/, 'own timeout: the record keeps its title');
    cmp_ok($took, '<', 8, 'own timeout: stopped after its own second, not the 20 s budget');
    ($out, $err, $rc) = ipe({ env => \%env }, 'insight', 'own-timeout', '1.2.3.4', '--db', $db, '--timeout', 0.5);
    is($err, "ipe-run: insight 'own-timeout': ran out of time (budget 0.5s)\n", 'own timeout: never above the runtime\'s budget');
    script('insight', 'own-timeout-sql', 'sources = {}, timeout = 1,', <<'LUA');
    return result.from_query(ctx.db:query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"))
LUA
    ($out, $err, $rc) = ipe({ env => \%env }, 'insight', 'own-timeout-sql', '1.2.3.4', '--db', $db, '--timeout', 20);
    like($err, qr/^ipe-run: insight 'own-timeout-sql': (\S+:7: query interrupted: time budget exceeded|ran out of time \(budget 1s, the script's timeout\))$/,
         'own timeout: a runaway query is stopped by it too');
}

done_testing();
