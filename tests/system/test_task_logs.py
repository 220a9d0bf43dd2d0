"""Issue 16, "bounded task logs": a task's stdout/stderr are rotated in its
sandbox at --task_log_max_size keeping --task_log_files older copies
(stdout, stdout.1, ...), /files/read reads the current file, and a task
that writes fast is never held up (nor is the slave's loop)."""
import os
import threading
import time

import pytest
import requests

from agora_harness import SchedulerClient, sandbox_of, task_info, wait_for
from test_docker import DOCKER_ARGS, dcluster, docker_task  # noqa: F401 (fixture)

MB = 1024 * 1024
TOTAL = 50 * MB
MAX_SIZE = 1 * MB
FILES = 2
LOG_FLAGS = [f"--task_log_max_size={MAX_SIZE // MB}MB", f"--task_log_files={FILES}"]
# 50 MB of 64-byte lines, then the marker: the newest line of the log.
WRITER = (f"yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01 | "
          f"head -c {TOTAL}; echo; echo LAST-LINE-MARKER; echo err-marker >&2")


class LoopLatency:
    """GET /health of a daemon in a loop on a thread: the worst latency
    seen (the slave's loop stalled by log writing would show here)."""

    def __init__(self, url):
        self.url = url
        self.worst = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                requests.get(self.url + "/health", timeout=10)
            except requests.RequestException:
                pass
            self.worst = max(self.worst, time.monotonic() - t0)
            time.sleep(0.05)

    def close(self):
        self.stop.set()
        self.thread.join(15)
        return self.worst


def files_read_tail(slave, path, n=4096):
    r = requests.get(slave.url + "/files/read", params={"path": path}, timeout=5)
    r.raise_for_status()
    size = r.json()["offset"]
    r = requests.get(slave.url + "/files/read",
                     params={"path": path, "offset": max(0, size - n), "length": n}, timeout=5)
    r.raise_for_status()
    return r.json()["data"]


def run_writer(cluster, slave, task):
    fw = SchedulerClient(cluster.master.url, name="task-logs")
    fw.subscribe()
    offer = fw.next_offers()[0]
    task = task(offer["agent_id"])
    lat = LoopLatency(slave.url)
    t0 = time.monotonic()
    try:
        fw.launch(offer, [task])
        st = fw.wait_update(task["task_id"]["value"],
                            ["TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST"],
                            timeout=120)
    finally:
        worst = lat.close()
    took = time.monotonic() - t0
    assert st["state"] == "TASK_FINISHED", st
    print(f"\n50 MB to stdout in {took:.1f}s; worst slave /health latency {worst * 1000:.0f} ms")
    assert worst < 2.0, f"the slave's loop stalled {worst:.2f}s while the task wrote"
    fw.close()
    return task["task_id"]["value"]


def check_sandbox(slave, task_id):
    sandbox = sandbox_of(slave, task_id)
    names = sorted(n for n in os.listdir(sandbox) if n.startswith("stdout"))
    assert names == ["stdout", "stdout.1", "stdout.2"], names
    sizes = {n: os.path.getsize(os.path.join(sandbox, n)) for n in names}
    total = sum(sizes.values())
    print(f"sandbox stdout files: {sizes} ({total / MB:.2f} MB)")
    assert total <= (FILES + 1) * MAX_SIZE, sizes
    assert all(v <= MAX_SIZE for v in sizes.values()), sizes
    tail = files_read_tail(slave, sandbox + "/stdout")
    assert tail.endswith("LAST-LINE-MARKER\n"), tail[-200:]
    assert "err-marker" in files_read_tail(slave, sandbox + "/stderr")
    # The older copies hold the writer's lines too (rotation kept them).
    with open(os.path.join(sandbox, "stdout.2")) as f:
        assert "0123456789abcdefghij" in f.read(256)


def test_process_task_stdout_rotated(cluster):
    cluster.start_master("--allocation_interval=100ms")
    slave = cluster.add_slave(*LOG_FLAGS)
    cluster.wait_slaves(1)
    tid = run_writer(cluster, slave, lambda aid: task_info("writer", aid, WRITER))
    check_sandbox(slave, tid)


def test_bad_log_flags_refused(cluster):
    """A bad value stops the slave at start with a message naming the flag."""
    cluster.start_master()
    for bad, field in (("--task_log_files=-1", "--task_log_files"),
                       ("--task_log_max_size=100B", "--task_log_max_size")):
        with pytest.raises(AssertionError) as e:
            cluster.add_slave(bad)
        assert "exited with" in str(e.value) and field in str(e.value), str(e.value)[-500:]


def test_docker_task_stdout_rotated(dcluster):
    dcluster.start_master("--allocation_interval=100ms")
    slave = dcluster.add_slave(*(DOCKER_ARGS + LOG_FLAGS))
    dcluster.wait_slaves(1)
    tid = run_writer(dcluster, slave, lambda aid: docker_task("dwriter", aid, WRITER))
    check_sandbox(slave, tid)


def test_process_task_logs_survive_slave_restart(cluster):
    """The monitor, not the slave, holds a process task's pipes: a kill -9
    of the slave neither stops the task's output (no SIGPIPE) nor loses
    it, and rotation goes on while the slave is down."""
    cluster.start_master("--allocation_interval=100ms")
    slave = cluster.add_slave("--task_log_max_size=4KB", "--task_log_files=1")
    cluster.wait_slaves(1)
    fw = SchedulerClient(cluster.master.url, name="task-logs-restart", failover_timeout=300)
    fw.subscribe()
    offer = fw.next_offers()[0]
    fw.launch(offer, [task_info("chatty", offer["agent_id"],
                                "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.005; done")])
    fw.wait_update("chatty", "TASK_RUNNING")
    sandbox = sandbox_of(slave, "chatty")
    wait_for(lambda: os.path.exists(os.path.join(sandbox, "stdout.1")), 20,
             what="a first rotation")
    slave.kill9()

    def last_line():
        with open(os.path.join(sandbox, "stdout")) as f:
            lines = f.read().split("\n")
        return next((int(ln[5:]) for ln in reversed(lines) if ln.startswith("line-")), -1)

    n0 = last_line()
    wait_for(lambda: last_line() > n0 + 50, 10, what="output going on with the slave down")
    slave.start()
    wait_for(lambda: cluster.task("chatty") and cluster.task("chatty")["state"] == "TASK_RUNNING"
             and files_read_tail(slave, sandbox + "/stdout", 200).rstrip().split("\n")[-1]
             .startswith("line-"), 20, what="the task running and its log read after the restart")
    n1 = last_line()
    wait_for(lambda: last_line() > n1 + 50, 10, what="output going on after the restart")
    assert sorted(n for n in os.listdir(sandbox) if n.startswith("stdout")) == \
        ["stdout", "stdout.1"]
    assert os.path.getsize(os.path.join(sandbox, "stdout")) <= 4096
    fw.close()
