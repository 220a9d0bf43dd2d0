"""agora-pacer-lb against a real Pacer and a real HAProxy: an app's
service port answers through HAProxy once its tasks are healthy, scaling
adds servers, deleting the app removes its frontend, and stopping
pacer-lb stops the HAProxy it started."""
import os
import re
import signal
import socket
import time

import pytest
import requests

from agora_harness import Daemon, wait_for

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


@pytest.fixture
def lb(pc, tmp_path):
    """agora-pacer-lb following pc's Pacer, with its config and sockets in
    tmp_path. At teardown it gets SIGTERM and must take its HAProxy down."""
    assert os.access(HAPROXY, os.X_OK), "haproxy is not installed (deploy/install-deps.sh)"
    cfg = str(tmp_path / "haproxy.cfg")
    d = Daemon("agora-pacer-lb", str(tmp_path / "lb"),
               [f"--marathon=http://127.0.0.1:{pc.pacer.port}", f"--haproxy_config={cfg}",
                f"--haproxy_socket={tmp_path / 'lb.sock'}", "--group=external",
                "--bind=127.0.0.1", f"--haproxy_bin={HAPROXY}", "--maxconn=2000"])
    d.cfg = cfg
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
    text = config(lb)
    assert f"frontend {name}\n    bind 127.0.0.1:{sp}\n    mode http\n" in text
    ports = sorted(t["ports"][0] for t in pc.get("/v2/apps/web/tasks").json()["tasks"])
    assert sorted(int(s.rsplit(":", 1)[1]) for s in backend_servers(text, name)) == ports
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
