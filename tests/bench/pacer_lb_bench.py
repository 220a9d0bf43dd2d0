#!/usr/bin/python3
"""agora-pacer-lb's performance budget (issue 11): Pacer on emulated
slaves, real HAProxy, real listeners on the tasks' ports.

Set-up (pacer_bench.Bench): a fresh agora-master, agora-bench's emulated
slaves (--frameworks=0 --hold, tasks RUNNING at once) with
--slave_ports_per_slave so that every slave offers its own slice of the
port range (every task's address is 127.0.0.1:<its port>), and
agora-pacer. Listener processes (this script, --_listen) bind every one of
those ports on 127.0.0.1 and answer each connection with the port it came
in on, at most --ports_per_listener ports a process (the 20,000 open files
limit). --apps apps of --instances instances (`sleep`, one port each, no
health check) are deployed in one POST /v2/groups; then agora-pacer-lb is
started against that Pacer and starts its HAProxy (master-worker).

Figures:
  startup            pacer-lb start -> its first apply (full GET, render,
                     haproxy -c, HAProxy started); render_ms from its
                     agora_pacer_lb_render_seconds; haproxy_check_ms is
                     `haproxy -c` of the written file, run here; pacer-lb's
                     RSS at that size.
  up_ms              --steps times: PUT instances+1 of an app; from the
                     new task's status_update_event TASK_RUNNING (read here
                     on /v2/events) to the first fresh TCP connection on
                     the app's service port (127.0.0.1, through HAProxy)
                     answered by that task's port.
  down_ms            --steps times: DELETE /v2/apps/{id}/tasks/{task}
                     ?scale=true; from the task's first TASK_KILLING or
                     TASK_KILLED event to the first probe after which that
                     port never answers again (--clean_probes probes, at
                     least 3 per server).
  churn              --restarts rolling restarts and --failures killed
                     instances (scale=false, Pacer replaces them) of
                     existing apps; with the steps, `changes` in all.
  reloads            agora_pacer_lb_reloads_total over all those changes
                     (target 0); haproxy_procs after them (target 2:
                     master + worker); probe_errors (failed probes).

Probes run back to back (--probe_gap between them), so a figure includes
the probe's own resolution: a new server is reached within one round of
the backend's servers. One JSON line on stdout; logs on stderr. Every
process started here is stopped by pid at the end; every wait has a
deadline.

    tests/bench/pacer_lb_bench.py                       # 1,000 apps x 10
    tests/bench/pacer_lb_bench.py --apps=10 --instances=3
    tests/bench/pacer_lb_bench.py --small               # smoke, ~15 s
"""
import argparse
import errno
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from pacer_bench import (REPO, Bench, Failed, bench_main, cpu_s, log, metric,  # noqa: E402
                         read_port, rss_mb, wait_for)

PROBE = b"GET / HTTP/1.0\r\n\r\n"


def pct(v, q):
    if not v:
        return None
    s = sorted(v)
    return s[min(len(s) - 1, int(round(q / 100.0 * (len(s) - 1))))]


def summary(v):
    return {"p50": statistics.median(v) if v else None, "p99": pct(v, 99),
            "max": max(v) if v else None, "n": len(v)}


# ---------------------------------------------------------------- listener

def listener_child(first, last):
    """Bind 127.0.0.1:first..last; answer each connection, once its request
    head is in (or after 64 KB or EOF), with an HTTP/1.0 response whose
    body is the port it came in on, then close. One thread, epoll. Prints
    'ready <bound> <failed>' once every port is bound (or failed)."""
    sel = selectors.DefaultSelector()
    bound = failed = 0
    for port in range(first, last + 1):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen(256)
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
            failed += 1
            s.close()
            continue
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, ("l", str(port).encode()))
        bound += 1
    print(f"ready {bound} {failed}", flush=True)
    bufs = {}
    while True:
        for key, _ in sel.select():
            kind, port = key.data
            if kind == "l":
                try:
                    c, _ = key.fileobj.accept()
                except BlockingIOError:
                    continue
                c.setblocking(False)
                bufs[c] = b""
                sel.register(c, selectors.EVENT_READ, ("c", port))
                continue
            c = key.fileobj
            try:
                data = c.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            bufs[c] += data
            if data and b"\r\n\r\n" not in bufs[c] and len(bufs[c]) < 65536:
                continue
            try:
                c.send(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                       % (len(port), port))
            except OSError:
                pass
            sel.unregister(c)
            del bufs[c]
            c.close()


