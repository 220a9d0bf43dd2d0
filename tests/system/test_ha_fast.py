"""Fast failover of a dead leader (common/liveness.h): each standby holds a
liveness stream to the leader's process; a killed leader's stream ends by
EOF/reset and a standby deletes its znode, so a successor leads in well
under a second although the session timeout stays 10 s. A frozen leader
(SIGSTOP) keeps its sockets open: nobody replaces it before its session
expires, and once resumed it stands down without writing."""
import os
import signal
import time

import requests

from pacer_harness import PacerCluster

from agora_harness import wait_for
from test_ha import ha, launch_spread, resubscribe, running_tasks, slave_tasks  # noqa: F401
from agora_harness import SchedulerClient

SESSION = "--zk_session_timeout=10secs"  # the masters' default, stated explicitly


def elected(ha, m, timeout=0.5):
    try:
        return bool(ha.master_state(m, timeout=timeout).get("elected"))
    except requests.RequestException:
        return False


def wait_liveness(ha, standbys):
    """Every standby's liveness stream to the leader is established."""
    def ok():
        return all("-> ESTABLISHED" in m.log() for m in standbys)
    wait_for(ok, 10, what="standbys' liveness streams established")


def test_leader_kill9_successor_within_a_second(ha):
    ha.start_masters(3, SESSION, "--slave_reregister_timeout=30secs")
    for _ in range(2):
        ha.add_slave("--registration_backoff_factor=500ms")
    ha.wait_slaves(2)
    fw = SchedulerClient(ha.master.url, name="fast", failover_timeout=300)
    fw.subscribe()
    fw_id = fw.framework_id
    tasks = launch_spread(fw, "fast-", 4)
    old = ha.master
    others = [m for m in ha.masters if m is not old]
    wait_liveness(ha, others)

    t0 = time.monotonic()
    old.kill9()
    first = None
    while time.monotonic() - t0 < 15:
        if any(elected(ha, m) for m in others):
            first = time.monotonic() - t0
            break
        time.sleep(0.01)
    assert first is not None, "no successor within 15 s"
    ha.wait_leader(timeout=5, exclude=old)
    fw = resubscribe(ha, fw)
    resub = time.monotonic() - t0
    assert fw.framework_id == fw_id
    print(f"\nkill -9 of the leader (session timeout 10s) -> successor elected in {first:.3f}s, "
          f"framework re-subscribed in {resub:.3f}s")
    assert first < 1.0, first
    assert resub < 2.0, resub
    assert "leader's znode deleted" in "".join(m.log() for m in others)

    def same_tasks():
        mine = {t: s for (f, t), s in running_tasks(ha).items() if f == fw_id}
        return sorted(mine) == sorted(tasks) and all(s == "TASK_RUNNING" for s in mine.values())
    ha.wait_slaves(2, timeout=20)
    wait_for(same_tasks, 20, what="the framework's tasks back under the new leader")
    on_slaves = [t for s in ha.slaves for t in slave_tasks(s) if t.startswith("fast-")]
    assert sorted(on_slaves) == sorted(tasks)
    assert len(ha.leaders()) == 1


