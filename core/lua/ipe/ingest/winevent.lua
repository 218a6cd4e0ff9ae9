-- ipe.ingest.winevent: Windows event JSON lines (OTRF Security-Datasets as
-- written by nxlog/logstash, and winlogbeat's {"winlog": {...}} shape) ->
-- SecurityEvent and DeviceNetworkEvents.
--
-- Security channel -> SecurityEvent: TimeGenerated from @timestamp, Computer
-- from Hostname (winlog.computer_name), EventSourceName from SourceName,
-- Activity "4624 - An account was successfully logged on." (the first line of
-- the event's Message), the event data fields under their own names
-- (IpAddress, IpPort, TargetUserName, LogonType, ...), and what Sentinel derives:
-- TargetAccount / SubjectAccount "DOMAIN\user", Account (the target's, else the
-- subject's), AccountType (Machine for names ending in "$", else User),
-- LogonTypeName ("3 - Network").
--
-- Sysmon EventID 3 (network connection) -> DeviceNetworkEvents, so that
-- insights over Defender's network table see Sysmon hosts:
--   TimeGenerated, Timestamp   UtcTime (Sysmon's UTC time of the connection)
--   DeviceName                 Hostname
--   ActionType                 Initiated=true: ConnectionSuccess (outbound, to RemoteIP:RemotePort),
--                              Initiated=false: InboundConnectionAccepted (inbound, from RemoteIP
--                              to LocalIP:LocalPort) — the direction rule of ctx.db:connection_*
--   LocalIP/LocalPort          the host's end. TCP: Source* is the initiator, so the host's end is
--                              Source* when it initiated, else Destination*. UDP: Sysmon writes the
--                              host's socket as Source* either way (a DNS server's inbound query is
--                              "Initiated: false, SourcePort: 53"), so the host's end is Source*
--   RemoteIP/RemotePort        the other end; RemoteUrl its host name (when not "-")
--   LocalIPType/RemoteIPType   Public, Private, Loopback, LinkLocal, Multicast, Broadcast, Reserved
--   Protocol                   Tcp / Udp
--   InitiatingProcessFileName, InitiatingProcessFolderPath (Image), InitiatingProcessId,
--   InitiatingProcessAccountDomain / InitiatingProcessAccountName (User "DOMAIN\name")
--   ReportId                   RecordNumber
-- Other events (Sysmon 1, 7, 10 ..., other channels) have no table in the
-- workspace: they are counted as skipped, by channel and EventID. Fields not
-- mapped to a column are kept in _Extra.
-- Errors: a line that is not a JSON object, or has no EventID / Channel, is
-- rejected through sink.reject; nothing is raised here.
local jsonscan = require "ipe.ingest.jsonscan"
local ipaddr = require "ipe.ipaddr"
local cjson = require "cjson"

local find, match, lower, upper, sub = string.find, string.match, string.lower, string.upper, string.sub

local M = {}

M.LOGON_TYPES = { [0] = "System", [2] = "Interactive", [3] = "Network", [4] = "Batch", [5] = "Service",
  [7] = "Unlock", [8] = "NetworkCleartext", [9] = "NewCredentials", [10] = "RemoteInteractive",
  [11] = "CachedInteractive", [12] = "CachedRemoteInteractive", [13] = "CachedUnlock" }

M.IP_TYPES = { public = "Public", private = "Private", shared = "Private", loopback = "Loopback",
  ["link-local"] = "LinkLocal", multicast = "Multicast", broadcast = "Broadcast", unspecified = "Reserved",
  reserved = "Reserved", documentation = "Reserved", benchmarking = "Reserved" }

-- flatten(rec, kinds) -> ev, kinds: a winlogbeat record in the nxlog field layout
local function flatten(rec, kinds)
  if kinds.winlog ~= jsonscan.RAW then return rec, kinds end
  local w = cjson.decode(rec.winlog)
  local ev, k2 = {}, {}
  for key, v in pairs(rec) do
    if kinds[key] ~= jsonscan.RAW then ev[key], k2[key] = v, kinds[key] end
  end
  if type(w.event_data) == "table" then
    for key, v in pairs(w.event_data) do
      if type(v) ~= "table" then ev[key] = v end
    end
  end
  ev.EventID = w.event_id
  ev.Channel = w.channel
  ev.Hostname = w.computer_name
  ev.SourceName = w.provider_name
  ev.RecordNumber = w.record_id
  ev.Task = w.task
  ev.Message = ev.message
  ev.message = nil
  return ev, k2
end

local function text(v)
  if v == nil or v == cjson.null or v == "" or v == "-" then return nil end
  return tostring(v)
end

local function account(domain, user)
  domain, user = text(domain), text(user)
  if not user then return nil end
  if domain then return domain .. "\\" .. user end
  return user
end

local function activity(id, message)
  local first = type(message) == "string" and match(message, "^%s*([^\r\n]*)")
  if first and first ~= "" then return id .. " - " .. first end
  return tostring(id)
end

-- take(ev, key): the value, removed from ev (so it does not go to _Extra too)
local function take(ev, key)
  local v = ev[key]
  ev[key] = nil
  return v
end

function M.security_event(ev, id)
  local row = {}
  for k, v in pairs(ev) do row[k] = v end
  row.TimeGenerated = take(row, "@timestamp") or take(row, "TimeCreated")
  row.EventID = id
  row.Computer = take(row, "Hostname") or row.Computer
  row.EventSourceName = take(row, "SourceName")
  row.Activity = activity(id, row.Message)
  row.TargetAccount = account(row.TargetDomainName, row.TargetUserName)
  row.SubjectAccount = account(row.SubjectDomainName, row.SubjectUserName)
  row.Account = row.TargetAccount or row.SubjectAccount
  local user = text(row.TargetUserName) or text(row.SubjectUserName)
  if user then row.AccountType = find(user, "%$$") and "Machine" or "User" end
  local lt = tonumber(row.LogonType)
  if lt and M.LOGON_TYPES[lt] then row.LogonTypeName = lt .. " - " .. M.LOGON_TYPES[lt] end
  if type(row.LogonProcessName) == "string" then row.LogonProcessName = ipaddr.rtrim(row.LogonProcessName) end
  return row
end

local function ip_type(ip)
  local class = ip and ipaddr.classify(ip)
  return class and M.IP_TYPES[class] or nil
end

function M.network_event(ev)
  local row = {}
  for k, v in pairs(ev) do row[k] = v end
  local when = take(row, "UtcTime")
  local stamp = take(row, "@timestamp")
  row.TimeGenerated = when or stamp
  row.Timestamp = when or stamp
  row.DeviceName = take(row, "Hostname")
  local initiated = lower(tostring(take(row, "Initiated") or "")) == "true"
  local sip, sport = take(row, "SourceIp"), take(row, "SourcePort")
  local dip, dport = take(row, "DestinationIp"), take(row, "DestinationPort")
  local shost, dhost = take(row, "SourceHostname"), take(row, "DestinationHostname")
  sip, dip = ipaddr.normalize(sip) or sip, ipaddr.normalize(dip) or dip
  local proto = text(take(row, "Protocol"))
  row.ActionType = initiated and "ConnectionSuccess" or "InboundConnectionAccepted"
  if initiated or (proto and lower(proto) == "udp") then
    row.LocalIP, row.LocalPort, row.RemoteIP, row.RemotePort, row.RemoteUrl = sip, sport, dip, dport, text(dhost)
  else
    row.LocalIP, row.LocalPort, row.RemoteIP, row.RemotePort, row.RemoteUrl = dip, dport, sip, sport, text(shost)
  end
  row.LocalIPType, row.RemoteIPType = ip_type(row.LocalIP), ip_type(row.RemoteIP)
  if proto then row.Protocol = upper(sub(proto, 1, 1)) .. lower(sub(proto, 2)) end
  local image = text(take(row, "Image"))
  if image then
    row.InitiatingProcessFolderPath = image
    row.InitiatingProcessFileName = not find(image, "[\\/]$") and (match(image, "^.*[\\/](.*)$") or image) or nil
  end
  row.InitiatingProcessId = take(row, "ProcessId")
  local user = text(take(row, "User"))
  if user then
    local d, n = match(user, "^(.-)\\(.*)$")
    row.InitiatingProcessAccountDomain = d
    row.InitiatingProcessAccountName = n or user
  end
  row.ReportId = take(row, "RecordNumber")
  return row
end

local function skip_label(channel, id)
  channel = tostring(channel or "no channel")
  if find(channel, "Sysmon", 1, true) then return "Sysmon EventID " .. tostring(id) end
  return channel .. " EventID " .. tostring(id)
end

function M.run(src, sink)
  while true do
    local line, ln, why = src:next_line()
    if line == nil then break end
    if line == false then
      sink.reject(ln, why)
    elseif find(line, "%S") then
      local rec, kinds, e = jsonscan.object_to_table(line, 1)
      if rec and not jsonscan.trailing(line, e) then rec, kinds, e = nil, "text after the end of the record", e end
      if not rec then
        sink.reject(ln, require("ipe.ingest.jsonl").reason(kinds, e))
      else
        local ev, k2 = flatten(rec, kinds)
        local id = tonumber(ev.EventID)
        local channel = ev.Channel
        if id == nil or channel == nil then
          sink.reject(ln, "not a Windows event (EventID and Channel are required)")
        elseif channel == "Security" then
          sink.row("SecurityEvent", ln, M.security_event(ev, id), k2)
        elseif find(tostring(channel), "Sysmon", 1, true) and id == 3 then
          sink.row("DeviceNetworkEvents", ln, M.network_event(ev), k2)
        else
          sink.skip(skip_label(channel, id))
        end
      end
    end
  end
end

return M
