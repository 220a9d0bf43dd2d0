"""System tests of the Docker containerizer, against a real Docker engine.

The session fixture (docker_env.py) makes sure an engine answers (starting
dockerd when none does) and imports the busybox test image; no registry is
ever reached. Slaves publish container ports on 127.0.0.1 only, and test
traffic goes to 127.0.0.1 only. Every container a test causes (Agora's,
labelled with the test slaves' ids, and the test's own, labelled with the
session's agora.test=<uuid>) is removed at teardown.
"""
import json
import os
import random
import subprocess
import sys
import time
import urllib.parse
import uuid

import pytest
import requests

from agora_harness import BIN, REPO, SchedulerClient, sandbox_of, task_info, wait_for
from docker_env import DockerEnv, IMAGE, docker_cli, engine_get

DOCKER_ARGS = ["--containerizers=docker,process", "--docker_publish_ip=127.0.0.1",
               "--executor_shutdown_grace_period=1secs"]


def slave_id(slave):
    with open(os.path.join(slave.work_dir, "meta", "slave.id")) as f:
        return f.read().strip()


@pytest.fixture
def dcluster(cluster, docker_env):
    """The cluster fixture, plus removal of every container of its slaves."""
    yield cluster
    ids = []
    for s in cluster.slaves:
        try:
            ids.append(slave_id(s))
        except OSError:
            pass
    cluster.shutdown()  # slaves first, so none of them recreates anything
    for sid in ids:
        docker_env.remove_labelled("agora.slave_id=" + sid)


def start(cluster, nslaves=1):
    m = cluster.start_master()
    for _ in range(nslaves):
        cluster.add_slave(*DOCKER_ARGS)
    cluster.wait_slaves(nslaves)
    sch = SchedulerClient(m.url, name="docker-test")
    sch.subscribe()
    return sch


def docker_task(task_id, agent_id, cmd, network="HOST", port_mappings=None, ports=None,
                image=IMAGE, **extra):
    ci = {"type": "DOCKER", "docker": {"image": image, "network": network}}
    if port_mappings:
        ci["docker"]["port_mappings"] = port_mappings
    t = task_info(task_id, agent_id, cmd, ports=ports, container=ci, **extra)
    t.setdefault("kill_policy", {"grace_period": {"nanoseconds": 1000000000}})
    return t


def wait_states(sch, want, timeout=60):
    """Read UPDATEs (acknowledging them) until every task of want
    ({task_id: state or set of states}) reached one of its states.
    Returns {task_id: last status} and the per-task history."""
    want = {k: ({v} if isinstance(v, str) else set(v)) for k, v in want.items()}
    last, history = {}, {}
    deadline = time.monotonic() + timeout
    while any(last.get(k, {}).get("state") not in v for k, v in want.items()):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out: wanted {want}, history {history}")
        ev = sch.next_event("UPDATE", left)
        st = ev["update"]["status"]
        sch.acknowledge(st)
        tid = st["task_id"]["value"]
        history.setdefault(tid, []).append(st["state"])
        if tid in want and st["state"] in want[tid]:
            last[tid] = st
        elif tid in want and last.get(tid, {}).get("state") not in want[tid]:
            last[tid] = st
    return last, history


def containers_of(label):
    return docker_cli("ps", "-aq", "--no-trunc", "--filter", "label=" + label).split()


def inspect(name):
    status, body = engine_get("/containers/%s/json" % urllib.parse.quote(name))
    return body if status == 200 else None


def read_sandbox(slave, task_id, name):
    """A sandbox file of the task through the slave's /files/read."""
    r = requests.get(slave.url + "/files/read",
                     params={"path": sandbox_of(slave, task_id) + "/" + name, "offset": 0},
                     timeout=5)
    r.raise_for_status()
    return r.json()["data"]


def slave_task_states(slave):
    st = requests.get(slave.url + "/state", timeout=5).json()
    out = {}
    for fw in st["frameworks"]:
        for ex in fw["executors"]:
            for t in ex["tasks"]:
                out[t["id"]] = t["state"]
    return out


# --------------------------------------------------------------------- tests


