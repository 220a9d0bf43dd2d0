"""Pacer across failures: kill -9 of Pacer in the middle of a deployment,
and master failover with HA masters. Nothing healthy is killed, the
framework id stays, the deployment resumes and finishes."""
import re

import pytest

from agora_harness import wait_for
from pacer_harness import PacerHACluster

# Healthy only 3 s after start, so that a rolling restart is slow enough to
# be interrupted.
SLOW_HTTP = "sleep 3; exec /usr/bin/python3 -m http.server $PORT0 --bind 127.0.0.1"


def slow_app(app_id, n):
    return {"id": app_id, "cmd": SLOW_HTTP, "cpus": 0.05, "mem": 32, "instances": n,
            "portDefinitions": [{"port": 0}],
            "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0,
                              "gracePeriodSeconds": 30, "intervalSeconds": 1,
                              "timeoutSeconds": 2, "maxConsecutiveFailures": 3,
                              "delaySeconds": 0}]}


def master_tasks(pc):
    return {t["id"]: t["state"] for f in pc.state()["frameworks"] for t in f["tasks"]}


def killed_in_master(pc, ids):
    """Tasks of ids that the master saw end."""
    out = set()
    for f in pc.state()["frameworks"]:
        for t in f.get("completed_tasks", []):
            if t["id"] in ids:
                out.add(t["id"])
    return out


def test_kill9_mid_deployment_resumes_and_kills_nothing_healthy(pacer_cluster):
    pc = pacer_cluster
    pc.start_master("--allocation_interval=100ms")
    pc.add_slave()
    pc.add_slave()
    pc.wait_slaves(2)
    pc.start_pacer()
    fid = pc.framework_id()
    assert pc.post("/v2/apps", slow_app("/svc", 4)).status_code == 201
    pc.wait_app("/svc", running=4, healthy=4, timeout=60)
    pc.wait_deployments()
    old = {t["id"] for t in pc.get("/v2/apps/svc/tasks").json()["tasks"]}

    r = pc.post("/v2/apps/svc/restart")
    assert r.status_code == 200
    dep = r.json()["deploymentId"]
    # New instances launched, none healthy yet (they sleep 3 s first).
    wait_for(lambda: len({t["id"] for f in pc.state()["frameworks"] for t in f["tasks"]}
                         - old) >= 1, 20, what="new instances launched")
    # What the master was told to launch before the crash (an instance
    # recorded but not yet accepted cannot survive it: it is replaced).
    launched = {t["id"] for f in pc.state()["frameworks"] for t in f["tasks"]}
    pc.pacer.kill9()
    pc.start_pacer()

    assert pc.framework_id() == fid
    deps = pc.get("/v2/deployments").json()
    assert [d["id"] for d in deps] == [dep], deps
    # What ran before the crash is adopted, not killed: the old healthy
    # instances keep running until new ones are healthy; the new ones stay.
    wait_for(lambda: all(pc.app("/svc")["tasks"]), 10, what="tasks listed")
    adopted = {t["id"] for t in pc.get("/v2/apps/svc/tasks").json()["tasks"]}
    assert launched <= adopted, (launched, adopted)
    pc.wait_deployments(timeout=90)
    final = {t["id"] for t in pc.get("/v2/apps/svc/tasks").json()["tasks"]}
    assert len(final) == 4 and not (final & old)
    assert pc.app("/svc")["tasksHealthy"] == 4
    # Every new instance launched before the crash survived it.
    assert (launched - old) <= final, (launched - old, final)
    log = pc.pacer.log()
    assert "is not one Pacer knows" not in log


@pytest.fixture
def ha(request, tmp_path, zk_ensemble):
    zk_ensemble.ensure_all_running()
    chroot = "agora-" + re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)
    c = PacerHACluster(tmp_path, zk_ensemble.url(chroot))
    yield c
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(c.logs())
    c.shutdown()
    zk_ensemble.ensure_all_running()


def test_master_failover_kills_no_task(ha):
    ha.start_masters(3, "--allocation_interval=100ms")
    ha.add_slave()
    ha.add_slave()
    ha.wait_slaves(2)
    ha.start_pacer()
    fid = ha.framework_id()
    assert ha.post("/v2/apps", {"id": "/steady", "cmd": "sleep 1000", "cpus": 0.05,
                                "mem": 16, "instances": 4}).status_code == 201
    ha.wait_app("/steady", running=4)
    ha.wait_deployments()
    before = {t["id"] for t in ha.get("/v2/apps/steady/tasks").json()["tasks"]}
    old_leader = ha.master
    old_leader.kill9()
    ha.wait_leader(exclude=old_leader)
    ha.wait_slaves(2, timeout=40)
    # Pacer re-subscribes with the same id; the master learns the tasks
    # back from the slaves and Pacer keeps them all.
    wait_for(lambda: set(master_tasks(ha)) >= before, 40, what="tasks known to the new leader")
    wait_for(lambda: ha.get("/v2/info").json()["frameworkId"] == fid
             and any(f["id"] == fid and f["active"] for f in ha.state()["frameworks"]), 40,
             what="pacer re-subscribed with the same framework id")
    after = {t["id"] for t in ha.get("/v2/apps/steady/tasks").json()["tasks"]}
    assert after == before
    assert ha.app("/steady")["tasksRunning"] == 4
    assert all(s == "TASK_RUNNING" for i, s in master_tasks(ha).items() if i in before)
