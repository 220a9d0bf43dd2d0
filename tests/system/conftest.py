"""pytest fixtures shared by the system tests (see agora_harness.py)."""
import os
import re
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora_harness import Cluster  # noqa: E402
from zk_ensemble import zk_ensemble  # noqa: E402,F401  (session fixture)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def run_cluster(request, tmp):
    c = Cluster(tmp)
    yield c
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(c.logs())
    c.shutdown()


@pytest.fixture
def cluster(request, tmp_path):
    """A standalone cluster; call cluster.start_master() and add_slave().
    Every daemon and task it started is stopped at teardown, and the logs
    of a failed test are printed."""
    yield from run_cluster(request, tmp_path)


@pytest.fixture
def shm_cluster(request):
    """The cluster fixture with its work dirs on tmpfs (/dev/shm), removed
    at teardown: a slave fsyncs every checkpoint (a dozen per task), which
    on a busy disk makes thousands of tasks take minutes, for tests of
    something else than the disk."""
    tmp = tempfile.mkdtemp(prefix="agora-test-", dir="/dev/shm")
    try:
        yield from run_cluster(request, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def master_cluster(cluster):
    """The cluster fixture for tests of the master alone (slaves emulated
    by agora_wire.FakeSlave): call master_cluster.start_master(*flags). At
    teardown the master gets SIGTERM, so that a sanitizer build reports
    leaks at exit, and its logs (every run) must hold no sanitizer report."""
    yield cluster
    m = cluster.master
    if m is not None:
        m.stop()
        report = m.sanitizer_report()
        assert not report, report + "\n" + m.log()


@pytest.fixture
def master(master_cluster):
    """A running master alone, with 1 s heartbeats (see master_cluster)."""
    return master_cluster.start_master("--heartbeat_interval=1secs")


@pytest.fixture
def pacer_cluster(request, tmp_path):
    """A master, slaves and an agora-pacer: call start_master(),
    add_slave() and start_pacer(). Stopped at teardown; logs of a failed
    test printed."""
    from pacer_harness import PacerCluster
    c = PacerCluster(tmp_path)
    yield c
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(c.logs())
    c.shutdown()
    # Pacer got SIGTERM: a sanitizer build has reported leaks by now.
    if c.pacer is not None:
        report = c.pacer.sanitizer_report()
        assert not report, report


@pytest.fixture(scope="session")
def docker_env():
    """A Docker engine that answers (dockerd started when none does) with
    the busybox test image imported; stopped at the end of the session if
    this session started it."""
    from docker_env import DockerEnv
    try:
        env = DockerEnv().start()
    except RuntimeError as e:
        pytest.fail(str(e))
    yield env
    env.remove_labelled(env.label)
    env.stop()


def start_pacer_cluster(c, slaves):
    c.start_master("--allocation_interval=100ms")
    for _ in range(slaves):
        c.add_slave()
    c.wait_slaves(slaves)
    c.start_pacer()
    return c


@pytest.fixture
def pc(pacer_cluster):
    """The usual Pacer set-up: a master allocating every 100 ms, two slaves
    (slave0, slave1; distinct port ranges) and a subscribed Pacer."""
    return start_pacer_cluster(pacer_cluster, 2)


@pytest.fixture
def pc3(pacer_cluster):
    """The same with three slaves (slave0..slave2)."""
    return start_pacer_cluster(pacer_cluster, 3)


@pytest.fixture
def pq(request, tmp_path, zk_ensemble):
    """Three Pacers in a quorum on the real ZooKeeper ensemble (chroot per
    test), a master allocating every 100 ms and two slaves."""
    zk_ensemble.ensure_all_running()
    chroot = "pacer-" + re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)
    from pacer_harness import PacerCluster
    c = PacerCluster(tmp_path)
    c.zk = zk_ensemble.url(chroot)
    c.start_master("--allocation_interval=100ms")
    c.add_slave()
    c.add_slave()
    c.wait_slaves(2)
    c.start_pacers(3, c.zk, master=f"127.0.0.1:{c.master.port}")
    yield c
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(c.logs())
    c.shutdown()
