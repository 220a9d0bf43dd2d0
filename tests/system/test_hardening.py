"""Connection hardening (issue 13, item 1): a client holding thousands of
half-sent requests does not stall a daemon.

Attackers are halfopen_client.py processes (each has its own file limit)
on 127.0.0.1: they open connections, send half a request line and stall.
Measured while they hold them: the daemon's CPU (utime + stime from
/proc/<pid>/stat over a window), /health latency, that a new slave can
register and a registered framework keeps its stream, and the growth of
the daemon's log. The deadlines (--http_header_timeout,
--http_idle_timeout) and the accept() back-off on EMFILE are checked on
their own, with small values."""
import json
import os
import resource
import socket
import subprocess
import sys
import time

import requests

from agora_harness import SchedulerClient, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "halfopen_client.py")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def cpu_percent(pid, window):
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(window)
    return 100.0 * (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


class Attack:
    """procs halfopen_client.py processes, n connections each."""

    def __init__(self, port, procs, n, open_secs, hold_secs):
        self.procs = [subprocess.Popen([sys.executable, CLIENT, "127.0.0.1", str(port), str(n),
                                        str(open_secs), str(hold_secs)],
                                       stdout=subprocess.PIPE, text=True)
                      for _ in range(procs)]
        self.opened = 0
        for p in self.procs:
            line = p.stdout.readline()
            assert line.startswith("ready "), line
            self.opened += int(line.split()[1])

    def results(self, timeout=60):
        out = []
        for p in self.procs:
            line = p.stdout.readline()
            p.wait(timeout)
            out.append(json.loads(line))
        return out

    def kill(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)


def health_latencies(url, n=20):
    lat = []
    for _ in range(n):
        t0 = time.monotonic()
        r = requests.get(url + "/health", timeout=5)
        lat.append(time.monotonic() - t0)
        assert r.status_code == 200
    return lat


def log_size(daemon):
    return os.path.getsize(daemon.log_path)


def metric(url, name):
    for line in requests.get(url + "/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_master_survives_half_open_flood(cluster):
    """~19,000 stalled connections from two processes: master under 20 %
    CPU, /health < 100 ms, a new slave registers, the framework keeps its
    stream, the log grows < 1 MB; the header deadline closes them all."""
    m = cluster.start_master("--heartbeat_interval=1secs", "--http_header_timeout=15secs")
    cluster.add_slave()
    cluster.wait_slaves(1)
    fw = SchedulerClient(m.url, name="hardening")
    fw.subscribe()
    fw.next_offers()
    log0 = log_size(m)
    attack = Attack(m.port, procs=2, n=9500, open_secs=10, hold_secs=18)
    try:
        print(f"attack: {attack.opened} connections open")
        assert attack.opened >= 15000  # opening is CPU-bound on a busy machine
        cpu = cpu_percent(m.proc.pid, 3.0)
        lat = health_latencies(m.url)
        print(f"master CPU {cpu:.1f} %, /health max {max(lat) * 1000:.1f} ms, "
              f"median {sorted(lat)[len(lat) // 2] * 1000:.1f} ms")
        assert cpu < 20, cpu
        assert max(lat) < 0.1, lat
        # A new slave registers and its resources reach the framework.
        s2 = cluster.add_slave()
        cluster.wait_slaves(2, timeout=10)
        sid = [s["id"] for s in cluster.state()["slaves"] if s["hostname"] == "slave1"][0]
        fw.next_event("OFFERS", 10,
                      pred=lambda ev: any(o["agent_id"]["value"] == sid
                                          for o in ev["offers"]["offers"]))
        assert s2.alive()
        res = attack.results()
    finally:
        attack.kill()
    closed = sum(r["closed_by_server"] for r in res)
    print(f"attack results: {res}; log grew {log_size(m) - log0} bytes")
    # The header deadline closed them.
    assert closed >= 0.95 * attack.opened, res
    # The framework's stream outlived the deadline: no close, heartbeats go on.
    while not fw.events.empty():
        ev = fw.events.get_nowait()
        assert ev.get("type") != "__CLOSED__", ev
    fw.next_event("HEARTBEAT", 5)
    assert log_size(m) - log0 < 1_000_000
    fw.close()


def test_deadlines(master):
    """Small deadlines: a stalled request line is closed after the header
    timeout, an idle keep-alive connection after the idle timeout (not
    before), and a scheduler stream outlives both."""
    master.stop()
    master.args += ["--http_header_timeout=1secs", "--http_idle_timeout=3secs"]
    master.start()
    fw = SchedulerClient(master.url, name="deadlines")
    fw.subscribe()

    half = socket.create_connection(("127.0.0.1", master.port))
    half.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # headers never end
    idle = socket.create_connection(("127.0.0.1", master.port))
    idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    t0 = time.monotonic()
    assert b"200" in idle.recv(4096)
    half.settimeout(5)
    assert half.recv(4096) == b""  # closed by the server
    t_half = time.monotonic() - t0
    idle.settimeout(6)
    assert idle.recv(4096) == b""
    t_idle = time.monotonic() - t0
    print(f"half-sent closed after {t_half:.2f} s, idle keep-alive after {t_idle:.2f} s")
    assert 0.8 < t_half < 2.5
    assert 2.5 < t_idle < 5
    time.sleep(1)  # the stream is now older than both deadlines
    while not fw.events.empty():
        assert fw.events.get_nowait().get("type") != "__CLOSED__"
    fw.next_event("HEARTBEAT", 3)
    fw.close()


def test_accept_backs_off_on_emfile(cluster):
    """A master with a 1,024-file limit and 1,500 stalled connections:
    accept() fails with EMFILE; the master pauses its listener instead of
    spinning (CPU < 20 %, log < 1 MB) and serves again once the
    connections go."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        m = cluster.start_master("--http_header_timeout=30secs")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    log0 = log_size(m)
    attack = Attack(m.port, procs=1, n=1500, open_secs=5, hold_secs=4)
    try:
        cpu = cpu_percent(m.proc.pid, 3.0)
        print(f"EMFILE: {attack.opened} connected, master CPU {cpu:.1f} %")
        assert cpu < 20, cpu
    finally:
        attack.kill()
    # The attacker's sockets are gone: the listener resumes by itself.
    wait_for(lambda: requests.get(m.url + "/health", timeout=2).status_code == 200, 15,
             what="/health after the flood")
    grew = log_size(m) - log0
    pauses = metric(m.url, "agora_http_accept_pauses_total")
    print(f"EMFILE: log grew {grew} bytes, {pauses} listener pauses")
    assert pauses and pauses > 0
    assert grew < 1_000_000
