#!/usr/bin/python3
"""A small Chrome DevTools Protocol driver for the ipe-run serve browser tests.

Starts headless Chromium with --remote-debugging-pipe (no port, no websocket library: CDP
messages are JSON texts ended by a NUL byte on fds 3 and 4) and obeys one JSON command per
line on stdin, answering one JSON line on stdout:

  {"cmd": "goto", "url": U}              load U, wait for its load event  -> {"url": location}
  {"cmd": "eval", "js": EXPR}            -> {"value": the result (by value)}
  {"cmd": "click", "selector": S}        a real mouse click at the middle of the first visible
                                         element matching S (scrolled into view), then wait for the
                                         load event of the page it opens   -> {"url": location}
                                         ("nowait": true: a click that opens no page, e.g. a tab)
  {"cmd": "type", "selector": S, "text": T}  focus the element, select its text, type T (keys)
  {"cmd": "back"}                        the browser's back button         -> {"url": location}
  {"cmd": "dialogs"}                     -> {"value": [messages of alert/confirm/prompt opened]}
  {"cmd": "quit"}

Errors are {"error": "..."}. Chromium is killed when stdin ends.
"""
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self, exe):
        self.profile = tempfile.mkdtemp(prefix="ipe-cdp-")
        to_r, to_w = os.pipe()      # commands: we write, the browser reads fd 3
        from_r, from_w = os.pipe()  # answers: the browser writes fd 4

        def fds():
            os.dup2(to_r, 100)
            os.dup2(from_w, 101)
            os.dup2(100, 3)
            os.dup2(101, 4)
            os.setsid()

        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             "--window-size=1280,900", "--user-data-dir=" + self.profile, "--remote-debugging-pipe",
             "about:blank"],
            pass_fds=(3, 4, to_r, from_w), preexec_fn=fds, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(os.environ.get("IPE_CDP_LOG", os.devnull), "w"))
        os.close(to_r)
        os.close(from_w)
        self.w, self.r = to_w, from_r
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.dialogs = []
        targets = self.call("Target.getTargets")["targetInfos"]
        page = [t for t in targets if t["type"] == "page"][0]
        self.session = self.call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
        for m in ("Page.enable", "Runtime.enable"):
            self.call(m, session=True)

    def close(self):
        try:
            os.killpg(self.proc.pid, 9)
        except OSError:
            pass
        self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read(self, timeout):
        end = time.time() + timeout
        while b"\0" not in self.buf:
            left = end - time.time()
            if left <= 0:
                raise TimeoutError("no message from the browser in time")
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                chunk = os.read(self.r, 1 << 20)
                if not chunk:
                    raise EOFError("the browser closed its pipe")
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def _event(self, m):
        if m.get("method") == "Page.javascriptDialogOpening":
            self.dialogs.append(m["params"].get("message"))
            self.call("Page.handleJavaScriptDialog", {"accept": True}, session=True, wait=False)
        self.events.append(m)

    def call(self, method, params=None, session=False, wait=True, timeout=60):
        self.next_id += 1
        mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        if not wait:
            return None
        end = time.time() + timeout
        while True:
            m = self._read(max(0.1, end - time.time()))
            if m.get("id") == mid:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"].get("message")))
                return m.get("result", {})
            self._event(m)

    def wait_event(self, name, timeout=60):
        end = time.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == name:
                    del self.events[: i + 1]
                    return e
            self._event(self._read(max(0.1, end - time.time())))

    def eval(self, js):
        r = self.call("Runtime.evaluate", {"expression": js, "returnByValue": True, "awaitPromise": True}, session=True)
        if "exceptionDetails" in r:
            raise RuntimeError("script error: %s" % r["exceptionDetails"].get("text"))
        return r["result"].get("value")

    def goto(self, url):
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_event("Page.loadEventFired")
        return self.eval("location.href")

    def click(self, selector, wait=True):
        box = self.eval("(function(){var e=Array.prototype.filter.call(document.querySelectorAll(%s),"
                        "function(x){return x.getClientRects().length>0;})[0]; if(!e) return null;"
                        # the middle of its first box: a link wrapped over two lines has nothing at its bounding box middle
                        "e.scrollIntoView({block:'center'});"
                        "var r=e.getClientRects()[0]; return [r.left+r.width/2, r.top+r.height/2];})()" % json.dumps(selector))
        if not box:
            raise RuntimeError("no element matches %s" % selector)
        self.events.clear()
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left",
                                                   "clickCount": 1}, session=True)
        if wait:
            self.wait_event("Page.loadEventFired", 30)
        return self.eval("location.href")

    def type(self, selector, text):
        ok = self.eval("(function(){var e=document.querySelector(%s); if(!e) return false; e.focus(); e.select && e.select();"
                       " return true;})()" % json.dumps(selector))
        if not ok:
            raise RuntimeError("no element matches %s" % selector)
        self.call("Input.insertText", {"text": text}, session=True)
        return self.eval("document.querySelector(%s).value" % json.dumps(selector))

    def back(self):
        before = self.eval("location.href")
        hist = self.call("Page.getNavigationHistory", session=True)
        entry = hist["entries"][hist["currentIndex"] - 1]
        self.call("Page.navigateToHistoryEntry", {"entryId": entry["id"]}, session=True)
        # a page restored from the back/forward cache fires no load event: wait for the address
        # to change and the document to be complete
        end = time.time() + 30
        while time.time() < end:
            try:
                now = self.eval("document.readyState === 'complete' ? location.href : ''")
            except RuntimeError:
                now = ""
            if now and now != before:
                return now
            time.sleep(0.1)
        raise TimeoutError("the back button did not change the page in 30 s")


def main():
    b = Browser(sys.argv[1] if len(sys.argv) > 1 else "chromium")
    try:
        for line in sys.stdin:
            c = json.loads(line)
            try:
                cmd = c["cmd"]
                if cmd == "quit":
                    break
                if cmd == "goto":
                    out = {"url": b.goto(c["url"])}
                elif cmd == "eval":
                    out = {"value": b.eval(c["js"])}
                elif cmd == "click":
                    out = {"url": b.click(c["selector"], not c.get("nowait"))}
                elif cmd == "type":
                    out = {"value": b.type(c["selector"], c["text"])}
                elif cmd == "back":
                    out = {"url": b.back()}
                elif cmd == "dialogs":
                    out = {"value": b.dialogs}
                else:
                    out = {"error": "unknown command " + cmd}
            except Exception as e:  # noqa: BLE001 - every failure is the test's to report
                out = {"error": "%s: %s" % (type(e).__name__, e)}
            sys.stdout.write(json.dumps(out) + "\n")
            sys.stdout.flush()
    finally:
        b.close()


if __name__ == "__main__":
    main()
