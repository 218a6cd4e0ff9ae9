-- Tests for ipe.ingest.cef and ipe.ingest.syslog (pure Lua: also run under plain luajit).
local T = require "ipe.testing"
local cef = require "ipe.ingest.cef"
local syslog = require "ipe.ingest.syslog"
local timeutil = require "ipe.timeutil"

local NOW = timeutil.parse_time("2026-11-27T12:00:00Z")

T.case("CEF behind an RFC 3164 header: header fields, standard keys, syslog host and time", function()
  local rec = assert(cef.parse("<134>Nov 26 10:00:00 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.2|TRAFFIC|end|3|" ..
    "src=10.0.0.5 spt=51515 dst=203.0.113.9 dpt=443 proto=TCP act=allow in=1200 out=3400 suser=alice " ..
    "duser=bob shost=wks1 dhost=web request=https://x/y?a=1 app=HTTPS cnt=2 deviceDirection=1", NOW))
  T.eq(rec.DeviceVendor, "Palo Alto Networks")
  T.eq(rec.DeviceProduct, "PAN-OS")
  T.eq(rec.DeviceVersion, "10.2")
  T.eq(rec.DeviceEventClassID, "TRAFFIC")
  T.eq(rec.Activity, "end")
  T.eq(rec.LogSeverity, "3")
  T.eq(rec.CEFVersion, "0")
  T.eq({ rec.SourceIP, rec.SourcePort, rec.DestinationIP, rec.DestinationPort }, { "10.0.0.5", "51515", "203.0.113.9", "443" })
  T.eq({ rec.Protocol, rec.DeviceAction, rec.SimplifiedDeviceAction }, { "TCP", "allow", "Allow" })
  T.eq({ rec.ReceivedBytes, rec.SentBytes, rec.EventCount }, { "1200", "3400", "2" })
  T.eq({ rec.SourceUserName, rec.DestinationUserName, rec.SourceHostName, rec.DestinationHostName },
    { "alice", "bob", "wks1", "web" })
  T.eq({ rec.RequestURL, rec.ApplicationProtocol, rec.CommunicationDirection }, { "https://x/y?a=1", "HTTPS", "Outbound" })
  T.eq({ rec.Computer, rec.TimeGenerated, rec.Facility, rec.SeverityLevel },
    { "fw01", "2026-11-26T10:00:00.000Z", "local0", "info" })
end)

T.case("CEF escaping in the header and in extension values", function()
  local rec = assert(cef.parse("CEF:0|Vendor\\|X|Prod\\\\uct|1.0|100|Name|High|cs1=a\\=b cs1Label=Rule " ..
    "msg=line1\\nline2\\rend\\\\ fname=C:\\\\temp\\\\x.exe cs2=p\\|q", NOW))
  T.eq({ rec.DeviceVendor, rec.DeviceProduct }, { "Vendor|X", "Prod\\uct" })
  T.eq({ rec.DeviceCustomString1, rec.DeviceCustomString1Label }, { "a=b", "Rule" })
  T.eq(rec.Message, "line1\nline2\rend\\")
  T.eq(rec.FileName, "C:\\temp\\x.exe")
  T.eq(rec.DeviceCustomString2, "p|q")
end)

T.case("CEF values may hold spaces; every cs, c6a, cn, cfp key and its label maps", function()
  local rec = assert(cef.parse("CEF:0|V|P|1|1|N|5|msg=hello big world cs6=six cs6Label=L6 c6a4=2001:db8::4 " ..
    "c6a4Label=A4 cn3=7 cn3Label=N3 cfp2=1.5 cfp2Label=F2", NOW))
  T.eq(rec.Message, "hello big world")
  T.eq({ rec.DeviceCustomString6, rec.DeviceCustomString6Label }, { "six", "L6" })
  T.eq({ rec.DeviceCustomIPv6Address4, rec.DeviceCustomIPv6Address4Label }, { "2001:db8::4", "A4" })
  T.eq({ rec.DeviceCustomNumber3, rec.DeviceCustomNumber3Label }, { "7", "N3" })
  T.eq({ rec.DeviceCustomFloatingPoint2, rec.DeviceCustomFloatingPoint2Label }, { "1.5", "F2" })
end)

T.case("CEF: unknown keys go to AdditionalExtensions; rt is the time; full key names map too", function()
  local rec = assert(cef.parse("CEF:0|V|P|1|1|N|5|rt=1617770662000 sourceAddress=1.2.3.4 destinationPort=22 " ..
    "vendorKey=x other=y z", NOW))
  T.eq(rec.AdditionalExtensions, "vendorKey=x;other=y z")
  T.eq(rec.ReceiptTime, "1617770662000")
  T.eq(rec.TimeGenerated, "2021-04-07T04:44:22.000Z")
  T.eq({ rec.SourceIP, rec.DestinationPort }, { "1.2.3.4", "22" })
end)

