#!/usr/bin/python3
"""Scenario 6 of agora-bench: HA failover (issues 5 and 10).

Starts a real 3-node ZooKeeper ensemble (tests/system/zk_ensemble.py:
Debian's zookeeper package, QuorumPeerMain, loopback ports), --masters
agora-masters with --zk, waits for one to lead, and runs

    agora-bench --master=zk://.../agora-bench --failover ...

which loads the cluster, kill -9s the leader once every task runs and times
the chain: kill -> next leader elected (a standby sees its liveness stream
end and deletes the dead leader's znode: docs/internals/zookeeper.md) ->
every framework re-subscribed -> every slave re-registered. Prints the bench's JSON
line on stdout; everything started here is stopped at the end (by pid).

    tests/bench/failover.py --slaves=10000 --tasks=100000 --frameworks=100

Arguments it does not know are passed on to agora-bench.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "system"))
from zk_ensemble import ZkEnsemble, zk_available  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def elected(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return "\nagora_master_elected 1" in "\n" + r.read().decode()
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.environ.get(
        "AGORA_BUILD_DIR", os.path.join(HERE, "..", "..", "build")))
    ap.add_argument("--masters", type=int, default=3)
    ap.add_argument("--slaves", type=int, default=10000)
    ap.add_argument("--frameworks", type=int, default=100)
    ap.add_argument("--tasks", type=int, default=100000)
    ap.add_argument("--zk_session_timeout", default="10secs",
                    help="the masters' (the default of agora-master)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds, the whole bench run")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args, rest = ap.parse_known_args()
    if not zk_available():
        sys.exit("ZooKeeper server not installed: run deploy/install-deps.sh")
    binary = os.path.join(args.build, "bin")
    root = tempfile.mkdtemp(prefix="agora-bench-failover-")
    ens = ZkEnsemble(os.path.join(root, "zk"))
    masters = []
    rc = 1
    try:
        ens.start()
        url = ens.url("agora-bench")
        for i in range(args.masters):
            port = free_port()
            wd = os.path.join(root, f"master{i}")
            os.makedirs(wd)
            log = open(os.path.join(wd, "log"), "w")
            p = subprocess.Popen(
                [os.path.join(binary, "agora-master"), "--ip=127.0.0.1", f"--port={port}",
                 f"--work_dir={wd}", f"--zk={url}",
                 f"--zk_session_timeout={args.zk_session_timeout}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()
            masters.append((p, port))
        deadline = time.monotonic() + 30
        while not any(elected(port) for _, port in masters):
            if time.monotonic() > deadline:
                sys.exit("no master was elected within 30 s; logs in " + root)
            time.sleep(0.2)
        cmd = [os.path.join(binary, "agora-bench"), f"--master={url}", "--failover",
               f"--slaves={args.slaves}", f"--frameworks={args.frameworks}",
               f"--tasks={args.tasks}", "--task_duration=60mins",
               f"--timeout={int(args.timeout)}secs"] + rest
        print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True,
                           timeout=args.timeout + 120)
        sys.stdout.write(p.stdout)
        rc = p.returncode
        if rc == 0:
            fig = json.loads(p.stdout.strip().splitlines()[-1])
            el = fig.get("failover_election_s") or 0
            rr = fig.get("failover_reregister_s") or 0
            rs = fig.get("failover_resubscribe_s") or 0
            print(f"failover chain from the kill: elected {el:.3f} s, every framework "
                  f"re-subscribed {el + rs:.3f} s, every slave re-registered {el + rr:.3f} s "
                  f"({rr:.3f} s after the election)", file=sys.stderr)
    finally:
        for p, _ in masters:
            if p.poll() is None:
                p.kill()
            p.wait()
        ens.shutdown()
        if args.keep or rc != 0:
            print(f"work directory (logs): {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
