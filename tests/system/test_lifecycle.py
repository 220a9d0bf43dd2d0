"""Task lifecycle through the real master and slaves, driven by a JSON
scheduler client as any Mesos v1 framework would: kill, slave loss, slave
restart with re-adoption, framework failover."""
import os
import signal
import time

import requests

from agora_harness import SchedulerClient, task_info, wait_for


def launch_one(fw, task_id, cmd, **kw):
    offers = fw.next_offers()
    offer = offers[0]
    fw.launch(offer, [task_info(task_id, offer["agent_id"], cmd, **kw)])
    st = fw.wait_update(task_id, "TASK_RUNNING")
    return offer, st


def master_task(cluster, task_id):
    for f in cluster.state()["frameworks"]:
        for t in f["tasks"] + f.get("completed_tasks", []):
            if t["id"] == task_id:
                return t
    return None


def test_task_runs_and_finishes(cluster):
    cluster.start_master()
    cluster.add_slave()
    fw = SchedulerClient(cluster.master.url)
    fw.subscribe()
    offer = fw.next_offers()[0]
    fw.launch(offer, [task_info("t1", offer["agent_id"], "echo hi; exit 0")])
    st = fw.wait_update("t1", "TASK_FINISHED")
    assert st["agent_id"] == offer["agent_id"]
    wait_for(lambda: master_task(cluster, "t1")["state"] == "TASK_FINISHED",
             what="master shows t1 finished")


def test_failing_command_reports_failed(cluster):
    cluster.start_master()
    cluster.add_slave()
    fw = SchedulerClient(cluster.master.url)
    fw.subscribe()
    offer = fw.next_offers()[0]
    fw.launch(offer, [task_info("bad", offer["agent_id"], "exit 3")])
    st = fw.wait_update("bad", ["TASK_FAILED", "TASK_FINISHED"])
    assert st["state"] == "TASK_FAILED"
    assert "3" in st.get("message", "")


def test_kill_reports_task_killed(cluster):
    cluster.start_master()
    cluster.add_slave()
    fw = SchedulerClient(cluster.master.url)
    fw.subscribe()
    offer, running = launch_one(fw, "sleeper", "sleep 1000")
    fw.call({"type": "KILL", "kill": {"task_id": {"value": "sleeper"},
                                      "agent_id": offer["agent_id"]}})
    st = fw.wait_update("sleeper", ["TASK_KILLED", "TASK_FAILED", "TASK_FINISHED"])
    assert st["state"] == "TASK_KILLED"


def test_slave_kill9_reports_tasks_lost(cluster):
    cluster.start_master("--slave_ping_timeout=500ms", "--max_slave_ping_timeouts=2")
    slave = cluster.add_slave()
    fw = SchedulerClient(cluster.master.url)
    fw.subscribe()
    launch_one(fw, "doomed", "sleep 1000")
    killed_at = time.monotonic()
    slave.kill9()
    st = fw.wait_update("doomed", ["TASK_LOST", "TASK_UNREACHABLE"], timeout=15)
    elapsed = time.monotonic() - killed_at
    # 2 missed pings of 0.5 s each, plus slack for a loaded machine.
    assert elapsed < 8, f"LOST after {elapsed:.1f}s"
    print(f"slave kill -9 -> {st['state']} in {elapsed:.2f}s")


def test_partition_aware_framework_sees_unreachable(cluster):
    cluster.start_master("--slave_ping_timeout=500ms", "--max_slave_ping_timeouts=2")
    slave = cluster.add_slave()
    fw = SchedulerClient(cluster.master.url, capabilities=["PARTITION_AWARE"])
    fw.subscribe()
    launch_one(fw, "pa", "sleep 1000")
    slave.kill9()
    st = fw.wait_update("pa", ["TASK_LOST", "TASK_UNREACHABLE"], timeout=15)
    assert st["state"] == "TASK_UNREACHABLE"


