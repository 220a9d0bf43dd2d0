"""Pacer's deployments against real daemons: rolling restarts that honour
minimumHealthCapacity and maximumOverCapacity (sampled every 100 ms through
/v2/apps), replacement of killed and unhealthy instances."""
import threading
import time

import pytest

from agora_harness import wait_for

HTTP_CMD = "exec /usr/bin/python3 -m http.server $PORT0 --bind 127.0.0.1"
# Healthy 2 s after start: slow enough for a restart to be sampled.
SLOW_CMD = "sleep 2; " + HTTP_CMD


def http_app(app_id, instances, **extra):
    app = {"id": app_id, "cmd": HTTP_CMD, "cpus": 0.05, "mem": 32, "instances": instances,
           "portDefinitions": [{"port": 0}],
           "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0,
                             "gracePeriodSeconds": 20, "intervalSeconds": 1,
                             "timeoutSeconds": 2, "maxConsecutiveFailures": 3,
                             "delaySeconds": 0}]}
    app.update(extra)
    return app




class Sampler:
    """Samples /v2/apps?embed=apps.tasks every 100 ms on a thread."""

    def __init__(self, pc, app_id):
        self.pc, self.app_id = pc, app_id
        self.samples = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            apps = self.pc.get("/v2/apps?embed=apps.tasks").json()["apps"]
            for a in apps:
                if a["id"] == self.app_id:
                    self.samples.append((a["tasksHealthy"], len(a["tasks"])))
            time.sleep(0.1)

    def finish(self):
        self.stop.set()
        self.t.join(10)
        return self.samples


def task_ids(pc, app_id):
    return {t["id"] for t in pc.get(f"/v2/apps{app_id}/tasks").json()["tasks"]}


def test_rolling_restart_keeps_minimum_health_capacity(pc):
    r = pc.post("/v2/apps", http_app("/roll", 6, cmd=SLOW_CMD,
                                     upgradeStrategy={"minimumHealthCapacity": 0.5,
                                                      "maximumOverCapacity": 1}))
    assert r.status_code == 201, r.text
    pc.wait_app("/roll", running=6, healthy=6, timeout=90)
    pc.wait_deployments()
    before = task_ids(pc, "/roll")
    s = Sampler(pc, "/roll")
    r = pc.post("/v2/apps/roll/restart")
    assert r.status_code == 200, r.text
    pc.wait_deployments(timeout=120)
    samples = s.finish()
    assert len(samples) > 15, samples
    assert min(h for h, _ in samples) >= 3, samples
    after = task_ids(pc, "/roll")
    assert len(after) == 6 and not (after & before)
    assert pc.app("/roll")["tasksHealthy"] == 6


def test_rolling_restart_never_exceeds_count_with_zero_over_capacity(pc):
    r = pc.post("/v2/apps", http_app("/tight", 4, cmd=SLOW_CMD,
                                     upgradeStrategy={"minimumHealthCapacity": 0.5,
                                                      "maximumOverCapacity": 0}))
    assert r.status_code == 201, r.text
    pc.wait_app("/tight", running=4, healthy=4, timeout=90)
    pc.wait_deployments()
    before = task_ids(pc, "/tight")
    s = Sampler(pc, "/tight")
    assert pc.post("/v2/apps/tight/restart").status_code == 200
    pc.wait_deployments(timeout=120)
    samples = s.finish()
    assert len(samples) > 15, samples
    assert max(n for _, n in samples) <= 4, samples
    assert min(h for h, _ in samples) >= 2, samples
    assert not (task_ids(pc, "/tight") & before)


def test_killed_task_is_replaced(pc):
    assert pc.post("/v2/apps", {"id": "/k", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16,
                                "instances": 2}).status_code == 201
    pc.wait_app("/k", running=2)
    pc.wait_deployments()
    victim = sorted(task_ids(pc, "/k"))[0]
    r = pc.delete(f"/v2/apps/k/tasks/{victim}")
    assert r.status_code == 200, r.text
    assert r.json()["task"]["id"] == victim
    wait_for(lambda: victim not in task_ids(pc, "/k") and len(task_ids(pc, "/k")) == 2
             and pc.app("/k")["tasksRunning"] == 2, 30, what="a replacement")
    assert pc.app("/k")["instances"] == 2


def test_failing_health_check_gets_instance_replaced(pc):
    # Healthy while the file exists; the test removes it for one instance.
    cmd = ("touch ok; exec /usr/bin/python3 -c \"import http.server,os\n"
           "class H(http.server.BaseHTTPRequestHandler):\n"
           "  def do_GET(s):\n"
           "    s.send_response(200 if os.path.exists('ok') else 500); s.end_headers()\n"
           "http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT0'])), H).serve_forever()\"")
    app = http_app("/flaky", 2, cmd=cmd)
    app["healthChecks"][0]["gracePeriodSeconds"] = 5
    assert pc.post("/v2/apps", app).status_code == 201
    pc.wait_app("/flaky", running=2, healthy=2, timeout=60)
    pc.wait_deployments()
    tasks = pc.get("/v2/apps/flaky/tasks").json()["tasks"]
    victim = tasks[0]
    # Find its sandbox through the slave that runs it and remove "ok".
    import glob
    import os
    hits = glob.glob(os.path.join(pc.tmp, "slave*", "**", victim["id"] + "*"), recursive=True)
    sandboxes = [h for h in hits if os.path.isdir(h) and os.path.exists(os.path.join(h, "ok"))]
    if not sandboxes:
        hits = glob.glob(os.path.join(pc.tmp, "slave*", "**", "ok"), recursive=True)
        sandboxes = [os.path.dirname(h) for h in hits if victim["id"] in h]
    assert sandboxes, hits
    os.unlink(os.path.join(sandboxes[0], "ok"))
    wait_for(lambda: victim["id"] not in task_ids(pc, "/flaky"), 30, what="unhealthy task killed")
    pc.wait_app("/flaky", running=2, healthy=2, timeout=60)
    failure = pc.get("/v2/apps/flaky").json()["app"].get("lastTaskFailure")
    assert failure and failure["taskId"] == victim["id"], failure