def start_listeners(procs, tmp, first, last, per_proc):
    out = []
    for lo in range(first, last + 1, per_proc):
        hi = min(last, lo + per_proc - 1)
        p = procs.start(f"listener-{lo}", [sys.executable, os.path.abspath(__file__),
                                           f"--_listen={lo}:{hi}"],
                        os.path.join(tmp, f"listener-{lo}.log"), stdout=subprocess.PIPE,
                        text=True)
        out.append(p)
    bound = failed = 0
    for p in out:
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ)
        line = p.stdout.readline().split() if sel.select(60) else []
        if len(line) != 3 or line[0] != "ready":
            raise Failed(f"{p.name} did not bind its ports (see its log)")
        bound += int(line[1])
        failed += int(line[2])
    log(f"listeners: {bound} ports bound on 127.0.0.1, {failed} in use elsewhere")
    return bound, failed


# ---------------------------------------------------------------- events

def events_child(hostport):
    """Read Pacer's /v2/events (status_update_event only) and print one
    line per event: 'monotonic_time taskId state appId port', flushed."""
    r = requests.get(f"http://{hostport}/v2/events?event_type=status_update_event",
                     headers={"Accept": "text/event-stream"}, stream=True, timeout=(10, None))
    if r.status_code != 200:
        raise SystemExit(f"/v2/events: {r.status_code}")
    print("ready", flush=True)
    for line in r.iter_lines(chunk_size=1):
        if not line.startswith(b"data:"):
            continue
        t = time.monotonic()
        try:
            ev = json.loads(line[5:])
        except ValueError:
            continue
        ports = ev.get("ports") or [0]
        print(f"{t:.6f} {ev.get('taskId')} {ev.get('taskStatus')} {ev.get('appId')} {ports[0]}",
              flush=True)


class Events:
    """The events child's lines, read when asked: per task id, the first
    time each state was seen, and the new RUNNING tasks per app."""

    def __init__(self, procs, tmp, pacer_port):
        self.p = procs.start("events", [sys.executable, os.path.abspath(__file__),
                                        f"--_events=127.0.0.1:{pacer_port}"],
                             os.path.join(tmp, "events.log"), stdout=subprocess.PIPE)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.buf = b""
        self.seen = {}  # task id -> {state: time}
        self.running = {}  # app id -> [(time, task id, port)]
        wait_for(lambda: self.poll(ready=True), 30, "the /v2/events reader")

    def poll(self, ready=False):
        try:
            data = os.read(self.p.stdout.fileno(), 1 << 20)
        except BlockingIOError:
            data = b""
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        got = False
        for ln in lines:
            f = ln.decode().split()
            if f == ["ready"]:
                got = True
                continue
            if len(f) != 5:
                continue
            t, task, state, app, port = float(f[0]), f[1], f[2], f[3], int(f[4])
            self.seen.setdefault(task, {}).setdefault(state, t)
            if state == "TASK_RUNNING":
                self.running.setdefault(app, []).append((t, task, port))
        return got if ready else bool(lines)

    def new_running(self, app, known, timeout):
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            for t, task, port in self.running.get(app, []):
                if task not in known:
                    return t, task, port
            if time.monotonic() > deadline:
                raise Failed(f"no new TASK_RUNNING event of {app} within {timeout} s")
            time.sleep(0.0005)

    def first_of(self, task, states, timeout):
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            ts = [t for s, t in self.seen.get(task, {}).items() if s in states]
            if ts:
                return min(ts)
            if time.monotonic() > deadline:
                raise Failed(f"no {'/'.join(states)} event of {task} within {timeout} s")
            time.sleep(0.0005)


