#!/usr/bin/python3
"""Pacer crash failover (issue 10): a Pacer quorum on a real ZooKeeper
ensemble, --apps apps of --instances instances each running on emulated
slaves, then kill -9 of the leading Pacer.

Starts a real 3-node ensemble (tests/system/zk_ensemble.py), one
agora-master, agora-bench's emulated slaves (--frameworks=0 --hold: tasks
stay RUNNING), and --pacers agora-pacer instances with --zk and their
default session timeout (10 s). It creates the apps in one POST /v2/groups
(one deployment), waits until every instance runs, kills the leader with
SIGKILL and polls every surviving instance (a standby proxies to the
leader) until one answers GET /v2/apps?embed=apps.tasks with every app and
every instance TASK_RUNNING. Figures, all from the kill:

  elected_s     the first /v2/leader answer naming another instance
  serving_s     the first complete /v2/apps?embed=apps.tasks (the target:
                < 3 s at 1,000 apps / 10,000 instances)
  tasks_killed  kills the master saw during the failover (must be 0)
  same_framework_id, apps_versions_intact

One JSON line on stdout; logs on stderr. Every process started here is
stopped by pid at the end; every wait has a deadline.

    tests/bench/pacer_failover.py                          # 1,000 x 10
    tests/bench/pacer_failover.py --apps=10 --instances=2 --slaves=5  # smoke
"""
import argparse
import os
import signal
import subprocess
import sys
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "system"))
from pacer_bench import Failed, bench_main, cpu_s, log, metric, read_port, wait_for  # noqa: E402
from zk_ensemble import ZkEnsemble, zk_available  # noqa: E402


def leader_of(url):
    try:
        r = requests.get(url + "/v2/leader", timeout=2)
        return r.json().get("leader") if r.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None


def complete(url, apps, instances):
    """Whether url serves every app with every instance running."""
    try:
        r = requests.get(url + "/v2/apps?embed=apps.tasks", timeout=5)
        if r.status_code != 200:
            return False
        got = r.json()["apps"]
    except (requests.RequestException, ValueError, KeyError):
        return False
    if len(got) != apps:
        return False
    return all(len([t for t in a.get("tasks", []) if t.get("state") == "TASK_RUNNING"])
               == instances for a in got)


