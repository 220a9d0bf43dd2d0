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

from agora_wire import SCHED_EV_SUBSCRIBED, close_stream, pb_decode, pb_get, read_records

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("AGORA_BUILD_DIR", os.path.join(REPO, "build"))
BIN = os.path.join(BUILD, "bin")


def binary(name):
    """Path of a built binary. A missing one fails the test: never a skip."""
    path = os.path.join(BIN, name)
    assert os.access(path, os.X_OK), f"{path} is not built (set AGORA_BUILD_DIR)"
    return path


class Hopeless(AssertionError):
    """Raised by a wait_for condition that can never hold (the daemon it
    waits for has exited): wait_for gives up at once instead of at its
    deadline."""


def wait_for(cond, timeout=10.0, interval=0.05, what="condition"):
    """Poll cond() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except Hopeless:
            raise
        except Exception as e:  # the daemon may not answer yet
            last_exc = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                         + (f" (last error: {last_exc})" if last_exc else ""))


class Daemon:
    """One real agora-master or agora-slave process."""

    def __init__(self, binary, work_dir, args, env=None, prefix=None):
        """prefix: a command line the daemon is started under (e.g.
        setpriv to run it as another user)."""
        self.prefix = list(prefix or [])
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
        cmd = self.prefix + [binary(self.binary), "--port=0",
               f"--port_file={self.port_file}", f"--work_dir={self.work_dir}",
               "--log_level=debug"] + self.args
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                raise Hopeless(f"{self.binary} exited with {self.proc.returncode}:\n"
                               + self.log())
            if not os.path.exists(self.port_file):
                return False
            with open(self.port_file) as f:
                txt = f.read().strip()
            return int(txt) if txt else False

        self.port = wait_for(ready, timeout, what=f"{self.binary} port file")
        return self

    scheme = "http"  # "https" for a daemon started with --ssl_cert

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

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

    def sanitizer_report(self):
        """The sanitizer lines in the logs of every run ("" when clean)."""
        hits = []
        for i in range(1, self.starts + 1):
            p = os.path.join(self.work_dir, f"log.{i}")
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    hits += [ln for ln in f if "Sanitizer" in ln or "runtime error" in ln]
        return "".join(hits)


def sandbox_of(slave, task_id, auth=None):
    """The sandbox directory of a task (live or completed) from the
    slave's /state; auth: (principal, secret) for a slave with
    --authenticate_http_readonly."""
    r = requests.get(slave.url + "/state", auth=auth, timeout=5)
    r.raise_for_status()
    st = r.json()
    for fw in st["frameworks"] + st["completed_frameworks"]:
        for ex in fw["executors"] + fw["completed_executors"]:
            if ex["id"] == task_id:
                return ex["directory"]
    raise AssertionError(f"task {task_id} not in the slave's /state")


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


def task_pids(root, task_id, argv0=b"sleep"):
    """Pids of the processes of task task_id whose sandbox lies under root
    and whose argv[0] is argv0 (the command, not its sh -c)."""
    root = os.path.realpath(root).encode()
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if f"MESOS_TASK_ID={task_id}".encode() in env and cmd.startswith(argv0 + b"\0") and \
                any(e.startswith(b"MESOS_SANDBOX=" + root) for e in env):
            out.append(int(pid))
    return out


class Cluster:
    """A standalone master plus slaves, each in its own work dir under tmp."""

    def __init__(self, tmp):
        self.tmp = str(tmp)
        self.master = None
        self.slaves = []

    def start_master(self, *args):
        self.master = Daemon("agora-master", os.path.join(self.tmp, "master"), args).start()
        return self.master

    def add_slave(self, *args, resources="cpus:4;mem:4096;disk:10000;ports:[31000-32000]",
                  master=None):
        """master: the --master address; default: this cluster's master."""
        i = len(self.slaves)
        master = master or f"127.0.0.1:{self.master.port}"
        d = Daemon("agora-slave", os.path.join(self.tmp, f"slave{i}"),
                   [f"--master={master}", f"--resources={resources}",
                    "--isolation=none", f"--hostname=slave{i}"] + list(args))
        d.start()
        self.slaves.append(d)
        return d

    def state(self):
        r = requests.get(self.master.url + "/master/state", timeout=5)
        r.raise_for_status()
        return r.json()

    def task(self, task_id):
        """The master's view of a task, live or completed (None if unknown)."""
        for f in self.state()["frameworks"]:
            for t in f["tasks"] + f.get("completed_tasks", []):
                if t["id"] == task_id:
                    return t
        return None

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