def test_bridge_http_reachable_and_healthy(dcluster):
    sch = start(dcluster)
    offer = sch.next_offers()[0]
    port = offer_port(offer)
    t = docker_task("web", offer["agent_id"],
                    "echo serving; exec httpd -f -v -p 80 -h /www", network="BRIDGE",
                    ports=[port], port_mappings=[{"host_port": port, "container_port": 80}],
                    health_check={"type": "HTTP", "http": {"port": 80, "path": "/index.html"},
                                  "delay_seconds": 0.2, "interval_seconds": 0.5,
                                  "grace_period_seconds": 10, "timeout_seconds": 2})
    t["container"]["volumes"] = [{"container_path": "/data", "host_path": "data", "mode": "RW"}]
    t["container"]["docker"]["parameters"] = [{"key": "label", "value": "team=web"}]
    sch.launch(offer, [t])
    wait_states(sch, {"web": "TASK_RUNNING"})
    r = wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/index.html", timeout=2),
                 20, what="httpd on the published port")
    assert r.status_code == 200 and r.text == "hello from agora\n"
    # The HTTP health check reaches container port 80 through the host port.
    st = sch.next_event("UPDATE", 30, pred=lambda e: e["update"]["status"].get("healthy") is True)
    sch.acknowledge(st["update"]["status"])
    assert st["update"]["status"]["state"] == "TASK_RUNNING"
    # Published on 127.0.0.1 only; the container's logs reach the sandbox.
    cid = st["update"]["status"]["container_status"]["container_id"]["value"]
    info = inspect("agora-" + cid)
    assert info["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1",
                                                              "HostPort": str(port)}]}
    assert info["Config"]["Labels"]["team"] == "web"
    binds = info["HostConfig"]["Binds"]
    assert any(b.endswith("/data:/data:rw") and "/runs/" + cid + "/" in b for b in binds), binds
    assert any(b.endswith(":/mnt/mesos/sandbox:rw") for b in binds), binds
    wait_for(lambda: "serving" in read_sandbox(dcluster.slaves[0], "web", "stdout"), 10,
             what="container stdout in the sandbox")


def offer_port(offer):
    """A random offered port (less likely to clash with other tests)."""
    for r in offer["resources"]:
        if r["name"] == "ports":
            rg = r["ranges"]["range"][0]
            return random.randint(rg["begin"], rg["end"])
    raise AssertionError("offer without ports")


def test_exit_codes_and_logs(dcluster):
    sch = start(dcluster)
    offer = sch.next_offers()[0]
    aid = offer["agent_id"]
    sch.launch(offer, [docker_task("ok", aid, "echo to-stdout; echo to-stderr >&2; exit 0"),
                       docker_task("three", aid, "exit 3")])
    last, history = wait_states(sch, {"ok": ["TASK_FINISHED", "TASK_FAILED"],
                                      "three": ["TASK_FINISHED", "TASK_FAILED"]})
    assert last["ok"]["state"] == "TASK_FINISHED", last["ok"]
    assert last["three"]["state"] == "TASK_FAILED"
    assert "3" in last["three"]["message"], last["three"]
    assert history["ok"][:2] == ["TASK_STARTING", "TASK_RUNNING"], history
    slave = dcluster.slaves[0]
    assert "to-stdout" in read_sandbox(slave, "ok", "stdout")
    assert "to-stderr" in read_sandbox(slave, "ok", "stderr")
    # Exited containers are removed.
    sid = slave_id(slave)
    wait_for(lambda: containers_of("agora.slave_id=" + sid) == [], 10, what="no containers left")


def test_missing_image_fails_clearly(dcluster):
    sch = start(dcluster)
    offer = sch.next_offers()[0]
    sch.launch(offer, [docker_task("nope", offer["agent_id"], "true",
                                   image="agora-no-such-image:does-not-exist")])
    last, _ = wait_states(sch, {"nope": ["TASK_FAILED", "TASK_FINISHED"]}, timeout=90)
    st = last["nope"]
    assert st["state"] == "TASK_FAILED"
    assert st["reason"] == "REASON_CONTAINER_LAUNCH_FAILED", st
    assert "agora-no-such-image:does-not-exist" in st["message"], st
    assert "Failed to pull image" in st["message"], st


def test_bad_parameter_fails_with_field(dcluster):
    sch = start(dcluster)
    offer = sch.next_offers()[0]
    t = docker_task("badparam", offer["agent_id"], "true")
    t["container"]["docker"]["parameters"] = [{"key": "no-such-option", "value": "1"}]
    sch.launch(offer, [t])
    last, _ = wait_states(sch, {"badparam": ["TASK_FAILED", "TASK_FINISHED"]})
    assert last["badparam"]["state"] == "TASK_FAILED"
    assert "container.docker.parameters[0]" in last["badparam"]["message"]


