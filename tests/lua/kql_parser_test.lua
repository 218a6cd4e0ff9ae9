-- Tests for ipe.kql.parser: the AST of statements, operators, expressions; errors with positions.
local T = require "ipe.testing"
local parser = require "ipe.kql.parser"

local function perr(text)
  local ok, e = pcall(parser.parse, text)
  T.ok(not ok, "expected an error for " .. text)
  return string.format("%d:%d: %s", e.line, e.col, e.msg)
end

T.case("let statements: scalars, tabular expressions, lambdas", function()
  local p = parser.parse([[let ip = "1.2.3.4"; let T = SigninLogs | where IPAddress == ip;
let f = (x:string, n:long = 5) { x has "a" }; T | take 1]])
  T.eq(#p.lets, 3)
  T.eq({ p.lets[1].name, p.lets[1].value.k, p.lets[1].value.v }, { "ip", "lit", "1.2.3.4" })
  T.eq({ p.lets[2].name, p.lets[2].value.k }, { "T", "pipe" })
  T.eq({ p.lets[3].value.k, #p.lets[3].value.params, p.lets[3].value.params[2].type }, { "lambda", 2, "long" })
  T.eq(p.query.ops[1].k, "take")
end)

T.case("operators after '|' and their parts", function()
  local p = parser.parse([[T | where A == 1 | extend B = 2 | project A, C = B | project-away X* | project-rename N = A
| summarize count(), n = dcount(A) by bin(TimeGenerated, 1h) | order by n desc nulls first, A asc | top 5 by n
| take 3 | distinct A | count | join kind=leftanti (U) on $left.A == $right.B, C | union isfuzzy=true V, W
| mv-expand x to typeof(string) | parse M with * "a=" A:long " " B | serialize r = row_number() | render timechart]])
  local ks = {}
  for _, op in ipairs(p.query.ops) do ks[#ks + 1] = op.k end
  T.eq(table.concat(ks, " "), "where extend project project-away project-rename summarize order top take distinct count join union mv-expand parse serialize render")
  local s = p.query.ops[6]
  T.eq({ #s.aggs, s.aggs[2].name, #s.by }, { 2, "n", 1 })
  local o = p.query.ops[7]
  T.eq({ o.keys[1].desc, o.keys[1].nulls, o.keys[2].desc }, { true, "first", false })
  local j = p.query.ops[12]
  T.eq({ j.opts.kind.v, j.keys[1].left, j.keys[1].right, j.keys[2].left }, { "leftanti", "A", "B", "C" })
  T.eq(p.query.ops[13].opts.isfuzzy.v, "true")
  T.eq(p.query.ops[14].items[1].to, "string")
  T.eq(#p.query.ops[15].pattern, 5)
end)

T.case("precedence: or < and < comparison < + < *", function()
  local e = parser.parse("T | where a or b and c == 1 + 2 * 3").query.ops[1].e
  T.eq(e.op, "or"); T.eq(e.r.op, "and"); T.eq(e.r.r.op, "=="); T.eq(e.r.r.r.op, "+"); T.eq(e.r.r.r.r.op, "*")
end)

T.case("literals: datetime, timespan, dynamic, between, in lists", function()
  local e = parser.parse([[print datetime(2026-01-02 03:04:05), timespan(1.02:00:00), dynamic({"a":[1,2]}), x between (1 .. 5), y in ("a", "b")]]).query
  T.eq(e.items[1].e.v, require("ipe.timeutil").parse_time("2026-01-02T03:04:05Z"))
  T.eq(e.items[2].e.v, 93600)
  T.eq(e.items[3].e.v.a[2], 2)
  T.eq(e.items[4].e.k, "between")
  T.eq(#e.items[5].e.list, 2)
end)

T.case("errors name the line, column and what was expected", function()
  T.eq(perr("T | summarize"), "1:5: 'summarize' needs an aggregation")
  T.eq(perr("T | make-series count() on X"), "1:5: 'make-series' is not supported")
  T.eq(perr("T | frobnicate"), "1:5: unknown operator 'frobnicate'")
  T.eq(perr("T | where (a == 1"), "1:18: expected ')', found the end of the query")
  T.eq(perr("T\n| evaluate bag_unpack(x)"), "2:12: 'evaluate bag_unpack' is not supported")
  T.eq(perr("externaldata (a:string) [@'http://x']"), "1:1: 'externaldata' is not supported: ipe reads only the local workspace")
  T.eq(perr("let x = 1"), "1:10: no query: the text has only let statements")
  T.eq(perr("T | join (U) on $left.A == $left.B"), "1:17: a join condition compares $left.Column with $right.Column")
end)

T.case("nesting is bounded: a clear error, never a stack overflow", function()
  local deep = "print x = " .. string.rep("(", 1001) .. "1" .. string.rep(")", 1001)
  T.eq(perr(deep), "1:1010: the expression nests too deeply (more than 1000 levels)")
  T.eq(perr("print x = " .. string.rep("-", 1001) .. "1"), "1:1009: the expression nests too deeply (more than 1000 levels)")
  T.eq(perr("print x = dynamic(" .. string.rep("[", 1001) .. string.rep("]", 1001) .. ")"), "1:1017: the dynamic value nests too deeply (more than 1000 levels)")
  local terms = {}
  for i = 1, 1001 do terms[i] = "1" end
  T.eq(perr("print x = " .. table.concat(terms, "+")), "1:2010: the expression nests too deeply (more than 1000 levels)")
  local ok = pcall(parser.parse, "print x = " .. string.rep("(", 990) .. "1" .. string.rep(")", 990))
  T.ok(ok, "990 levels parse")
end)