def test_frozen_leader_not_replaced_before_session_timeout(ha):
    ha.start_masters(3, SESSION)
    ha.add_slave()
    ha.wait_slaves(1)
    old = ha.master
    others = [m for m in ha.masters if m is not old]
    wait_liveness(ha, others)

    old.signal(signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 5:
            assert not any(elected(ha, m) for m in others), \
                f"a standby took over a frozen leader after {time.monotonic() - t0:.2f}s"
            time.sleep(0.1)
        new = wait_for(lambda: next((m for m in others if elected(ha, m)), None), 20,
                       what="a successor after the session timeout")
        took = time.monotonic() - t0
        print(f"\nSIGSTOP of the leader -> successor after {took:.2f}s (session timeout 10s)")
        assert took >= 5
    finally:
        old.signal(signal.SIGCONT)
    # The old leader learns its session expired and exits, without writing:
    # a registry write of it would have deposed the new leader (CAS).
    rc = old.proc.wait(15)
    assert rc != 0
    assert "stops leading" in old.log()
    time.sleep(1.5)
    assert new.alive() and elected(ha, new, timeout=2)
    assert ha.leaders() == [new]
    ha.master = new
    ha.wait_slaves(1, timeout=20)


def pacer_quorum(c, zk):
    """A master, a slave and 3 Pacer instances on zk with the default
    (10 s) session timeout."""
    from agora_harness import Daemon
    c.start_master("--allocation_interval=100ms")
    c.add_slave()
    c.wait_slaves(1)
    c.pacers = [Daemon("agora-pacer", os.path.join(c.tmp, f"pacer{i}"),
                       [f"--master=127.0.0.1:{c.master.port}", f"--zk={zk}", SESSION,
                        "--decline_offer_duration=5secs"]).start() for i in range(3)]


def test_pacer_leader_kill9_successor_within_a_second(tmp_path, zk_ensemble):
    """The same for Pacer (frameworks/pacer/ha.c), its session timeout 10 s."""
    zk_ensemble.ensure_all_running()
    c = PacerCluster(tmp_path)
    try:
        pacer_quorum(c, zk_ensemble.url("pacer-fast-kill9"))
        dead = c.wait_pacer_leader()
        assert c.post("/v2/apps", {"id": "/calm", "cmd": "sleep 1000", "cpus": 0.05, "mem": 16,
                                   "instances": 2}).status_code == 201
        c.wait_app("/calm", running=2)
        others = [d for d in c.pacers if d is not dead]
        wait_liveness(None, others)

        def elected_pacer(d):
            try:
                return requests.get(d.url + "/v2/info", timeout=0.5).json().get("elected")
            except (requests.RequestException, ValueError):
                return False
        t0 = time.monotonic()
        dead.kill9()
        first = None
        while time.monotonic() - t0 < 15:
            if any(elected_pacer(d) for d in others):
                first = time.monotonic() - t0
                break
            time.sleep(0.01)
        assert first is not None
        c.wait_pacer_leader(exclude=dead, timeout=10)
        took = time.monotonic() - t0
        print(f"\nkill -9 of the Pacer leader (session timeout 10s) -> successor elected in "
              f"{first:.3f}s, subscribed to the master in {took:.3f}s")
        assert first < 1.0, first
        c.wait_app("/calm", running=2)
        assert len(c.get("/v2/apps/calm/tasks").json()["tasks"]) == 2
    except Exception:
        print(c.logs())
        raise
    finally:
        c.shutdown()


def test_pacer_frozen_leader_not_replaced_before_session_timeout(tmp_path, zk_ensemble):
    """SIGSTOP of the Pacer leader: its liveness stream stays open, so no
    standby takes over before the session (10 s) expires; then one does;
    SIGCONT: the old leader learns it was deposed and exits."""
    zk_ensemble.ensure_all_running()
    c = PacerCluster(tmp_path)
    try:
        pacer_quorum(c, zk_ensemble.url("pacer-fast-sigstop"))
        old = c.wait_pacer_leader()
        others = [d for d in c.pacers if d is not old]
        wait_liveness(None, others)
        old_hp = f"127.0.0.1:{old.port}"
        old.signal(signal.SIGSTOP)
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < 5:
                for d in others:
                    assert c.pacer_leader_of(d) == old_hp, \
                        f"a standby took over a frozen leader after {time.monotonic() - t0:.2f}s"
                time.sleep(0.2)
            wait_for(lambda: all(c.pacer_leader_of(d) not in (None, old_hp) for d in others),
                     25, what="a successor after the session timeout")
            assert time.monotonic() - t0 >= 5
        finally:
            old.signal(signal.SIGCONT)
        rc = old.proc.wait(20)
        assert rc != 0
        c.wait_pacer_leader(exclude=old, timeout=20)
    except Exception:
        print(c.logs())
        raise
    finally:
        c.shutdown()