def test_memory_limit_oom_kill(dcluster):
    sch = start(dcluster)
    offer = sch.next_offers()[0]
    # tail keeps a line without newline in memory: far more than 32 MB.
    sch.launch(offer, [docker_task("hog", offer["agent_id"],
                                   "head -c 200000000 /dev/zero | tail > /dev/null", mem=32)])
    last, _ = wait_states(sch, {"hog": ["TASK_FAILED", "TASK_FINISHED"]})
    st = last["hog"]
    assert st["state"] == "TASK_FAILED"
    assert st["reason"] == "REASON_CONTAINER_LIMITATION_MEMORY", st


def test_kill_removes_container(dcluster):
    sch = start(dcluster)
    offer = sch.next_offers()[0]
    sch.launch(offer, [docker_task("victim", offer["agent_id"], "exec sleep 600")])
    last, _ = wait_states(sch, {"victim": "TASK_RUNNING"})
    cid = last["victim"]["container_status"]["container_id"]["value"]
    assert inspect("agora-" + cid)["State"]["Running"] is True
    sch.call({"type": "KILL", "kill": {"task_id": {"value": "victim"},
                                       "agent_id": offer["agent_id"]}})
    last, _ = wait_states(sch, {"victim": ["TASK_KILLED", "TASK_FAILED", "TASK_FINISHED"]})
    assert last["victim"]["state"] == "TASK_KILLED", last["victim"]
    assert inspect("agora-" + cid) is None, "the killed container was not removed"


def test_limits_labels_and_command_health(dcluster):
    sch = start(dcluster)
    offer = sch.next_offers()[0]
    t = docker_task("limited", offer["agent_id"], "exec sleep 600", cpus=0.5, mem=64,
                    health_check={"type": "COMMAND",
                                  "command": {"value": "test -f /www/index.html"},
                                  "delay_seconds": 0.2, "interval_seconds": 0.5})
    t["command"]["environment"] = {"variables": [{"name": "GREETING", "value": "hi"}]}
    sch.launch(offer, [t])
    last, _ = wait_states(sch, {"limited": "TASK_RUNNING"})
    cid = last["limited"]["container_status"]["container_id"]["value"]
    info = inspect("agora-" + cid)
    hc = info["HostConfig"]
    assert hc["CpuShares"] == 512
    assert hc["NanoCpus"] == 500000000
    assert hc["Memory"] == 64 * 1024 * 1024
    assert hc["NetworkMode"] == "host"
    labels = {k: v for k, v in info["Config"]["Labels"].items() if k.startswith("agora.")}
    sid = slave_id(dcluster.slaves[0])
    assert labels == {"agora.framework_id": sch.framework_id, "agora.task_id": "limited",
                      "agora.slave_id": sid, "agora.container_id": cid}
    assert "GREETING=hi" in info["Config"]["Env"]
    assert "MESOS_TASK_ID=limited" in info["Config"]["Env"]
    # COMMAND health checks run inside the container (docker exec).
    st = sch.next_event("UPDATE", 30, pred=lambda e: e["update"]["status"].get("healthy") is True)
    sch.acknowledge(st["update"]["status"])


