"""The browser of the UI tests: tests/ui/driver.mjs (headless Debian
chromium under playwright-core) run as a child process and driven one
JSON command a line. Every command has a deadline; a browser that cannot
start fails the test, naming what is missing (never a skip).
"""
import json
import os
import queue
import shutil
import subprocess
import threading

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UI_DIR = os.path.join(REPO, "tests", "ui")
CHROMIUM = os.environ.get("AGORA_CHROMIUM", "/usr/bin/chromium")


def missing():
    """What the browser tests need and this machine lacks, or None."""
    if shutil.which("node") is None:
        return "node (Debian package nodejs)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} (Debian package chromium)"
    if not os.path.isdir(os.path.join(UI_DIR, "node_modules", "playwright-core")):
        return "playwright-core (npm ci in tests/ui)"
    return None


class Browser:
    def __init__(self, log_path, width=1366, height=900):
        need = missing()
        assert need is None, f"browser tests need {need}: run deploy/install-deps.sh"
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(
            ["node", os.path.join(UI_DIR, "driver.mjs")], cwd=UI_DIR,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1,
            env=dict(os.environ, AGORA_CHROMIUM=CHROMIUM))
        self.answers = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.next_id = 0
        self.version = self.call("launch", deadline=60, width=width, height=height)

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.answers.put(json.loads(line))
            except ValueError:
                self.answers.put({"id": None, "ok": False, "error": f"bad line: {line!r}"})
        self.answers.put(None)

    def call(self, op, deadline=30, **args):
        """Run one driver command; its value, or AssertionError with the
        browser's error."""
        self.next_id += 1
        self.proc.stdin.write(json.dumps({"id": self.next_id, "op": op, "args": args}) + "\n")
        self.proc.stdin.flush()
        try:
            ans = self.answers.get(timeout=deadline)
        except queue.Empty:
            raise AssertionError(f"browser: no answer to {op} {args} within {deadline}s") from None
        if ans is None:
            raise AssertionError(f"browser: driver exited during {op} (see {self.log.name})")
        if not ans["ok"]:
            raise AssertionError(f"browser: {op} {args}: {ans['error']}")
        return ans["value"]

    # Conveniences; timeouts in seconds (the driver's are milliseconds).
    def goto(self, url):
        return self.call("goto", url=url)

    def wait(self, selector, text=None, timeout=15, count=None):
        args = {"selector": selector, "timeout": int(timeout * 1000)}
        if text is not None:
            args["text"] = text
        if count is not None:
            args["count"] = count
        try:
            return self.call("waitFor", deadline=timeout + 10, **args)
        except AssertionError as e:
            # What the page showed instead: CI keeps no screenshot.
            try:
                shown = self.call("eval", deadline=10, expr="(document.querySelector('main') || "
                                  "document.body).innerText.slice(0, 1500)")
                seen = self.call("problems", deadline=10)
            except AssertionError:
                raise e from None
            raise AssertionError(f"{e}\n--- the page showed:\n{shown}\n--- console: {seen}") from None

    def click(self, selector, text=None):
        args = {"selector": selector}
        if text is not None:
            args["text"] = text
        return self.call("click", **args)

    def fill(self, selector, value):
        return self.call("fill", selector=selector, value=value)

    def select(self, selector, value):
        return self.call("select", selector=selector, value=value)

    def text(self, selector):
        return self.call("text", selector=selector)

    def count(self, selector):
        return self.call("count", selector=selector)

    def eval(self, expr):
        return self.call("eval", expr=expr)

    def screenshot(self, path, full_page=True):
        return self.call("screenshot", path=str(path), fullPage=full_page)

    def problems(self):
        return self.call("problems")

    def close(self):
        if self.proc.poll() is None:
            try:
                self.call("close", deadline=20)
            except AssertionError:
                pass
            # The driver's readline loop ends with its stdin: without this
            # it idles until the timeout below.
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
