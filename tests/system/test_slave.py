"""System tests of agora-slave.

Standalone (no master needed): /state, /health, /metrics, /files
confinement, flag errors. With agora-master built next to the slave: a
task run end to end through the scheduler API, surviving a kill -9 of the
slave, then killed.

Binaries come from $AGORA_BUILD_DIR (a build directory or its bin/),
default /work/main/build/bin. Every daemon binds --port=0 and reports its
port through --port_file; waits have deadlines, never fixed sleeps for
readiness. Teardown kills every process started here, task process
groups and monitors included.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import queue
import time

import pytest
import requests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# A build directory (binaries in its bin/) or the bin/ directory itself.
BUILD = os.environ.get("AGORA_BUILD_DIR", os.path.join(REPO, "build"))


def binary(name):
    for cand in (os.path.join(BUILD, name), os.path.join(BUILD, "bin", name)):
        if os.access(cand, os.X_OK):
            return cand
    return None


SLAVE = binary("agora-slave")
MASTER = binary("agora-master")

pytestmark = pytest.mark.skipif(SLAVE is None, reason="agora-slave not built in %s" % BUILD)


def wait_until(fn, timeout=15.0, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (requests.RequestException, OSError, ValueError, KeyError, IndexError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def free_port():
    """A port nobody listens on (for a master that is not there)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    def __init__(self, argv, tmp, name):
        self.argv = argv
        self.name = name
        self.port_file = os.path.join(tmp, name + ".port")
        self.log_path = os.path.join(tmp, name + ".log")
        self.proc = None
        self.port = None

    def start(self, timeout=15.0):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv + ["--port=0", "--port_file=" + self.port_file],
                                     stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()

        def port():
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %s: %s" % (self.name, self.proc.returncode,
                                                                self.log()))
            with open(self.port_file) as f:
                text = f.read().strip()
            return int(text) if text else None
        self.port = wait_until(port, timeout, what=self.name + " port file")
        return self

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def kill_leftover_tasks(work_dir):
    """SIGKILL task process groups and monitors still recorded in meta/."""
    meta = os.path.join(work_dir, "meta", "frameworks")
    for root, _dirs, files in os.walk(meta):
        for name in ("task.pid", "monitor.pid"):
            if name in files:
                try:
                    pid = int(open(os.path.join(root, name)).read().strip())
                    os.killpg(pid, signal.SIGKILL)
                except (ValueError, OSError):
                    pass


@pytest.fixture
def tmp(request):
    d = tempfile.mkdtemp(prefix="agora-slave-test-")
    failed_before = request.session.testsfailed
    yield d
    if request.session.testsfailed > failed_before:
        # Keep the daemons' logs of a failed test.
        print("\nlogs kept in %s" % d)
        for name in sorted(os.listdir(d)):
            if name.endswith(".log"):
                with open(os.path.join(d, name), errors="replace") as f:
                    print("----- %s (tail)\n%s" % (name, f.read()[-3000:]))
        return
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def daemons(tmp):
    started = []
    yield started
    for d in reversed(started):
        d.kill9()
    kill_leftover_tasks(os.path.join(tmp, "slave"))
    for d in started:
        if hasattr(d, "task_pgids"):
            for pgid in d.task_pgids:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except OSError:
                    pass


def start_slave(tmp, daemons, master_port, *extra):
    argv = [SLAVE, "--master=127.0.0.1:%d" % master_port,
            "--work_dir=" + os.path.join(tmp, "slave"), "--log_level=debug",
            "--hostname=localhost", "--executor_shutdown_grace_period=2secs"] + list(extra)
    d = Daemon(argv, tmp, "slave")
    d.task_pgids = []
    daemons.append(d)
    return d.start()


# ---------------------------------------------------------------- standalone


def test_state_without_master(tmp, daemons):
    slave = start_slave(tmp, daemons, free_port(), "--attributes=rack:a;zone:b;weight:2.5",
                        "--resources=cpus:3;mem:1024;ports:[31000-31010]")
    state = requests.get(slave.url + "/state", timeout=5).json()
    assert state["id"] == ""                      # not registered yet
    assert state["hostname"] == "localhost"
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


def test_files_confinement(tmp, daemons):
    slave = start_slave(tmp, daemons, free_port())
    sandbox = os.path.join(tmp, "slave", "slaves", "S0", "frameworks", "F", "executors", "t",
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
        os.path.join(tmp, "slave", "slaves", "..", "meta"),
        os.path.join(tmp, "slave", "slaves"),      # the root itself is no sandbox
        os.path.join(sandbox, "escape"),            # symlink out of the sandbox
    ]
    for path in outside:
        for ep in ("/files/read", "/files/browse"):
            r = requests.get(slave.url + ep, params={"path": path, "offset": 0}, timeout=5)
            assert r.status_code in (403, 404), (ep, path, r.status_code, r.text)
            assert "root:" not in r.text
    r = requests.get(slave.url + "/files/read",
                     params={"path": os.path.join(sandbox, "nope"), "offset": 0}, timeout=5)
    assert r.status_code == 404
    r = requests.get(slave.url + "/files/read", params={"offset": 0}, timeout=5)
    assert r.status_code == 400
    assert "path" in r.json()["message"]


