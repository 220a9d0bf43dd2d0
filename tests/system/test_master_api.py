"""System tests of agora-master's scheduler API, slave protocol and state
endpoints, against a real agora-master binary alone.

The master comes from the `master` / `master_cluster` fixtures (conftest.py,
agora_harness): --port=0 --port_file, stopped with SIGTERM at teardown and
checked for sanitizer reports; its log is printed when a test fails.

Slaves are emulated in Python by agora_wire.FakeSlave: the slave protocol is
protobuf only, and agora_wire's tiny codec encodes the few messages needed
(no protobuf package is needed). Schedulers are agora_harness
SchedulerClients (JSON, as Mesos v1 HTTP clients, or protobuf).
"""
import os
import subprocess
import time
import uuid
import zlib

import pytest
import requests

from agora_harness import SchedulerClient, binary, task_info, wait_for
from agora_wire import (EV_ACK, EV_KILL_TASK, EV_REGISTERED, EV_RUN_TASK, EV_SHUTDOWN_FW,
                        TASK_KILLED, TASK_RUNNING, FakeSlave, pb_get, task_report)


# ---------------------------------------------------------------- helpers

def state(master):
    r = requests.get(master.url + "/master/state", timeout=5)
    assert r.status_code == 200
    return r.json()


def framework(master, fid):
    return [f for f in state(master)["frameworks"] if f["id"] == fid][0]


def subscribe(master, name="test", **kw):
    fw = SchedulerClient(master.url, name=name, **kw)
    fw.subscribe()
    return fw


def launch(fw, offer, task_id, cpus=1.0, mem=128.0):
    fw.launch(offer, [task_info(task_id, offer["agent_id"], "sleep 100", cpus=cpus, mem=mem)],
              refuse_seconds=0)


def next_status(fw, **kw):
    return fw.next_event("UPDATE", **kw)["update"]["status"]


def run_task(fw, slave, task_id):
    """Offer -> ACCEPT -> RUN_TASK -> TASK_RUNNING (acknowledged)."""
    offer = fw.next_offers()[0]
    launch(fw, offer, task_id)
    run = slave.next_of(EV_RUN_TASK)
    assert pb_get(run, 3, 2, 2, 1).decode() == task_id
    u = slave.status(fw.framework_id, task_id, TASK_RUNNING)
    up = next_status(fw, pred=lambda e: e["update"]["status"]["state"] == "TASK_RUNNING")
    assert up["agent_id"]["value"] == slave.agent_id
    fw.acknowledge(up)
    ack = slave.next_of(EV_ACK)
    assert pb_get(ack, 5, 3) == u
    return offer


def with_offer(master, **kw):
    """A FakeSlave, a subscribed framework (kw: SchedulerClient options) and
    the first offer of the slave to it."""
    slave = FakeSlave(master)
    s = subscribe(master, **kw)
    return slave, s, s.next_offers()[0]


def with_running_task(master, task_id, **kw):
    """A FakeSlave and a subscribed framework (kw: SchedulerClient options)
    whose task task_id runs on it."""
    slave = FakeSlave(master)
    s = subscribe(master, **kw)
    run_task(s, slave, task_id)
    return slave, s


# ------------------------------------------------------------------ tests

def test_subscribe_and_heartbeat(master):
    s = SchedulerClient(master.url, name="test")
    sub = s.subscribe()["subscribed"]
    assert s.resp.headers["Content-Type"] == "application/json"
    assert len(s.stream_id) == 36
    assert sub["heartbeat_interval_seconds"] == 1.0
    assert sub["master_info"]["port"] == master.port
    assert s.next_event("HEARTBEAT", timeout=5)["type"] == "HEARTBEAT"
    st = state(master)
    fw = [f for f in st["frameworks"] if f["id"] == s.framework_id][0]
    assert fw["active"] and fw["connected"] and fw["name"] == "test"
    assert st["leader"] == "master@127.0.0.1:%d" % master.port
    s.close()


