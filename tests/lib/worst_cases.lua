-- tests/lib/worst_cases.lua: for every ingest format, an input holding a value of
-- about 1 MiB shaped to hit what made parsers quadratic: long runs of key-like
-- characters with no "=" (CEF), long inner runs of white space (every trim),
-- a quoted CSV field of many lines, many escaped quotes (JSON strings),
-- "A1A1..." words (STIX patterns), a long path without separators (Windows
-- events), a long IP text (IP columns). Used by tests/lua/ingest_linear_test.lua
-- (each must finish, with the rows it should give) and tests/bench/bench_parsers
-- (seconds per MiB of each).
--
--   local cases = dofile("tests/lib/worst_cases.lua")(size)   -- size: the big value (default below)
--   for _, c in ipairs(cases) do -- c.format, c.bytes, c.opts, c.rows = { table = n }, c.rejected = n,
--                                 -- c.query / c.want: a row of what was stored, and what it must be
local rep = string.rep

-- a value: 1 MiB less room for the rest of its line (records are limited to 1 MiB)
local SIZE = 1048576 - 4096

return function(size)
local M = {}
local V = size or SIZE
V = V - V % 12
local H = V / 2

-- word(n): key-like characters with spaces inside, no "=" (n bytes)
local function word(n) return rep("a", n / 2 - 1) .. rep(" ", n / 2 - 1) .. "bz" end

local function json_text(n) return rep('a \\" ', n / 6) end

M[#M + 1] = { format = "cef", rows = { CommonSecurityLog = 1 },
  bytes = "<134>Nov 26 10:00:00 fw01 CEF:0|V|P|1|100|N|5|src=10.0.0.1 dst=" .. rep(" ", 64) .. "1.2.3.4" ..
    " msg=" .. word(H) .. " cs1=" .. rep("a.b-c_", H / 6) .. " cs1Label=x\n",
  query = "SELECT length(Message), DestinationIP, length(DeviceCustomString1) FROM CommonSecurityLog",
  want = { H, "1.2.3.4", H } }

M[#M + 1] = { format = "syslog", rows = { Syslog = 1 },
  bytes = "<13>Nov 26 10:00:00 host" .. rep("[1]", H / 3) .. " app[42]: " .. word(H) .. "\n",
  query = "SELECT length(SyslogMessage), substr(SyslogMessage, -2) FROM Syslog", want = { 4 + H + 10 + H, "bz" } }

M[#M + 1] = { format = "csv", opts = { table = "CommonSecurityLog" }, rows = { CommonSecurityLog = 1 },
  bytes = "TimeGenerated,SourceIP,Message\n2024-01-01T00:00:00Z,\"" .. rep(" ", H) .. "1.2.3.4\",\"" ..
    rep("a \"\"\n", H / 5) .. "\"\n",
  query = "SELECT SourceIP, length(Message) FROM CommonSecurityLog", want = { "1.2.3.4", H / 5 * 4 } }

M[#M + 1] = { format = "json", opts = { table = "CommonSecurityLog" }, rows = { CommonSecurityLog = 1 },
  bytes = '[{"TimeGenerated":"2024-01-01T00:00:00Z","SourceIP":"' .. rep(" ", H / 2) .. '1.2.3.4","Message":"' ..
    json_text(H) .. '"}]',
  query = "SELECT SourceIP, length(Message) FROM CommonSecurityLog", want = { "1.2.3.4", H / 6 * 4 } }

M[#M + 1] = { format = "jsonl", opts = { table = "CommonSecurityLog" }, rows = { CommonSecurityLog = 1 },
  bytes = '{"TimeGenerated":"2024-01-01T00:00:00Z","' .. rep(" ", 1000) .. 'Message [UTC]":"' .. json_text(H) ..
    '","DestinationIP":"' .. rep("1 ", H / 2) .. '"}\n',
  query = "SELECT DestinationIP IS NULL, length(Message), length(_Extra) FROM CommonSecurityLog",
  want = { 1, H / 6 * 4, #'{"DestinationIP":""}' + H } }

M[#M + 1] = { format = "stix", rows = { ThreatIntelligenceIndicator = 2 }, rejected = 1,
  bytes = '{"type":"bundle","id":"bundle--1","objects":[' ..
    '{"type":"indicator","id":"indicator--1","modified":"2024-01-01T00:00:00Z","pattern":"[ipv4-addr:value = \'' ..
    rep(" ", H) .. '198.51.100.1\' OR domain-name:value = \'' .. rep("a\\\\\'", H / 4) .. '\']"},' ..
    '{"type":"indicator","id":"indicator--2","modified":"2024-01-01T00:00:00Z","pattern":"[' .. rep("A1", H / 2) ..
    ']"}]}',
  query = "SELECT group_concat(coalesce(NetworkIP, length(DomainName)), ' ') FROM ThreatIntelligenceIndicator",
  want = { "198.51.100.1 " .. H / 4 * 2 } }

M[#M + 1] = { format = "misp", rows = { ThreatIntelligenceIndicator = 2 },
  bytes = '{"Event":{"info":"' .. word(H / 2) .. '","timestamp":"1700000000","Attribute":[' ..
    '{"type":"ip-dst","value":"' .. rep(" ", H) .. '1.2.3.4' .. rep(" ", H) .. '","uuid":"u1"},' ..
    '{"type":"domain","value":"' .. word(H) .. '","uuid":"u2","Tag":[{"name":"misp-galaxy:tool=\\"' .. word(H) ..
    '\\""}]}]}}',
  query = "SELECT group_concat(coalesce(NetworkDestinationIP, length(DomainName)), ' ') FROM ThreatIntelligenceIndicator",
  want = { "1.2.3.4 " .. H } }

M[#M + 1] = { format = "blocklist", rows = { ThreatIntelligenceIndicator = 1 },
  bytes = "1.2.3.4 # " .. word(V) .. "\n",
  query = "SELECT NetworkIP, length(Description) FROM ThreatIntelligenceIndicator", want = { "1.2.3.4", V } }

M[#M + 1] = { format = "watchlist", opts = { search_key = "IP", alias = "big" }, rows = { Watchlist = 2 },
  bytes = "IP,Reason\n" .. rep(" ", H / 2) .. "1.2.3.4" .. rep(" ", H / 2) .. "," .. word(H) .. "\n",
  query = "SELECT SearchKey FROM Watchlist WHERE _DTItemType = 'watchlist-item'", want = { "1.2.3.4" } }

M[#M + 1] = { format = "winevent", rows = { DeviceNetworkEvents = 1, SecurityEvent = 1 },
  bytes = '{"EventID":3,"Channel":"Microsoft-Windows-Sysmon/Operational","Hostname":"h",' ..
    '"UtcTime":"2024-01-01 00:00:00.000","Initiated":"true","SourceIp":"10.0.0.1","DestinationIp":"1.2.3.4",' ..
    '"Image":"C:\\\\' .. rep("a", V) .. '\\\\x.exe"}\n' ..
    '{"EventID":4624,"Channel":"Security","Hostname":"h","@timestamp":"2024-01-01T00:00:00.000Z",' ..
    '"LogonProcessName":"' .. word(H) .. '","IpAddress":"' .. rep(" ", H / 2) .. '::1"}\n',
  query = "SELECT d.InitiatingProcessFileName, length(d.InitiatingProcessFolderPath), length(s.LogonProcessName), " ..
    "s.IpAddress FROM DeviceNetworkEvents d, SecurityEvent s", want = { "x.exe", V + 9, H, "::1" } }

return M
end
