-- ipe.ingest.cef: CEF records -> CommonSecurityLog.
--
--   cef.parse(line, now) -> { column = value } | nil, reason
--   cef.extension(ext) -> { {key, value}, ... } | nil, reason   (the part after the header)
--   cef.run(src, sink)
-- A record is "CEF:Version|Vendor|Product|Version|SignatureID|Name|Severity|Extension",
-- bare or after a syslog header (whose time and host become TimeGenerated and
-- Computer). Header fields unescape "\|" and "\\"; extension values unescape
-- "\=", "\\", "\n", "\r" (and "\|"). Extension keys map as the Microsoft
-- "CEF and CommonSecurityLog field mapping" lists them (short and full ArcSight
-- names): src -> SourceIP, dst -> DestinationIP, spt/dpt -> ports, proto ->
-- Protocol, act -> DeviceAction, in/out -> ReceivedBytes/SentBytes, suser/duser,
-- shost/dhost, request -> RequestURL, cs1..cs6 and c6a1..c6a4 with their labels,
-- rt -> ReceiptTime (and TimeGenerated), ... Keys with a CommonSecurityLog name
-- the workspace table lacks (cat -> DeviceEventCategory, cn1, flexString1, ...)
-- land in _Extra under that name; keys the mapping does not know go to
-- AdditionalExtensions as "key=value;key=value", as Sentinel stores them.
-- deviceDirection 0/1 becomes Inbound/Outbound; SimplifiedDeviceAction is Allow
-- or Deny when act is a plain allow/deny word.
-- Errors: parse returns nil, reason ("a CEF header has 7 fields ..."); run
-- rejects such lines through sink.reject.
local syslog = require "ipe.ingest.syslog"
local coerce = require "ipe.ingest.coerce"
local ipaddr = require "ipe.ipaddr"

local find, sub, lower, byte, gsub, concat = string.find, string.sub, string.lower, string.byte,
  string.gsub, table.concat

local trim, rtrim = ipaddr.trim, ipaddr.rtrim

local M = {}