def run(args, tmp, procs):
    b = os.path.join(args.build, "bin")
    ens = ZkEnsemble(os.path.join(tmp, "zk"))
    procs.cleanups.append(ens.shutdown)
    ens.start()
    out = {"pacer_issue": 10, "apps": args.apps, "instances_per_app": args.instances,
           "pacers": args.pacers, "slaves": args.slaves,
           "load_start": round(os.getloadavg()[0], 2)}
    out["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                   capture_output=True, text=True).stdout.strip()

    md = os.path.join(tmp, "master")
    os.makedirs(md)
    master = procs.start("agora-master", [os.path.join(b, "agora-master"), "--port=0",
                                          f"--port_file={md}/port", f"--work_dir={md}"],
                         os.path.join(md, "log"))
    mport = read_port(f"{md}/port", master)
    murl = f"http://127.0.0.1:{mport}"
    procs.start("agora-bench", [
        os.path.join(b, "agora-bench"), f"--master=127.0.0.1:{mport}",
        f"--slaves={args.slaves}", "--frameworks=0", "--tasks=0",
        f"--hold={int(args.max_run)}secs", f"--timeout={int(args.max_run) + 120}secs",
        "--task_duration=60mins", f"--slave_resources={args.slave_resources}",
        f"--master_pid={master.pid}"], os.path.join(tmp, "bench.log"))
    wait_for(lambda: metric(murl, "agora_master_slaves_active") == args.slaves, 60,
             f"{args.slaves} emulated slaves registered", interval=0.2)

    zk_url = ens.url("pacer")
    pacers = []
    for i in range(args.pacers):
        pd = os.path.join(tmp, f"pacer{i}")
        os.makedirs(pd)
        p = procs.start(f"agora-pacer{i}", [
            os.path.join(b, "agora-pacer"), f"--master=127.0.0.1:{mport}", f"--zk={zk_url}",
            "--port=0", f"--port_file={pd}/port", f"--work_dir={pd}"], os.path.join(pd, "log"))
        p.url = f"http://127.0.0.1:{read_port(f'{pd}/port', p)}"
        pacers.append(p)

    def the_leader():
        seen = {leader_of(p.url) for p in pacers if p.poll() is None}
        if len(seen) != 1 or None in seen:
            return None
        hp = seen.pop()
        lead = [p for p in pacers if p.url.endswith(":" + hp.rsplit(":", 1)[1])]
        return lead[0] if lead else None
    leader = wait_for(the_leader, 60, "one agreed Pacer leader", interval=0.1)
    wait_for(lambda: requests.get(leader.url + "/v2/info", timeout=5).json().get("frameworkId"),
             60, "the leader subscribed", interval=0.1)
    fw = requests.get(leader.url + "/v2/info", timeout=5).json()["frameworkId"]
    log(f"Pacer leader {leader.url} (pid {leader.pid}), framework {fw}")

    apps = [{"id": f"/bench/app-{i:04d}", "cmd": "sleep 3600", "cpus": 0.01, "mem": 8,
             "instances": args.instances, "portDefinitions": []} for i in range(args.apps)]
    t0 = time.monotonic()
    r = requests.post(leader.url + "/v2/groups", json={"id": "/bench", "apps": apps}, timeout=120)
    if r.status_code not in (200, 201):
        raise Failed(f"POST /v2/groups: {r.status_code} {r.text[:300]}")
    total = args.apps * args.instances
    wait_for(lambda: metric(murl, "agora_master_tasks_running") == total, args.deploy_timeout,
             f"{total} tasks running", interval=0.5)
    wait_for(lambda: requests.get(leader.url + "/v2/deployments", timeout=30).json() == [],
             args.deploy_timeout, "the deployment finished", interval=0.5)
    out["deploy_s"] = time.monotonic() - t0
    log(f"{args.apps} apps, {total} instances running in {out['deploy_s']:.1f} s")
    versions = {a["id"]: a["version"] for a in
                requests.get(leader.url + "/v2/apps", timeout=60).json()["apps"]}
    killed0 = metric(murl, "agora_master_tasks_killed") or 0
    out["leader_rss_mb"] = None
    with open(f"/proc/{leader.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["leader_rss_mb"] = int(line.split()[1]) / 1024.0

    # The crash.
    others = [p for p in pacers if p is not leader]
    cpu0 = {p.pid: cpu_s(p.pid) for p in others}
    perf = None
    if args.perf:
        perf = subprocess.Popen(["perf", "record", "-g", "-o", args.perf, "-p",
                                 ",".join(str(p.pid) for p in others)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)  # perf attached
    t_kill = time.monotonic()
    os.kill(leader.pid, signal.SIGKILL)
    leader.wait(10)
    procs.procs.remove(leader)
    elected = serving = None
    deadline = t_kill + args.failover_timeout
    while serving is None:
        now = time.monotonic()
        if now > deadline:
            raise Failed(f"no instance served every app within {args.failover_timeout} s")
        for p in others:
            if elected is None:
                lo = leader_of(p.url)
                if lo and not leader.url.endswith(":" + lo.rsplit(":", 1)[1]):
                    elected = time.monotonic() - t_kill
            if elected is not None and complete(p.url, args.apps, args.instances):
                serving = time.monotonic() - t_kill
                break
        time.sleep(args.poll_interval)
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait(30)
    out["elected_s"] = elected
    out["serving_s"] = serving
    log(f"kill -9 -> elected {elected:.3f} s, serving every instance {serving:.3f} s")

    new = wait_for(the_leader, 30, "the new leader agreed", interval=0.1)
    info = requests.get(new.url + "/v2/info", timeout=5).json()
    out["same_framework_id"] = info.get("frameworkId") == fw
    now_versions = {a["id"]: a["version"] for a in
                    requests.get(new.url + "/v2/apps", timeout=60).json()["apps"]}
    out["apps_versions_intact"] = now_versions == versions
    out["tasks_killed"] = (metric(murl, "agora_master_tasks_killed") or 0) - killed0
    out["tasks_running_after"] = metric(murl, "agora_master_tasks_running")
    out["new_leader_cpu_s"] = cpu_s(new.pid) - cpu0[new.pid]
    out["load_end"] = round(os.getloadavg()[0], 2)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.environ.get("AGORA_BUILD_DIR",
                                                      os.path.join(REPO, "build")))
    ap.add_argument("--apps", type=int, default=1000)
    ap.add_argument("--instances", type=int, default=10, help="per app")
    ap.add_argument("--pacers", type=int, default=3)
    ap.add_argument("--slaves", type=int, default=100)
    ap.add_argument("--slave_resources",
                    default="cpus:64;mem:65536;disk:100000;ports:[31000-32000]")
    ap.add_argument("--poll_interval", type=float, default=0.02, help="seconds")
    ap.add_argument("--deploy_timeout", type=float, default=600, help="seconds")
    ap.add_argument("--failover_timeout", type=float, default=60, help="seconds")
    ap.add_argument("--max_run", type=float, default=1800,
                    help="seconds: the emulated slaves stay up at most this long")
    ap.add_argument("--perf", default="",
                    help="perf record -g the standbys from the kill to serving, into this file")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = ap.parse_args()
    if not zk_available():
        sys.exit("ZooKeeper server not installed: run deploy/install-deps.sh")
    args.build = os.path.abspath(args.build)
    return bench_main(run, args, "pacer-failover-")

if __name__ == "__main__":
    sys.exit(main())
