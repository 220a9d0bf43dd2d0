#!/usr/bin/python3
"""Pacer's performance budget (issue 9): agora-pacer on emulated slaves.

Starts a fresh agora-master (--port=0 --port_file, its own work_dir under
a temporary directory), agora-bench's emulated slaves with no frameworks
of its own (--frameworks=0 --hold, tasks stay RUNNING for
--task_duration), and agora-pacer, all on 127.0.0.1. Then:

  1. Pacer's RSS idle (after it subscribed, no apps).
  2. --rounds deployments of a --small-instance `sleep` app (POST /v2/apps
     to tasksRunning == instances), each removed again before the next.
  3. One app of --large instances: its deployment time, Pacer's RSS, and
     --requests sequential GETs each of /v2/apps?embed=apps.tasks,
     /v2/apps and /v2/tasks; then it is removed.
  4. SSE fan-out, --rounds times A then B (ABAB): A deploys --instances
     instances with no subscriber, B the same with --subscribers clients
     on /v2/events (Accept: text/event-stream) that read and discard
     everything. The A runs are also the --instances deployment figure.

Progress is polled with GET /v2/apps/{id}?embed=app.counts every
--poll_interval (50 ms). Prints one JSON line of figures on stdout (logs on
stderr). Every process started here is stopped by pid at the end, also on
errors and on SIGTERM; every wait has a deadline.

    tests/bench/pacer_bench.py                  # the issue's sizes
    tests/bench/pacer_bench.py --small=20 --instances=20 --large=20 \\
        --slaves=5 --subscribers=3 --rounds=1 --requests=3   # smoke
"""
import argparse
import json
import os
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


def log(msg):
    print(f"pacer_bench: {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


class Failed(Exception):
    pass


def wait_for(fn, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def rss_mb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return None


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median(v):
    return statistics.median(v) if v else None


class Procs:
    """Processes started here, stopped by pid (SIGTERM, then SIGKILL)."""

    def __init__(self):
        self.procs = []

    def start(self, name, cmd, log_path, **kw):
        logf = open(log_path, "w")
        log(f"start {name}: {' '.join(cmd)}")
        p = subprocess.Popen(cmd, stdout=kw.pop("stdout", logf), stderr=logf,
                             stdin=subprocess.DEVNULL, **kw)
        logf.close()
        p.name = name
        self.procs.append(p)
        return p

    def stop(self, p, timeout=15):
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{p.name} (pid {p.pid}) ignored SIGTERM: SIGKILL")
                os.kill(p.pid, signal.SIGKILL)
                p.wait(10)
        if p in self.procs:
            self.procs.remove(p)
        return p.returncode

    def stop_all(self):
        for p in reversed(list(self.procs)):
            try:
                self.stop(p)
            except Exception as e:  # keep stopping the others
                log(f"stopping {p.name} (pid {p.pid}): {e}")


def read_port(path, proc, timeout=20):
    def ready():
        if proc.poll() is not None:
            raise Failed(f"{proc.name} exited with {proc.returncode} (see its log)")
        try:
            with open(path) as f:
                txt = f.read().strip()
            return int(txt) if txt else None
        except FileNotFoundError:
            return None
    return wait_for(ready, timeout, f"{proc.name}'s port file")


def metric(url, name):
    txt = requests.get(url + "/metrics", timeout=10).text
    for line in txt.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


# ---------------------------------------------------------------- subscribers

def subscriber_child(hostport, n, max_s):
    """The SSE clients, in a process of their own so that reading them does
    not compete with the poller: n connections to /v2/events, one thread,
    read and discard. Prints 'ready' once every stream answered 200, and a
    JSON line of what was read when SIGTERM comes (or after max_s)."""
    host, port = hostport.rsplit(":", 1)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    sel = selectors.DefaultSelector()
    req = (f"GET /v2/events HTTP/1.1\r\nHost: {hostport}\r\n"
           "Accept: text/event-stream\r\n\r\n").encode()
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(req)
        socks.append(s)
    got = {}
    for s in socks:  # the response head of each
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                raise SystemExit("subscriber: stream closed before its head")
            head += chunk
        if not head.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"subscriber: {head[:80]!r}")
        got[s] = len(head.split(b"\r\n\r\n", 1)[1])
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    print("ready", flush=True)
    closed = 0
    deadline = time.monotonic() + max_s
    while not stop and time.monotonic() < deadline and closed < n:
        for key, _ in sel.select(0.2):
            try:
                data = key.fileobj.recv(1 << 16)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                closed += 1
                continue
            got[key.fileobj] += len(data)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"min_bytes": min(got.values()), "max_bytes": max(got.values()),
                      "closed_early": closed, "cpu_s": ru.ru_utime + ru.ru_stime}), flush=True)
    for s in socks:
        s.close()


