"""System tests of agora-master's scheduler API, slave protocol and state
endpoints, against a real agora-master binary.

The master is started per test with --port=0 --port_file (no port races)
from $AGORA_BUILD_DIR/bin/agora-master (default /work/main/build) and killed
by PID at teardown; its log is printed when a test fails (pytest shows the
captured output of failed tests only).

Slaves are emulated in Python: the slave protocol is protobuf only, and the
few messages needed are encoded by the tiny codec below (no protobuf
package is needed). Schedulers use JSON, as Mesos v1 HTTP clients do.
"""
import json
import os
import queue
import signal
import socket
import struct
import subprocess
import threading
import time
import uuid

import pytest
import requests

BUILD_DIR = os.environ.get("AGORA_BUILD_DIR", "/work/main/build")
MASTER_BIN = os.path.join(BUILD_DIR, "bin", "agora-master")
START_DEADLINE = 10.0
EVENT_DEADLINE = 10.0


# --------------------------------------------------------------- protobuf

def _varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_int(no, v):
    return _varint(no << 3) + _varint(v)


def pb_bytes(no, b):
    if isinstance(b, str):
        b = b.encode()
    return _varint((no << 3) | 2) + _varint(len(b)) + b


def pb_double(no, v):
    return _varint((no << 3) | 1) + struct.pack("<d", v)


