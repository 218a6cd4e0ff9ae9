-- ipe.ingest.source: one input (a file or standard input) read once, in 1 MiB
-- chunks: a peek at its head for detection, lines with their numbers, or the
-- whole text, and a content fingerprint of every byte read.
--
--   local src, err = source.open(path)      -- "-" is standard input; nil, msg when it cannot be opened
--   src.name, src.size (nil for stdin)
--   src:head() -> the first bytes (up to 64 KiB, BOM removed), not consumed
--   src:next_line() -> line, lineno              a line without its "\n" / "\r\n"
--   src:each_record(sink, table, parse)          every non-blank line parsed into a row
--                   -> false, lineno, reason     a line that cannot be a record: longer than
--                                                MAX_LINE, a NUL byte, invalid UTF-8 (its bytes are skipped)
--                   -> nil                       at the end
--   src:read_all() -> text | nil, reason (a document: NUL, invalid UTF-8 with its line, too big)
--   src:finish() -> fingerprint (32 hex digits), bytes   (reads what is left, for the fingerprint)
--   src:progress() -> bytes read so far
--   src:close()
-- A UTF-8 byte-order mark at the start is dropped (but fingerprinted).
-- Errors are returned (nil/false, msg), never raised.
local fingerprint = require "ipe.ingest.fingerprint"
local textutil = require "ipe.textutil"

local sub, find, byte = string.sub, string.find, string.byte

local M = {}

M.CHUNK = 1048576
M.HEAD = 65536
M.MAX_LINE = 1048576
M.MAX_DOCUMENT = 1024 * 1048576

local Source = {}
Source.__index = Source

-- utf8_error(s) -> byte offset of the first invalid UTF-8 sequence in s, or nil
local function utf8_error(s)
  local i = find(s, "[\128-\255]")
  while i do
    local cp, len = textutil.decode(s, i)
    if not cp then return i end
    i = find(s, "[\128-\255]", i + len)
  end
  return nil
end
M.utf8_error = utf8_error

function M.open(path)
  local fh, size
  if path == "-" then
    fh = io.stdin
  else
    local err
    fh, err = io.open(path, "rb")
    if not fh then return nil, tostring(err) end
    size = fh:seek("end")
    fh:seek("set", 0)
  end
  local src = setmetatable({ name = path == "-" and "<stdin>" or path, path = path, fh = fh, size = size,
    fp = fingerprint.new(), buf = "", pos = 1, eof = false, lineno = 0, read_bytes = 0, check = false,
    started = false }, Source)
  return src
end

-- from_string(text, name): a source over text (tests, and documents held in memory)
function M.from_string(text, name)
  local src = setmetatable({ name = name or "<text>", path = name, size = #text, fp = fingerprint.new(),
    buf = "", pos = 1, eof = false, lineno = 0, read_bytes = 0, check = false, started = false,
    pending = text }, Source)
  return src
end

