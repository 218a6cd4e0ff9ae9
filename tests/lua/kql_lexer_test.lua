-- Tests for ipe.kql.lexer: tokens, positions, string forms, timespans, operator names.
local T = require "ipe.testing"
local lexer = require "ipe.kql.lexer"
local err = require "ipe.kql.err"

local function kinds(text)
  local out = {}
  for _, t in ipairs(lexer.lex(text)) do out[#out + 1] = t.t .. ":" .. tostring(t.v) end
  return table.concat(out, " ")
end

T.case("names, operators and the hyphenated operator names are single tokens", function()
  T.eq(kinds("T | project-away A | mv-expand B"), "id:T op:| id:project-away id:A op:| id:mv-expand id:B eof:<end of query>")
  T.eq(kinds("a !has 'x' and b in~ (1) and c !in (2) and d !~ e"),
    "id:a id:!has str:x id:and id:b id:in~ op:( int:1 op:) id:and id:c id:!in op:( int:2 op:) id:and id:d op:!~ id:e eof:<end of query>")
  T.eq(kinds("x==1 or y<>2 or z>=3 or w=~'a'"), "id:x op:== int:1 id:or id:y op:<> int:2 id:or id:z op:>= int:3 id:or id:w op:=~ str:a eof:<end of query>")
  T.eq(kinds("(1 .. 5)"), "op:( int:1 op:.. int:5 op:) eof:<end of query>")
end)

T.case("string literals: escapes, single quotes, verbatim @ strings, h obfuscated", function()
  local toks = lexer.lex([["a\"b\n" 'c\'d' @"C:\x" @'it''s' h"secret"]])
  T.eq(toks[1].v, 'a"b\n')
  T.eq(toks[2].v, "c'd")
  T.eq(toks[3].v, "C:\\x")
  T.eq(toks[4].v, "it's")
  T.eq(toks[5].v, "secret")
end)

T.case("numbers and timespans (seconds)", function()
  local toks = lexer.lex("1 2.5 1d 2h 30m 10s 100ms 1.5h 3L")
  T.eq({ toks[1].t, toks[1].v }, { "int", 1 })
  T.eq({ toks[2].t, toks[2].v }, { "real", 2.5 })
  T.eq(toks[3].v, 86400); T.eq(toks[4].v, 7200); T.eq(toks[5].v, 1800); T.eq(toks[6].v, 10)
  T.eq(toks[7].v, 0.1); T.eq(toks[8].v, 5400); T.eq({ toks[9].t, toks[9].v }, { "int", 3 })
end)

T.case("comments are skipped; line and column are counted", function()
  local toks = lexer.lex("T // a comment\n| where  X")
  T.eq(toks[2].v, "|"); T.eq(toks[2].line, 2); T.eq(toks[2].col, 1)
  T.eq(toks[4].v, "X"); T.eq(toks[4].line, 2); T.eq(toks[4].col, 10)
end)

T.case("lexical errors name their line and column", function()
  local ok, e = pcall(lexer.lex, 'T\n| where x == "abc')
  T.ok(not ok and err.is(e))
  T.eq({ e.line, e.col, e.msg }, { 2, 14, "unterminated string literal" })
  ok, e = pcall(lexer.lex, "T | where x # 1")
  T.eq({ e.line, e.col, e.msg }, { 1, 13, "unexpected character '#'" })
  T.eq(err.format(e, "T | where x # 1"), "kql:1:13: unexpected character '#'\nT | where x # 1\n            ^")
end)
