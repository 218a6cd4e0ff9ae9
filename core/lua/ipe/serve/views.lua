-- ipe.serve.views: the pages of ipe-run serve (see ipe.serve.app for the routes). Every view
-- is (app, req, capture, params, form) -> status, and builds its HTML with ipe.render.html:
-- the IP page is html.stream (the same panels as `ipe-run page -f html`, sent as they finish),
-- hunt and action results are html.run, the rest html.document around the forms here.
local http = require "ipe.serve.http"
local assets = require "ipe.serve.assets"
local auth = require "ipe.serve.auth"
local pivots = require "ipe.serve.pivots"
local html = require "ipe.render.html"
local render = require "ipe.render"
local ipaddr = require "ipe.ipaddr"
local page = require "ipe.page"
local commands = require "ipe.page.commands"
local declares = require("ipe.page.panels").declares
local common = require "ipe.verbs.common"
local insight = require "ipe.verbs.insight"
local runner = require "ipe.runner"
local proc = require "ipe.proc"
local esc = html.escape
local format, concat = string.format, table.concat

local V = {}

-- Pieces ------------------------------------------------------------------------------------

local function doc_opts(extra)
  local o = { csp = assets.csp(), style = assets.STYLE }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- text kept as lines: each piece escaped as html.escape does (control characters shown as
-- \x.. escapes), the line breaks and tabs kept as they are (a query in its text area, a
-- multi-line command that copies as it runs)
local function esc_lines(text)
  return (text:gsub("[^\n\t]+", esc))
end

local function cmd_html(label, cmd)
  return format('<p class="cmd"><span class="cmd-label">%s</span><code>%s</code>'
    .. '<button type="button" class="copy" data-role="copy" hidden>Copy</button></p>', esc(label), esc_lines(cmd))
end

-- the bar on top of every page: home, the search box and the equivalent command
local function bar(cmd, q)
  return concat({ '<nav class="serve-bar" aria-label="ipe"><a class="home" href="/">ipe</a><a href="/kql">KQL</a>',
    '<form action="/search" method="get" role="search"><input name="q" aria-label="IP, defanged IP or CIDR" ',
    format('placeholder="IP, defanged IP or CIDR" value="%s" required>', esc(q or "")),
    '<button type="submit">Search</button></form>', cmd and cmd_html("Command", cmd) or "", "</nav>" })
end

