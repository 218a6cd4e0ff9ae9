-- ipe.ingest.stix: STIX 2.1 bundles -> ThreatIntelligenceIndicator, one row per
-- observable of each indicator.
--
--   stix.comparisons(pattern) -> { {path=, op=, value=, negated=}, ... } | nil, reason
--   stix.observables(pattern) -> list of ti.observable | nil, reason
--   stix.run(src, sink)
-- A pattern's comparisons are read with their STIX string escapes; the ones
-- that name an observable become rows: ipv4-addr:value / ipv6-addr:value (an
-- address, or a CIDR with = or ISSUBSET), network-traffic:src_ref.value /
-- dst_ref.value (NetworkSourceIP / NetworkDestinationIP), domain-name:value,
-- url:value, file:hashes.'SHA-256' (and MD5, SHA-1, ...). So
-- "[domain-name:value = 'x' OR ipv4-addr:value = '1.2.3.4' OR ipv4-addr:value = '5.6.7.8']"
-- gives three rows (DomainName x, NetworkIP 1.2.3.4, NetworkIP 5.6.7.8), each
-- IndicatorId "<indicator id>:<value>", ExternalIndicatorId the indicator id,
-- and the whole pattern in _Extra.Pattern (a pattern longer than
-- SHARED_PATTERN bytes only in the indicator's first row, so that a big pattern
-- of many observables is not stored once per observable: output stays linear in
-- the input). NOT and != comparisons give no row.
-- Per indicator: TimeGenerated = modified (else created), ExpirationDateTime =
-- valid_until (else --expires), Active = not revoked, ConfidenceScore =
-- confidence (else --confidence), Description = description (else name),
-- ThreatType = indicator_types, Tags = labels, TLP from its marking (TLP
-- marking definitions), provider = --provider, else the created_by_ref
-- identity's name, else the file name; KillChain* from kill_chain_phases;
-- MalwareNames / ActivityGroupNames from "indicates" relationships to malware /
-- intrusion-set, threat-actor and campaign objects. Indicators whose pattern
-- names no such observable are counted as skipped; an indicator whose pattern
-- cannot be read, or names an invalid IP, is a malformed record.
-- Errors: comparisons / observables return nil, reason; run rejects such an
-- indicator ("indicator--...: reason") and fails the file (sink.fail) when the
-- document is not a bundle.
local ti = require "ipe.ingest.ti"
local coerce = require "ipe.ingest.coerce"

local find, sub, match, lower, upper, byte = string.find, string.sub, string.match, string.lower, string.upper,
  string.byte

local M = {}

M.SHARED_PATTERN = 1024

-- TLP marking-definition ids from the STIX 2.1 specification
M.TLP = {
  ["marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"] = "white",
  ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"] = "green",
  ["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"] = "amber",
  ["marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"] = "red",
}

local OPS = { "ISSUPERSET", "ISSUBSET", "MATCHES", "LIKE", "IN", "!=", ">=", "<=", "=", ">", "<" }

