-- ipe.kql on mangled queries: every input either compiles or fails with a KQL error (line,
-- column, message) — never a Lua error, a traceback or a stack overflow. Deterministic: the
-- mutations come from a fixed linear congruential sequence over hunting-shaped seeds.
local T = require "ipe.testing"
local kql = require "ipe.kql"

local SEEDS = {
  [[let ip = "1.2.3.4"; SigninLogs | where IPAddress == ip | summarize count(), dcount(UserPrincipalName) by AppDisplayName, bin(TimeGenerated, 1h) | order by count_ desc]],
  [[let f = (x:string) { strcat("<", x, ">") }; union isfuzzy=true (SigninLogs | project T = TimeGenerated, A = f(IPAddress)), (Nope | take 1) | top 5 by T desc nulls last]],
  [[SigninLogs | mv-expand c = ConditionalAccessPolicies | extend n = tostring(c.displayName), d = LocationDetails["city"] | where n has_any ("a", "b") and d !contains "x"]],
  [[Syslog | parse SyslogMessage with * "from " Src:string " port " Port:long * | join kind=leftanti (datatable(Src:string)["10.0.0.1"]) on Src | serialize | extend p = prev(Src)]],
  [[CommonSecurityLog | where ipv4_is_in_range(SourceIP, "10.0.0.0/8") and not(ipv4_is_private(DestinationIP)) | summarize arg_max(TimeGenerated, *) by SourceIP | project-away Message]],
  [[print a = dynamic({"k": [1, 2, {"z": null}]}), b = datetime(2026-01-01 10:00), c = 1d + 2h, d = case(1 > 2, "x", "y"), e = extract(@"(\d+)", 1, "a12")]],
}
local PIECES = { "|", "(", ")", "[", "]", ",", ";", "=", "==", "where", "summarize", "by", "let", '"x"', "1h", "*", ".",
  "$left", "join", "on", "dynamic(", "{", "}", "!has", "in~", "..", "between", "'", '"', "//", "\n", "mv-expand", "parse",
  "with", "datatable(a:string)[", "toscalar(", "let f = (x:string) {", "arg_max(", "@\"", "-", "not(", "materialize(" }

local state = 12345
local function rand(n)
  state = (state * 1103515245 + 12345) % 2147483648
  return state % n + 1
end

T.case("1000 mangled queries: each compiles or fails with a KQL error at a position", function()
  local bad
  for _ = 1, 1000 do
    local src = SEEDS[rand(#SEEDS)]
    for _ = 1, rand(4) do
      local pos = rand(#src + 1)
      local how = rand(3)
      if how == 1 then src = src:sub(1, pos - 1) .. src:sub(pos + rand(20))
      elseif how == 2 then src = src:sub(1, pos - 1) .. PIECES[rand(#PIECES)] .. src:sub(pos)
      else local a = rand(#src); src = src:sub(1, pos - 1) .. src:sub(a, a + rand(30)) .. src:sub(pos) end
    end
    local ok, e = pcall(kql.compile, src, { now = 1795000000, window = { from = "a", to = "b" } })
    if not ok and not (kql.is_error(e) and e.line >= 1 and e.col >= 1 and #e.msg > 0) then
      bad = src .. "\n=> " .. tostring(e)
      break
    end
  end
  T.eq(bad, nil)
end)
