local T = require "ipe.testing"
local config = require "ipe.config"

T.case("parses sections and keys", function()
  local s = assert(config.parse("# c\n[geoip]\npaths = /a:/b\n\n[provider.virustotal]\nkey=abc = d\n; x\n", "f"))
  T.eq(s, { geoip = { paths = "/a:/b" }, ["provider.virustotal"] = { key = "abc = d" } })
end)

T.case("reports the line of a bad entry", function()
  local s, err = config.parse("[a]\nnot a pair\n", "/x/config")
  T.eq(s, nil)
  T.eq(err, "/x/config:2: expected [section] or key = value")
end)

T.case("a key outside a section is refused", function()
  local _, err = config.parse("key = 1\n", "cfg")
  T.eq(err, "cfg:1: 'key' is outside any [section]")
end)

T.done()
