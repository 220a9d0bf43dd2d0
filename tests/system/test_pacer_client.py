"""System tests of agora-pacer as real Marathon clients see it: Debian's
python3-marathon (whose models raise TypeError on any JSON key they do not
know), raw SSE readers of /v2/events, bad input, /v2/queue diagnostics and
launch backoff. Real master, real slaves, real Pacer.

Run with /usr/bin/python3 (Debian's packages are not visible to others):
  AGORA_BUILD_DIR=build /usr/bin/python3 -m pytest -v tests/system/test_pacer_client.py
"""
import json
import queue
import re
import threading
import time

import pytest
import requests

from agora_harness import wait_for
from agora_wire import close_stream

marathon = pytest.importorskip("marathon")  # Debian python3-marathon
from marathon import MarathonClient, MarathonApp  # noqa: E402
from marathon.exceptions import NotFoundError  # noqa: E402
from marathon.models.app import MarathonHealthCheck  # noqa: E402
from marathon.models.events import MarathonEvent  # noqa: E402

HTTP_CMD = "exec /usr/bin/python3 -m http.server $PORT0 --bind 127.0.0.1"
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def poll(cond, timeout, what, interval=0.1):
    """Like wait_for, but an exception raised by cond (e.g. the client's
    TypeError on an unknown JSON key) fails the test at once instead of
    being retried until the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class RecordingSession(requests.Session):
    """An SSE session that keeps the streaming responses it opened, so a
    test can drop the connection under the client's generator."""

    def __init__(self):
        super().__init__()
        self.responses = []

    def get(self, *a, **kw):
        r = super().get(*a, **kw)
        self.responses.append(r)
        return r


