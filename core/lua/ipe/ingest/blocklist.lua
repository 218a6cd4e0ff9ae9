-- ipe.ingest.blocklist: plain IP blocklists -> ThreatIntelligenceIndicator.
--
-- One IP address or CIDR per line; lines starting with #, ; or // are
-- comments, as are blank lines; text after the address (a comment, "; SBL123"
-- as in Spamhaus DROP, other columns) becomes the row's Description. A /32 or
-- /128 is an address (NetworkIP), other prefixes NetworkCidrBlock.
-- Every row: TimeGenerated = the ingestion time, ExpirationDateTime =
-- --expires (default 30 days after it: lists go stale), Active = true,
-- IndicatorProvider = SourceSystem = --provider, else the file name without
-- its extension, ConfidenceScore = --confidence, ThreatType "WatchList",
-- IndicatorId "blocklist:<provider>:<value>" (so a newer copy of the list
-- supersedes the older one's rows for the same value).
-- A line that is neither a comment nor an IP/CIDR is a malformed record.
-- Errors: parse returns false, reason; run rejects such lines through sink.reject.
local ti = require "ipe.ingest.ti"

local find, match = string.find, string.match
local rtrim = require("ipe.ipaddr").rtrim

local M = {}

M.DEFAULT_EXPIRY = 30 * 86400

-- parse(line) -> value, description | nil (a comment or blank) | false, reason
function M.parse(line)
  if not find(line, "%S") or find(line, "^%s*#") or find(line, "^%s*;") or find(line, "^%s*//") then return nil end
  local value, rest = match(line, "^%s*([^%s#;,]+)(.*)$")
  local obs, why = ti.observable("ip", value)
  if not obs then return false, why end
  local desc = rtrim(match(rest, "^[%s,;#/]*(.*)$"))
  return obs, desc ~= "" and desc or nil
end

function M.run(src, sink)
  local opts = sink.opts
  local provider = opts.provider or (sink.name == "<stdin>" and "blocklist") or
    match(sink.name, "([^/]+)$"):gsub("%.[^.]*$", "")
  local expires = ti.expiry(opts, sink.now_text, M.DEFAULT_EXPIRY)
  while true do
    local line, ln, why = src:next_line()
    if line == nil then break end
    if line == false then
      sink.reject(ln, why)
    else
      local obs, desc = M.parse(line)
      if obs == false then
        sink.reject(ln, desc)
      elseif obs then
        local ind = {
          time = sink.now_text, expires = expires, id = "blocklist:" .. provider .. ":" .. obs.value,
          provider = provider, confidence = opts.confidence_value, threat_type = "WatchList",
          description = desc or ("listed in " .. provider), active = true,
        }
        sink.row("ThreatIntelligenceIndicator", ln, ti.row(ind, obs))
      end
    end
  end
end

return M
