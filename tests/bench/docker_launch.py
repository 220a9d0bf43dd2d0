#!/usr/bin/env python3
"""Launch overhead of Agora's Docker containerizer.

Brings N Docker tasks (default 20) to TASK_RUNNING through a real
agora-master and agora-slave (one ACCEPT with N tasks), and starts the
same N containers directly with `docker run -d`, N at once, on the same
engine in the same run. Per container it measures the time from the
request (the ACCEPT POST; the docker CLI's start) to RUNNING (the
TASK_RUNNING update reaching the framework; `docker run -d` returning,
which it does once the container started). The engine's speed drifts
with the machine's load, so --rounds alternate the order (docker first,
then Agora first, ...) and the medians are over all rounds' containers.
Prints the per-container medians and the time until all N run, each with
its ratio Agora / engine (target: under 1.10); with --json, a last line of
JSON ("ratio": all N running, "ratio_median": per container).

  /usr/bin/python3 tests/bench/docker_launch.py [--tasks=20] [--rounds=3] [--json]

Binaries come from $AGORA_BUILD_DIR/bin (default build/bin). Uses the
system tests' harness and test image (tests/system/docker_env.py); every
container it creates is removed before it exits.
"""
import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "system"))

from agora_harness import Cluster, SchedulerClient, task_info  # noqa: E402
from docker_env import DockerEnv, IMAGE, docker_cli  # noqa: E402

CPUS, MEM = 0.1, 32


class StampedQueue(queue.Queue):
    """Events stamped when they arrive, not when the bench gets to them
    (it acknowledges updates in between)."""

    def put(self, item, block=True, timeout=None):
        if isinstance(item, dict):
            item["_received"] = time.monotonic()
        super().put(item, block, timeout)


def agora_run(n, tmp):
    """Seconds to TASK_RUNNING per task, through Agora."""
    c = Cluster(tmp)
    sid = None
    try:
        m = c.start_master()
        slave = c.add_slave("--containerizers=docker,process", "--docker_publish_ip=127.0.0.1",
                            "--executor_shutdown_grace_period=1secs",
                            resources=f"cpus:{n * CPUS + 1};mem:{n * MEM + 256};"
                                      "disk:10000;ports:[31000-32000]")
        c.wait_slaves(1)
        with open(os.path.join(slave.work_dir, "meta", "slave.id")) as f:
            sid = f.read().strip()
        sch = SchedulerClient(m.url, name="docker-bench")
        sch.events = StampedQueue()
        sch.subscribe()
        offer = sch.next_offers()[0]
        tasks = []
        for i in range(n):
            t = task_info(f"bench-{i}", offer["agent_id"], "exec sleep 600", cpus=CPUS, mem=MEM,
                          container={"type": "DOCKER",
                                     "docker": {"image": IMAGE, "network": "HOST"}})
            t["kill_policy"] = {"grace_period": {"nanoseconds": 0}}
            tasks.append(t)
        t0 = time.monotonic()
        sch.launch(offer, tasks)
        took = {}
        deadline = t0 + 120
        while len(took) < n:
            ev = sch.next_event("UPDATE", max(0.1, deadline - time.monotonic()))
            st = ev["update"]["status"]
            sch.acknowledge(st)
            tid = st["task_id"]["value"]
            if st["state"] == "TASK_RUNNING" and tid not in took:
                took[tid] = ev["_received"] - t0
            elif st["state"] not in ("TASK_STARTING", "TASK_RUNNING"):
                raise RuntimeError(f"task {tid}: {st['state']}: {st.get('message')}\n" + c.logs())
        sch.call({"type": "TEARDOWN"})
        sch.close()
        return list(took.values())
    finally:
        c.shutdown()
        if sid is not None:
            ids = docker_cli("ps", "-aq", "--filter", "label=agora.slave_id=" + sid).split()
            if ids:
                docker_cli("rm", "-f", *ids, check=False)


