-- Tests for ipe.ingest.source, ipe.ingest.fingerprint and ipe.ingest.csv
-- (pure Lua: also run under plain luajit).
local T = require "ipe.testing"
local source = require "ipe.ingest.source"
local fingerprint = require "ipe.ingest.fingerprint"
local csv = require "ipe.ingest.csv"

local function lines(text)
  local src = source.from_string(text, "t")
  local out = {}
  while true do
    local line, ln, why = src:next_line()
    if line == nil then break end
    out[#out + 1] = { line, ln, why }
  end
  return out
end

local function tmpfile(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

T.case("lines with their numbers; LF and CRLF; a last line without newline", function()
  T.eq(lines("a\r\nb\n\nc"), { { "a", 1 }, { "b", 2 }, { "", 3 }, { "c", 4 } })
  T.eq(lines(""), {})
  T.eq(lines("x\n"), { { "x", 1 } })
end)

T.case("a UTF-8 byte-order mark is dropped", function()
  T.eq(lines("\239\187\191h1,h2\n1,2\n"), { { "h1,h2", 1 }, { "1,2", 2 } })
end)

T.case("bad lines are reported with their number and reading goes on", function()
  T.eq(lines("ok\nnul\0here\nbad \255 byte\nfine é\n"), {
    { "ok", 1 }, { false, 2, "a NUL byte: this is binary data, not text" },
    { false, 3, "invalid UTF-8 (byte 0xff at column 5); convert the file to UTF-8" }, { "fine é", 4 } })
end)

T.case("a line over the 1 MiB record limit is skipped as one bad line", function()
  local long = string.rep("x", source.MAX_LINE + 10)
  local got = lines("first\n" .. long .. "\nlast\n")
  T.eq(#got, 3)
  T.eq(got[1], { "first", 1 })
  T.eq(got[2], { false, 2, "the line is longer than 1048576 bytes (1 MiB, the record limit)" })
  T.eq(got[3], { "last", 3 })
  got = lines(string.rep("y", 10 * 1048576))
  T.eq(got, { { false, 1, "the line is longer than 1048576 bytes (1 MiB, the record limit)" } })
end)

T.case("head peeks without consuming", function()
  local src = source.from_string("one\ntwo\n", "t")
  T.eq(src:head(), "one\ntwo\n")
  T.eq({ src:next_line() }, { "one", 1 })
end)

T.case("read_all: the whole text, or the line of a NUL / invalid byte", function()
  T.eq(source.from_string("[1,\n2]", "t"):read_all(), "[1,\n2]")
  T.eq({ source.from_string("{\n\"a\": \"\0\"}", "t"):read_all() },
    { nil, "line 2: a NUL byte: this is binary data, not text" })
  T.eq({ source.from_string("{\n\n\"a\": \"\192\"}", "t"):read_all() },
    { nil, "line 3: invalid UTF-8 (byte 0xc0); convert the file to UTF-8" })
end)

T.case("files and their fingerprint, which covers every byte read", function()
  local text = string.rep("line of text\n", 200000)
  local path = tmpfile(text)
  local src = assert(source.open(path))
  T.eq(src.size, #text)
  local n = 0
  while src:next_line() do n = n + 1 end
  local hash, bytes = src:finish()
  src:close()
  T.eq(n, 200000)
  T.eq(bytes, #text)
  T.eq(hash, fingerprint.of(text))
  local again = assert(source.open(path))
  T.eq(again:finish(), hash)
  again:close()
  os.remove(path)
  T.eq({ source.open("/nonexistent/x.csv") }, { nil, "/nonexistent/x.csv: No such file or directory" })
end)

T.case("fingerprints: stable, length-aware, independent of chunking", function()
  T.eq(fingerprint.of(""), "d4e9dcd44748bbbe32252fbadc49f8c3")
  T.ne(fingerprint.of("a"), fingerprint.of("b"))
  T.ne(fingerprint.of("ab"), fingerprint.of("ba"))
  T.ne(fingerprint.of(string.rep("\0", 16)), fingerprint.of(string.rep("\0", 32)))
  local big = string.rep("hello world, ", 1000)
  local fp = fingerprint.new()
  fingerprint.update(fp, big:sub(1, 4096))
  fingerprint.update(fp, big:sub(4097))
  T.eq(fingerprint.hex(fp), fingerprint.of(big))
  local f2 = fingerprint.new()
  T.eq({ fingerprint.update(f2, string.rep("a", 32)) }, { false, false })
  T.eq({ fingerprint.update(f2, string.rep("a", 31) .. "\200") }, { true, false })
  T.eq({ fingerprint.update(f2, "x\0" .. string.rep("b", 30)) }, { false, true })
end)

local function records(text)
  local reader = csv.reader(source.from_string(text, "t.csv"))
  local out = {}
  while true do
    local f, ln, why = reader()
    if f == nil then break end
    out[#out + 1] = { f, ln, why }
  end
  return out
end

T.case("CSV: plain, quoted, doubled quotes, commas and empty fields", function()
  T.eq(records('a,b,c\n1,"x, y","say ""hi"""\n,,\n"",last,\n'), {
    { { "a", "b", "c" }, 1 }, { { "1", "x, y", 'say "hi"' }, 2 }, { { "", "", "" }, 3 }, { { "", "last", "" }, 4 } })
end)

T.case("CSV: a quoted cell spanning lines (portal JSON cells); blank lines skipped", function()
  local text = 'id,json,n\n1,"[\n  {\n    ""k"": ""v""\n  }\n]",2\n\n3,"{}",4\n'
  T.eq(records(text), { { { "id", "json", "n" }, 1 }, { { "1", '[\n  {\n    "k": "v"\n  }\n]', "2" }, 2 },
    { { "3", "{}", "4" }, 8 } })
end)

T.case("CSV: a quote inside an unquoted field is a character", function()
  T.eq(records('a,b\nx"y,2\n'), { { { "a", "b" }, 1 }, { { 'x"y', "2" }, 2 } })
end)

T.case("CSV: bad records name the problem and reading goes on", function()
  T.eq(records('a,b\n"x"y,1\n2,3\n"open,4\n'), {
    { { "a", "b" }, 1 }, { false, 2, "field 1: text after the closing quote of a quoted field" },
    { { "2", "3" }, 3 }, { false, 4, "a quoted field is not closed before the end of the file" } })
end)

T.case("CSV headers: [UTC] dropped, empty and repeated names made unique", function()
  T.eq(csv.header({ "", "TimeGenerated [UTC]", "ClientIP", "ClientIP_", "ClientIP", "" }),
    { "Column1", "TimeGenerated", "ClientIP", "ClientIP_", "ClientIP_2", "Column6" })
end)

T.done()
