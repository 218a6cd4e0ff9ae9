-- Parses each query of the KQL corpus ($KQL_CORPUS_DIR/sources.tsv) with ipe.kql.parser and
-- prints one TAP comment line per query: "# PARSE<TAB>file<TAB>ok" or the error's first line.
-- Copied to a *_test.lua name and run by tests/tools/KqlCorpus.pm through 'ipe-run test'.
local T = require "ipe.testing"

local dir = assert(os.getenv("KQL_CORPUS_DIR"), "KQL_CORPUS_DIR is not set")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

T.case("the KQL corpus parses (or each failure has its reason)", function()
  local ok, parser = pcall(require, "ipe.kql.parser")
  local kerr = ok and require "ipe.kql.err"
  for line in read(dir .. "/sources.tsv"):gmatch("[^\n]+") do
    local file = line:match("^([^\t]+)")
    local why = "ipe.kql.parser is missing"
    if ok then
      local text = read(dir .. "/" .. file)
      local good, e = pcall(parser.parse, text)
      if good then why = "ok"
      elseif kerr.is(e) then why = (kerr.format(e, text, file):match("^[^\n]*"))
      else why = "internal error: " .. tostring(e):match("^[^\n]*") end
    end
    io.write("# PARSE\t", file, "\t", why, "\n")
  end
end)
