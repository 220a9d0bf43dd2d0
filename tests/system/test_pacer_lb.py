"""agora-pacer-lb against a real Pacer and a real HAProxy: an app's
service port answers through HAProxy once its tasks are healthy, scaling
adds servers, deleting the app removes its frontend, and stopping
pacer-lb stops the HAProxy it started."""
import contextlib
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest
import requests

from agora_harness import Daemon, wait_for
from zk_ensemble import free_ports

HTTP_CMD = "exec /usr/bin/python3 -m http.server $PORT0 --bind 127.0.0.1"
HAPROXY = "/usr/sbin/haproxy"


def descendants(pid):
    """Pids of every live descendant of pid (from /proc)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rindex(")") + 2:].split()[0] != "Z"


def haproxy_masters(d):
    """pacer-lb's direct haproxy -W children (not its haproxy -c checks)."""
    out = []
    for p in descendants(d.proc.pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if (comm(p) == "haproxy" and b"-W" in argv
                and int(st[st.rindex(")") + 2:].split()[1]) == d.proc.pid):
            out.append(p)
    return out


def refused(port):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        return False
    except ConnectionRefusedError:
        return True
    finally:
        s.close()


def get_ok(port):
    r = requests.get(f"http://127.0.0.1:{port}/", timeout=3)
    return r.status_code == 200


@contextlib.contextmanager
def running_lb(marathons, tmp_path, extra=(), scheme="http"):
    """agora-pacer-lb following the Pacers at ports marathons, with its
    config and sockets in tmp_path. At the end it gets SIGTERM and must
    take its HAProxy down."""
    assert os.access(HAPROXY, os.X_OK), "haproxy is not installed (deploy/install-deps.sh)"
    cfg = str(tmp_path / "haproxy.cfg")
    http_port, stats_port = free_ports(2)
    urls = ",".join(f"{scheme}://127.0.0.1:{p}" for p in marathons)
    d = Daemon("agora-pacer-lb", str(tmp_path / "lb"),
               [f"--marathon={urls}", f"--haproxy_config={cfg}",
                f"--haproxy_socket={tmp_path / 'lb.sock'}", "--group=external",
                "--bind=127.0.0.1", f"--haproxy_bin={HAPROXY}", "--maxconn=2000",
                f"--http_port={http_port}", f"--stats_port={stats_port}"] + list(extra))
    d.cfg, d.http_port, d.stats_port = cfg, http_port, stats_port
    d.start()
    try:
        yield d
    finally:
        haproxies = [p for p in descendants(d.proc.pid) if comm(p) == "haproxy"]
        d.stop(timeout=15)
        failed = d.proc.returncode != 0
        left = [p for p in haproxies if alive(p)]
        for p in left:  # never leave one behind, even when the test fails
            os.kill(p, signal.SIGKILL)
        if failed or left:
            print(d.log())
        assert not failed, f"agora-pacer-lb exited with {d.proc.returncode}"
        assert not left, f"haproxy processes left after pacer-lb stopped: {left}"
        report = d.sanitizer_report()
        assert not report, report


@pytest.fixture
def lb(pc, tmp_path):
    """agora-pacer-lb following pc's Pacer."""
    with running_lb([pc.pacer.port], tmp_path) as d:
        yield d


def config(lb):
    with open(lb.cfg) as f:
        return f.read()


def backend_servers(text, name):
    m = re.search(rf"^backend {re.escape(name)}\n((?:    .*\n)*)", text, re.M)
    if not m:
        return None
    return [ln.split()[2] for ln in m.group(1).splitlines() if ln.strip().startswith("server ")]


def test_app_reached_through_haproxy(pc, lb):
    r = pc.post("/v2/apps", {
        "id": "/web", "cmd": HTTP_CMD, "cpus": 0.1, "mem": 64, "instances": 2,
        "portDefinitions": [{"port": 0}],
        "labels": {"HAPROXY_GROUP": "external"},
        "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0,
                          "gracePeriodSeconds": 10, "intervalSeconds": 1,
                          "timeoutSeconds": 2, "maxConsecutiveFailures": 3,
                          "delaySeconds": 0}]})
    assert r.status_code == 201, r.text
    app = pc.wait_app("/web", running=2, healthy=2, timeout=60)
    sp = app["portDefinitions"][0]["port"]
    name = f"web_{sp}"

    # HAProxy, started by pacer-lb, answers on the service port.
    wait_for(lambda: get_ok(sp), 30, interval=0.2, what=f"200 through HAProxy on :{sp}")
    ports = sorted(t["ports"][0] for t in pc.get("/v2/apps/web/tasks").json()["tasks"])
    # The first healthy task may be served before pacer-lb hears of the second.
    wait_for(lambda: sorted(int(s.rsplit(":", 1)[1])
                            for s in backend_servers(config(lb), name) or []) == ports,
             10, what="both tasks in the configuration")
    text = config(lb)
    assert f"frontend {name}\n    bind 127.0.0.1:{sp}\n    mode http\n" in text
    # marathon-lb's stats page and health check, on --stats_port.
    stats = f"http://127.0.0.1:{lb.stats_port}"
    r = requests.get(stats + "/haproxy?stats;csv", timeout=5)
    assert r.status_code == 200 and f"\n{name},FRONTEND," in r.text, r.text[:2000]
    assert f"\n{name},BACKEND," in r.text, r.text[:2000]
    assert requests.get(stats + "/_haproxy_health_check", timeout=5).status_code == 200
    masters = haproxy_masters(lb)
    assert len(masters) == 1, f"pacer-lb's haproxy masters: {masters}"
    for _ in range(4):  # both backends serve (roundrobin)
        assert get_ok(sp)

    # Scale to 3: a third server once the new task is healthy.
    r = pc.put("/v2/apps/web", {"instances": 3})
    assert r.status_code == 200, r.text
    pc.wait_app("/web", running=3, healthy=3, timeout=60)
    wait_for(lambda: len(backend_servers(config(lb), name) or []) == 3, 30,
             what="3 servers in the configuration")
    assert get_ok(sp)
    # The same HAProxy master was reloaded, not replaced.
    assert haproxy_masters(lb) == masters

    # Delete: the frontend goes, the port refuses.
    r = pc.delete("/v2/apps/web")
    assert r.status_code == 200, r.text
    wait_for(lambda: f"frontend {name}" not in config(lb), 30, what="frontend removed")
    wait_for(lambda: refused(sp), 30, interval=0.2, what=f"port {sp} refused")
    assert "defaults\n" in config(lb)

    # Its own endpoints.
    assert requests.get(lb.url + "/health", timeout=5).status_code == 200
    metrics = requests.get(lb.url + "/metrics", timeout=5).text
    m = re.search(r"^agora_pacer_lb_config_applied_total (\S+)", metrics, re.M)
    assert m and float(m.group(1)) >= 3, metrics


