"""System tests of `agora`, the command line: a real master, real slaves and
a real agora-pacer (the pc fixture), the CLI run as a subprocess with
--master and --pacer (or AGORA_MASTER / AGORA_PACER) pointing at them."""
import fcntl
import json
import os
import pty
import queue
import re
import select
import struct
import subprocess
import termios
import threading
import time

import pytest

from agora_harness import binary, wait_for
from test_pacer_deploy import http_app
from test_auth import SECRETS, creds  # noqa: F401  (creds: a fixture)
from test_ha import ha  # noqa: F401  (fixture: masters elected through ZooKeeper)
from test_tls import pki, tls_flags  # noqa: F401  (pki: a fixture)
from test_slave import unused_port

TICK_CMD = "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done"


@pytest.fixture
def cpc(pacer_cluster):
    """A master, two slaves and Pacer, as the pc fixture, but with the
    slaves' task ports below Linux's ephemeral range (32768-60999): a
    task's port there can be taken by some client's outgoing connection
    (the python servers then fail with EADDRINUSE, and a health check can
    reach the wrong socket)."""
    c = pacer_cluster
    c.start_master("--allocation_interval=100ms")
    for i in range(2):
        lo = 21000 + 1000 * i
        c.add_slave(resources=f"cpus:4;mem:4096;disk:10000;ports:[{lo}-{lo + 999}]")
    c.wait_slaves(2)
    c.start_pacer()
    return c


def cli_env(pc=None, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")
           or k == "AGORA_BUILD_DIR"}
    env.pop("COLUMNS", None)
    if pc is not None:
        env["AGORA_MASTER"] = f"127.0.0.1:{pc.master.port}"
        env["AGORA_PACER"] = pc.url
    env.update(extra)
    return env


def agora(pc, *args, timeout=60, env=None, **extra):
    """Run the CLI to its end (bounded by timeout); CompletedProcess."""
    return subprocess.run([binary("agora")] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=env or cli_env(pc, **extra),
                          stdin=subprocess.DEVNULL)


