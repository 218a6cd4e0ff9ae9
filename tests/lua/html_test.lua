-- ipe.render.html and ipe.render.svg: escaping, links, cell formatting, the CSP hashes, the
-- page structure of the C2 story's real page (built by the page verb on the demo workspace) and
-- of the hand-made page records of tests/fixtures/page/ (hostile strings, partial, empty),
-- partial pages, single runs, charts and every error.
local T = require "ipe.testing"
local html = require "ipe.render.html"
local svg = require "ipe.render.svg"
local text = require "ipe.render.text"
local cjson = require "cjson"

local null = cjson.null
local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\][^/\\]*$") or "."
local FIXTURES = here .. "/../fixtures/page/"

local function fixture(name) return dofile(FIXTURES .. name .. ".lua") end

local function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end

local function count(s, needle)
  local n, at = 0, 1
  while true do
    local i, j = s:find(needle, at, true)
    if not i then return n end
    n, at = n + 1, j + 1
  end
end

local function has(s, needle, msg) T.ok(s:find(needle, 1, true), (msg or "has") .. ": " .. needle) end
local function lacks(s, needle, msg) T.ok(not s:find(needle, 1, true), (msg or "lacks") .. ": " .. needle) end

-- between(s, open, close) -> the text after the first `open` up to the next `close`
local function between(s, open, close)
  local _, j = s:find(open, 1, true)
  if not j then return nil end
  local k = s:find(close, j + 1, true)
  return k and s:sub(j + 1, k - 1)
end

-- element(s, id) -> the text of the element with that id up to its matching close tag (by tag name)
local function element(s, id)
  local start, tag
  start, _, tag = s:find('<(%w+)[^>]- id="' .. id:gsub("%p", "%%%0") .. '"')
  if not start then return nil end
  local depth, at = 0, start
  while true do
    local o = s:find("<" .. tag .. "[%s>]", at)
    local c, ce = s:find("</" .. tag .. ">", at, true)
    if not c then return nil end
    if o and o < c then depth, at = depth + 1, o + 1
    else
      depth, at = depth - 1, ce + 1
      if depth == 0 then return s:sub(start, ce) end
    end
  end
end

-- Escaping -----------------------------------------------------------------------------------

T.case("escape: markup characters become entities", function()
  T.eq(html.escape([[<a href="x" title='y'>&amp;</a>]]),
    "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;")
  T.eq(html.escape("plain Linköping text"), "plain Linköping text")
  T.eq(html.escape(1440), "1440")
end)

T.case("escape: control, bidi and invalid bytes are made visible", function()
  T.eq(html.escape("\27[2J"), "\\x1b[2J")
  T.eq(html.escape("a\0b\127c"), "a\\x00b\\x7fc")
  T.eq(html.escape("tab\tnl\n"), "tab\\tnl\\n")
  T.eq(html.escape("\194\155x"), "\\u009bx")
  T.eq(html.escape("\226\128\174gpj.exe"), "\\u202egpj.exe")
  T.eq(html.escape("bad\255"), "bad\\xff")
end)

T.case("url: only http and https URLs with a host become links", function()
  T.eq(html.url("https://www.virustotal.com/gui/ip-address/89.160.20.128"),
    "https://www.virustotal.com/gui/ip-address/89.160.20.128")
  T.eq(html.url("HTTP://example.com/a?b=1&c=2#d"), "HTTP://example.com/a?b=1&c=2#d")
  T.eq(html.url("http://[2001:db8::1]:8080/x"), "http://[2001:db8::1]:8080/x")
  for _, bad in ipairs({ "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)",
      "data:text/html,<script>x</script>", "vbscript:msgbox(1)", "file:///etc/passwd", "//evil.example/x",
      "https://", "https:///path", "https://evil.example/\"onmouseover=\"x", "https://a.example/<b>",
      "https://a.example/ b", "https://a.example/\n", "https://bücher.example/", "ftp://a.example/", 42 }) do
    T.eq(html.url(bad), nil, tostring(bad))
  end
  T.eq(html.url("https://a.example/" .. string.rep("x", 2048)), nil, "longer than 2048 bytes")
end)

T.case("cell: values formatted like the text renderer", function()
  T.eq(html.cell(1440, "count"), "1,440")
  T.eq(html.cell(5623527, "bytes"), '<span title="5,623,527 bytes">5.6 MB</span>')
  T.eq(html.cell(0.8300000000000001, "number"), text.cell(0.8300000000000001, "number"))
  T.eq(html.cell(1, "bool"), "true")
  T.eq(html.cell(false, "bool"), "false")
  T.eq(html.cell(null, "text"), "")
  T.eq(html.cell(nil, "count"), "")
  T.eq(html.cell("2026-11-27T11:59:06.476Z", "time"),
    '<time datetime="2026-11-27T11:59:06.476Z" title="2026-11-27T11:59:06.476Z UTC"><span class="d">2026-11-27</span>'
    .. ' <span class="t">11:59:06</span></time>')
  T.eq(html.cell("yesterday <b>", "time"), "yesterday &lt;b&gt;", "a time column value that is not a time")
  T.eq(html.cell('{"a":"<b>"}', "json"), "<code>{&quot;a&quot;:&quot;&lt;b&gt;&quot;}</code>")
  T.eq(html.cell("10.0.2.17", "ip"), "10.0.2.17")
end)