def test_slave_kill9_recovers_containers(dcluster):
    sch = start(dcluster)
    offer = sch.next_offers()[0]
    aid = offer["agent_id"]
    tasks = [docker_task(f"long{i}", aid, "exec sleep 600") for i in range(3)]
    # long0 logs a line before the restart and one after: each exactly once.
    tasks[0]["command"]["value"] = ("echo before; while [ ! -f $MESOS_SANDBOX/go ]; do sleep 0.1;"
                                    " done; echo after; exec sleep 600")
    # quick exits when told, while the slave is down (a fixed "sleep 1"
    # could end before the kill on a loaded machine).
    tasks.append(docker_task("quick", aid, "while [ ! -f $MESOS_SANDBOX/quit ]; do sleep 0.1;"
                                           " done; exit 7"))
    sch.launch(offer, tasks)
    wait_states(sch, {f"long{i}": "TASK_RUNNING" for i in range(3)} | {"quick": "TASK_RUNNING"})
    slave = dcluster.slaves[0]
    sid = slave_id(slave)
    before = sorted(containers_of("agora.slave_id=" + sid))
    assert len(before) == 4
    # An orphan: Agora's labels with this slave's id, but no task of it.
    orphan = "agora-" + str(uuid.uuid4())
    docker_cli("run", "-d", "--name", orphan, "--label", "agora.slave_id=" + sid,
               "--label", "agora.container_id=" + orphan[6:], "--label", "agora.task_id=ghost",
               "--label", "agora.framework_id=" + sch.framework_id, IMAGE, "sleep", "600")

    # The first line is in the sandbox before the crash (a line written in
    # the instant of a kill may be lost: the engine's log cursor is
    # checkpointed after the write).
    wait_for(lambda: read_sandbox(slave, "long0", "stdout") == "before\n", 10,
             what="long0's first line before the restart")
    quick_sandbox = sandbox_of(slave, "quick")
    slave.kill9()
    open(os.path.join(quick_sandbox, "quit"), "w").close()
    # "quick" exits while the slave is down.
    quick = [c for c in before if inspect(c)["Config"]["Labels"]["agora.task_id"] == "quick"][0]
    wait_for(lambda: inspect(quick)["State"]["Status"] == "exited", 20, what="quick exited")
    slave.start()

    last, _ = wait_states(sch, {"quick": ["TASK_FAILED", "TASK_FINISHED"]}, timeout=60)
    assert last["quick"]["state"] == "TASK_FAILED" and "7" in last["quick"]["message"]
    wait_for(lambda: inspect(orphan) is None, 30, what="the orphan container removed")
    wait_for(lambda: slave_task_states(slave) ==
             {f"long{i}": "TASK_RUNNING" for i in range(3)}, 30, what="3 tasks RUNNING again")
    wait_for(lambda: read_sandbox(slave, "long0", "stdout") == "before\n", 10,
             what="long0's first line")
    open(os.path.join(sandbox_of(slave, "long0"), "go"), "w").close()
    wait_for(lambda: read_sandbox(slave, "long0", "stdout") == "before\nafter\n", 10,
             what="long0's logs followed again after the restart, without duplicates")
    after = sorted(containers_of("agora.slave_id=" + sid))
    assert after == sorted(c for c in before if c != quick), "duplicated or lost containers"
    # The master agrees, and the re-adopted tasks can still be killed.
    mstate = dcluster.state()
    running = sorted(t["id"] for f in mstate["frameworks"] for t in f["tasks"]
                     if t["state"] == "TASK_RUNNING")
    assert running == ["long0", "long1", "long2"]
    sch.call({"type": "KILL", "kill": {"task_id": {"value": "long0"}, "agent_id": aid}})
    wait_states(sch, {"long0": "TASK_KILLED"})
    wait_for(lambda: len(containers_of("agora.slave_id=" + sid)) == 2, 10,
             what="killed container removed")


def test_docker_launch_bench_smoke(docker_env):
    """The launch benchmark at N=3, so that it cannot rot."""
    env = dict(os.environ)
    p = subprocess.run([sys.executable, os.path.join(REPO, "tests", "bench", "docker_launch.py"),
                        "--tasks=3", "--rounds=1", "--json"], capture_output=True, text=True, timeout=180,
                       env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    fig = json.loads(p.stdout.strip().splitlines()[-1])
    assert fig["tasks"] == 3
    assert fig["agora_median_s"] > 0 and fig["docker_median_s"] > 0
    assert fig["ratio"] > 0


def test_agora_batch_docker_image(dcluster):
    m = dcluster.start_master()
    dcluster.add_slave(*DOCKER_ARGS)
    dcluster.wait_slaves(1)
    p = subprocess.run([os.path.join(BIN, "agora-batch"), f"--master=127.0.0.1:{m.port}",
                        "--tasks=3", f"--docker_image={IMAGE}", "--cmd=echo hi from docker",
                        "--timeout=60secs"], capture_output=True, text=True, timeout=90)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "3 finished" in p.stdout, p.stdout


def test_engine_unreachable_fails_task(dcluster, tmp_path):
    """A slave told to use Docker whose engine does not answer fails the
    task with the reason, instead of leaving it STARTING."""
    m = dcluster.start_master()
    dcluster.add_slave("--containerizers=docker,process",
                       f"--docker_socket={tmp_path}/no-docker.sock")
    dcluster.wait_slaves(1)
    sch = SchedulerClient(m.url, name="docker-test")
    sch.subscribe()
    offer = sch.next_offers()[0]
    sch.launch(offer, [docker_task("lonely", offer["agent_id"], "true"),
                       task_info("plain", offer["agent_id"], "exit 0")])
    last, _ = wait_states(sch, {"lonely": ["TASK_FAILED", "TASK_FINISHED"],
                                "plain": ["TASK_FINISHED", "TASK_FAILED"]})
    assert last["plain"]["state"] == "TASK_FINISHED"
    st = last["lonely"]
    assert st["state"] == "TASK_FAILED"
    assert st["reason"] == "REASON_CONTAINER_LAUNCH_FAILED"
    assert "no-docker.sock" in st["message"], st