T.case("CEF: a header without seven fields, no CEF marker, a bad rt, junk extension", function()
  T.eq({ cef.parse("CEF:0|V|P|1|1|N", NOW) },
    { nil, "a CEF header has 7 fields separated by '|' before the extension; this one has 5" })
  T.eq({ cef.parse("hello world", NOW) }, { nil, "not a CEF record (no 'CEF:' in the line)" })
  T.eq({ cef.parse("CEF:0|V|P|1|1|N|5|rt=Feb 30 2024 10:00:00", NOW) },
    { nil, "rt: 'Feb 30 2024 10:00:00' is not a valid time" })
  T.eq({ cef.parse("CEF:0|V|P|1|1|N|5|just some text", NOW) }, { nil, "the CEF extension holds no key=value pair" })
  T.eq({ cef.parse("CEF:0|V|P|1|1|N|5|junk src=1.2.3.4", NOW) },
    { nil, "the CEF extension starts with text that is not key=value" })
end)

T.case("RFC 5424 with structured data (escaped ']') and a zone", function()
  local h = assert(syslog.parse('<38>1 2026-11-26T10:00:05.123+01:00 srv02 sshd 999 ID47 ' ..
    '[exampleSDID@32473 iut="3" eventSource="App\\]x"][b@1 k="v"] Accepted publickey for bob', NOW))
  T.eq(h, { facility = "auth", severity = "info", time = "2026-11-26T09:00:05.123Z", host = "srv02", app = "sshd",
    procid = "999", msgid = "ID47", sd = '[exampleSDID@32473 iut="3" eventSource="App\\]x"][b@1 k="v"]',
    message = "Accepted publickey for bob" })
end)

T.case("RFC 5424 nil values and an empty message", function()
  local h = assert(syslog.parse("<165>1 - - - - - -", NOW))
  T.eq(h, { facility = "local4", severity = "notice", message = "" })
end)

T.case("RFC 3164 with and without PRI; the year comes from the ingestion time", function()
  T.eq(syslog.parse("<13>Nov 26 10:01:00 10.1.1.1 kernel: boom", NOW), { facility = "user", severity = "notice",
    time = "2026-11-26T10:01:00.000Z", host = "10.1.1.1", app = "kernel", message = "boom" })
  T.eq(syslog.parse("Dec 31 23:59:59 srv01 sshd[1234]: Failed password for root from 45.33.32.156 port 22 ssh2", NOW),
    { time = "2025-12-31T23:59:59.000Z", host = "srv01", app = "sshd", procid = "1234",
      message = "Failed password for root from 45.33.32.156 port 22 ssh2" })
  T.eq(syslog.parse("Nov  3 01:02:03 host postfix/smtpd[77]: connect", NOW).time, "2026-11-03T01:02:03.000Z")
end)

T.case("RFC 3164 variants: RFC 3339 stamp, no hostname, no tag", function()
  T.eq(syslog.parse("2024-01-01T12:00:00.123456+00:00 web1 nginx: GET /", NOW),
    { time = "2024-01-01T12:00:00.123Z", host = "web1", app = "nginx", message = "GET /" })
  T.eq(syslog.parse("Oct 11 22:14:15 sshd[9]: no host here", NOW),
    { time = "2026-10-11T22:14:15.000Z", app = "sshd", procid = "9", message = "no host here" })
  T.eq(syslog.parse("Oct 11 22:14:15 host just a message", NOW),
    { time = "2026-10-11T22:14:15.000Z", host = "host", message = "just a message" })
end)

T.case("syslog errors", function()
  T.eq({ syslog.parse("<999>Oct 11 22:14:15 h x: y", NOW) }, { nil, "syslog priority <999> is out of range (0-191)" })
  T.eq({ syslog.parse("Feb 30 10:00:00 h x: y", NOW) }, { nil, "'Feb 30 10:00:00' is not a valid time" })
  T.eq({ syslog.parse("hello world", NOW) }, { nil, "not a syslog line (RFC 3164 or RFC 5424)" })
  T.eq({ syslog.parse("<34>1 2024-13-01T00:00:00Z h a - - - m", NOW) }, { nil, "'2024-13-01T00:00:00Z' is not a valid time" })
  T.eq({ syslog.parse('<34>1 2024-01-01T00:00:00Z h a - - [x k="v" m', NOW) },
    { nil, "structured data is not closed with ']'" })
end)

T.case("Syslog columns, HostIP when the host is an address", function()
  local rec = syslog.record(syslog.parse("<13>Nov 26 10:01:00 10.1.1.1 kernel: boom", NOW))
  T.eq(rec, { TimeGenerated = "2026-11-26T10:01:00.000Z", EventTime = "2026-11-26T10:01:00.000Z",
    Computer = "10.1.1.1", HostName = "10.1.1.1", HostIP = "10.1.1.1", Facility = "user", SeverityLevel = "notice",
    ProcessName = "kernel", SyslogMessage = "boom" })
end)

T.done()
