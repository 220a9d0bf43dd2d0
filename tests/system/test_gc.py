"""Garbage collection of finished tasks' sandboxes on the slave (issue 16):
--gc_delay, --disk_watch_interval and --gc_disk_headroom as Mesos' agent
has them. Finished sandboxes (with their executor directories and
checkpoints) go after the delay, running ones stay, the count is in
/metrics, /files says "garbage-collected"; a slave restarted mid-schedule
still collects; a filling disk makes collection early."""
import os
import re
import subprocess

import requests

from agora_harness import SchedulerClient, task_info, wait_for

MASTER_FLAGS = ("--allocation_interval=100ms",)


def metric(slave, name):
    text = requests.get(slave.url + "/metrics", timeout=5).text
    m = re.search(r"^%s(?:\{[^}]*\})? ([0-9.e+-]+)$" % re.escape(name), text, re.M)
    assert m, f"{name} not in /metrics:\n{text}"
    return float(m.group(1))


def slave_state(slave):
    return requests.get(slave.url + "/state", timeout=5).json()


def directories(slave):
    """{task id: sandbox} of the slave's running and completed tasks."""
    st = slave_state(slave)
    out = {}
    for fw in st["frameworks"] + st["completed_frameworks"]:
        for ex in fw["executors"] + fw["completed_executors"]:
            out[ex["id"]] = ex["directory"]
    return out


def retired(slave, ids):
    """The sandboxes of tasks ids once the slave has retired them all."""
    st = slave_state(slave)
    done = {ex["id"]: ex["directory"] for fw in st["frameworks"] + st["completed_frameworks"]
            for ex in fw["completed_executors"]}
    return {t: done[t] for t in ids} if all(t in done for t in ids) else None


def run_tasks(fw, tasks, want):
    """Launch [(task_id, cmd)] on the next offer and wait for the states in want."""
    offer = fw.next_offers(timeout=20)[0]
    fw.launch(offer, [task_info(tid, offer["agent_id"], cmd, cpus=0.02, mem=8)
                      for tid, cmd in tasks], refuse_seconds=0)
    return fw.wait_updates(want, timeout=60)


def start(cluster, *slave_flags, work_dir=None):
    cluster.start_master(*MASTER_FLAGS)
    slave = cluster.add_slave(*slave_flags)
    wait_for(lambda: slave_state(slave)["id"], 20, what="slave registered")
    fw = SchedulerClient(cluster.master.url, name="test-gc")
    fw.subscribe()
    return slave, fw


def test_gc_removes_finished_sandboxes_keeps_running(cluster):
    slave, fw = start(cluster, "--gc_delay=2secs")
    ids = [f"short-{i}" for i in range(50)]
    tasks = [(t, "echo out; echo err >&2") for t in ids] + [("sleeper", "sleep 600")]
    want = {t: "TASK_FINISHED" for t in ids}
    want["sleeper"] = "TASK_RUNNING"
    run_tasks(fw, tasks, want)
    sandboxes = wait_for(lambda: retired(slave, ids), 10, what="50 tasks retired")
    running = directories(slave)["sleeper"]
    assert os.path.isdir(running)
    fw_id = fw.framework_id
    meta = os.path.join(slave.work_dir, "meta", "frameworks", fw_id, "tasks")

    # Gone within 10 s of finishing: sandbox, executor directory, checkpoint.
    wait_for(lambda: not any(os.path.exists(d) for d in sandboxes.values()), 10,
             what="the 50 finished sandboxes removed")
    # Counted (and their parents removed) once the worker is reaped.
    wait_for(lambda: metric(slave, "agora_slave_gc_sandboxes_collected_total") == 50, 5,
             what="50 collected in /metrics")
    for tid, d in sandboxes.items():
        executor_dir = os.path.dirname(os.path.dirname(d))
        assert os.path.basename(executor_dir) == tid
        assert not os.path.exists(executor_dir), executor_dir
        assert not os.path.exists(os.path.join(meta, tid))
    assert metric(slave, "agora_slave_gc_sandboxes_scheduled") == 0
    log = open(slave.log_path).read()  # (rate-limited: not every line is there)
    assert "gc: removed sandbox " in log and re.search(r"gc: removed \d+ of \d+ sandboxes", log)

    # The running task's sandbox is untouched, 2 s past the delay too.
    assert os.path.isdir(running) and os.path.exists(os.path.join(running, "stdout"))
    assert os.path.isdir(os.path.join(meta, "sleeper"))
    assert requests.get(slave.url + "/files/browse", params={"path": running},
                        timeout=5).status_code == 200

    # /files of a collected sandbox: 404 saying so; of one that never was: 404.
    gone = sandboxes["short-7"]
    for endpoint, path in (("browse", gone), ("read", gone + "/stdout")):
        r = requests.get(f"{slave.url}/files/{endpoint}", params={"path": path, "offset": 0},
                         timeout=5)
        assert r.status_code == 404, r.text
        assert "garbage-collected" in r.json()["message"], r.text
    r = requests.get(slave.url + "/files/browse", params={"path": gone + "-never"}, timeout=5)
    assert r.status_code == 404 and "garbage-collected" not in r.text, r.text