-- the command line equivalent to a page: ipe-run <args> [--db ...] (the server's workspace)
local function command(S, args)
  if S.opts.db then args[#args + 1] = "--db"; args[#args + 1] = S.opts.db end
  return commands.join(args)
end

-- the run options of a request: the server's (workspace, clock, budgets) and the URL's window
local function run_opts(S, params)
  return { db = S.opts.db, now = S.opts.now, offline = S.opts.offline, timeout = S.opts.timeout,
           since = params.since, from = params.from, to = params.to }
end

local function window_of(S, params)
  local o = run_opts(S, params)
  return common.window(o, common.now(o)), o
end

local window_query, ip_url, hunt_url = pivots.window_query, pivots.ip_url, pivots.hunt_url

local function send_html(app, req, status, body)
  app.S.srv:respond(req.id, status, http.headers("text/html; charset=utf-8", assets.csp()), body)
  return status
end

-- Home and search ---------------------------------------------------------------------------

function V.home(app, req)
  local body = bar(nil, nil) .. '<main class="notice"><h1>Investigate an IP address</h1><p>Search an IP (also defanged, '
    .. '<code>89[.]160[.]20[.]128</code>) for its page, or a CIDR block for the hosts that swept it; '
    .. '<a href="/kql">KQL</a> runs a query of your own.</p>'
    .. (app.S.opts.allow_actions and "<p>Response actions can be executed (after a confirmation).</p>"
      or "<p>Read-only: response actions show their plan only.</p>") .. "</main>"
  return send_html(app, req, 200, html.document("ipe", body, doc_opts()))
end

function V.search(app, req, _, params)
  local q = (params.q or ""):match("^%s*(.-)%s*$")
  if q == "" then http.fail(400, "search: give an IP address or a CIDR block") end
  local w = window_of(app.S, params)
  local ip = ipaddr.normalize(q)
  if ip then return app:redirect(req, ip_url(ip, w)) end
  if q:find("/", 1, true) then
    local net, err = ipaddr.parse_cidr(q)
    if not net then http.fail(400, "search: %s", err) end
    return app:redirect(req, hunt_url("subnet-sweep", { { "cidr", net.text } }, w))
  end
  http.fail(400, "search: '%s' is not an IP address or a CIDR block", q)
end

-- The IP page -------------------------------------------------------------------------------

local function page_record(S, ip, base, w)
  local window_args = page.window_args(base.window)
  local rec = { kind = "page", ip = ip, title = "IP address " .. ip,
    window = { from = base.window.from_text, to = base.window.to_text }, generated = base.now_text,
    offline = S.opts.offline and true or false, status = "running", panels = {}, actions = {}, not_asked = {} }
  for i, p in ipairs(S.panels) do
    local hunt = p.hunt and S.hunts[p.hunt]
    rec.panels[i] = { id = p.id, group = p.group, title = p.title, order = p.order,
      hunt = commands.hunt_command(p, ip, window_args, S.hunts),
      hunt_url = hunt and hunt_url(p.hunt, declares(hunt, "ip") and { { "ip", ip } } or {}, w) or nil }
  end
  for i, a in ipairs(S.actions) do
    local url = a.name == "go-hunt" and hunt_url("ip-everywhere", { { "ip", ip } }, w)
      or "/action/" .. http.encode(a.name) .. "?" .. http.query({ { "ip", ip } }) .. "&" .. window_query(w)
    rec.actions[i] = { name = a.name, title = a.title, summary = a.summary, command = commands.action_command(a, ip),
      url = url, url_label = a.name == "go-hunt" and "Go hunt" or "Plan" }
  end
  return rec
end

function V.ip_page(app, req, cap, params)
  local S = app.S
  local ip, err = ipaddr.normalize(http.decode(cap) or cap)
  if not ip then http.fail(400, "not an IP address: %s", err) end
  local w, o = window_of(S, params)
  -- a stable URL: the normalized IP and the window's resolved bounds
  if ip ~= cap or params.from ~= w.from_text or params.to ~= w.to_text or params.since then
    return app:redirect(req, ip_url(ip, w))
  end
  local base = insight.request(o, S.index, nil, nil)
  local panels = S.panels
  local givens, reqs = {}, {}
  for i, p in ipairs(panels) do
    givens[i] = page.given(p, ip, { panel_params = {} })
    local r = {}
    for k, v in pairs(base) do r[k] = v end
    r.entry, r.given = p.entry, givens[i]
    reqs[i] = r
  end
  page.check_params(panels, givens)
  local rec = page_record(S, ip, base, w)
  local cmd = command(S, { "ipe-run", "page", ip, "--from", w.from_text, "--to", w.to_text })
  local st = html.stream(rec, doc_opts({ link = pivots.linker(S.hunts, w, ip), body_script = assets.FILL, top = bar(cmd, ip) }))
  local headers = http.headers("text/html; charset=utf-8", assets.csp())
  if req.method == "HEAD" then
    S.srv:respond(req.id, 200, headers, "")
    return 200
  end
  S.srv:stream(req.id, 200, headers)
  req.streaming = true
  local function send(s)
    if not S.srv:write(req.id, s) then http.fail(499, "the client closed the connection") end
  end
  send(st.head())
  local started = proc.monotonic()
  local parallel = page.parallelism(panels, S.opts.offline)
  local records = page.run(panels, reqs, parallel, S.opts.offline, S.hints, function(i, r)
    r.title = r.title or panels[i].title
    rec.panels[i].record = r
    send(st.panel(i))
  end)
  local final = page.assemble{ ip = ip, window = base.window, now_text = base.now_text, offline = S.opts.offline,
    panels = panels, records = records, actions = S.actions, hunts = S.hunts, window_args = page.window_args(base.window),
    parallel = parallel, ms = 0 }
  rec.status, rec.failed, rec.not_asked = final.status, final.failed, final.not_asked
  rec.timing = { ms = (proc.monotonic() - started) * 1000, parallel = parallel }
  send(st.tail())
  S.srv:finish(req.id)
  return 200
end

-- Forms built from a script's typed parameters -------------------------------------------------

local function field_html(spec, value)
  local id = "f-" .. spec.name
  local h = { format('<label for="%s">%s</label>', esc(id), esc(spec.name)) }
  local v = value
  if v == nil and spec.default ~= nil then v = tostring(spec.default) end
  if spec.type == "choice" or spec.type == "bool" then
    local choices = spec.type == "bool" and { "true", "false" } or spec.choices or {}
    h[#h + 1] = format('<select id="%s" name="%s">', esc(id), esc(spec.name))
    if not spec.required and spec.default == nil then h[#h + 1] = '<option value=""></option>' end
    for _, c in ipairs(choices) do
      h[#h + 1] = format('<option%s>%s</option>', tostring(c) == v and " selected" or "", esc(tostring(c)))
    end
    h[#h + 1] = "</select>"
  else
    local attrs = ""
    if spec.type == "int" then
      attrs = ' type="number" step="1"' .. (spec.min and format(' min="%d"', spec.min) or "")
        .. (spec.max and format(' max="%d"', spec.max) or "")
    else
      attrs = ' type="text"'
    end
    h[#h + 1] = format('<input id="%s" name="%s"%s value="%s"%s>', esc(id), esc(spec.name), attrs, esc(v or ""),
      spec.required and spec.default == nil and " required" or "")
  end
  h[#h + 1] = format('<p class="help">%s (%s)</p>', esc(spec.help or ""), esc(spec.type or "string"))
  return concat(h)
end

local function window_fields(w)
  return format('<label for="f-from">from</label><input id="f-from" name="from" value="%s">'
    .. '<label for="f-to">to</label><input id="f-to" name="to" value="%s">', esc(w.from_text), esc(w.to_text))
end

-- given(specs, source) -> the declared parameters that have a non-empty value in source
local function given_of(specs, source)
  local given = {}
  for _, sp in ipairs(specs or {}) do
    local v = source[sp.name]
    if v ~= nil and v ~= "" then given[sp.name] = v end
  end
  return given
end

local function missing_required(specs, given)
  for _, sp in ipairs(specs or {}) do
    if sp.required and sp.default == nil and given[sp.name] == nil then return sp.name end
  end
end

local function params_args(specs, given, args)
  for _, sp in ipairs(specs or {}) do
    if given[sp.name] ~= nil and sp.name ~= "ip" then
      args[#args + 1] = "-p"; args[#args + 1] = sp.name .. "=" .. given[sp.name]
    end
  end
  return args
end

-- Hunts ---------------------------------------------------------------------------------------

local DOWNLOAD = { csv = "text/csv; charset=utf-8", json = "application/json" }

function V.hunt(app, req, name, params)
  local S = app.S
  local meta = S.hunts[name]
  local entry = S.index.by_key["hunt/" .. name]
  if not meta or not entry then http.fail(404, "no hunt '%s' (see ipe-run list hunts)", name) end
  local w, o = window_of(S, params)
  if params.from ~= w.from_text or params.to ~= w.to_text or params.since then
    local list = {}
    for _, sp in ipairs(meta.params) do list[#list + 1] = { sp.name, params[sp.name] } end
    if params.format then list[#list + 1] = { "format", params.format } end
    return app:redirect(req, hunt_url(name, list, w))
  end
  if params.format and not DOWNLOAD[params.format] then http.fail(400, "format: use csv or json, not '%s'", params.format) end
  local given = given_of(meta.params, params)
  local args = { "ipe-run", "hunt", name }
  if given.ip then args[#args + 1] = "--ip"; args[#args + 1] = given.ip end
  params_args(meta.params, given, args)
  for _, a in ipairs({ "--from", w.from_text, "--to", w.to_text }) do args[#args + 1] = a end
  local cmd = command(S, args)
  local form = { format('<form class="form" method="get" action="/hunt/%s"><h2>%s</h2><p>%s</p>', esc(http.encode(name)),
    esc(meta.title or name), esc(meta.summary or "")) }
  for _, sp in ipairs(meta.params) do form[#form + 1] = field_html(sp, given[sp.name]) end
  form[#form + 1] = window_fields(w) .. '<button type="submit">Run hunt</button></form>'
  local top = bar(cmd, given.ip) .. concat(form)
  local missing = missing_required(meta.params, given)
  if missing then
    if params.format then http.fail(400, "hunt '%s': parameter '%s' is required", name, missing) end
    return send_html(app, req, 200, html.document(meta.title or name, top, doc_opts()))
  end
  local r = runner.run(insight.request(o, S.index, entry, given))
  if r.outcome == "param" then
    return send_html(app, req, 400, html.document(meta.title or name, top
      .. format('<p class="msg msg-error notice" role="alert">%s</p>', esc(r.message or "bad parameter")), doc_opts()))
  end
  if params.format then
    local h = http.headers(DOWNLOAD[params.format])
    h["Content-Disposition"] = format('attachment; filename="%s.%s"', name, params.format)
    S.srv:respond(req.id, 200, h, render.run(r, params.format, render.options({})))
    return 200
  end
  local list = {}
  for k, v in pairs(given) do list[#list + 1] = { k, v } end
  table.sort(list, function(a, b) return a[1] < b[1] end)
  local downloads = format('<p class="downloads notice">Download: <a href="%s&amp;format=csv">CSV</a>'
    .. '<a href="%s&amp;format=json">JSON</a></p>', esc(hunt_url(name, list, w)), esc(hunt_url(name, list, w)))
  return send_html(app, req, r.status == "error" and 500 or 200,
    html.run(r, doc_opts({ top = top .. downloads, link = pivots.linker(S.hunts, w, given.ip) })))
end

-- KQL ---------------------------------------------------------------------------------------

-- the KQL page's form: the query, its let values (one p field per value given and an empty one
-- for another) and the window; a GET form, so a result has a stable URL
local function kql_form(q, lets, w)
  local fields = {}
  for i, kv in ipairs(lets) do
    fields[i] = format('<input id="f-p%d" name="p" value="%s" spellcheck="false" aria-label="let value %d">', i, esc(kv), i)
  end
  fields[#fields + 1] = format('<input id="f-p%d" name="p" value="" placeholder="name=value" spellcheck="false" '
    .. 'aria-label="another let value">', #lets + 1)
  return concat({ '<form class="form kql" method="get" action="/kql"><h2>KQL query</h2>',
    '<p>Runs read-only on the workspace, in a sandboxed worker with the budgets of <code>ipe-run kql</code>; ',
    'tables the query does not filter on TimeGenerated are read within the window.</p>',
    '<label for="f-q">query</label>',
    -- the newline after the tag is the one HTML drops: a query's own first newline stays
    format('<textarea id="f-q" name="q" rows="8" cols="100" spellcheck="false" required>\n%s</textarea>', esc_lines(q)),
    '<label for="f-p1">let values (name=value, as <code>ipe-run kql -p</code>: typed as the query\'s let, bound)</label>',
    concat(fields), window_fields(w), '<button type="submit">Run query</button></form>' })
end

-- the let values of a KQL request: its non-empty p=name=value, in order, and them as
-- {name = value} (a repeated name: the last), checked as ipe-run kql checks -p (400 else)
local function kql_lets(req)
  local list = {}
  for _, kv in ipairs(http.values(select(2, http.split(req.uri)), "p")) do
    if kv ~= "" then list[#list + 1] = kv end
  end
  local ok, given = pcall(common.given, list, "kql")
  if ok then return list, given end
  if require("ipe.errors").is(given) then http.fail(400, "%s", given.msg) end
  error(given, 0)
end

-- run_kql(S, q, lets, w, render) -> {text=, rows=} | nil, the one-line error, its status: 400 for the
-- query's "kql:LINE:COL: message", 500 for the run's failure as ipe-run kql says it (out of time
-- or memory, a database error)
local function run_kql(S, q, lets, w, render_record)
  local kqlverb = require "ipe.verbs.kql"
  local workspace = require "ipe.workspace"
  local dbpath = workspace.path(S.opts.db)
  local engine = require("ipe.clickhouse").is_url(dbpath) and "clickhouse" or "sqlite"
  local plan, problem = kqlverb.compile(q, "kql", { now = common.now({ now = S.opts.now }),
    window = { from = w.from_text, to = w.to_text }, lets = lets, engine = engine })
  if not plan then return nil, problem:match("[^\n]*"), 400 end
  local timeout = insight.timeout({ timeout = S.opts.timeout })
  local memory = runner.DEFAULT_MEMORY
  local job = kqlverb.job(plan, workspace.check(dbpath), engine, timeout, memory, render_record)
  local ok, out = pcall(common.query_job, "kql", job, timeout, memory)
  if ok then return out end
  local errors = require "ipe.errors"
  if errors.is(out) then return nil, out.msg, 500 end
  error(out, 0)
end

function V.kql(app, req, _, params)
  local S = app.S
  local w = window_of(S, params)
  local q = (params.q or ""):gsub("\r\n?", "\n")   -- a form sends its text area's lines with CR LF
  local lets, given = kql_lets(req)
  local function url(fmt)
    local list = { { "q", q ~= "" and q or nil } }
    for _, kv in ipairs(lets) do list[#list + 1] = { "p", kv } end
    for _, kv in ipairs({ { "format", fmt }, { "from", w.from_text }, { "to", w.to_text } }) do list[#list + 1] = kv end
    return "/kql?" .. http.query(list)
  end
  if params.from ~= w.from_text or params.to ~= w.to_text or params.since then
    return app:redirect(req, url(params.format))
  end
  if params.format and not DOWNLOAD[params.format] then http.fail(400, "format: use csv or json, not '%s'", params.format) end
  if not q:find("%S") then
    if params.format then http.fail(400, "kql: no query given (q=)") end
    return send_html(app, req, 200, html.document("KQL", bar(nil, nil) .. kql_form(q, lets, w), doc_opts()))
  end
  local args = { "ipe-run", "kql", q }
  for _, kv in ipairs(lets) do args[#args + 1] = "-p"; args[#args + 1] = kv end
  for _, a in ipairs({ "--from", w.from_text, "--to", w.to_text }) do args[#args + 1] = a end
  local cmd = command(S, args)
  local top = bar(cmd, nil) .. kql_form(q, lets, w)
  if params.format then
    local fmt = params.format
    local out, err, status = run_kql(S, q, given, w, function(rec) return render.run(rec, fmt, render.options({})) end)
    if not out then http.fail(status, "%s", err) end
    local h = http.headers(DOWNLOAD[fmt])
    h["Content-Disposition"] = format('attachment; filename="query.%s"', fmt)
    S.srv:respond(req.id, 200, h, out.text)
    return 200
  end
  local downloads = format('<p class="downloads notice">Download: <a href="%s">CSV</a><a href="%s">JSON</a></p>',
    esc(url("csv")), esc(url("json")))
  local link = pivots.linker(S.hunts, w, nil)
  local out, err, status = run_kql(S, q, given, w, function(rec)
    return html.run(rec, doc_opts({ top = top .. downloads, link = link }))
  end)
  if not out then
    return send_html(app, req, status, html.document("KQL", top
      .. format('<p class="msg msg-error notice" role="alert">%s</p>', esc(err)), doc_opts()))
  end
  return send_html(app, req, 200, out.text)
end

-- Actions -------------------------------------------------------------------------------------

local function action_meta(S, name)
  for _, a in ipairs(S.actions) do if a.name == name then return a end end
  http.fail(404, "no action '%s' (see ipe-run list actions)", name)
end

local function hidden(name, value)
  return format('<input type="hidden" name="%s" value="%s">', esc(name), esc(value))
end

local function confirm_form(S, name, meta, given, w)
  if not S.opts.allow_actions then
    return '<p class="notice">Read-only: this is the plan only. Start <code>ipe-run serve --allow-actions</code> to '
      .. "execute response actions from the page.</p>"
  end
  local h = { format('<form class="form" method="post" action="/action/%s"><h2>Execute %s</h2>', esc(http.encode(name)),
    esc(meta.title or name)), hidden("csrf", S.auth.csrf), hidden("from", w.from_text), hidden("to", w.to_text) }
  for _, sp in ipairs(meta.params) do
    if given[sp.name] ~= nil then h[#h + 1] = hidden(sp.name, given[sp.name]) end
  end
  h[#h + 1] = '<label for="f-operator">Your name (recorded in the audit trail)</label>'
    .. '<input id="f-operator" name="operator" required maxlength="64" autocomplete="name">'
    .. '<p class="help">Executing does what the plan below says.</p><button type="submit">Execute</button></form>'
  return concat(h)
end

local function audit_rows(S, user, name, n)
  local response = require "ipe.migrations.response"
  local ws = require "ipe.workspace"
  local conn = ws.open_reader(ws.path(S.opts.db))
  local rows = conn:query("SELECT TimeGenerated, User, Action, Operation, Target, Result FROM " .. response.AUDIT
    .. " WHERE User = :u AND Action = :a ORDER BY Id DESC LIMIT :n", { u = user, a = name, n = n })
  conn:close()
  return rows
end

local function operator_of(form, req)
  local name = (form.operator or ""):match("^%s*(.-)%s*$")
  if name == "" then http.fail(400, "operator: your name is required to execute an action") end
  if #name > 64 or name:find("[%z\1-\31\127]") then http.fail(400, "operator: at most 64 printable characters") end
  return name .. " (ipe-run serve, " .. req.remote .. ")"
end

function V.action(app, req, name, params, form)
  local S = app.S
  local meta = action_meta(S, name)
  local entry = S.index.by_key["action/" .. name]
  local source = req.method == "POST" and form or params
  local w, o = window_of(S, { from = source.from, to = source.to, since = source.since })
  local given = given_of(meta.params, source)
  local req_run = insight.request(o, S.index, entry, given)
  local args = { "ipe-run", "action", name }
  if given.ip then args[#args + 1] = given.ip end
  params_args(meta.params, given, args)
  if req.method == "POST" then
    if not S.opts.allow_actions then
      http.fail(403, "actions are off: ipe-run serve is read-only (start it with --allow-actions)")
    end
    local ok, why = auth.csrf_ok(S.auth, req, form)
    if not ok then http.fail(403, "%s: reload the action's page and confirm again", why) end
    req_run.execute, req_run.operator = true, operator_of(form, req)
    args[#args + 1] = "--execute"
  end
  local r = runner.run(req_run)
  if r.outcome == "param" then http.fail(400, "action '%s': %s", name, r.message or "bad parameter") end
  local top = bar(command(S, args), given.ip)
  if req.method == "POST" then
    local steps = 0
    for _, sec in ipairs(r.sections or {}) do if sec.kind == "table" then steps = steps + #(sec.rows or {}) end end
    local rows = audit_rows(S, req_run.operator, name, math.max(1, steps))
    r.sections = r.sections or {}
    r.sections[#r.sections + 1] = { kind = "table", id = "audit", title = "Audit trail (this execution)",
      columns = { { name = "TimeGenerated", type = "time" }, { name = "User", type = "text" },
        { name = "Action", type = "text" }, { name = "Operation", type = "text" }, { name = "Target", type = "text" },
        { name = "Result", type = "text" } }, rows = rows }
    top = top .. format('<p class="notice">Executed by %s.</p>', esc(req_run.operator))
  else
    top = top .. '<p class="notice">The plan: nothing has changed yet.</p>' .. confirm_form(S, name, meta, given, w)
  end
  return send_html(app, req, r.status == "error" and 500 or 200, html.run(r, doc_opts({ top = top, link = pivots.linker(S.hunts, w, given.ip) })))
end

return V
