"""System tests of agora-slave, on the shared harness (agora_harness and
the `cluster` fixture: --port=0 --port_file, deadlines instead of sleeps,
every daemon and task process reaped at teardown, logs of a failed test
printed).

Standalone (no master there): /state, /health, /metrics, /files
confinement, flag errors. With a real agora-master: tasks end to end
through the scheduler API (environment, sandbox, exec failure); a slave
killed with -9 and restarted re-adopts its running task, which can still be
killed; tasks that exit while the slave is down are reported once it is
back.
"""
import os
import socket
import subprocess

import requests

from agora_harness import SchedulerClient, binary, task_info, task_pids, wait_for

MASTER_FLAGS = ("--allocation_interval=100ms", "--slave_ping_timeout=1secs",
                "--max_slave_ping_timeouts=10")
SLAVE_FLAGS = ("--executor_shutdown_grace_period=2secs",)
TERMINAL = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR")


def unused_port():
    """A port nobody listens on (for a master that is not there)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def slave_state(slave):
    return requests.get(slave.url + "/state", timeout=5).json()


def slave_task(slave, task_id):
    """The slave's own view of task_id: every match, to catch duplicates."""
    return [t for fw in slave_state(slave)["frameworks"] for ex in fw["executors"]
            for t in ex["tasks"] if t["id"] == task_id]


