"""Issue 16, "kills that arrive": a framework's KILL of a task whose slave
is away (stopped with SIGSTOP until the master marks it unreachable) is
kept by the master and delivered when the slave re-registers; the task's
process is gone a few seconds after the slave is back and the framework
hears TASK_KILLED exactly once."""
import re
import signal
import time

import pytest
import requests

from agora_harness import SchedulerClient, task_info, task_pids, wait_for

# Pings every 0.3 s, two missed: unreachable about 0.6-0.9 s after SIGSTOP.
MASTER_FLAGS = ("--allocation_interval=100ms", "--slave_ping_timeout=0.3secs",
                "--max_slave_ping_timeouts=2")


def kills_pending(cluster):
    text = requests.get(cluster.master.url + "/metrics", timeout=5).text
    m = re.search(r"^agora_master_kills_pending (\S+)$", text, re.M)
    assert m, "agora_master_kills_pending missing from /metrics"
    return float(m.group(1))


def kill(fw, task_id, agent_id):
    fw.call({"type": "KILL", "kill": {"task_id": {"value": task_id}, "agent_id": agent_id}})


def updates_for(fw, task_id, seconds):
    """Every update of task_id that arrives within seconds (acknowledged)."""
    seen = []
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return seen
        try:
            ev = fw.next_event("UPDATE", left)
        except AssertionError:
            return seen
        st = ev["update"]["status"]
        fw.acknowledge(st)
        if st["task_id"]["value"] == task_id:
            seen.append(st["state"])


@pytest.mark.parametrize("when", ["unreachable", "before_unreachable"])
def test_kill_while_slave_stopped_is_delivered_on_return(cluster, when):
    """when="unreachable": the KILL comes after the master marked the slave
    unreachable (nothing to send it on). when="before_unreachable": the
    KILL goes down the stream of a slave that is stopped but still
    connected; the master then marks it unreachable and closes the stream
    with the kill possibly unread: the re-registration brings it again."""
    cluster.start_master(*MASTER_FLAGS)
    slave = cluster.add_slave("--executor_shutdown_grace_period=1secs")
    cluster.wait_slaves(1)
    fw = SchedulerClient(cluster.master.url, name="kill-queue", failover_timeout=300,
                         capabilities=["PARTITION_AWARE"])
    fw.subscribe()
    offer = fw.next_offers()[0]
    agent = offer["agent_id"]
    fw.launch(offer, [task_info("victim", agent, "sleep 600")])
    fw.wait_update("victim", "TASK_RUNNING")
    wait_for(lambda: task_pids(slave.work_dir, "victim"), 10, what="the task's sleep")

    slave.signal(signal.SIGSTOP)
    try:
        if when == "before_unreachable":
            kill(fw, "victim", agent)
        st = fw.wait_update("victim", "TASK_UNREACHABLE", timeout=15)
        assert st["reason"] == "REASON_AGENT_REMOVED", st
        if when == "unreachable":
            kill(fw, "victim", agent)
        assert kills_pending(cluster) == 1
        assert task_pids(slave.work_dir, "victim"), "the stopped slave's task ended by itself"
    finally:
        slave.signal(signal.SIGCONT)
    back = time.monotonic()
    st = fw.wait_update("victim", ["TASK_KILLED", "TASK_FINISHED", "TASK_FAILED", "TASK_LOST",
                                   "TASK_GONE", "TASK_DROPPED"], timeout=20)
    assert st["state"] == "TASK_KILLED", st
    wait_for(lambda: not task_pids(slave.work_dir, "victim"), 5, what="the task's process gone")
    took = time.monotonic() - back
    print(f"\nSIGCONT -> TASK_KILLED and process gone in {took:.2f}s")
    assert took < 10, took
    # Exactly once: nothing more about the task (a second KILLED would be
    # a duplicate delivery); the pending kill is forgotten.
    later = updates_for(fw, "victim", 3)
    assert "TASK_KILLED" not in later, later
    assert kills_pending(cluster) == 0
    assert cluster.task("victim")["state"] == "TASK_KILLED"
    assert "kill of task victim" in cluster.master.log() or when == "before_unreachable"
    fw.close()


def test_kill_of_lost_task_of_non_partition_aware_framework(cluster):
    """A framework that is not partition-aware hears TASK_LOST when the
    slave becomes unreachable; its KILL then finds no task at the master,
    but the task must still not be left running when the slave returns."""
    cluster.start_master(*MASTER_FLAGS)
    slave = cluster.add_slave("--executor_shutdown_grace_period=1secs")
    cluster.wait_slaves(1)
    fw = SchedulerClient(cluster.master.url, name="kill-lost", failover_timeout=300)
    fw.subscribe()
    offer = fw.next_offers()[0]
    agent = offer["agent_id"]
    fw.launch(offer, [task_info("lost-one", agent, "sleep 600")])
    fw.wait_update("lost-one", "TASK_RUNNING")
    slave.signal(signal.SIGSTOP)
    try:
        fw.wait_update("lost-one", "TASK_LOST", timeout=15)
        kill(fw, "lost-one", agent)
    finally:
        slave.signal(signal.SIGCONT)
    wait_for(lambda: not task_pids(slave.work_dir, "lost-one"), 15,
             what="the lost task's process gone")
    fw.close()
