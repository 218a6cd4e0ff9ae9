-- Tests for ipe.render (run record -> table, box, json, csv, md) and its helpers.
-- cd /work/main && luajit -e "package.path='core/lua/?.lua;core/lua/?/init.lua;'..package.path" tests/lua/render_test.lua
local T = require "ipe.testing"
local render = require "ipe.render"
local escape = require "ipe.render.escape"
local json = require "ipe.render.json"
local text = require "ipe.render.text"
local csv = require "ipe.render.csv"
local null = require("cjson").null

-- lines{...} -> the lines joined by "\n" plus a final "\n" (golden text without long strings,
-- so trailing spaces and escapes stay visible).
local function lines(list) return table.concat(list, "\n") .. "\n" end
local function crlf(list) return table.concat(list, "\r\n") .. "\r\n" end

local function record()
  return {
    script = "remote-connections", kind = "insight", title = "IP address remote connections",
    params = { { name = "ip", type = "ip", value = "89.160.20.128" }, { name = "limit", type = "int", value = 100 } },
    window = { from = "2026-11-20T03:52:29.000Z", to = "2026-11-27T03:52:29.000Z" },
    status = "ok",
    sections = {
      { kind = "table", id = "conns", title = "Remote connections",
        columns = { { name = "Host", type = "text" }, { name = "Remote IP", type = "ip" },
          { name = "Events", type = "count" }, { name = "Bytes", type = "bytes" } },
        rows = { { "wks-001", "10.0.0.5", 12345, 1500000 },
          { "Linköping-fileserver-02.corp.example.org", "10.0.0.7", 3, null } } },
      { kind = "kv", title = "Location",
        items = { { key = "Country", value = "SE" }, { key = "City", value = "Linköping" },
          { key = "ASN", value = 29518, type = "count" } } },
    },
    queries = { { sql = "SELECT host, count(*)\nFROM events\nWHERE ip = :ip",
      params = { { name = "ip", value = "89.160.20.128" } } } },
    timing = { ms = 12.5 },
  }
end

local HEAD = {
  "remote-connections — IP address remote connections",
  "ip=89.160.20.128  limit=100  from 2026-11-20T03:52:29.000Z to 2026-11-27T03:52:29.000Z",
}

