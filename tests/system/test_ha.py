"""High availability: three masters elected through a real 3-node ZooKeeper
ensemble (zk_ensemble.py), slaves and frameworks following the leader, the
registry in ZooKeeper, failover with tasks kept, graceful takeover, loss of
ZooKeeper nodes and of quorum, failover_timeout across failover, and a
partitioned slave. Each test uses its own chroot (zk://.../agora-<test>)."""
import datetime
import os
import re
import signal
import subprocess
import time

import pytest
import requests

from agora_harness import BIN, HACluster, SchedulerClient, task_info, wait_for


@pytest.fixture
def ha(request, tmp_path, zk_ensemble):
    """An HA cluster in a fresh chroot; every ZooKeeper node runs again
    afterwards for the next test."""
    zk_ensemble.ensure_all_running()
    chroot = "agora-" + re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)
    c = HACluster(tmp_path, zk_ensemble.url(chroot))
    yield c
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(c.logs())
        print(zk_ensemble.logs()[-10000:])
    c.shutdown()
    zk_ensemble.ensure_all_running()


def running_tasks(cluster):
    """task id -> state of every task the leader knows, per framework."""
    out = {}
    for f in cluster.state()["frameworks"]:
        for t in f["tasks"]:
            out[(f["id"], t["id"])] = t["state"]
    return out


def slave_tasks(slave):
    """task id -> state of the tasks a slave runs (its /state)."""
    st = requests.get(slave.url + "/state", timeout=5).json()
    out = {}
    for f in st["frameworks"]:
        for e in f["executors"]:
            for t in e["tasks"]:
                out[t["id"]] = t["state"]
    return out


def launch_spread(fw, prefix, n, cmd="sleep 1000"):
    """Launch n tasks, one per offer received, until n are RUNNING."""
    launched = []
    while len(launched) < n:
        for offer in fw.next_offers(timeout=15):
            if len(launched) >= n:
                fw.call({"type": "DECLINE", "decline": {"offer_ids": [offer["id"]]}})
                continue
            tid = f"{prefix}{len(launched)}"
            fw.launch(offer, [task_info(tid, offer["agent_id"], cmd)])
            launched.append(tid)
    pending = set(launched)
    deadline = time.monotonic() + 30
    while pending:
        ev = fw.next_event("UPDATE", max(0.1, deadline - time.monotonic()))
        st = ev["update"]["status"]
        fw.acknowledge(st)
        if st["state"] == "TASK_RUNNING":
            pending.discard(st["task_id"]["value"])
    return launched


def resubscribe(cluster, fw, timeout=20):
    """The framework finds the new leader and re-subscribes with its id."""
    fw.close()
    new = SchedulerClient(cluster.master.url, name=fw.name, failover_timeout=fw.failover_timeout,
                          framework_id=fw.framework_id, capabilities=fw.capabilities)
    new.subscribe(timeout)
    return new


def test_one_leader_others_redirect(ha):
    masters = ha.start_masters(3)
    leader = ha.master
    assert len(ha.leaders()) == 1
    pid = f"master@127.0.0.1:{leader.port}"
    for m in masters:
        st = ha.master_state(m)
        assert st["leader"] == pid
        assert st["elected"] == (m is leader)
        r = requests.get(m.url + "/master/redirect", allow_redirects=False, timeout=5)
        assert r.status_code == 307
        assert r.headers["Location"] == f"//127.0.0.1:{leader.port}"
    for m in masters:
        if m is leader:
            continue
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "x"}}}
        r = requests.post(m.url + "/api/v1/scheduler", json=body, allow_redirects=False,
                          timeout=5)
        assert r.status_code == 307, r.text
        assert r.headers["Location"] == f"//127.0.0.1:{leader.port}/api/v1/scheduler"
        r = requests.post(m.url + "/api/v1", json={"type": "GET_MASTER"}, allow_redirects=False,
                          timeout=5)
        assert r.status_code == 307
        # The operator event stream too: only the leader serves it.
        r = requests.post(m.url + "/api/v1", json={"type": "SUBSCRIBE"}, allow_redirects=False,
                          timeout=5)
        assert r.status_code == 307 and r.headers["Location"].endswith("/api/v1")
    # A client that follows redirects (as Mesos clients do) lands on the leader.
    fw = SchedulerClient(masters[[m is leader for m in masters].index(False)].url)
    fw.subscribe()
    assert ha.state()["frameworks"][0]["id"] == fw.framework_id
    fw.close()
    # Slaves started with --master=zk://... register with the leader.
    ha.add_slave()
    ha.wait_slaves(1)


