"""Issue 16, "orphans": a periodic sweep (--orphan_sweep_interval, as well
as the one at recovery) removes agora-* containers labelled with this
slave's id that no task owns and kills processes in this slave's
sandboxes that no task owns, counted in /metrics; what tasks own is left
alone."""
import os
import re
import subprocess
import time
import uuid

import requests

from agora_harness import SchedulerClient, task_info, task_pids, wait_for
from docker_env import IMAGE, docker_cli
from test_docker import DOCKER_ARGS, dcluster, docker_task, inspect, slave_id  # noqa: F401

SWEEP = "--orphan_sweep_interval=1secs"


def metric(slave, name):
    text = requests.get(slave.url + "/metrics", timeout=5).text
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    assert m, f"{name} missing from the slave's /metrics"
    return float(m.group(1))


def start(cluster, *slave_args):
    cluster.start_master("--allocation_interval=100ms")
    slave = cluster.add_slave(SWEEP, *slave_args)
    cluster.wait_slaves(1)
    fw = SchedulerClient(cluster.master.url, name="orphans")
    fw.subscribe()
    return slave, fw


def test_orphan_container_removed_by_periodic_sweep(dcluster):
    slave, fw = start(dcluster, *DOCKER_ARGS)
    offer = fw.next_offers()[0]
    fw.launch(offer, [docker_task("owned", offer["agent_id"], "exec sleep 600")])
    fw.wait_update("owned", "TASK_RUNNING", timeout=60)
    sid = slave_id(slave)
    # Created by hand after the slave's start (so only the periodic sweep
    # can find it), with the labels and the name the slave gives its own.
    orphan = "agora-" + str(uuid.uuid4())
    docker_cli("run", "-d", "--name", orphan, "--label", "agora.slave_id=" + sid,
               "--label", "agora.container_id=" + orphan[6:], "--label", "agora.task_id=ghost",
               "--label", "agora.framework_id=" + fw.framework_id, IMAGE, "sleep", "600")
    made = time.monotonic()
    wait_for(lambda: inspect(orphan) is None, 20, what="the orphan container removed")
    print(f"\norphan container removed {time.monotonic() - made:.1f}s after its creation")
    wait_for(lambda: metric(slave, "agora_slave_orphan_containers_removed_total") == 1, 5,
             what="the removal counted")
    assert "orphan container" in slave.log()
    # The task's own container is untouched, sweep after sweep (1 s apart).
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        c = [n for n in docker_cli("ps", "--format", "{{.Names}}").split()
             if n.startswith("agora-") and inspect(n) and
             inspect(n)["Config"]["Labels"].get("agora.task_id") == "owned"]
        assert c, "the running task's container was removed"
        time.sleep(0.5)
    fw.close()


def test_orphan_process_killed_by_periodic_sweep(cluster):
    slave, fw = start(cluster)
    offer = fw.next_offers()[0]
    fw.launch(offer, [task_info("owned", offer["agent_id"], "sleep 600")])
    fw.wait_update("owned", "TASK_RUNNING")
    wait_for(lambda: task_pids(slave.work_dir, "owned"), 10, what="the task's sleep")
    # A process left in a sandbox of this slave with a container id no
    # task has (as a task's descendant that escaped its process group).
    sandbox = os.path.join(slave.work_dir, "slaves", "S-old", "frameworks", "F", "executors",
                           "gone", "runs", "c0")
    os.makedirs(sandbox)
    env = dict(os.environ, MESOS_SANDBOX=sandbox, MESOS_TASK_ID="gone",
               MESOS_CONTAINER_ID="c0-" + str(uuid.uuid4()))
    stray = subprocess.Popen(["sleep", "600"], env=env, cwd=sandbox)
    try:
        stray.wait(20)
    except subprocess.TimeoutExpired:
        stray.kill()
        raise AssertionError("the orphan process was not killed within 20 s")
    assert stray.returncode == -9, stray.returncode
    assert metric(slave, "agora_slave_orphan_processes_killed_total") == 1
    # The task's own process stays, sweep after sweep.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert task_pids(slave.work_dir, "owned"), "the running task was killed"
        time.sleep(0.5)
    fw.close()


def test_bad_sweep_interval_refused(cluster):
    cluster.start_master()
    try:
        cluster.add_slave("--orphan_sweep_interval=0secs")
    except AssertionError as e:
        assert "--orphan_sweep_interval" in str(e), str(e)[-500:]
    else:
        raise AssertionError("a slave started with --orphan_sweep_interval=0secs")
