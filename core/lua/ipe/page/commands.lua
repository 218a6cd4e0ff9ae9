-- ipe.page.commands: the ready-to-paste commands of the page — each panel's hunt command and
-- each response action's command — with their arguments quoted for a POSIX shell.
--
--   commands.window_args(window)          -> {"--from", from_text, "--to", to_text}: the page's
--                                            exact window for the hunt commands
--   commands.hunt_command(panel, ip, window_args, hunts) -> "ipe-run hunt <h> --ip <ip> ..." or
--                                            "ipe-run insight <name> <ip> --as-hunt ..."
--   commands.action_command(action, ip)   -> "ipe-run action <name> <ip> [-p key=<key>]"
--   commands.join(args)                   -> the arguments, each quoted when it needs to be
local declares = require("ipe.page.panels").declares

local M = {}

local function quote(arg)
  if arg:match("^[%w%.:/_,=@%-]+$") then return arg end
  return "'" .. arg:gsub("'", "'\\''") .. "'"
end

function M.join(args)
  local out = {}
  for i, a in ipairs(args) do out[i] = quote(a) end
  return table.concat(out, " ")
end

-- window_args(window) -> the options that give a hunt the page's exact window: its resolved
-- bounds ({"--from", from_text, "--to", to_text}), whatever form it was given in (--since,
-- --from/--to relative or not, --now, IPE_NOW, the clock), so a suggested command covers the
-- same rows whenever it is run.
function M.window_args(window)
  return { "--from", window.from_text, "--to", window.to_text }
end

-- hunts: { [name] = meta } of the hunts the panels name.
function M.hunt_command(panel, ip, window_args, hunts)
  local args
  local hunt = panel.hunt and hunts and hunts[panel.hunt]
  if hunt then
    args = { "ipe-run", "hunt", panel.hunt }
    if declares(hunt, "ip") then args[#args + 1] = "--ip"; args[#args + 1] = ip end
  else
    args = { "ipe-run", "insight", panel.id, ip, "--as-hunt" }
  end
  for _, a in ipairs(window_args or {}) do args[#args + 1] = a end
  return M.join(args)
end

function M.action_command(action, ip)
  local args = { "ipe-run", "action", action.name }
  local first = action.params[1]
  if first and first.name == "ip" then args[#args + 1] = ip
  elseif declares(action, "ip") then args[#args + 1] = "-p"; args[#args + 1] = "ip=" .. ip end
  for _, p in ipairs(action.params) do
    if p.name ~= "ip" and p.required and p.default == nil then
      args[#args + 1] = "-p"; args[#args + 1] = p.name .. "=<" .. p.name .. ">"
    end
  end
  return M.join(args)
end

return M
