"""The slave's HTTP authentication and authorization (issue 13, items 2
and 3, as a Mesos agent has them): --http_credentials with
--authenticate_http_readonly on /state, /files, /metrics and /api/v1
(/health open), --acls access_sandboxes on /files and view_frameworks /
view_tasks on /state; and the clients that read slaves passing
credentials: the master's UI relay (the browser's credentials go along)
and `agora logs` (--principal / --secret_file)."""
import json
import os
import subprocess

import requests

from agora_harness import SchedulerClient, binary, sandbox_of, task_info, wait_for
from test_cli import agora, cli_env
from test_host_security import open_cluster  # noqa: F401  (fixture: work dirs nobody can enter)

SECRETS = {"ops": "0ps-s3cret", "alice": "al1ce-s3cret"}
OPS = ("ops", SECRETS["ops"])
ALICE = ("alice", SECRETS["alice"])
REALM = 'Basic realm="agora-slave"'


def write_creds(dir_):
    path = os.path.join(str(dir_), "http_credentials.json")
    with open(path, "w") as f:
        json.dump({"credentials": [{"principal": p, "secret": s} for p, s in SECRETS.items()]}, f)
    return path


def run_tasks(cluster, slave_args, tasks, running=()):
    """A master, one slave with slave_args, and tasks {id: (cmd, user)}
    launched on it and run to TASK_FINISHED (those in running: to
    TASK_RUNNING): the slave."""
    m = cluster.start_master("--allocation_interval=100ms")
    slave = cluster.add_slave(*slave_args)
    cluster.wait_slaves(1)
    sched = SchedulerClient(m.url, name="slave-auth")
    sched.subscribe()
    offer = sched.next_offers()[0]
    infos = []
    for tid, (cmd, user) in tasks.items():
        t = task_info(tid, offer["agent_id"], cmd)
        if user:
            t["command"]["user"] = user
        infos.append(t)
    sched.launch(offer, infos)
    got = sched.wait_updates({tid: ["TASK_RUNNING" if tid in running else "TASK_FINISHED",
                                    "TASK_FAILED", "TASK_ERROR"] for tid in tasks}, timeout=20)
    for tid, st in got.items():
        assert st["state"] == ("TASK_RUNNING" if tid in running else "TASK_FINISHED"), (tid, st)
    return slave


def assert_clean(cluster):
    """Stop the daemons (SIGTERM: a sanitizer build reports leaks then)
    and check their logs hold no sanitizer report (tests/run.sh --sanitize)."""
    for d in cluster.daemons():
        d.stop()
        assert not d.sanitizer_report(), d.sanitizer_report()


def read(slave, path, auth=None):
    return requests.get(slave.url + "/files/read", params={"path": path, "offset": 0},
                        auth=auth, timeout=5)