M.KEYS = {
  act = "DeviceAction", app = "ApplicationProtocol", cat = "DeviceEventCategory", cnt = "EventCount",
  dhost = "DestinationHostName", dmac = "DestinationMACAddress", dntdom = "DestinationNTDomain",
  dpid = "DestinationProcessId", dpriv = "DestinationUserPrivileges", dproc = "DestinationProcessName",
  dpt = "DestinationPort", dst = "DestinationIP", dtz = "DeviceTimeZone", duid = "DestinationUserID",
  duser = "DestinationUserName", dvc = "DeviceAddress", dvchost = "DeviceName", dvcmac = "DeviceMacAddress",
  dvcpid = "ProcessID", ["end"] = "EndTime", externalId = "ExternalID", fname = "FileName", filePath = "FilePath",
  fsize = "FileSize", fileHash = "FileHash", fileId = "FileID", fileType = "FileType", fileCreateTime = "FileCreateTime",
  fileModificationTime = "FileModificationTime", filePermission = "FilePermission", ["in"] = "ReceivedBytes",
  msg = "Message", out = "SentBytes", outcome = "EventOutcome", proto = "Protocol", reason = "Reason",
  request = "RequestURL", requestClientApplication = "RequestClientApplication", requestContext = "RequestContext",
  requestCookies = "RequestCookies", requestMethod = "RequestMethod", rt = "ReceiptTime", shost = "SourceHostName",
  smac = "SourceMACAddress", sntdom = "SourceNTDomain", spid = "SourceProcessId", spriv = "SourceUserPrivileges",
  sproc = "SourceProcessName", spt = "SourcePort", src = "SourceIP", start = "StartTime", suid = "SourceUserID",
  suser = "SourceUserName", type = "EventType",
  sourceTranslatedAddress = "SourceTranslatedAddress", sourceTranslatedPort = "SourceTranslatedPort",
  destinationTranslatedAddress = "DestinationTranslatedAddress", destinationTranslatedPort = "DestinationTranslatedPort",
  deviceTranslatedAddress = "DeviceTranslatedAddress", deviceDirection = "CommunicationDirection",
  deviceExternalId = "DeviceExternalID", deviceFacility = "DeviceFacility",
  deviceInboundInterface = "DeviceInboundInterface", deviceOutboundInterface = "DeviceOutboundInterface",
  deviceDnsDomain = "DeviceDnsDomain", deviceNtDomain = "DeviceNtDomain", devicePayloadId = "DevicePayloadId",
  deviceProcessName = "ProcessName", destinationDnsDomain = "DestinationDnsDomain",
  destinationServiceName = "DestinationServiceName", sourceDnsDomain = "SourceDnsDomain",
  sourceServiceName = "SourceServiceName", oldFileName = "OldFileName", oldFilePath = "OldFilePath",
  oldFileSize = "OldFileSize", oldFileHash = "OldFileHash", oldFileId = "OldFileID", oldFileType = "OldFileType",
  oldFileCreateTime = "OldFileCreateTime", oldFileModificationTime = "OldFileModificationTime",
  oldFilePermission = "OldFilePermission", deviceCustomDate1 = "DeviceCustomDate1",
  deviceCustomDate1Label = "DeviceCustomDate1Label", deviceCustomDate2 = "DeviceCustomDate2",
  deviceCustomDate2Label = "DeviceCustomDate2Label", flexDate1 = "FlexDate1", flexDate1Label = "FlexDate1Label",
  flexString1 = "FlexString1", flexString1Label = "FlexString1Label", flexString2 = "FlexString2",
  flexString2Label = "FlexString2Label", flexNumber1 = "FlexNumber1", flexNumber1Label = "FlexNumber1Label",
  flexNumber2 = "FlexNumber2", flexNumber2Label = "FlexNumber2Label",
  -- full ArcSight names of the short keys
  sourceAddress = "SourceIP", destinationAddress = "DestinationIP", sourcePort = "SourcePort",
  destinationPort = "DestinationPort", transportProtocol = "Protocol", deviceAction = "DeviceAction",
  applicationProtocol = "ApplicationProtocol", bytesIn = "ReceivedBytes", bytesOut = "SentBytes",
  baseEventCount = "EventCount", message = "Message", requestUrl = "RequestURL",
  deviceReceiptTime = "ReceiptTime", startTime = "StartTime", endTime = "EndTime", deviceAddress = "DeviceAddress",
  deviceHostName = "DeviceName", sourceHostName = "SourceHostName", destinationHostName = "DestinationHostName",
  sourceUserName = "SourceUserName", destinationUserName = "DestinationUserName", sourceUserId = "SourceUserID",
  destinationUserId = "DestinationUserID", sourceMacAddress = "SourceMACAddress",
  destinationMacAddress = "DestinationMACAddress", deviceEventCategory = "DeviceEventCategory",
  fileName = "FileName", fileSize = "FileSize", eventOutcome = "EventOutcome",
}
for i = 1, 6 do
  M.KEYS["cs" .. i] = "DeviceCustomString" .. i
  M.KEYS["cs" .. i .. "Label"] = "DeviceCustomString" .. i .. "Label"
  M.KEYS["deviceCustomString" .. i] = "DeviceCustomString" .. i
  M.KEYS["deviceCustomString" .. i .. "Label"] = "DeviceCustomString" .. i .. "Label"
end
for i = 1, 4 do
  M.KEYS["c6a" .. i] = "DeviceCustomIPv6Address" .. i
  M.KEYS["c6a" .. i .. "Label"] = "DeviceCustomIPv6Address" .. i .. "Label"
  M.KEYS["deviceCustomIPv6Address" .. i] = "DeviceCustomIPv6Address" .. i
  M.KEYS["deviceCustomIPv6Address" .. i .. "Label"] = "DeviceCustomIPv6Address" .. i .. "Label"
  M.KEYS["cfp" .. i] = "DeviceCustomFloatingPoint" .. i
  M.KEYS["cfp" .. i .. "Label"] = "DeviceCustomFloatingPoint" .. i .. "Label"
end
for i = 1, 3 do
  M.KEYS["cn" .. i] = "DeviceCustomNumber" .. i
  M.KEYS["cn" .. i .. "Label"] = "DeviceCustomNumber" .. i .. "Label"
  M.KEYS["deviceCustomNumber" .. i] = "DeviceCustomNumber" .. i
  M.KEYS["deviceCustomNumber" .. i .. "Label"] = "DeviceCustomNumber" .. i .. "Label"
end

local HEADER = { "DeviceVendor", "DeviceProduct", "DeviceVersion", "DeviceEventClassID", "Activity", "LogSeverity" }

local ALLOW = { allow = true, allowed = true, accept = true, accepted = true, permit = true, permitted = true,
  pass = true, passed = true }
local DENY = { deny = true, denied = true, drop = true, dropped = true, block = true, blocked = true, reject = true,
  rejected = true }

local UNESCAPE = { ["="] = "=", ["\\"] = "\\", n = "\n", r = "\r", ["|"] = "|" }

