"""Pacer's web UI (issue 12) at /ui in a real browser: headless Debian
chromium driven by playwright-core (tests/ui/driver.mjs) against a real
master, two real slaves and a real agora-pacer (conftest's `pc`).

Through the page only: create an app from the form (after a validation
error that Pacer's 422 puts on the field it names), watch it become
healthy, scale it and see the new instances healthy, restart it with the
deployment's progress visible, destroy it. Everything shown follows
/v2/events: a marker on the window proves the page was never reloaded.
A screenshot of every step goes to the test's tmp folder.
"""

import json
import subprocess

import pytest
import requests

from agora_harness import wait_for
from ui_driver import Browser, UI_DIR

DEADLINE = 30
# Healthy about 1.5 s after start, so that a restart's progress shows.
CMD = "sleep 1.5; exec /usr/bin/python3 -m http.server $PORT0 --bind 127.0.0.1"


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path / "browser.log")
    yield b
    b.close()


def fill_form(b, **fields):
    for name, value in fields.items():
        if name == "health":
            b.select("#f-health", value)
        else:
            b.fill(f"#f-{name}", str(value))


def test_ui_creates_scales_restarts_and_destroys_an_app(pc, browser, tmp_path):
    b = browser
    ui = pc.url + "/ui/"
    b.goto(ui)
    b.wait("#conn[data-state='live']", timeout=DEADLINE)
    b.wait(".empty", text="No apps yet")
    b.eval("window.__no_reload = 7")

    # The form: a negative instance count is Pacer's 422, shown on the field.
    b.click("#create-app")
    b.wait("#app-form")
    fill_form(b, id="/ui-web", cmd=CMD, instances=-1, cpus=0.05, mem=32, ports="0",
              health="HTTP", healthPath="/", healthInterval=1, labels="team=web\ntier=front")
    b.click("#save-app")
    b.wait(".field[data-field='instances'].invalid .field-error", text="minimum")
    assert b.eval("document.querySelector('#f-instances').getAttribute('aria-invalid')") == "true"
    assert b.eval("document.querySelector('.field[data-field=\"cpus\"]').classList.contains('invalid')") is False
    assert pc.get("/v2/apps").json()["apps"] == [], "a refused app was created"
    b.screenshot(tmp_path / "01-validation-error.png")

    # A bad id too, then both fixed: the app is created and turns healthy.
    fill_form(b, id="/UI web", instances=1)
    b.click("#save-app")
    b.wait(".field[data-field='id'].invalid .field-error", text="lower-case")
    fill_form(b, id="/ui-web")
    b.click("#save-app")
    b.wait("#app-title", text="/ui-web", timeout=DEADLINE)
    b.wait("tr[data-task][data-health='healthy']", count=1, timeout=DEADLINE)
    b.wait("#app-counts", text="1 running · 1 healthy · 1 wanted", timeout=DEADLINE)
    app = pc.app("/ui-web")
    assert app["instances"] == 1 and app["labels"] == {"team": "web", "tier": "front"}
    assert app["healthChecks"][0]["intervalSeconds"] == 1

    # The list: status, running / healthy / wanted, resources, labels.
    b.click(".tabs a", text="Apps")
    row = "tr[data-app='/ui-web']"
    b.wait(f"{row} .app-status[data-status='running']", timeout=DEADLINE)
    b.wait(f"{row} .inst-running", text="1")
    b.wait(f"{row} .chip", text="team: web")
    b.screenshot(tmp_path / "02-apps.png")

    # Scale to 3: three healthy instances on the page.
    b.click(f"{row} a.app-link")
    b.wait("#app-title", text="/ui-web")
    b.fill("#scale-n", "3")
    b.click("#scale-btn")
    b.wait("tr[data-task][data-health='healthy']", count=3, timeout=DEADLINE)
    b.wait("#app-counts", text="3 running · 3 healthy · 3 wanted", timeout=DEADLINE)
    assert pc.app("/ui-web")["tasksHealthy"] == 3
    b.screenshot(tmp_path / "03-scaled.png")

    # Restart: the deployment and its steps' progress show while it runs,
    # then go; every instance is new and healthy.
    before = {t["id"] for t in pc.get("/v2/apps/ui-web/tasks").json()["tasks"]}
    b.click("#restart-btn")
    b.wait("#app-deployments .deployment .step .progress", timeout=DEADLINE)
    b.wait("#app-deployments .step[data-state='active']", timeout=DEADLINE)
    # No notice over the picture.
    b.eval("document.querySelectorAll('.toast').forEach((t) => t.remove())")
    b.screenshot(tmp_path / "04-restarting.png")
    b.wait("#app-title", text="/ui-web")
    wait_for(lambda: b.count("#app-deployments") == 0, timeout=DEADLINE,
             what="the restart's deployment to end on the page")
    b.wait("#app-counts", text="3 running · 3 healthy · 3 wanted", timeout=DEADLINE)
    after = {t["id"] for t in pc.get("/v2/apps/ui-web/tasks").json()["tasks"]}
    assert len(after) == 3 and not (before & after), "the restart did not replace every instance"
    b.wait(".versions li", count=2)
    b.screenshot(tmp_path / "05-restarted.png")

    # The event feed saw it all.
    b.click(".tabs a", text="Events")
    b.wait(".feed li[data-type='deployment_success']")
    b.wait(".feed li[data-type='instance_health_changed_event']")
    b.screenshot(tmp_path / "06-events.png")

    # Destroy, through the confirmation dialog.
    b.click(".tabs a", text="Apps")
    b.click(f"{row} a.app-link")
    b.wait("#app-title", text="/ui-web")
    b.click("#destroy-btn")
    b.wait("#confirm[open]")
    b.click("#confirm-ok")
    b.wait(".empty", text="No apps yet", timeout=DEADLINE)
    wait_for(lambda: pc.get("/v2/apps").json()["apps"] == [], timeout=DEADLINE, what="the app gone")
    assert b.eval("window.__no_reload") == 7, "the page was reloaded"
    b.screenshot(tmp_path / "07-destroyed.png")
    # The two refused saves are the only failed requests the console saw.
    problems = b.problems()
    assert [p for p in problems if "status of 422" not in p] == [], problems
    assert len(problems) == 2, problems