# ---------------------------------------------------------------- probes

class Prober:
    def __init__(self, gap):
        self.gap = gap
        self.errors = 0
        self.n = 0

    def probe(self, port):
        """One fresh connection to 127.0.0.1:port: the backend port that
        answered (0: failed)."""
        self.n += 1
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(PROBE)
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            body = data.split(b"\r\n\r\n", 1)
            got = int(body[1]) if len(body) == 2 and body[1].strip().isdigit() else 0
        except OSError:
            got = 0
        finally:
            s.close()
        if not got:
            self.errors += 1
        if self.gap:
            time.sleep(self.gap)
        return got

    def until_seen(self, sp, want, timeout):
        """Probe until want answers: the time of that answer."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.probe(sp) == want:
                return time.monotonic()
        raise Failed(f"port {want} never answered on service port {sp} within {timeout} s")

    def until_gone(self, sp, gone, clean, timeout):
        """Probe until gone has not answered for clean probes in a row:
        the start time of the first of those."""
        deadline = time.monotonic() + timeout
        streak, since = 0, time.monotonic()
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            if self.probe(sp) == gone:
                streak = 0
                continue
            if streak == 0:
                since = t0
            streak += 1
            if streak >= clean:
                return since
        raise Failed(f"port {gone} still answered on service port {sp} after {timeout} s")


# ---------------------------------------------------------------- pacer-lb

def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def haproxy_procs(pid):
    """The haproxy processes below pid (master, workers, old workers)."""
    out, todo = [], children(pid)
    while todo:
        c = todo.pop()
        try:
            with open(f"/proc/{c}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{c}/stat") as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if name == "haproxy" and not zombie:
            out.append(c)
        todo.extend(children(c))
    return out


class Run:
    def __init__(self, args, tmp, procs):
        self.a = args
        self.tmp = tmp
        self.procs = procs
        self.b = Bench(args, tmp, procs)
        self.http = requests.Session()
        self.prober = Prober(args.probe_gap)
        self.changes = 0

    def pacer(self, method, path, **kw):
        r = self.http.request(method, self.b.url + path, timeout=60, **kw)
        if r.status_code >= 300:
            raise Failed(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return r.json() if r.content else None

    def lb_metric(self, name):
        return metric(self.lb_url, name)

    def deploy(self):
        a = self.a
        apps = [{"id": f"/lb/app-{i:04d}", "cmd": "sleep 3600", "cpus": 0.01, "mem": 8,
                 "instances": a.instances, "portDefinitions": [{"port": 0}]}
                for i in range(a.apps)]
        t0 = time.monotonic()
        self.pacer("POST", "/v2/groups", json={"id": "/lb", "apps": apps})
        total = a.apps * a.instances
        wait_for(lambda: metric(self.b.murl, "agora_master_tasks_running") == total,
                 a.deploy_timeout, f"{total} tasks running", interval=0.5)
        self.b.settle("the deployment", a.deploy_timeout)
        log(f"{a.apps} apps, {total} instances running in {time.monotonic() - t0:.1f} s")
        self.apps = {x["id"]: x for x in self.pacer("GET", "/v2/apps?embed=apps.tasks")["apps"]}

    def start_lb(self):
        d = os.path.join(self.tmp, "lb")
        os.makedirs(d)
        self.cfg = os.path.join(d, "haproxy.cfg")
        t0 = time.monotonic()
        self.lb = self.procs.start("agora-pacer-lb", [
            os.path.join(self.a.build, "bin", "agora-pacer-lb"), f"--marathon={self.b.url}",
            f"--haproxy_config={self.cfg}", f"--haproxy_socket={d}/haproxy.sock",
            f"--haproxy_bin={self.a.haproxy}", "--bind=127.0.0.1", "--port=0", "--stats_port=0",
            f"--port_file={d}/port", f"--work_dir={d}", "--log_level=info"],
            os.path.join(d, "log"))
        self.lb_url = f"http://127.0.0.1:{read_port(f'{d}/port', self.lb)}"

        def started():
            if self.lb.poll() is not None:
                raise Failed(f"agora-pacer-lb exited with {self.lb.returncode}")
            st = self.http.get(self.lb_url + "/status", timeout=10).json()
            return st["last_apply"]["kind"] == "start" and not st["applying"]
        wait_for(started, 120, "pacer-lb's first apply", interval=0.01)
        took = time.monotonic() - t0
        st = self.http.get(self.lb_url + "/status", timeout=10).json()
        servers = sum(len(v) for v in st["backends"].values())
        if len(st["backends"]) != self.a.apps or servers != self.a.apps * self.a.instances:
            raise Failed(f"first apply: {len(st['backends'])} backends, {servers} servers")
        # Every frontend answers (the new worker may still be loading a
        # large configuration when pacer-lb reports the apply: wait).
        for app in self.apps.values():
            sp = app["portDefinitions"][0]["port"]
            ports = {t["ports"][0] for t in app["tasks"]}
            wait_for(lambda: self.prober.probe(sp) in ports, 30,
                     f"{app['id']}: service port {sp} reaching its tasks", interval=0.01)
        serving = time.monotonic() - t0
        checks = []
        for _ in range(self.a.checks):
            c0 = time.monotonic()
            p = subprocess.run([self.a.haproxy, "-c", "-q", "-f", self.cfg],
                               capture_output=True, text=True)
            checks.append((time.monotonic() - c0) * 1e3)
            if p.returncode != 0:
                raise Failed(f"haproxy -c of the written file: {p.stderr[:500]}")
        render = self.lb_metric("agora_pacer_lb_render_seconds_sum")
        renders = self.lb_metric("agora_pacer_lb_render_seconds_count")
        log(f"pacer-lb: first apply {took * 1e3:.0f} ms after its start, "
            f"{st['last_apply']['duration_ms']:.0f} ms of it validating and starting; "
            f"haproxy -c {statistics.median(checks):.0f} ms")
        return {"start_to_applied_ms": took * 1e3,
                "start_to_serving_ms": serving * 1e3,
                "apply_ms": st["last_apply"]["duration_ms"],
                "render_ms": render / renders * 1e3 if render is not None and renders else None,
                "haproxy_check_ms": statistics.median(checks),
                "config_bytes": os.path.getsize(self.cfg),
                "rss_mb": rss_mb(self.lb.pid)}

    def tasks_of(self, app_id):
        return self.pacer("GET", f"/v2/apps{app_id}/tasks")["tasks"]

    def scale(self, app_id, n):
        self.pacer("PUT", f"/v2/apps{app_id}", json={"instances": n})
        self.changes += 1

    def wait_app(self, app_id, n):
        def ok():
            app = self.pacer("GET", f"/v2/apps{app_id}?embed=app.counts")["app"]
            return app["tasksRunning"] == n and not app.get("deployments")
        wait_for(ok, self.a.deploy_timeout, f"{app_id} at {n} running", interval=0.05)

    def step(self, app_id, events):
        """Scale app_id up by one, then kill one instance with scale=true:
        (up latency, down latency) in ms."""
        a = self.a
        app = self.pacer("GET", f"/v2/apps{app_id}")["app"]
        sp = app["portDefinitions"][0]["port"]
        n = app["instances"]
        # Known: the app's tasks now, and every task of it ever seen
        # running (an earlier step's killed instance is not new).
        events.poll()
        known = {t["id"] for t in self.tasks_of(app_id)}
        known |= {task for _, task, _ in events.running.get(app_id, [])}
        self.scale(app_id, n + 1)
        t_ev, task, port = events.new_running(app_id, known, a.deploy_timeout)
        t_seen = self.prober.until_seen(sp, port, a.route_timeout)
        up = (t_seen - t_ev) * 1e3
        self.wait_app(app_id, n + 1)

        victim = sorted(self.tasks_of(app_id), key=lambda t: t["id"])[0]
        vport = victim["ports"][0]
        self.pacer("DELETE", f"/v2/apps{app_id}/tasks/{victim['id']}?scale=true")
        self.changes += 1
        t_ev = events.first_of(victim["id"], ("TASK_KILLING", "TASK_KILLED"), a.deploy_timeout)
        clean = max(a.clean_probes, 3 * n)
        t_gone = self.prober.until_gone(sp, vport, clean, a.route_timeout)
        down = max(0.0, (t_gone - t_ev) * 1e3)
        self.wait_app(app_id, n)
        return up, down

    def churn(self, ids):
        """Rolling restarts and killed instances (replaced by Pacer)."""
        for i in range(self.a.restarts):
            app_id = ids[i % len(ids)]
            self.pacer("POST", f"/v2/apps{app_id}/restart")
            self.changes += 1
            self.b.settle(f"restart of {app_id}", self.a.deploy_timeout)
            self.wait_app(app_id, self.a.instances)
        for i in range(self.a.failures):
            app_id = ids[(i + self.a.restarts) % len(ids)]
            victim = self.tasks_of(app_id)[0]
            self.pacer("DELETE", f"/v2/apps{app_id}/tasks/{victim['id']}")
            self.changes += 1

            def replaced():
                ts = self.tasks_of(app_id)
                return (len(ts) == self.a.instances and victim["id"] not in {t["id"] for t in ts}
                        and all(t["state"] == "TASK_RUNNING" for t in ts))
            wait_for(replaced, self.a.deploy_timeout, f"{victim['id']} replaced", interval=0.05)


def run(args, tmp, procs):
    out = {"lb_issue": 11, "apps": args.apps, "instances_per_app": args.instances,
           "slaves": args.slaves, "load_start": [round(x, 2) for x in os.getloadavg()]}
    out["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                   capture_output=True, text=True).stdout.strip()
    out["dirty"] = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                       cwd=REPO, capture_output=True, text=True).stdout.strip())
    first = args.first_port
    last = first + args.slaves * args.ports_per_slave - 1
    if last >= 32768:
        raise Failed(f"task ports up to {last}: keep them below the ephemeral range (32768)")
    need = args.apps * (args.instances + 1) + args.instances
    if last - first + 1 < need:
        raise Failed(f"{last - first + 1} task ports for up to {need} tasks: raise --slaves "
                     "or --ports_per_slave")
    bound, in_use = start_listeners(procs, tmp, first, last, args.ports_per_listener)
    out["listener_ports"] = bound
    out["listener_ports_in_use_elsewhere"] = in_use

    r = Run(args, tmp, procs)
    r.b.start([f"--slave_ports_per_slave={args.ports_per_slave}"])
    r.deploy()
    out["full_config"] = r.start_lb()
    log(f"pacer-lb RSS {out['full_config']['rss_mb']:.1f} MB")
    events = Events(procs, tmp, r.b.pport)
    reloads0 = r.lb_metric("agora_pacer_lb_reloads_total") or 0
    cpu0 = cpu_s(r.lb.pid)

    ids = sorted(r.apps)
    ups, downs = [], []
    for i in range(args.steps):
        app_id = ids[(i * 7919) % len(ids)]  # spread over the apps
        up, down = r.step(app_id, events)
        ups.append(up)
        downs.append(down)
        log(f"step {i + 1}/{args.steps} {app_id}: up {up:.1f} ms, down {down:.1f} ms "
            f"(load {os.getloadavg()[0]:.1f})")
    out["up_ms"] = summary(ups)
    out["down_ms"] = summary(downs)
    out["up_runs_ms"] = [round(x, 2) for x in ups]
    out["down_runs_ms"] = [round(x, 2) for x in downs]
    r.churn(ids)
    # Let the last drains end (--drain_timeout 2 s) before counting.
    time.sleep(args.settle)
    out["changes"] = r.changes
    out["reloads"] = (r.lb_metric("agora_pacer_lb_reloads_total") or 0) - reloads0
    out["runtime_updates"] = r.lb_metric("agora_pacer_lb_runtime_updates_total")
    out["runtime_failures"] = r.lb_metric("agora_pacer_lb_runtime_failures_total")
    out["haproxy_procs"] = len(haproxy_procs(r.lb.pid))
    out["probes"] = r.prober.n
    out["probe_errors"] = r.prober.errors
    out["lb_cpu_s"] = cpu_s(r.lb.pid) - cpu0
    out["lb_rss_end_mb"] = rss_mb(r.lb.pid)
    out["load_end"] = [round(x, 2) for x in os.getloadavg()]
    log(f"up p50 {out['up_ms']['p50']:.1f} p99 {out['up_ms']['p99']:.1f} ms; down p50 "
        f"{out['down_ms']['p50']:.1f} p99 {out['down_ms']['p99']:.1f} ms; {out['changes']} "
        f"changes, {out['reloads']:.0f} reloads, {out['haproxy_procs']} haproxy processes")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.environ.get("AGORA_BUILD_DIR",
                                                      os.path.join(REPO, "build")))
    ap.add_argument("--small", action="store_true",
                    help="smoke sizes: 3 apps x 2, 5 slaves, 4 steps, 1 restart, 1 failure")
    ap.add_argument("--apps", type=int, default=1000)
    ap.add_argument("--instances", type=int, default=10, help="per app")
    ap.add_argument("--slaves", type=int, default=100)
    ap.add_argument("--first_port", type=int, default=21000, help="first task port")
    ap.add_argument("--ports_per_slave", type=int, default=110)
    ap.add_argument("--ports_per_listener", type=int, default=6000,
                    help="listening sockets per listener process (open files limit)")
    ap.add_argument("--steps", type=int, default=40,
                    help="scale-up + kill pairs timed (2 changes each)")
    ap.add_argument("--restarts", type=int, default=10, help="rolling restarts")
    ap.add_argument("--failures", type=int, default=10, help="instances killed and replaced")
    ap.add_argument("--checks", type=int, default=3, help="haproxy -c runs timed")
    ap.add_argument("--probe_gap", type=float, default=0.0, help="seconds between probes")
    ap.add_argument("--clean_probes", type=int, default=30,
                    help="probes in a row without the killed port that count it gone")
    ap.add_argument("--route_timeout", type=float, default=20, help="seconds")
    ap.add_argument("--settle", type=float, default=3.0,
                    help="seconds after the last change before counting processes")
    ap.add_argument("--haproxy", default="/usr/sbin/haproxy")
    ap.add_argument("--allocation_interval", default="100ms", help="the master's")
    ap.add_argument("--deploy_timeout", type=float, default=600, help="seconds, each wait")
    ap.add_argument("--max_run", type=float, default=3600,
                    help="seconds: the emulated slaves stay up at most this long")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    ap.add_argument("--_listen", help=argparse.SUPPRESS)
    ap.add_argument("--_events", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._listen:
        lo, hi = args._listen.split(":")
        listener_child(int(lo), int(hi))
        return 0
    if args._events:
        events_child(args._events)
        return 0
    if args.small:
        args.apps, args.instances, args.slaves, args.ports_per_slave = 3, 2, 5, 10
        args.steps, args.restarts, args.failures, args.checks = 4, 1, 1, 1
        args.settle, args.deploy_timeout = 2.5, 20
    args.build = os.path.abspath(args.build)
    # Bench.start's own knobs.
    args.slave_resources = (f"cpus:64;mem:65536;disk:100000;"
                            f"ports:[{args.first_port}-{args.first_port + args.ports_per_slave - 1}]")
    args.pacer_work_root = ""
    return bench_main(run, args, "pacer-lb-bench-")


if __name__ == "__main__":
    sys.exit(main())
