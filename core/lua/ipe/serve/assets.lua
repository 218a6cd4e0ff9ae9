-- ipe.serve.assets: the served pages' own stylesheet and scripts (inline, allowed by hash in
-- the Content-Security-Policy, like the page's: nothing is loaded from anywhere).
--
--   assets.STYLE   the bar on top of every served page (search, copy as command), forms
--   assets.FILL    the body script of a streamed page: each <template data-fill="id"> replaces
--                  the element with that id as soon as its marker <i data-filled="id"> is parsed
--   assets.csp()   the policy of every served document
local html = require "ipe.render.html"

local M = {}

M.STYLE = [==[
.serve-bar{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.5rem 1rem;background:var(--panel);border-bottom:1px solid var(--line)}
.serve-bar .home{font-weight:600;color:var(--text);text-decoration:none}
.serve-bar form{display:flex;gap:.4rem}
.serve-bar input{min-width:18rem;padding:.25rem .4rem;border:1px solid var(--line);border-radius:4px;font:inherit}
.serve-bar .cmd{margin:0}
.serve-bar .cmd code{white-space:pre-wrap}
.st-running{background:var(--soft);color:var(--muted)}
.is-running{opacity:.75}
a.pivot{color:inherit;text-decoration:underline dotted}
a.open{margin-left:.5rem}
.form{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:.75rem 1rem;margin:1rem}
.form label{display:block;margin:.4rem 0 .1rem;font-weight:600}
.form .help{color:var(--muted);font-size:.9em;margin:0}
.form textarea{display:block;width:100%;max-width:60rem;font-family:ui-monospace,monospace;padding:.3rem .4rem;border:1px solid var(--line);border-radius:4px}
.form input,.form select{padding:.25rem .4rem;border:1px solid var(--line);border-radius:4px;font:inherit}
.form button{margin-top:.6rem}
.downloads a{margin-right:.75rem}
.notice{margin:1rem;padding:.5rem .75rem;border-left:4px solid var(--accent);background:var(--panel)}
]==]

M.FILL = [==[
(function () {
  'use strict';
  var d = document;
  function fill(id) {
    var t = d.querySelector('template[data-fill="' + id + '"]'), el = d.getElementById(id);
    if (!t) return;
    if (el && el !== t) el.replaceWith(t.content.cloneNode(true));
    t.remove();
  }
  function scan(root) {
    if (root.nodeType !== 1) return;
    if (root.hasAttribute('data-filled')) { fill(root.getAttribute('data-filled')); root.remove(); return; }
    Array.prototype.forEach.call(root.querySelectorAll('[data-filled]'), scan);
  }
  new MutationObserver(function (list) {
    list.forEach(function (m) { Array.prototype.forEach.call(m.addedNodes, scan); });
  }).observe(d.documentElement, { childList: true, subtree: true });
  d.addEventListener('DOMContentLoaded', function () { scan(d.body); });
})();
]==]

local csp
function M.csp()
  csp = csp or html.csp_with({ M.FILL }, { M.STYLE })
  return csp
end

return M