def test_flag_errors(tmp):
    out = subprocess.run([SLAVE, "--work_dir=" + tmp], capture_output=True, text=True, timeout=10)
    assert out.returncode != 0
    assert "--master" in out.stdout + out.stderr
    out = subprocess.run([SLAVE, "--work_dir=" + tmp, "--master=zk://127.0.0.1:2181/agora"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode != 0
    assert "not yet supported" in out.stdout + out.stderr
    out = subprocess.run([SLAVE, "--work_dir=" + tmp, "--master=127.0.0.1:5050",
                          "--isolation=bogus"], capture_output=True, text=True, timeout=10)
    assert out.returncode != 0
    assert "--isolation" in out.stdout + out.stderr


# ------------------------------------------------------- with a real master


class Scheduler:
    """A minimal Mesos v1 JSON scheduler: SUBSCRIBE stream in a thread."""

    def __init__(self, master_url, name="test-slave-framework"):
        self.url = master_url + "/api/v1/scheduler"
        self.events = queue.Queue()
        self.framework_id = None
        self.stream_id = None
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {
            "user": "root", "name": name,
            "capabilities": [{"type": "TASK_KILLING_STATE"}]}}}
        self.resp = requests.post(self.url, json=body, stream=True, timeout=10,
                                  headers={"Accept": "application/json"})
        assert self.resp.status_code == 200, self.resp.text
        self.stream_id = self.resp.headers["Mesos-Stream-Id"]
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        ev = self.next_event("SUBSCRIBED")
        self.framework_id = ev["subscribed"]["framework_id"]["value"]

    def _read(self):
        raw = self.resp.raw
        try:
            while True:
                line = b""
                while not line.endswith(b"\n"):
                    c = raw.read(1)
                    if not c:
                        return
                    line += c
                n = int(line)
                data = b""
                while len(data) < n:
                    chunk = raw.read(n - len(data))
                    if not chunk:
                        return
                    data += chunk
                self.events.put(json.loads(data))
        except Exception:  # stream closed at teardown
            return

    def next_event(self, etype, timeout=30.0, pred=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                ev = self.events.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                break
            if ev.get("type") == "UPDATE":
                self.ack(ev["update"]["status"])
            if ev.get("type") == etype and (pred is None or pred(ev)):
                return ev
        raise AssertionError("no %s event within %.0fs" % (etype, timeout))

    def call(self, body):
        body["framework_id"] = {"value": self.framework_id}
        r = requests.post(self.url, json=body, timeout=10,
                          headers={"Mesos-Stream-Id": self.stream_id})
        assert r.status_code == 202, (body["type"], r.status_code, r.text)

    def ack(self, status):
        if "uuid" not in status:
            return
        self.call({"type": "ACKNOWLEDGE", "acknowledge": {
            "agent_id": status["agent_id"], "task_id": status["task_id"],
            "uuid": status["uuid"]}})

    def wait_state(self, task_id, state, timeout=30.0):
        return self.next_event("UPDATE", timeout, lambda ev: (
            ev["update"]["status"]["task_id"]["value"] == task_id and
            ev["update"]["status"]["state"] == state))

    def close(self):
        # Closing the response from here would wait for the reader thread's
        # blocked read; the stream ends when teardown kills the master.
        self.closed = True


def slave_task(slave, task_id):
    state = requests.get(slave.url + "/state", timeout=5).json()
    found = []
    for fw in state["frameworks"]:
        for ex in fw["executors"]:
            for t in ex["tasks"]:
                if t["id"] == task_id:
                    found.append(t)
    return found


@pytest.mark.skipif(MASTER is None, reason="agora-master not built in %s" % BUILD)
def test_task_end_to_end_survives_slave_restart(tmp, daemons):
    master = Daemon([MASTER, "--work_dir=" + os.path.join(tmp, "master"), "--log_level=debug",
                     "--allocation_interval=100ms", "--slave_ping_timeout=1secs",
                     "--max_slave_ping_timeouts=10"], tmp, "master")
    daemons.append(master)
    master.start()
    slave = start_slave(tmp, daemons, master.port)
    wait_until(lambda: requests.get(slave.url + "/state", timeout=5).json()["id"], 20,
               what="slave registered")
    sched = Scheduler(master.url)
    try:
        offers = sched.next_event("OFFERS")["offers"]["offers"]
        offer = offers[0]
        task_id = "sleeper-1"
        sched.call({"type": "ACCEPT", "accept": {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [{
                "name": "sleeper", "task_id": {"value": task_id},
                "agent_id": offer["agent_id"],
                "command": {"value": "sleep 1000"},
                "resources": [
                    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                    {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]}]}}]}})
        sched.wait_state(task_id, "TASK_RUNNING")
        tasks = slave_task(slave, task_id)
        assert len(tasks) == 1 and tasks[0]["state"] == "TASK_RUNNING"
        pid = tasks[0]["pid"]
        assert pid > 0
        slave.task_pgids.append(pid)
        os.kill(pid, 0)

        slave.kill9()
        os.kill(pid, 0)                      # the task outlives the slave
        slave.start()
        wait_until(lambda: requests.get(slave.url + "/state", timeout=5).json()
                   ["registration_state"] == "REGISTERED", 30, what="slave re-registered")
        tasks = slave_task(slave, task_id)
        assert len(tasks) == 1, tasks        # no duplicate
        assert tasks[0]["state"] == "TASK_RUNNING"
        assert tasks[0]["pid"] == pid        # the same process, re-adopted

        sched.call({"type": "KILL", "kill": {"task_id": {"value": task_id},
                                             "agent_id": offer["agent_id"]}})
        sched.wait_state(task_id, "TASK_KILLED")
        wait_until(lambda: not os.path.exists("/proc/%d" % pid) or
                   open("/proc/%d/stat" % pid).read().split(") ")[1][0] in "ZX",
                   10, what="task process gone")
    finally:
        sched.close()