# An HTTP server that answers its own port (so a test sees which instance
# served it) and fails GET /health while <flag>.<port> exists.
ECHO_SERVER = r'''
import http.server, os, sys
port, flag = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        sick = self.path == "/health" and os.path.exists(f"{flag}.{port}")
        body = str(port).encode()
        self.send_response(500 if sick else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
# As a well-behaved service does: on SIGTERM keep answering for a grace
# period (Marathon's taskKillGracePeriodSeconds), so that the requests in
# flight when its kill began end well while pacer-lb drains it.
import signal, threading
signal.signal(signal.SIGTERM, lambda *a: threading.Timer(1.5, lambda: os._exit(0)).start())
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
'''


def metric(lb, name):
    text = requests.get(lb.url + "/metrics", timeout=5).text
    m = re.search(rf"^{name} (\S+)", text, re.M)
    return float(m.group(1)) if m else 0.0


def workers(master):
    return sorted(p for p in descendants(master) if comm(p) == "haproxy")


def served_by(sp, n=40):
    """The instance ports that answered n fresh requests on service port sp."""
    out = set()
    for _ in range(n):
        r = requests.get(f"http://127.0.0.1:{sp}/", timeout=3)
        if r.status_code == 200:
            out.add(int(r.text))
    return out


def scale_until_served(pc, name, n, sp, probes):
    """Scale /<name> to n and wait until fresh connections to its service
    port sp reach exactly its n tasks."""
    assert pc.put(f"/v2/apps/{name}", {"instances": n}).status_code == 200
    pc.wait_app(f"/{name}", running=n, timeout=60)
    wait_for(lambda: served_by(sp, probes) == task_ports(pc, name), 30, interval=0.2,
             what=f"{n} instances of /{name} served")
    assert len(task_ports(pc, name)) == n


def task_ports(pc, app_id):
    return {t["ports"][0] for t in pc.get(f"/v2/apps/{app_id}/tasks").json()["tasks"]
            if t["state"] == "TASK_RUNNING"}


