-- "Go hunt": a hunting query for the IP, opened for editing or run at once.
return {
  name = "go-hunt",
  kind = "action",
  title = "Go hunt",
  summary = "Open ip-everywhere (or another hunt) for the IP in $EDITOR, then run it; or run it at once",
  description = [[
The entity page's "Go hunt": a built-in hunting query that finds the IP,
opened with the IP filled in so the analyst can change it. By default the hunt
is ip-everywhere; --hunt NAME (-p hunt=NAME) picks another hunt with an ip
parameter.
With --execute it does what 'ipe-run hunt NAME --ip IP --edit' does: copies
the hunt with the IP as its default into your hunt folder (the first IPE_PATH
entry's hunts/, else $XDG_DATA_HOME/ipe/hunts) as NAME-<ip>, opens $EDITOR on
the copy and runs it when the editor exits successfully; the audit trail
records the copy. With --run it runs the hunt at once (read-only, nothing is
copied). Without either it shows the plan.]],
  categories = { "offline", "response" },
  sources = {},
  side_effects = {
    "writes a copy of the hunt, with the IP as its default, into your hunt folder and opens $EDITOR (--execute)",
    "records the copy in the audit trail (_ipe_audit)",
  },
  params = {
    { name = "ip", type = "ip", required = true, help = "the IP address to hunt for" },
    { name = "hunt", type = "string", default = "ip-everywhere", help = "the hunt to open" },
    { name = "run", type = "bool", default = false, help = "run the hunt at once instead of editing it" },
  },
  run = function(ctx, p)
    ctx.actions.hunt_open{ hunt = p.hunt, ip = p.ip, run = p.run }
    return ctx.actions.report()
  end,
}
