"""The master's web UI (issue 12) in a real browser: headless Debian
chromium driven by playwright-core (tests/ui/driver.mjs), against a real
agora-master, two real agora-slaves and a real task launched by the
harness's scheduler client.

The page must list the slaves and the running task, follow the task to
TASK_FINISHED without a reload (the operator event stream, not polling),
and show the task's stdout and stderr from its sandbox (read through the
master's /agents/{id}/files relay). Screenshots of each step are saved
in the test's tmp folder (laptop and phone sizes). The static files
themselves and the relay are checked over plain HTTP too, a standby
master's redirect to the leader with two masters elected through
ZooKeeper, and the page's pure modules under node's test runner.
"""

import os
import shutil
import subprocess

import pytest
import requests

from agora_harness import SchedulerClient, task_info, wait_for
from test_ha import ha  # noqa: F401  (fixture: masters elected through ZooKeeper)
from ui_driver import Browser

DEADLINE = 20


@pytest.fixture
def ui_cluster(cluster):
    cluster.start_master("--allocation_interval=100ms", "--heartbeat_interval=1secs")
    cluster.add_slave("--attributes=rack:r1;zone:a")
    cluster.add_slave("--attributes=rack:r2;zone:b",
                      resources="cpus:2;mem:2048;disk:5000;ports:[30001-30100]")
    cluster.wait_slaves(2)
    return cluster


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path / "browser.log")
    yield b
    b.close()


def launch(cluster, sched, task_id, cmd, **extra):
    """Launch task_id running cmd on the first offer; its agent id."""
    offer = sched.next_offers(DEADLINE)[0]
    sched.launch(offer, [task_info(task_id, offer["agent_id"], cmd, cpus=0.5, mem=64, **extra)])
    sched.wait_update(task_id, "TASK_RUNNING", timeout=DEADLINE)
    return offer["agent_id"]["value"]


def test_ui_lists_slaves_follows_a_task_and_shows_its_output(ui_cluster, browser, tmp_path):
    c = ui_cluster
    url = c.master.url
    done = tmp_path / "done"
    sched = SchedulerClient(url, name="ui-test")
    sched.subscribe()
    cmd = (f"echo 'hello from the ui test'; echo 'a line on stderr' >&2; "
           f"while [ ! -e {done} ]; do sleep 0.1; done; echo 'bye from the ui test'")
    agent = launch(c, sched, "ui-hello", cmd)

    browser.goto(url + "/")
    browser.wait("#conn[data-state='live']", timeout=DEADLINE)
    # Overview: totals of both slaves (4 + 2 CPUs), the running task's 0.5 used.
    browser.wait(".resource[data-kind='cpus'] .of", text="of 6")
    browser.wait(".resource[data-kind='cpus'] .used-value", text="0.5")
    browser.wait(".stat", text="Tasks running")
    # Let the chart gather a few samples (one every 2 s) before the picture.
    browser.call("eval", deadline=20, expr="new Promise(r => setTimeout(r, 4500))")
    browser.screenshot(tmp_path / "01-overview.png")

    # Slaves: both listed with their attributes; the one running the task counts it.
    browser.click(".tabs a", text="Slaves")
    browser.wait("tr[data-agent]", count=2)
    for host in ("slave0", "slave1"):
        browser.wait("tr[data-agent] .agent-host", text=host)
    browser.wait("tr[data-agent] .chip", text="rack: r2")
    browser.wait(f"tr[data-agent='{agent}'] td[data-label='Tasks']", text="1")
    browser.screenshot(tmp_path / "02-slaves.png")

    browser.click(".tabs a", text="Frameworks")
    browser.wait("tr[data-framework]", text="ui-test")
    browser.wait("tr[data-framework] .badge", text="Active")

    # Tasks: the running task, and the filter.
    browser.click(".tabs a", text="Tasks")
    browser.wait("tr[data-task='ui-hello'][data-state='TASK_RUNNING']")
    browser.fill("#task-filter", "no-such-task")
    browser.wait("#task-count", text="0 tasks")
    browser.fill("#task-filter", "hello")
    browser.wait("tr[data-task='ui-hello']")
    browser.select("#state-filter", "TASK_FINISHED")
    browser.wait("#task-count", text="0 tasks")
    browser.select("#state-filter", "active")
    browser.wait("tr[data-task='ui-hello'][data-state='TASK_RUNNING']")
    browser.screenshot(tmp_path / "03-tasks.png")

    # The task's page: its stdout from the sandbox, then stderr.
    browser.click("tr[data-task='ui-hello'] a.task-link")
    browser.wait("#task-title", text="ui-hello")
    browser.wait("#log[data-file='stdout']", text="hello from the ui test", timeout=DEADLINE)
    browser.wait(".file-list .file-name", text="stderr")
    browser.screenshot(tmp_path / "04-task-running.png")
    browser.click(".seg button", text="stderr")
    browser.wait("#log[data-file='stderr']", text="a line on stderr", timeout=DEADLINE)
    browser.click(".seg button", text="stdout")
    browser.wait("#log[data-file='stdout']", text="hello from the ui test", timeout=DEADLINE)

    # The task finishes: the page follows it live, without a reload (a
    # marker set on the window survives), and the tail shows its last line.
    browser.eval("window.__no_reload = 42")
    done.write_text("")
    sched.wait_update("ui-hello", "TASK_FINISHED", timeout=DEADLINE)
    browser.wait("#task-state", text="Finished", timeout=DEADLINE)
    browser.wait("#log[data-file='stdout']", text="bye from the ui test", timeout=DEADLINE)
    browser.wait(".timeline li", text="Finished")
    assert browser.eval("window.__no_reload") == 42, "the page was reloaded"
    browser.screenshot(tmp_path / "05-task-finished.png")
    browser.click(".tabs a", text="Tasks")
    browser.select("#state-filter", "all")
    browser.wait("tr[data-task='ui-hello'][data-state='TASK_FINISHED']")
    assert browser.eval("window.__no_reload") == 42

    # A phone: the same page in one column.
    browser.call("newPage", width=390, height=844, mobile=True)
    browser.goto(url + "/#/overview")
    browser.wait("#conn[data-state='live']", timeout=DEADLINE)
    browser.wait(".resource[data-kind='mem'] .of", text="of 6 GB")
    browser.screenshot(tmp_path / "06-phone-overview.png")
    browser.goto(url + "/#/slaves")
    browser.wait("tr[data-agent]", count=2)
    browser.screenshot(tmp_path / "07-phone-slaves.png")
    browser.goto(f"{url}/#/task/{sched.framework_id}/ui-hello")
    browser.wait("#log[data-file='stdout']", text="bye from the ui test", timeout=DEADLINE)
    browser.screenshot(tmp_path / "08-phone-task.png")

    assert browser.problems() == []
    sched.close()