class EventStream:
    """The events of a RecordIO response body (the scheduler or the
    operator API's stream), read on a thread and queued in order: JSON
    objects, or with protobuf=True each decoded by agora_wire.pb_decode
    ({field: [values]}, whose type is the number in field 1). The end of
    the stream queues {"type": "__CLOSED__"}."""

    def __init__(self, protobuf=False):
        self.protobuf = protobuf
        self.events = queue.Queue()
        self.resp = None
        self.thread = None

    def start_reading(self, resp):
        """Read resp (a requests response with stream=True) from now on."""
        self.resp = resp
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        decode = pb_decode if self.protobuf else json.loads
        try:
            for rec in read_records(self.resp.raw):
                self.events.put(decode(rec))
            self.events.put({"type": "__CLOSED__"})
        except Exception as e:  # stream torn down
            self.events.put({"type": "__CLOSED__", "error": str(e)})

    @staticmethod
    def _type(ev):
        if "type" in ev:  # a JSON event, or the __CLOSED__ marker
            return ev["type"]
        return ev[1][0] if 1 in ev else None  # protobuf: Event.type is field 1

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
            if type_ is None or self._type(ev) == type_:
                if pred is None or pred(ev):
                    return ev

    def close(self):
        if self.resp is not None:
            close_stream(self.resp)


class SchedulerClient(EventStream):
    """A minimal Mesos v1 scheduler API client, as a Python framework would
    use it: a SUBSCRIBE stream read on a thread (EventStream), calls POSTed
    (as JSON) with the Mesos-Stream-Id.

    Events are JSON by default; protobuf=True asks for a protobuf stream.
    headers: extra SUBSCRIBE headers (e.g. Accept: application/recordio
    with Message-Accept)."""

    def __init__(self, master_url, name="pytest", failover_timeout=None,
                 framework_id=None, capabilities=None, roles=None, protobuf=False,
                 headers=None, principal=None, auth=None):
        super().__init__(protobuf)
        self.principal = principal  # FrameworkInfo.principal
        self.auth = auth            # (principal, secret) sent on every request
        self.master_url = master_url
        self.framework_id = framework_id
        self.stream_id = None
        self.name = name
        self.failover_timeout = failover_timeout
        self.capabilities = capabilities or []
        self.roles = roles or []
        self.headers = headers or {}

    def subscribe(self, timeout=10, expect=None):
        """SUBSCRIBE; the stream's first event must be SUBSCRIBED (or the
        type given as expect, e.g. "ERROR"), and is returned."""
        fi = {"user": "root", "name": self.name}
        if self.failover_timeout is not None:
            fi["failover_timeout"] = self.failover_timeout
        if self.framework_id:
            fi["id"] = {"value": self.framework_id}
        if self.capabilities:
            fi["capabilities"] = [{"type": c} for c in self.capabilities]
        if self.roles:
            fi["roles"] = list(self.roles)
        if self.principal:
            fi["principal"] = self.principal
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": fi}}
        if self.framework_id:
            body["framework_id"] = {"value": self.framework_id}
        headers = {"Accept": "application/x-protobuf" if self.protobuf else "application/json"}
        headers.update(self.headers)
        # No read timeout: the stream may be quiet for long; next_event has deadlines.
        resp = requests.post(self.master_url + "/api/v1/scheduler", json=body,
                             headers=headers, stream=True, timeout=(timeout, None),
                             auth=self.auth)
        self.resp = resp  # closed by close() even if the answer is not 200
        assert resp.status_code == 200, resp.text
        self.stream_id = resp.headers.get("Mesos-Stream-Id")  # none on an ERROR stream
        self.start_reading(resp)
        subscribed = SCHED_EV_SUBSCRIBED if self.protobuf else "SUBSCRIBED"
        ev = self.next_event(None, timeout)
        assert self._type(ev) == (expect or subscribed), f"first event: {ev}"
        if expect is None:
            assert self.stream_id, "SUBSCRIBED without a Mesos-Stream-Id"
            self.framework_id = (pb_get(ev, 2, 1, 1).decode() if self.protobuf
                                 else ev["subscribed"]["framework_id"]["value"])
        return ev

    def call(self, body, expect=202):
        body = dict(body)
        body["framework_id"] = {"value": self.framework_id}
        r = requests.post(self.master_url + "/api/v1/scheduler", json=body,
                          headers={"Mesos-Stream-Id": self.stream_id}, timeout=10,
                          auth=self.auth)
        if expect is not None:
            assert r.status_code == expect, f"{r.status_code}: {r.text}"
        return r

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
        return self.wait_updates({task_id: state}, timeout, ack)[task_id]

    def wait_updates(self, want, timeout=15, ack=True):
        """Wait for an UPDATE of each task in want ({task_id: state, a list
        of states, or None for any}), in any order, acknowledging every
        update seen on the way; returns {task_id: its first such status}."""
        want = {t: None if s is None else {s} if isinstance(s, str) else set(s)
                for t, s in want.items()}
        got = {}
        deadline = time.monotonic() + timeout
        while len(got) < len(want):
            try:
                ev = self.next_event("UPDATE", max(0.01, deadline - time.monotonic()))
            except AssertionError:
                raise AssertionError(f"within {timeout}s, no update to {want} of "
                                     f"{sorted(set(want) - set(got))}") from None
            st = ev["update"]["status"]
            if ack:
                self.acknowledge(st)
            tid = st["task_id"]["value"]
            if tid in want and tid not in got and (want[tid] is None or st["state"] in want[tid]):
                got[tid] = st
        return got


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


