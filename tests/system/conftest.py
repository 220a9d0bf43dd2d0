"""pytest fixtures shared by the system tests (see agora_harness.py)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora_harness import Cluster  # noqa: E402


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def cluster(request, tmp_path):
    """A standalone cluster; call cluster.start_master() and add_slave().
    Every daemon and task it started is stopped at teardown, and the logs
    of a failed test are printed."""
    c = Cluster(tmp_path)
    yield c
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(c.logs())
    c.shutdown()
