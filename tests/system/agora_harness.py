"""Harness for Agora's system tests: start real daemons, wait for them with
deadlines, talk to them, and clean up everything they started.

Binaries come from $AGORA_BUILD_DIR/bin (default: <repo>/build/bin).
Daemons bind --port=0 and write --port_file, so tests never race for ports.
Logs of every daemon go to files in its work dir; a failed test prints them.
"""
import base64
import json
import os
import signal
import subprocess
import threading
import queue
import time

import requests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("AGORA_BUILD_DIR", os.path.join(REPO, "build"))
BIN = os.path.join(BUILD, "bin")


def wait_for(cond, timeout=10.0, interval=0.05, what="condition"):
    """Poll cond() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # the daemon may not answer yet
            last_exc = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                         + (f" (last error: {last_exc})" if last_exc else ""))


class Daemon:
    """One real agora-master or agora-slave process."""

    def __init__(self, binary, work_dir, args, env=None):
        self.binary = binary
        self.work_dir = work_dir
        self.args = list(args)
        self.env = env
        self.proc = None
        self.port = None
        self.starts = 0
        os.makedirs(work_dir, exist_ok=True)

    @property
    def port_file(self):
        return os.path.join(self.work_dir, "port")

    @property
    def log_path(self):
        return os.path.join(self.work_dir, f"log.{self.starts}")

    def start(self, timeout=15.0):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.starts += 1
        log = open(self.log_path, "w")
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        cmd = [os.path.join(BIN, self.binary), "--port=0",
               f"--port_file={self.port_file}", f"--work_dir={self.work_dir}",
               "--log_level=debug"] + self.args
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.binary} exited with {self.proc.returncode}:\n"
                                     + self.log())
            if not os.path.exists(self.port_file):
                return False
            with open(self.port_file) as f:
                txt = f.read().strip()
            return int(txt) if txt else False

        self.port = wait_for(ready, timeout, what=f"{self.binary} port file")
        return self

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def kill9(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout=10.0):
        if not self.alive():
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log(self):
        out = []
        for i in range(1, self.starts + 1):
            p = os.path.join(self.work_dir, f"log.{i}")
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    out.append(f"----- {self.binary} run {i} ({p}) -----\n" + f.read()[-20000:])
        return "\n".join(out)


def kill_sandbox_processes(root):
    """Kill task processes whose sandbox lies under root (tasks outlive a
    killed slave by design, so the tests reap them themselves)."""
    root = os.path.realpath(root)
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        for kv in env:
            if kv.startswith(b"MESOS_SANDBOX=") and \
                    os.path.realpath(kv[len(b"MESOS_SANDBOX="):].decode(errors="replace")).startswith(root):
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
                break


class Cluster:
    """A standalone master plus slaves, each in its own work dir under tmp."""

    def __init__(self, tmp):
        self.tmp = str(tmp)
        self.master = None
        self.slaves = []

    def start_master(self, *args):
        self.master = Daemon("agora-master", os.path.join(self.tmp, "master"), args).start()
        return self.master

    def add_slave(self, *args, resources="cpus:4;mem:4096;disk:10000;ports:[31000-32000]"):
        i = len(self.slaves)
        d = Daemon("agora-slave", os.path.join(self.tmp, f"slave{i}"),
                   [f"--master=127.0.0.1:{self.master.port}", f"--resources={resources}",
                    "--isolation=none", f"--hostname=slave{i}"] + list(args))
        d.start()
        self.slaves.append(d)
        return d

    def state(self):
        r = requests.get(self.master.url + "/master/state", timeout=5)
        r.raise_for_status()
        return r.json()

    def wait_slaves(self, n, timeout=20):
        return wait_for(lambda: len([s for s in self.state()["slaves"] if s["active"]]) >= n,
                        timeout, what=f"{n} active slaves")

    def daemons(self):
        return ([self.master] if self.master else []) + self.slaves

    def logs(self):
        return "\n".join(d.log() for d in self.daemons())

    def shutdown(self):
        for d in self.slaves + ([self.master] if self.master else []):
            d.stop()
        kill_sandbox_processes(self.tmp)


class SchedulerClient:
    """A minimal Mesos v1 scheduler API client over JSON, as a Python
    framework would use it: a SUBSCRIBE stream read on a thread, events
    queued, calls POSTed with the Mesos-Stream-Id."""

    def __init__(self, master_url, name="pytest", failover_timeout=None,
                 framework_id=None, capabilities=None):
        self.master_url = master_url
        self.framework_id = framework_id
        self.stream_id = None
        self.events = queue.Queue()
        self.name = name
        self.failover_timeout = failover_timeout
        self.capabilities = capabilities or []
        self.resp = None
        self.thread = None

    def subscribe(self, timeout=10):
        fi = {"user": "root", "name": self.name}
        if self.failover_timeout is not None:
            fi["failover_timeout"] = self.failover_timeout
        if self.framework_id:
            fi["id"] = {"value": self.framework_id}
        if self.capabilities:
            fi["capabilities"] = [{"type": c} for c in self.capabilities]
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": fi}}
        if self.framework_id:
            body["framework_id"] = {"value": self.framework_id}
        self.resp = requests.post(self.master_url + "/api/v1/scheduler", json=body,
                                  headers={"Accept": "application/json"},
                                  stream=True, timeout=timeout)
        assert self.resp.status_code == 200, self.resp.text
        self.stream_id = self.resp.headers["Mesos-Stream-Id"]
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        ev = self.next_event("SUBSCRIBED", timeout)
        self.framework_id = ev["subscribed"]["framework_id"]["value"]
        return ev

    def _read(self):
        raw = self.resp.raw
        try:
            while True:
                line = b""
                while not line.endswith(b"\n"):
                    c = raw.read(1)
                    if not c:
                        self.events.put({"type": "__CLOSED__"})
                        return
                    line += c
                n = int(line)
                data = b""
                while len(data) < n:
                    chunk = raw.read(n - len(data))
                    if not chunk:
                        self.events.put({"type": "__CLOSED__"})
                        return
                    data += chunk
                self.events.put(json.loads(data))
        except Exception as e:  # stream torn down
            self.events.put({"type": "__CLOSED__", "error": str(e)})

    def next_event(self, type_=None, timeout=10, pred=None):
        """Next event of the given type (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {type_} event within {timeout}s")
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if type_ is None or ev.get("type") == type_:
                if pred is None or pred(ev):
                    return ev

    def call(self, body, expect=202):
        body = dict(body)
        body["framework_id"] = {"value": self.framework_id}
        r = requests.post(self.master_url + "/api/v1/scheduler", json=body,
                          headers={"Mesos-Stream-Id": self.stream_id}, timeout=10)
        if expect is not None:
            assert r.status_code == expect, f"{r.status_code}: {r.text}"
        return r

    def close(self):
        if self.resp is not None:
            self.resp.close()

    # convenience

    def next_offers(self, timeout=10):
        return self.next_event("OFFERS", timeout)["offers"]["offers"]

    def launch(self, offer, tasks, refuse_seconds=None):
        body = {"type": "ACCEPT", "accept": {
            "offer_ids": [offer["id"]],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]}}
        if refuse_seconds is not None:
            body["accept"]["filters"] = {"refuse_seconds": refuse_seconds}
        return self.call(body)

    def acknowledge(self, status):
        if "uuid" not in status:
            return
        self.call({"type": "ACKNOWLEDGE", "acknowledge": {
            "agent_id": status["agent_id"], "task_id": status["task_id"],
            "uuid": status["uuid"]}})

    def wait_update(self, task_id, state, timeout=15, ack=True):
        """Wait for an UPDATE of task_id reaching `state` (acknowledging
        every update seen on the way)."""
        states = {state} if isinstance(state, str) else set(state)
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next_event("UPDATE", max(0.01, deadline - time.monotonic()))
            st = ev["update"]["status"]
            if ack:
                self.acknowledge(st)
            if st["task_id"]["value"] == task_id and st["state"] in states:
                return st


def task_info(task_id, agent_id, cmd, cpus=0.1, mem=32, ports=None, **extra):
    res = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
           {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}]
    if ports:
        res.append({"name": "ports", "type": "RANGES",
                    "ranges": {"range": [{"begin": p, "end": p} for p in ports]}})
    t = {"name": task_id, "task_id": {"value": task_id}, "agent_id": agent_id,
         "resources": res, "command": {"shell": True, "value": cmd}}
    t.update(extra)
    return t


def b64(s):
    return base64.b64encode(s).decode()