def test_ui_updates_live_when_a_slave_joins_and_a_task_starts(ui_cluster, browser, tmp_path):
    """Nothing on the page is reloaded or polled for these: a third slave
    and a new task show up from the event stream alone."""
    c = ui_cluster
    url = c.master.url
    browser.goto(url + "/#/slaves")
    browser.wait("#conn[data-state='live']", timeout=DEADLINE)
    browser.wait("tr[data-agent]", count=2)
    browser.eval("window.__no_reload = 7")
    c.add_slave(resources="cpus:1;mem:512;disk:100;ports:[30200-30209]")
    browser.wait("tr[data-agent] .agent-host", text="slave2", timeout=DEADLINE)
    browser.wait("#n-slaves", text="3")

    sched = SchedulerClient(url, name="ui-live")
    sched.subscribe()
    browser.click(".tabs a", text="Tasks")
    hc = {"type": "COMMAND", "command": {"value": "true"}, "interval_seconds": 1,
          "delay_seconds": 0, "grace_period_seconds": 5}
    launch(c, sched, "ui-sleeper", "sleep 30", health_check=hc)
    browser.wait("tr[data-task='ui-sleeper'][data-state='TASK_RUNNING']", timeout=DEADLINE)
    # Its health check passes: a TASK_UPDATED without a state change.
    sched.wait_updates({"ui-sleeper": "TASK_RUNNING"}, timeout=DEADLINE)
    browser.wait("tr[data-task='ui-sleeper'] td[data-label='Health']", text="Healthy",
                 timeout=DEADLINE)
    sched.call({"type": "KILL", "kill": {"task_id": {"value": "ui-sleeper"}}})
    sched.wait_update("ui-sleeper", "TASK_KILLED", timeout=DEADLINE)
    browser.wait("tr[data-task='ui-sleeper'][data-state='TASK_KILLED']", timeout=DEADLINE)
    assert browser.eval("window.__no_reload") == 7
    browser.screenshot(tmp_path / "tasks-killed.png")
    assert browser.problems() == []
    sched.close()


