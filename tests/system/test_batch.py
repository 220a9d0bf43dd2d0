"""agora-batch end to end: one agora-master, three agora-slaves, 500 tasks
through the C scheduler library, plus the failure exit code and the
tutorial's agora-minimal."""
import os
import re
import subprocess

import pytest
import requests

from agora_harness import BIN

SLAVES = 3
BATCH_DEADLINE = 180

SUMMARY = re.compile(r"agora-batch: (\d+) tasks: (\d+) finished, (\d+) failed, (\d+) lost in "
                     r"([0-9.]+) s \(([0-9.]+) tasks/s\)")


@pytest.fixture
def batch_cluster(cluster):
    cluster.start_master()
    for _ in range(SLAVES):
        cluster.add_slave()
    cluster.wait_slaves(SLAVES)
    return cluster


def master_addr(cluster):
    return f"127.0.0.1:{cluster.master.port}"


def run_batch(cluster, *args, deadline=BATCH_DEADLINE):
    argv = [os.path.join(BIN, "agora-batch"), f"--master={master_addr(cluster)}", *args,
            f"--timeout={int(deadline)}secs"]
    # The framework's own --timeout ends it cleanly (teardown); the
    # subprocess timeout is only the last resort.
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=deadline + 30, start_new_session=True)
    return (proc.returncode, proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"))


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS")


def test_batch_500_tasks(batch_cluster):
    rc, out, err = run_batch(batch_cluster, "--tasks=500", "--cmd=true",
                             "--cpus=0.1", "--mem=16")
    print(out)
    m = SUMMARY.search(out)
    assert m, f"no summary line in stdout: {out!r}\n{err[-4000:]}"
    total, finished, failed, lost = (int(m.group(i)) for i in range(1, 5))
    assert (total, finished, failed, lost) == (500, 500, 0, 0), m.group(0)
    assert rc == 0
    # Its end is clean: no call after TEARDOWN (acknowledgements of the
    # last updates would be refused with 403).
    assert "refused" not in err, err[-3000:]
    # The master knows all 500 as finished...
    state = batch_cluster.state()
    fws = state["frameworks"] + state.get("completed_frameworks", [])
    done = sum(1 for f in fws for t in f.get("completed_tasks", [])
               if t["state"] == "TASK_FINISHED")
    assert done == 500, f"master lists {done} finished tasks"
    # ...and /metrics says where a launch's time went (issue 14): every
    # launch's slave round trip observed, the loop lag sampled, no stream
    # backlog left once the run is over.
    text = requests.get(batch_cluster.master.url + "/metrics").text
    assert metric(text, "agora_master_run_task_to_running_ms_count") == 500, text
    assert metric(text, 'agora_master_run_task_to_running_ms{quantile="0.5"}') > 0
    assert metric(text, "agora_master_loop_lag_ms_count") > 0
    assert metric(text, "agora_master_slave_streams_pending_bytes") == 0
    assert metric(text, "agora_master_framework_stream_pending_max_bytes") == 0
    # ...and the slaves sent the updates of a loop turn together: the
    # tasks of one offer start together, so their TASK_RUNNING share calls.
    updates = metric(text, "agora_master_status_updates_total")
    calls = metric(text, "agora_master_status_update_calls_total")
    print(f"{updates:.0f} status updates in {calls:.0f} calls")
    assert updates >= 1000 and calls < 0.75 * updates, (updates, calls)
    # ...and stays small: 3 slaves and 500 tasks in well under 50 MB.
    pid = batch_cluster.master.proc.pid
    rss = rss_mb(pid)
    print(f"master RSS after 500 tasks: {rss:.1f} MB")
    with open(f"/proc/{pid}/maps") as f:
        sanitized = "libasan" in f.read()   # shadow memory inflates RSS
    if not sanitized:
        assert rss < 50


def test_batch_failed_tasks_exit_1(batch_cluster):
    rc, out, err = run_batch(batch_cluster, "--tasks=5", "--cmd=exit 3",
                             "--cpus=0.1", "--mem=16", "--name=failing", deadline=60)
    m = SUMMARY.search(out)
    assert m, f"no summary line in stdout: {out!r}\n{err[-2000:]}"
    assert int(m.group(2)) == 0 and int(m.group(3)) == 5, m.group(0)
    assert rc == 1


def test_minimal(batch_cluster):
    proc = subprocess.run([os.path.join(BIN, "agora-minimal"), master_addr(batch_cluster),
                           "echo hi"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                          start_new_session=True)
    out = proc.stdout.decode(errors="replace")
    assert "is TASK_FINISHED" in out, out + proc.stderr.decode(errors="replace")[-2000:]
    assert proc.returncode == 0
