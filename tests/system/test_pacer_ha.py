"""Pacer in a quorum: three instances on a real 3-node ZooKeeper ensemble,
one leading, the others proxying to it; failover by kill -9 and by
DELETE /v2/leader, with nothing healthy killed and the state intact."""
import requests

from agora_harness import wait_for
from pacer_harness import PacerCluster
from ui_driver import Browser

SLOW_HTTP = "sleep 2; exec /usr/bin/python3 -m http.server $PORT0 --bind 127.0.0.1"


def slow_app(app_id, n):
    return {"id": app_id, "cmd": SLOW_HTTP, "cpus": 0.05, "mem": 32, "instances": n,
            "portDefinitions": [{"port": 0}],
            "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0,
                              "gracePeriodSeconds": 30, "intervalSeconds": 1,
                              "timeoutSeconds": 2, "delaySeconds": 0}]}


def standbys(pq):
    return [d for d in pq.pacers if d.alive() and d is not pq.pacer]


def test_one_leader_standbys_proxy(pq):
    leader = f"127.0.0.1:{pq.pacer.port}"
    for d in pq.pacers:
        assert requests.get(d.url + "/v2/leader", timeout=5).json() == {"leader": leader}
    sb = standbys(pq)[0]
    r = requests.post(sb.url + "/v2/apps", json={"id": "/via-standby", "cmd": "sleep 1000",
                                                 "cpus": 0.05, "mem": 16, "instances": 1},
                      timeout=10)
    assert r.status_code == 201, r.text
    assert r.headers["X-Marathon-Leader"] == leader
    assert r.headers["Location"].endswith("/v2/apps/via-standby")
    assert pq.get("/v2/apps/via-standby").status_code == 200
    pq.wait_app("/via-standby", running=1)
    # Errors come back as the leader gave them; the event stream too.
    assert requests.get(sb.url + "/v2/apps/nope", timeout=5).status_code == 404
    with requests.get(sb.url + "/v2/events", headers={"Accept": "text/event-stream"},
                      stream=True, timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        first = b""
        for chunk in r.iter_content(64):
            first += chunk
            if b"event_stream_attached" in first:
                break
        assert b"event: event_stream_attached" in first
    assert requests.get(sb.url + "/ping", timeout=5).text.strip() == "pong"


def test_kill9_leader_mid_restart_standby_finishes_it(pq):
    fid = pq.framework_id()
    assert pq.post("/v2/apps", slow_app("/svc", 3)).status_code == 201
    pq.wait_app("/svc", running=3, healthy=3, timeout=60)
    pq.wait_deployments()
    old = {t["id"] for t in pq.get("/v2/apps/svc/tasks").json()["tasks"]}
    versions = pq.get("/v2/apps/svc/versions").json()["versions"]
    assert pq.post("/v2/apps/svc/restart").status_code == 200
    wait_for(lambda: len({t["id"] for f in pq.state()["frameworks"] for t in f["tasks"]}
                         - old) >= 1, 20, what="new instances launched")
    # What the master was told to launch before the crash (an instance
    # recorded but not yet accepted cannot survive it: it is replaced).
    launched = {t["id"] for f in pq.state()["frameworks"] for t in f["tasks"]}
    dead = pq.pacer
    dead.kill9()
    pq.wait_pacer_leader(exclude=dead, timeout=30)
    assert pq.framework_id() == fid
    pq.wait_deployments(timeout=90)
    final = {t["id"] for t in pq.get("/v2/apps/svc/tasks").json()["tasks"]}
    assert len(final) == 3 and not (final & old)
    assert (launched - old) <= final, "an instance launched before the failover was killed"
    assert pq.app("/svc")["tasksHealthy"] == 3
    now = pq.get("/v2/apps/svc/versions").json()["versions"]
    assert now[1:] == versions and len(now) == len(versions) + 1


def test_delete_leader_hands_over_and_restarts_nothing(pq):
    assert pq.post("/v2/apps", {"id": "/calm", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16,
                                "instances": 2}).status_code == 201
    pq.wait_app("/calm", running=2)
    pq.wait_deployments()
    before = {t["id"] for t in pq.get("/v2/apps/calm/tasks").json()["tasks"]}
    old = pq.pacer
    sb = standbys(pq)[0]
    r = requests.delete(sb.url + "/v2/leader", timeout=10)  # proxied to the leader
    assert r.status_code == 200, r.text
    wait_for(lambda: not old.alive(), 10, what="the old leader gone")
    pq.wait_pacer_leader(exclude=old)
    after = {t["id"] for t in pq.get("/v2/apps/calm/tasks").json()["tasks"]}
    assert after == before
    assert pq.app("/calm")["tasksRunning"] == 2


def test_session_timeouts_are_flags(pq):
    """--zk_session_timeout sets Pacer's ZooKeeper session (and, through
    agora_scheduler_config.zk_session_timeout, the one that follows a
    zk:// master); the slave has the flag too."""
    log = pq.pacers[0].log()
    assert "session timeout 2s" in log, log[-2000:]
    slave = pq.add_slave("--zk_session_timeout=3secs", master=pq.zk.replace("/pacer-", "/agora-"))
    wait_for(lambda: "session timeout 3s" in slave.log(), 10, what="the slave's session timeout")


def test_zookeeper_node_loss_and_quorum_loss(request, tmp_path, zk_ensemble):
    import time
    zk_ensemble.ensure_all_running()
    c = PacerCluster(tmp_path)
    try:
        c.start_master("--allocation_interval=100ms")
        c.add_slave()
        c.wait_slaves(1)
        # A session that outlasts a ZooKeeper election (losing ZooKeeper's
        # own leader node costs about a second with no node serving).
        c.start_pacers(3, zk_ensemble.url("pacer-zkloss"), "--zk_session_timeout=6secs",
                       master=f"127.0.0.1:{c.master.port}")
        assert c.post("/v2/apps", {"id": "/z", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16,
                                   "instances": 2, "portDefinitions": []}).status_code == 201
        c.wait_app("/z", running=2)
        tasks = {t["id"] for t in c.get("/v2/apps/z/tasks").json()["tasks"]}
        leader = c.pacer

        # One node of three down, the one the leader's session uses: no
        # disruption.
        node = zk_ensemble.node_of(leader.proc.pid)
        assert node is not None
        zk_ensemble.stop_node(node)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert all(d.alive() for d in c.pacers)
            assert c.pacer_leader_of(c.pacers[1]) == f"127.0.0.1:{leader.port}"
            time.sleep(0.2)
        assert c.post("/v2/apps", {"id": "/z2", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16,
                                   "instances": 1, "portDefinitions": []}).status_code == 201

        # Quorum lost: the leader stops acting (exits non-zero); no one leads.
        other = [i for i in zk_ensemble.running()][0]
        zk_ensemble.stop_node(other)
        rc = leader.proc.wait(20)
        assert rc != 0
        for d in c.pacers:
            if d.alive():
                r = requests.get(d.url + "/v2/apps", timeout=5)
                assert r.status_code == 503, r.text

        # Quorum back; the exited instance is restarted (its supervisor's
        # job); everything resumes with all apps, the tasks untouched.
        zk_ensemble.start_node(node)
        zk_ensemble.start_node(other)
        zk_ensemble.wait_quorum()
        leader.start()
        c.wait_pacer_leader(timeout=40)
        wait_for(lambda: {a["id"] for a in c.get("/v2/apps").json()["apps"]} == {"/z", "/z2"},
                 20, what="both apps back")
        c.wait_app("/z", running=2)
        assert {t["id"] for t in c.get("/v2/apps/z/tasks").json()["tasks"]} == tasks
    finally:
        if getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed:
            print(c.logs())
        c.shutdown()
        zk_ensemble.ensure_all_running()



def test_ui_on_a_standby(pq, tmp_path):
    """Pacer's web UI (tests/system/test_ui_pacer.py) on a standby, here
    where the quorum runs already: every Pacer serves the page, and a
    standby proxies its calls and its event stream to the leader, so the
    page shows the leader's apps live and its changes reach the leader."""
    sb = standbys(pq)[0]
    assert requests.get(sb.url + "/ui/", timeout=5).status_code == 200
    b = Browser(tmp_path / "browser.log")
    try:
        b.goto(sb.url + "/ui/")
        b.wait("#conn[data-state='live']", timeout=30)
        b.wait(".empty", text="No apps yet", timeout=30)
        r = pq.post("/v2/apps", {"id": "/via-leader", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16})
        assert r.status_code == 201, r.text
        b.wait("tr[data-app='/via-leader'] .app-status[data-status='running']", timeout=30)
        b.click("tr[data-app='/via-leader'] a.app-link")
        b.fill("#scale-n", "2")
        b.click("#scale-btn")
        b.wait("tr[data-task][data-state='TASK_RUNNING']", count=2, timeout=30)
        assert pq.app("/via-leader")["instances"] == 2
        b.wait("#pacer-info", text=f"127.0.0.1:{pq.pacer.port}")
        b.screenshot(tmp_path / "01-standby.png")
        assert b.problems() == []
    finally:
        b.close()