T.case("cell: http(s) text becomes a link, other schemes stay text", function()
  T.eq(html.cell("https://www.abuseipdb.com/check/216.160.83.56", "text"),
    '<a href="https://www.abuseipdb.com/check/216.160.83.56" rel="noopener noreferrer nofollow" target="_blank">'
    .. "https://www.abuseipdb.com/check/216.160.83.56</a>")
  T.eq(html.cell("http://a.example/?x=1&y=2", "text"),
    '<a href="http://a.example/?x=1&amp;y=2" rel="noopener noreferrer nofollow" target="_blank">http://a.example/?x=1&amp;y=2</a>')
  T.eq(html.cell("javascript:alert(1)", "text"), "javascript:alert(1)")
  T.eq(html.cell("https://a.example/", "ip"), "https://a.example/", "only text columns link")
end)

T.case("cell: severity, status and kind values as badges", function()
  T.eq(html.cell("High", "text", "sev"), '<span class="badge sev sev-high">High</span>')
  T.eq(html.cell("InProgress", "text", "status"), '<span class="badge status status-inprogress">InProgress</span>')
  T.eq(html.cell("<x y>", "text", "kind"), '<span class="badge kind kind-x-y">&lt;x y&gt;</span>')
  T.eq(html.cell(3, "count", "sev"), "3", "numbers are not badges")
end)

T.case("json_script: nothing in the data can end the script element", function()
  local v = { "</script><script>alert(1)</script>", "<!--", "a&b", "x\226\128\168y" }
  local s = html.json_script(v)
  T.eq(s, '["\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/script\\u003e","\\u003c!--","a\\u0026b","x\\u2028y"]')
  T.eq(cjson.decode(s), v, "decodes to the same values")
end)

-- Hashes and the CSP --------------------------------------------------------------------------