def test_ui_shows_why_an_app_is_not_placed_and_rolls_back(pc, browser, tmp_path):
    """An app no offer fits waits in the queue: its page shows the
    queue's reasons and the stuck deployment, which a rollback ends."""
    b = browser
    r = pc.post("/v2/apps", {"id": "/too-big", "cmd": "sleep 1000", "cpus": 64, "mem": 32, "instances": 1})
    assert r.status_code == 201, r.text
    b.goto(pc.url + "/ui/#/app/%2Ftoo-big")
    b.wait("#conn[data-state='live']", timeout=DEADLINE)
    b.wait("#app-deployments .deployment", timeout=DEADLINE)
    # Offers are no events: the page re-reads the queue while the app waits.
    b.wait(".queue .reason[data-reason='InsufficientCpus']", text="not enough CPUs", timeout=DEADLINE)
    b.wait("#app-title + .app-status[data-status='waiting']")
    b.screenshot(tmp_path / "01-waiting.png")

    # A change while the deployment holds the app: Pacer's 409, and the
    # page offers to force it (declined here).
    b.click("#restart-btn")
    b.wait("#confirm[open] #confirm-title", text="A deployment is in progress")
    b.wait("#confirm-ok", text="Force")
    b.click("#confirm-cancel")

    b.click("#app-deployments button", text="Roll back")
    b.wait("#confirm[open]")
    b.click("#confirm-ok")
    # Rolling back a first deployment removes the app.
    wait_for(lambda: pc.get("/v2/deployments").json() == [], timeout=DEADLINE, what="the rollback done")
    b.wait("#app-missing", timeout=DEADLINE)
    b.screenshot(tmp_path / "02-rolled-back.png")

    # Edit as JSON: a bad value is listed with its path, the fixed one deploys.
    r = pc.post("/v2/apps", {"id": "/phone", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16, "instances": 2,
                             "labels": {"team": "mobile"}})
    assert r.status_code == 201, r.text
    pc.wait_app("/phone", running=2, timeout=DEADLINE)
    b.goto(pc.url + "/ui/#/edit/%2Fphone")
    b.wait("#app-form #f-id")
    assert b.eval("document.querySelector('#f-id').value") == "/phone"
    b.click("#mode-json")
    b.wait("#app-json")
    # Live data redraws the page while the JSON box has the focus: the box
    # keeps it (the keyboard's text goes to the focused element; a redraw
    # that took the form out and back lost a fill that way in CI).
    b.eval("document.querySelector('#app-json').focus()")
    n = int(b.text("#n-apps"))
    assert pc.post("/v2/apps", {"id": "/other", "cmd": "sleep 1000", "cpus": 0.01, "mem": 8,
                                "instances": 0}).status_code == 201
    b.wait("#n-apps", text=str(n + 1))
    assert b.eval("document.activeElement && document.activeElement.id") == "app-json"
    assert pc.delete("/v2/apps/other").status_code == 200
    b.wait("#n-apps", text=str(n))
    app = json.loads(b.eval("document.querySelector('#app-json').value"))
    assert app["id"] == "/phone" and "tasks" not in app and "version" not in app
    app["mem"] = -5
    b.fill("#app-json", json.dumps(app, indent=2))
    b.click("#save-app")
    b.wait("#json-errors li", text="/mem")
    b.screenshot(tmp_path / "03-json-error.png")
    app["mem"] = 24
    b.fill("#app-json", json.dumps(app, indent=2))
    b.click("#save-app")
    b.wait("#app-title", text="/phone", timeout=DEADLINE)
    wait_for(lambda: pc.app("/phone")["mem"] == 24 and not pc.get("/v2/deployments").json(),
             timeout=DEADLINE, what="the edit deployed")
    assert pc.app("/phone")["labels"] == {"team": "mobile"}

    # A phone: the list in one column.
    b.call("newPage", width=390, height=844, mobile=True)
    b.goto(pc.url + "/ui/")
    b.wait("tr[data-app='/phone'] .app-status[data-status='running']", timeout=DEADLINE)
    b.screenshot(tmp_path / "04-phone-apps.png")
    b.click("tr[data-app='/phone'] a.app-link")
    b.wait("tr[data-task][data-state='TASK_RUNNING']", count=2, timeout=DEADLINE)
    b.screenshot(tmp_path / "05-phone-app.png")
    b.click("#edit-btn")
    b.wait("#app-form #f-cmd")
    b.screenshot(tmp_path / "06-phone-form.png")
    # Failed requests the page meant (the 409 and the 422) and nothing else.
    problems = b.problems()
    assert [p for p in problems if "status of 409" not in p and "status of 422" not in p] == [], problems