-- fill(): append one chunk to the buffer; false at the end
function Source:fill()
  if self.eof then return false end
  local chunk
  if self.pending then
    chunk = self.pending
    self.pending = nil
  elseif self.fh then
    chunk = self.fh:read(M.CHUNK)
  end
  if not chunk or chunk == "" then self.eof = true return false end
  local high, nul = fingerprint.update(self.fp, chunk)
  -- lines are checked byte by byte only while a chunk with such bytes is in the buffer
  self.check = high or nul or (self.pos <= #self.buf and self.check)
  self.read_bytes = self.read_bytes + #chunk
  if not self.started then
    self.started = true
    if sub(chunk, 1, 3) == "\239\187\191" then chunk = sub(chunk, 4) end
  end
  if self.pos > #self.buf then
    self.buf, self.pos = chunk, 1
  else
    self.buf, self.pos = sub(self.buf, self.pos) .. chunk, 1
  end
  return true
end

function Source:head()
  while #self.buf - self.pos + 1 < M.HEAD and self:fill() do end
  return sub(self.buf, self.pos, self.pos + M.HEAD - 1)
end

function Source:progress() return self.read_bytes end

local function bad_bytes(line)
  if find(line, "%z") then return "a NUL byte: this is binary data, not text" end
  local at = utf8_error(line)
  if at then
    return string.format("invalid UTF-8 (byte 0x%02x at column %d); convert the file to UTF-8", byte(line, at), at)
  end
  return nil
end

-- skip_long(): drop the rest of an over-long line
function Source:skip_long()
  while true do
    local nl = find(self.buf, "\n", self.pos, true)
    if nl then self.pos = nl + 1 return end
    self.buf, self.pos = "", 1
    if not self:fill() then return end
  end
end

function Source:next_line()
  while true do
    local nl = find(self.buf, "\n", self.pos, true)
    if nl then
      if nl - self.pos > M.MAX_LINE then
        self.lineno = self.lineno + 1
        self.pos = nl + 1
        return false, self.lineno, "the line is longer than " .. M.MAX_LINE .. " bytes (1 MiB, the record limit)"
      end
      local e = nl - 1
      if byte(self.buf, e) == 13 then e = e - 1 end
      local line = sub(self.buf, self.pos, e)
      self.pos = nl + 1
      self.lineno = self.lineno + 1
      if self.check then
        local why = bad_bytes(line)
        if why then return false, self.lineno, why end
      end
      return line, self.lineno
    end
    if #self.buf - self.pos + 1 > M.MAX_LINE then
      self.lineno = self.lineno + 1
      self:skip_long()
      return false, self.lineno, "the line is longer than " .. M.MAX_LINE .. " bytes (1 MiB, the record limit)"
    end
    if not self:fill() then
      if self.pos > #self.buf then return nil end
      local e = #self.buf
      if byte(self.buf, e) == 13 then e = e - 1 end
      local line = sub(self.buf, self.pos, e)
      self.buf, self.pos = "", 1
      self.lineno = self.lineno + 1
      if self.check then
        local why = bad_bytes(line)
        if why then return false, self.lineno, why end
      end
      return line, self.lineno
    end
  end
end

local function line_at(text, pos)
  local line, p = 1, 1
  while true do
    local i = find(text, "\n", p, true)
    if not i or i >= pos then return line end
    line, p = line + 1, i + 1
  end
end

-- src:each_record(sink, tname, parse): the line-oriented formats (CEF, syslog):
-- every non-blank line through parse(line) -> record | nil, reason, into tname;
-- an unreadable line or a parse failure is rejected with its line number.
function Source:each_record(sink, tname, parse)
  while true do
    local line, ln, why = self:next_line()
    if line == nil then return end
    if line == false then
      sink.reject(ln, why)
    elseif line:find("%S") then
      local rec, err = parse(line)
      if rec then sink.row(tname, ln, rec) else sink.reject(ln, err) end
    end
  end
end

function Source:read_all()
  while self:fill() do
    if #self.buf > M.MAX_DOCUMENT then
      return nil, "the document is larger than " .. M.MAX_DOCUMENT .. " bytes (1 GiB)"
    end
  end
  local text = sub(self.buf, self.pos)
  self.buf, self.pos = "", 1
  if self.check then
    local z = find(text, "%z")
    if z then return nil, "line " .. line_at(text, z) .. ": a NUL byte: this is binary data, not text" end
    local at = utf8_error(text)
    if at then
      return nil, string.format("line %d: invalid UTF-8 (byte 0x%02x); convert the file to UTF-8", line_at(text, at),
        byte(text, at))
    end
  end
  return text
end

function Source:finish()
  while self:fill() do self.buf, self.pos = "", 1 end
  return fingerprint.hex(self.fp), self.read_bytes
end

function Source:close()
  if self.fh and self.fh ~= io.stdin then self.fh:close() end
  self.fh = nil
end

return M