def gone(pid):
    """The process is gone (or a zombie its parent has yet to reap)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] in "ZX"
    except OSError:
        return True


def start(cluster):
    """A master, one registered slave and a subscribed framework."""
    cluster.start_master(*MASTER_FLAGS)
    slave = cluster.add_slave(*SLAVE_FLAGS)
    wait_for(lambda: slave_state(slave)["id"], 20, what="slave registered")
    fw = SchedulerClient(cluster.master.url, name="test-slave-framework",
                         capabilities=["TASK_KILLING_STATE"])
    fw.subscribe()
    return slave, fw


def launch(fw, *tasks):
    """Launch tasks [(task_id, cmd, extra TaskInfo fields)] on the next offer."""
    offer = fw.next_offers()[0]
    fw.launch(offer, [task_info(tid, offer["agent_id"], cmd, **extra)
                      for tid, cmd, extra in tasks], refuse_seconds=0)
    return offer


# ---------------------------------------------------------------- standalone


def test_state_without_master(cluster):
    slave = cluster.add_slave("--attributes=rack:a;zone:b;weight:2.5",
                              resources="cpus:3;mem:1024;ports:[31000-31010]",
                              master="127.0.0.1:%d" % unused_port())
    state = slave_state(slave)
    assert state["id"] == ""                      # not registered yet
    assert state["hostname"] == "slave0"          # --hostname
    assert state["frameworks"] == []
    assert state["completed_frameworks"] == []
    res = state["resources"]
    assert res["cpus"] == 3
    assert res["mem"] == 1024
    assert res["disk"] > 0                        # detected from the work_dir
    assert res["ports"] == "[31000-31010]"
    assert state["attributes"] == {"rack": "a", "zone": "b", "weight": 2.5}
    assert requests.get(slave.url + "/health", timeout=5).status_code == 200
    metrics = requests.get(slave.url + "/metrics", timeout=5).text
    assert "agora_slave_registered 0" in metrics


def test_files_confinement(cluster):
    slave = cluster.add_slave(master="127.0.0.1:%d" % unused_port())
    sandbox = os.path.join(slave.work_dir, "slaves", "S0", "frameworks", "F", "executors", "t",
                           "runs", "c")
    os.makedirs(sandbox)
    with open(os.path.join(sandbox, "stdout"), "w") as f:
        f.write("hello sandbox\n")
    os.symlink("/etc/passwd", os.path.join(sandbox, "escape"))

    r = requests.get(slave.url + "/files/read",
                     params={"path": os.path.join(sandbox, "stdout"), "offset": 0}, timeout=5)
    assert r.status_code == 200
    assert r.json() == {"data": "hello sandbox\n", "offset": 0}
    r = requests.get(slave.url + "/files/read",
                     params={"path": os.path.join(sandbox, "stdout"), "offset": 6, "length": 3},
                     timeout=5)
    assert r.json() == {"data": "san", "offset": 6}
    # offset -1: the size only, as Mesos
    r = requests.get(slave.url + "/files/read",
                     params={"path": os.path.join(sandbox, "stdout"), "offset": -1}, timeout=5)
    assert r.json() == {"data": "", "offset": 14}
    r = requests.get(slave.url + "/files/browse", params={"path": sandbox}, timeout=5)
    assert r.status_code == 200
    assert sorted(os.path.basename(e["path"]) for e in r.json()) == ["escape", "stdout"]

    outside = [
        "/etc/passwd",
        os.path.join(sandbox, "..", "..", "..", "..", "..", "..", "..", "..", "etc", "passwd"),
        os.path.join(slave.work_dir, "slaves", "..", "meta"),
        os.path.join(slave.work_dir, "slaves"),     # the root itself is no sandbox
        os.path.join(sandbox, "escape"),            # symlink out of the sandbox
    ]
    for path in outside:
        for ep in ("/files/read", "/files/browse", "/files/download"):
            r = requests.get(slave.url + ep, params={"path": path, "offset": 0}, timeout=5)
            assert r.status_code in (403, 404), (ep, path, r.status_code, r.text)
            assert "root:" not in r.text
    r = requests.get(slave.url + "/files/read",
                     params={"path": os.path.join(sandbox, "nope"), "offset": 0}, timeout=5)
    assert r.status_code == 404
    r = requests.get(slave.url + "/files/read", params={"offset": 0}, timeout=5)
    assert r.status_code == 400
    assert "path" in r.json()["message"]

    # /files/download (Mesos's): the bytes themselves, sent from the file
    # (past /files/read's 4 MB page), a directory refused.
    big = os.urandom(6 * 1024 * 1024)
    with open(os.path.join(sandbox, "big.bin"), "wb") as f:
        f.write(big)
    r = requests.get(slave.url + "/files/download",
                     params={"path": os.path.join(sandbox, "big.bin")}, timeout=10)
    assert r.status_code == 200 and r.content == big
    assert r.headers["Content-Type"] == "application/octet-stream"
    r = requests.get(slave.url + "/files/download", params={"path": sandbox}, timeout=5)
    assert r.status_code == 400 and "path" in r.json()["message"]


def test_flag_errors(tmp_path):
    slave = binary("agora-slave")
    work_dir = "--work_dir=%s" % tmp_path
    out = subprocess.run([slave, work_dir], capture_output=True, text=True, timeout=10)
    assert out.returncode != 0
    assert "--master" in out.stdout + out.stderr
    out = subprocess.run([slave, work_dir, "--master=zk://127.0.0.1:2181"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode != 0
    assert "--master" in out.stdout + out.stderr and "path" in out.stdout + out.stderr
    out = subprocess.run([slave, work_dir, "--master=127.0.0.1:5050", "--isolation=bogus"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode != 0
    assert "--isolation" in out.stdout + out.stderr
    out = subprocess.run([slave, work_dir, "--master=127.0.0.1:5050",
                          "--allowed_host_paths=/srv,data"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode != 0
    assert "--allowed_host_paths: 'data' is not an absolute path" in out.stdout + out.stderr


# ------------------------------------------------------- with a real master


def test_task_end_to_end_survives_slave_restart(cluster):
    """kill -9 of the slave: the task outlives it; the restarted slave
    re-registers and re-adopts the same process (no duplicate), the master
    still has it running, and it can still be killed."""
    slave, fw = start(cluster)
    offer = launch(fw, ("sleeper-1", "sleep 1000", {}))
    fw.wait_update("sleeper-1", "TASK_RUNNING")
    tasks = slave_task(slave, "sleeper-1")
    assert len(tasks) == 1 and tasks[0]["state"] == "TASK_RUNNING"
    pid = tasks[0]["pid"]
    assert pid > 0
    os.kill(pid, 0)
    pids = wait_for(lambda: task_pids(slave.work_dir, "sleeper-1"), what="task process")
    assert len(pids) == 1

    slave.kill9()
    os.kill(pid, 0)                      # the task outlives the slave
    slave.start()
    wait_for(lambda: slave_state(slave)["registration_state"] == "REGISTERED", 30,
             what="slave re-registered")
    tasks = slave_task(slave, "sleeper-1")
    assert len(tasks) == 1, tasks        # no duplicate
    assert tasks[0]["state"] == "TASK_RUNNING"
    assert tasks[0]["pid"] == pid        # the same process, re-adopted
    assert task_pids(slave.work_dir, "sleeper-1") == pids
    wait_for(lambda: [s for s in cluster.state()["slaves"] if s["active"]], 15,
             what="master sees the slave active")
    assert cluster.task("sleeper-1")["state"] == "TASK_RUNNING"

    fw.call({"type": "KILL", "kill": {"task_id": {"value": "sleeper-1"},
                                      "agent_id": offer["agent_id"]}})
    fw.wait_update("sleeper-1", "TASK_KILLING")
    fw.wait_update("sleeper-1", "TASK_KILLED")
    wait_for(lambda: gone(pid), 10, what="task process gone")
    wait_for(lambda: not task_pids(slave.work_dir, "sleeper-1"), what="task process gone")


def test_task_exits_while_slave_is_down(cluster):
    """The monitor records each exit; the restarted slave reports it (a
    failure with its exit status, and a success)."""
    slave, fw = start(cluster)
    flag = os.path.join(cluster.tmp, "go")
    wait = "while [ ! -e %s ]; do sleep 0.1; done; " % flag
    launch(fw, ("short-1", wait + "exit 7", {}), ("quitter", wait + "exit 0", {}))
    fw.wait_updates({"short-1": "TASK_RUNNING", "quitter": "TASK_RUNNING"})
    pids = [slave_task(slave, t)[0]["pid"] for t in ("short-1", "quitter")]
    slave.kill9()
    open(flag, "w").close()
    wait_for(lambda: not any(os.path.exists("/proc/%d" % p) for p in pids), 10,
             what="tasks exit")
    slave.start()
    done = fw.wait_updates({"short-1": TERMINAL, "quitter": TERMINAL}, timeout=30)
    assert done["short-1"]["state"] == "TASK_FAILED"
    assert done["short-1"]["message"] == "Command exited with status 7"
    assert done["quitter"]["state"] == "TASK_FINISHED"


def test_failed_exec_and_environment(cluster):
    slave, fw = start(cluster)
    cmd = 'echo "$MESOS_TASK_ID $MESOS_SANDBOX $FOO"'
    launch(fw, ("env-1", cmd, {"command": {
        "value": cmd, "environment": {"variables": [{"name": "FOO", "value": "bar"}]}}}))
    fw.wait_update("env-1", "TASK_FINISHED")
    state = slave_state(slave)
    ex = [e for f in state["frameworks"] + state["completed_frameworks"]
          for e in f["completed_executors"] if e["id"] == "env-1"][0]
    r = requests.get(slave.url + "/files/read",
                     params={"path": ex["directory"] + "/stdout", "offset": 0}, timeout=5)
    assert r.json()["data"] == "env-1 %s bar\n" % ex["directory"]

    launch(fw, ("bad-1", "x", {"command": {"value": "/nonexistent/binary", "shell": False}}))
    st = fw.wait_update("bad-1", "TASK_FAILED")
    assert "/nonexistent/binary" in st["message"]
