-- ipe.ingest.misp: MISP events -> ThreatIntelligenceIndicator, one row per
-- attribute that is an observable, in the event and inside its Objects.
--
-- Accepts {"Event": {...}}, a bare event ({"info": ..., "Attribute": [...], "Object": [...]}),
-- a list of either, and the REST search answer {"response": [...]}.
-- Attribute types: ip-src -> NetworkSourceIP, ip-dst -> NetworkDestinationIP
-- (a CIDR value -> NetworkSourceCidrBlock / NetworkDestinationCidrBlock),
-- ip-src|port / ip-dst|port -> the address and NetworkSourcePort /
-- NetworkDestinationPort, domain|ip -> DomainName and NetworkIP, domain and
-- hostname -> DomainName, url -> Url, md5 / sha1 / sha256 / sha512 ->
-- FileHashValue + FileHashType. Other types (text, link, filename, ...) and
-- deleted attributes are counted as skipped.
-- Per row: TimeGenerated = the attribute's timestamp (else the event's),
-- IndicatorId = ExternalIndicatorId = the attribute uuid (IndicatorId
-- "<uuid>:<value>" when an attribute gives two rows, as domain|ip does), Active = to_ids,
-- Description = the event info and the attribute's (else its object's) comment,
-- ThreatType = the attribute category, ThreatSeverity from threat_level_id
-- (1 High -> 5, 2 Medium -> 3, 3 Low -> 1, 4 Undefined -> none),
-- ConfidenceScore from an osint:certainty="N" tag (else --confidence), TLP from a
-- tlp:* tag, Tags = every tag name, MalwareNames from misp-galaxy malware / tool
-- tags and ActivityGroupNames from misp-galaxy threat-actor / intrusion-set tags
-- (attribute tags first, then the event's), provider = --provider, else the
-- creating organisation (Orgc), else the file name; ExpirationDateTime from
-- --expires (MISP events carry none). The event id, uuid, object name and
-- attribute type are kept in _Extra.
-- Errors: observables returns false, reason for a bad value; run rejects such an
-- attribute ("attribute <uuid>: reason") and fails the file (sink.fail) when the
-- document is not a MISP event.
local ti = require "ipe.ingest.ti"
local coerce = require "ipe.ingest.coerce"

local match, lower = string.match, string.lower

local M = {}

M.SEVERITY = { ["1"] = 5, ["2"] = 3, ["3"] = 1 }

local HASHES = { md5 = "MD5", sha1 = "SHA1", sha256 = "SHA256", sha512 = "SHA512" }

-- observables(type, value) -> list of {obs, port} | nil (not an observable type) | false, reason
function M.observables(atype, value)
  if type(value) ~= "string" then return false, "the attribute has no value" end
  local role = (atype == "ip-src" or atype == "ip-src|port") and "src" or "dst"
  if atype == "ip-src" or atype == "ip-dst" then
    local obs, why = ti.observable("ip", value, role)
    if not obs then return false, why end
    return { { obs } }
  elseif atype == "ip-src|port" or atype == "ip-dst|port" then
    local ip, port = match(value, "^(.*)|(%d+)$")
    if not ip then return false, "'" .. value .. "' is not address|port" end
    local obs, why = ti.observable("ip", ip, role)
    if not obs then return false, why end
    return { { obs, tonumber(port) } }
  elseif atype == "domain|ip" then
    local d, ip = match(value, "^(.*)|(.*)$")
    if not d then return false, "'" .. value .. "' is not domain|ip" end
    local obs, why = ti.observable("ip", ip)
    if not obs then return false, why end
    return { { ti.observable("domain", d) }, { obs } }
  elseif atype == "domain" or atype == "hostname" then
    return { { ti.observable("domain", value) } }
  elseif atype == "url" then
    return { { ti.observable("url", value) } }
  elseif HASHES[atype] then
    return { { ti.observable("hash", value, HASHES[atype]) } }
  end
  return nil
end

local function events_of(doc)
  if type(doc) ~= "table" then return nil end
  if type(doc.response) == "table" then doc = doc.response end
  if doc.Event ~= nil then return { doc.Event } end
  if doc.info ~= nil or doc.Attribute ~= nil or doc.Object ~= nil then return { doc } end
  if #doc > 0 then
    local out = {}
    for _, e in ipairs(doc) do
      if type(e) == "table" and type(e.Event) == "table" then out[#out + 1] = e.Event
      elseif type(e) == "table" and (e.info ~= nil or e.Attribute ~= nil) then out[#out + 1] = e
      else return nil end
    end
    return out
  end
  return nil
end

local function tag_names(tags)
  local out = {}
  for _, t in ipairs(type(tags) == "table" and tags or {}) do
    if type(t) == "table" and type(t.name) == "string" then out[#out + 1] = t.name end
  end
  return out
end

local function galaxy(names, kinds)
  local out, seen = {}, {}
  for _, n in ipairs(names) do
    local kind, value = match(n, '^misp%-galaxy:([%w%-]+)="(.*)"$')
    if kind and kinds[kind] and not seen[value] then
      seen[value] = true
      out[#out + 1] = value
    end
  end
  table.sort(out)
  return #out > 0 and out or nil
end

local MALWARE = { ["mitre-malware"] = true, malpedia = true, tool = true, ["mitre-tool"] = true,
  ["android"] = true, ransomware = true, rat = true, ["banker"] = true, ["botnet"] = true }
local GROUPS = { ["threat-actor"] = true, ["mitre-intrusion-set"] = true, ["mitre-enterprise-attack-intrusion-set"] = true }

local function time_of(ts)
  if ts == nil then return nil end
  return coerce.time(tostring(ts))
end

-- is_event(doc): a decoded document is MISP
function M.is_event(doc) return events_of(doc) ~= nil end

function M.run(src, sink) M.run_doc(ti.read_document(src, sink), sink) end

function M.run_doc(doc, sink)
  local events = events_of(doc)
  if not events then sink.fail("not a MISP event (an object with Event, or info and Attribute / Object)") end
  local opts = sink.opts
  local file_provider = match(sink.name, "([^/]+)$"):gsub("%.[^.]*$", "")
  for _, ev in ipairs(events) do
    local ev_tags = tag_names(ev.Tag)
    local provider = opts.provider or (type(ev.Orgc) == "table" and ev.Orgc.name) or
      (type(ev.Org) == "table" and ev.Org.name) or file_provider
    local ev_time = time_of(ev.timestamp) or (type(ev.date) == "string" and coerce.time(ev.date))
    local list = {}
    for _, a in ipairs(type(ev.Attribute) == "table" and ev.Attribute or {}) do list[#list + 1] = { a } end
    for _, o in ipairs(type(ev.Object) == "table" and ev.Object or {}) do
      if type(o) == "table" then
        for _, a in ipairs(type(o.Attribute) == "table" and o.Attribute or {}) do list[#list + 1] = { a, o } end
      end
    end
    for _, item in ipairs(list) do
      local a, o = item[1], item[2]
      local atype = type(a) == "table" and tostring(a.type) or "?"
      local where = "attribute " .. tostring(type(a) == "table" and (a.uuid or a.id) or "?")
      if type(a) ~= "table" then
        sink.reject(nil, "an attribute is not a JSON object")
      elseif a.deleted == true or (o and o.deleted == true) then
        sink.skip("deleted MISP attributes")
      else
        local obs, why = M.observables(atype, a.value)
        if obs == nil then
          sink.skip("MISP attributes of type " .. atype)
        elseif obs == false then
          sink.reject(nil, where .. ": " .. why)
        else
          local when = time_of(a.timestamp) or ev_time
          if not when then
            sink.reject(nil, where .. ": neither it nor its event has a valid timestamp")
          else
            local names = tag_names(a.Tag)
            for _, n in ipairs(ev_tags) do names[#names + 1] = n end
            local confidence, tlp
            for _, n in ipairs(names) do
              confidence = confidence or tonumber(match(n, '^osint:certainty="([%d%.]+)"$'))
              tlp = tlp or match(lower(n), "^tlp:(%a+)$")
            end
            local comment = (type(a.comment) == "string" and a.comment ~= "" and a.comment) or
              (o and type(o.comment) == "string" and o.comment ~= "" and o.comment) or nil
            local info = type(ev.info) == "string" and ev.info or nil
            local ind = {
              time = when, expires = ti.expiry(opts, when, nil), id = a.uuid or a.id, external = a.uuid or a.id,
              provider = provider, confidence = confidence or opts.confidence_value,
              description = info and comment and (info .. " — " .. comment) or info or comment,
              threat_type = a.category, tags = #names > 0 and names or nil, tlp = tlp,
              active = a.to_ids == true or a.to_ids == "1", severity = M.SEVERITY[tostring(ev.threat_level_id)],
              malware = galaxy(names, MALWARE), groups = galaxy(names, GROUPS),
              extra = { MispEventId = ev.id, MispEventUuid = ev.uuid, MispObject = o and o.name or nil,
                MispAttributeType = atype },
            }
            local uuid = ind.id
            for _, pair in ipairs(obs) do
              if #obs > 1 then ind.id = tostring(uuid) .. ":" .. pair[1].value end
              sink.row("ThreatIntelligenceIndicator", nil, ti.row(ind, pair[1], pair[2]))
            end
          end
        end
      end
    end
  end
end

return M
