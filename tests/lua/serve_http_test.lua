-- Tests for ipe.serve.http, ipe.serve.auth and ipe.serve.pivots: request targets, queries,
-- cookies, the token check and the CSRF check of ipe-run serve, and where a table cell leads (the end-to-end tests are tests/cli/serve*.t).
local T = require "ipe.testing"
local http = require "ipe.serve.http"
local auth = require "ipe.serve.auth"
local pivots = require "ipe.serve.pivots"

T.case("split: the path decoded, the query kept raw", function()
  local path, q = http.split("/ip/89.160.20.128?from=a&to=b")
  T.eq(path, "/ip/89.160.20.128")
  T.eq(q, "from=a&to=b")
  T.eq((http.split("/ip/1%5B.%5D2")), "/ip/1[.]2")
  T.eq((http.split("/a+b")), "/a+b", "a + in a path is a plus")
end)

T.case("split: traversal and malformed paths are refused with their reason", function()
  local cases = {
    { "/../etc/passwd", "bad path (a '..' segment)" },
    { "/ip/%2e%2e/x", "bad path (a '..' segment)" },
    { "/ip/..%2fetc", "bad path (a '..' segment)" },
    { "/ip/./x", "bad path (a '.' segment)" },
    { "/ip//x", "bad path (an empty segment)" },
    { "/ip/%00", "bad path (a control character or backslash)" },
    { "/ip/a%5cb", "bad path (a control character or backslash)" },
    { "/ip/%zz", "bad path (a malformed %-escape)" },
    { "/ip/%4", "bad path (a malformed %-escape)" },
    { "ip/x", "bad path (not absolute)" },
    { "http://evil/x", "bad path (not absolute)" },
  }
  for _, c in ipairs(cases) do
    local path, err = http.split(c[1])
    T.eq(path, nil, c[1])
    T.eq(err, c[2], c[1])
  end
end)

T.case("params: decoded, + is a space, the last of a repeated name", function()
  local p = http.params("q=89%5B.%5D1+2&a=1&a=2&flag&empty=")
  T.eq(p.q, "89[.]1 2")
  T.eq(p.a, "2")
  T.eq(p.flag, "")
  T.eq(p.empty, "")
  local bad, err = http.params("q=%G1")
  T.eq(bad, nil)
  T.eq(err, "bad query (a malformed %-escape)")
end)

T.case("values: every value of a repeated name, decoded, in order", function()
  T.eq(http.values("p=ip%3D1.2.3.4&q=x&p=&p=n%3D2+3&pp=no&p", "p"), { "ip=1.2.3.4", "", "n=2 3", "" })
  T.eq(http.values("q=x", "p"), {})
  T.eq(http.values(nil, "p"), {})
end)

T.case("query and encode round trip through params", function()
  local list = { { "cidr", "10.0.1.0/24" }, { "q", "a&b=c d%" }, { "skip", nil }, { "from", "2026-11-20T12:00:00.000Z" } }
  local q = http.query(list)
  T.eq(q, "cidr=10.0.1.0%2F24&q=a%26b%3Dc%20d%25&from=2026-11-20T12:00:00.000Z")
  local p = http.params(q)
  T.eq(p.cidr, "10.0.1.0/24")
  T.eq(p.q, "a&b=c d%")
  T.eq(p.skip, nil)
  T.eq(http.encode_path("/ip/a b/<x>"), "/ip/a%20b/%3Cx%3E")
end)

T.case("cookies", function()
  local c = http.cookies("a=1; ipe_token=abc ;b = 2, c=3")
  T.eq(c.ipe_token, "abc")
  T.eq(c.a, "1")
  T.eq(c.b, "2")
  T.eq(c.c, "3")
  T.eq(next(http.cookies(nil)), nil)
end)