def test_gc_schedule_survives_slave_restart(cluster):
    slave, fw = start(cluster, "--gc_delay=10secs")
    ids = [f"before-restart-{i}" for i in range(10)]
    run_tasks(fw, [(t, "true") for t in ids], {t: "TASK_FINISHED" for t in ids})
    sandboxes = wait_for(lambda: retired(slave, ids), 10, what="10 tasks retired")
    max_age = metric(slave, "agora_slave_gc_max_age_seconds")
    assert 0 < max_age <= 10
    # Mid-schedule: stop the slave before the delay is over.
    slave.stop()
    assert all(os.path.isdir(d) for d in sandboxes.values()), "collected before the restart"
    slave.start()
    wait_for(lambda: not any(os.path.exists(d) for d in sandboxes.values()), max_age + 10,
             what="sandboxes removed by the restarted slave")
    wait_for(lambda: metric(slave, "agora_slave_gc_sandboxes_collected_total") == 10, 5,
             what="10 collected in /metrics")
    log = open(slave.log_path).read()
    assert "gc: 10 sandboxes of finished tasks found" in log, log[-3000:]


def test_gc_early_when_the_disk_fills(cluster, tmp_path):
    """A 4 MB tmpfs work_dir, --gc_delay=1weeks: a finished task's sandbox
    stays while the disk is nearly empty; once a task fills 90 % of it,
    the allowed age drops to 0 and both go at the next disk check."""
    mnt = str(tmp_path / "tiny")
    os.makedirs(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt], check=True)
    try:
        cluster.start_master(*MASTER_FLAGS)
        slave = cluster.add_slave("--gc_delay=1weeks", "--disk_watch_interval=1secs",
                                  f"--work_dir={mnt}/slave")
        wait_for(lambda: slave_state(slave)["id"], 20, what="slave registered")
        fw = SchedulerClient(cluster.master.url, name="test-gc-disk")
        fw.subscribe()
        run_tasks(fw, [("small", "echo hello")], {"small": "TASK_FINISHED"})
        small = wait_for(lambda: retired(slave, ["small"]), 10, what="small retired")["small"]
        assert metric(slave, "agora_slave_gc_max_age_seconds") > 5 * 86400
        run_tasks(fw, [("filler", "head -c 3900000 /dev/zero > fill")],
                  {"filler": "TASK_FINISHED"})
        filler = wait_for(lambda: retired(slave, ["filler"]), 10, what="filler retired")["filler"]
        assert os.path.isdir(small)
        wait_for(lambda: not os.path.exists(small) and not os.path.exists(filler), 10,
                 what="both sandboxes removed early")
        wait_for(lambda: metric(slave, "agora_slave_gc_sandboxes_collected_total") == 2, 5,
                 what="2 collected in /metrics")
        # With the disk free again the sandboxes are kept long again.
        wait_for(lambda: metric(slave, "agora_slave_gc_max_age_seconds") > 5 * 86400, 5,
                 what="max age back up")
    finally:
        cluster.shutdown()
        subprocess.run(["umount", "-l", mnt], check=False)