def test_ui_files_and_relay_over_http(ui_cluster):
    """The built-in files and the sandbox relay, without a browser."""
    c = ui_cluster
    url = c.master.url
    r = requests.get(url + "/", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert '<script type="module" src="app.js">' in r.text
    js = requests.get(url + "/app.js", timeout=5)
    assert js.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert js.headers["Cache-Control"] == "no-cache"
    again = requests.get(url + "/app.js", headers={"If-None-Match": js.headers["ETag"]}, timeout=5)
    assert again.status_code == 304 and again.content == b""
    assert requests.get(url + "/nope.js", timeout=5).status_code == 404
    # No way out of the table, however the path is spelled.
    for path in ("/../master/state", "/%2e%2e/app.js", "/./app.js", "/css/..%2fapp.js"):
        s = requests.Session()
        req = requests.Request("GET", url + path).prepare()
        req.url = url + path  # as typed: no client-side normalisation
        assert s.send(req, timeout=5).status_code == 404, path
    # The API routes still win over the mount.
    assert requests.get(url + "/master/state", timeout=5).json()["slaves"]

    agents = {s["hostname"]: s["id"] for s in c.state()["slaves"]}
    sid = agents["slave0"]
    st = requests.get(f"{url}/agents/{sid}/state", timeout=5)
    assert st.status_code == 200 and st.json()["hostname"] == "slave0"
    # The slave's own guard answers through the relay.
    r = requests.get(f"{url}/agents/{sid}/files/read", params={"path": "/etc/passwd", "offset": 0},
                     timeout=5)
    assert r.status_code == 403, r.text
    r = requests.get(f"{url}/agents/no-such-slave/files/browse", params={"path": "/"}, timeout=5)
    assert r.status_code == 404 and "no such slave" in r.text
    # Only the three read-only endpoints are relayed.
    assert requests.get(f"{url}/agents/{sid}/metrics", timeout=5).status_code == 404
    assert requests.post(f"{url}/agents/{sid}/files/read", timeout=5).status_code == 405

    # A slave that died: the relay says so (503) instead of hanging.
    c.slaves[0].kill9()
    def relay_503():
        r = requests.get(f"{url}/agents/{sid}/state", timeout=15)
        return r.text if r.status_code == 503 else None  # (a Response of 503 is falsy)
    text = wait_for(relay_503, DEADLINE, what="503 from the relay")
    assert "could not be reached" in text or "unreachable" in text, text


def test_ui_modules_under_node():
    """The page's pure modules (RecordIO decoder, cluster model, chart
    history) under node's test runner: tests/ui/master_ui.test.mjs."""
    from ui_driver import UI_DIR
    assert shutil.which("node"), "node is missing: run deploy/install-deps.sh"
    r = subprocess.run(["node", "--test", os.path.join(UI_DIR, "master_ui.test.mjs")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "# fail 0" in r.stdout and "# pass 0" not in r.stdout, r.stdout


def test_ui_standby_redirects_to_the_leader(ha, browser):
    """A standby master sends the page (and each of its files) to the
    leader with a 307; the browser lands on the leader and goes live."""
    ha.start_masters(2)
    leader = ha.wait_leader()
    standby = next(m for m in ha.masters if m is not leader)
    for path in ("/", "/app.js"):
        r = requests.get(standby.url + path, allow_redirects=False, timeout=5)
        assert r.status_code == 307, (path, r.status_code, r.text)
        assert r.headers["Location"] == f"//127.0.0.1:{leader.port}{path}"
    # An unknown file is the standby's own 404, not a redirect.
    assert requests.get(standby.url + "/nope.js", allow_redirects=False,
                        timeout=5).status_code == 404
    landed = browser.goto(standby.url + "/#/slaves")
    assert landed.startswith(leader.url + "/"), landed
    browser.wait("#conn[data-state='live']", timeout=DEADLINE)
    browser.wait("#master-info", text=f":{leader.port}")
    assert browser.problems() == []


def test_ui_behind_readonly_authentication(cluster, tmp_path):
    """--authenticate_http_readonly covers the page, its files and the
    sandbox relay like /master/state; a browser with the credentials
    gets the live page, and the task's sandbox from a slave that wants
    the same credentials (the relay passes the browser's along)."""
    import json
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps({"credentials": [{"principal": "ops", "secret": "0ps-s3cret"}]}))
    m = cluster.start_master(f"--credentials={creds}", "--authenticate_http_readonly",
                             "--allocation_interval=100ms")
    slave = cluster.add_slave(f"--http_credentials={creds}", "--authenticate_http_readonly")
    ok = ("ops", "0ps-s3cret")
    wait_for(lambda: requests.get(m.url + "/master/state", auth=ok, timeout=5).json()["slaves"],
             DEADLINE, what="the slave registered")
    sid = requests.get(m.url + "/master/state", auth=ok, timeout=5).json()["slaves"][0]["id"]
    for path in ("/", "/app.js", f"/agents/{sid}/state"):
        r = requests.get(m.url + path, timeout=5)
        assert r.status_code == 401, (path, r.status_code)
        assert r.headers["WWW-Authenticate"] == 'Basic realm="agora-master"'
        assert requests.get(m.url + path, auth=("ops", "wrong"), timeout=5).status_code == 401
        assert requests.get(m.url + path, auth=ok, timeout=5).status_code == 200, path
    assert requests.get(m.url + "/nope.js", timeout=5).status_code == 404

    b = Browser(tmp_path / "browser.log")
    try:
        b.call("newPage", credentials={"username": "ops", "password": "0ps-s3cret"})
        b.goto(m.url + "/#/slaves")
        b.wait("#conn[data-state='live']", timeout=DEADLINE)
        b.wait("tr[data-agent] .agent-host", text="slave0")
        b.screenshot(tmp_path / "authenticated.png")
        # The sandbox view, through the relay, of a slave that authenticates.
        assert requests.get(slave.url + "/state", timeout=5).status_code == 401
        sched = SchedulerClient(m.url, name="ui-auth")
        sched.subscribe()
        launch(cluster, sched, "ui-auth", "echo output behind two locks; sleep 60")
        b.goto(f"{m.url}/#/task/{sched.framework_id}/ui-auth")
        b.wait("#log[data-file='stdout']", text="output behind two locks", timeout=DEADLINE)
        b.screenshot(tmp_path / "authenticated-sandbox.png")
        assert b.problems() == []
        sched.close()
    finally:
        b.close()
    assert "0ps-s3cret" not in m.log()