class Subscribers:
    def __init__(self, procs, tmp, pacer_port, n, max_s):
        self.procs = procs
        self.p = procs.start(
            "subscribers", [sys.executable, os.path.abspath(__file__),
                            f"--_subscribe=127.0.0.1:{pacer_port}", f"--subscribers={n}",
                            f"--_subscribe_max={max_s}"],
            os.path.join(tmp, "subscribers.log"), stdout=subprocess.PIPE, text=True)
        sel = selectors.DefaultSelector()
        sel.register(self.p.stdout, selectors.EVENT_READ)
        if not sel.select(30) or self.p.stdout.readline().strip() != "ready":
            raise Failed(f"the {n} subscribers did not connect within 30 s")

    def stop(self):
        self.procs.stop(self.p)
        line = self.p.stdout.read().strip()
        self.p.stdout.close()
        return json.loads(line.splitlines()[-1]) if line else None


# ---------------------------------------------------------------- scenarios

class Bench:
    def __init__(self, args, tmp, procs):
        self.a = args
        self.tmp = tmp
        self.procs = procs
        self.http = requests.Session()
        self.seq = 0

    def start(self, bench_flags=()):
        """The master, agora-bench's slaves (with bench_flags added) and
        Pacer, each waited for."""
        a, b = self.a, os.path.join(self.a.build, "bin")
        md = os.path.join(self.tmp, "master")
        os.makedirs(md)
        margs = [os.path.join(b, "agora-master"), "--port=0",
                 f"--port_file={md}/port", f"--work_dir={md}"]
        if a.allocation_interval:
            margs.append(f"--allocation_interval={a.allocation_interval}")
        self.master = self.procs.start("agora-master", margs, os.path.join(md, "log"))
        self.mport = read_port(f"{md}/port", self.master)
        self.murl = f"http://127.0.0.1:{self.mport}"

        self.bench = self.procs.start("agora-bench", [
            os.path.join(b, "agora-bench"), f"--master=127.0.0.1:{self.mport}",
            f"--slaves={a.slaves}", "--frameworks=0", "--tasks=0",
            f"--hold={int(a.max_run)}secs", f"--timeout={int(a.max_run) + 120}secs",
            "--task_duration=60mins", f"--slave_resources={a.slave_resources}",
            f"--master_pid={self.master.pid}", *bench_flags],
            os.path.join(self.tmp, "bench.log"), stdout=subprocess.PIPE, text=True)
        wait_for(lambda: self._alive(self.bench)
                 and metric(self.murl, "agora_master_slaves_active") == a.slaves,
                 60, f"{a.slaves} emulated slaves registered", interval=0.2)
        log(f"{a.slaves} emulated slaves registered")

        pd = os.path.join(a.pacer_work_root or self.tmp, f"pacer-{os.getpid()}")
        os.makedirs(pd)
        self.pacer_dir = pd
        self.pacer_bin = os.path.join(b, "agora-pacer")
        self.pacer_mtime = os.stat(self.pacer_bin).st_mtime
        self.pacer = self.procs.start("agora-pacer", [
            self.pacer_bin, f"--master=127.0.0.1:{self.mport}", "--port=0",
            f"--port_file={pd}/port", f"--work_dir={pd}"], os.path.join(pd, "log"))
        self.pport = read_port(f"{pd}/port", self.pacer)
        self.url = f"http://127.0.0.1:{self.pport}"
        wait_for(lambda: self._alive(self.pacer)
                 and self.get("/v2/info").json().get("frameworkId"), 30, "Pacer subscribed",
                 interval=0.1)
        log(f"Pacer subscribed (pid {self.pacer.pid}, port {self.pport})")

    def _alive(self, p):
        if p.poll() is not None:
            raise Failed(f"{p.name} exited with {p.returncode} (see its log in {self.tmp})")
        return True

    def get(self, path, timeout=30):
        return self.http.get(self.url + path, timeout=timeout)

    def deploy(self, n):
        """POST an app of n instances; seconds until tasksRunning == n."""
        self.seq += 1
        app_id = f"/bench-{self.seq}"
        body = {"id": app_id, "cmd": "sleep 3600", "cpus": 0.1, "mem": 16, "instances": n,
                "portDefinitions": []}
        cpu0 = cpu_s(self.pacer.pid)
        t0 = time.monotonic()
        r = self.http.post(self.url + "/v2/apps", json=body, timeout=30)
        if r.status_code != 201:
            raise Failed(f"POST /v2/apps: {r.status_code} {r.text[:300]}")
        deadline = t0 + self.a.deploy_timeout
        polls = 0
        while True:
            r = self.get(f"/v2/apps{app_id}?embed=app.counts")
            polls += 1
            running = r.json()["app"]["tasksRunning"] if r.status_code == 200 else -1
            if running >= n:
                took = time.monotonic() - t0
                break
            self._alive(self.pacer)
            if time.monotonic() > deadline:
                raise Failed(f"{app_id}: {running}/{n} running after {self.a.deploy_timeout} s")
            time.sleep(self.a.poll_interval)
        cpu = cpu_s(self.pacer.pid) - cpu0
        log(f"{app_id}: {n} instances running in {took:.3f} s "
            f"(Pacer CPU {cpu:.2f} s, {polls} polls, load {os.getloadavg()[0]:.1f})")
        return app_id, took, cpu

    def settle(self, what, timeout):
        wait_for(lambda: self.get("/v2/deployments").json() == [], timeout,
                 f"no deployment left ({what})", interval=0.2)

    def remove(self, app_id):
        """DELETE the app; wait until it is gone and the master runs no task."""
        self.settle(f"before removing {app_id}", self.a.deploy_timeout)
        r = self.http.delete(self.url + f"/v2/apps{app_id}", timeout=30)
        if r.status_code != 200:
            raise Failed(f"DELETE /v2/apps{app_id}: {r.status_code} {r.text[:300]}")
        wait_for(lambda: self.get(f"/v2/apps{app_id}?embed=app.counts").status_code == 404,
                 self.a.deploy_timeout, f"{app_id} removed", interval=0.2)
        wait_for(lambda: metric(self.murl, "agora_master_tasks_running") == 0
                 and metric(self.murl, "agora_master_tasks_staging") in (0, None),
                 self.a.deploy_timeout, "the master's tasks gone", interval=0.2)
        self.settle(f"after removing {app_id}", self.a.deploy_timeout)

    def time_get(self, path, n):
        ms, ttfb, size = [], [], 0
        for _ in range(n):
            t0 = time.monotonic()
            r = self.get(path, timeout=60)
            body = r.content
            ms.append((time.monotonic() - t0) * 1e3)
            ttfb.append(r.elapsed.total_seconds() * 1e3)  # to the response head
            if r.status_code != 200:
                raise Failed(f"GET {path}: {r.status_code}")
            size = len(body)
        log(f"GET {path}: median {median(ms):.1f} ms (head {median(ttfb):.1f} ms), "
            f"max {max(ms):.1f} ms, {size} bytes")
        return {"median": median(ms), "min": min(ms), "max": max(ms),
                "head_median": median(ttfb), "n": n, "bytes": size}