def test_no_leader_known_answers_503(tmp_path):
    from zk_ensemble import free_ports
    from agora_harness import Daemon
    nobody = free_ports(1)[0]
    m = Daemon("agora-master", str(tmp_path / "m"),
               [f"--zk=zk://127.0.0.1:{nobody}/agora", "--zk_session_timeout=2secs"]).start()
    try:
        r = requests.get(m.url + "/master/redirect", allow_redirects=False, timeout=5)
        assert r.status_code == 503
        r = requests.post(m.url + "/api/v1/scheduler", json={"type": "SUBSCRIBE"}, timeout=5)
        assert r.status_code == 503
        r = requests.post(m.url + "/api/v1", json={"type": "SUBSCRIBE"}, timeout=5)
        assert r.status_code == 503
        assert "leader" not in requests.get(m.url + "/master/state", timeout=5).json()
    finally:
        m.stop()


def test_leader_kill9_failover_keeps_tasks(ha):
    ha.start_masters(3, "--slave_reregister_timeout=30secs")
    for _ in range(3):
        ha.add_slave("--registration_backoff_factor=500ms")
    ha.wait_slaves(3)
    fw = SchedulerClient(ha.master.url, name="longrun", failover_timeout=300)
    fw.subscribe()
    fw_id = fw.framework_id
    tasks = launch_spread(fw, "long-", 6)
    # A C framework (libagora-scheduler) following the leader through ZooKeeper.
    batch_log = open(os.path.join(ha.tmp, "batch.log"), "w")
    batch = subprocess.Popen([os.path.join(BIN, "agora-batch"), f"--master={ha.zk_url}",
                              "--tasks=4", "--cmd=sleep 6", "--cpus=0.1", "--mem=16",
                              "--name=ha-batch", "--log_level=info", "--timeout=90"],
                             stdout=batch_log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: any(f["name"] == "ha-batch" and len(f["tasks"]) == 4
                             and all(t["state"] == "TASK_RUNNING" for t in f["tasks"])
                             for f in ha.state()["frameworks"]), 30, what="batch tasks running")
        before = running_tasks(ha)
        assert sorted(t for (f, t) in before if f == fw_id) == sorted(tasks)

        old = ha.master
        t0 = time.monotonic()
        kill_wall = time.time()
        old.kill9()
        ha.wait_leader(timeout=20, exclude=old)
        elected = time.monotonic() - t0
        fw = resubscribe(ha, fw)
        resubscribed = time.monotonic() - t0
        assert fw.framework_id == fw_id
        ha.wait_slaves(3, timeout=20)
        slaves_back = time.monotonic() - t0
        print(f"\nkill -9 of the leader -> new leader elected in {elected:.2f}s, framework "
              f"re-subscribed in {resubscribed:.2f}s, 3 slaves re-registered in "
              f"{slaves_back:.2f}s")

        # Every task is known again, RUNNING, under the same ids; none doubled.
        def same_tasks():
            now = running_tasks(ha)
            mine = {t: s for (f, t), s in now.items() if f == fw_id}
            return sorted(mine) == sorted(tasks) and \
                all(s == "TASK_RUNNING" for s in mine.values())
        wait_for(same_tasks, 20, what="the framework's tasks back under the new leader")
        per_slave = [slave_tasks(s) for s in ha.slaves]
        on_slaves = [t for st in per_slave for t, s in st.items() if t.startswith("long-")]
        assert sorted(on_slaves) == sorted(tasks), per_slave
        # Implicit reconciliation answers RUNNING for each task.
        fw.call({"type": "RECONCILE", "reconcile": {"tasks": []}})
        seen = {}
        while len(seen) < len(tasks):
            st = fw.next_event("UPDATE", 10)["update"]["status"]
            seen[st["task_id"]["value"]] = st["state"]
        assert seen == {t: "TASK_RUNNING" for t in tasks}
        # The C framework followed the leader too and finished its tasks.
        assert batch.wait(60) == 0, open(os.path.join(ha.tmp, "batch.log")).read()[-3000:]
        out = open(os.path.join(ha.tmp, "batch.log")).read()
        assert "4 finished, 0 failed, 0 lost" in out, out[-3000:]
        stamps = re.findall(r"^(\S+)Z I scheduler\.c:\d+\] .*-> SUBSCRIBED", out, re.M)
        assert len(stamps) >= 2, out[-3000:]
        resub = datetime.datetime.fromisoformat(stamps[-1]).replace(
            tzinfo=datetime.timezone.utc).timestamp() - kill_wall
        print(f"libagora-scheduler (agora-batch, zk://) re-subscribed {resub:.2f}s after the kill")
        assert resub < 10
    finally:
        if batch.poll() is None:
            batch.kill()
            batch.wait()
        batch_log.close()