def test_slave_endpoints_need_credentials(cluster, tmp_path):
    creds = write_creds(tmp_path)
    slave = run_tasks(cluster, [f"--http_credentials={creds}", "--authenticate_http_readonly"],
                      {"hello": ("echo hello from an authenticated slave", None)})
    stdout = os.path.join(sandbox_of(slave, "hello", auth=OPS), "stdout")
    gets = [("/state", None), ("/state.json", None), ("/metrics", None),
            ("/files/read", {"path": stdout, "offset": 0}), ("/files/download", {"path": stdout}),
            ("/files/browse", {"path": os.path.dirname(stdout)})]
    for path, params in gets:
        none = requests.get(slave.url + path, params=params, timeout=5)
        wrong_secret = requests.get(slave.url + path, params=params, auth=("ops", "nope"),
                                    timeout=5)
        wrong_name = requests.get(slave.url + path, params=params,
                                  auth=("nobody", SECRETS["ops"]), timeout=5)
        for r in (none, wrong_secret, wrong_name):
            assert r.status_code == 401, (path, r.status_code, r.text)
            assert r.headers["WWW-Authenticate"] == REALM, path
        # Never a hint which half was wrong.
        assert none.text == wrong_secret.text == wrong_name.text, path
        r = requests.get(slave.url + path, params=params, auth=OPS, timeout=5)
        assert r.status_code == 200, (path, r.status_code, r.text)
    assert read(slave, stdout, auth=OPS).json()["data"] == "hello from an authenticated slave\n"
    r = requests.get(slave.url + "/files/download", params={"path": stdout}, auth=OPS, timeout=5)
    assert r.content == b"hello from an authenticated slave\n"
    assert r.headers["Content-Disposition"] == 'attachment; filename="stdout"', r.headers
    for call in ("GET_STATE", "GET_CONTAINERS", "GET_HEALTH"):
        r = requests.post(slave.url + "/api/v1", json={"type": call}, timeout=5)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == REALM, call
        r = requests.post(slave.url + "/api/v1", json={"type": call}, auth=OPS, timeout=5)
        assert r.status_code == 200, (call, r.text)
    # /health stays open, as a Mesos agent's (load balancers probe it).
    assert requests.get(slave.url + "/health", timeout=5).status_code == 200

    # The master's UI relay: the browser's credentials go to the slave,
    # and the slave's challenge comes back (the browser then asks for them).
    m = cluster.master
    sid = cluster.state()["slaves"][0]["id"]
    for path in ("state", "files/read"):
        url = f"{m.url}/agents/{sid}/{path}"
        params = {"path": stdout, "offset": 0} if path != "state" else None
        r = requests.get(url, params=params, timeout=5)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == REALM, (path, r.text)
        assert requests.get(url, params=params, auth=("ops", "nope"), timeout=5).status_code == 401
        r = requests.get(url, params=params, auth=OPS, timeout=5)
        assert r.status_code == 200, (path, r.status_code, r.text)
    assert "hello from an authenticated slave" in r.json()["data"]

    # agora logs: refused without credentials (saying what it wants), works with them.
    env = cli_env(None, AGORA_MASTER=f"127.0.0.1:{m.port}")
    r = agora(None, "logs", "hello", env=env)
    assert r.returncode == 1 and "401" in r.stderr and "--principal" in r.stderr, r.stderr
    secret = tmp_path / "secret"
    secret.write_text(SECRETS["ops"] + "\n")
    r = agora(None, "logs", "hello", "--principal=ops", f"--secret_file={secret}", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello from an authenticated slave\n"
    secret.write_text("wrong\n")
    r = agora(None, "logs", "hello", "--principal=ops", f"--secret_file={secret}", env=env)
    assert r.returncode == 1 and "401" in r.stderr, r.stderr

    log = cluster.logs()
    for s in SECRETS.values():
        assert s not in log, "a secret was logged"
    assert_clean(cluster)


def test_acls_access_sandboxes_and_view_tasks(open_cluster, tmp_path):
    """alice may read and see only the sandboxes of tasks run as nobody;
    ops all of them; anyone else none (permissive: false)."""
    creds = write_creds(tmp_path)
    acls = {"permissive": False,
            "access_sandboxes": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
                                 {"principals": {"values": ["alice"]},
                                  "users": {"values": ["nobody"]}}],
            "view_frameworks": [{"principals": {"type": "ANY"}, "users": {"type": "ANY"}}],
            "view_tasks": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}},
                           {"principals": {"values": ["alice"]},
                            "users": {"values": ["nobody"]}}],
            "view_containers": [{"principals": {"values": ["ops"]}, "users": {"type": "ANY"}}]}
    slave = run_tasks(open_cluster, [f"--http_credentials={creds}", "--authenticate_http_readonly",
                                     f"--acls={json.dumps(acls)}"],
                      {"as-root": ("echo root was here", None),
                       "as-nobody": ("echo nobody was here; id -un", "nobody"),
                       "sleeper": ("sleep 60", "nobody")}, running=("sleeper",))
    root_out = os.path.join(sandbox_of(slave, "as-root", auth=OPS), "stdout")
    nobody_out = os.path.join(sandbox_of(slave, "as-nobody", auth=OPS), "stdout")

    r = read(slave, nobody_out, auth=ALICE)
    assert r.status_code == 200, r.text
    assert r.json()["data"] == "nobody was here\nnobody\n"
    for path in (root_out, os.path.dirname(root_out)):
        r = read(slave, path, auth=ALICE)
        assert r.status_code == 403, (path, r.status_code, r.text)
        assert "access_sandboxes" in r.json()["message"]
    for ep, path in (("/files/browse", os.path.dirname(root_out)), ("/files/download", root_out)):
        r = requests.get(slave.url + ep, params={"path": path}, auth=ALICE, timeout=5)
        assert r.status_code == 403, (ep, r.status_code, r.text)
    r = requests.get(slave.url + "/files/download", params={"path": nobody_out}, auth=ALICE,
                     timeout=5)
    assert r.status_code == 200 and r.content == b"nobody was here\nnobody\n"
    # A path above the sandboxes lists every task's: only for who may read all.
    sid = open_cluster.state()["slaves"][0]["id"]
    top = os.path.join(slave.work_dir, "slaves", sid, "frameworks")
    for auth, code in ((ALICE, 403), (OPS, 200)):
        r = requests.get(slave.url + "/files/browse", params={"path": top}, auth=auth, timeout=5)
        assert r.status_code == code, (auth[0], r.status_code, r.text)
    assert read(slave, root_out, auth=OPS).json()["data"] == "root was here\n"
    assert read(slave, nobody_out, auth=OPS).status_code == 200

    def executors(auth):
        st = requests.get(slave.url + "/state", auth=auth, timeout=5).json()
        return sorted(ex["id"] for fw in st["frameworks"] + st["completed_frameworks"]
                      for ex in fw["executors"] + fw["completed_executors"])
    assert executors(OPS) == ["as-nobody", "as-root", "sleeper"]
    assert executors(ALICE) == ["as-nobody", "sleeper"]

    def containers(auth):
        r = requests.post(slave.url + "/api/v1", json={"type": "GET_CONTAINERS"}, auth=auth,
                          timeout=5)
        return [c["executor_id"]["value"] for c in r.json()["get_containers"]["containers"]]
    assert containers(OPS) == ["sleeper"]
    assert containers(ALICE) == []  # view_containers: only ops

    # Through the master's relay the operator's own rights apply.
    m = open_cluster.master
    url = f"{m.url}/agents/{sid}/files/read"
    assert requests.get(url, params={"path": root_out, "offset": 0}, auth=ALICE,
                        timeout=5).status_code == 403
    assert requests.get(url, params={"path": nobody_out, "offset": 0}, auth=ALICE,
                        timeout=5).status_code == 200
    metrics = requests.get(slave.url + "/metrics", auth=OPS, timeout=5).text
    denied = [ln for ln in metrics.splitlines()
              if ln.startswith("agora_slave_acl_denials_total ")]
    assert denied and float(denied[0].split()[-1]) >= 5, denied
    assert_clean(open_cluster)


def test_bad_auth_flags_refused(tmp_path):
    """A slave that cannot do what its flags ask does not start."""
    creds = write_creds(tmp_path)
    cases = [(["--authenticate_http_readonly"], "--http_credentials"),
             ([f"--http_credentials={tmp_path}/missing.json", "--authenticate_http_readonly"],
              "--http_credentials"),
             ([f"--http_credentials={creds}", '--acls={"access_sandboxes": [{"users": 1}]}'],
              "access_sandboxes[0].users"),
             (['--acls={"view_sandboxes": []}'], "view_sandboxes")]
    for i, (args, want) in enumerate(cases):
        p = subprocess.run([binary("agora-slave"), "--master=127.0.0.1:1", "--port=0",
                            f"--work_dir={tmp_path}/w{i}"] + args,
                           capture_output=True, text=True, timeout=20)
        assert p.returncode != 0, (args, p.stdout, p.stderr)
        assert want in p.stdout + p.stderr, (args, p.stdout + p.stderr)