T.case("auth: a new token each time, 64 hex digits", function()
  local a, b = auth.new(), auth.new()
  T.like(a.token, "^%x+$")
  T.eq(#a.token, 64)
  T.eq(#a.csrf, 64)
  T.eq(a.token == b.token, false)
  T.eq(a.token == a.csrf, false)
end)

T.case("auth.check: login, ok, missing, wrong", function()
  local a = auth.new()
  local function req(cookie) return { headers = { cookie = cookie } } end
  T.eq(auth.check(a, req(nil), { token = a.token }), "login")
  T.eq(auth.check(a, req(nil), { token = a.token:sub(1, 63) }), "wrong")
  T.eq(auth.check(a, req("ipe_token=" .. a.token), {}), "ok")
  T.eq(auth.check(a, req("x=1; ipe_token=" .. a.token), {}), "ok")
  T.eq(auth.check(a, req("ipe_token=" .. a.csrf), {}), "wrong")
  T.eq(auth.check(a, req(nil), {}), "missing")
  T.eq(auth.check(a, req("other=1"), {}), "missing")
  T.eq(auth.check(a, req("ipe_token=" .. a.token), { token = "x" }), "wrong", "a wrong ?token= is wrong even with the cookie")
  T.like(auth.cookie(a, true), "; HttpOnly; SameSite=Strict; Secure$")
  T.eq(auth.cookie(a, false):find("Secure", 1, true), nil)
end)

T.case("auth.csrf_ok", function()
  local a = auth.new()
  local function req(site) return { headers = { ["sec-fetch-site"] = site } } end
  T.eq(auth.csrf_ok(a, req(nil), { csrf = a.csrf }), true)
  T.eq(auth.csrf_ok(a, req("same-origin"), { csrf = a.csrf }), true)
  local ok, why = auth.csrf_ok(a, req("cross-site"), { csrf = a.csrf })
  T.eq(ok, nil)
  T.eq(why, "a cross-site form")
  ok, why = auth.csrf_ok(a, req(nil), {})
  T.eq(why, "missing CSRF token")
  ok, why = auth.csrf_ok(a, req(nil), { csrf = a.token })
  T.eq(why, "wrong CSRF token")
  T.eq(auth.same("abc", "abc"), true)
  T.eq(auth.same("abc", "abd"), false)
  T.eq(auth.same("abc", "ab"), false)
  T.eq(auth.same(nil, "ab"), false)
end)

T.case("pivots.class: by the column's type, then its name", function()
  local cases = {
    { "ip", "Peer", "ip" }, { "text", "HostIP", "ip" }, { "text", "SourceIPAddress", "ip" },
    { "text", "Host", "host" }, { "text", "DeviceName", "host" }, { "text", "computer", "host" },
    { "text", "Account", "account" }, { "text", "UserPrincipalName", "account" }, { "text", "TargetUserName", "account" },
    { "text", "MatchedIndicator", "indicator" }, { "text", "IndicatorId", "indicator" }, { "text", "Url", "indicator" },
    { "text", "NetworkCidrBlock", "cidr" }, { "text", "User", nil }, { "text", "Title", nil }, { "count", "Events", nil },
  }
  for _, c in ipairs(cases) do T.eq(pivots.class(c[1], c[2]), c[3], c[1] .. " " .. c[2]) end
end)

T.case("pivots.linker: each class to its page or hunt, with the window, values %-escaped", function()
  local w = { from_text = "2026-11-20T12:00:00.000Z", to_text = "2026-11-27T12:00:00.000Z" }
  local W = "from=2026-11-20T12:00:00.000Z&to=2026-11-27T12:00:00.000Z"
  local hunts = {
    ["b-hosts"] = { params = { { name = "ip" }, { name = "host" } } },
    ["a-no-ip"] = { params = { { name = "host" }, { name = "account" } } },   -- no ip: never the pivot
    ["c-hosts"] = { params = { { name = "ip" }, { name = "host" } } },         -- after b by name
    ["signins"] = { params = { { name = "ip" }, { name = "account" } } },
  }
  local link = pivots.linker(hunts, w, "89[.]160[.]20[.]128")
  T.eq(link("10.0.0.1", "ip", "Peer"), "/ip/10.0.0.1?" .. W)
  T.eq(link("not an ip", "ip", "Peer"), nil)
  T.eq(link("ws-1.corp", "text", "Host"), "/hunt/b-hosts?host=ws-1.corp&ip=89.160.20.128&" .. W,
    "a host: the first hunt by name that takes host and ip; the page's IP normalized (a defanged one too)")
  T.eq(link("10.0.9.9", "text", "Host"), "/ip/10.0.9.9?" .. W, "a host column holding an address: its page")
  T.eq(link([[<b x="1">&'?#/]], "text", "Computer"),
    "/hunt/b-hosts?host=%3Cb%20x%3D%221%22%3E%26%27%3F%23%2F&ip=89.160.20.128&" .. W, "hostile: %-escaped")
  T.eq(link([[CONTOSO\alice]], "text", "Account"), "/hunt/signins?account=CONTOSO%5Calice&ip=89.160.20.128&" .. W)
  T.eq(link("10.0.1.0/24", "text", "NetworkCidrBlock"), "/hunt/subnet-sweep?cidr=10.0.1.0%2F24&" .. W)
  T.eq(link("89.160.20.128", "text", "MatchedIndicator"), "/ip/89.160.20.128?" .. W, "an IP indicator: its page")
  T.eq(link("ABC", "text", "IndicatorId"),
    "/kql?q=ThreatIntelligenceIndicator%0A%7C%20where%20IndicatorId%20%3D%3D%20%22ABC%22&" .. W)
  T.eq(link("", "text", "Host"), nil, "an empty cell")
  T.eq(link("x", "text", "Title"), nil, "any other column")
  local noip = pivots.linker(hunts, w, nil)
  T.eq(noip("ws-1", "text", "Host"), nil, "no IP on the page: a host is not a link")
  T.eq(pivots.linker({}, w, "1.2.3.4")("ws-1", "text", "Host"), nil, "no hunt takes a host: not a link")
end)

T.case("pivots: an account opens the hunt of its source: Entra ID sign-ins, or Windows and Linux logons", function()
  local w = { from_text = "2026-11-20T12:00:00.000Z", to_text = "2026-11-27T12:00:00.000Z" }
  local W = "&ip=89.160.20.128&from=2026-11-20T12:00:00.000Z&to=2026-11-27T12:00:00.000Z"
  local takes = { params = { { name = "ip" }, { name = "account" } } }
  local hunts = { ["signins-from-ip"] = takes, ["failed-logons-from-ip"] = takes, ["multiple-users-from-ip"] = takes,
                  ["a-first-by-name"] = takes }
  local link = pivots.linker(hunts, w, "89.160.20.128")
  local SIGNINS, LOGONS = "/hunt/signins-from-ip?account=", "/hunt/failed-logons-from-ip?account="
  local cols = { { name = "Source" }, { name = "Account" } }
  -- the row's Source names the table
  T.eq(link([[CONTOSO\alice]], "text", "Account", { "SecurityEvent", [[CONTOSO\alice]] }, cols),
    LOGONS .. "CONTOSO%5Calice" .. W, "a SecurityEvent row: failed logons")
  T.eq(link("root", "text", "Account", { "Syslog", "root" }, cols), LOGONS .. "root" .. W, "a Syslog row: failed logons")
  T.eq(link("alice@contoso.com", "text", "Account", { "SigninLogs", "alice@contoso.com" }, cols),
    SIGNINS .. "alice%40contoso.com" .. W, "a SigninLogs row: sign-ins")
  T.eq(link("alice", "text", "Account", { "SigninLogs", "alice" }, { { name = "type" }, { name = "Account" } }),
    SIGNINS .. "alice" .. W, "a Type column, any case")
  -- else the column's own table
  T.eq(link("alice@contoso.com", "text", "TargetUserName"), LOGONS .. "alice%40contoso.com" .. W, "TargetUserName: SecurityEvent")
  T.eq(link("alice", "text", "UserPrincipalName"), SIGNINS .. "alice" .. W, "UserPrincipalName: SigninLogs")
  T.eq(link("alice", "text", "UserPrincipalName", { "not a table", "alice" }, cols), SIGNINS .. "alice" .. W,
    "a Source that names no such table is not read")
  -- else the value's shape
  T.eq(link([[contoso\allan]], "text", "Account", { "CommonSecurityLog", [[contoso\allan]] }, cols),
    LOGONS .. "contoso%5Callan" .. W, "a proxy's DOMAIN\\user: a Windows account")
  T.eq(link("allan@contoso.com", "text", "Account"), SIGNINS .. "allan%40contoso.com" .. W, "user@domain: Entra ID")
  T.eq(link("allan", "text", "UserName"), LOGONS .. "allan" .. W, "a bare user: a logon")
  -- the named hunt not loaded: the first by name that takes an account and the IP
  local only = pivots.linker({ ["a-first-by-name"] = takes, ["signins-from-ip"] = { params = { { name = "ip" } } } }, w, "89.160.20.128")
  T.eq(only("alice@contoso.com", "text", "UserPrincipalName"), "/hunt/a-first-by-name?account=alice%40contoso.com" .. W,
    "signins-from-ip without an account parameter: the general rule")
  T.eq(pivots.account_hunt("x", "Account", { "AzureActivity" }, { { name = "Source" } }), "signins-from-ip")
end)

T.case("pivots.kql_string: a KQL literal the lexer reads back as the value", function()
  local lexer = require "ipe.kql.lexer"
  for _, v in ipairs({ "plain", [[a"b]], [[back\slash]], "line\nbreak\ttab\r", "it's", [[\"\\]] }) do
    local toks = lexer.lex(pivots.kql_string(v))
    T.eq(toks[1].t, "str", v)
    T.eq(toks[1].v, v, v)
  end
end)

T.done()
