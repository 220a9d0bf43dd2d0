"""Task lifecycle through the real master and real slaves, driven by a JSON
scheduler client as any Mesos v1 framework would: a task runs and finishes
or fails, is killed, is lost with its slave, and is killed on the slave when
its framework is gone for good.

Elsewhere: slave restart and re-adoption, tasks exiting while the slave is
down (test_slave.py); the master's side of kill, failover, reconciliation
and unreachable slaves, partition-aware or not (test_master_api.py)."""
import time

from agora_harness import SchedulerClient, task_info, task_pids, wait_for


def start(cluster, *master_flags, **fw_options):
    """A master, a slave and a subscribed framework: (slave, framework)."""
    cluster.start_master(*master_flags)
    slave = cluster.add_slave()
    fw = SchedulerClient(cluster.master.url, **fw_options)
    fw.subscribe()
    return slave, fw


def launch_one(fw, task_id, cmd, **kw):
    offers = fw.next_offers()
    offer = offers[0]
    fw.launch(offer, [task_info(task_id, offer["agent_id"], cmd, **kw)])
    st = fw.wait_update(task_id, "TASK_RUNNING")
    return offer, st


def test_task_runs_and_finishes(cluster):
    _, fw = start(cluster)
    offer = fw.next_offers()[0]
    fw.launch(offer, [task_info("t1", offer["agent_id"], "echo hi; exit 0")])
    st = fw.wait_update("t1", "TASK_FINISHED")
    assert st["agent_id"] == offer["agent_id"]
    wait_for(lambda: cluster.task("t1")["state"] == "TASK_FINISHED",
             what="master shows t1 finished")


def test_failing_command_reports_failed(cluster):
    _, fw = start(cluster)
    offer = fw.next_offers()[0]
    fw.launch(offer, [task_info("bad", offer["agent_id"], "exit 3")])
    st = fw.wait_update("bad", ["TASK_FAILED", "TASK_FINISHED"])
    assert st["state"] == "TASK_FAILED"
    assert st.get("message") == "Command exited with status 3"


def test_kill_reports_task_killed(cluster):
    slave, fw = start(cluster)
    offer, running = launch_one(fw, "sleeper", "sleep 1000")
    wait_for(lambda: task_pids(slave.work_dir, "sleeper"), what="task process")
    fw.call({"type": "KILL", "kill": {"task_id": {"value": "sleeper"},
                                      "agent_id": offer["agent_id"]}})
    st = fw.wait_update("sleeper", ["TASK_KILLED", "TASK_FAILED", "TASK_FINISHED"])
    assert st["state"] == "TASK_KILLED"
    wait_for(lambda: not task_pids(slave.work_dir, "sleeper"), what="task process gone")
    wait_for(lambda: cluster.task("sleeper")["state"] == "TASK_KILLED",
             what="master shows the task killed")


def test_slave_kill9_reports_tasks_lost(cluster):
    slave, fw = start(cluster, "--slave_ping_timeout=500ms", "--max_slave_ping_timeouts=2")
    launch_one(fw, "doomed", "sleep 1000")
    killed_at = time.monotonic()
    slave.kill9()
    st = fw.wait_update("doomed", ["TASK_LOST", "TASK_UNREACHABLE"], timeout=15)
    elapsed = time.monotonic() - killed_at
    # Not PARTITION_AWARE: TASK_LOST (test_master_api covers both kinds).
    assert st["state"] == "TASK_LOST"
    # 2 missed pings of 0.5 s each, plus slack for a loaded machine.
    assert elapsed < 8, f"LOST after {elapsed:.1f}s"
    print(f"slave kill -9 -> {st['state']} in {elapsed:.2f}s")


def test_framework_gone_beyond_failover_timeout_loses_tasks(cluster):
    slave, fw = start(cluster, failover_timeout=1)
    launch_one(fw, "orphan", "sleep 1000")
    fw.close()
    wait_for(lambda: not task_pids(slave.work_dir, "orphan"), 20,
             what="task killed after failover timeout")
    wait_for(lambda: not [f for f in cluster.state()["frameworks"] if f["name"] == "pytest"],
             10, what="framework removed")
