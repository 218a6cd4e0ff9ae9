-- Tests for ipe.ingest.detect and the Windows event mapping of
-- ipe.ingest.winevent (pure Lua: also run under plain luajit).
local T = require "ipe.testing"
local detect = require "ipe.ingest.detect"
local source = require "ipe.ingest.source"
local winevent = require "ipe.ingest.winevent"

local function det(text, name, opts)
  local ok, d = pcall(detect.detect, source.from_string(text, name or "input"), opts)
  if not ok then return d.msg end
  return d.format .. " (" .. d.how .. ")" .. (d.table and (" -> " .. d.table) or "")
end

T.case("formats by content", function()
  T.eq(det('{"TimeGenerated":"2024-01-01T00:00:00Z","SourceIP":"1.2.3.4"}\n{"a":1}\n'), "jsonl (content)")
  T.eq(det('[\n {"a":1}\n]'), "json (content)")
  T.eq(det('{\n  "type": "bundle",\n  "objects": []\n}'), "stix (content) -> ThreatIntelligenceIndicator")
  T.eq(det('{"type":"bundle","id":"bundle--1","objects":[]}'), "stix (content) -> ThreatIntelligenceIndicator")
  T.eq(det('{"Event": {"info": "x"}}'), "misp (content) -> ThreatIntelligenceIndicator")
  T.eq(det('{\n  "Attribute": [\n'), "misp (content) -> ThreatIntelligenceIndicator")
  T.eq(det('[{"Event": {}}]'), "misp (content) -> ThreatIntelligenceIndicator")
  T.eq(det('{"EventID":4624,"Channel":"Security","Hostname":"h","@timestamp":"2020-01-01T00:00:00Z"}'),
    "winevent (content) -> SecurityEvent")
  T.eq(det('{"EventID":4624,"Channel":"Security","Hostname":"h","Type":"SecurityEvent"}'), "jsonl (content)")
  T.eq(det("<134>Nov 26 10:00:00 fw01 CEF:0|V|P|1|1|N|5|src=1.2.3.4\n"), "cef (content) -> CommonSecurityLog")
  T.eq(det("CEF:0|V|P|1|1|N|5|src=1.2.3.4\n"), "cef (content) -> CommonSecurityLog")
  T.eq(det("Nov 26 10:00:00 srv01 sshd[1]: hi\n"), "syslog (content) -> Syslog")
  T.eq(det("<38>1 2026-11-26T10:00:05Z h a - - - m\n"), "syslog (content) -> Syslog")
  T.eq(det("# list\n1.2.3.4\n10.0.0.0/8 ; x\n"), "blocklist (content) -> ThreatIntelligenceIndicator")
  T.eq(det("TenantId,SourceIP\nx,1.2.3.4\n"), "csv (content)")
end)

T.case("extensions, --format and --search-key", function()
  T.eq(det("a,b\n1,2\n", "x.csv"), "csv (extension .csv)")
  T.eq(det('{"a":1}\n', "x.jsonl"), "jsonl (extension .jsonl)")
  T.eq(det("CEF:0|V|P|1|1|N|5|a=b\n", "x.cef"), "cef (extension .cef) -> CommonSecurityLog")
  T.eq(det("anything", "x", { format = "syslog" }), "syslog (--format) -> Syslog")
  T.eq(det("IP,Why\n1.2.3.4,x\n", "x.csv", { search_key = "IP" }), "watchlist (--search-key) -> Watchlist")
end)

T.case("inputs that cannot be ingested, each with its reason", function()
  T.eq(det("", "e.jsonl"), "e.jsonl: the file is empty: nothing to ingest")
  T.eq(det(" \n\t\n", "w.txt"), "w.txt: the file holds only white space: nothing to ingest")
  T.eq(det("\255\254a\0b\0", "u.csv"),
    "u.csv: the file is UTF-16 encoded; ipe reads UTF-8 (convert it, e.g. iconv -f UTF-16 -t UTF-8)")
  T.eq(det("\127ELF\2\1\1\0\0\0", "x.bin"),
    "x.bin: the file is binary (it holds NUL bytes), not text; ipe ingests text logs and feeds")
  T.eq(det("\200\201\202\203 garbage \255", "g.dat"),
    "g.dat: the file is not UTF-8 text (binary data?); ipe ingests text logs and feeds")
  T.eq(det("hello world\nthis is prose\n", "notes.txt"),
    "notes.txt: cannot tell the format (not JSON, CSV, CEF, syslog, STIX, MISP or a blocklist); use --format")
end)