def pb_decode(buf):
    """{field number: [values]}; length-delimited values stay bytes."""
    out = {}
    i = 0

    def rv():
        nonlocal i
        shift = n = 0
        while True:
            b = buf[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    while i < len(buf):
        key = rv()
        no, wt = key >> 3, key & 7
        if wt == 0:
            v = rv()
        elif wt == 1:
            v = struct.unpack("<d", buf[i:i + 8])[0]
            i += 8
        elif wt == 2:
            ln = rv()
            v = bytes(buf[i:i + ln])
            i += ln
        elif wt == 5:
            v = buf[i:i + 4]
            i += 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(no, []).append(v)
    return out


def pb_get(msg, *path):
    """Follow nested single fields: pb_get(ev, 2, 1, 1) -> bytes/int."""
    for no in path:
        if isinstance(msg, bytes):
            msg = pb_decode(msg)
        vals = msg.get(no)
        if not vals:
            return None
        msg = vals[0]
    return msg


def scalar_resource(name, value):
    return pb_bytes(1, name) + pb_int(2, 0) + pb_bytes(3, pb_double(1, value))


def ranges_resource(name, begin, end):
    rng = pb_bytes(1, pb_int(1, begin) + pb_int(2, end))
    return pb_bytes(1, name) + pb_int(2, 1) + pb_bytes(4, rng)


# TaskState numbers (mesos.proto).
TASK_STARTING, TASK_RUNNING, TASK_FINISHED, TASK_KILLED = 0, 1, 2, 4
# agora.slave.Event types.
EV_REGISTERED, EV_RUN_TASK, EV_KILL_TASK, EV_ACK, EV_SHUTDOWN_FW, EV_PING, EV_ERROR = (
    1, 2, 3, 4, 5, 6, 7)


# ---------------------------------------------------------------- helpers

def close_stream(resp):
    """Drop a streaming response's connection at once (closing it the
    polite way waits for the reader thread's next byte)."""
    try:
        resp.raw._fp.fp.raw._sock.shutdown(socket.SHUT_RDWR)
    except Exception:
        pass
    resp.close()


class RecordIOReader(threading.Thread):
    """Reads a RecordIO response body into a queue of raw records."""

    def __init__(self, resp):
        super().__init__(daemon=True)
        self.resp = resp
        self.q = queue.Queue()
        self.closed = threading.Event()

    def run(self):
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
                self.q.put(data)
        except Exception:
            return
        finally:
            self.closed.set()

    def next(self, timeout=EVENT_DEADLINE):
        return self.q.get(timeout=timeout)


class Master:
    def __init__(self, tmp_path, *args):
        self.dir = tmp_path
        self.work_dir = str(tmp_path / "work")
        self.args = list(args)
        self.proc = None
        self.log_path = str(tmp_path / "master.log")
        self.port = None
        self.start()

    def start(self):
        port_file = str(self.dir / "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [MASTER_BIN, "--port=0", "--port_file=" + port_file,
             "--work_dir=" + self.work_dir, "--log_level=debug"] + self.args,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + START_DEADLINE
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("agora-master exited: %s" % self.tail())
            try:
                with open(port_file) as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
                    return
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        raise RuntimeError("agora-master did not write its port file")

    def stop(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def tail(self, n=80):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def state(self):
        r = requests.get(self.url + "/master/state", timeout=5)
        assert r.status_code == 200
        return r.json()


@pytest.fixture
def master_factory(tmp_path):
    started = []

    def make(*args):
        m = Master(tmp_path, *args)
        started.append(m)
        return m

    yield make
    for m in started:
        # SIGTERM, so that a sanitizer build reports leaks at exit.
        m.stop(signal.SIGTERM)
        print("---- master log (%s) ----" % m.log_path)
        print(m.tail(200))
    for m in started:
        with open(m.log_path, "rb") as f:
            log = f.read()
        assert b"Sanitizer" not in log and b"runtime error" not in log, m.tail(200)


@pytest.fixture
def master(master_factory):
    return master_factory("--heartbeat_interval=1secs")


class Scheduler:
    """A JSON v1 scheduler: one SUBSCRIBE stream plus calls."""

    def __init__(self, master, name="test", framework_id=None, failover_timeout=None,
                 capabilities=(), accept="application/json"):
        self.master = master
        info = {"user": "root", "name": name}
        if framework_id:
            info["id"] = {"value": framework_id}
        if failover_timeout is not None:
            info["failover_timeout"] = failover_timeout
        if capabilities:
            info["capabilities"] = [{"type": c} for c in capabilities]
        body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
        if framework_id:
            body["framework_id"] = {"value": framework_id}
        self.resp = requests.post(master.url + "/api/v1/scheduler", json=body, stream=True,
                                  headers={"Accept": accept}, timeout=(5, None))
        assert self.resp.status_code == 200, self.resp.text
        self.stream_id = self.resp.headers["Mesos-Stream-Id"]
        self.reader = RecordIOReader(self.resp)
        self.reader.start()
        self.framework_id = None
        if accept == "application/json":
            ev = self.next()
            assert ev["type"] == "SUBSCRIBED", ev
            self.subscribed = ev["subscribed"]
            self.framework_id = ev["subscribed"]["framework_id"]["value"]

    def next(self, timeout=EVENT_DEADLINE):
        return json.loads(self.reader.next(timeout))

    def next_of(self, type_, timeout=EVENT_DEADLINE, pred=None):
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("no %s event within %ss" % (type_, timeout))
            ev = self.next(left)
            if ev["type"] == type_ and (pred is None or pred(ev)):
                return ev

    def call(self, type_, **fields):
        body = {"type": type_, "framework_id": {"value": self.framework_id}}
        body.update(fields)
        return requests.post(self.master.url + "/api/v1/scheduler", json=body,
                             headers={"Mesos-Stream-Id": self.stream_id}, timeout=5)

    def close(self):
        close_stream(self.resp)


class FakeSlave:
    """Speaks proto/slave.proto to the master; answers PINGs unless told not to."""

    def __init__(self, master, agent_id=None, cpus=4.0, mem=4096.0, tasks=(), pong=True):
        self.master = master
        self.pong = pong
        self.events = queue.Queue()
        info = (pb_bytes(1, "fake-slave") + pb_int(8, 5051) +
                pb_bytes(3, scalar_resource("cpus", cpus)) +
                pb_bytes(3, scalar_resource("mem", mem)) +
                pb_bytes(3, ranges_resource("ports", 31000, 32000)))
        if agent_id:
            info += pb_bytes(6, pb_bytes(1, agent_id))
        sub = pb_bytes(1, info)
        for t in tasks:
            sub += pb_bytes(2, t)
        call = pb_int(1, 1) + pb_bytes(3, sub)
        if agent_id:
            call += pb_bytes(2, pb_bytes(1, agent_id))
        self.resp = requests.post(master.url + "/internal/v1/slave", data=call, stream=True,
                                  headers={"Content-Type": "application/x-protobuf"},
                                  timeout=(5, None))
        assert self.resp.status_code == 200, self.resp.text
        self.stream_id = self.resp.headers.get("Mesos-Stream-Id")
        self.reader = RecordIOReader(self.resp)
        self.reader.start()
        first = pb_decode(self.reader.next())
        self.first_type = first[1][0]
        if self.first_type == EV_REGISTERED:
            self.agent_id = pb_get(first, 2, 1, 1).decode()
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self):
        while True:
            try:
                rec = self.reader.q.get(timeout=0.2)
            except queue.Empty:
                if self.reader.closed.is_set():
                    return
                continue
            ev = pb_decode(rec)
            if ev[1][0] == EV_PING:
                if self.pong:
                    seq = pb_get(ev, 7, 1) or 0
                    self.post(pb_int(1, 3) + pb_bytes(5, pb_int(1, seq)))
                continue
            self.events.put(ev)

    def next_of(self, type_, timeout=EVENT_DEADLINE):
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("slave: no event %d within %ss" % (type_, timeout))
            ev = self.events.get(timeout=left)
            if ev[1][0] == type_:
                return ev

    def post(self, call):
        call += pb_bytes(2, pb_bytes(1, self.agent_id))
        return requests.post(self.master.url + "/internal/v1/slave", data=call,
                             headers={"Content-Type": "application/x-protobuf",
                                      "Mesos-Stream-Id": self.stream_id}, timeout=5)

    def status(self, framework_id, task_id, state, with_uuid=True):
        u = uuid.uuid4().bytes
        st = pb_bytes(1, pb_bytes(1, task_id)) + pb_int(2, state) + pb_int(9, 1)
        if with_uuid:
            st += pb_bytes(11, u)
        su = pb_bytes(1, pb_bytes(1, framework_id)) + pb_bytes(2, st)
        r = self.post(pb_int(1, 2) + pb_bytes(4, su))
        assert r.status_code == 202, r.text
        return u

    def close(self):
        close_stream(self.resp)


def task_report(framework_id, task_id, agent_id, state, cpus=1.0, mem=128.0):
    """agora.slave.Call.Task as a re-registering slave reports it."""
    ti = (pb_bytes(1, task_id) + pb_bytes(2, pb_bytes(1, task_id)) +
          pb_bytes(3, pb_bytes(1, agent_id)) +
          pb_bytes(4, scalar_resource("cpus", cpus)) + pb_bytes(4, scalar_resource("mem", mem)) +
          pb_bytes(7, pb_bytes(3, "sleep 100")))
    return pb_bytes(1, ti) + pb_bytes(2, pb_bytes(1, framework_id)) + pb_int(3, state)


def launch(sched, offer, task_id, cpus=1.0, mem=128.0):
    task = {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": offer["agent_id"],
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "command": {"value": "sleep 100"},
    }
    return sched.call("ACCEPT", accept={
        "offer_ids": [offer["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
        "filters": {"refuse_seconds": 0}})


def wait_for(pred, timeout=EVENT_DEADLINE, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def run_task(master, sched, slave, task_id):
    """Offer -> ACCEPT -> RUN_TASK -> TASK_RUNNING (acknowledged)."""
    offer = sched.next_of("OFFERS")["offers"]["offers"][0]
    assert launch(sched, offer, task_id).status_code == 202
    run = slave.next_of(EV_RUN_TASK)
    assert pb_get(run, 3, 2, 2, 1).decode() == task_id
    u = slave.status(sched.framework_id, task_id, TASK_RUNNING)
    up = sched.next_of("UPDATE", pred=lambda e: e["update"]["status"]["state"] == "TASK_RUNNING")
    assert sched.call("ACKNOWLEDGE", acknowledge={
        "agent_id": {"value": slave.agent_id}, "task_id": {"value": task_id},
        "uuid": up["update"]["status"]["uuid"]}).status_code == 202
    ack = slave.next_of(EV_ACK)
    assert pb_get(ack, 5, 3) == u
    return offer


# ------------------------------------------------------------------ tests

def test_subscribe_and_heartbeat(master):
    s = Scheduler(master)
    assert s.resp.headers["Content-Type"] == "application/json"
    assert len(s.stream_id) == 36
    assert s.subscribed["heartbeat_interval_seconds"] == 1.0
    assert s.subscribed["master_info"]["port"] == master.port
    assert s.next_of("HEARTBEAT", timeout=5)["type"] == "HEARTBEAT"
    st = master.state()
    fw = [f for f in st["frameworks"] if f["id"] == s.framework_id][0]
    assert fw["active"] and fw["connected"] and fw["name"] == "test"
    assert st["leader"] == "master@127.0.0.1:%d" % master.port
    s.close()


def test_subscribe_protobuf_stream(master):
    s = Scheduler(master, accept="application/x-protobuf")
    assert s.resp.headers["Content-Type"] == "application/x-protobuf"
    ev = pb_decode(s.reader.next())
    assert ev[1][0] == 1  # SUBSCRIBED
    assert pb_get(ev, 2, 1, 1)  # framework_id.value
    s.close()


def test_bad_inputs_and_still_serving(master):
    s = Scheduler(master)
    url = master.url + "/api/v1/scheduler"
    hdr = {"Mesos-Stream-Id": s.stream_id}
    fid = {"value": s.framework_id}

    r = requests.post(url, data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "Call" in r.text
    r = requests.post(url, data="hello", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and "Content-Type" in r.text
    r = requests.post(url, json={"type": "NO_SUCH_CALL", "framework_id": fid}, headers=hdr)
    assert r.status_code == 400
    r = requests.post(url, json={"type": "REVIVE"}, headers=hdr)
    assert r.status_code == 400 and "framework_id" in r.text
    r = requests.post(url, json={"type": "DECLINE", "framework_id": fid}, headers=hdr)
    assert r.status_code == 400 and "decline" in r.text
    r = requests.post(url, json={"type": "REVIVE", "framework_id": fid})
    assert r.status_code in (400, 403) and "Mesos-Stream-Id" in r.text
    r = requests.post(url, json={"type": "REVIVE", "framework_id": fid},
                      headers={"Mesos-Stream-Id": str(uuid.uuid4())})
    assert r.status_code == 403
    r = requests.post(url, json={"type": "REVIVE", "framework_id": {"value": "nope"}},
                      headers=hdr)
    assert r.status_code == 403 and "not subscribed" in r.text
    r = requests.post(url, json={"type": "REVIVE", "framework_id": fid},
                      headers=dict(hdr, Accept="text/html"))
    assert r.status_code == 406
    r = requests.post(url, data=b"x" * (9 * 1024 * 1024),
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    r = requests.post(url, data=b"\xff\x01garbage",
                      headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 400
    r = requests.post(url, json={"type": "SUBSCRIBE", "subscribe": {
        "framework_info": {"user": "u", "name": "n", "failover_timeout": -1}}})
    assert r.status_code == 400 and "failover_timeout" in r.text
    r = requests.post(url, json={"type": "SUBSCRIBE", "subscribe": {
        "framework_info": {"name": "n"}}})
    assert r.status_code == 400 and "user" in r.text
    r = requests.post(master.url + "/internal/v1/slave", data=b"x",
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 415

    assert requests.get(master.url + "/health").status_code == 200
    assert s.call("REVIVE").status_code == 202
    assert s.next_of("HEARTBEAT", timeout=5)
    s.close()


def test_decline_revive_suppress_message_request(master):
    s = Scheduler(master)
    for t, extra in [("DECLINE", {"decline": {"offer_ids": [{"value": "unknown"}]}}),
                     ("REVIVE", {}), ("SUPPRESS", {}), ("REVIVE", {}),
                     ("REQUEST", {"request": {"requests": []}}),
                     ("MESSAGE", {"message": {"agent_id": {"value": "a"},
                                              "executor_id": {"value": "e"},
                                              "data": "aGk="}}),
                     ("SHUTDOWN", {"shutdown": {"agent_id": {"value": "a"},
                                                "executor_id": {"value": "e"}}})]:
        r = s.call(t, **extra)
        assert r.status_code == 202, (t, r.text)
        assert r.text == ""
    s.close()


def test_offer_launch_update_ack_kill(master):
    slave = FakeSlave(master)
    s = Scheduler(master)
    offer = s.next_of("OFFERS")["offers"]["offers"][0]
    assert offer["agent_id"]["value"] == slave.agent_id
    names = {r["name"] for r in offer["resources"]}
    assert {"cpus", "mem", "ports"} <= names

    assert launch(s, offer, "t1").status_code == 202
    run = slave.next_of(EV_RUN_TASK)
    assert pb_get(run, 3, 1, 3, 1).decode() == s.framework_id
    assert pb_get(run, 3, 2, 2, 1) == b"t1"

    st = master.state()
    task = st["frameworks"][0]["tasks"][0]
    assert task["id"] == "t1" and task["state"] == "TASK_STAGING"
    assert task["slave_id"] == slave.agent_id
    assert st["frameworks"][0]["used_resources"]["cpus"] == 1.0
    assert st["slaves"][0]["used_resources"]["cpus"] == 1.0

    u = slave.status(s.framework_id, "t1", TASK_RUNNING)
    up = s.next_of("UPDATE")["update"]["status"]
    assert up["state"] == "TASK_RUNNING" and up["agent_id"]["value"] == slave.agent_id
    assert up["uuid"]
    assert s.call("ACKNOWLEDGE", acknowledge={
        "agent_id": {"value": slave.agent_id}, "task_id": {"value": "t1"},
        "uuid": up["uuid"]}).status_code == 202
    ack = slave.next_of(EV_ACK)
    assert pb_get(ack, 5, 3) == u and pb_get(ack, 5, 2, 1) == b"t1"
    assert master.state()["frameworks"][0]["tasks"][0]["state"] == "TASK_RUNNING"

    assert s.call("KILL", kill={"task_id": {"value": "t1"}}).status_code == 202
    kill = slave.next_of(EV_KILL_TASK)
    assert pb_get(kill, 4, 2, 1) == b"t1"
    slave.status(s.framework_id, "t1", TASK_KILLED)
    up = s.next_of("UPDATE")["update"]["status"]
    assert up["state"] == "TASK_KILLED"
    s.call("ACKNOWLEDGE", acknowledge={"agent_id": {"value": slave.agent_id},
                                       "task_id": {"value": "t1"}, "uuid": up["uuid"]})

    def completed():
        fw = master.state()["frameworks"][0]
        return not fw["tasks"] and [t for t in fw["completed_tasks"] if t["id"] == "t1"]
    done = wait_for(completed, what="task t1 completed")
    assert done[0]["state"] == "TASK_KILLED"
    assert [x["state"] for x in done[0]["statuses"]][-1] == "TASK_KILLED"
    # Resources came back: a new offer with all 4 cpus arrives.
    offer2 = s.next_of("OFFERS")["offers"]["offers"][0]
    cpus = [r for r in offer2["resources"] if r["name"] == "cpus"][0]["scalar"]["value"]
    assert cpus == 4.0
    s.close()
    slave.close()


def test_invalid_tasks_and_offers(master):
    slave = FakeSlave(master)
    s = Scheduler(master)
    offer = s.next_of("OFFERS")["offers"]["offers"][0]
    # More cpus than offered: TASK_ERROR, the call itself is accepted.
    assert launch(s, offer, "big", cpus=64).status_code == 202
    st = s.next_of("UPDATE")["update"]["status"]
    assert st["state"] == "TASK_ERROR" and st["reason"] == "REASON_TASK_INVALID"
    assert st["task_id"]["value"] == "big"
    # The offer is used up: accepting it again gives TASK_LOST, REASON_INVALID_OFFERS.
    assert launch(s, offer, "again").status_code == 202
    st = s.next_of("UPDATE")["update"]["status"]
    assert st["state"] == "TASK_LOST" and st["reason"] == "REASON_INVALID_OFFERS"
    s.close()
    slave.close()


def test_launch_group(master):
    slave = FakeSlave(master)
    s = Scheduler(master)
    offer = s.next_of("OFFERS")["offers"]["offers"][0]

    def task(tid, cpus):
        return {"name": tid, "task_id": {"value": tid}, "agent_id": offer["agent_id"],
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
                              {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
                "command": {"value": "true"}}
    executor = {"type": "DEFAULT", "executor_id": {"value": "ex1"},
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                              {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]}
    r = s.call("ACCEPT", accept={"offer_ids": [offer["id"]], "operations": [
        {"type": "LAUNCH_GROUP", "launch_group": {
            "executor": executor, "task_group": {"tasks": [task("g1", 1), task("g2", 1)]}}}],
        "filters": {"refuse_seconds": 0}})
    assert r.status_code == 202
    got = {pb_get(slave.next_of(EV_RUN_TASK), 3, 2, 2, 1) for _ in range(2)}
    assert got == {b"g1", b"g2"}
    fw = master.state()["frameworks"][0]
    assert sorted(t["id"] for t in fw["tasks"]) == ["g1", "g2"]
    assert abs(fw["used_resources"]["cpus"] - 2.1) < 1e-9

    # A group with one bad task is refused as a whole.
    offer = s.next_of("OFFERS")["offers"]["offers"][0]
    r = s.call("ACCEPT", accept={"offer_ids": [offer["id"]], "operations": [
        {"type": "LAUNCH_GROUP", "launch_group": {
            "executor": dict(executor, executor_id={"value": "ex2"}),
            "task_group": {"tasks": [task("g3", 1), task("g4", 100)]}}}]})
    assert r.status_code == 202
    states = {}
    while len(states) < 2:
        st = s.next_of("UPDATE")["update"]["status"]
        states[st["task_id"]["value"]] = (st["state"], st["reason"])
    assert states == {"g3": ("TASK_ERROR", "REASON_TASK_GROUP_INVALID"),
                      "g4": ("TASK_ERROR", "REASON_TASK_GROUP_INVALID")}
    s.close()
    slave.close()


def test_multi_role_offer_has_allocation_info(master):
    slave = FakeSlave(master)
    r = requests.post(master.url + "/api/v1/scheduler", stream=True, json={
        "type": "SUBSCRIBE", "subscribe": {"framework_info": {
            "user": "u", "name": "mr", "roles": ["web"],
            "capabilities": [{"type": "MULTI_ROLE"}]}}})
    assert r.status_code == 200
    reader = RecordIOReader(r)
    reader.start()
    assert json.loads(reader.next())["type"] == "SUBSCRIBED"
    # Unreserved resources are offered to any role.
    while True:
        ev = json.loads(reader.next())
        if ev["type"] == "OFFERS":
            break
    offer = ev["offers"]["offers"][0]
    assert offer["allocation_info"]["role"] == "web"
    assert all(x["allocation_info"]["role"] == "web" for x in offer["resources"])
    assert master.state()["frameworks"][0]["role"] == "web"
    close_stream(r)
    slave.close()


def test_recordio_accept(master):
    r = requests.post(master.url + "/api/v1/scheduler", stream=True, json={
        "type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}},
        headers={"Accept": "application/recordio", "Message-Accept": "application/json"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/recordio"
    assert r.headers["Message-Content-Type"] == "application/json"
    reader = RecordIOReader(r)
    reader.start()
    assert json.loads(reader.next())["type"] == "SUBSCRIBED"
    close_stream(r)


def test_reconcile(master):
    slave = FakeSlave(master)
    s = Scheduler(master, capabilities=["PARTITION_AWARE"])
    run_task(master, s, slave, "r1")
    assert s.call("RECONCILE", reconcile={"tasks": [
        {"task_id": {"value": "r1"}}, {"task_id": {"value": "ghost"}}]}).status_code == 202
    got = {}
    while len(got) < 2:
        st = s.next_of("UPDATE")["update"]["status"]
        got[st["task_id"]["value"]] = st
    assert got["r1"]["state"] == "TASK_RUNNING"
    assert got["r1"]["reason"] == "REASON_RECONCILIATION" and "uuid" not in got["r1"]
    assert got["ghost"]["state"] == "TASK_UNKNOWN"
    assert s.call("RECONCILE", reconcile={"tasks": []}).status_code == 202
    st = s.next_of("UPDATE")["update"]["status"]
    assert st["task_id"]["value"] == "r1" and st["state"] == "TASK_RUNNING"
    s.close()
    slave.close()


def test_framework_failover_keeps_tasks(master):
    slave = FakeSlave(master)
    s = Scheduler(master, failover_timeout=60)
    run_task(master, s, slave, "f1")
    fid = s.framework_id
    s.close()
    wait_for(lambda: not master.state()["frameworks"][0]["connected"], what="disconnect")
    s2 = Scheduler(master, framework_id=fid, failover_timeout=60)
    assert s2.framework_id == fid and s2.stream_id != s.stream_id
    fw = master.state()["frameworks"][0]
    assert fw["connected"] and [t["id"] for t in fw["tasks"]] == ["f1"]
    # The old stream id is no longer valid.
    r = requests.post(master.url + "/api/v1/scheduler",
                      json={"type": "REVIVE", "framework_id": {"value": fid}},
                      headers={"Mesos-Stream-Id": s.stream_id})
    assert r.status_code == 403
    s2.close()
    slave.close()


def test_failover_timeout_removes_framework(master):
    slave = FakeSlave(master)
    s = Scheduler(master, failover_timeout=0.5)
    run_task(master, s, slave, "x1")
    fid = s.framework_id
    s.close()
    shut = slave.next_of(EV_SHUTDOWN_FW)
    assert pb_get(shut, 6, 1, 1).decode() == fid
    st = wait_for(lambda: (lambda st: st if st["completed_frameworks"] else None)(
        master.state()), what="framework removal")
    assert st["frameworks"] == []
    assert st["completed_frameworks"][0]["id"] == fid
    assert st["completed_frameworks"][0]["completed_tasks"][0]["state"] == "TASK_KILLED"
    # Re-subscribing a removed framework gets an ERROR event.
    r = requests.post(master.url + "/api/v1/scheduler", stream=True, json={
        "type": "SUBSCRIBE", "framework_id": {"value": fid},
        "subscribe": {"framework_info": {"user": "u", "name": "n", "id": {"value": fid}}}})
    reader = RecordIOReader(r)
    reader.start()
    ev = json.loads(reader.next())
    assert ev["type"] == "ERROR" and "removed" in ev["error"]["message"]
    slave.close()


def test_teardown(master):
    slave = FakeSlave(master)
    s = Scheduler(master)
    run_task(master, s, slave, "td")
    assert s.call("TEARDOWN").status_code == 202
    slave.next_of(EV_SHUTDOWN_FW)
    st = master.state()
    assert st["frameworks"] == [] and len(st["completed_frameworks"]) == 1
    assert s.call("REVIVE").status_code == 403
    slave.close()


@pytest.mark.parametrize("partition_aware", [False, True])
def test_unreachable_slave_and_return(master_factory, partition_aware):
    m = master_factory("--slave_ping_timeout=0.3secs", "--max_slave_ping_timeouts=2",
                       "--heartbeat_interval=1secs")
    slave = FakeSlave(m)
    caps = ["PARTITION_AWARE"] if partition_aware else []
    s = Scheduler(m, capabilities=caps, failover_timeout=60)
    run_task(m, s, slave, "u1")
    slave.pong = False
    st = s.next_of("UPDATE", timeout=10)["update"]["status"]
    want = "TASK_UNREACHABLE" if partition_aware else "TASK_LOST"
    assert st["state"] == want and st["reason"] == "REASON_AGENT_REMOVED"
    assert s.next_of("FAILURE")["failure"]["agent_id"]["value"] == slave.agent_id
    state = m.state()
    assert state["unreachable_slaves"] == 1 and state["activated_slaves"] == 0
    slave.close()

    # The slave comes back with its task still running.
    back = FakeSlave(m, agent_id=slave.agent_id,
                     tasks=[task_report(s.framework_id, "u1", slave.agent_id, TASK_RUNNING)])
    assert back.first_type == EV_REGISTERED and back.agent_id == slave.agent_id
    if partition_aware:
        st = s.next_of("UPDATE")["update"]["status"]
        assert st["state"] == "TASK_RUNNING"
        fw = m.state()["frameworks"][0]
        assert [t["state"] for t in fw["tasks"]] == ["TASK_RUNNING"]
    else:
        kill = back.next_of(EV_KILL_TASK)
        assert pb_get(kill, 4, 2, 1) == b"u1"
    assert m.state()["activated_slaves"] == 1
    s.close()
    back.close()


def test_slave_reregister_after_master_restart(master_factory):
    m = master_factory("--heartbeat_interval=1secs")
    slave = FakeSlave(m)
    s = Scheduler(m, failover_timeout=60)
    run_task(m, s, slave, "k1")
    fid, aid = s.framework_id, slave.agent_id
    s.close()
    slave.close()
    reg_path = os.path.join(m.work_dir, "registry.json")
    wait_for(lambda: os.path.exists(reg_path), what="registry.json")
    assert m.stop(signal.SIGTERM) == 0
    with open(reg_path) as f:
        reg = json.load(f)
    assert aid in [x["id"] for x in reg["slaves"]]
    assert fid in [x["id"] for x in reg["frameworks"]]
    m.start()

    # The registry brought the framework back, waiting for its scheduler.
    st = m.state()
    assert fid in st["unregistered_frameworks"]
    back = FakeSlave(m, agent_id=aid, tasks=[task_report(fid, "k1", aid, TASK_RUNNING)])
    assert back.first_type == EV_REGISTERED
    fw = [f for f in m.state()["frameworks"] if f["id"] == fid][0]
    assert [t["id"] for t in fw["tasks"]] == ["k1"]
    assert fw["used_resources"]["cpus"] == 1.0
    s2 = Scheduler(m, framework_id=fid, failover_timeout=60)
    assert s2.framework_id == fid
    assert [f for f in m.state()["frameworks"] if f["id"] == fid][0]["connected"]
    s2.close()
    back.close()


def test_offer_timeout_rescinds(master_factory):
    m = master_factory("--offer_timeout=0.5secs", "--heartbeat_interval=1secs")
    slave = FakeSlave(m)
    s = Scheduler(m)
    offer = s.next_of("OFFERS")["offers"]["offers"][0]
    ev = s.next_of("RESCIND", timeout=5)
    assert ev["rescind"]["offer_id"] == offer["id"]
    s.close()
    slave.close()


def test_operator_api_and_metrics(master):
    slave = FakeSlave(master)
    s = Scheduler(master)
    url = master.url + "/api/v1"
    for t, key in [("GET_MASTER", "get_master"), ("GET_AGENTS", "get_agents"),
                   ("GET_FRAMEWORKS", "get_frameworks"), ("GET_TASKS", "get_tasks"),
                   ("GET_STATE", "get_state"), ("GET_HEALTH", "get_health")]:
        r = requests.post(url, json={"type": t})
        assert r.status_code == 200, (t, r.text)
        assert r.json()["type"] == t and key in r.json()
    r = requests.post(url, json={"type": "GET_AGENTS"}).json()
    assert r["get_agents"]["agents"][0]["agent_info"]["id"]["value"] == slave.agent_id
    r = requests.post(url, json={"type": "GET_FRAMEWORKS"}).json()
    assert r["get_frameworks"]["frameworks"][0]["framework_info"]["id"]["value"] == \
        s.framework_id
    assert requests.post(url, json={"type": "BOGUS"}).status_code == 400
    assert requests.post(url, data="{", headers={"Content-Type": "application/json"}) \
        .status_code == 400

    text = requests.get(master.url + "/metrics").text
    assert "agora_master_frameworks_active 1" in text
    assert "agora_master_slaves_active 1" in text
    snap = requests.get(master.url + "/metrics/snapshot").json()
    assert snap["master/slaves_active"] == 1 and snap["master/cpus_total"] == 4.0
    r = requests.get(master.url + "/master/redirect", allow_redirects=False)
    assert r.status_code == 307 and r.headers["Location"].endswith(":%d" % master.port)
    assert requests.get(master.url + "/state").json()["id"] == master.state()["id"]
    s.close()
    slave.close()


def test_sigterm_clean_exit(master):
    assert master.stop(signal.SIGTERM) == 0


def test_zk_flag_refused(tmp_path):
    p = subprocess.run([MASTER_BIN, "--zk=zk://127.0.0.1:2181/agora", "--port=0",
                        "--work_dir=" + str(tmp_path)], capture_output=True, timeout=10)
    assert p.returncode != 0 and b"not yet supported" in p.stderr