T.case("sha256: FIPS 180-2 vectors and multi-block messages", function()
  T.eq(hex(html.sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
  T.eq(hex(html.sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  T.eq(hex(html.sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
  T.eq(hex(html.sha256(string.rep("a", 55))), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
  T.eq(hex(html.sha256(string.rep("a", 64))), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
  T.eq(hex(html.sha256(string.rep("a", 1000))), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
  local bytes = {}
  for i = 0, 299 do bytes[#bytes + 1] = string.char(i % 256) end
  T.eq(hex(html.sha256(table.concat(bytes))), "7728ae2f2c36e2aaafbe79ca14c87ae2f89e7c88c4390ecbbf82dce88706958d")
end)

T.case("base64: RFC 4648 vectors", function()
  T.eq(html.base64(""), "")
  T.eq(html.base64("f"), "Zg==")
  T.eq(html.base64("fo"), "Zm8=")
  T.eq(html.base64("foo"), "Zm9v")
  T.eq(html.base64("foobar"), "Zm9vYmFy")
  T.eq(html.base64("\255\254\253"), "//79")
end)

T.case("csp: nothing but the page's own script and style, by hash", function()
  local csp = html.csp()
  T.eq(csp, "default-src 'none'; script-src 'sha256-" .. html.base64(html.sha256(html.SCRIPT)) .. "'; style-src 'sha256-"
    .. html.base64(html.sha256(html.STYLE)) .. "'; base-uri 'none'; form-action 'none'")
  T.unlike(csp, "unsafe")
  T.ok(not html.SCRIPT:find("[\128-\255]") and not html.STYLE:find("[\128-\255]"), "script and style are ASCII")
  T.ok(not html.SCRIPT:find("</", 1, true), "the script has no '</'")
  T.ok(not html.SCRIPT:find("innerHTML", 1, true) and not html.SCRIPT:find("eval", 1, true),
    "the script never turns data into markup or code")
end)

-- The C2 page ----------------------------------------------------------------------------------

-- the page `ipe-run page 89.160.20.128 --offline` shows on the demo workspace of the golden
-- files (tests/golden/README.md), with the MaxMind test databases for geo; the run time pinned
local H = require "ipe.harness"
local NOW = H.time("2026-11-27T12:00:00Z")
local MMDB = here .. "/../fixtures/mmdb/test-data/"
require("ipe.geo").configure({ MMDB .. "GeoIP2-City-Test.mmdb", MMDB .. "GeoLite2-ASN-Test.mmdb" })
local c2 = H.page("89.160.20.128", { db = H.workspace{ demo = { events = 20000, seed = 1, now = NOW } }, now = NOW, offline = true })
require("ipe.geo").configure(nil)
H.cleanup()
c2.timing.ms, c2.timing.parallel = 143, 2
local page = html.page(c2)

T.case("page: one self-contained HTML5 document", function()
  T.like(page, '^<!DOCTYPE html>\n<html lang="en" class="no%-js">\n<head>\n<meta charset="utf%-8">\n')
  has(page, '<meta http-equiv="Content-Security-Policy" content="' .. html.escape(html.csp()) .. '">')
  T.eq(count(page, "<style>"), 1, "one stylesheet")
  T.eq(count(page, "<script"), 2, "two script elements")
  has(page, '<script type="application/json" id="ipe-data">')
  has(page, "<script>" .. html.SCRIPT .. "</script>")
  has(page, "<style>" .. html.STYLE .. "</style>")
  T.like(page, "</html>\n$")
  has(page, "<title>IP address 89.160.20.128</title>")
end)

T.case("page: no external resource of any kind", function()
  T.unlike(page, "%ssrc=", "no src attribute")
  T.unlike(page, "<link", "no link element")
  T.unlike(page, "<img", "no img element")
  T.unlike(page, "<iframe", "no iframe")
  T.unlike(page, "@import", "no CSS import")
  T.unlike(page, "url%(", "no CSS url()")
  T.unlike(page, "fetch%(", "no fetch")
  T.unlike(page, "XMLHttpRequest", "no XHR")
  -- every http(s) reference is an <a> with rel=noopener, and it is one of the providers' links
  local links = 0
  for tag in page:gmatch("<[^>]-https?://[^>]*>") do
    if tag:match("^<svg") then
      T.eq(tag:match('xmlns="([^"]*)"'), "http://www.w3.org/2000/svg", "svg namespace")
    else
      links = links + 1
      T.like(tag, '^<a href="https://[^"]+" rel="noopener noreferrer nofollow" target="_blank">$')
    end
  end
  T.eq(links, 7, "the seven providers' reference links")
end)

T.case("page: header shows the IP, window, generation time, run time and mode", function()
  local top = page:match('<header class="top">.-</header>')
  has(top, "<h1>89.160.20.128</h1>")
  has(top, '<span class="st st-page-ok">complete</span>')
  has(top, '<time datetime="2026-11-20T12:00:00.000Z">2026-11-20 12:00:00</time> &#8594; '
    .. '<time datetime="2026-11-27T12:00:00.000Z">2026-11-27 12:00:00</time> UTC')
  has(top, "<dt>Run time</dt><dd>22 panels in 143 ms (2 in parallel)</dd>")
  has(top, "offline</span> external services not asked")
  lacks(page, "Partial results", "no banner on a complete page")
end)

T.case("page: overview pane with its panels in page order", function()
  local aside = page:match('<aside class="overview".-</aside>')
  T.ok(aside, "overview pane")
  local order = {}
  for id in aside:gmatch('<section class="panel panel%-overview is%-%w+" id="([^"]+)"') do order[#order + 1] = id end
  T.eq(order, { "panel-security-info", "panel-ip-details", "panel-log-activity", "panel-logged-hosts",
    "panel-incidents-by-severity", "panel-ip-prevalence" })
  has(aside, '<div class="card"><span class="card-value">1</span><span class="card-label">Open incidents</span></div>')
  has(aside, "<div><dt>City</dt><dd>Linköping</dd></div>")
  has(aside, "<div><dt>ASN</dt><dd>AS29518 Bredband2 AB</dd></div>")
  has(aside, "<div><dt>Carrier</dt><dd></dd></div>", "NULL is empty")
  has(aside, '<div class="card sev-card sev-high"><span class="card-label">High</span><span class="card-count"><b>1</b> Incidents</span>'
    .. '<span class="card-count"><b>1</b> Alerts</span></div>')
  has(aside, '<td class="num">4,320</td>', "log activity counts with separators")
  has(aside, '<span class="st st-empty">no results</span>', "logged hosts found nothing")
  has(aside, '<svg class="chart chart-time"', "prevalence chart")
  has(aside, "<summary>Query and hunt</summary>", "overview panels keep the hunt inside the details")
end)

T.case("page: three tabs with the incidents tab selected", function()
  local tabs = page:match('<div class="tabs" role="tablist" aria%-label="Entity page">.-</div>')
  T.eq(tabs, '<div class="tabs" role="tablist" aria-label="Entity page">'
    .. '<button type="button" role="tab" id="tab-incidents" data-tab="incidents" aria-controls="tp-incidents" aria-selected="true">'
    .. 'Incidents and alerts <span class="count">2</span></button>'
    .. '<button type="button" role="tab" id="tab-observed" data-tab="observed" aria-controls="tp-observed" aria-selected="false" tabindex="-1">'
    .. 'Observed in organization <span class="count">3</span></button>'
    .. '<button type="button" role="tab" id="tab-events" data-tab="events" aria-controls="tp-events" aria-selected="false" tabindex="-1">'
    .. "Sentinel events</button></div>")
  for _, t in ipairs({ "incidents", "observed", "events" }) do
    has(page, '<section class="tabpanel" role="tabpanel" id="tp-' .. t .. '" aria-labelledby="tab-' .. t .. '" data-tab="' .. t .. '">')
  end
  T.unlike(page, 'role="tabpanel"[^>]*hidden', "without JavaScript every tab shows")
end)

T.case("page: incidents table with filters, column chooser and sortable headers", function()
  local tp = element(page, "tp-incidents")
  has(tp, '<div class="toolbar" data-role="toolbar" hidden>')
  has(tp, '<input type="search" data-role="q" placeholder="text in any column"')
  has(tp, '<fieldset class="facet" data-col="3"><legend>Severity</legend><label><input type="checkbox" data-role="facet" data-col="3" value="High"> '
    .. '<span class="badge sev sev-high">High</span> <span class="n">2</span></label></fieldset>')
  has(tp, '<legend>Status</legend><label><input type="checkbox" data-role="facet" data-col="4" value="Active">')
  has(tp, '<label><input type="checkbox" data-role="facet" data-col="4" value="InProgress">')
  has(tp, '<fieldset class="facet" data-col="0"><legend>Kind</legend>')
  T.eq(count(tp, 'data-role="col"'), 12, "a checkbox per column")
  has(tp, '<label><input type="checkbox" data-role="col" value="8" checked> AssignedTo</label>')
  has(tp, '<th scope="col" data-type="time" aria-sort="none"><button type="button" class="sort" data-role="sort" data-col="9" title="Sort by LastActivity">LastActivity</button></th>')
  has(tp, "<td>Nestor Wilke</td>")
  has(tp, "<td>Communication with C2 server</td>")
  has(tp, '<td><span class="badge status status-active">Active</span></td>')
  has(tp, '<p class="grid-count" data-role="count" aria-live="polite">2 rows</p>')
  has(tp, '<p class="nomatch" data-role="nomatch" hidden>No rows match the filters.</p>')
  has(tp, "<code>ipe-run insight incidents-and-alerts 89.160.20.128 --as-hunt --from 2026-11-20T12:00:00.000Z --to 2026-11-27T12:00:00.000Z</code>")
end)

T.case("page: the embedded data are the incidents rows, and the incidents grid is primary", function()
  local data = cjson.decode(between(page, '<script type="application/json" id="ipe-data">', "</script>"))
  T.eq(data.tab, "incidents")
  local grids = {}
  for _, g in ipairs(data.grids) do grids[g[1]] = g[2] end
  local primary = grids[data.primary]
  T.ok(primary, "primary grid " .. tostring(data.primary))
  T.ok(element(element(page, "tp-incidents"), data.primary), "the primary grid is in the incidents tab")
  T.eq(#primary.columns, 12)
  T.eq(primary.columns[4], { name = "Severity", type = "text", badge = "sev" })
  T.eq(primary.columns[10], { name = "LastActivity", type = "time", badge = false })
  local rows = c2.panels[7].record.sections[1].rows
  T.eq(primary.rows, rows, "rows as in the record, nulls kept")
end)

T.case("page: observed tab lists the three beaconing devices", function()
  local tp = element(page, "tp-observed")
  for _, d in ipairs({ "wks-007.contoso.com", "wks-013.contoso.com", "wks-021.contoso.com" }) do has(tp, "<td>" .. d .. "</td>") end
  has(tp, "<td>contoso\\isaiah.langer</td>")
  has(tp, '<td class="num">2,880</td>')
  has(tp, 'data-role="toolbar"', "observed table gets the toolbar too")
end)

T.case("page: Sentinel events tab: timeline list, then every insight as a card", function()
  local tp = element(page, "tp-events")
  has(tp, '<h2 class="group-title">Timeline</h2>')
  has(tp, '<h2 class="group-title">Insights</h2>')
  local tl = tp:match('<ol class="timeline">.-</ol>')
  T.eq(count(tl, "<li "), 17, "every timeline row")
  has(tl, '<li class="tl-item tl-alert"><div class="tl-time"><time datetime="2026-11-22T12:00:00.000Z"')
  has(tl, '<span class="tl-kind">Alert</span> <span class="tl-title">Communication with C2 server</span>'
    .. '<span class="tl-meta">Azure Sentinel &#183; Detail: High, InProgress</span>')
  has(tl, '<span class="tl-title">Beaconing to 89.160.20.128 from wks-007</span>')
  local ids = {}
  for id in tp:gmatch('<section class="panel panel%-insights is%-%w+" id="([^"]+)"') do ids[#ids + 1] = id end
  T.eq(ids, { "panel-defender-ti-reputation", "panel-virustotal-ip", "panel-recorded-future-ip", "panel-anomali-ip",
    "panel-abuseipdb-ip", "panel-anomalies-count", "panel-network-traffic-inspection", "panel-remote-connections-ti-match",
    "panel-remote-connections", "panel-ti-match", "panel-watchlist-insights", "panel-greynoise-ip", "panel-otx-ip" })
end)

T.case("page: an insight card has its status, timing, query with bound values and hunt", function()
  local card = element(page, "panel-remote-connections")
  has(card, '<header class="panel-head"><h3 id="panel-remote-connections-h">IP address remote connections</h3>'
    .. '<span class="st st-ok">ok</span><span class="timing" title="run time">')
  has(card, "<h4>Remote connections of 89.160.20.128</h4>")
  has(card, '<td class="num">1,440</td>')
  has(card, '<span class="d">2026-11-22</span> <span class="t">12:04:11</span>')
  has(card, '<details class="query"><summary>Queries (3)</summary><div class="q"><p class="q-label">query 1</p><pre><code>'
    .. 'SELECT Sql FROM _ipe_ip_queries WHERE Name = :name</code></pre>')
  has(card, '<div class="q"><p class="q-label">query 3</p><pre><code>SELECT Host, HostIP, Direction')
  has(card, "IN (&#39;allow&#39;, &#39;allowed&#39;", "SQL escaped")
  has(card, '<table class="binds"><caption>Bound values</caption><tbody><tr><th scope="row">:ip</th><td>89.160.20.128</td></tr>')
  has(card, '<tr><th scope="row">:limit</th><td>500</td></tr>')
  has(card, '<p class="cmd"><span class="cmd-label">Hunt</span><code>ipe-run hunt hosts-contacting-ip --ip 89.160.20.128 --from 2026-11-20T12:00:00.000Z --to 2026-11-27T12:00:00.000Z')
  local skipped = element(page, "panel-anomali-ip")
  has(skipped, '<span class="st st-skipped">skipped</span>')
  has(skipped, '<p class="msg msg-skipped"><b>skipped:</b> Anomali ThreatStream: offline: Anomali ThreatStream was not asked and nothing is cached</p>')
  local ti = element(page, "panel-ti-match")
  has(ti, "<td>Cobalt Strike command and control server</td>")
  has(ti, '<td class="num">95</td>')
  local traffic = element(page, "panel-network-traffic-inspection")
  has(traffic, "<div><dt>Bytes to the IP</dt><dd><span title=\"5,623,527 bytes\">5.6 MB</span></dd></div>")
  has(traffic, '<svg class="chart chart-bar"')
  has(traffic, "<title>443/tcp: 4,320</title>")
end)

T.case("page: response actions with their commands", function()
  local a = element(page, "actions")
  has(a, '<h2 id="actions-h">Response actions</h2>')
  T.eq(count(a, '<li class="action">'), 4)
  has(a, '<li class="action"><h3>Add indicator</h3><p>Add the IP as an indicator of compromise to ThreatIntelligenceIndicator; '
    .. 'export live indicators as STIX</p>'
    .. '<p class="cmd"><span class="cmd-label">Run</span><code>ipe-run action add-indicator 89.160.20.128</code>'
    .. '<button type="button" class="copy" data-role="copy" hidden>Copy</button></p></li>')
  has(a, "<h3>Go hunt</h3>")
end)

T.case("page: ids are unique", function()
  local seen, dups = {}, {}
  for id in page:gmatch(' id="([^"]+)"') do
    if seen[id] then dups[#dups + 1] = id end
    seen[id] = true
  end
  T.eq(dups, {})
end)

T.case("page: the same record renders the same bytes", function()
  T.eq(html.page(c2), page)
end)

T.case("page: opts.tab picks the initial tab, opts.show_query opens the queries", function()
  local s = html.page(c2, { tab = "events", show_query = true })
  has(s, 'id="tab-events" data-tab="events" aria-controls="tp-events" aria-selected="true">')
  has(s, '"tab":"events"')
  has(s, '<details class="query" open>')
  has(html.page(c2, { tab = "nonsense" }), '"tab":"incidents"', "unknown tab falls back to incidents")
end)

-- Hostile strings, partial pages ------------------------------------------------------------

local spray = html.page(fixture("spray"))

T.case("hostile: no markup from the data survives", function()
  T.eq(count(spray, "<script"), 2, "only the page's own scripts")
  lacks(spray, "<script>alert")
  lacks(spray, "<img")
  lacks(spray, '"onmouseover')
  T.unlike(spray, "<[^>]+%son%a+=", "no event handler attribute")
  has(spray, "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;")
  has(spray, "<td>&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;</td>")
  has(spray, "<td>&quot;&gt;&lt;img src=x onerror=alert(3)&gt;</td>")
  has(spray, "<td>&#39; onmouseover=&#39;alert(6)</td>")
end)

T.case("hostile: the JSON block cannot be closed early", function()
  local block = between(spray, '<script type="application/json" id="ipe-data">', "</script>")
  T.ok(not block:find("<", 1, true), "no '<' in the data block")
  local data = cjson.decode(block)
  local found = false
  for _, g in ipairs(data.grids) do
    for _, row in ipairs(g[2].rows) do
      if row[3] == "</script><script>alert(2)</script>" then found = true end
    end
  end
  T.ok(found, "the hostile title survives as data")
end)

T.case("hostile: links only for http(s); other schemes and broken URLs are text", function()
  lacks(spray, 'href="javascript:')
  lacks(spray, 'href="JaVaScRiPt:')
  lacks(spray, 'href="data:')
  lacks(spray, 'href="vbscript:')
  has(spray, "<div><dt>Reference</dt><dd>javascript:alert(document.cookie)</dd></div>")
  has(spray, "<div><dt>Quoted URL</dt><dd>https://evil.example/&quot;onmouseover=&quot;alert(5)</dd></div>")
  has(spray, "<td>http://example.com/path?a=1&amp;b=&lt;2&gt;</td>")
  local hrefs = {}
  for h in spray:gmatch('href="([^"]*)"') do hrefs[#hrefs + 1] = h end
  T.eq(hrefs, { "#panel-log-activity", "#panel-observed", "https://www.abuseipdb.com/check/216.160.83.56",
    "https://www.abuseipdb.com/check/216.160.83.56" })
end)

T.case("hostile: terminal escapes, bidi overrides and bad bytes are visible, never raw", function()
  T.ok(not spray:find("[%z\1-\8\11\12\14-\31\127]"), "no control byte but tab/newline/CR")
  lacks(spray, "\226\128\174", "no U+202E")
  lacks(spray, "\194\155", "no U+009B")
  T.ok(not spray:find("\255", 1, true), "no invalid byte")
  has(spray, "\\x1b[2J\\x1b]8;;http://evil.example/\\x07click")
  has(spray, "<td>\\u202egpj.exe</td>")
  has(spray, "bad\\xffutf8\\x00nul\\x7fdel\\u009bc1")
end)

T.case("hostile: escaped in titles, keys, column names, chart labels, SQL, bound values and commands", function()
  has(spray, "<div><dt>WHOIS name &lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;</dt>")
  has(spray, "title=\"Sort by ImpactedAssets &lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;\"")
  has(spray, '<text class="series" x="0" y="128">users &lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;</text>')
  has(spray, "WHERE NetworkIP = :ip -- &lt;script&gt;")
  has(spray, '<th scope="row">:provider1</th><td>abuseipdb&lt;script&gt;')
  has(spray, "<code>ipe-run action add-indicator 216.160.83.56 --description &#39;&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;&#39;</code>")
  has(spray, '<h3 id="panel-watchlist-script-alert-7-script-h">Watchlist insights &lt;script&gt;', "hostile panel id is slugged")
end)

T.case("partial: banner lists the panels that did not finish, each failure shows in its panel", function()
  has(spray, '<span class="st st-page-partial">partial</span>')
  has(spray, '<div class="banner banner-warn" role="status"><b>Partial results:</b> 2 panels of 13 panels did not finish.<ul>'
    .. '<li><a href="#panel-log-activity">Log activity</a>: ran out of time (budget 10s)</li>'
    .. '<li><a href="#panel-observed">Observed in organization</a>: insights/observed.lua:42: attempt to index a nil value '
    .. "(field &#39;DeviceName&#39;) &lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;</li></ul></div>")
  local timeout = element(spray, "panel-log-activity")
  has(timeout, '<section class="panel panel-overview is-timeout"')
  has(timeout, '<span class="st st-timeout">timed out</span>')
  has(timeout, '<p class="msg msg-timeout" role="alert"><b>timed out:</b> ran out of time (budget 10s)</p>')
  local failed = element(spray, "panel-observed")
  has(failed, '<span class="st st-error">error</span>')
  has(failed, '<p class="msg msg-error" role="alert"><b>error:</b> insights/observed.lua:42:')
  has(element(spray, "panel-otx-ip"), '<p class="msg msg-skipped"><b>skipped:</b> does not apply to these parameters</p>')
end)

T.case("partial: a malformed section is reported in its panel, the rest renders", function()
  local p = element(spray, "panel-anomalies-count")
  has(p, '<p class="msg msg-error" role="alert">cannot show section 2: series 1 has 3 values for 8 labels</p>')
  has(p, "<td>Anomalous sign-in activity</td>")
end)

T.case("partial: a panel of an unknown group joins the insights", function()
  T.ok(element(element(spray, "tp-events"), "panel-watchlist-script-alert-7-script"), "in the Sentinel events tab")
  has(spray, '<section class="panel panel-insights is-ok" id="panel-watchlist-script-alert-7-script"')
end)

T.case("empty page: banner, empty panels, zero chart", function()
  local quiet = html.page(fixture("quiet"))
  has(quiet, '<span class="st st-page-empty">empty</span>')
  has(quiet, '<div class="banner banner-info" role="status">Nothing about this IP in the workspace for this window.</div>')
  T.eq(count(quiet, '<p class="empty">No rows.</p>'), 6)
  has(quiet, "<h1>192.0.2.200</h1>")
  has(quiet, '<p class="empty">No response action is available for this IP.</p>')
  has(quiet, 'Incidents and alerts <span class="count">0</span>')
  T.unlike(quiet, '<rect class="col s1"[^>]* height="[1-9]', "no column of a zero series has height")
  has(quiet, '"grids":[]', "no interactive grid")
end)

-- Single runs ----------------------------------------------------------------------------------

T.case("run: one run record as a page with its params, table toolbar and queries", function()
  local rec
  for _, p in ipairs(c2.panels) do if p.id == "remote-connections" then rec = p.record end end
  T.eq(rec.script, "remote-connections")
  local s = html.run(rec)
  has(s, "<title>remote-connections — IP address remote connections</title>")
  has(s, '<p class="entity-kind">insight</p><h1>remote-connections — IP address remote connections</h1>'
    .. '<p class="params"><code>ip=89.160.20.128</code><code>limit=500</code></p></div><span class="st st-ok">ok</span>')
  has(s, 'data-role="toolbar"')
  has(s, '<details class="query"><summary>Queries (3)</summary>')
  has(s, "<td>wks-021.contoso.com</td>")
  T.like(s, '"primary":"grid%-1"')
  lacks(s, 'role="tablist"')
  has(html.run(rec, { show_query = true }), '<details class="query" open>')
end)

T.case("run: failed and skipped runs show their message", function()
  local s = html.run({ script = "x", kind = "insight", title = "X <b>", status = "error", message = "boom <i>", sections = {} })
  has(s, '<p class="msg msg-error" role="alert"><b>error:</b> boom &lt;i&gt;</p>')
  has(s, "<h1>x — X &lt;b&gt;</h1>")
  local t = html.run({ script = "y", status = "error", outcome = "timeout", message = "ran out of time (budget 2s)" })
  has(t, '<span class="st st-timeout">timed out</span>')
end)

-- Errors ---------------------------------------------------------------------------------------

T.case("page errors: exact messages", function()
  local function page_with(f)
    local r = { kind = "page", panels = { { id = "a", record = { status = "ok" } } }, actions = {} }
    f(r)
    return function() html.page(r) end
  end
  T.eq(T.raises(function() html.page(nil) end), "page: not a table")
  T.eq(T.raises(page_with(function(r) r.kind = "insight" end)), "page: kind is 'insight', not 'page'")
  T.eq(T.raises(page_with(function(r) r.kind = nil end)), "page: kind is 'nil', not 'page'")
  T.eq(T.raises(page_with(function(r) r.status = "done\27" end)), "page: unknown status 'done\\x1b' (use ok, partial or empty)")
  T.eq(T.raises(page_with(function(r) r.panels = "x" end)), "page: panels must be a list")
  T.eq(T.raises(page_with(function(r) r.panels[2] = 5 end)), "page: panel 2 is not a table")
  T.eq(T.raises(page_with(function(r) r.panels[2] = { id = "ip-details" } end)), "page: panel 2 (ip-details) has no run record")
  T.eq(T.raises(page_with(function(r) r.actions = true end)), "page: actions must be a list")
  T.eq(T.raises(page_with(function(r) r.actions = { {}, "add" } end)), "page: action 2 is not a table")
  T.ok(html.page({ kind = "page", panels = {} }):find("No overview panel on this page.", 1, true), "an empty page renders")
end)

T.case("run errors: exact messages", function()
  local function run_with(sec) return function() html.run({ sections = { sec } }) end end
  T.eq(T.raises(function() html.run("x") end), "record: not a table")
  T.eq(T.raises(function() html.run({ status = "fine" }) end), "record: unknown status 'fine' (use ok, empty, error or skipped)")
  T.eq(T.raises(function() html.run({ sections = 3 }) end), "record: sections must be a list")
  T.eq(T.raises(run_with(7)), "section 1: not a table")
  T.eq(T.raises(run_with({ kind = "pie" })), "section 1: unknown kind 'pie' (use table, kv or chart)")
  T.eq(T.raises(run_with({ kind = "table", columns = {} })), "section 1: columns must be a non-empty list")
  T.eq(T.raises(run_with({ kind = "table", columns = { "a" } })), "section 1: column 1 is not a table")
  T.eq(T.raises(run_with({ kind = "table", columns = { { name = "a", type = "float" } } })),
    "section 1: column 1 has unknown type 'float' (use text, ip, time, count, number, bytes, bool or json)")
  T.eq(T.raises(run_with({ kind = "table", columns = { { name = "a" } }, rows = 1 })), "section 1: rows must be a list")
  T.eq(T.raises(run_with({ kind = "table", columns = { { name = "a" } }, rows = { 1 } })), "section 1: row 1 is not a list")
  T.eq(T.raises(run_with({ kind = "kv", items = 1 })), "section 1: items must be a list")
  T.eq(T.raises(run_with({ kind = "kv", items = { 1 } })), "section 1: item 1 is not a table")
  T.eq(T.raises(run_with({ kind = "kv", items = { { key = "k", type = "x" } } })),
    "section 1: item 1 has unknown type 'x' (use text, ip, time, count, number, bytes, bool or json)")
  T.eq(T.raises(run_with({ kind = "chart", labels = {}, series = {} })), "section 1: chart type missing (use bar or time)")
  T.eq(T.raises(run_with({ kind = "chart", chart = "pie" })), "section 1: unknown chart 'pie' (use bar or time)")
  T.eq(T.raises(run_with({ kind = "chart", chart = "bar", unit = "kg" })), "section 1: unknown unit 'kg' (use count or bytes)")
  T.eq(T.raises(run_with({ kind = "chart", chart = "time", bucket = "week" })),
    "section 1: unknown bucket 'week' (use minute, hour or day)")
  T.eq(T.raises(run_with({ kind = "chart", chart = "bar", labels = 1 })), "section 1: labels must be a list")
  T.eq(T.raises(run_with({ kind = "chart", chart = "bar", labels = {}, series = 1 })), "section 1: series must be a list")
  T.eq(T.raises(run_with({ kind = "chart", chart = "bar", labels = {}, series = { {} } })), "section 1: series 1 has no values list")
  T.eq(T.raises(run_with({ kind = "chart", chart = "bar", labels = { "a" }, series = { { values = { 1, 2 } } } })),
    "section 1: series 1 has 2 values for 1 labels")
end)

-- SVG ------------------------------------------------------------------------------------------

local DAYS = { "2026-11-22T00:00:00.000Z", "2026-11-23T00:00:00.000Z", "2026-11-24T00:00:00.000Z" }

T.case("svg: bar chart with labels, values, tooltips and an accessible name", function()
  local s = svg.chart({ kind = "chart", chart = "bar", title = "Bytes <by> peer", unit = "bytes",
    labels = { "10.0.4.80", "10.0.2.23" }, series = { { name = "sent", values = { 1876211, 0 } } } }, { id = "c9" })
  T.like(s, '^<svg class="chart chart%-bar" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 640 44" width="640" height="44" role="img" aria%-labelledby="c9%-t c9%-d">')
  has(s, '<title id="c9-t">Bytes &lt;by&gt; peer</title>')
  has(s, '<desc id="c9-d">2 bars. sent: min 0 B, max 1.9 MB, total 1.9 MB.</desc>')
  has(s, "<title>10.0.4.80: 1.9 MB</title>")
  has(s, '<text class="value" x="')
  has(s, ">1.9 MB</text>")
  T.like(s, '<title>10.0.2.23: 0 B</title><rect class="bar s1" x="[%d.]+" y="[%d.]+" width="0"', "zero draws no bar")
  T.like(s, "</svg>$")
end)

T.case("svg: time chart, one plot per series with its own axis", function()
  local s = svg.chart({ kind = "chart", chart = "time", title = "Prevalence", bucket = "day", unit = "count",
    labels = DAYS, series = { { name = "events", values = { 864, 1728, null } }, { name = "devices", values = { 3, 3, 0 } } } },
    { id = "p" })
  has(s, '<desc id="p-d">3 days from 2026-11-22 to 2026-11-24. events: min 864, max 1,728, total 2,592. devices: min 0, max 3, total 6.</desc>')
  has(s, '<text class="series" x="0" y="18">events</text>')
  has(s, ">2,000</text>", "events axis top")
  has(s, ">5</text>", "devices axis top")
  T.unlike(s, ">2.5</text>", "a count axis shows whole numbers only")
  has(s, "<title>2026-11-24: no value</title>", "null value")
  has(s, '<text class="tick" x="', "axis labels")
  has(s, ">11-22</text>")
  has(s, "<title>2026-11-23: 1,728</title>")
end)

T.case("svg: hour buckets, many labels, empty charts", function()
  local labels, values = {}, {}
  for h = 0, 167 do
    labels[#labels + 1] = string.format("2026-11-%02dT%02d:00:00.000Z", 20 + math.floor(h / 24), h % 24)
    values[#values + 1] = h % 24
  end
  local s = svg.time({ kind = "chart", chart = "time", bucket = "hour", labels = labels, series = { { name = "n", values = values } } },
    { id = "h" })
  T.eq(count(s, '<rect class="col'), 168)
  T.eq(count(s, 'text-anchor="middle"'), 7, "one x label per ~80 px")
  has(s, ">11-20 00:00</text>")
  has(s, "<title>2026-11-26 23:00 UTC: 23</title>")
  T.eq(svg.chart({ kind = "chart", chart = "bar", title = "T", labels = {}, series = {} }, { id = "e" }),
    '<svg class="chart chart-bar" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 640 40" width="640" height="40" role="img" '
    .. 'aria-labelledby="e-t e-d"><title id="e-t">T</title><desc id="e-d">0 bars.</desc><text class="nodata" x="0" y="24">No data</text></svg>')
end)

T.case("svg: nice axis tops and bucket texts", function()
  T.eq({ svg.nice(0), svg.nice(3), svg.nice(5), svg.nice(864), svg.nice(1000), svg.nice(0.83), svg.nice(2.1), svg.nice(23) },
    { 1, 5, 5, 1000, 1000, 1, 2.5, 25 })
  T.eq(svg.bucket_text("2026-11-22T00:00:00.000Z", "day"), "2026-11-22")
  T.eq(svg.bucket_text("2026-11-22T05:00:00.000Z", "hour"), "2026-11-22 05:00 UTC")
  T.eq(svg.bucket_text("week 3", "day"), "week 3")
  T.eq(svg.bucket_text(7, "day"), "7")
end)

T.done()
