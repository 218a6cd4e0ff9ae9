-- Tests for ipe.ingest.jsonscan (pure Lua: also runs under plain luajit).
local T = require "ipe.testing"
local js = require "ipe.ingest.jsonscan"
local cjson = require "cjson"

local function members(s)
  local out = {}
  local e, err, at = js.parse_object(s, 1, function(k, v, kind) out[#out + 1] = { k, v, kind or false } end)
  return out, e, err, at
end

T.case("members in order, with their kinds", function()
  local got, e = members('{"a":"x","n":-12.5e1,"big":-9223372036854775808,"t":true,"f":false,"z":null}')
  T.eq(e, 77)
  T.eq(got, { { "a", "x", false }, { "n", "-12.5e1", js.NUMBER }, { "big", "-9223372036854775808", js.NUMBER },
    { "t", true, false }, { "f", false, false }, { "z", cjson.null, false } })
end)

T.case("white space anywhere between tokens", function()
  local got, e = members(' \t{ "a" : "x" ,\r\n "b":1 } ')
  T.eq(got, { { "a", "x", false }, { "b", "1", js.NUMBER } })
  T.eq(e, 26)
  T.ok(js.trailing(' \t{ "a" : "x" ,\r\n "b":1 } ', e))
end)

T.case("string escapes are decoded, in names and values", function()
  local got = members('{"dom\\\\user":"contoso\\\\alice","q":"say \\"hi\\"","u":"\\u00e9\\n","plain":"a/b"}')
  T.eq(got, { { "dom\\user", "contoso\\alice", false }, { "q", 'say "hi"', false }, { "u", "é\n", false },
    { "plain", "a/b", false } })
end)

T.case("an escaped quote right before the closing one", function()
  local got = members('{"a":"x\\\\","b":"\\"","c":"ok"}')
  T.eq(got, { { "a", "x\\", false }, { "b", '"', false }, { "c", "ok", false } })
end)

T.case("nested objects and arrays come back as their JSON text", function()
  local got = members('{"o":{"k":[1,{"x":"]}"}]},"e":[],"eo":{},"after":"\\\\"}')
  T.eq(got, { { "o", '{"k":[1,{"x":"]}"}]}', js.RAW }, { "e", "[]", js.RAW }, { "eo", "{}", js.RAW },
    { "after", "\\", false } })
end)

T.case("member names can be reused from the previous record", function()
  local keys = {}
  local got = {}
  local function put(k, v) got[#got + 1] = k .. "=" .. v end
  js.parse_object('{"alpha":"1","beta":"2"}', 1, put, keys)
  js.parse_object('{"alpha":"3","betb":"4","gamma":"5"}', 1, put, keys)
  js.parse_object('{"alph":"6"}', 1, put, keys)
  T.eq(got, { "alpha=1", "beta=2", "alpha=3", "betb=4", "gamma=5", "alph=6" })
  T.eq(keys, { "alph", "betb", "gamma" })
end)

T.case("an empty object has no members", function()
  local got, e = members("{}")
  T.eq(got, {})
  T.eq(e, 3)
end)

T.case("errors name what is wrong", function()
  local _, e, err = members('{"a":"x"')
  T.eq(e, nil)
  T.eq(err, "the record ends before it is complete")
  _, _, err = members('{"a":')
  T.eq(err, "the record ends before it is complete")
  _, _, err = members('{"a":"x",')
  T.eq(err, "the record ends before it is complete")
  _, _, err = members('{"a" "x"}')
  T.eq(err, "a ':' is missing after member \"a\"")
  _, _, err = members('{"a":"x" "b":1}')
  T.eq(err, "a ',' or '}' is missing after member \"a\"")
  _, _, err = members('{"a":xyz}')
  T.eq(err, "member \"a\" has an invalid value")
  _, _, err = members('{"a":[1,2}')
  T.eq(err, "member \"a\" is not valid JSON")
  _, _, err = members('{"a":[1,2')
  T.eq(err, "the record ends before it is complete")
  _, _, err = members('[1,2]')
  T.eq(err, "a record must be a JSON object")
  _, _, err = members('   ')
  T.eq(err, "the record is empty")
  _, _, err = members('{1:2}')
  T.eq(err, "a member name must be a string")
  _, _, err = members('{"a":"\\q"}')
  T.eq(err, "member \"a\" has an invalid escape")
  _, _, err = members('{"a":1-}')
  T.eq(err, "member \"a\" has an invalid number")
end)

T.case("object_to_table and value", function()
  local rec, kinds = js.object_to_table('{"n":7,"s":"x","o":{"a":[]}}')
  T.eq(rec, { n = "7", s = "x", o = '{"a":[]}' })
  T.eq(kinds, { n = js.NUMBER, o = js.RAW })
  T.eq(js.value(rec.n, kinds.n), 7)
  T.eq(js.value(rec.o, kinds.o), { a = {} })
  T.eq(js.value("x", nil), "x")
end)

T.case("array_elements walks a top-level array", function()
  local s = '[ {"a":1},\n {"b":[1,2]} , "x" ]'
  local spans = {}
  for a, b in js.array_elements(s, 1) do spans[#spans + 1] = s:sub(a, b) end
  T.eq(spans, { '{"a":1}', '{"b":[1,2]}', '"x"' })
  spans = {}
  for a in js.array_elements("[]", 1) do spans[#spans + 1] = a end
  T.eq(spans, {})
end)

T.case("array_elements reports a broken array once", function()
  local out = {}
  for a, b, c in js.array_elements('[{"a":1} {"b":2}]', 1) do out[#out + 1] = { a, b, c } end
  T.eq(out, { { 2, 8 }, { false, "a ',' or ']' is missing between array elements", 10 } })
  out = {}
  for a, b in js.array_elements('[{"a":1},{"b":', 1) do out[#out + 1] = { a, b } end
  T.eq(out, { { 2, 8 }, { false, "the document ends before it is complete" } })
  out = {}
  for a, b in js.array_elements('{"a":1}', 1) do out[#out + 1] = { a, b } end
  T.eq(out, { { false, "a JSON array is expected" } })
end)

T.case("minify drops white space outside strings only", function()
  T.eq(js.minify('{\n  "a" : [ 1, 2 ],\n  "b": "x y\\" z"\n}'), '{"a":[1,2],"b":"x y\\" z"}')
  T.eq(js.minify('[1,2]'), '[1,2]')
end)

T.case("line_of counts lines up to a position", function()
  T.eq(js.line_of("a\nb\nc", 1), 1)
  T.eq(js.line_of("a\nb\nc", 3), 2)
  T.eq(js.line_of("a\nb\nc", 5), 3)
end)

T.case("explain turns cjson's message into one line", function()
  T.eq(js.explain('{"a":1}'), nil)
  T.eq(js.explain('{"a":[1,2'), "the document ends before it is complete")
  T.eq(js.explain('{"a":1 x}'), "expected comma or object end but found invalid token at character 8")
end)

T.done()