def agora_json(pc, *args):
    r = agora(pc, "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def write_app(tmp_path, app):
    path = tmp_path / (app["id"].strip("/").replace("/", "_") + ".json")
    path.write_text(json.dumps(app))
    return str(path)


def test_deploy_wait_exits_0_once_healthy(cpc, tmp_path):
    pc = cpc
    f = write_app(tmp_path, http_app("/web", 2))
    t0 = time.monotonic()
    r = agora(pc, "app", "deploy", f, "--wait", "--timeout=90secs", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    # At the moment it exits the app is healthy, not merely accepted.
    app = pc.app("/web")
    assert app["tasksHealthy"] == 2 and app["instances"] == 2, (app["tasks"], r.stdout, r.stderr)
    assert re.search(r"deployment \S+ succeeded: /web: 2/2 healthy", r.stdout), r.stdout
    # The progress line was shown while it converged (stderr, one line per change).
    assert "/web: 0/2 healthy" in r.stderr or "/web: 1/2 healthy" in r.stderr, r.stderr
    assert re.search(r"step \d/\d (Start|Scale)Application", r.stderr), r.stderr
    assert time.monotonic() - t0 < 90

    def change(*args, healthy, instances=None):
        r = agora(pc, "app", *args, "--wait", "--timeout=90secs", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        a = pc.app("/web")
        assert a["tasksHealthy"] == healthy and a["instances"] == (instances or healthy), \
            (args, a["tasks"], r.stdout, r.stderr)
        return a

    # scale, restart, rollback, destroy: each --wait ends with the goal reached.
    change("scale", "/web", "3", healthy=3)
    before = {t["id"] for t in pc.app("/web")["tasks"]}
    after = {t["id"] for t in change("restart", "web", healthy=3)["tasks"]}
    assert not (before & after), (before, after)
    change("rollback", "/web", healthy=3)    # the version before the restart
    change("scale", "/web", "1", healthy=1)
    change("rollback", "/web", healthy=3)    # back to 3 instances
    r = agora(pc, "app", "destroy", "/web", "--wait", "--timeout=60secs", timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    assert pc.get("/v2/apps/web").status_code == 404
    assert pc.get("/v2/deployments").json() == []


def test_deploy_wait_unplaceable_app_fails_naming_the_reason(cpc, tmp_path):
    pc = cpc
    f = write_app(tmp_path, {"id": "/huge", "cmd": "sleep 1000", "cpus": 1000, "mem": 32,
                             "instances": 1})
    t0 = time.monotonic()
    r = agora(pc, "app", "deploy", f, "--wait", "--timeout=6secs", timeout=60)
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stdout + r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("agora: "), r.stderr
    assert "timed out after 6s" in last and "/huge cannot be placed" in last, last
    assert "InsufficientCpus" in last, last
    assert 6 <= took < 30, took
    # The app is still there (only waiting); show names the same reason.
    r = agora(pc, "app", "show", "/huge")
    assert r.returncode == 0, r.stderr
    assert "not placed: InsufficientCpus" in r.stdout, r.stdout

    # A deployment that is cancelled under a waiting CLI: exit 1, saying so.
    f = write_app(tmp_path, {"id": "/huge2", "cmd": "sleep 1000", "cpus": 1000, "mem": 32,
                             "instances": 1})
    waiting = subprocess.Popen([binary("agora"), "app", "deploy", f, "--wait",
                                "--timeout=120secs"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=cli_env(pc),
                               stdin=subprocess.DEVNULL)
    try:
        # The app exists once the CLI's POST is in (it subscribed before it).
        wait_for(lambda: pc.get("/v2/apps/huge2").status_code == 200, 20, what="/huge2 posted")
        r = agora(pc, "app", "destroy", "/huge2", "--force", "--wait", "--timeout=30secs")
        assert r.returncode == 0, r.stdout + r.stderr
        out, err = waiting.communicate(timeout=20)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait(10)
    assert waiting.returncode == 1, out + err
    assert "of /huge2 failed: it was cancelled or replaced" in err.strip().splitlines()[-1], err


def test_logs_follow_prints_new_lines_as_written(cpc):
    pc = cpc
    r = pc.post("/v2/apps", {"id": "/ticker", "cmd": TICK_CMD, "cpus": 0.05, "mem": 16,
                             "instances": 1})
    assert r.status_code == 201, r.text
    pc.wait_app("/ticker", running=1)
    task = pc.get("/v2/apps/ticker/tasks").json()["tasks"][0]["id"]
    wait_for(lambda: "tick-3" in agora(pc, "logs", task).stdout, 20, what="first ticks")

    proc = subprocess.Popen([binary("agora"), "logs", task, "-f"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env(pc),
                            stdin=subprocess.DEVNULL)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put((time.monotonic(), ln)) for ln in proc.stdout],
                     daemon=True).start()
    try:
        got = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(got) < 40:
            try:
                got.append(lines.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                break
        assert proc.poll() is None, proc.stderr.read()
        nums = [int(m.group(1)) for _, ln in got for m in [re.match(r"tick-(\d+)$", ln.strip())]
                if m]
        assert len(nums) == len(got) >= 40, got
        # From the first line on, in order, nothing lost or doubled.
        assert nums == list(range(nums[0], nums[0] + len(nums))), nums
        assert nums[0] == 0
        # The later ones came as they were written (about 0.2 s apart), not in one read.
        live = [t for t, ln in got[-15:]]
        assert live[-1] - live[0] > 1.5, live
    finally:
        proc.terminate()
        proc.wait(10)

    # stderr of the task (empty) and an unknown task
    r = agora(pc, "logs", task, "--stderr")
    assert r.returncode == 0 and r.stdout == "", r
    r = agora(pc, "logs", "no-such-task")
    assert r.returncode == 1 and "no-such-task" in r.stderr and "no such task" in r.stderr


def run_in_pty(args, env, cols, timeout=60):
    """Run the CLI with stdout and stderr on a terminal cols wide; its
    exit status and everything it wrote (the terminal's CRLFs as LF)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
    proc = subprocess.Popen([binary("agora")] + args, stdout=slave, stderr=slave,
                            stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], max(0, deadline - time.monotonic()))
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                break
            if not chunk:
                break
            out += chunk
        proc.wait(max(1, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)
    return proc.returncode, out.decode(errors="replace").replace("\r\n", "\n")


def test_terminal_width_and_progress_redrawn_in_place(cpc, tmp_path):
    pc = cpc
    f = write_app(tmp_path, http_app("/tty", 2))
    env = cli_env(pc, COLUMNS="300")  # the terminal's own width wins over $COLUMNS
    rc, out = run_in_pty(["app", "deploy", f, "--wait", "--timeout=90secs"], env, 100, 120)
    assert rc == 0, out
    # One progress line, redrawn with CR + erase-line, then the result.
    assert "\r\x1b[K/tty: " in out, repr(out)
    assert re.search(r"\n?deployment \S+ succeeded: /tty: 2/2 healthy", out), repr(out)
    rc, out = run_in_pty(["tasks"], env, 70)
    assert rc == 0, out
    rows = out.rstrip("\n").split("\n")
    assert len(rows) == 3 and all(len(ln) <= 70 for ln in rows), rows
    assert any(len(ln) > 60 for ln in rows), rows  # and uses the width it has
    assert all("TASK_RUNNING" in ln for ln in rows[1:]), rows


def test_json_outputs_parse_and_tables_fit(cpc):
    pc = cpc
    r = pc.post("/v2/apps", {"id": "/sleepy", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32,
                             "instances": 2})
    assert r.status_code == 201, r.text
    pc.wait_app("/sleepy", running=2)

    cluster = agora_json(pc, "cluster")
    assert cluster["slaves"]["active"] == 2
    assert cluster["frameworks"]["active"] == 1
    assert cluster["tasks"]["TASK_RUNNING"] == 2
    assert cluster["resources"]["cpus"]["total"] == 8
    assert abs(cluster["resources"]["cpus"]["used"] - 0.2) < 1e-6
    assert cluster["leader"].endswith(f":{pc.master.port}")
    assert cluster["masters"] == [{"address": f"127.0.0.1:{pc.master.port}", "role": "leader"}]

    slaves = agora_json(pc, "slaves")
    assert sorted(s["hostname"] for s in slaves) == ["slave0", "slave1"]
    fws = agora_json(pc, "frameworks")
    assert [f["name"] for f in fws] == ["pacer"] or len(fws) == 1
    tasks = agora_json(pc, "tasks")
    assert len(tasks) == 2 and {t["state"] for t in tasks} == {"TASK_RUNNING"}
    assert agora_json(pc, "tasks", "--state=running") == tasks
    assert agora_json(pc, "tasks", "--state=finished") == []
    assert len(agora_json(pc, "tasks", f"--framework={fws[0]['id']}")) == 2
    apps = agora_json(pc, "app", "list")
    assert [a["id"] for a in apps["apps"]] == ["/sleepy"]
    assert agora_json(pc, "app", "show", "sleepy")["app"]["tasksRunning"] == 2

    # Tables: one row per object, sized to $COLUMNS when not a terminal.
    for width in (60, 200):
        r = agora(pc, "tasks", COLUMNS=str(width))
        assert r.returncode == 0, r.stderr
        rows = r.stdout.rstrip("\n").split("\n")
        assert rows[0].split()[0] == "ID" and "STATE" in rows[0].split(), rows
        assert len(rows) == 3 and all(len(ln) <= width for ln in rows), rows
        assert all("TASK_RUNNING" in ln for ln in rows[1:]), rows
    r = agora(pc, "tasks", COLUMNS="200")
    assert {t["id"] for t in tasks} <= set(r.stdout.split())  # not cut when it fits
    r = agora(pc, "slaves")
    assert r.returncode == 0 and "slave0" in r.stdout and "slave1" in r.stdout, r
    r = agora(pc, "cluster")
    assert r.returncode == 0 and "2 active" in r.stdout and "2 running" in r.stdout, r.stdout
    r = agora(pc, "app", "list")
    assert r.returncode == 0 and "/sleepy" in r.stdout and "2/2" in r.stdout, r.stdout


def test_errors_name_the_problem(cpc, tmp_path):
    pc = cpc
    port = unused_port()
    r = agora(None, "cluster", f"--master=127.0.0.1:{port}", env=cli_env())
    assert r.returncode == 1
    assert r.stderr.strip() == \
        f"agora: cannot reach the master at 127.0.0.1:{port}: connection refused", r.stderr
    r = agora(None, "tasks", "--master=not a master", env=cli_env())
    assert r.returncode == 1 and "--master=not a master" in r.stderr, r.stderr
    # Something that is not a master (Pacer answers /master/state with 404).
    r = agora(None, "slaves", f"--master={pc.url}", env=cli_env())
    assert r.returncode == 1 and "404" in r.stderr and "/master/state" in r.stderr, r.stderr
    r = agora(pc, "app", "list", f"--pacer=http://127.0.0.1:{port}")
    assert r.returncode == 1
    assert f"cannot reach Pacer at 127.0.0.1:{port} (GET /v2/apps): connection refused" \
        in r.stderr, r.stderr
    # The API's 4xx message with the offending field.
    f = write_app(tmp_path, {"id": "/bad", "cmd": "sleep 1", "cpus": -1, "instances": 1})
    r = agora(pc, "app", "deploy", f, "--wait")
    assert r.returncode == 1, r
    assert "Pacer refused POST /v2/apps: 422" in r.stderr and "cpus" in r.stderr, r.stderr
    r = agora(pc, "app", "show", "/nope")
    assert r.returncode == 1 and "404" in r.stderr and "/nope" in r.stderr, r.stderr
    # Usage errors: exit 2, naming the word.
    r = agora(pc, "tasks", "--state=sleepy")
    assert r.returncode == 2 and "--state=sleepy" in r.stderr, r.stderr
    r = agora(pc, "app", "scale", "/x", "many")
    assert r.returncode == 2 and "'many'" in r.stderr, r.stderr
    r = agora(pc, "frobnicate")
    assert r.returncode == 2 and "frobnicate" in r.stderr, r.stderr
    r = agora(pc, "app", "deploy", str(tmp_path / "missing.json"))
    assert r.returncode == 1 and "missing.json" in r.stderr, r.stderr


def test_master_from_zookeeper_or_a_standby(ha):
    ha.start_masters(2)
    ha.add_slave()
    ha.wait_slaves(1)
    leader = ha.master
    standby = [m for m in ha.masters if m is not leader][0]
    env = cli_env()
    for master in (ha.zk_url, f"127.0.0.1:{standby.port}",
                   f"127.0.0.1:{unused_port()},127.0.0.1:{standby.port}"):
        r = agora(None, "--json", "cluster", f"--master={master}", env=env)
        assert r.returncode == 0 and r.stderr == "", (master, r.stderr)
        summary = json.loads(r.stdout)
        assert summary["leader"] == f"master@127.0.0.1:{leader.port}", (master, summary)
        assert summary["master"] == f"127.0.0.1:{leader.port}", summary
        assert summary["slaves"]["active"] == 1, summary
        assert summary["zk"] == master.startswith("zk://")
        roles = {m["address"]: m["role"] for m in summary["masters"]}
        want = {f"127.0.0.1:{leader.port}": "leader", f"127.0.0.1:{standby.port}": "standby"}
        if master.startswith("zk://"):
            assert roles == want, summary["masters"]  # every contender, from ZooKeeper
        else:
            assert {a: r for a, r in roles.items() if r != "unreachable"} == \
                {a: r for a, r in want.items() if a in master}, summary["masters"]
    r = agora(None, "cluster", f"--master={ha.zk_url}", env=env)
    assert r.returncode == 0 and f"through {ha.zk_url}" in r.stdout, r.stdout
    assert f"127.0.0.1:{leader.port} leader, 127.0.0.1:{standby.port} standby" in r.stdout, \
        r.stdout
    # No master in that ZooKeeper path: said so, within the CLI's wait.
    empty = ha.zk_url.rsplit("/", 1)[0] + "/nobody-here"
    t0 = time.monotonic()
    r = agora(None, "slaves", f"--master={empty}", env=env, timeout=60)
    assert r.returncode == 1 and "no leading master" in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr  # one line, no client library noise
    assert time.monotonic() - t0 < 30


def test_credentials_and_tls(cluster, creds, pki, tmp_path):
    """--principal/--secret_file and --ssl_ca against a master that wants
    both: the right ones work; no credentials, the wrong CA or plain HTTP
    fail saying why; the secret never shows."""
    m = cluster.start_master(f"--credentials={creds}", "--authenticate_http_readonly",
                             *tls_flags(pki))
    env = cli_env(None, AGORA_MASTER=f"127.0.0.1:{m.port}")
    secret = tmp_path / "secret"
    secret.write_text(SECRETS["admin"] + "\n")
    good = ["--principal=admin", f"--secret_file={secret}", f"--ssl_ca={pki['ca']}"]
    r = agora(None, "--json", "cluster", *good, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)
    runs = [agora(None, "cluster", f"--ssl_ca={pki['ca']}", env=env),
            agora(None, "cluster", *good[:2], f"--ssl_ca={pki['other_ca']}", env=env),
            agora(None, "cluster", *good[:2], env=env),
            agora(None, "cluster", "--principal=admin", env=env)]
    for r in runs:
        assert r.returncode != 0 and r.stderr.strip(), (r.returncode, r.stdout, r.stderr)
        assert SECRETS["admin"] not in r.stdout + r.stderr
    assert "401" in runs[0].stderr or "nauthorized" in runs[0].stderr, runs[0].stderr
    assert "--secret_file" in runs[3].stderr, runs[3].stderr