def docker_run(n, tmp, label):
    """Seconds for `docker run -d` of the same containers, N at once."""
    took = [None] * n
    errors = []
    names = [f"agora-bench-direct-{os.getpid()}-{i}" for i in range(n)]

    def one(i):
        sandbox = os.path.join(tmp, f"direct-{i}")
        os.makedirs(sandbox, exist_ok=True)
        start = time.monotonic()
        r = subprocess.run(["docker", "run", "-d", "--name", names[i], "--label", label,
                            "--network", "host", "--cpu-shares", str(int(CPUS * 1024)),
                            "--cpus", str(CPUS), "--memory", f"{MEM}m",
                            "--memory-swap", f"{MEM}m",
                            "-v", f"{sandbox}:/mnt/mesos/sandbox:rw",
                            "-e", "MESOS_SANDBOX=/mnt/mesos/sandbox",
                            "--entrypoint", "/bin/sh", IMAGE, "-c", "exec sleep 600"],
                           capture_output=True, text=True, timeout=120)
        took[i] = time.monotonic() - start
        if r.returncode != 0:
            errors.append(r.stderr)

    try:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise RuntimeError("docker run failed: " + errors[0])
        return took
    finally:
        docker_cli("rm", "-f", *names, check=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="end with one JSON line")
    args = ap.parse_args()
    env = DockerEnv().start()
    tmp = tempfile.mkdtemp(prefix="agora-docker-bench-")
    try:
        # Warm the engine (image layers, network) so neither side pays for it.
        docker_cli("run", "--rm", "--label", env.label, IMAGE, "true")
        agora, direct, rounds = [], [], []
        for r in range(args.rounds):
            if r % 2 == 0:
                d = docker_run(args.tasks, os.path.join(tmp, f"direct{r}"), env.label)
                a = agora_run(args.tasks, os.path.join(tmp, f"agora{r}"))
            else:
                a = agora_run(args.tasks, os.path.join(tmp, f"agora{r}"))
                d = docker_run(args.tasks, os.path.join(tmp, f"direct{r}"), env.label)
            agora += a
            direct += d
            rounds.append({"agora_median_s": round(statistics.median(a), 4),
                           "agora_all_s": round(max(a), 4),
                           "docker_median_s": round(statistics.median(d), 4),
                           "docker_all_s": round(max(d), 4)})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        env.stop()
    # Two views: per container (median latency to RUNNING) and per batch
    # (time until all N run, the median over rounds).
    fig = {
        "tasks": args.tasks,
        "rounds": rounds,
        "agora_median_s": round(statistics.median(agora), 4),
        "docker_median_s": round(statistics.median(direct), 4),
        "agora_all_s": round(statistics.median(r["agora_all_s"] for r in rounds), 4),
        "docker_all_s": round(statistics.median(r["docker_all_s"] for r in rounds), 4),
    }
    fig["ratio_median"] = round(fig["agora_median_s"] / fig["docker_median_s"], 3)
    fig["ratio"] = round(fig["agora_all_s"] / fig["docker_all_s"], 3)
    print(f"{args.tasks} Docker containers to RUNNING, all requested at once, "
          f"{args.rounds} round(s) in alternating order:")
    for i, r in enumerate(rounds):
        print(f"  round {i + 1}: Agora median {r['agora_median_s']:.3f} s, all "
              f"{r['agora_all_s']:.3f} s | docker run -d median {r['docker_median_s']:.3f} s, "
              f"all {r['docker_all_s']:.3f} s")
    print(f"  per container, median: Agora {fig['agora_median_s']:.3f} s, docker run -d "
          f"{fig['docker_median_s']:.3f} s, ratio {fig['ratio_median']:.2f}")
    print(f"  all {args.tasks} RUNNING, median of rounds: Agora {fig['agora_all_s']:.3f} s, "
          f"docker run -d {fig['docker_all_s']:.3f} s, ratio {fig['ratio']:.2f}")
    if args.json:
        print(json.dumps(fig))
    return 0


if __name__ == "__main__":
    sys.exit(main())
