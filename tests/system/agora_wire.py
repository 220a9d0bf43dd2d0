"""Agora's wire formats for system tests that need them without extra
packages (the Python protobuf package is not installed):

- a tiny protobuf codec (pb_int/pb_bytes/pb_double to encode fields,
  pb_decode/pb_get to read them back) and the few enum numbers used;
- RecordIO, the framing of every streaming response (read_records and the
  RecordIOReader thread), and close_stream to drop such a stream at once;
- FakeSlave, an agent emulated in Python over proto/slave.proto (the slave
  protocol is protobuf only), for tests of the master alone;
- FakeMaster, the master's side of the same protocol, for tests of a real
  slave that need events no real master would send (e.g. a KILL_TASK for
  a task the slave never received).
"""
import queue
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import struct
import threading
import time
import uuid

import requests

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
TASK_LOST, TASK_DROPPED, TASK_GONE = 5, 9, 11
# agora.slave.Call types.
CALL_SUBSCRIBE, CALL_STATUS_UPDATE, CALL_PONG = 1, 2, 3
# mesos.v1.scheduler.Event types.
SCHED_EV_SUBSCRIBED = 1
# agora.slave.Event types.
EV_REGISTERED, EV_RUN_TASK, EV_KILL_TASK, EV_ACK, EV_SHUTDOWN_FW, EV_PING, EV_ERROR = (
    1, 2, 3, 4, 5, 6, 7)


# --------------------------------------------------------------- RecordIO

def read_records(raw):
    """Yield the records of a RecordIO stream ("<length>\\n<bytes>") read
    from a file-like raw body, until it ends."""
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
        yield data


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
        try:
            for rec in read_records(self.resp.raw):
                self.q.put(rec)
        except Exception:
            return
        finally:
            self.closed.set()

    def next(self, timeout=EVENT_DEADLINE):
        return self.q.get(timeout=timeout)


# -------------------------------------------------------------- FakeSlave

class FakeSlave:
    """Speaks proto/slave.proto to the master; answers PINGs unless told not to.

    master: anything with a .url (an agora_harness.Daemon) or a URL."""

    def __init__(self, master, agent_id=None, cpus=4.0, mem=4096.0, tasks=(), pong=True):
        self.url = getattr(master, "url", master)
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
        self.resp = requests.post(self.url + "/internal/v1/slave", data=call, stream=True,
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
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if ev[1][0] == type_:
                return ev

    def post(self, call):
        call += pb_bytes(2, pb_bytes(1, self.agent_id))
        return requests.post(self.url + "/internal/v1/slave", data=call,
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


# ------------------------------------------------------------- FakeMaster

class FakeMaster:
    """The master's side of proto/slave.proto, for a real agora-slave
    started with --master=127.0.0.1:<port>: answers SUBSCRIBE with a
    RecordIO stream whose first event is REGISTERED, streams the events
    given to send() (several in one write, so the slave handles them in
    one go), and queues the status updates the slave posts (each
    STATUS_UPDATE call may carry several)."""

    def __init__(self, agent_id="fake-agent-S0"):
        self.agent_id = agent_id
        self.stream_id = str(uuid.uuid4())
        self.updates = queue.Queue()  # decoded Call.StatusUpdate messages
        self.subscribed = threading.Event()
        self._out = queue.Queue()
        self._stop = threading.Event()
        fm = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                call = pb_decode(body)
                if call.get(1, [0])[0] == CALL_SUBSCRIBE:
                    fm._stream(self)
                    return
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if call[1][0] == CALL_STATUS_UPDATE:
                    # status_update, then the batch's others (status_updates).
                    for su in call.get(4, []) + call.get(6, []):
                        fm.updates.put(pb_decode(su))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def _stream(self, h):
        h.send_response(200)
        h.send_header("Content-Type", "application/x-protobuf")
        h.send_header("Mesos-Stream-Id", self.stream_id)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        master_info = (pb_bytes(1, "fake-master") + pb_int(2, 0x0100007F) + pb_int(3, self.port) +
                       pb_bytes(5, "fake-master"))
        registered = pb_bytes(1, pb_bytes(1, self.agent_id)) + pb_bytes(2, master_info)
        self._write(h, [pb_int(1, EV_REGISTERED) + pb_bytes(2, registered)])
        self.subscribed.set()
        while not self._stop.is_set():
            try:
                events = self._out.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._write(h, events)
            except OSError:
                return

    @staticmethod
    def _write(h, events):
        data = b"".join(b"%d\n" % len(e) + e for e in events)
        h.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        h.wfile.flush()

    def send(self, *events):
        """Stream encoded agora.slave.Event messages, in one write."""
        self._out.put(list(events))

    def next_update(self, task_id, timeout=EVENT_DEADLINE):
        """The next STATUS_UPDATE the slave posts for task_id, as
        (state, message, uuid, reason); others are skipped."""
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError(f"no status update of {task_id} within {timeout}s")
            try:
                su = self.updates.get(timeout=left)
            except queue.Empty:
                continue
            st = pb_decode(su[2][0])
            if pb_get(st, 1, 1).decode() == task_id:
                return (pb_get(st, 2), (pb_get(st, 4) or b"").decode(), pb_get(st, 11),
                        pb_get(st, 10))

    def close(self):
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()


def framework_info(framework_id, capabilities=()):
    """mesos.v1.FrameworkInfo with these capability type numbers."""
    fi = pb_bytes(1, "root") + pb_bytes(2, "fake-framework") + pb_bytes(3, pb_bytes(1, framework_id))
    for c in capabilities:
        fi += pb_bytes(10, pb_int(1, c))
    return fi


def run_task_event(framework_id, task_id, agent_id, cmd, capabilities=()):
    ti = (pb_bytes(1, task_id) + pb_bytes(2, pb_bytes(1, task_id)) +
          pb_bytes(3, pb_bytes(1, agent_id)) +
          pb_bytes(4, scalar_resource("cpus", 0.1)) + pb_bytes(4, scalar_resource("mem", 32)) +
          pb_bytes(7, pb_bytes(3, cmd)))
    rt = pb_bytes(1, framework_info(framework_id, capabilities)) + pb_bytes(2, ti)
    return pb_int(1, EV_RUN_TASK) + pb_bytes(3, rt)


def kill_task_event(framework_id, task_id):
    kt = pb_bytes(1, pb_bytes(1, framework_id)) + pb_bytes(2, pb_bytes(1, task_id))
    return pb_int(1, EV_KILL_TASK) + pb_bytes(4, kt)


def ack_event(framework_id, task_id, uuid_bytes):
    a = (pb_bytes(1, pb_bytes(1, framework_id)) + pb_bytes(2, pb_bytes(1, task_id)) +
         pb_bytes(3, uuid_bytes))
    return pb_int(1, EV_ACK) + pb_bytes(5, a)