local function with_head(body)
  local out = { HEAD[1], HEAD[2] }
  for _, l in ipairs(body) do out[#out + 1] = l end
  return lines(out)
end

local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = deep_copy(x) end
  return c
end

-- escape ------------------------------------------------------------------------------------

T.case("escape.text makes C0, DEL, C1, bidi and invalid UTF-8 visible", function()
  T.eq(escape.text("\27[31mred"), "\\x1b[31mred")
  T.eq(escape.text("a\nb\tc\rd"), "a\\nb\\tc\\rd")
  T.eq(escape.text("nul\0bel\7del\127"), "nul\\x00bel\\x07del\\x7f")
  T.eq(escape.text("csi\194\155[2J"), "csi\\u009b[2J")
  T.eq(escape.text("\226\128\174evil"), "\\u202eevil")
  T.eq(escape.text("bad\255\254 \192\175"), "bad\\xff\\xfe \\xc0\\xaf")
  T.eq(escape.text("\237\160\128"), "\\xed\\xa0\\x80", "surrogate")
  T.eq(escape.text("\226\130"), "\\xe2\\x82", "truncated sequence")
end)

T.case("escape.text passes printable UTF-8 and backslashes unchanged", function()
  T.eq(escape.text("Linköping 東京 😀 C:\\Users"), "Linköping 東京 😀 C:\\Users")
  T.eq(escape.text(""), "")
end)

T.case("escape.text with a newline replacement (Markdown)", function()
  T.eq(escape.text("a\nb\r\nc\rd", "<br>"), "a<br>b<br>c\\rd")
end)

T.case("escape.lines splits, expands tabs and escapes", function()
  T.eq(escape.lines("SELECT 1\r\n\tFROM t\27"), { "SELECT 1", "    FROM t\\x1b" })
end)

T.case("escape.display_width counts columns", function()
  T.eq(escape.display_width("Linköping"), 9)
  T.eq(#"Linköping", 10)
  T.eq(escape.display_width("東京"), 4)
  T.eq(escape.display_width("한국"), 4)
  T.eq(escape.display_width("ｘ"), 2, "fullwidth")
  T.eq(escape.display_width("e\204\129"), 1, "combining acute")
  T.eq(escape.display_width("a\255b"), 3, "invalid byte counts one")
  T.eq(escape.display_width("😀"), 2)
  T.eq(escape.display_width("…"), 1)
  T.eq(escape.display_width(""), 0)
end)

T.case("escape.truncate cuts by columns, never inside a UTF-8 sequence", function()
  T.eq(escape.truncate("Linköping", 9), "Linköping")
  T.eq(escape.truncate("Linköping", 8), "Linköpi…")
  T.eq(escape.truncate("Linköping", 5), "Link…")
  T.eq(escape.truncate("ööööö", 3), "öö…")
  T.eq(escape.truncate("東京都", 4), "東…", "a wide char that does not fit is left out")
  T.eq(escape.display_width(escape.truncate("東京都", 4)), 3)
  T.eq(escape.truncate("abc", 1), "…")
  T.eq(escape.truncate("abc", 0), "")
  T.eq(escape.truncate("e\204\129e\204\129ee", 3), "e\204\129e\204\129…", "combining mark kept with its base")
end)

-- number formatting -------------------------------------------------------------------------

T.case("counts get thousands separators", function()
  T.eq(text.count(0), "0")
  T.eq(text.count(999), "999")
  T.eq(text.count(12345), "12,345")
  T.eq(text.count(-1234567), "-1,234,567")
  T.eq(text.count(12345678901234), "12,345,678,901,234")
  T.eq(text.count(2.5), "2.5")
end)

T.case("bytes are human-readable in decimal units with one decimal", function()
  T.eq(text.bytes(0), "0 B")
  T.eq(text.bytes(999), "999 B")
  T.eq(text.bytes(1000), "1.0 kB")
  T.eq(text.bytes(1500000), "1.5 MB")
  T.eq(text.bytes(999949), "999.9 kB")
  T.eq(text.bytes(999950), "1.0 MB", "rounds up into the next unit")
  T.eq(text.bytes(2.5e9), "2.5 GB")
  T.eq(text.bytes(1e12), "1.0 TB")
  T.eq(text.bytes(-2048), "-2.0 kB")
end)

T.case("numbers: integers exact, fractions short, non-finite named", function()
  T.eq(text.number(8080), "8080")
  T.eq(text.number(0.1 + 0.2), "0.3")
  T.eq(text.number(3.25), "3.25")
  T.eq(text.number(0 / 0), "NaN")
  T.eq(text.number(-math.huge), "-inf")
end)

T.case("cells by column type", function()
  T.eq(text.cell(null, "text"), "")
  T.eq(text.cell(1, "bool"), "true")
  T.eq(text.cell(0, "bool"), "false")
  T.eq(text.cell(false, "bool"), "false")
  T.eq(text.cell("12", "count"), "12", "a string in a count column is shown as is")
  T.eq(text.cell({ a = 1 }, "json"), '{"a":1}')
  T.eq(text.cell("2026-11-27T03:52:29.000Z", "time"), "2026-11-27 03:52:29")
  T.eq(text.cell("not a time", "time"), "not a time")
end)

-- json encoder ------------------------------------------------------------------------------

T.case("json.object keeps key order", function()
  T.eq(json.encode(json.object({ { "z", 1 }, { "a", 2 }, { "m", json.object({ { "y", true }, { "b", false } }) } })),
    '{"z":1,"a":2,"m":{"y":true,"b":false}}')
end)

T.case("json numbers are exact up to 2^53", function()
  T.eq(json.encode(12345678901234), "12345678901234")
  T.eq(json.encode(123456789012345), "123456789012345")
  T.eq(require("cjson").encode(123456789012345), "1.2345678901234e+14", "what cjson would do")
  T.eq(json.encode(2 ^ 53), "9007199254740992")
  T.eq(json.encode(2 ^ 53 - 1), "9007199254740991")
  T.eq(json.encode(-2 ^ 53), "-9007199254740992")
  -- 9007199254740993 is not a double: the literal already reads as 2^53.
  T.eq(json.encode(9007199254740993), "9007199254740992")
end)

T.case("json non-integers use the shortest round-trip form", function()
  T.eq(json.encode({ 0.1, 1 / 3, 12.34, 1e300, 1e-7, -0.0, 2 ^ 63 }),
    "[0.1,0.3333333333333333,12.34,1e+300,1e-07,0,9.223372036854776e+18]")
  T.eq(tonumber(json.encode(1 / 3)), 1 / 3)
end)

T.case("json null, NaN and infinities", function()
  T.eq(json.encode({ null, 0 / 0, math.huge, -math.huge }), "[null,null,null,null]")
  T.eq(json.encode(nil), "null")
  T.eq(json.encode(json.object({ { "message", nil } })), '{"message":null}')
  T.eq(json.encode(json.array({ 1, nil, 3 }, 3)), "[1,null,3]")
end)

T.case("json strings: RFC 8259 escapes, '/' kept, invalid UTF-8 -> U+FFFD", function()
  T.eq(json.encode('q"b\\s/'), '"q\\"b\\\\s/"')
  T.eq(json.encode("\b\f\n\r\t\0\1\31\127"), '"\\b\\f\\n\\r\\t\\u0000\\u0001\\u001f\\u007f"')
  T.eq(json.encode("\27[31mred"), '"\\u001b[31mred"')
  T.eq(json.encode("é 東 😀"), '"é 東 😀"')
  T.eq(json.encode("\194\155 \226\128\168 \226\128\174"), '"\\u009b \\u2028 \\u202e"')
  T.eq(json.encode("a\255b\192\175"), '"a\239\191\189b\239\191\189\239\191\189"')
end)

T.case("json arrays: explicit shapes stay arrays when empty", function()
  T.eq(json.encode(json.array({})), "[]")
  T.eq(json.encode(json.object({})), "{}")
  T.eq(json.encode({}), "[]")
  T.eq(json.encode({ 1, "a", true }), '[1,"a",true]')
  T.eq(json.encode({ b = 1, a = 2 }), '{"a":2,"b":1}', "plain objects get sorted keys")
end)

T.case("json pretty output", function()
  T.eq(json.encode(json.object({ { "a", { 1, 2 } }, { "b", json.object({}) }, { "c", json.array({}) },
    { "d", json.object({ { "x", null } }) } }), { pretty = true }),
    lines({ "{", '  "a": [', "    1,", "    2", "  ],", '  "b": {},', '  "c": [],', '  "d": {',
      '    "x": null', "  }", "}" }):sub(1, -2))
end)

T.case("json encoder errors", function()
  T.raises(function() json.encode({ 1, a = 2 }) end, "json: table has both list and string keys")
  T.raises(function() json.encode({ [1] = 1, [100] = 2 }) end, "json: sparse list (2 items, index 100)")
  T.raises(function() json.encode(print) end, "json: cannot encode a function")
  T.raises(function() json.encode({ [true] = 1 }) end, "json: table key of type boolean")
  T.raises(function() json.object({ { 1, 2 } }) end, "json: object key 1 is a number, not a string")
  local loop = {}
  loop[1] = loop
  T.raises(function() json.encode(loop) end, "json: nesting deeper than 100")
end)

-- table format ------------------------------------------------------------------------------

T.case("table format at the default width", function()
  T.eq(render.run(record()), with_head({
    "",
    "Remote connections",
    "Host                                      Remote IP  Events   Bytes",
    "----------------------------------------  ---------  ------  ------",
    "wks-001                                   10.0.0.5   12,345  1.5 MB",
    "Linköping-fileserver-02.corp.example.org  10.0.0.7        3",
    "",
    "Location",
    "Country: SE",
    "City:    Linköping",
    "ASN:     29,518",
  }))
  T.eq(render.run(record(), "table", { width = 80 }), render.run(record()))
end)

T.case("a table too wide for 40 columns turns into one block per row: nothing is cut", function()
  T.eq(render.run(record(), "table", { width = 40 }), with_head({
    "",
    "Remote connections",
    "[1] Host:      wks-001",
    "    Remote IP: 10.0.0.5",
    "    Events:    12,345",
    "    Bytes:     1.5 MB",
    "",
    "[2] Host:",
    "      Linköping-fileserver-02.corp.example.org",
    "    Remote IP: 10.0.0.7",
    "    Events:    3",
    "    Bytes:",
    "",
    "Location",
    "Country: SE",
    "City:    Linköping",
    "ASN:     29,518",
  }))
end)

local UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
local function agents()
  return { kind = "table", title = "Agents",
    columns = { { name = "Host" }, { name = "User agent", type = "text" }, { name = "Events", type = "count" } },
    rows = { { "wks-001", UA, 7 } } }
end

T.case("free text wraps between words at 80 columns, stays on one line at 200, never cut", function()
  T.eq(render.section(agents(), "table", { width = 80 }), lines({
    "Agents",
    "Host     User agent                                                       Events",
    "-------  ---------------------------------------------------------------  ------",
    "wks-001  Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36          7",
    "         (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
  }))
  T.eq(render.section(agents(), "table", { width = 200 }), lines({
    "Agents",
    "Host     User agent" .. string.rep(" ", #UA - 10) .. "  Events",
    "-------  " .. string.rep("-", #UA) .. "  ------",
    "wks-001  " .. UA .. "       7",
  }))
  T.eq(render.section(agents(), "table", { width = 40 }), lines({
    "Agents",
    "[1] Host:       wks-001",
    "    User agent: Mozilla/5.0 (Windows NT",
    "                10.0; Win64; x64)",
    "                AppleWebKit/537.36",
    "                (KHTML, like Gecko)",
    "                Chrome/120.0",
    "                Safari/537.36",
    "    Events:     7",
  }))
end)

T.case("record view: the row numbers keep the names aligned past [9]", function()
  local rows = {}
  for i = 1, 10 do rows[i] = { "10.0.0." .. i, string.rep("x", 60) .. " y", "2001:db8::" .. i } end
  local out = render.section({ kind = "table", columns = { { name = "Time", type = "ip" }, { name = "Note" }, { name = "IPv6", type = "ip" } },
    rows = rows }, "table", { width = 80 })
  T.like(out, "\n%[9%]  Time: 10%.0%.0%.9\n")
  T.like(out, "\n%[10%] Time: 10%.0%.0%.10\n")
  T.like(out, "\n     Note: x+ y\n")
end)

T.case("wrap breaks between words and after commas, never inside one", function()
  T.eq(text.wrap("offline,threat-intel,network", 12), { "offline,", "threat-intel,", "network" })
  T.eq(text.wrap("a b c", 3), { "a b", "c" })
  T.eq(text.wrap("89.160.20.128 is bad", 5), { "89.160.20.128", "is", "bad" }, "a long word runs past")
  T.eq(text.wrap("short", 80), { "short" })
end)

T.case("fit: free-text columns shrink to their widest word, the others never", function()
  T.eq(text.fit({ 40, 9, 6 }, { 10, 9, 6 }, 30), { 15, 9, 6 })
  T.eq(text.fit({ 40, 9, 6 }, { 10, 9, 6 }, 24), nil, "the minimums do not fit")
  T.eq(text.fit({ 40, 30, 6 }, { 5, 5, 6 }, 40), { 17, 17, 6 })
  T.eq(text.fit({ 40, 31, 6 }, { 5, 5, 6 }, 41), { 18, 17, 6 }, "spare column goes left")
  T.eq(text.fit({ 40, 8, 6 }, { 5, 8, 6 }, 20), { 6, 8, 6 })
end)

T.case("width below 20 is treated as 20", function()
  T.eq(render.options({ width = 5 }).width, 20)
  T.eq(render.options({}).width, 80)
  T.eq(render.options({ color = "yes" }).color, false)
end)

T.case("UTF-8 wide cells keep columns aligned", function()
  local sec = { kind = "table", columns = { { name = "City" }, { name = "n", type = "count" } },
    rows = { { "Linköping", 1 }, { "東京", 22 }, { "Kyiv", 333 } } }
  T.eq(render.section(sec, "table"), lines({
    "City         n",
    "---------  ---",
    "Linköping    1",
    "東京        22",
    "Kyiv       333",
  }))
end)

local function evil()
  return { kind = "table", title = "Intel \27]0;pwned\7", note = "from \226\128\174whois",
    columns = { { name = "Field" }, { name = "Value" } },
    rows = { { "title", "\27[31mred" }, { "desc", "line1\nline2\r\nline3\tend" },
      { "bad", "ok\255\254 \194\155[2J" }, { "pipe", "a|b" } } }
end

T.case("table format escapes control characters in titles, notes and cells", function()
  local out = render.section(evil(), "table")
  T.eq(out, lines({
    "Intel \\x1b]0;pwned\\x07",
    "from \\u202ewhois",
    "Field  Value",
    "-----  --------------------------",
    "title  \\x1b[31mred",
    "desc   line1\\nline2\\r\\nline3\\tend",
    "bad    ok\\xff\\xfe \\u009b[2J",
    "pipe   a|b",
  }))
  T.unlike(out, "\27")
end)

T.case("status lines for error, empty and skipped runs", function()
  local r = { script = "s", status = "error", message = "database is locked\27[2J", sections = {} }
  T.eq(render.run(r), "s\n\nerror: database is locked\\x1b[2J\n")
  r.status, r.message = "empty", "no rows in the window"
  T.eq(render.run(r), "s\n\nno results: no rows in the window\n")
  r.status, r.message = "skipped", "ABUSEIPDB_KEY is not set"
  T.eq(render.run(r), "s\n\nskipped: ABUSEIPDB_KEY is not set\n")
  r.status, r.message = "empty", nil
  T.eq(render.run(r), "s\n\nno results\n")
  r.status, r.message = "ok", "ignored for ok"
  T.eq(render.run(r), "s\n")
  T.eq(render.run({ status = "ok" }), "")
end)

T.case("show_query appends each query with its parameters", function()
  T.eq(render.run(record(), "table", { show_query = true }), with_head({
    "",
    "Remote connections",
    "Host                                      Remote IP  Events   Bytes",
    "----------------------------------------  ---------  ------  ------",
    "wks-001                                   10.0.0.5   12,345  1.5 MB",
    "Linköping-fileserver-02.corp.example.org  10.0.0.7        3",
    "",
    "Location",
    "Country: SE",
    "City:    Linköping",
    "ASN:     29,518",
    "",
    "-- query 1 (ip=89.160.20.128)",
    "SELECT host, count(*)",
    "FROM events",
    "WHERE ip = :ip",
  }))
  T.unlike(render.run(record(), "table"), "SELECT")
end)

T.case("empty table section shows (no rows)", function()
  local sec = { kind = "table", title = "Nothing", columns = { { name = "Host" }, { name = "Events", type = "count" } }, rows = {} }
  T.eq(render.section(sec, "table"), "Nothing\n(no rows)\n")
  T.eq(render.section(sec, "box"), "Nothing\n(no rows)\n")
  T.eq(render.section(sec, "md"), "## Nothing\n\n(no rows)\n")
  T.eq(render.section(sec, "csv"), "Host,Events\r\n")
  T.eq(render.section(sec, "json"),
    '{"kind":"table","id":null,"title":"Nothing","note":null,"columns":[{"name":"Host","type":"text"},'
    .. '{"name":"Events","type":"count"}],"rows":[]}\n')
  sec.rows = nil
  T.eq(render.section(sec, "table"), "Nothing\n(no rows)\n")
end)

T.case("kv rendering and an empty kv section", function()
  local sec = { kind = "kv", title = "Whois", items = { { key = "Org", value = "Bahnhof AB" },
    { key = "Registered", value = "2001-02-03T00:00:00.000Z", type = "time" }, { key = "Abuse score", value = null } } }
  T.eq(render.section(sec, "table"), lines({
    "Whois",
    "Org:         Bahnhof AB",
    "Registered:  2001-02-03 00:00:00",
    "Abuse score:",
  }))
  T.eq(render.section({ kind = "kv", items = {} }, "table"), "(no items)\n")
  T.eq(render.section({ kind = "kv", items = { { key = "Note", value = string.rep("x", 50) } } }, "table",
    { width = 20 }), "Note: " .. string.rep("x", 50) .. "\n", "one long word runs past the width, whole")
  T.eq(render.section({ kind = "kv", items = { { key = "Note", value = "aaaa bbbb cccc dddd" } } }, "table",
    { width = 20 }), "Note: aaaa bbbb cccc\n      dddd\n", "a value wraps under itself")
end)

-- box format --------------------------------------------------------------------------------

T.case("box format", function()
  T.eq(render.run(record(), "box"), with_head({
    "",
    "Remote connections",
    "┌──────────────────────────────────────────┬───────────┬────────┬────────┐",
    "│ Host                                     │ Remote IP │ Events │  Bytes │",
    "├──────────────────────────────────────────┼───────────┼────────┼────────┤",
    "│ wks-001                                  │ 10.0.0.5  │ 12,345 │ 1.5 MB │",
    "│ Linköping-fileserver-02.corp.example.org │ 10.0.0.7  │      3 │        │",
    "└──────────────────────────────────────────┴───────────┴────────┴────────┘",
    "",
    "Location",
    "┌─────────┬───────────┐",
    "│ Country │ SE        │",
    "│ City    │ Linköping │",
    "│ ASN     │ 29,518    │",
    "└─────────┴───────────┘",
  }))
end)

T.case("box format too wide for 40 columns: one box per row, identifiers whole", function()
  T.eq(render.section(record().sections[1], "box", { width = 40 }), lines({
    "Remote connections",
    "[1]",
    "┌───────────┬──────────┐",
    "│ Host      │ wks-001  │",
    "│ Remote IP │ 10.0.0.5 │",
    "│ Events    │ 12,345   │",
    "│ Bytes     │ 1.5 MB   │",
    "└───────────┴──────────┘",
    "",
    "[2]",
    "┌───────────┬──────────────────────────────────────────┐",
    "│ Host      │ Linköping-fileserver-02.corp.example.org │",
    "│ Remote IP │ 10.0.0.7                                 │",
    "│ Events    │ 3                                        │",
    "│ Bytes     │                                          │",
    "└───────────┴──────────────────────────────────────────┘",
  }))
end)

T.case("color adds bold and dim only when asked", function()
  local sec = { kind = "table", title = "T", columns = { { name = "a" }, { name = "n", type = "count" } }, rows = { { "x", 1 } } }
  T.eq(render.section(sec, "table", { color = true }),
    "\27[1mT\27[0m\n\27[1ma  n\27[0m\n\27[2m-  -\27[0m\nx  1\n")
  T.eq(render.section(sec, "box", { color = true }), lines({
    "\27[1mT\27[0m",
    "\27[2m┌───┬───┐\27[0m",
    "\27[2m│\27[0m \27[1ma\27[0m \27[2m│\27[0m \27[1mn\27[0m \27[2m│\27[0m",
    "\27[2m├───┼───┤\27[0m",
    "\27[2m│\27[0m x \27[2m│\27[0m 1 \27[2m│\27[0m",
    "\27[2m└───┴───┘\27[0m",
  }))
  T.unlike(render.run(record(), "box", { color = false }), "\27")
  T.unlike(render.run(record(), "table"), "\27")
end)

-- charts ------------------------------------------------------------------------------------

local function bars()
  return { kind = "chart", chart = "bar", title = "Top ports", unit = "count",
    labels = { "443", "80", "22", "8080" }, series = { { name = "events", values = { 1200, 500, 3, 0 } } } }
end

T.case("bar chart: bars scaled to the largest value, eighths, every value labelled", function()
  T.eq(render.section(bars(), "table", { width = 40 }), lines({
    "Top ports",
    "443  " .. string.rep("█", 29) .. " 1,200",
    "80   ████████████▏ 500",
    "22   ▏ 3",
    "8080 0",
  }))
end)

T.case("bar chart with several series groups lines by label", function()
  local sec = { kind = "chart", chart = "bar", unit = "bytes", labels = { "443", "80" },
    series = { { name = "in", values = { 1200, 500 } }, { name = "out", values = { 300, null } } } }
  T.eq(render.section(sec, "table", { width = 40 }), lines({
    "443 in  " .. string.rep("█", 25) .. " 1.2 kB",
    "    out ██████▎ 300 B",
    "80  in  ██████████▍ 500 B",
    "    out",
  }))
end)

T.case("bar chart: bars at most 40 columns however wide the output", function()
  local out = render.section(bars(), "table", { width = 200 })
  T.like(out, "\n443  " .. string.rep("█", 40) .. " 1,200\n")
  T.unlike(out, string.rep("█", 41))
end)

T.case("bar chart: labels and series names are never cut; a label too wide gets its own line", function()
  local long = "wks-021.contoso.com (10.0.4.80, outbound to 89.160.20.128 over 443/tcp)"
  local sec = { kind = "chart", chart = "bar", labels = { long, "b" },
    series = { { name = "a very long series name", values = { 4, 2 } }, { name = "x", values = { 1, 1 } } } }
  T.eq(render.section(sec, "table", { width = 80 }), lines({
    long,
    "  a very long series name " .. string.rep("█", 40) .. " 4",
    "  x                       " .. string.rep("█", 10) .. " 1",
    "b",
    "  a very long series name " .. string.rep("█", 20) .. " 2",
    "  x                       " .. string.rep("█", 10) .. " 1",
  }))
end)

T.case("bar chart in a box", function()
  local sec = { kind = "chart", chart = "bar", labels = { "a", "b" }, series = { { name = "n", values = { 4, 1 } } } }
  T.eq(render.section(sec, "box", { width = 24 }), lines({
    "┌──────────────────────┐",
    "│ a ████████████████ 4 │",
    "│ b ████ 1             │",
    "└──────────────────────┘",
  }))
end)

local function hours(n, f)
  local labels, values = {}, {}
  for i = 0, n - 1 do
    labels[#labels + 1] = string.format("2026-11-%02dT%02d:00:00.000Z", 20 + math.floor(i / 24), i % 24)
    values[#values + 1] = f(i)
  end
  return labels, values
end

T.case("time chart with few buckets: one bar per bucket, short hour labels", function()
  local labels, values = hours(3, function(i) return ({ 5, null, 20 })[i + 1] end)
  local sec = { kind = "chart", chart = "time", bucket = "hour", title = "Per hour", labels = labels,
    series = { { name = "events", values = values } } }
  T.eq(render.section(sec, "table", { width = 40 }), lines({
    "Per hour",
    "11-20 00:00 ██████▎ 5",
    "11-20 01:00",
    "11-20 02:00 " .. string.rep("█", 25) .. " 20",
  }))
  sec.bucket = "day"
  T.like(render.section(sec, "table", { width = 40 }), "\n2026%-11%-20 ")
end)

T.case("time chart with many buckets: sparkline with min, max and total", function()
  local labels, values = hours(60, function(i) return (i % 10) * 3 end)
  local sec = { kind = "chart", chart = "time", bucket = "hour", unit = "count", labels = labels,
    series = { { name = "events", values = values } } }
  T.eq(render.section(sec, "table", { width = 80 }), lines({
    "11-20 00:00 … 11-22 11:00  60 hours",
    "events ▁▂▃▃▄▅▆▆▇█▁▂▃▃▄▅▆▆▇█▁▂▃▃▄▅▆▆▇█▁▂▃▃▄▅▆▆▇█▁▂▃▃▄▅▆▆▇█▁▂▃▃▄▅▆▆▇█",
    "       min 0  max 27  total 810",
  }))
  T.eq(render.section(sec, "table", { width = 40 }), lines({
    "11-20 00:00 … 11-22 11:00  60 hours",
    "1 mark = 2 hours (peak)",
    "events ▂▃▅▆█▂▃▅▆█▂▃▅▆█▂▃▅▆█▂▃▅▆█▂▃▅▆█",
    "       min 0  max 27  total 810",
  }))
  T.eq(render.section(sec, "table", { width = 80, height = 60 }):match("^[^\n]*"), "11-20 00:00 0",
    "height lets 60 buckets take one row each")
end)

T.case("time chart sparkline: null buckets blank, all-null series", function()
  local labels, a = hours(50, function(i) return i == 0 and null or 7 end)
  local _, b = hours(50, function() return null end)
  local sec = { kind = "chart", chart = "time", bucket = "hour", labels = labels,
    series = { { name = "a", values = a }, { name = "b", values = b } } }
  T.eq(render.section(sec, "table", { width = 80 }), lines({
    "11-20 00:00 … 11-22 01:00  50 hours",
    "a  " .. string.rep("█", 49),
    "  min 7  max 7  total 343",
    "b",
    "  no values",
  }))
end)

T.case("empty chart", function()
  T.eq(render.section({ kind = "chart", chart = "bar", labels = {}, series = {} }, "table"), "(no data)\n")
  T.eq(render.section({ kind = "chart", chart = "bar", labels = {}, series = {} }, "md"), "(no data)\n")
end)

-- csv ---------------------------------------------------------------------------------------

T.case("csv: one block per section, CRLF, raw values", function()
  T.eq(render.run(record(), "csv"), crlf({
    "Host,Remote IP,Events,Bytes",
    "wks-001,10.0.0.5,12345,1500000",
    "Linköping-fileserver-02.corp.example.org,10.0.0.7,3,",
    "",
    "key,value",
    "Country,SE",
    "City,Linköping",
    "ASN,29518",
  }))
end)

T.case("csv quotes comma, quote, CR and LF and leaves data unaltered", function()
  local sec = { kind = "table", columns = { { name = "a,b" }, { name = 'say "hi"' }, { name = "n", type = "number" } },
    rows = { { "x,y", 'he said "no"', 12345678901234 }, { "l1\nl2", "r\rs", 0.5 }, { "=1+2", "\27[31m", true } } }
  T.eq(csv.section(sec), crlf({
    '"a,b","say ""hi""",n',
    '"x,y","he said ""no""",12345678901234',
    '"l1\nl2","r\rs",0.5',
    "=1+2,\27[31m,true",
  }))
end)

T.case("csv charts: label plus one column per series", function()
  T.eq(render.section(bars(), "csv"), crlf({ "label,events", "443,1200", "80,500", "22,3", "8080,0" }))
  T.eq(render.run({ status = "error", message = "x", sections = {} }, "csv"), "")
end)

-- markdown ----------------------------------------------------------------------------------

T.case("md format with show_query", function()
  T.eq(render.run(record(), "md", { show_query = true }), lines({
    "# remote-connections — IP address remote connections",
    "",
    "ip=89.160.20.128 · limit=100 · from 2026-11-20T03:52:29.000Z to 2026-11-27T03:52:29.000Z",
    "",
    "## Remote connections",
    "",
    "| Host                                     | Remote IP | Events |  Bytes |",
    "| ---------------------------------------- | --------- | -----: | -----: |",
    "| wks-001                                  | 10.0.0.5  | 12,345 | 1.5 MB |",
    "| Linköping-fileserver-02.corp.example.org | 10.0.0.7  |      3 |        |",
    "",
    "## Location",
    "",
    "| Key     | Value     |",
    "| ------- | --------- |",
    "| Country | SE        |",
    "| City    | Linköping |",
    "| ASN     | 29,518    |",
    "",
    "Query 1 (ip=89.160.20.128):",
    "",
    "```sql",
    "SELECT host, count(*)",
    "FROM events",
    "WHERE ip = :ip",
    "```",
  }))
end)

T.case("md escapes pipes, newlines and control characters", function()
  T.eq(render.section(evil(), "md"), lines({
    "## Intel \\x1b]0;pwned\\x07",
    "",
    "from \\u202ewhois",
    "",
    "| Field | Value                        |",
    "| ----- | ---------------------------- |",
    "| title | \\x1b[31mred                  |",
    "| desc  | line1<br>line2<br>line3\\tend |",
    "| bad   | ok\\xff\\xfe \\u009b[2J         |",
    "| pipe  | a\\|b                         |",
  }))
end)

T.case("md charts, status and a fence longer than backticks in the SQL", function()
  T.eq(render.section(bars(), "md"), lines({
    "## Top ports", "", "| Label | events |", "| ----- | -----: |", "| 443   |  1,200 |",
    "| 80    |    500 |", "| 22    |      3 |", "| 8080  |      0 |",
  }))
  local r = { script = "s", status = "error", message = "a|b", sections = {},
    queries = { { sql = "SELECT '```' AS x" } } }
  T.eq(render.run(r, "md", { show_query = true }), lines({
    "# s", "", "**error:** a\\|b", "", "Query 1:", "", "````sql", "SELECT '```' AS x", "````",
  }))
  r.message = nil
  T.eq(render.run(r, "md"), "# s\n\n**error**\n")
end)

-- json format -------------------------------------------------------------------------------

T.case("json format: fixed key order, exact numbers, null", function()
  local r = record()
  r.sections[1].rows[1][4] = 12345678901234
  T.eq(render.run(r, "json"),
    '{"script":"remote-connections","kind":"insight","title":"IP address remote connections",'
    .. '"params":{"ip":"89.160.20.128","limit":100},'
    .. '"window":{"from":"2026-11-20T03:52:29.000Z","to":"2026-11-27T03:52:29.000Z"},'
    .. '"status":"ok","message":null,"sections":['
    .. '{"kind":"table","id":"conns","title":"Remote connections","note":null,"columns":['
    .. '{"name":"Host","type":"text"},{"name":"Remote IP","type":"ip"},{"name":"Events","type":"count"},'
    .. '{"name":"Bytes","type":"bytes"}],"rows":[["wks-001","10.0.0.5",12345,12345678901234],'
    .. '["Linköping-fileserver-02.corp.example.org","10.0.0.7",3,null]]},'
    .. '{"kind":"kv","id":null,"title":"Location","note":null,"items":['
    .. '{"key":"Country","value":"SE","type":"text"},{"key":"City","value":"Linköping","type":"text"},'
    .. '{"key":"ASN","value":29518,"type":"count"}]}],'
    .. '"queries":[{"sql":"SELECT host, count(*)\\nFROM events\\nWHERE ip = :ip","params":{"ip":"89.160.20.128"}}],'
    .. '"timing":{"ms":12.5}}\n')
end)

T.case("json format: a chart, an empty run and pretty output", function()
  T.eq(render.section(bars(), "json"),
    '{"kind":"chart","id":null,"title":"Top ports","note":null,"chart":"bar","bucket":null,"unit":"count","max":null,'
    .. '"labels":["443","80","22","8080"],"series":[{"name":"events","values":[1200,500,3,0]}]}\n')
  T.eq(render.run({ script = "s", status = "skipped", message = "no key" }, "json"),
    '{"script":"s","kind":null,"title":null,"params":{},"window":null,"status":"skipped",'
    .. '"message":"no key","sections":[],"queries":[],"timing":null}\n')
  T.eq(render.run({ script = "s", params = { { name = "ip", value = "1.2.3.4" } }, sections = {} }, "json",
    { pretty = true }), lines({
    "{", '  "script": "s",', '  "kind": null,', '  "title": null,', '  "params": {',
    '    "ip": "1.2.3.4"', "  },", '  "window": null,', '  "status": "ok",', '  "message": null,',
    '  "sections": [],', '  "queries": [],', '  "timing": null', "}",
  }))
end)

T.case("json format escapes controls and replaces invalid UTF-8", function()
  T.eq(render.section(evil(), "json"),
    '{"kind":"table","id":null,"title":"Intel \\u001b]0;pwned\\u0007","note":"from \\u202ewhois",'
    .. '"columns":[{"name":"Field","type":"text"},{"name":"Value","type":"text"}],'
    .. '"rows":[["title","\\u001b[31mred"],["desc","line1\\nline2\\r\\nline3\\tend"],'
    .. '["bad","ok\239\191\189\239\191\189 \\u009b[2J"],["pipe","a|b"]]}\n')
end)

-- API and errors ----------------------------------------------------------------------------

T.case("render.formats", function()
  T.eq(render.formats, { "table", "box", "json", "csv", "md", "html" })
end)

T.case("every format renders without changing the record", function()
  local r = record()
  r.sections[3] = bars()
  local before = deep_copy(r)
  for _, f in ipairs(render.formats) do
    T.eq(type(render.run(r, f, { width = 40, color = true, show_query = true })), "string", f)
  end
  T.eq(r, before)
end)

T.case("unknown format", function()
  T.eq(T.raises(function() render.run(record(), "xml") end),
    "unknown format 'xml' (use table, box, json, csv, md or html)")
  T.eq(T.raises(function() render.section(bars(), "pdf") end),
    "unknown format 'pdf' (use table, box, json, csv, md or html)")
  T.eq(T.raises(function() render.run(record(), "\27[2J") end),
    "unknown format '\\x1b[2J' (use table, box, json, csv, md or html)")
end)

T.case("malformed records and sections", function()
  local function err(sec, fmt)
    return T.raises(function() render.run({ script = "s", sections = { { kind = "kv", items = {} }, sec } }, fmt) end)
  end
  T.eq(err({ kind = "pie" }), "section 2: unknown kind 'pie' (use table, kv or chart)")
  T.eq(err("x"), "section 2: not a table")
  T.eq(err({ kind = "table", columns = {} }), "section 2: columns must be a non-empty list")
  T.eq(err({ kind = "table", columns = { {}, {}, { name = "x", type = "float" } } }),
    "section 2: column 3 has unknown type 'float' (use text, ip, time, count, number, bytes, bool or json)")
  T.eq(err({ kind = "table", columns = { {} }, rows = { {}, "x" } }), "section 2: row 2 is not a list")
  T.eq(err({ kind = "table", columns = { {} }, rows = "x" }), "section 2: rows must be a list")
  T.eq(err({ kind = "kv", items = { { key = "a", type = "ipv4" } } }),
    "section 2: item 1 has unknown type 'ipv4' (use text, ip, time, count, number, bytes, bool or json)")
  T.eq(err({ kind = "chart", labels = {}, series = {} }), "section 2: chart type missing (use bar or time)")
  T.eq(err({ kind = "chart", chart = "pie", labels = {}, series = {} }), "section 2: unknown chart 'pie' (use bar or time)")
  T.eq(err({ kind = "chart", chart = "bar", unit = "ms", labels = {}, series = {} }),
    "section 2: unknown unit 'ms' (use count or bytes)")
  T.eq(err({ kind = "chart", chart = "time", bucket = "week", labels = {}, series = {} }),
    "section 2: unknown bucket 'week' (use minute, hour or day)")
  T.eq(err({ kind = "chart", chart = "bar", series = {} }), "section 2: labels must be a list")
  T.eq(err({ kind = "chart", chart = "bar", labels = { "a" }, series = { { name = "n" } } }),
    "section 2: series 1 has no values list")
  T.eq(err({ kind = "chart", chart = "bar", labels = { "a", "b" }, series = { { values = { 1 } } } }, "json"),
    "section 2: series 1 has 1 values for 2 labels")
  T.eq(T.raises(function() render.run({ status = "failed" }) end),
    "record: unknown status 'failed' (use ok, empty, error or skipped)")
  T.eq(T.raises(function() render.run(nil) end), "record: not a table")
  T.eq(T.raises(function() render.section({ kind = "graph" }) end),
    "section: unknown kind 'graph' (use table, kv or chart)")
end)

T.done()