def test_graceful_stop_takes_over_fast(ha):
    # A long session timeout: only closing the session makes takeover fast.
    ha.start_masters(3)
    for m in ha.masters:
        m.stop()
    ha.masters = []
    for i in range(3):
        from agora_harness import Daemon
        d = Daemon("agora-master", os.path.join(ha.tmp, f"slow{i}"),
                   [f"--zk={ha.zk_url}", "--zk_session_timeout=8secs"])
        ha.masters.append(d.start())
    old = ha.wait_leader()
    ha.add_slave()
    ha.wait_slaves(1)
    t0 = time.monotonic()
    old.signal(signal.SIGTERM)
    ha.wait_leader(timeout=8, exclude=old)
    took = time.monotonic() - t0
    print(f"\nSIGTERM of the leader -> successor leads in {took:.2f}s (session timeout 8s)")
    assert took < 2.5, took
    assert old.proc.wait(10) == 0
    ha.wait_slaves(1, timeout=15)


def test_zookeeper_node_loss_and_quorum_loss(ha, zk_ensemble):
    # Losing ZooKeeper's own leader node costs a ZooKeeper election (about a
    # second here) during which no node serves: the masters' grace (a third
    # of the session timeout) must outlast it.
    ha.start_masters(3, "--zk_session_timeout=6secs")
    for _ in range(2):
        ha.add_slave("--registration_backoff_factor=500ms")
    ha.wait_slaves(2)
    fw = SchedulerClient(ha.master.url, name="zkloss", failover_timeout=300)
    fw.subscribe()
    fw_id = fw.framework_id
    tasks = launch_spread(fw, "zk-", 3)
    leader = ha.master

    # One node of three down, the very one the leader's session uses: no
    # disruption at all (the client moves to another node within the grace).
    node = zk_ensemble.node_of(leader.proc.pid)
    assert node is not None
    zk_ensemble.stop_node(node)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        assert all(m.alive() for m in ha.masters)
        assert ha.leaders() == [leader]
        time.sleep(0.2)
    assert fw.events.qsize() == 0 or all(e.get("type") != "__CLOSED__"
                                         for e in list(fw.events.queue))
    assert len([s for s in ha.state()["slaves"] if s["active"]]) == 2

    # Quorum lost: the leader stops leading (exits non-zero), nobody leads.
    other = [i for i in zk_ensemble.running()][0]
    zk_ensemble.stop_node(other)
    t0 = time.monotonic()
    rc = leader.proc.wait(15)
    print(f"\nquorum lost -> leader exited with {rc} after {time.monotonic() - t0:.2f}s")
    assert rc != 0
    assert ha.leaders() == []

    # Quorum back; a supervisor restarts the exited master; all recovers.
    zk_ensemble.start_node(node)
    zk_ensemble.start_node(other)
    zk_ensemble.wait_quorum()
    for m in ha.masters:
        if not m.alive():
            m.start()
    ha.wait_leader(timeout=30)
    fw = resubscribe(ha, fw)
    assert fw.framework_id == fw_id
    ha.wait_slaves(2, timeout=30)
    wait_for(lambda: {t: s for (f, t), s in running_tasks(ha).items() if f == fw_id}
             == {t: "TASK_RUNNING" for t in tasks}, 20, what="all tasks RUNNING again")


def test_failover_timeout_honoured_across_failover(ha):
    ha.start_masters(3)
    ha.add_slave()
    ha.wait_slaves(1)
    short = SchedulerClient(ha.master.url, name="short", failover_timeout=3)
    short.subscribe()
    long_ = SchedulerClient(ha.master.url, name="long", failover_timeout=300)
    long_.subscribe()
    launch_spread(short, "short-", 1)
    launch_spread(long_, "long-", 1)
    short.close()
    long_.close()
    # Both disconnected, and that is durable in the registry.
    wait_for(lambda: (lambda st: not st["registry_pending"]
                      and all(not f["active"] for f in st["frameworks"]))(ha.state()),
             10, what="disconnections recorded")
    disconnected = time.monotonic()
    old = ha.master
    old.kill9()
    ha.wait_leader(timeout=20, exclude=old)
    ha.wait_slaves(1, timeout=20)
    # The short framework's 3s ran out across the failover: its task is
    # killed and the framework removed. (Mesos would forget and keep it.)
    wait_for(lambda: "short-0" not in slave_tasks(ha.slaves[0])
             or slave_tasks(ha.slaves[0])["short-0"] != "TASK_RUNNING", 20,
             what="short-0 killed")
    assert any(f["id"] == short.framework_id for f in ha.state()["completed_frameworks"])
    assert time.monotonic() - disconnected < 20
    # The long one comes back within its timeout and keeps its task.
    long_ = resubscribe(ha, long_)
    wait_for(lambda: running_tasks(ha).get((long_.framework_id, "long-0")) == "TASK_RUNNING",
             15, what="long-0 kept")
    assert slave_tasks(ha.slaves[0]).get("long-0") == "TASK_RUNNING"
    r = requests.post(ha.master.url + "/api/v1/scheduler", json={
        "type": "SUBSCRIBE", "framework_id": {"value": short.framework_id},
        "subscribe": {"framework_info": {"user": "root", "name": "short",
                                         "id": {"value": short.framework_id}}}},
        stream=True, timeout=5)
    first = r.raw.read(300).decode(errors="replace")
    r.close()
    assert "removed" in first, first