-- string_at(p, i): a '...' string starting at i -> value, position after | nil
local function string_at(p, i)
  local out, q = {}, i + 1
  while true do
    local j = find(p, "['\\]", q)
    if not j then return nil end
    out[#out + 1] = sub(p, q, j - 1)
    if byte(p, j) == 92 then
      out[#out + 1] = sub(p, j + 1, j + 1)
      q = j + 2
    else
      return table.concat(out), j + 1
    end
  end
end

-- value_list(pattern, k): a "('a', 'b')" list starting at k -> values, position after | nil, reason
local function value_list(pattern, k)
  local values, q = {}, k + 1
  while true do
    local _, e = find(pattern, "^[%s,]*", q)
    q = e + 1
    local c = byte(pattern, q)
    if c == 41 then return values, q + 1 end
    if c ~= 39 then
      if not c then return nil, "a value list is not closed" end
      return nil, "unexpected '" .. sub(pattern, q, q) .. "' in a value list at character " .. q
    end
    local v, after = string_at(pattern, q)
    if not v then return nil, "a quoted value is not closed" end
    values[#values + 1] = v
    q = after
  end
end

-- One pass over the pattern: every token is looked at once (a word's end is
-- remembered, so the words of "A1A1..." are not rescanned): linear in the pattern.
function M.comparisons(pattern)
  if type(pattern) ~= "string" then return nil, "the pattern is not a string" end
  local list, i, n = {}, 1, #pattern
  local negated = false
  local word_end = 0
  while i <= n do
    local c = sub(pattern, i, i)
    local we
    if i <= word_end then
      we = word_end
    else
      local _, e = find(pattern, "^[%w%-]+", i)
      if e then word_end, we = e, e end
    end
    if find(c, "[%s%[%]%(%)]") then
      i = i + 1
    elseif find(pattern, "^NOT%s", i) then
      negated, i = true, i + 4
    elseif find(pattern, "^AND%s", i) or find(pattern, "^OR%s", i) or find(pattern, "^FOLLOWEDBY%s", i) then
      i = find(pattern, "%s", i)
    elseif we and byte(pattern, we + 1) == 58 then
      -- object path: type:property with .'quoted' segments and [*] / [n] indexes
      local j = we + 2
      while j <= n do
        local d = sub(pattern, j, j)
        if d == "'" then
          local _, after = string_at(pattern, j)
          if not after then return nil, "a quoted part of an object path is not closed" end
          j = after
        elseif find(d, "[%w_%.%-%[%]%*]") then
          j = j + 1
        else
          break
        end
      end
      local path = sub(pattern, i, j - 1)
      local _, k = find(pattern, "^%s*", j)
      k = k + 1
      local op
      for _, o in ipairs(OPS) do
        if sub(pattern, k, k + #o - 1) == o then op = o break end
      end
      if not op then
        if find(pattern, "^EXISTS", k) then op = "EXISTS" else
          return nil, "no comparison operator after " .. path end
      end
      k = k + #op
      local _, k2 = find(pattern, "^%s*", k)
      k = k2 + 1
      local value
      local v1 = sub(pattern, k, k)
      if v1 == "'" then
        local v, after = string_at(pattern, k)
        if not v then return nil, "a quoted value is not closed" end
        value, k = v, after
      elseif v1 == "(" then
        local after
        value, after = value_list(pattern, k)
        if not value then return nil, after end
        k = after
      elseif find(v1, "[%w%-]") then
        local _, e = find(pattern, "^[%w%-%.']+", k)
        value = sub(pattern, k, e)
        k = e + 1
      end
      list[#list + 1] = { path = path, op = op, value = value, negated = negated }
      negated = false
      i = k
    elseif find(pattern, "^[A-Z]+", i) then
      -- qualifiers: START t'..' STOP t'..' WITHIN n SECONDS REPEATS n TIMES
      local _, e = find(pattern, "^[A-Z]+", i)
      i = e + 1
    elseif c == "'" or c == "t" then
      local q = c == "t" and i + 1 or i
      local _, after = string_at(pattern, q)
      if not after then return nil, "a quoted value is not closed" end
      i = after
    elseif find(c, "[%d]") then
      local _, e = find(pattern, "^%d+", i)
      i = e + 1
    else
      return nil, "unexpected '" .. c .. "' at character " .. i
    end
  end
  if #list == 0 then return nil, "the pattern holds no comparison" end
  return list
end

local HASHES = { ["md5"] = "MD5", ["sha-1"] = "SHA1", ["sha1"] = "SHA1", ["sha-256"] = "SHA256",
  ["sha256"] = "SHA256", ["sha-512"] = "SHA512", ["sha512"] = "SHA512", ["ssdeep"] = "SSDEEP" }

-- observables(pattern) -> list (possibly empty) | nil, reason
function M.observables(pattern)
  local list, err = M.comparisons(pattern)
  if not list then return nil, err end
  local out, seen = {}, {}
  local function add(kind, value, role)
    local obs, why = ti.observable(kind, value, role)
    if not obs then return why end
    local key = obs.kind .. "\0" .. obs.value .. "\0" .. tostring(role)
    if not seen[key] then
      seen[key] = true
      out[#out + 1] = obs
    end
  end
  for _, c in ipairs(list) do
    if not c.negated and (c.op == "=" or c.op == "ISSUBSET" or c.op == "IN") then
      local values = type(c.value) == "table" and c.value or { c.value }
      local path = c.path
      local kind, role
      if path == "ipv4-addr:value" or path == "ipv6-addr:value" then kind = "ip"
      elseif path == "network-traffic:src_ref.value" then kind, role = "ip", "src"
      elseif path == "network-traffic:dst_ref.value" then kind, role = "ip", "dst"
      elseif path == "domain-name:value" and c.op ~= "ISSUBSET" then kind = "domain"
      elseif path == "url:value" and c.op ~= "ISSUBSET" then kind = "url"
      else
        local h = match(path, "^file:hashes%.'?([%w%-]+)'?$")
        if h and HASHES[lower(h)] and c.op ~= "ISSUBSET" then kind, role = "hash", HASHES[lower(h)] end
      end
      if kind then
        for _, v in ipairs(values) do
          if type(v) == "string" then
            local why = add(kind, v, role)
            if why then return nil, why end
          end
        end
      end
    end
  end
  return out
end

local function time_of(v)
  if type(v) ~= "string" then return nil end
  return coerce.time(v)
end

local function tlp_of(obj, markings)
  for _, ref in ipairs(type(obj.object_marking_refs) == "table" and obj.object_marking_refs or {}) do
    local t = M.TLP[ref] or markings[ref]
    if t then return t end
  end
  return nil
end

local function names_of(list)
  if #list == 0 then return nil end
  table.sort(list)
  return list
end

-- is_bundle(doc): a decoded document is STIX
function M.is_bundle(doc)
  return type(doc) == "table" and ((doc.type == "bundle" and type(doc.objects) == "table") or doc.type == "indicator")
end

function M.run(src, sink) M.run_doc(ti.read_document(src, sink), sink) end

function M.run_doc(doc, sink)
  local objects
  if type(doc) == "table" and doc.type == "bundle" and type(doc.objects) == "table" then
    objects = doc.objects
  elseif type(doc) == "table" and doc.type == "indicator" then
    objects = { doc }
  else
    sink.fail("not a STIX 2.1 bundle (a JSON object with \"type\": \"bundle\" and \"objects\")")
  end
  local identities, markings, named, related = {}, {}, {}, {}
  for _, o in ipairs(objects) do
    if type(o) == "table" then
      if o.type == "identity" and o.id then identities[o.id] = o.name end
      if o.type == "marking-definition" and o.id then
        local tlp = (o.definition_type == "tlp" and type(o.definition) == "table" and o.definition.tlp)
          or (type(o.name) == "string" and match(o.name, "^TLP:(%a+)"))
        if tlp then markings[o.id] = lower(tlp) end
      end
      if (o.type == "malware" or o.type == "intrusion-set" or o.type == "threat-actor" or o.type == "campaign")
          and o.id and o.name then
        named[o.id] = { kind = o.type, name = o.name }
      end
    end
  end
  for _, o in ipairs(objects) do
    if type(o) == "table" and o.type == "relationship" and o.relationship_type == "indicates" and o.source_ref then
      related[o.source_ref] = related[o.source_ref] or {}
      table.insert(related[o.source_ref], o.target_ref)
    end
  end
  local opts = sink.opts
  local file_provider = match(sink.name, "([^/]+)$"):gsub("%.[^.]*$", "")
  local n_ind = 0
  for _, o in ipairs(objects) do
    if type(o) == "table" and o.type == "indicator" then
      n_ind = n_ind + 1
      local id = tostring(o.id or ("indicator #" .. n_ind))
      if o.pattern_type ~= nil and o.pattern_type ~= "stix" then
        sink.skip("indicators with pattern_type " .. tostring(o.pattern_type))
      else
        local obs, why = M.observables(o.pattern)
        if not obs then
          sink.reject(nil, id .. ": " .. why)
        elseif #obs == 0 then
          sink.skip("indicators without an IP, domain, URL or file hash")
        else
          local when = time_of(o.modified) or time_of(o.created) or time_of(o.valid_from)
          if not when then
            sink.reject(nil, id .. ": it has no valid modified, created or valid_from time")
          else
            local malware, groups = {}, {}
            for _, ref in ipairs(related[o.id] or {}) do
              local t = named[ref]
              if t then
                if t.kind == "malware" then malware[#malware + 1] = t.name else groups[#groups + 1] = t.name end
              end
            end
            local kill = {}
            for _, ph in ipairs(type(o.kill_chain_phases) == "table" and o.kill_chain_phases or {}) do
              local f = ti.KILL_CHAIN[lower(tostring(ph.phase_name or ""))]
              if f then kill[f] = true end
            end
            local types = type(o.indicator_types) == "table" and o.indicator_types or
              (type(o.labels) == "table" and o.labels) or {}
            local confidence = tonumber(o.confidence) or opts.confidence_value
            local ind = {
              time = when, id = nil, external = o.id,
              expires = time_of(o.valid_until) or ti.expiry(opts, time_of(o.valid_from) or when, nil),
              provider = opts.provider or identities[o.created_by_ref] or file_provider,
              confidence = confidence, description = o.description or o.name,
              threat_type = #types > 0 and table.concat(types, ",") or nil,
              tags = type(o.labels) == "table" and o.labels or nil, tlp = tlp_of(o, markings),
              active = o.revoked ~= true, malware = names_of(malware), groups = names_of(groups), kill_chain = kill,
              extra = { Pattern = o.pattern, IndicatorName = o.name, ValidFrom = o.valid_from },
            }
            for _, ob in ipairs(obs) do
              ind.id = id .. ":" .. ob.value
              sink.row("ThreatIntelligenceIndicator", nil, ti.row(ind, ob))
              if type(o.pattern) == "string" and #o.pattern > M.SHARED_PATTERN then ind.extra.Pattern = nil end
            end
          end
        end
      end
    end
  end
  if n_ind == 0 then sink.fail("the bundle holds no indicator") end
end

return M