local function unescape_value(v)
  if not find(v, "\\", 1, true) then return v end
  return (gsub(v, "\\(.)", function(c) return UNESCAPE[c] or ("\\" .. c) end))
end

local function unescape_header(v)
  if not find(v, "\\", 1, true) then return v end
  return (gsub(v, "\\([|\\])", "%1"))
end

-- header(body) -> fields (8: version and the 7 header fields), extension | nil, reason
local function header(body)
  local fields, p = {}, 1
  local start = 1
  while #fields < 7 do
    local i = find(body, "[|\\]", p)
    if not i then break end
    if byte(body, i) == 92 then
      p = i + 2
    else
      fields[#fields + 1] = unescape_header(sub(body, start, i - 1))
      start, p = i + 1, i + 1
    end
  end
  if #fields < 7 then
    return nil, "a CEF header has 7 fields separated by '|' before the extension; this one has " .. #fields
  end
  return fields, sub(body, start)
end

-- KEY_BYTE[b]: b may be part of an extension key ([%w_.-])
local KEY_BYTE = {}
for b = 0, 255 do
  local c = string.char(b)
  KEY_BYTE[b] = find(c, "[%w_%.%-]") ~= nil
end

-- extension(ext) -> list of {key, value} | nil, reason
-- A key is the run of key bytes just before an "=" (an escaped "\=" has a "\"
-- there, so it is no key), after a blank or at the start. Each "=" is looked at
-- once and the walk back stops at the previous "=": linear in the extension.
local function extension(ext)
  local found, p = {}, 1
  while true do
    local eq = find(ext, "=", p, true)
    if not eq then break end
    local k = eq - 1
    while k >= p and KEY_BYTE[byte(ext, k)] do k = k - 1 end
    local s = k + 1
    if s < eq then
      local before = s == 1 and 32 or byte(ext, s - 1)
      if before == 32 or before == 9 then found[#found + 1] = { s, eq, sub(ext, s, eq - 1) } end
    end
    p = eq + 1
  end
  if #found == 0 then
    if find(ext, "%S") then return nil, "the CEF extension holds no key=value pair" end
    return {}
  end
  if find(sub(ext, 1, found[1][1] - 1), "%S") then
    return nil, "the CEF extension starts with text that is not key=value"
  end
  local pairs_ = {}
  for i, f in ipairs(found) do
    local stop = found[i + 1] and found[i + 1][1] - 1 or #ext
    pairs_[i] = { f[3], unescape_value(rtrim(sub(ext, f[2] + 1, stop))) }
  end
  return pairs_
end
M.extension = extension

function M.parse(line, now)
  local at = find(line, "CEF:%s*%d")
  if not at then return nil, "not a CEF record (no 'CEF:' in the line)" end
  local fields, ext = header(sub(line, at))
  if not fields then return nil, ext end
  local rec = {}
  rec.CEFVersion = trim(sub(fields[1], 5))
  for i, col in ipairs(HEADER) do
    if fields[i + 1] ~= "" then rec[col] = fields[i + 1] end
  end
  local list, err = extension(ext)
  if not list then return nil, err end
  local other = {}
  for _, kv in ipairs(list) do
    local col = M.KEYS[kv[1]]
    if col then rec[col] = kv[2] else other[#other + 1] = kv[1] .. "=" .. kv[2] end
  end
  if #other > 0 then rec.AdditionalExtensions = concat(other, ";") end
  local dir = rec.CommunicationDirection
  if dir == "0" then rec.CommunicationDirection = "Inbound" elseif dir == "1" then rec.CommunicationDirection = "Outbound" end
  local act = rec.DeviceAction and lower(rec.DeviceAction)
  if act and ALLOW[act] then rec.SimplifiedDeviceAction = "Allow" elseif act and DENY[act] then
    rec.SimplifiedDeviceAction = "Deny" end
  local prefix = rtrim(sub(line, 1, at - 1))
  if prefix ~= "" then
    local h = syslog.parse(prefix .. " x", now)
    if h and (h.time or h.host) then
      rec.Computer = h.host
      rec.SyslogTime = h.time
      rec.Facility, rec.SeverityLevel = h.facility, h.severity
    else
      rec.SyslogHeader = prefix
    end
  end
  if rec.ReceiptTime then
    local t, terr = coerce.time(rec.ReceiptTime)
    if not t then return nil, "rt: " .. terr end
    rec.TimeGenerated = t
  end
  rec.TimeGenerated = rec.TimeGenerated or rec.SyslogTime
  return rec
end

function M.run(src, sink)
  src:each_record(sink, "CommonSecurityLog", function(line) return M.parse(line, sink.now) end)
end

return M
