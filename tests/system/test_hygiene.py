"""Issue 16, "months, not minutes": no spurious task failures under load
with cgroups isolation on (every interruptible system call of the slave
retried on EINTR), and kills that reach the framework (a KILL_TASK the
slave does not know gets a status update; a KILL that arrives while the
task is still being launched kills it once it starts)."""
import os
import signal
import threading
import time

import pytest

import requests

from agora_harness import SchedulerClient, task_info, task_pids, wait_for
from agora_wire import (TASK_DROPPED, TASK_FINISHED, TASK_KILLED, TASK_LOST, TASK_RUNNING,
                        TASK_STARTING, FakeMaster, ack_event, kill_task_event, run_task_event)
from test_batch import SUMMARY, run_batch

SLAVES = 3
TASKS = 3000


def cgroups_v1_memory():
    """cgroup v1 cpu and memory hierarchies that we can write to."""
    return all(os.access(f"/sys/fs/cgroup/{c}", os.W_OK) and
               os.path.exists(f"/sys/fs/cgroup/{c}/tasks") for c in ("cpu", "memory"))


def cgroups_v2():
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers") and \
        os.access("/sys/fs/cgroup", os.W_OK)


def test_3000_short_tasks_with_cgroups_all_finish(shm_cluster):
    """3,000 tasks of `true` on 3 slaves with --isolation=cgroups: the
    SIGCHLDs of the tasks that end interrupt the cgroup writes of those
    that start (memory.limit_in_bytes returns EINTR while a signal is
    pending); every task must still come back TASK_FINISHED."""
    if not (cgroups_v1_memory() or cgroups_v2()):
        pytest.fail("no writable cgroups (v1 cpu+memory or v2) on this machine: "
                    "the test needs them")
    cluster = shm_cluster
    cluster.start_master("--allocation_interval=50ms")
    for _ in range(SLAVES):
        cluster.add_slave("--isolation=cgroups",
                          resources="cpus:8;mem:8192;disk:10000;ports:[31000-32000]")
    cluster.wait_slaves(SLAVES)
    for s in cluster.slaves:
        assert "isolation: cgroup" in open(s.log_path).read(), "slave without cgroups"
    # More signals than the tasks' own SIGCHLDs: a storm of SIGCHLD at the
    # slaves (harmless: they reap with WNOHANG) makes a signal pending in
    # the middle of many more system calls, so that any call left without
    # its EINTR retry shows up as a failed task, not once in a thousand runs.
    stop = threading.Event()
    pids = [s.proc.pid for s in cluster.slaves]
    sent = [0]

    def storm():
        while not stop.is_set():
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGCHLD)
                    sent[0] += 1
                except OSError:
                    pass
            time.sleep(0.0005)

    th = threading.Thread(target=storm, daemon=True)
    th.start()
    try:
        rc, out, err = run_batch(cluster, f"--tasks={TASKS}", "--cmd=true", "--cpus=0.1",
                                 "--mem=16", deadline=120)
    finally:
        stop.set()
        th.join(5)
    print(f"{sent[0]} SIGCHLDs sent to the slaves")
    print(out)
    m = SUMMARY.search(out)
    assert m, f"no summary line in stdout: {out!r}\n{err[-4000:]}"
    total, finished, failed, lost = (int(m.group(i)) for i in range(1, 5))
    if failed:
        for s in cluster.slaves:
            for line in open(s.log_path, errors="replace"):
                if "TASK_FAILED" in line:
                    print(line.rstrip())
    assert (total, finished, failed, lost) == (TASKS, TASKS, 0, 0), m.group(0)
    assert rc == 0
    print(f"{TASKS} tasks in {m.group(5)} s ({m.group(6)} tasks/s)")


# ------------------------------------------------------------------ kills

PARTITION_AWARE = 5  # FrameworkInfo.Capability.Type


@pytest.fixture
def fake_master():
    fm = FakeMaster()
    yield fm
    fm.close()


def slave_executors(slave):
    st = requests.get(slave.url + "/state", timeout=5).json()
    return {ex["id"]: fw["id"] for fw in st["frameworks"] for ex in fw["executors"]}


