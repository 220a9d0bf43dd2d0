#!/usr/bin/python3
"""Run agora-bench scenarios against two builds of agora-master, alternately.

The machines this runs on are shared and noisy, so a "before" and an
"after" figure mean something only when measured side by side: this script
runs each scenario against build A, then build B, then A again, ... (ABAB),
a fresh master and work_dir each time, with the same agora-bench binary
for both (by default B's), and prints one JSON line per run plus a summary
table of medians and the B/A ratio.

    tests/bench/compare.py --a=/path/before/build --b=build --runs=2 \
        --scenarios=1,2,4

Scenarios are those of tests/bench/README.md:
    1  10,000 slaves, 100 frameworks, 100,000 tasks (allocation cycle)
    2  15,000 slaves, 200 frameworks, no tasks (registration)
    4  10,000 slaves, 100 frameworks, 500,000 short tasks (throughput, RSS)
--scale=0.1 divides every count by 10 (a quick check that it runs).
Everything started here is stopped at the end, by pid.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SCENARIOS = {
    "1": dict(slaves=10000, frameworks=100, tasks=100000),
    "2": dict(slaves=15000, frameworks=200, tasks=0),
    "4": dict(slaves=10000, frameworks=100, tasks=500000),
}

# Figures worth comparing: (label, path into the bench's JSON line).
FIGURES = [
    ("register_s", ("register_s",)),
    ("launch_tasks_per_s", ("launch_tasks_per_s",)),
    ("alloc_cycle_p99_ms", ("allocation_cycle_ms", "p99")),
    ("alloc_busy_p99_ms", ("allocation_busy_cycle_ms", "p99")),
    ("master_rss_mb", ("master_rss_mb",)),
    ("master_cpu_s", ("master_cpu_s",)),
]


def dig(d, path):
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d if isinstance(d, (int, float)) else None


def wait_port_file(path, proc, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"master exited with {proc.returncode}")
        try:
            with open(path) as f:
                text = f.read().strip()
            if text:
                return int(text)
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise RuntimeError("master did not write its port file")


def run_one(build, bench, scenario, scale, extra):
    work = tempfile.mkdtemp(prefix="agora-compare-")
    port_file = os.path.join(work, "port")
    log = open(os.path.join(work, "master.log"), "w")
    master = subprocess.Popen(
        [os.path.join(build, "bin", "agora-master"), "--ip=127.0.0.1", "--port=0",
         f"--port_file={port_file}", f"--work_dir={work}/master", "--log_level=warn"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        port = wait_port_file(port_file, master, time.monotonic() + 20)
        counts = {k: int(v * scale) for k, v in SCENARIOS[scenario].items()}
        cmd = [bench, f"--master=127.0.0.1:{port}", f"--master_pid={master.pid}"]
        cmd += [f"--{k}={v}" for k, v in counts.items()] + extra
        out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=900)
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
        return json.loads(line)
    finally:
        master.terminate()
        try:
            master.wait(10)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def load1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", required=True, help="build dir of the 'before' master")
    ap.add_argument("--b", required=True, help="build dir of the 'after' master")
    ap.add_argument("--bench", help="agora-bench binary (default: B's)")
    ap.add_argument("--scenarios", default="1,2,4")
    ap.add_argument("--runs", type=int, default=2, help="runs of each build per scenario")
    ap.add_argument("--scale", type=float, default=1.0)
    args, extra = ap.parse_known_args()
    bench = args.bench or os.path.join(args.b, "bin", "agora-bench")

    results = {}
    for sc in args.scenarios.split(","):
        for i in range(args.runs):
            for label, build in (("A", args.a), ("B", args.b)):
                before = load1()
                r = run_one(build, bench, sc, args.scale, extra)
                r["_load1"] = before
                print(json.dumps({"scenario": sc, "build": label, "run": i, **r}), flush=True)
                results.setdefault((sc, label), []).append(r)

    print("\nscenario figure            A (median)     B (median)     B/A", file=sys.stderr)
    for sc in args.scenarios.split(","):
        for name, path in FIGURES:
            a = [v for v in (dig(r, path) for r in results.get((sc, "A"), [])) if v is not None]
            b = [v for v in (dig(r, path) for r in results.get((sc, "B"), [])) if v is not None]
            if not a or not b:
                continue
            ma, mb = statistics.median(a), statistics.median(b)
            ratio = f"{mb / ma:.2f}" if ma else "-"
            print(f"{sc:8} {name:18} {ma:12.2f}   {mb:12.2f}   {ratio}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