class SSEReader(threading.Thread):
    """Reads a raw text/event-stream response into a queue of frames
    ({"event": str|None, "data": [str], "lines": [raw lines]})."""

    def __init__(self, resp):
        super().__init__(daemon=True)
        self.resp = resp
        self.q = queue.Queue()
        self.error = None

    def run(self):
        frame = {"event": None, "data": [], "lines": []}
        try:
            for raw in self.resp.iter_lines(chunk_size=1):
                line = raw.decode("utf8")
                if line == "":
                    if frame["lines"]:
                        self.q.put(frame)
                    frame = {"event": None, "data": [], "lines": []}
                    continue
                if line.startswith(":"):  # comment / heartbeat
                    continue
                frame["lines"].append(line)
                if line.startswith("event:"):
                    frame["event"] = line[len("event:"):].strip()
                elif line.startswith("data:"):
                    frame["data"].append(line)
        except Exception as e:  # connection dropped by the test
            self.error = e
        self.q.put(None)

    def frames(self, timeout):
        """Every frame received within timeout seconds from now."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            try:
                f = self.q.get(timeout=left)
            except queue.Empty:
                return out
            if f is None:
                return out
            out.append(f)

    def next_frame(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no SSE frame {what} within {timeout}s; saw {seen[-10:]}")
            try:
                f = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if f is None:
                raise AssertionError(f"SSE stream closed before {what} ({self.error}); saw {seen[-10:]}")
            seen.append(f["event"])
            if pred(f):
                return f


def open_sse(pc, params=None):
    r = requests.get(pc.url + "/v2/events", params=params or {},
                     headers={"Accept": "text/event-stream"}, stream=True, timeout=(5, None))
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").startswith("text/event-stream"), r.headers
    reader = SSEReader(r)
    reader.start()
    return r, reader


def frame_json(frame):
    assert len(frame["data"]) == 1, frame
    line = frame["data"][0]
    assert line.startswith("data: "), f"data line without exactly one space: {line!r}"
    return json.loads(line[len("data: "):])


# ------------------------------------------------------------------ 1

def test_marathon_client_full_flow(pc):
    c = MarathonClient(pc.url, timeout=10)
    hc = MarathonHealthCheck(protocol="HTTP", path="/", port_index=0, interval_seconds=1,
                             grace_period_seconds=10, timeout_seconds=2,
                             max_consecutive_failures=3, delay_seconds=0)
    app = MarathonApp(cmd=HTTP_CMD, cpus=0.1, mem=64, instances=2,
                      port_definitions=[{"port": 0, "name": "http", "protocol": "tcp"}],
                      health_checks=[hc])
    created = c.create_app("pyweb", app)
    assert created, "create_app did not get a 201"
    assert created.id == "/pyweb" and created.instances == 2
    assert created.deployments and created.deployments[0].id

    # list_apps with embedded tasks (the client sends embed=app.tasks, which
    # 1.10 accepts on the list endpoint too): once both tasks run, they are there
    poll(lambda: c.get_app("pyweb").tasks_running == 2, 60, "2 running tasks")
    apps = [a for a in c.list_apps(embed_tasks=True) if a.id == "/pyweb"]
    assert len(apps) == 1, apps
    assert len(apps[0].tasks) == 2, \
        f"GET /v2/apps?embed=app.tasks embedded {len(apps[0].tasks)} task(s), not 2"
    assert all(t.id and t.app_id == "/pyweb" for t in apps[0].tasks)

    # get_app until both are healthy
    a = poll(lambda: (lambda x: x.tasks_healthy == 2 and x)(c.get_app("pyweb")), 60,
             "tasks_healthy == 2")
    assert a.tasks_running == 2 and len(a.tasks) == 2
    assert a.port_definitions[0].port >= 10000  # a real service port by now
    for t in a.tasks:
        assert t.health_check_results, t
        assert t.health_check_results[0].alive is True
    poll(lambda: c.list_deployments() == [], 30, "create deployment finished")

    # scale to 3: a deployment shows while it runs, none after
    r = c.scale_app("pyweb", instances=3)
    assert r and r["deploymentId"], r
    deps = c.list_deployments()
    assert deps, "no deployment listed during the scale"
    assert r["deploymentId"] in [d.id for d in deps]
    assert "/pyweb" in deps[0].affected_apps
    a = poll(lambda: (lambda x: x.tasks_healthy == 3 and x)(c.get_app("pyweb")), 60,
             "tasks_healthy == 3")
    assert a.instances == 3
    poll(lambda: c.list_deployments() == [], 30, "scale deployment finished")

    # kill one task and scale down with it
    victim = sorted(t.id for t in a.tasks)[0]
    r = c.kill_task("pyweb", victim, scale=True)
    assert isinstance(r, dict) and r.get("deploymentId"), r

    def killed():
        x = c.get_app("pyweb")
        ids = {t.id for t in x.tasks}
        return x.instances == 2 and victim not in ids and len(ids) == 2 and x
    a = poll(killed, 30, f"instances 2 and {victim} gone")
    poll(lambda: c.list_deployments() == [], 30, "kill-and-scale deployment finished")
    before = {t.id for t in c.get_app("pyweb").tasks}
    assert victim not in before and len(before) == 2

    # restart: every task replaced by a new one
    r = c.restart_app("pyweb")
    assert r and r["deploymentId"], r

    def restarted():
        x = c.get_app("pyweb")
        ids = {t.id for t in x.tasks}
        return (len(ids) == 2 and not ids & before and x.tasks_healthy == 2
                and c.list_deployments() == [] and x)
    a = poll(restarted, 90, "2 new healthy tasks after restart")

    tasks = c.list_tasks("pyweb")
    assert {t.id for t in tasks} == {t.id for t in a.tasks}
    assert all(t.state == "TASK_RUNNING" and t.ports for t in tasks)
    all_tasks = c.list_tasks()
    assert {t.id for t in tasks} <= {t.id for t in all_tasks}
    assert c.list_endpoints()  # servicePorts must cover ports in /v2/tasks

    info = c.get_info()
    assert info.framework_id and info.name
    assert info.marathon_config is not None and info.http_config is not None

    r = c.delete_app("pyweb")
    assert r and r["deploymentId"], r
    with pytest.raises(NotFoundError):
        c.get_app("pyweb")
    poll(lambda: c.list_deployments() == [], 30, "delete deployment finished")
    assert [x for x in c.list_apps() if x.id == "/pyweb"] == []


# ------------------------------------------------------------------ 2

def test_marathon_client_event_stream(pc):
    sse = RecordingSession()
    c = MarathonClient(pc.url, timeout=10, sse_session=sse)
    events, errors = [], []
    lock = threading.Lock()
    closing = threading.Event()

    def read():
        try:
            for ev in c.event_stream():
                with lock:
                    events.append(ev)
        except Exception as e:  # noqa: BLE001
            if not closing.is_set():
                errors.append(e)
    th = threading.Thread(target=read, daemon=True)
    th.start()

    def of(type_, pred=lambda e: True):
        with lock:
            return [e for e in events if e.event_type == type_ and pred(e)]

    def check_alive():
        assert not errors, f"the client's event stream died: {errors!r}"
        return True

    try:
        poll(lambda: sse.responses, 10, "the SSE response")
        poll(lambda: check_alive() and of("event_stream_attached"), 10,
             "event_stream_attached")

        app = MarathonApp(cmd="sleep 1000", cpus=0.1, mem=32, instances=2)
        created = c.create_app("evapp", app)
        assert created, "create_app did not get a 201"
        dep_id = created.deployments[0].id
        poll(lambda: (lambda x: x.tasks_running == 2 and x)(c.get_app("evapp")), 60,
             "2 running tasks")
        poll(lambda: check_alive() and of("deployment_success", lambda e: e.id == dep_id), 30,
             f"deployment_success of {dep_id}")
        check_alive()

        for e in events:
            assert isinstance(e, MarathonEvent)
            assert TS_RE.match(e.timestamp), e.timestamp
        posts = of("api_post_event")
        assert posts and posts[0].app_definition["id"] == "/evapp"
        assert posts[0].uri.startswith("/v2/apps"), posts[0].uri
        infos = of("deployment_info", lambda e: e.plan.id == dep_id)
        assert infos, "no deployment_info of the create deployment"
        assert infos[0].plan.steps and infos[0].current_step is not None
        running = of("status_update_event",
                     lambda e: e.task_status == "TASK_RUNNING" and e.app_id == "/evapp")
        assert len({e.task_id for e in running}) == 2, running
        # causality: post before info before success
        with lock:
            order = [e.event_type for e in events]
        assert order.index("api_post_event") < order.index("deployment_info") \
            < order.index("deployment_success")
    finally:
        closing.set()
        for r in sse.responses:
            close_stream(r)
        th.join(5)
    assert not th.is_alive(), "the event_stream thread did not end after the close"

    raw_sse_event_type_filter_and_wire_format(pc)


def raw_sse_event_type_filter_and_wire_format(pc):
    """Raw requests reader: ?event_type=status_update_event sends only that
    type, each frame an `event: <type>` line and one `data: {...}` line."""
    resp, reader = open_sse(pc, {"event_type": "status_update_event"})
    try:
        r = pc.post("/v2/apps", {"id": "rawev", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32,
                                 "instances": 2})
        assert r.status_code == 201, r.text
        pc.wait_app("/rawev", running=2)
        pc.wait_deployments()
        frames = []
        running = set()

        def two_running():
            f = reader.next_frame(lambda f: True, 30, "status_update_event")
            frames.append(f)
            d = frame_json(f)
            if d.get("taskStatus") == "TASK_RUNNING" and d.get("appId") == "/rawev":
                running.add(d["taskId"])
            return len(running) == 2
        poll(two_running, 30, "TASK_RUNNING of both tasks", interval=0)
        frames += reader.frames(1.0)  # whatever else came (must be filtered too)
        assert frames
        for f in frames:
            assert f["event"] == "status_update_event", f
            assert f["lines"][0] == "event: status_update_event", f
            d = frame_json(f)
            assert d["eventType"] == "status_update_event", d
            assert TS_RE.match(d["timestamp"]), d["timestamp"]
            for k in ("slaveId", "taskId", "taskStatus", "appId", "host", "ports", "version"):
                assert k in d, (k, d)
    finally:
        close_stream(resp)
        reader.join(5)


# ------------------------------------------------------------------ 3

def test_bad_input_answers_4xx_and_pacer_keeps_serving(pc):
    # malformed JSON
    r = requests.post(pc.url + "/v2/apps", data='{"id": "x", "cmd": ',
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400, r.text
    assert r.json()["message"]

    # several invalid fields at once: all are reported
    r = pc.post("/v2/apps", {"id": "Bad_ID", "cmd": "sleep 1", "cpus": -1, "mem": "x",
                             "instances": -2})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["message"] == "Object is not valid", body
    paths = {d["path"] for d in body["details"]}
    for p in ("/cpus", "/mem", "/instances", "/id"):
        assert p in paths, (p, body)
    for d in body["details"]:
        assert isinstance(d["errors"], list) and d["errors"], d

    # nothing was created by the rejected requests
    assert pc.get("/v2/apps").json()["apps"] == []

    # duplicate id
    r = pc.post("/v2/apps", {"id": "dup", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32,
                             "instances": 1})
    assert r.status_code == 201, r.text
    r = pc.post("/v2/apps", {"id": "dup", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32,
                             "instances": 1})
    assert r.status_code == 409, r.text
    assert "already exists" in r.json()["message"]

    # unknown app / deployment
    r = pc.get("/v2/apps/nope")
    assert r.status_code == 404, r.text
    assert r.json()["message"]
    r = pc.delete("/v2/deployments/unknown")
    assert r.status_code == 404, r.text
    assert r.json()["message"]

    # an app locked by a deployment that never ends (health never passes)
    r = pc.post("/v2/apps", {
        "id": "locked", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, "instances": 1,
        "portDefinitions": [{"port": 0}],
        "healthChecks": [{"protocol": "TCP", "portIndex": 0, "gracePeriodSeconds": 300,
                          "intervalSeconds": 1, "timeoutSeconds": 1,
                          "maxConsecutiveFailures": 3, "delaySeconds": 0}]})
    assert r.status_code == 201, r.text
    dep = r.headers["Marathon-Deployment-Id"]
    pc.wait_app("/locked", running=1, healthy=0)
    assert dep in [d["id"] for d in pc.get("/v2/deployments").json()]
    r = pc.put("/v2/apps/locked", {"instances": 2})
    assert r.status_code == 409, r.text
    body = r.json()
    assert dep in [d["id"] for d in body["deployments"]], body
    assert "locked" in body["message"], body
    assert pc.app("/locked")["instances"] == 1  # the rejected change did nothing
    r = pc.put("/v2/apps/locked?force=true", {"instances": 2})
    assert r.status_code == 200, r.text
    new_dep = r.json()["deploymentId"]
    assert new_dep and new_dep != dep
    wait_for(lambda: dep not in [d["id"] for d in pc.get("/v2/deployments").json()], 10,
             what="the forced-out deployment gone")
    assert pc.app("/locked")["instances"] == 2

    # still serving
    r = pc.get("/ping")
    assert r.status_code == 200 and r.text.strip().strip('"') == "pong", r.text
    r = pc.post("/v2/apps", {"id": "fine", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32,
                             "instances": 2})
    assert r.status_code == 201, r.text
    fine_dep = r.headers["Marathon-Deployment-Id"]
    pc.wait_app("/fine", running=2)
    wait_for(lambda: fine_dep not in [d["id"] for d in pc.get("/v2/deployments").json()], 30,
             what="the deployment of /fine finished")


def test_kill_and_scale_refused_by_a_lock_kills_nothing(pc):
    """DELETE /v2/apps/{id}/tasks/{task}?scale=true on an app locked by a
    running deployment answers 409 and, like any refused change, has no
    effect: the task keeps running."""
    r = pc.post("/v2/apps", {
        "id": "held", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, "instances": 1,
        "portDefinitions": [{"port": 0}],
        "healthChecks": [{"protocol": "TCP", "portIndex": 0, "gracePeriodSeconds": 300,
                          "intervalSeconds": 1, "delaySeconds": 0}]})
    assert r.status_code == 201, r.text
    dep = r.headers["Marathon-Deployment-Id"]
    pc.wait_app("/held", running=1, healthy=0)
    task = pc.get("/v2/apps/held/tasks").json()["tasks"][0]["id"]
    r = pc.delete(f"/v2/apps/held/tasks/{task}?scale=true")
    assert r.status_code == 409, r.text
    assert dep in [d["id"] for d in r.json()["deployments"]], r.text
    try:
        wait_for(lambda: pc.task(task)["state"] != "TASK_RUNNING", 3,
                 what="a state change of the task")
    except AssertionError:
        pass  # still running after 3 s: good
    else:
        raise AssertionError(f"{task} was killed by a request answered 409: {pc.task(task)}")
    a = pc.app("/held")
    assert a["instances"] == 1 and [t["id"] for t in a["tasks"]] == [task], a["tasks"]


# ------------------------------------------------------------------ 4

def test_queue_shows_why_an_instance_waits(pc3):
    pc = pc3
    r = pc.post("/v2/apps", {"id": "uniq", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32,
                             "instances": 4, "constraints": [["hostname", "UNIQUE"]]})
    assert r.status_code == 201, r.text
    pc.wait_app("/uniq", running=3)
    tasks = pc.get("/v2/apps/uniq/tasks").json()["tasks"]
    assert len(tasks) == 3 and len({t["host"] for t in tasks}) == 3, tasks

    def waiting():
        q = pc.get("/v2/queue").json()["queue"]
        items = [i for i in q if i["app"]["id"] == "/uniq"]
        if not items:
            return False
        it = items[0]
        rej = {s["reason"]: s for s in it["processedOffersSummary"]["rejectSummaryLastOffers"]}
        if it["count"] == 1 and rej.get("UnfulfilledConstraint", {}).get("declined", 0) > 0:
            return it
        return False
    it = wait_for(waiting, 30, what="/uniq in the queue with UnfulfilledConstraint declines")
    summary = it["processedOffersSummary"]
    assert summary["processedOffersCount"] >= \
        {s["reason"]: s for s in summary["rejectSummaryLastOffers"]}["UnfulfilledConstraint"]["declined"]
    assert pc.app("/uniq")["tasksRunning"] == 3  # the fourth never lands on a used host

    # the python client can read that queue (no unknown keys such as "role")
    c = MarathonClient(pc.url, timeout=10)
    items = [i for i in c.list_queue() if i.app.id == "/uniq"]
    assert items and items[0].count == 1


# ------------------------------------------------------------------ 5

def test_backoff_grows_for_a_failing_command(pc):
    resp, reader = open_sse(pc, {"event_type": "status_update_event"})
    try:
        r = pc.post("/v2/apps", {"id": "failing", "cmd": "exit 1", "cpus": 0.1, "mem": 32,
                                 "instances": 1, "backoffSeconds": 1, "backoffFactor": 2,
                                 "maxLaunchDelaySeconds": 8})
        assert r.status_code == 201, r.text
        launches = []  # (monotonic time seen, server timestamp) of each new task
        seen = set()

        def next_launch(timeout):
            while True:
                f = reader.next_frame(lambda f: True, timeout, "a status update of /failing")
                d = frame_json(f)
                if d.get("appId") == "/failing" and d["taskId"] not in seen:
                    seen.add(d["taskId"])
                    launches.append((time.monotonic(), d["timestamp"], d["taskId"]))
                    return d

        for _ in range(4):
            next_launch(30)
        gaps = [b[0] - a[0] for a, b in zip(launches, launches[1:])]
        assert gaps[2] > gaps[0] * 1.5, f"launch gaps do not grow: {gaps}"
        assert gaps[2] >= 3.0, f"third gap {gaps[2]:.2f}s below the 4 s backoff: {gaps}"

        # the queue shows a pending delay while the app backs off
        def delayed():
            q = pc.get("/v2/queue").json()["queue"]
            items = [i for i in q if i["app"]["id"] == "/failing"]
            return items and items[0]["delay"]["timeLeftSeconds"] >= 3 and items[0]
        poll(delayed, 20, "a delay of >= 3 s in /v2/queue", interval=0.05)

        r = pc.delete("/v2/queue/failing/delay")
        assert r.status_code == 204, r.text
        t0 = time.monotonic()
        next_launch(10)
        assert time.monotonic() - t0 < 2.5, \
            f"after the reset the next launch took {time.monotonic() - t0:.2f}s"
    finally:
        close_stream(resp)
        reader.join(5)