def task_pids(sandbox_root, task_id):
    """Pids of processes whose MESOS_TASK_ID is task_id under sandbox_root."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if f"MESOS_TASK_ID={task_id}".encode() in env and cmd.startswith(b"sleep\0") and \
                any(e.startswith(b"MESOS_SANDBOX=" + sandbox_root.encode()) for e in env):
            out.append(int(pid))
    return out


def test_slave_restart_readopts_running_task(cluster):
    cluster.start_master()
    slave = cluster.add_slave()
    fw = SchedulerClient(cluster.master.url)
    fw.subscribe()
    launch_one(fw, "survivor", "sleep 1000")
    pids = wait_for(lambda: task_pids(slave.work_dir, "survivor"), what="task process")
    assert len(pids) == 1
    slave.kill9()
    slave.start()
    # The restarted slave re-registers and still reports the task running.
    def slave_reports_running():
        st = requests.get(slave.url + "/state", timeout=5).json()
        # Mesos shape: frameworks[].executors[].tasks[] (command executor).
        tasks = [t for f in st["frameworks"] for e in f["executors"]
                 for t in e["tasks"] if t["id"] == "survivor"]
        return len(tasks) == 1 and tasks[0]["state"] == "TASK_RUNNING"
    wait_for(slave_reports_running, 15, what="restarted slave reports the task")
    wait_for(lambda: [s for s in cluster.state()["slaves"] if s["active"]], 15,
             what="slave re-registered")
    t = master_task(cluster, "survivor")
    assert t["state"] == "TASK_RUNNING"
    # Same process, no duplicate launched.
    assert task_pids(slave.work_dir, "survivor") == pids
    # And it is still controllable: kill it through the master.
    fw.call({"type": "KILL", "kill": {"task_id": {"value": "survivor"},
                                      "agent_id": t and {"value": t["slave_id"]}}})
    fw.wait_update("survivor", "TASK_KILLED", timeout=20)
    wait_for(lambda: not task_pids(slave.work_dir, "survivor"), what="task process gone")


def test_task_exiting_while_slave_down_is_reported(cluster):
    cluster.start_master()
    slave = cluster.add_slave()
    fw = SchedulerClient(cluster.master.url)
    fw.subscribe()
    marker = os.path.join(cluster.tmp, "go")
    launch_one(fw, "quitter", f"while [ ! -e {marker} ]; do sleep 0.1; done; exit 0")
    slave.kill9()
    open(marker, "w").close()
    wait_for(lambda: not task_pids(slave.work_dir, "quitter"), what="task exited")
    slave.start()
    fw.wait_update("quitter", "TASK_FINISHED", timeout=20)


def test_framework_failover_keeps_tasks(cluster):
    cluster.start_master()
    cluster.add_slave()
    fw = SchedulerClient(cluster.master.url, failover_timeout=60)
    fw.subscribe()
    launch_one(fw, "kept", "sleep 1000")
    fid = fw.framework_id
    fw.close()
    wait_for(lambda: not [f for f in cluster.state()["frameworks"] if f["id"] == fid][0]["active"],
             what="framework inactive after disconnect")
    fw2 = SchedulerClient(cluster.master.url, framework_id=fid, failover_timeout=60)
    fw2.subscribe()
    assert fw2.framework_id == fid
    fw2.call({"type": "RECONCILE", "reconcile": {"tasks": []}})
    st = fw2.wait_update("kept", "TASK_RUNNING")
    assert st["state"] == "TASK_RUNNING"
    assert master_task(cluster, "kept")["state"] == "TASK_RUNNING"


def test_framework_gone_beyond_failover_timeout_loses_tasks(cluster):
    cluster.start_master()
    slave = cluster.add_slave()
    fw = SchedulerClient(cluster.master.url, failover_timeout=1)
    fw.subscribe()
    launch_one(fw, "orphan", "sleep 1000")
    fw.close()
    wait_for(lambda: not task_pids(slave.work_dir, "orphan"), 20,
             what="task killed after failover timeout")
    wait_for(lambda: not [f for f in cluster.state()["frameworks"] if f["name"] == "pytest"],
             10, what="framework removed")


def test_reconcile_unknown_task(cluster):
    cluster.start_master()
    cluster.add_slave()
    fw = SchedulerClient(cluster.master.url)
    fw.subscribe()
    fw.call({"type": "RECONCILE", "reconcile": {"tasks": [
        {"task_id": {"value": "nope"}}]}})
    ev = fw.next_event("UPDATE")
    st = ev["update"]["status"]
    assert st["task_id"]["value"] == "nope"
    assert st["state"] in ("TASK_LOST", "TASK_UNKNOWN")
    assert st.get("reason") == "REASON_RECONCILIATION"
