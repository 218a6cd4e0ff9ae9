-- Named IP ranges: the "cloud app IP address ranges" settings.
local result = require "ipe.result"

local function check_name(A, name)
  if name == "" then A.required("name", "the range's name") end
  if #name > 100 then A.param_error("name", "a range name is at most 100 characters") end
  if name:find("%c") then A.param_error("name", "a range name cannot hold control characters") end
end

return {
  name = "ip-ranges",
  kind = "action",
  title = "IP address ranges",
  summary = "Named IP ranges with a category (Corporate, VPN, Risky, ...) and tags: add, remove, list",
  description = [[
Keeps the workspace's named IP ranges, like the "IP address ranges" settings of
Defender for Cloud Apps that the entity page links to: each range has a name,
one or more networks, a category — Corporate, Administrative, Risky, VPN,
Cloud provider or Other — and tags.
  op=list (default)  the ranges; with a target IP or network, those that contain it
  op=add             add networks to a range (created if new); sets its category and tags
  op=remove          remove a range, or with a target network only that network
The target argument is the network (CIDR or a single IP; several for op=add,
comma-separated). add and remove are planned without --execute; re-adding the
same range changes nothing, removing a missing one is reported as absent.
The page shows the ranges an IP falls in, and hunts use them: new-ips-first-seen
hides addresses in known-good ranges. Marking your egress, VPN and cloud ranges
keeps investigations from chasing your own infrastructure.]],
  categories = { "offline", "response" },
  sources = {},
  side_effects = {
    "adds, changes or removes named ranges in _ipe_ip_ranges (op=add, op=remove)",
    "records each change in the audit trail (_ipe_audit)",
  },
  params = {
    { name = "cidr", type = "string", default = "",
      help = "the network (CIDR or IP; comma-separated for op=add): to add, remove or look up" },
    { name = "op", type = "choice", choices = { "list", "add", "remove" }, default = "list",
      help = "list, add or remove" },
    { name = "name", type = "string", default = "", help = "the range's name (op=add, op=remove)" },
    { name = "category", type = "choice", default = "Other",
      choices = { "Corporate", "Administrative", "Risky", "VPN", "Cloud provider", "Other" },
      help = "the range's category (op=add)" },
    { name = "tags", type = "string", default = "", help = "comma-separated tags (op=add)" },
  },
  run = function(ctx, p)
    local A = ctx.actions
    if p.op == "list" then
      if p.cidr:find(",", 1, true) then A.param_error("cidr", "op=list looks up one network") end
      local net = A.cidr(p.cidr, "cidr")
      local rows, cols = A.ranges{ contains = net }
      return result.from_query(rows, cols, { CreatedTime = "time", LastUpdatedTime = "time", Tags = "json" },
        net and ("Ranges containing " .. net) or "IP ranges")
    end
    check_name(A, p.name)
    if p.op == "add" then
      local cidrs = {}
      for part in p.cidr:gmatch("[^,%s]+") do cidrs[#cidrs + 1] = A.cidr(part, "cidr") end
      if #cidrs == 0 then A.required("cidr", "the network to add, e.g. 10.0.0.0/8") end
      A.range_add{ name = p.name, cidrs = cidrs, category = p.category, tags = A.tags(p.tags) }
    else
      if p.cidr:find(",", 1, true) then A.param_error("cidr", "op=remove takes one network") end
      A.range_remove{ name = p.name, cidr = A.cidr(p.cidr, "cidr") }
    end
    return A.report()
  end,
}