def test_subscribe_protobuf_stream(master):
    s = SchedulerClient(master.url, protobuf=True)
    ev = s.subscribe()            # the first event: SUBSCRIBED (1)
    assert s.resp.headers["Content-Type"] == "application/x-protobuf"
    assert ev[1][0] == 1
    assert pb_get(ev, 2, 1, 1)    # framework_id.value
    assert s.framework_id == pb_get(ev, 2, 1, 1).decode()
    s.close()


def test_bad_inputs_and_still_serving(master):
    s = subscribe(master)
    url = master.url + "/api/v1/scheduler"
    hdr = {"Mesos-Stream-Id": s.stream_id}
    fid = {"value": s.framework_id}

    r = requests.post(url, data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "Call" in r.text
    r = requests.post(url, data="hello", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and "Content-Type" in r.text
    r = requests.post(url, json={"type": "NO_SUCH_CALL", "framework_id": fid}, headers=hdr)
    assert r.status_code == 400
    r = requests.post(url, json={"type": "REVIVE"}, headers=hdr)
    assert r.status_code == 400 and "framework_id" in r.text
    r = requests.post(url, json={"type": "DECLINE", "framework_id": fid}, headers=hdr)
    assert r.status_code == 400 and "decline" in r.text
    r = requests.post(url, json={"type": "REVIVE", "framework_id": fid})
    assert r.status_code in (400, 403) and "Mesos-Stream-Id" in r.text
    r = requests.post(url, json={"type": "REVIVE", "framework_id": fid},
                      headers={"Mesos-Stream-Id": str(uuid.uuid4())})
    assert r.status_code == 403
    r = requests.post(url, json={"type": "REVIVE", "framework_id": {"value": "nope"}},
                      headers=hdr)
    assert r.status_code == 403 and "not subscribed" in r.text
    r = requests.post(url, json={"type": "REVIVE", "framework_id": fid},
                      headers=dict(hdr, Accept="text/html"))
    assert r.status_code == 406
    r = requests.post(url, data=b"x" * (9 * 1024 * 1024),
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    r = requests.post(url, data=b"\xff\x01garbage",
                      headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 400
    r = requests.post(url, json={"type": "SUBSCRIBE", "subscribe": {
        "framework_info": {"user": "u", "name": "n", "failover_timeout": -1}}})
    assert r.status_code == 400 and "failover_timeout" in r.text
    r = requests.post(url, json={"type": "SUBSCRIBE", "subscribe": {
        "framework_info": {"name": "n"}}})
    assert r.status_code == 400 and "user" in r.text
    r = requests.post(master.url + "/internal/v1/slave", data=b"x",
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 415

    assert requests.get(master.url + "/health").status_code == 200
    s.call({"type": "REVIVE"})
    assert s.next_event("HEARTBEAT", timeout=5)
    s.close()


def test_decline_revive_suppress_message_request(master):
    s = subscribe(master)
    for t, extra in [("DECLINE", {"decline": {"offer_ids": [{"value": "unknown"}]}}),
                     ("REVIVE", {}), ("SUPPRESS", {}), ("REVIVE", {}),
                     ("REQUEST", {"request": {"requests": []}}),
                     ("MESSAGE", {"message": {"agent_id": {"value": "a"},
                                              "executor_id": {"value": "e"},
                                              "data": "aGk="}}),
                     ("SHUTDOWN", {"shutdown": {"agent_id": {"value": "a"},
                                                "executor_id": {"value": "e"}}})]:
        r = s.call(dict(extra, type=t))       # asserts 202
        assert r.text == "", (t, r.text)
    s.close()


def test_offer_launch_update_ack_kill(master):
    slave, s, offer = with_offer(master)
    assert offer["agent_id"]["value"] == slave.agent_id
    names = {r["name"] for r in offer["resources"]}
    assert {"cpus", "mem", "ports"} <= names

    # The unused 3 cpus are filtered for 2 s: offered again (after one
    # --allocation_batch window) only with the task's cpu, below.
    s.launch(offer, [task_info("t1", offer["agent_id"], "sleep 100", cpus=1.0, mem=128.0)],
             refuse_seconds=2)
    t_accept = time.monotonic()
    run = slave.next_of(EV_RUN_TASK)
    assert pb_get(run, 3, 1, 3, 1).decode() == s.framework_id
    assert pb_get(run, 3, 2, 2, 1) == b"t1"

    st = state(master)
    task = st["frameworks"][0]["tasks"][0]
    assert task["id"] == "t1" and task["state"] == "TASK_STAGING"
    assert task["slave_id"] == slave.agent_id
    assert st["frameworks"][0]["used_resources"]["cpus"] == 1.0
    assert st["slaves"][0]["used_resources"]["cpus"] == 1.0

    u = slave.status(s.framework_id, "t1", TASK_RUNNING)
    up = next_status(s)
    assert up["state"] == "TASK_RUNNING" and up["agent_id"]["value"] == slave.agent_id
    assert up["uuid"]
    s.acknowledge(up)
    ack = slave.next_of(EV_ACK)
    assert pb_get(ack, 5, 3) == u and pb_get(ack, 5, 2, 1) == b"t1"
    assert state(master)["frameworks"][0]["tasks"][0]["state"] == "TASK_RUNNING"

    s.call({"type": "KILL", "kill": {"task_id": {"value": "t1"}}})
    kill = slave.next_of(EV_KILL_TASK)
    assert pb_get(kill, 4, 2, 1) == b"t1"
    slave.status(s.framework_id, "t1", TASK_KILLED)
    up = next_status(s)
    assert up["state"] == "TASK_KILLED"
    s.acknowledge(up)

    def completed():
        fw = state(master)["frameworks"][0]
        return not fw["tasks"] and [t for t in fw["completed_tasks"] if t["id"] == "t1"]
    done = wait_for(completed, what="task t1 completed")
    assert done[0]["state"] == "TASK_KILLED"
    assert [x["state"] for x in done[0]["statuses"]][-1] == "TASK_KILLED"
    # Resources came back: all 4 cpus are offered again, in one offer once
    # the filter lapses (in two if the kill took longer than the filter).
    within_filter = time.monotonic() - t_accept < 1.5
    cpus, n = 0.0, 0
    while cpus < 4.0:
        offer2 = s.next_offers()[0]
        cpus += [r for r in offer2["resources"] if r["name"] == "cpus"][0]["scalar"]["value"]
        n += 1
    assert cpus == 4.0
    if within_filter:
        assert n == 1
    s.close()
    slave.close()


def test_invalid_tasks_and_offers(master):
    slave, s, offer = with_offer(master)
    # More cpus than offered: TASK_ERROR, the call itself is accepted.
    launch(s, offer, "big", cpus=64)
    st = next_status(s)
    assert st["state"] == "TASK_ERROR" and st["reason"] == "REASON_TASK_INVALID"
    assert st["task_id"]["value"] == "big"
    # The offer is used up: accepting it again gives TASK_LOST, REASON_INVALID_OFFERS.
    launch(s, offer, "again")
    st = next_status(s)
    assert st["state"] == "TASK_LOST" and st["reason"] == "REASON_INVALID_OFFERS"
    s.close()
    slave.close()


def test_launch_group(master):
    slave, s, offer = with_offer(master)

    def task(tid, cpus):
        return task_info(tid, offer["agent_id"], "true", cpus=cpus)
    executor = {"type": "DEFAULT", "executor_id": {"value": "ex1"},
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                              {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]}
    s.call({"type": "ACCEPT", "accept": {"offer_ids": [offer["id"]], "operations": [
        {"type": "LAUNCH_GROUP", "launch_group": {
            "executor": executor, "task_group": {"tasks": [task("g1", 1), task("g2", 1)]}}}],
        "filters": {"refuse_seconds": 0}}})
    got = {pb_get(slave.next_of(EV_RUN_TASK), 3, 2, 2, 1) for _ in range(2)}
    assert got == {b"g1", b"g2"}
    fw = state(master)["frameworks"][0]
    assert sorted(t["id"] for t in fw["tasks"]) == ["g1", "g2"]
    assert abs(fw["used_resources"]["cpus"] - 2.1) < 1e-9

    # A group with one bad task is refused as a whole.
    offer = s.next_offers()[0]
    s.call({"type": "ACCEPT", "accept": {"offer_ids": [offer["id"]], "operations": [
        {"type": "LAUNCH_GROUP", "launch_group": {
            "executor": dict(executor, executor_id={"value": "ex2"}),
            "task_group": {"tasks": [task("g3", 1), task("g4", 100)]}}}]}})
    sts = s.wait_updates({"g3": None, "g4": None}, ack=False)
    assert {t: (st["state"], st["reason"]) for t, st in sts.items()} == {
        "g3": ("TASK_ERROR", "REASON_TASK_GROUP_INVALID"),
        "g4": ("TASK_ERROR", "REASON_TASK_GROUP_INVALID")}
    s.close()
    slave.close()


def test_multi_role_offer_has_allocation_info(master):
    # Unreserved resources are offered to any role.
    slave, s, offer = with_offer(master, name="mr", roles=["web"], capabilities=["MULTI_ROLE"])
    assert offer["allocation_info"]["role"] == "web"
    assert all(x["allocation_info"]["role"] == "web" for x in offer["resources"])
    assert state(master)["frameworks"][0]["role"] == "web"
    s.close()
    slave.close()


def test_recordio_accept(master):
    s = SchedulerClient(master.url, headers={"Accept": "application/recordio",
                                             "Message-Accept": "application/json"})
    s.subscribe()                 # the first record: a JSON SUBSCRIBED event
    assert s.resp.headers["Content-Type"] == "application/recordio"
    assert s.resp.headers["Message-Content-Type"] == "application/json"
    s.close()


def test_reconcile(master):
    slave, s = with_running_task(master, "r1", capabilities=["PARTITION_AWARE"])
    s.call({"type": "RECONCILE", "reconcile": {"tasks": [
        {"task_id": {"value": "r1"}}, {"task_id": {"value": "ghost"}}]}})
    got = s.wait_updates({"r1": None, "ghost": None}, ack=False)
    assert got["r1"]["state"] == "TASK_RUNNING"
    assert got["r1"]["reason"] == "REASON_RECONCILIATION" and "uuid" not in got["r1"]
    assert got["ghost"]["state"] == "TASK_UNKNOWN"
    assert got["ghost"]["reason"] == "REASON_RECONCILIATION"
    s.call({"type": "RECONCILE", "reconcile": {"tasks": []}})
    st = next_status(s)
    assert st["task_id"]["value"] == "r1" and st["state"] == "TASK_RUNNING"
    # A framework that is not PARTITION_AWARE hears of an unknown task as lost.
    old = subscribe(master, name="old")
    old.call({"type": "RECONCILE", "reconcile": {"tasks": [{"task_id": {"value": "nope"}}]}})
    st = next_status(old)
    assert st["task_id"]["value"] == "nope"
    assert st["state"] == "TASK_LOST" and st["reason"] == "REASON_RECONCILIATION"
    old.close()
    s.close()
    slave.close()


def test_framework_failover_keeps_tasks(master):
    slave, s = with_running_task(master, "f1", failover_timeout=60)
    fid = s.framework_id
    s.close()
    wait_for(lambda: not framework(master, fid)["connected"], what="disconnect")
    assert not framework(master, fid)["active"]
    s2 = subscribe(master, framework_id=fid, failover_timeout=60)
    assert s2.framework_id == fid and s2.stream_id != s.stream_id
    fw = framework(master, fid)
    assert fw["connected"] and fw["active"] and [t["id"] for t in fw["tasks"]] == ["f1"]
    # The old stream id is no longer valid.
    r = requests.post(master.url + "/api/v1/scheduler",
                      json={"type": "REVIVE", "framework_id": {"value": fid}},
                      headers={"Mesos-Stream-Id": s.stream_id})
    assert r.status_code == 403
    # The failed-over scheduler learns its task is still running.
    s2.call({"type": "RECONCILE", "reconcile": {"tasks": []}})
    st = next_status(s2)
    assert st["task_id"]["value"] == "f1" and st["state"] == "TASK_RUNNING"
    s2.close()
    slave.close()


def test_failover_timeout_removes_framework(master):
    slave, s = with_running_task(master, "x1", failover_timeout=0.5)
    fid = s.framework_id
    s.close()
    shut = slave.next_of(EV_SHUTDOWN_FW)
    assert pb_get(shut, 6, 1, 1).decode() == fid
    st = wait_for(lambda: (lambda st: st if st["completed_frameworks"] else None)(
        state(master)), what="framework removal")
    assert st["frameworks"] == []
    assert st["completed_frameworks"][0]["id"] == fid
    assert st["completed_frameworks"][0]["completed_tasks"][0]["state"] == "TASK_KILLED"
    # Re-subscribing a removed framework gets an ERROR event.
    again = SchedulerClient(master.url, framework_id=fid)
    ev = again.subscribe(expect="ERROR")
    assert "removed" in ev["error"]["message"]
    again.close()
    slave.close()


def test_teardown(master):
    slave, s = with_running_task(master, "td")
    s.call({"type": "TEARDOWN"})
    slave.next_of(EV_SHUTDOWN_FW)
    st = state(master)
    assert st["frameworks"] == [] and len(st["completed_frameworks"]) == 1
    s.call({"type": "REVIVE"}, expect=403)
    slave.close()


@pytest.mark.parametrize("partition_aware", [False, True])
def test_unreachable_slave_and_return(master_cluster, partition_aware):
    m = master_cluster.start_master("--slave_ping_timeout=0.3secs",
                                    "--max_slave_ping_timeouts=2", "--heartbeat_interval=1secs")
    caps = ["PARTITION_AWARE"] if partition_aware else []
    slave, s = with_running_task(m, "u1", capabilities=caps, failover_timeout=60)
    slave.pong = False
    st = next_status(s, timeout=10)
    want = "TASK_UNREACHABLE" if partition_aware else "TASK_LOST"
    assert st["state"] == want and st["reason"] == "REASON_AGENT_REMOVED"
    assert s.next_event("FAILURE")["failure"]["agent_id"]["value"] == slave.agent_id
    st = state(m)
    assert st["unreachable_slaves"] == 1 and st["activated_slaves"] == 0
    slave.close()

    # The slave comes back with its task still running.
    back = FakeSlave(m, agent_id=slave.agent_id,
                     tasks=[task_report(s.framework_id, "u1", slave.agent_id, TASK_RUNNING)])
    assert back.first_type == EV_REGISTERED and back.agent_id == slave.agent_id
    if partition_aware:
        st = next_status(s)
        assert st["state"] == "TASK_RUNNING"
        fw = state(m)["frameworks"][0]
        assert [t["state"] for t in fw["tasks"]] == ["TASK_RUNNING"]
    else:
        kill = back.next_of(EV_KILL_TASK)
        assert pb_get(kill, 4, 2, 1) == b"u1"
    assert state(m)["activated_slaves"] == 1
    s.close()
    back.close()


def test_slave_reregister_after_master_restart(master_cluster):
    m = master_cluster.start_master("--heartbeat_interval=1secs")
    slave, s = with_running_task(m, "k1", failover_timeout=60)
    fid, aid = s.framework_id, slave.agent_id
    s.close()
    slave.close()
    reg_path = os.path.join(m.work_dir, "registry.pb")
    wait_for(lambda: os.path.exists(reg_path), what="registry.pb")
    m.stop()                      # SIGTERM
    assert m.proc.returncode == 0
    with open(reg_path, "rb") as f:
        data = f.read()
    # "AGR1", packed length (big-endian), deflated agora.registry.Registry.
    assert data[:4] == b"AGR1"
    raw = zlib.decompress(data[8:])
    assert len(raw) == int.from_bytes(data[4:8], "big")
    assert aid.encode() in raw and fid.encode() in raw
    m.start()

    # The registry brought the framework back, waiting for its scheduler.
    assert fid in state(m)["unregistered_frameworks"]
    back = FakeSlave(m, agent_id=aid, tasks=[task_report(fid, "k1", aid, TASK_RUNNING)])
    assert back.first_type == EV_REGISTERED
    fw = framework(m, fid)
    assert [t["id"] for t in fw["tasks"]] == ["k1"]
    assert fw["used_resources"]["cpus"] == 1.0
    s2 = subscribe(m, framework_id=fid, failover_timeout=60)
    assert s2.framework_id == fid
    assert framework(m, fid)["connected"]
    s2.close()
    back.close()


def test_offer_timeout_rescinds(master_cluster):
    m = master_cluster.start_master("--offer_timeout=0.5secs", "--heartbeat_interval=1secs")
    slave, s, offer = with_offer(m)
    ev = s.next_event("RESCIND", timeout=5)
    assert ev["rescind"]["offer_id"] == offer["id"]
    s.close()
    slave.close()


def test_operator_api_and_metrics(master):
    slave = FakeSlave(master)
    s = subscribe(master)
    url = master.url + "/api/v1"
    for t, key in [("GET_MASTER", "get_master"), ("GET_AGENTS", "get_agents"),
                   ("GET_FRAMEWORKS", "get_frameworks"), ("GET_TASKS", "get_tasks"),
                   ("GET_STATE", "get_state"), ("GET_HEALTH", "get_health")]:
        r = requests.post(url, json={"type": t})
        assert r.status_code == 200, (t, r.text)
        assert r.json()["type"] == t and key in r.json()
    r = requests.post(url, json={"type": "GET_AGENTS"}).json()
    assert r["get_agents"]["agents"][0]["agent_info"]["id"]["value"] == slave.agent_id
    r = requests.post(url, json={"type": "GET_FRAMEWORKS"}).json()
    assert r["get_frameworks"]["frameworks"][0]["framework_info"]["id"]["value"] == \
        s.framework_id
    assert requests.post(url, json={"type": "BOGUS"}).status_code == 400
    assert requests.post(url, data="{", headers={"Content-Type": "application/json"}) \
        .status_code == 400

    text = requests.get(master.url + "/metrics").text
    assert "agora_master_frameworks_active 1" in text
    assert "agora_master_slaves_active 1" in text
    snap = requests.get(master.url + "/metrics/snapshot").json()
    assert snap["master/slaves_active"] == 1 and snap["master/cpus_total"] == 4.0
    r = requests.get(master.url + "/master/redirect", allow_redirects=False)
    assert r.status_code == 307 and r.headers["Location"].endswith(":%d" % master.port)
    assert requests.get(master.url + "/state").json()["id"] == state(master)["id"]
    s.close()
    slave.close()


def test_sigterm_clean_exit(master):
    master.stop()                 # SIGTERM
    assert master.proc.returncode == 0


def test_bad_zk_flag_refused(tmp_path):
    # HA itself is covered by test_ha.py; a malformed URL is refused up front.
    p = subprocess.run([binary("agora-master"), "--zk=zk://127.0.0.1:2181", "--port=0",
                        "--work_dir=" + str(tmp_path)], capture_output=True, timeout=10)
    assert p.returncode != 0 and b"--zk" in p.stderr and b"path" in p.stderr