def test_ui_files_are_built_in(pc):
    r = requests.get(pc.url + "/ui", allow_redirects=False, timeout=5)
    assert r.status_code == 301 and r.headers["Location"].endswith("/ui/")
    r = requests.get(pc.url + "/ui/", timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    for f in ("app.js", "api.js", "model.js", "form.js", "dom.js", "style.css", "pacer.css"):
        r = requests.get(pc.url + "/ui/" + f, timeout=5)
        assert r.status_code == 200, f
        r2 = requests.get(pc.url + "/ui/" + f, headers={"If-None-Match": r.headers["ETag"]}, timeout=5)
        assert r2.status_code == 304, f
    assert requests.get(pc.url + "/ui/%2e%2e/v2/apps", timeout=5).status_code == 404
    assert requests.get(pc.url + "/ui/nope.js", timeout=5).status_code == 404
    # The API is untouched by the mount.
    assert requests.get(pc.url + "/v2/apps", timeout=5).json() == {"apps": []}


def test_ui_modules_under_node():
    r = subprocess.run(["node", "--test", "pacer_ui.test.mjs"], cwd=UI_DIR,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ui_behind_http_credentials(pacer_cluster, tmp_path):
    """With --http_credentials the page and its files ask for them like
    the read routes; a browser that has them gets the page, the event
    stream (EventSource sends the same Basic credentials, same-origin)
    and, as a read-only user, sees its changes refused where it acted."""
    c = pacer_cluster
    c.start_master("--allocation_interval=100ms")
    c.add_slave()
    c.wait_slaves(1)
    c.auth = ("admin", "pw")
    c.start_pacer("--http_credentials=admin:pw", "--http_readonly_credentials=viewer:v")
    url = c.pacer.url
    assert requests.get(url + "/ui/", timeout=5).status_code == 401
    assert requests.get(url + "/ui/app.js", timeout=5).status_code == 401
    assert requests.get(url + "/ui/", auth=("viewer", "v"), timeout=5).status_code == 200
    assert c.post("/v2/apps", {"id": "/seen", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16}).status_code == 201

    b = Browser(tmp_path / "browser.log")
    try:
        b.call("newPage", credentials={"username": "viewer", "password": "v"})
        b.goto(url + "/ui/")
        b.wait("#conn[data-state='live']", timeout=DEADLINE)
        b.wait("tr[data-app='/seen'] .app-status[data-status='running']", timeout=DEADLINE)
        # A change made elsewhere arrives through the authenticated stream.
        assert c.post("/v2/apps", {"id": "/later", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16}).status_code == 201
        b.wait("tr[data-app='/later']", timeout=DEADLINE)
        b.fill("#app-filter", "late")
        wait_for(lambda: b.count("tr[data-app]") == 1, timeout=10, what="the filter applied")
        assert b.count("tr[data-app='/later']") == 1
        b.fill("#app-filter", "")
        b.wait("tr[data-app]", count=2)
        b.click("tr[data-app='/seen'] a.app-link")
        b.click("#restart-btn")
        b.wait(".toast-bad", text="read-only", timeout=DEADLINE)
        b.screenshot(tmp_path / "01-readonly.png")
    finally:
        b.close()