def run(args, tmp, procs):
    b = Bench(args, tmp, procs)
    out = {"pacer_issue": 9, "commit": None, "dirty": None,
           "allocation_interval": args.allocation_interval or "1secs (master default)",
           "slaves": args.slaves, "slave_resources": args.slave_resources,
           "poll_interval_ms": args.poll_interval * 1e3,
           "pacer_work_root": args.pacer_work_root or "(temp dir)",
           "load_start": round(os.getloadavg()[0], 2)}
    try:
        out["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                       capture_output=True, text=True).stdout.strip()
        out["dirty"] = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                           cwd=REPO, capture_output=True, text=True).stdout.strip())
    except OSError:
        pass
    b.start()

    time.sleep(args.idle_wait)
    out["pacer_rss_idle_mb"] = rss_mb(b.pacer.pid)
    log(f"Pacer idle RSS {out['pacer_rss_idle_mb']:.1f} MB")

    # 2. small deployments
    small = []
    for _ in range(args.rounds):
        app_id, took, _ = b.deploy(args.small)
        small.append(took)
        b.remove(app_id)
    out["deploy_small_instances"] = args.small
    out["deploy_small_s"] = {"median": median(small), "runs": small}

    # 3. a large app: deployment, RSS, GETs
    app_id, took, cpu = b.deploy(args.large)
    b.settle("large app", args.deploy_timeout)
    out["deploy_large_instances"] = args.large
    out["deploy_large_s"] = took
    out["deploy_large_pacer_cpu_s"] = cpu
    out["pacer_rss_large_mb"] = rss_mb(b.pacer.pid)
    out["pacer_rss_anon_large_mb"] = rss_mb(b.pacer.pid, "RssAnon")
    log(f"Pacer RSS at {args.large} instances {out['pacer_rss_large_mb']:.1f} MB")
    out["get_apps_embed_tasks_ms"] = b.time_get("/v2/apps?embed=apps.tasks", args.requests)
    out["get_apps_ms"] = b.time_get("/v2/apps", args.requests)
    out["get_tasks_ms"] = b.time_get("/v2/tasks", args.requests)
    out["pacer_rss_after_gets_mb"] = rss_mb(b.pacer.pid)
    b.remove(app_id)
    # 4. SSE fan-out, ABAB
    base, subs, cpu_a, cpu_b, sub_stats = [], [], [], [], []
    for _ in range(args.rounds):
        app_id, took, cpu = b.deploy(args.instances)
        base.append(took)
        cpu_a.append(cpu)
        b.remove(app_id)
        s = Subscribers(procs, tmp, b.pport, args.subscribers, args.deploy_timeout * 3)
        try:
            app_id, took, cpu = b.deploy(args.instances)
        finally:
            st = s.stop()
        subs.append(took)
        cpu_b.append(cpu)
        sub_stats.append(st)
        log(f"subscribers read {st}")
        b.remove(app_id)
    out["deploy_instances"] = args.instances
    out["deploy_s"] = {"median": median(base), "runs": base}
    out["sse_subscribers"] = args.subscribers
    out["sse_deploy_s"] = {"median": median(subs), "runs": subs}
    out["sse_slowdown_ratio"] = median(subs) / median(base)
    out["sse_pacer_cpu_s"] = {"without": median(cpu_a), "with": median(cpu_b),
                              "ratio": median(cpu_b) / median(cpu_a) if median(cpu_a) else None}
    out["sse_subscriber_bytes_min"] = min(st["min_bytes"] for st in sub_stats if st)
    out["sse_subscribers_closed_early"] = sum(st["closed_early"] for st in sub_stats if st)
    out["sse_subscribers_cpu_s"] = median([st["cpu_s"] for st in sub_stats if st])

    out["pacer_rss_end_mb"] = rss_mb(b.pacer.pid)
    out["pacer_cpu_s_total"] = cpu_s(b.pacer.pid)
    out["master_rss_mb"] = rss_mb(b.master.pid)
    out["load_end"] = round(os.getloadavg()[0], 2)
    out["pacer_binary_changed"] = os.stat(b.pacer_bin).st_mtime != b.pacer_mtime

    # The bench's own line: the slaves saw every launch, no call failed.
    procs.stop(b.bench, timeout=30)
    line = b.bench.stdout.read().strip()
    b.bench.stdout.close()
    try:
        bj = json.loads(line.splitlines()[-1])
        out["slave_run_tasks"] = bj.get("slave_run_tasks")
        out["slave_call_errors"] = bj.get("call_errors")
        out["slave_streams_lost"] = bj.get("slave_streams_lost")
    except (ValueError, IndexError):
        out["slave_run_tasks"] = out["slave_call_errors"] = out["slave_streams_lost"] = None
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.environ.get("AGORA_BUILD_DIR",
                                                      os.path.join(REPO, "build")))
    ap.add_argument("--slaves", type=int, default=200)
    ap.add_argument("--slave_resources", default="cpus:64;mem:65536;disk:100000;ports:[31000-32000]")
    ap.add_argument("--small", type=int, default=500, help="instances of the small deployment")
    ap.add_argument("--instances", type=int, default=5000,
                    help="instances of the deployment timed with and without subscribers")
    ap.add_argument("--large", type=int, default=10000, help="instances for the GETs and RSS")
    ap.add_argument("--subscribers", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3, help="small deployments, and ABAB pairs")
    ap.add_argument("--requests", type=int, default=20, help="GETs of each endpoint")
    ap.add_argument("--allocation_interval", default="",
                    help="the master's (empty: its default, 1secs)")
    ap.add_argument("--poll_interval", type=float, default=0.05, help="seconds")
    ap.add_argument("--idle_wait", type=float, default=2.0,
                    help="seconds after Pacer subscribed before the idle RSS")
    ap.add_argument("--deploy_timeout", type=float, default=300, help="seconds, each wait")
    ap.add_argument("--max_run", type=float, default=3600,
                    help="seconds: the emulated slaves stay up at most this long")
    ap.add_argument("--pacer_work_root", default="",
                    help="parent of Pacer's --work_dir (default: the temp dir; e.g. /dev/shm to "
                         "take the filesystem out of the figures)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    ap.add_argument("--_subscribe", help=argparse.SUPPRESS)
    ap.add_argument("--_subscribe_max", type=float, default=900, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._subscribe:
        subscriber_child(args._subscribe, args.subscribers, args._subscribe_max)
        return 0

    extra = []
    if args.pacer_work_root:
        extra.append(os.path.join(args.pacer_work_root, f"pacer-{os.getpid()}"))
    return bench_main(run, args, "pacer-bench-", extra)


def bench_main(run, args, prefix, extra_dirs=()):
    """Run run(args, tmp, procs) in a fresh temporary directory and print
    its figures as one JSON line; stop every process (procs.cleanups too)
    at the end, also on errors and SIGTERM. Returns the exit status."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    procs = Procs()
    procs.cleanups = []

    def on_term(sig, frame):
        raise Failed(f"signal {sig}")
    signal.signal(signal.SIGTERM, on_term)
    rc = 1
    try:
        out = run(args, tmp, procs)
        print(json.dumps(out), flush=True)
        rc = 0
    except (Failed, requests.RequestException, OSError, ValueError, KeyError) as e:
        log(f"failed: {e!r}; logs in {tmp}")
        args.keep = True
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        procs.stop_all()
        for c in procs.cleanups:
            c()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
            for d in extra_dirs:
                shutil.rmtree(d, ignore_errors=True)
        else:
            log(f"work directory kept: {tmp}")
    return rc

if __name__ == "__main__":
    sys.exit(main())
