-- Hostile strings for the ClickHouse quoting tests (a module, not a test file: no T.case).
return {
  "", "'", "''", "\\", "\\'", "'\\", "\\\\'", "a'b", "a\\'b", "'; DROP TABLE t; --", "' OR 1=1 --",
  "\0", "a\0b", "\0'\0", "\n", "\r\n", "line1\nline2", "\t\v\f\b\a", "\27[31m", "\127",
  "é", "日本語", "𝄞", "\u{202E}evil", "\xEF\xBB\xBF", "\\x41", "\\0", "\\n", "/* :x */", "-- :x", ":name",
  "`", "\"", "\"'`", "{\"a\":\"b'c\"}", string.rep("'\\", 500), (function()
    local all = {}
    for b = 0, 255 do all[#all + 1] = string.char(b) end
    return table.concat(all)
  end)(),
}