def start_cluster(tmp, daemons):
    master = Daemon([MASTER, "--work_dir=" + os.path.join(tmp, "master"), "--log_level=debug",
                     "--allocation_interval=100ms", "--slave_ping_timeout=1secs",
                     "--max_slave_ping_timeouts=10"], tmp, "master")
    daemons.append(master)
    master.start()
    slave = start_slave(tmp, daemons, master.port)
    wait_until(lambda: requests.get(slave.url + "/state", timeout=5).json()["id"], 20,
               what="slave registered")
    return master, slave


def launch(sched, task_id, cmd, extra=None):
    offer = sched.next_event("OFFERS")["offers"]["offers"][0]
    task = {"name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
            "command": {"value": cmd},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]}
    task.update(extra or {})
    sched.call({"type": "ACCEPT", "accept": {
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
        "filters": {"refuse_seconds": 0}}})
    return offer


@pytest.mark.skipif(MASTER is None, reason="agora-master not built in %s" % BUILD)
def test_task_exits_while_slave_is_down(tmp, daemons):
    """The monitor records the exit; the restarted slave reports it."""
    _master, slave = start_cluster(tmp, daemons)
    sched = Scheduler(_master.url)
    try:
        flag = os.path.join(tmp, "go")
        launch(sched, "short-1", "while [ ! -e %s ]; do sleep 0.1; done; exit 7" % flag)
        sched.wait_state("short-1", "TASK_RUNNING")
        pid = slave_task(slave, "short-1")[0]["pid"]
        slave.task_pgids.append(pid)
        slave.kill9()
        open(flag, "w").close()
        wait_until(lambda: not os.path.exists("/proc/%d" % pid), 10, what="task exit")
        slave.start()
        ev = sched.wait_state("short-1", "TASK_FAILED")
        assert ev["update"]["status"]["message"] == "Command exited with status 7"
    finally:
        sched.close()


@pytest.mark.skipif(MASTER is None, reason="agora-master not built in %s" % BUILD)
def test_failed_exec_and_environment(tmp, daemons):
    master, slave = start_cluster(tmp, daemons)
    sched = Scheduler(master.url)
    try:
        launch(sched, "env-1", 'echo "$MESOS_TASK_ID $MESOS_SANDBOX $FOO"',
               {"command": {"value": 'echo "$MESOS_TASK_ID $MESOS_SANDBOX $FOO"',
                            "environment": {"variables": [{"name": "FOO", "value": "bar"}]}}})
        sched.wait_state("env-1", "TASK_FINISHED")
        state = requests.get(slave.url + "/state", timeout=5).json()
        ex = [e for f in state["frameworks"] + state["completed_frameworks"]
              for e in f["completed_executors"] if e["id"] == "env-1"][0]
        r = requests.get(slave.url + "/files/read",
                         params={"path": ex["directory"] + "/stdout", "offset": 0}, timeout=5)
        assert r.json()["data"] == "env-1 %s bar\n" % ex["directory"]

        launch(sched, "bad-1", "x", {"command": {"value": "/nonexistent/binary",
                                                 "shell": False}})
        ev = sched.wait_state("bad-1", "TASK_FAILED")
        assert "/nonexistent/binary" in ev["update"]["status"]["message"]
    finally:
        sched.close()