def test_kill_of_unknown_task_gets_an_update(cluster, fake_master):
    """A KILL_TASK for a task the slave does not run is answered with a
    terminal update, reliably (re-sent until acknowledged): TASK_DROPPED
    for a partition-aware framework, TASK_LOST for the others; a KILL of
    a task that ended here and was acknowledged gets nothing."""
    fm = fake_master
    slave = cluster.add_slave(master=fm.address)
    assert fm.subscribed.wait(10), "the slave did not subscribe"
    agent = fm.agent_id

    # A partition-aware framework the slave knows (it runs a task of it).
    fm.send(run_task_event("fw-pa", "sleeper", agent, "sleep 600", [PARTITION_AWARE]))
    state, _, u, _ = fm.next_update("sleeper")
    assert state == TASK_STARTING
    fm.send(ack_event("fw-pa", "sleeper", u))
    fm.send(kill_task_event("fw-pa", "ghost"))
    state, message, u1, reason = fm.next_update("ghost")
    assert state == TASK_DROPPED, state
    assert reason == 16 and "unknown" in message  # REASON_TASK_UNKNOWN
    # Not acknowledged: sent again (same uuid).
    state, _, u2, _ = fm.next_update("ghost", timeout=5)
    assert (state, u2) == (TASK_DROPPED, u1)
    fm.send(ack_event("fw-pa", "ghost", u1))
    wait_for(lambda: "ghost" not in slave_executors(slave), 5, what="ghost retired")
    assert "sleeper" in slave_executors(slave)

    # A framework the slave never saw: TASK_LOST (its capabilities are unknown).
    fm.send(kill_task_event("fw-other", "phantom"))
    state, _, u, _ = fm.next_update("phantom")
    assert state == TASK_LOST, state
    fm.send(ack_event("fw-other", "phantom", u))

    # A task that finished here and was acknowledged: no update.
    fm.send(run_task_event("fw-pa", "quick", agent, "true", [PARTITION_AWARE]))
    while True:
        state, _, u, _ = fm.next_update("quick")
        fm.send(ack_event("fw-pa", "quick", u))
        if state == TASK_FINISHED:
            break
    wait_for(lambda: "quick" not in slave_executors(slave), 5, what="quick retired")
    fm.send(kill_task_event("fw-pa", "quick"))
    with pytest.raises(AssertionError):
        fm.next_update("quick", timeout=2)
    assert "has already ended here" in open(slave.log_path).read()


def test_kill_while_launching_kills_when_started(cluster, fake_master):
    """RUN_TASK and KILL_TASK in one write: the slave handles the kill
    before the task has exec'ed; the task is killed as soon as it runs
    and ends TASK_KILLED (never FINISHED after its sleep)."""
    fm = fake_master
    slave = cluster.add_slave("--executor_shutdown_grace_period=1secs", master=fm.address)
    assert fm.subscribed.wait(10), "the slave did not subscribe"
    fm.send(run_task_event("fw", "doomed", fm.agent_id, "sleep 600"),
            kill_task_event("fw", "doomed"))
    seen = []
    while True:
        state, message, u, _ = fm.next_update("doomed", timeout=10)
        seen.append(state)
        fm.send(ack_event("fw", "doomed", u))
        if state not in (TASK_STARTING, TASK_RUNNING):
            break
    assert seen[-1] == TASK_KILLED, (seen, message)
    assert not task_pids(slave.work_dir, "doomed"), "the task's sleep is still running"


def test_kill_right_after_launch_through_the_master(cluster):
    """The same end to end: a framework's KILL right after its ACCEPT
    (the task still STAGING at the master) ends in TASK_KILLED, and no
    process of the task is left."""
    cluster.start_master("--allocation_interval=100ms")
    slave = cluster.add_slave("--executor_shutdown_grace_period=1secs")
    cluster.wait_slaves(1)
    fw = SchedulerClient(cluster.master.url, name="test-kill-staging")
    fw.subscribe()
    offer = fw.next_offers()[0]
    fw.launch(offer, [task_info("early", offer["agent_id"], "sleep 600")])
    fw.call({"type": "KILL", "kill": {"task_id": {"value": "early"},
                                      "agent_id": offer["agent_id"]}})
    st = fw.wait_update("early", ["TASK_KILLED", "TASK_FINISHED", "TASK_FAILED", "TASK_LOST",
                                  "TASK_DROPPED", "TASK_GONE"])
    assert st["state"] == "TASK_KILLED", st
    wait_for(lambda: not task_pids(slave.work_dir, "early"), 5, what="no process left")