def test_partitioned_slave_unreachable_then_back(ha):
    ha.start_masters(3, "--slave_ping_timeout=300ms", "--max_slave_ping_timeouts=3")
    slave = ha.add_slave()
    ha.wait_slaves(1)
    fw = SchedulerClient(ha.master.url, name="pa", failover_timeout=300,
                         capabilities=["PARTITION_AWARE"])
    fw.subscribe()
    launch_spread(fw, "pa-", 1)
    slave.signal(signal.SIGSTOP)
    try:
        st = fw.wait_update("pa-0", "TASK_UNREACHABLE", timeout=15)
        assert st["reason"] == "REASON_AGENT_REMOVED"
        assert ha.state()["unreachable_slaves"] == 1
    finally:
        slave.signal(signal.SIGCONT)
    st = fw.wait_update("pa-0", "TASK_RUNNING", timeout=30)
    assert st["reason"] == "REASON_AGENT_REREGISTERED"
    ha.wait_slaves(1, timeout=15)
    assert running_tasks(ha)[(fw.framework_id, "pa-0")] == "TASK_RUNNING"
    assert slave_tasks(slave)["pa-0"] == "TASK_RUNNING"


def test_missing_slave_unreachable_after_reregister_timeout(ha):
    ha.start_masters(3, "--slave_reregister_timeout=3secs")
    ha.add_slave("--registration_backoff_factor=500ms")
    ha.add_slave("--registration_backoff_factor=500ms")
    ha.wait_slaves(2)
    fw = SchedulerClient(ha.master.url, name="rr", failover_timeout=300,
                         capabilities=["PARTITION_AWARE"])
    fw.subscribe()
    tasks = launch_spread(fw, "rr-", 2)
    where = {t["id"]: t["slave_id"] for f in ha.state()["frameworks"] for t in f["tasks"]}
    assert where["rr-0"] != where["rr-1"]
    gone = ha.slaves[1]
    gone_id = requests.get(gone.url + "/state", timeout=5).json()["id"]
    lost_task = [t for t in tasks if where[t] == gone_id][0]
    kept_task = [t for t in tasks if t != lost_task][0]
    gone.kill9()
    wait_for(lambda: not ha.state()["registry_pending"], 10, what="registry written")
    old = ha.master
    old.kill9()
    ha.wait_leader(timeout=20, exclude=old)
    elected = time.monotonic()
    fw = resubscribe(ha, fw)
    ha.wait_slaves(1, timeout=20)

    def reconcile(task_id, agent_id):
        fw.call({"type": "RECONCILE", "reconcile": {"tasks": [
            {"task_id": {"value": task_id}, "agent_id": {"value": agent_id}}]}})

    # Within the window the missing slave may still come back: no answer
    # for its task (its report would tell); the other task is RUNNING.
    reconcile(kept_task, where[kept_task])
    reconcile(lost_task, gone_id)
    st = fw.next_event("UPDATE", 10)["update"]["status"]
    assert (st["task_id"]["value"], st["state"]) == (kept_task, "TASK_RUNNING")
    if time.monotonic() - elected < 2:
        with pytest.raises(AssertionError):
            fw.next_event("UPDATE", 0.8,
                          pred=lambda e: e["update"]["status"]["task_id"]["value"] == lost_task)
    # After --slave_reregister_timeout it is unreachable, and so is its task.
    wait_for(lambda: time.monotonic() - elected > 3.5, 10, what="the re-registration window")

    def unreachable():
        reconcile(lost_task, gone_id)
        ev = fw.next_event("UPDATE", 2)["update"]["status"]
        return ev["task_id"]["value"] == lost_task and ev["state"] == "TASK_UNREACHABLE"
    wait_for(unreachable, 10, what=f"{lost_task} reported TASK_UNREACHABLE")