class Load(threading.Thread):
    """Fresh-connection requests on a service port until stopped; every
    failure (refused, reset, timeout, non-200) is kept."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.ok, self.failed = port, 0, []
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            try:
                r = requests.get(f"http://127.0.0.1:{self.port}/", timeout=5)
                if r.status_code == 200:
                    self.ok += 1
                else:
                    self.failed.append(r.status_code)
            except requests.RequestException as e:
                self.failed.append(repr(e))
            time.sleep(0.01)

    def stop(self):
        self.stopping.set()
        self.join(10)
        return self


def post_echo_app(pc, app_id, script, flag, instances, **extra):
    """Start app_id running ECHO_SERVER (script) with one port."""
    app = {"id": app_id, "cmd": f"exec /usr/bin/python3 {script} $PORT0 {flag}",
           "cpus": 0.1, "mem": 32, "instances": instances, "portDefinitions": [{"port": 0}]}
    r = pc.post("/v2/apps", dict(app, **extra))
    assert r.status_code == 201, r.text


def status(lb):
    return requests.get(lb.url + "/status", timeout=5).json()


def test_backend_changes_without_reloads(pc, lb, tmp_path):
    script = tmp_path / "echo.py"
    script.write_text(ECHO_SERVER)
    flag = str(tmp_path / "sick")
    post_echo_app(pc, "/rt", script, flag, 3, healthChecks=[{
        "protocol": "HTTP", "path": "/health", "portIndex": 0, "gracePeriodSeconds": 10,
        "intervalSeconds": 1, "timeoutSeconds": 2, "maxConsecutiveFailures": 1000,
        "delaySeconds": 0}])
    app = pc.wait_app("/rt", running=3, healthy=3, timeout=60)
    sp = app["portDefinitions"][0]["port"]
    name = f"rt_{sp}"

    # 3 instances, each one serving.
    wait_for(lambda: served_by(sp) == task_ports(pc, "rt"), 30, interval=0.2,
             what="each of the 3 instances serving")
    [master] = haproxy_masters(lb)
    wait_for(lambda: len(workers(master)) == 1, 30, what="one haproxy worker")
    reloads, updates = metric(lb, "agora_pacer_lb_reloads_total"), \
        metric(lb, "agora_pacer_lb_runtime_updates_total")
    worker = workers(master)

    # Scale to 5: the new instances serve, through the runtime API.
    assert pc.put("/v2/apps/rt", {"instances": 5}).status_code == 200
    pc.wait_app("/rt", running=5, healthy=5, timeout=60)
    wait_for(lambda: served_by(sp) == task_ports(pc, "rt"), 30, interval=0.2,
             what="each of the 5 instances serving")
    assert len(task_ports(pc, "rt")) == 5
    assert metric(lb, "agora_pacer_lb_runtime_updates_total") > updates
    assert metric(lb, "agora_pacer_lb_reloads_total") == reloads
    assert workers(master) == worker, "haproxy's worker was replaced"
    assert len(backend_servers(config(lb), name)) == 5  # the file matches

    # Scale to 2 under load: the 3 leaving instances drain, nothing fails.
    load = Load(sp)
    load.start()
    assert pc.put("/v2/apps/rt", {"instances": 2}).status_code == 200
    pc.wait_app("/rt", running=2, healthy=2, timeout=60)
    wait_for(lambda: served_by(sp) == task_ports(pc, "rt"), 30, interval=0.2,
             what="only the 2 instances left serving")
    wait_for(lambda: len(status(lb)["backends"][name]) == 2, 30,
             what="the drained servers deleted")
    load.stop()
    assert not load.failed, f"{len(load.failed)} of {load.ok} requests failed: {load.failed[:5]}"
    assert load.ok > 20
    print(f"scale 5 -> 2: {load.ok} requests, 0 failed")
    assert metric(lb, "agora_pacer_lb_reloads_total") == reloads
    assert workers(master) == worker
    st = status(lb)
    assert {s["state"] for s in st["backends"][name]} == {"ready"}
    assert st["last_apply"]["kind"] == "runtime"

    # An instance whose health check fails leaves rotation, and comes back.
    sick, well = sorted(task_ports(pc, "rt"))
    open(f"{flag}.{sick}", "w").close()
    wait_for(lambda: served_by(sp, 10) == {well}, 30, interval=0.2,
             what=f"instance {sick} out of rotation")
    os.unlink(f"{flag}.{sick}")
    wait_for(lambda: served_by(sp) == {sick, well}, 30, interval=0.2,
             what=f"instance {sick} back in rotation")
    assert metric(lb, "agora_pacer_lb_reloads_total") == reloads

    # A new app is a new frontend: exactly one validated reload, and the
    # other app keeps answering through it.
    load = Load(sp)
    load.start()
    post_echo_app(pc, "/other", script, flag, 1, labels={"HAPROXY_0_MODE": "http"})
    other = pc.wait_app("/other", running=1, timeout=60)["portDefinitions"][0]["port"]
    wait_for(lambda: served_by(other, 3) == task_ports(pc, "other"), 30, interval=0.2,
             what="the new app serving")
    wait_for(lambda: not status(lb)["applying"], 10, what="the reload settled")
    load.stop()
    assert not load.failed, f"{len(load.failed)} of {load.ok} requests failed: {load.failed[:5]}"
    assert metric(lb, "agora_pacer_lb_reloads_total") == reloads + 1
    assert served_by(sp) == task_ports(pc, "rt")
    assert re.search(r"applied by reload in [0-9.]+ ms", lb.log())
    assert metric(lb, "agora_pacer_lb_config_rejected_total") == 0
    m = requests.get(lb.url + "/metrics", timeout=5).text
    print("\n".join(ln for ln in m.splitlines() if "apply_seconds" in ln))


def test_restart_attached_without_reload(pc, tmp_path):
    """pacer-lb attached to an HAProxy it did not start (--haproxy_master_socket):
    restarting pacer-lb keeps HAProxy, its worker and the configuration; no
    reload when the routing is the same, no failed request meanwhile."""
    cfg, sock, msock = (str(tmp_path / n) for n in ("haproxy.cfg", "lb.sock", "master.sock"))
    with open(cfg, "w") as f:
        f.write(f"global\n    stats socket {sock} mode 600 level admin expose-fd listeners\n"
                "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n"
                "    timeout server 60s\n")
    hap = subprocess.Popen([HAPROXY, "-W", "-db", "-f", cfg, "-S", msock],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d = Daemon("agora-pacer-lb", str(tmp_path / "lb"),
               [f"--marathon=http://127.0.0.1:{pc.pacer.port}", f"--haproxy_config={cfg}",
                f"--haproxy_socket={sock}", f"--haproxy_master_socket={msock}",
                "--bind=127.0.0.1", f"--haproxy_bin={HAPROXY}", "--stats_port=0"])
    d.cfg = cfg
    try:
        wait_for(lambda: os.path.exists(sock), 10, what="haproxy's admin socket")
        d.start()
        script = tmp_path / "echo.py"
        script.write_text(ECHO_SERVER)
        post_echo_app(pc, "/keep", script, tmp_path / "sick", 2,
                      labels={"HAPROXY_0_MODE": "http"})
        sp = pc.wait_app("/keep", running=2, timeout=60)["portDefinitions"][0]["port"]
        wait_for(lambda: served_by(sp, 10) == task_ports(pc, "keep"), 30, interval=0.2,
                 what="both instances serving through the attached haproxy")
        assert metric(d, "agora_pacer_lb_reloads_total") >= 1
        wait_for(lambda: len(workers(hap.pid)) == 1, 30, what="one haproxy worker")
        worker, text = workers(hap.pid), config(d)

        load = Load(sp)
        load.start()
        d.stop(timeout=15)
        assert d.proc.returncode == 0, d.log()
        assert hap.poll() is None, "haproxy stopped with pacer-lb"
        d.start()
        wait_for(lambda: metric(d, "agora_pacer_lb_refreshes_total") >= 1, 30,
                 what="pacer-lb read the apps again")
        wait_for(lambda: not status(d)["applying"], 10, what="nothing being applied")
        assert metric(d, "agora_pacer_lb_reloads_total") == 0
        assert metric(d, "agora_pacer_lb_config_applied_total") == 0
        assert config(d) == text
        assert workers(hap.pid) == worker

        # And it keeps following: a third instance through the runtime API.
        assert pc.put("/v2/apps/keep", {"instances": 3}).status_code == 200
        pc.wait_app("/keep", running=3, timeout=60)
        wait_for(lambda: served_by(sp) == task_ports(pc, "keep"), 30, interval=0.2,
                 what="the third instance serving")
        load.stop()
        assert not load.failed, f"{len(load.failed)} of {load.ok} requests failed: {load.failed[:5]}"
        assert load.ok > 10
        assert metric(d, "agora_pacer_lb_reloads_total") == 0
        assert metric(d, "agora_pacer_lb_runtime_updates_total") >= 1
        assert workers(hap.pid) == worker
    finally:
        d.stop(timeout=15)
        hap.terminate()
        try:
            hap.wait(10)
        except subprocess.TimeoutExpired:
            hap.kill()
            hap.wait(10)
        if d.proc is not None and d.proc.returncode != 0:
            print(d.log())
    assert d.proc.returncode == 0
    assert not d.sanitizer_report()


HEALTH = [{"protocol": "HTTP", "path": "/health", "portIndex": 0, "gracePeriodSeconds": 10,
           "intervalSeconds": 1, "timeoutSeconds": 2, "maxConsecutiveFailures": 3,
           "delaySeconds": 0}]


def test_rolling_restart_under_load(pc, lb, tmp_path):
    """A restart replaces every instance (new ones healthy before old ones
    go, Marathon's default upgrade strategy): the service port answers
    every request throughout, through the runtime API, with no reload."""
    script = tmp_path / "echo.py"
    script.write_text(ECHO_SERVER)
    post_echo_app(pc, "/roll", script, str(tmp_path / "sick"), 3, healthChecks=HEALTH)
    sp = pc.wait_app("/roll", running=3, healthy=3, timeout=60)["portDefinitions"][0]["port"]
    before = task_ports(pc, "roll")
    wait_for(lambda: served_by(sp) == before, 30, interval=0.2, what="the 3 instances serving")
    [master] = haproxy_masters(lb)
    wait_for(lambda: len(workers(master)) == 1, 30, what="one haproxy worker")
    worker, reloads = workers(master), metric(lb, "agora_pacer_lb_reloads_total")

    load = Load(sp)
    load.start()
    t0 = time.monotonic()
    r = pc.post("/v2/apps/roll/restart")
    assert r.status_code == 200, r.text
    wait_for(lambda: not pc.get("/v2/deployments").json(), 90, interval=0.2,
             what="the restart deployment finished")
    after = task_ports(pc, "roll")
    wait_for(lambda: served_by(sp) == task_ports(pc, "roll"), 30, interval=0.2,
             what="only the new instances serving")
    # Keep the load on for at least 20 s in all, old instances' drains
    # included.
    wait_for(lambda: time.monotonic() - t0 >= 20, 30, interval=0.5, what="20 s of load")
    load.stop()
    assert len(after) == 3 and not (after & before), (before, after)
    assert not load.failed, f"{len(load.failed)} of {load.ok} requests failed: {load.failed[:5]}"
    assert load.ok > 100
    print(f"rolling restart: {load.ok} requests in {time.monotonic() - t0:.1f} s, 0 failed")
    assert metric(lb, "agora_pacer_lb_reloads_total") == reloads
    assert workers(master) == worker, "haproxy's worker was replaced"
    assert status(lb)["last_apply"]["kind"] == "runtime"


def test_follows_pacer_leader_failover(pq, tmp_path):
    """pacer-lb given every member of a Pacer quorum, the leader first:
    kill -9 of the leader leaves HAProxy routing (no failed request), and
    pacer-lb moves to a member that answers and follows the new leader's
    changes."""
    script = tmp_path / "echo.py"
    script.write_text(ECHO_SERVER)
    post_echo_app(pq, "/ha", script, str(tmp_path / "sick"), 2, healthChecks=HEALTH)
    sp = pq.wait_app("/ha", running=2, healthy=2, timeout=60)["portDefinitions"][0]["port"]
    ports = [pq.pacer.port] + [d.port for d in pq.pacers if d is not pq.pacer]
    with running_lb(ports, tmp_path) as lb:
        wait_for(lambda: served_by(sp, 10) == task_ports(pq, "ha"), 30, interval=0.2,
                 what="both instances serving")
        load = Load(sp)
        load.start()
        old = pq.pacer
        old.proc.kill()
        old.proc.wait(10)
        pq.wait_pacer_leader(exclude=old, timeout=30)
        wait_for(lambda: metric(lb, "agora_pacer_lb_marathon_switches_total") >= 1, 30,
                 interval=0.2, what="pacer-lb moved off the dead leader")
        assert pq.put("/v2/apps/ha", {"instances": 3}).status_code == 200
        pq.wait_app("/ha", running=3, healthy=3, timeout=60)
        wait_for(lambda: served_by(sp) == task_ports(pq, "ha"), 30, interval=0.2,
                 what="the instance the new leader started serving")
        load.stop()
        assert not load.failed, \
            f"{len(load.failed)} of {load.ok} requests failed: {load.failed[:5]}"
        assert load.ok > 10
        assert metric(lb, "agora_pacer_lb_reloads_total") <= 1  # the first apply only


def by_host(lb, host, path="/", n=6):
    """The instance ports (or HTTP statuses) answering n fresh requests on
    the shared HTTP frontend with this Host header."""
    out = set()
    for _ in range(n):
        r = requests.get(f"http://127.0.0.1:{lb.http_port}{path}", headers={"Host": host},
                         timeout=3)
        out.add(int(r.text) if r.status_code == 200 else r.status_code)
    return out


def test_vhost_and_path(pc, lb, tmp_path):
    """HAPROXY_0_VHOST routes by Host header on --http_port (with or without
    the Host's port, any case), HAPROXY_0_PATH within that host goes to its
    own app, another host gets 503, and the service port still serves."""
    script = tmp_path / "echo.py"
    script.write_text(ECHO_SERVER)
    flag = tmp_path / "sick"
    post_echo_app(pc, "/vh", script, flag, 1, labels={"HAPROXY_0_VHOST": "vh.test, www.vh.test"})
    post_echo_app(pc, "/vhapi", script, flag, 1,
                  labels={"HAPROXY_0_VHOST": "vh.test", "HAPROXY_0_PATH": "/api"})
    sp = pc.wait_app("/vh", running=1, timeout=60)["portDefinitions"][0]["port"]
    pc.wait_app("/vhapi", running=1, timeout=60)
    vh, api = task_ports(pc, "vh"), task_ports(pc, "vhapi")
    wait_for(lambda: by_host(lb, "vh.test:80") == vh and by_host(lb, "vh.test", "/api/x") == api,
             30, interval=0.2, what="vh.test and vh.test/api routed on the HTTP port")
    assert by_host(lb, "WWW.VH.test") == vh
    assert by_host(lb, "www.vh.test", "/api/x") == vh  # the path is vh.test's only
    assert by_host(lb, "other.test") == {503}
    assert by_host(lb, "other.test", "/api") == {503}
    assert served_by(sp, 4) == vh  # and on its own service port
    text = config(lb)
    assert f"frontend marathon_http_in\n    bind 127.0.0.1:{lb.http_port}\n    mode http\n" in text
    assert status(lb)["excluded_apps"] == []

    # Scaling a vhost app is a runtime update like any other.
    reloads = metric(lb, "agora_pacer_lb_reloads_total")
    assert pc.put("/v2/apps/vh", {"instances": 2}).status_code == 200
    pc.wait_app("/vh", running=2, timeout=60)
    wait_for(lambda: by_host(lb, "vh.test", n=10) == task_ports(pc, "vh"), 30, interval=0.2,
             what="both vh instances routed by host")
    assert len(task_ports(pc, "vh")) == 2
    wait_for(lambda: not status(lb)["applying"], 10, what="nothing being applied")
    assert metric(lb, "agora_pacer_lb_reloads_total") == reloads


def test_bad_labels_excluded(pc, lb, tmp_path):
    """An app whose labels make the configuration invalid is left out and
    reported at /status and /metrics, whichever check finds it (pacer-lb's
    own label check, haproxy -c, or the bind probe for a port another
    program holds); the other apps keep updating; fixed, it is served."""
    script = tmp_path / "echo.py"
    script.write_text(ECHO_SERVER)
    flag = tmp_path / "sick"
    post_echo_app(pc, "/good", script, flag, 1)
    sp = pc.wait_app("/good", running=1, timeout=60)["portDefinitions"][0]["port"]
    wait_for(lambda: served_by(sp, 4) == task_ports(pc, "good"), 30, interval=0.2,
             what="the good app serving")
    wait_for(lambda: not status(lb)["applying"], 10, what="nothing being applied")
    reloads = metric(lb, "agora_pacer_lb_reloads_total")

    held = socket.socket()  # a port some other program listens on
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    held_port = held.getsockname()[1]
    try:
        post_echo_app(pc, "/bad", script, flag, 1, labels={"HAPROXY_0_BIND_ADDR": "999.1.1.1"})
        post_echo_app(pc, "/worse", script, flag, 1, labels={"HAPROXY_0_BALANCE": "static-rr"})
        post_echo_app(pc, "/clash", script, flag, 1, labels={"HAPROXY_0_PORT": str(held_port)})
        for app in ("/bad", "/worse", "/clash"):
            pc.wait_app(app, running=1, timeout=60)

        def excluded():
            return {e["app"]: e["reason"] for e in status(lb)["excluded_apps"]}
        wait_for(lambda: set(excluded()) == {"/bad", "/worse", "/clash"}, 30,
                 what="the three bad apps excluded")
        why = excluded()
        assert "'bind' : invalid address: '999.1.1.1'" in why["/bad"], why  # haproxy -c's words
        assert why["/worse"].startswith("HAPROXY_0_BALANCE 'static-rr' is not one of"), why
        assert why["/clash"] == (f"cannot bind 127.0.0.1:{held_port}: Address already in use"), why
        assert metric(lb, "agora_pacer_lb_excluded_apps") == 3
        assert metric(lb, "agora_pacer_lb_config_rejected_total") == 1
        text = config(lb)
        assert not re.search(r"^(frontend|backend) (bad|worse|clash)_", text, re.M), text
        assert re.search(r"leaving bad_\d+ \(app /bad\) out of the configuration: parsing "
                         r"\[.*haproxy.cfg.candidate:\d+\] : 'bind' : invalid address", lb.log())

        # The good app keeps following: a second instance, by the runtime API.
        assert pc.put("/v2/apps/good", {"instances": 2}).status_code == 200
        pc.wait_app("/good", running=2, timeout=60)
        wait_for(lambda: served_by(sp, 10) == task_ports(pc, "good"), 30, interval=0.2,
                 what="both good instances serving")
        assert len(task_ports(pc, "good")) == 2
        wait_for(lambda: not status(lb)["applying"], 10, what="nothing being applied")
        # No bad app cost a reload: each was left out before one was needed.
        assert metric(lb, "agora_pacer_lb_reloads_total") == reloads

        # Scaling a bad app (its configuration unchanged) does not try it again.
        assert pc.put("/v2/apps/bad", {"instances": 2}).status_code == 200
        pc.wait_app("/bad", running=2, timeout=60)
        wait_for(lambda: not status(lb)["applying"], 10, what="nothing being applied")
        assert metric(lb, "agora_pacer_lb_config_rejected_total") == 1

        # Fixed, it is tried again and served: one validated reload.
        r = pc.put("/v2/apps/bad", {"labels": {"HAPROXY_0_BIND_ADDR": "127.0.0.1"}})
        assert r.status_code == 200, r.text
        bad_sp = pc.app("/bad")["portDefinitions"][0]["port"]
        wait_for(lambda: set(excluded()) == {"/worse", "/clash"}, 60, what="/bad included")
        wait_for(lambda: served_by(bad_sp, 4) == task_ports(pc, "bad"), 60, interval=0.2,
                 what="the fixed app serving")
        assert metric(lb, "agora_pacer_lb_excluded_apps") == 2
        assert metric(lb, "agora_pacer_lb_reloads_total") == reloads + 1
    finally:
        held.close()
    # The port is free now, but /clash is tried again only when it changes.
    assert pc.put("/v2/apps/clash", {"labels": {"HAPROXY_0_PORT": str(held_port),
                                                "changed": "1"}}).status_code == 200
    wait_for(lambda: {e["app"] for e in status(lb)["excluded_apps"]} == {"/worse"}, 60,
             what="/clash included once changed")
    assert metric(lb, "agora_pacer_lb_excluded_apps") == 1


def test_sticky_reloads_and_keeps_clients(pc, lb, tmp_path):
    """HAPROXY_0_STICKY: a cookie pins a client to its instance. HAProxy 2.6
    refuses cookies on servers added at run time, so a new instance of a
    sticky app is a validated reload, and the pinned client stays put."""
    script = tmp_path / "echo.py"
    script.write_text(ECHO_SERVER)
    post_echo_app(pc, "/sticky", script, tmp_path / "sick", 2,
                  labels={"HAPROXY_0_STICKY": "true", "HAPROXY_0_MODE": "http"})
    sp = pc.wait_app("/sticky", running=2, timeout=60)["portDefinitions"][0]["port"]
    wait_for(lambda: served_by(sp, 10) == task_ports(pc, "sticky"), 30, interval=0.2,
             what="both sticky instances serving")
    r = requests.get(f"http://127.0.0.1:{sp}/", timeout=3)
    pinned, cookie = int(r.text), r.cookies.get("mesosphere_server_id")
    assert cookie == f"127.0.0.1_{pinned}", r.headers

    def pinned_to():
        return {int(requests.get(f"http://127.0.0.1:{sp}/", timeout=3,
                                 cookies={"mesosphere_server_id": cookie}).text)
                for _ in range(8)}
    assert pinned_to() == {pinned}
    wait_for(lambda: not status(lb)["applying"], 10, what="nothing being applied")
    reloads = metric(lb, "agora_pacer_lb_reloads_total")
    masters = haproxy_masters(lb)

    assert pc.put("/v2/apps/sticky", {"instances": 3}).status_code == 200
    pc.wait_app("/sticky", running=3, timeout=60)
    wait_for(lambda: served_by(sp, 12) == task_ports(pc, "sticky"), 30, interval=0.2,
             what="the third sticky instance serving")
    assert len(task_ports(pc, "sticky")) == 3
    assert metric(lb, "agora_pacer_lb_reloads_total") > reloads
    assert haproxy_masters(lb) == masters
    assert pinned_to() == {pinned}
    servers = re.findall(r"^    server (\S+) \S+ cookie (\S+)$", config(lb), re.M)
    assert len(servers) == 3 and all(n == c for n, c in servers), config(lb)


def test_http_port_taken(pc, lb, tmp_path):
    """When another program holds --http_port, the shared HTTP frontend is
    left out (reported at /status) and the VHOST app still serves on its
    service port; once the port is free, the next change routes by host."""
    held = socket.socket()
    held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    held.bind(("127.0.0.1", lb.http_port))
    held.listen(1)
    script = tmp_path / "echo.py"
    script.write_text(ECHO_SERVER)
    try:
        post_echo_app(pc, "/vh", script, tmp_path / "sick", 1,
                      labels={"HAPROXY_0_VHOST": "vh.test"})
        sp = pc.wait_app("/vh", running=1, timeout=60)["portDefinitions"][0]["port"]
        wait_for(lambda: served_by(sp, 4) == task_ports(pc, "vh"), 30, interval=0.2,
                 what="the vhost app on its service port")
        err = status(lb)["http_frontend"]["error"]
        assert err == f"cannot bind 127.0.0.1:{lb.http_port}: Address already in use", err
        assert "marathon_http_in" not in config(lb)
        assert status(lb)["excluded_apps"] == []
    finally:
        held.close()
    assert pc.put("/v2/apps/vh", {"instances": 2}).status_code == 200
    pc.wait_app("/vh", running=2, timeout=60)
    wait_for(lambda: by_host(lb, "vh.test", n=10) == task_ports(pc, "vh"), 30, interval=0.2,
             what="both instances routed by host once the port is free")
    assert status(lb)["http_frontend"] == {"port": lb.http_port, "error": None}


def test_templates_dir_and_template_labels(pc, tmp_path):
    """--templates_dir's marathon-lb templates replace the defaults for
    every app (HAPROXY_HEAD adds an operator's listen section, with {{ }}
    for HAProxy's braces; HAPROXY_BACKEND_HEAD a response header), an
    app's HAPROXY_0_BACKEND_HEAD label wins for its port, an app whose
    label template opens a section of its own is left out with the reason,
    and scaling a templated app is still a runtime update."""
    ops_port, = free_ports(1)
    tdir = tmp_path / "templates"
    tdir.mkdir()
    (tdir / "HAPROXY_HEAD").write_text(
        "global\n  maxconn {maxconn}\n  hard-stop-after 30s\n\n"
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n"
        "  timeout server 60s\n\n"
        f"listen ops\n  bind 127.0.0.1:{ops_port}\n  mode http\n"
        "  http-request return status 200 content-type text/plain string agora-ops "
        "if {{ path /ops }}\n")
    (tdir / "HAPROXY_BACKEND_HEAD").write_text(
        "\nbackend {backend}\n  mode {mode}\n  balance {balance}\n"
        "  http-response set-header X-Agora-Backend {backend}\n")
    script = tmp_path / "echo.py"
    script.write_text(ECHO_SERVER)
    flag = tmp_path / "sick"
    with running_lb([pc.pacer.port], tmp_path, extra=[f"--templates_dir={tdir}"]) as lb:
        post_echo_app(pc, "/tpl", script, flag, 1, labels={"HAPROXY_0_MODE": "http"})
        post_echo_app(pc, "/tplb", script, flag, 1, labels={
            "HAPROXY_0_MODE": "http",
            "HAPROXY_0_BACKEND_HEAD": "\nbackend {backend}\n mode http\n balance {balance}\n"
                                      " http-response set-header X-Label {appId}\n"})
        post_echo_app(pc, "/tplbad", script, flag, 1, labels={
            "HAPROXY_0_BACKEND_HEAD": "\nbackend {backend}\n mode tcp\nlisten evil\n bind :1\n"})
        sp = pc.wait_app("/tpl", running=1, timeout=60)["portDefinitions"][0]["port"]
        spb = pc.wait_app("/tplb", running=1, timeout=60)["portDefinitions"][0]["port"]
        pc.wait_app("/tplbad", running=1, timeout=60)

        def answer(port):
            try:
                return requests.get(f"http://127.0.0.1:{port}/", timeout=3)
            except requests.RequestException:
                return None
        wait_for(lambda: (answer(sp) is not None and answer(sp).status_code == 200
                          and answer(spb) is not None and answer(spb).status_code == 200),
                 30, interval=0.2, what="both templated apps served")
        assert answer(sp).headers.get("X-Agora-Backend") == f"tpl_{sp}"
        r = answer(spb)
        assert r.headers.get("X-Label") == "/tplb", r.headers
        assert "X-Agora-Backend" not in r.headers  # the label replaced the dir's template
        r = requests.get(f"http://127.0.0.1:{ops_port}/ops", timeout=3)
        assert (r.status_code, r.text) == (200, "agora-ops")
        why = {e["app"]: e["reason"] for e in status(lb)["excluded_apps"]}
        assert why == {"/tplbad": 'HAPROXY_0_BACKEND_HEAD: must open "backend tplbad_'
                       + str(pc.app("/tplbad")["portDefinitions"][0]["port"])
                       + '" on its first line and no other section (found "listen evil")'}, why
        assert "listen evil" not in config(lb)

        wait_for(lambda: not status(lb)["applying"], 10, what="nothing being applied")
        reloads = metric(lb, "agora_pacer_lb_reloads_total")
        scale_until_served(pc, "tpl", 2, sp, 10)
        wait_for(lambda: not status(lb)["applying"], 10, what="nothing being applied")
        assert metric(lb, "agora_pacer_lb_reloads_total") == reloads


def test_events_read_only_their_app(pc, tmp_path):
    """With no periodic resync, a new app, a replaced task, a scale-up and
    a deletion are all followed without one full read of /v2/apps: a new
    or deleted app costs reads of that app only, a task event none (it
    patches the kept apps), and a ScaleApplication of a known app none
    beyond its api_post_event (its instances arrive as task events)."""
    script = tmp_path / "echo.py"
    script.write_text(ECHO_SERVER)
    flag = tmp_path / "sick"
    with running_lb([pc.pacer.port], tmp_path, extra=["--resync_interval=0"]) as lb:
        wait_for(lambda: metric(lb, "agora_pacer_lb_config_applied_total") >= 1, 30,
                 what="the first configuration applied")
        full = metric(lb, "agora_pacer_lb_refreshes_total")
        reads = metric(lb, "agora_pacer_lb_app_reads_total")

        post_echo_app(pc, "/ev", script, flag, 1)
        sp = pc.wait_app("/ev", running=1, timeout=60)["portDefinitions"][0]["port"]
        wait_for(lambda: served_by(sp, 4) == task_ports(pc, "ev"), 30, interval=0.2,
                 what="the new app served")
        new_reads = metric(lb, "agora_pacer_lb_app_reads_total") - reads
        print(f"new app: {new_reads:.0f} app reads")
        assert new_reads >= 1

        # A task killed (not scaled): its replacement comes by task events.
        reads = metric(lb, "agora_pacer_lb_app_reads_total")
        old, = pc.get("/v2/apps/ev/tasks").json()["tasks"]
        assert pc.delete(f"/v2/apps/ev/tasks/{old['id']}").status_code == 200
        wait_for(lambda: (task_ports(pc, "ev") and old["ports"][0] not in task_ports(pc, "ev")
                          and served_by(sp, 4) == task_ports(pc, "ev")),
                 60, interval=0.2, what="the replacement served, the old one gone")
        assert metric(lb, "agora_pacer_lb_app_reads_total") == reads

        # Scaled: the api_post_event's read at most; the plan reads nothing.
        reads = metric(lb, "agora_pacer_lb_app_reads_total")
        scale_until_served(pc, "ev", 3, sp, 15)
        scale_reads = metric(lb, "agora_pacer_lb_app_reads_total") - reads
        print(f"scale-up: {scale_reads:.0f} app reads")
        assert scale_reads <= 1

        assert pc.delete("/v2/apps/ev").status_code == 200
        wait_for(lambda: f"frontend ev_{sp}" not in config(lb), 30,
                 what="the deleted app's frontend removed")
        assert metric(lb, "agora_pacer_lb_refreshes_total") == full


def test_https_frontend_and_redirect(pc, tmp_path):
    """--ssl_certs adds marathon-lb's HTTPS frontend (marathon_https_in on
    --https_port, presenting that certificate) with the VHOST routes of the
    HTTP one; an app with HAPROXY_0_REDIRECT_TO_HTTPS answers plain HTTP
    with a 301 to https and is served over TLS; one without it is served on
    both."""
    pem = tmp_path / "site.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(tmp_path / "site.key"),
                    "-out", str(tmp_path / "site.crt"), "-days", "2", "-subj", "/CN=sec.test",
                    "-addext", "subjectAltName=DNS:sec.test,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    pem.write_text((tmp_path / "site.crt").read_text() + (tmp_path / "site.key").read_text())
    https_port, = free_ports(1)
    script = tmp_path / "echo.py"
    script.write_text(ECHO_SERVER)
    flag = tmp_path / "sick"
    with running_lb([pc.pacer.port], tmp_path,
                    extra=[f"--ssl_certs={pem}", f"--https_port={https_port}"]) as lb:
        post_echo_app(pc, "/sec", script, flag, 1,
                      labels={"HAPROXY_0_VHOST": "sec.test", "HAPROXY_0_REDIRECT_TO_HTTPS": "true"})
        post_echo_app(pc, "/plain", script, flag, 1, labels={"HAPROXY_0_VHOST": "plain.test"})
        pc.wait_app("/sec", running=1, timeout=60)
        pc.wait_app("/plain", running=1, timeout=60)
        sec, plain = task_ports(pc, "sec"), task_ports(pc, "plain")

        def over_https(host):
            r = requests.get(f"https://127.0.0.1:{https_port}/x", headers={"Host": host},
                             timeout=3, verify=str(tmp_path / "site.crt"))
            return int(r.text) if r.status_code == 200 else r.status_code

        # Within the first applies, not at the next resync: the HTTPS bind
        # (words after its port) is known as bound, not probed again.
        wait_for(lambda: by_host(lb, "plain.test", n=2) == plain and over_https("sec.test") in sec,
                 10, interval=0.2, what="both apps routed")
        r = requests.get(f"http://127.0.0.1:{lb.http_port}/x?a=1", headers={"Host": "sec.test"},
                         timeout=3, allow_redirects=False)
        assert r.status_code == 301, (r.status_code, r.text)
        assert r.headers["Location"] == "https://sec.test/x?a=1"
        assert over_https("plain.test") in plain
        assert over_https("other.test") == 503
        got = ssl.get_server_certificate(("127.0.0.1", https_port))
        assert ssl.PEM_cert_to_DER_cert(got) == \
            ssl.PEM_cert_to_DER_cert((tmp_path / "site.crt").read_text())
        assert status(lb)["excluded_apps"] == []
