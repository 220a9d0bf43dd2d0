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

from agora_harness import SchedulerClient, task_info, task_pids, wait_for
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