class HACluster(Cluster):
    """Masters elected through ZooKeeper (--zk=url) and slaves that find the
    leader there (--master=url). cluster.master is the current leader."""

    def __init__(self, tmp, zk_url):
        super().__init__(tmp)
        self.zk_url = zk_url
        self.masters = []

    def start_masters(self, n, *args):
        for i in range(n):
            timeout = [] if any(a.startswith("--zk_session_timeout=") for a in args) \
                else ["--zk_session_timeout=2secs"]
            d = Daemon("agora-master", os.path.join(self.tmp, f"master{i}"),
                       [f"--zk={self.zk_url}"] + timeout + list(args))
            self.masters.append(d.start())
        self.wait_leader()
        return self.masters

    def master_state(self, m, timeout=2):
        r = requests.get(m.url + "/master/state", timeout=timeout)
        r.raise_for_status()
        return r.json()

    def leaders(self):
        """The masters that say they lead."""
        out = []
        for m in self.masters:
            if not m.alive():
                continue
            try:
                if self.master_state(m).get("elected"):
                    out.append(m)
            except requests.RequestException:
                pass
        return out

    def wait_leader(self, timeout=30, exclude=None):
        """Wait for exactly one leader (other than `exclude`) that every live
        master agrees on; it becomes self.master."""
        def one():
            ls = self.leaders()
            if len(ls) != 1 or ls[0] is exclude:
                return None
            pid = f"master@127.0.0.1:{ls[0].port}"
            for m in self.masters:
                if m.alive() and self.master_state(m).get("leader") != pid:
                    return None
            return ls[0]
        self.master = wait_for(one, timeout, interval=0.05, what="one agreed leader")
        return self.master

    def add_slave(self, *args, **kw):
        """A slave that follows the leader through ZooKeeper."""
        return super().add_slave(*args, master=self.zk_url, **kw)

    def daemons(self):
        return self.masters + self.slaves

    def shutdown(self):
        for d in self.slaves + self.masters:
            d.stop()
        kill_sandbox_processes(self.tmp)