T.case("the table of CSV/JSON records: --table, Type, file name, columns", function()
  T.eq({ detect.table_for({ "a" }, { Type = "Syslog" }, "x.csv", { table = "SigninLogs" }) }, { "SigninLogs", "--table" })
  T.eq({ detect.table_for({ "Type" }, { Type = "SecurityAlert" }, "x.jsonl") }, { "SecurityAlert", "its Type column" })
  T.eq({ detect.table_for({ "x" }, {}, "/data/SecurityEvent_host_logons.jsonl") }, { "SecurityEvent", "its file name" })
  T.eq({ detect.table_for({ "x" }, {}, "SigninLogs.jsonl") }, { "SigninLogs", "its file name" })
  T.eq({ detect.table_for({ "x" }, {}, "SigninLogsExtra.jsonl") }, { nil,
    "cannot tell which table the records belong to (no Type column, no table name in the file name, and the columns "
      .. "match no table); use --table" })
  T.eq({ detect.table_for({ "TimeGenerated", "IPAddress", "UserPrincipalName", "AppDisplayName", "ResultType" }, {},
    "export.csv") }, { "SigninLogs", "4 of its 4 columns are SigninLogs columns" })
  T.eq({ detect.table_for({ "TimeGenerated", "VMName", "VMIPAddress", "ResourceGroup" }, {}, "flows.jsonl") }, { nil,
    "cannot tell which table the records belong to (no Type column, no table name in the file name, and the columns "
      .. "match no table); use --table" })
  T.eq({ detect.table_for({ "Type" }, { Type = "AzureNetworkAnalytics_CL" }, "flows.jsonl") }, { nil,
    "its Type column names 'AzureNetworkAnalytics_CL', which is not a table of the workspace; use --table" })
end)

T.case("Sysmon EventID 3 as DeviceNetworkEvents: outbound and inbound", function()
  local ev = { ["@timestamp"] = "2020-08-06T05:20:27.676Z", UtcTime = "2020-08-06 05:20:25.103", Hostname = "WS5",
    Initiated = "true", SourceIp = "172.18.39.5", SourcePort = "54358", DestinationIp = "172.18.39.6",
    DestinationPort = "135", SourceHostname = "-", DestinationHostname = "dc.local", Protocol = "tcp",
    Image = "C:\\Users\\p\\GruntHTTP.exe", ProcessId = "7240", User = "THESHIRE\\pgustavo", RecordNumber = 291187,
    ProcessGuid = "{x}" }
  local row = winevent.network_event(ev)
  T.eq(row, { TimeGenerated = "2020-08-06 05:20:25.103", Timestamp = "2020-08-06 05:20:25.103", DeviceName = "WS5",
    ActionType = "ConnectionSuccess", LocalIP = "172.18.39.5", LocalPort = "54358", RemoteIP = "172.18.39.6",
    RemotePort = "135", RemoteUrl = "dc.local", LocalIPType = "Private", RemoteIPType = "Private", Protocol = "Tcp",
    InitiatingProcessFolderPath = "C:\\Users\\p\\GruntHTTP.exe", InitiatingProcessFileName = "GruntHTTP.exe",
    InitiatingProcessId = "7240", InitiatingProcessAccountDomain = "THESHIRE", InitiatingProcessAccountName = "pgustavo",
    ReportId = 291187, ProcessGuid = "{x}" })
  ev.Initiated, ev.DestinationIp, ev.SourceIp = "false", "0:0:0:0:0:0:0:1", "FE80:0:0:0:3816:B2EE:1B9B:324B"
  row = winevent.network_event(ev)
  T.eq({ row.ActionType, row.LocalIP, row.LocalPort, row.RemoteIP, row.RemotePort, row.RemoteUrl, row.LocalIPType,
    row.RemoteIPType }, { "InboundConnectionAccepted", "::1", "135", "fe80::3816:b2ee:1b9b:324b", "54358", nil,
    "Loopback", "LinkLocal" })
end)

T.case("Security events: accounts, logon type name, activity from the message", function()
  local row = winevent.security_event({ ["@timestamp"] = "2020-08-06T05:20:46.753Z", Hostname = "WS6",
    SourceName = "Microsoft-Windows-Security-Auditing", Channel = "Security", EventID = "4624",
    TargetDomainName = "THESHIRE.LOCAL", TargetUserName = "MORDORDC$", SubjectDomainName = "-", SubjectUserName = "-",
    LogonType = "3", LogonProcessName = "Kerberos ", IpAddress = "172.18.39.5",
    Message = "An account was successfully logged on.\r\n\r\nSubject:..." }, 4624)
  T.eq(row, { TimeGenerated = "2020-08-06T05:20:46.753Z", Computer = "WS6",
    EventSourceName = "Microsoft-Windows-Security-Auditing", Channel = "Security", EventID = 4624,
    TargetDomainName = "THESHIRE.LOCAL", TargetUserName = "MORDORDC$", SubjectDomainName = "-", SubjectUserName = "-",
    LogonType = "3", LogonTypeName = "3 - Network", LogonProcessName = "Kerberos", IpAddress = "172.18.39.5",
    Message = "An account was successfully logged on.\r\n\r\nSubject:...",
    Activity = "4624 - An account was successfully logged on.", TargetAccount = "THESHIRE.LOCAL\\MORDORDC$",
    Account = "THESHIRE.LOCAL\\MORDORDC$", AccountType = "Machine" })
end)

T.done()
