"""Smoke run of agora-bench (tests/bench) at small sizes, so that the
benchmark cannot rot: a real master, 20 emulated slaves, 2 emulated
frameworks, 200 tasks; the failover scenario (two masters on the session's
ZooKeeper ensemble, 20 slaves, 50 tasks, the leader killed); and the
in-process allocator benchmark. The figures
themselves are not judged here (the machine is shared), only that the JSON
line parses, every task ran and finished, and the numbers are sane."""
import json
import os
import subprocess

import pytest

from agora_harness import BIN, HACluster

KEYS = ["slaves", "frameworks", "tasks", "register_s", "launch_tasks_per_s",
        "offer_latency_ms", "allocation_cycle_ms", "master_rss_mb", "master_cpu_s",
        "failover_reregister_s"]


def run_bench(*args, timeout=60):
    p = subprocess.run([os.path.join(BIN, "agora-bench")] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"agora-bench failed ({p.returncode}):\n{p.stderr}"
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one JSON line, got:\n{p.stdout}"
    return json.loads(lines[0])


@pytest.mark.parametrize("batch", ["5ms", "0secs"])
def test_bench_smoke(cluster, batch):
    """--allocation_batch: the default window, and passes at the end of the
    loop turn (issue 14)."""
    m = cluster.start_master(f"--allocation_batch={batch}")
    flags = __import__("requests").get(m.url + "/master/state", timeout=5).json()["flags"]
    assert flags["allocation_batch"] == ("0.005secs" if batch == "5ms" else "0secs")
    fig = run_bench(f"--master=127.0.0.1:{m.port}", "--slaves=20", "--frameworks=2",
                    "--tasks=200", "--task_duration=10ms", "--procs=2", "--timeout=40s",
                    f"--master_pid={m.proc.pid}")
    for k in KEYS:
        assert k in fig, f"missing key {k}: {fig}"
    assert fig["slaves"] == 20
    assert fig["frameworks"] == 2
    assert fig["tasks"] == 200
    assert fig["tasks_finished"] == 200 and fig["tasks_failed"] == 0
    assert fig["timed_out"] is False
    assert 0 < fig["register_s"] < 30
    assert fig["launch_tasks_per_s"] > 0
    for k in ("p50", "p99"):
        assert fig["allocation_cycle_ms"][k] is not None and fig["allocation_cycle_ms"][k] >= 0
    assert fig["allocation_cycle_ms"]["p50"] <= fig["allocation_cycle_ms"]["p99"]
    assert 0 < fig["master_rss_mb"] < 2048
    assert fig["master_cpu_s"] >= 0
    assert fig["failover_reregister_s"] is None
    assert fig["call_errors"] == 0 and fig["slave_streams_lost"] == 0
    # The master saw every task through.
    metrics = __import__("requests").get(m.url + "/metrics", timeout=5).text
    assert "agora_master_tasks_launched_total 200" in metrics


def test_bench_failover_smoke(tmp_path, zk_ensemble):
    zk_ensemble.ensure_all_running()
    c = HACluster(tmp_path, zk_ensemble.url("agora-bench-failover-smoke"))
    try:
        c.start_masters(2)
        fig = run_bench(f"--master={c.zk_url}", "--failover", "--slaves=20", "--frameworks=2",
                        "--tasks=50", "--task_duration=60mins", "--procs=2",
                        "--kill_leader_after=200ms", "--timeout=40s")
        for k in KEYS:
            assert k in fig, f"missing key {k}: {fig}"
        assert fig["slaves"] == 20 and fig["tasks"] == 50 and fig["timed_out"] is False
        # The bench killed the leader; the other master leads now.
        assert sum(m.alive() for m in c.masters) == 1
        assert 0 < fig["failover_election_s"] < 15
        assert 0 < fig["failover_reregister_s"] < 15
        assert fig["failover_slaves_reregistered"] == 20
        # The new leader's own view: every slave and task came back.
        assert fig["failover_leader_slaves_active"] == 20
        assert fig["failover_leader_tasks_running"] == 50
    finally:
        c.shutdown()


def test_bench_allocator_only_smoke():
    fig = run_bench("--allocator_only", "--slaves=500", "--frameworks=20", "--rounds=3")
    assert fig["slaves"] == 500 and fig["frameworks"] == 20
    assert fig["offers_first_pass"] == 500
    p50, p99 = fig["allocation_cycle_ms"]["p50"], fig["allocation_cycle_ms"]["p99"]
    assert 0 < p50 <= p99 < 5000


PACER_FIGURES = ["commit", "pacer_rss_idle_mb", "deploy_small_s", "deploy_s", "sse_deploy_s",
                 "sse_slowdown_ratio", "sse_pacer_cpu_s", "deploy_large_s", "pacer_rss_large_mb",
                 "get_apps_embed_tasks_ms", "get_apps_ms", "get_tasks_ms", "pacer_rss_end_mb"]


def run_bench_script(name, *args, timeout):
    """tests/bench/<name> on this build; its one JSON line, parsed."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", name)
    p = subprocess.run(["/usr/bin/python3", script, f"--build={os.path.dirname(BIN)}", *args],
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{name} failed ({p.returncode}):\n{p.stderr}"
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one JSON line, got:\n{p.stdout}"
    return json.loads(lines[0])


def test_pacer_bench_smoke():
    """tests/bench/pacer_bench.py (issue 9) at tiny sizes: its own master,
    agora-bench --frameworks=0 --hold slaves and agora-pacer; every figure
    is in the JSON line and the slaves saw every launch."""
    fig = run_bench_script("pacer_bench.py", "--small=20", "--instances=20", "--large=20",
                           "--slaves=5", "--subscribers=3", "--rounds=1", "--requests=3",
                           "--idle_wait=0.5", "--deploy_timeout=20", timeout=60)
    for k in PACER_FIGURES:
        assert fig.get(k) is not None, f"missing figure {k}: {fig}"
    assert 0 < fig["pacer_rss_idle_mb"] < 1024 and 0 < fig["pacer_rss_large_mb"] < 1024
    for k in ("deploy_small_s", "deploy_s", "sse_deploy_s"):
        assert len(fig[k]["runs"]) == 1 and 0 < fig[k]["median"] < 20
    assert fig["sse_slowdown_ratio"] > 0
    for k in ("get_apps_embed_tasks_ms", "get_apps_ms", "get_tasks_ms"):
        assert fig[k]["n"] == 3 and 0 < fig[k]["median"] < 5000 and fig[k]["bytes"] > 0
    assert fig["sse_subscriber_bytes_min"] > 0 and fig["sse_subscribers_closed_early"] == 0
    # 20 small + 2 x 20 (A and B) + 20 large instances reached the emulated slaves.
    assert fig["slave_run_tasks"] == 80
    assert fig["slave_call_errors"] == 0 and fig["slave_streams_lost"] == 0


def test_pacer_failover_bench_smoke():
    """tests/bench/pacer_failover.py (issue 10) at tiny sizes: its own
    ensemble, master, emulated slaves and 3 Pacers; the leader is killed
    with -9 and a survivor serves every instance well inside the 10 s
    session timeout, with nothing killed and the same framework id."""
    fig = run_bench_script("pacer_failover.py", "--apps=10", "--instances=2", "--slaves=5",
                           "--deploy_timeout=30", "--failover_timeout=20", timeout=120)
    assert 0 < fig["elected_s"] <= fig["serving_s"] < 5, fig
    assert fig["tasks_killed"] == 0 and fig["tasks_running_after"] == 20, fig
    assert fig["same_framework_id"] and fig["apps_versions_intact"], fig


def test_pacer_lb_bench_smoke():
    """tests/bench/pacer_lb_bench.py (issue 11) --small: Pacer on emulated
    slaves, pacer-lb and its HAProxy, real listeners on the task ports.
    Every scale-up was routed and every killed instance taken out, by
    HAProxy's runtime API alone (no reload), with master + one worker."""
    fig = run_bench_script("pacer_lb_bench.py", "--small", timeout=120)
    assert fig["up_ms"]["n"] == 4 and fig["down_ms"]["n"] == 4, fig
    assert 0 < fig["up_ms"]["p50"] < 20000 and 0 <= fig["down_ms"]["p50"] < 20000, fig
    assert fig["reloads"] == 0 and fig["runtime_failures"] == 0, fig
    assert fig["runtime_updates"] > 0 and fig["changes"] == 10, fig
    assert fig["haproxy_procs"] == 2, fig
    assert fig["probe_errors"] == 0, fig
    assert 0 < fig["full_config"]["rss_mb"] < 256, fig
