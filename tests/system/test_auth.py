"""Authentication (issue 13, item 2) against real daemons: a master with
--credentials and the --authenticate_* surfaces; slaves (--credential) and
agora-batch (--principal/--secret) that present credentials, and ones that
do not or present wrong ones."""
import base64
import hashlib
import hmac
import json
import os
import time
import subprocess

import pytest
import requests

from agora_harness import BIN, SchedulerClient, wait_for
from test_pacer_lb import get_ok, running_lb

SECRETS = {"admin": "adm1n-s3cret", "agent": "ag3nt-s3cret", "batch": "b4tch-s3cret"}


@pytest.fixture
def creds(tmp_path):
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"credentials": [{"principal": p, "secret": s}
                                                for p, s in SECRETS.items()]}))
    return str(path)


def credential_file(tmp_path, name, secret):
    path = tmp_path / f"{name}.cred"
    path.write_text(f"{name} {secret}\n")
    return str(path)


def metric(url, name, auth=None):
    for line in requests.get(url + "/metrics", auth=auth, timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_readonly_endpoints_need_credentials(cluster, creds):
    m = cluster.start_master(f"--credentials={creds}", "--authenticate_http_readonly")
    ok = ("admin", SECRETS["admin"])
    for path in ("/master/state", "/state.json", "/metrics", "/metrics/snapshot"):
        none = requests.get(m.url + path, timeout=5)
        wrong_secret = requests.get(m.url + path, auth=("admin", "nope"), timeout=5)
        wrong_name = requests.get(m.url + path, auth=("nobody", SECRETS["admin"]), timeout=5)
        for r in (none, wrong_secret, wrong_name):
            assert r.status_code == 401, (path, r.status_code, r.text)
            assert r.headers["WWW-Authenticate"] == 'Basic realm="agora-master"'
        # Never a hint which half was wrong.
        assert none.text == wrong_secret.text == wrong_name.text
        assert requests.get(m.url + path, auth=ok, timeout=5).status_code == 200, path
    r = requests.post(m.url + "/api/v1", json={"type": "GET_HEALTH"}, timeout=5)
    assert r.status_code == 401
    r = requests.post(m.url + "/api/v1", json={"type": "GET_HEALTH"}, auth=ok, timeout=5)
    assert r.status_code == 200 and r.json()["get_health"]["healthy"] is True
    # Malformed headers are refused the same way, and the master keeps serving.
    for bad in ("Basic", "Basic !!!!", "Basic YWRtaW4=", "Bearer x", "Basic " + "A" * 8000):
        r = requests.get(m.url + "/master/state", headers={"Authorization": bad}, timeout=5)
        assert r.status_code in (401, 431, 400), (bad[:20], r.status_code)
    # Health stays open (load balancers probe it).
    assert requests.get(m.url + "/health", timeout=5).status_code == 200
    assert metric(m.url, "agora_http_auth_failures_total", auth=ok) >= 15
    log = m.log()
    for s in SECRETS.values():
        assert s not in log, "a secret was logged"


def test_slaves_and_frameworks_authenticate(cluster, creds, tmp_path):
    m = cluster.start_master(f"--credentials={creds}", "--authenticate_agents",
                             "--authenticate_frameworks")
    # A slave with no credential and one with a wrong one are refused...
    cluster.add_slave()
    cluster.add_slave(f"--credential={credential_file(tmp_path, 'agent', 'wrong')}")
    wait_for(lambda: metric(m.url, "agora_http_auth_failures_total") >= 2, 20,
             what="both slaves refused with 401")
    assert cluster.state()["slaves"] == []
    # ...one with the right credential registers.
    cluster.add_slave(f"--credential={credential_file(tmp_path, 'agent', SECRETS['agent'])}")
    cluster.wait_slaves(1)
    assert len(cluster.state()["slaves"]) == 1

    # A framework without credentials gets 401, with them it runs its tasks.
    r = requests.post(m.url + "/api/v1/scheduler", timeout=5, json={
        "type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "root", "name": "x"}}})
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    argv = [os.path.join(BIN, "agora-batch"), f"--master=127.0.0.1:{m.port}", "--tasks=20",
            "--cmd=true", "--cpus=0.1", "--mem=16", "--principal=batch",
            f"--secret={SECRETS['batch']}", "--timeout=60secs"]
    p = subprocess.run(argv, capture_output=True, timeout=90, start_new_session=True)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()[-3000:]
    assert b"20 finished, 0 failed" in p.stdout

    # Authenticated as one principal, claiming another in FrameworkInfo: 403.
    r = requests.post(m.url + "/api/v1/scheduler", auth=("batch", SECRETS["batch"]), timeout=5,
                      json={"type": "SUBSCRIBE", "subscribe": {"framework_info": {
                          "user": "root", "name": "x", "principal": "admin"}}})
    assert r.status_code == 403, r.text
    assert "does not match" in r.text
    log = cluster.logs()
    for s in SECRETS.values():
        assert s not in log, "a secret was logged"


def test_framework_keeps_its_principal(cluster, creds):
    """A framework is its credentials' principal: one that leaves it out
    of FrameworkInfo gets it set (ACLs keyed on it then apply), and no
    other principal takes the framework over by its id, neither by
    re-subscribing nor by calls carrying its stream id."""
    m = cluster.start_master(f"--credentials={creds}", "--authenticate_frameworks",
                             "--authenticate_http_readonly")
    admin, batch = ("admin", SECRETS["admin"]), ("batch", SECRETS["batch"])
    s = SchedulerClient(m.url, auth=batch)  # no principal in FrameworkInfo
    s.subscribe()
    [fw] = requests.get(m.url + "/master/state", auth=admin, timeout=5).json()["frameworks"]
    assert fw["principal"] == "batch", fw

    for principal in ("admin", None):
        fi = {"user": "root", "name": "thief", "id": {"value": s.framework_id}}
        if principal:
            fi["principal"] = principal
        r = requests.post(m.url + "/api/v1/scheduler", auth=admin, timeout=5, json={
            "type": "SUBSCRIBE", "framework_id": {"value": s.framework_id},
            "subscribe": {"framework_info": fi}})
        assert r.status_code == 403, r.text
        assert "Changing framework's principal is not allowed" in r.text
    # The first scheduler was not failed over: its calls still work...
    s.call({"type": "REVIVE"})
    # ...and its stream id in another principal's hands does nothing.
    r = requests.post(m.url + "/api/v1/scheduler", auth=admin, timeout=5,
                      headers={"Mesos-Stream-Id": s.stream_id},
                      json={"type": "TEARDOWN", "framework_id": {"value": s.framework_id}})
    assert r.status_code == 403 and "does not match principal 'batch'" in r.text, r.text
    [fw] = requests.get(m.url + "/master/state", auth=admin, timeout=5).json()["frameworks"]
    assert fw["id"] == s.framework_id and fw["active"], fw
    s.close()


def test_authenticate_without_credentials_refused(tmp_path):
    p = subprocess.run([os.path.join(BIN, "agora-master"), "--port=0",
                        f"--work_dir={tmp_path}", "--authenticate_agents"],
                       capture_output=True, timeout=10)
    assert p.returncode != 0 and b"--credentials" in p.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"credentials": [{"principal": "a"}]}')
    p = subprocess.run([os.path.join(BIN, "agora-master"), "--port=0",
                        f"--work_dir={tmp_path}", f"--credentials={bad}"],
                       capture_output=True, timeout=10)
    assert p.returncode != 0 and b"credentials[0]" in p.stderr


def test_pacer_rest_and_framework_credentials(pacer_cluster, creds, tmp_path):
    """Pacer with --http_credentials (full) and --http_readonly_credentials,
    registering with the master as an authenticated framework; Debian's
    python3-marathon client with credentials deploys an app; pacer-lb
    reads with the read-only user and routes it."""
    marathon = pytest.importorskip("marathon")
    c = pacer_cluster
    c.start_master("--allocation_interval=100ms", f"--credentials={creds}",
                   "--authenticate_frameworks")
    c.add_slave()
    c.wait_slaves(1)
    secret = tmp_path / "pacer.secret"
    secret.write_text("wrong\n")
    c.auth = ("admin", "pw:1")
    # A wrong framework secret: refused by the master, and Pacer says so.
    bad = subprocess.run([os.path.join(BIN, "agora-pacer"), f"--master=127.0.0.1:{c.master.port}",
                          "--http_port=0", f"--work_dir={tmp_path / 'pacer-bad'}",
                          "--http_credentials=admin:pw:1", "--mesos_authentication_principal=batch",
                          f"--mesos_authentication_secret_file={secret}"],
                         capture_output=True, timeout=30)
    assert bad.returncode != 0 and b"401 Unauthorized" in bad.stderr, bad.stderr[-2000:]
    assert b"wrong" not in bad.stderr
    secret.write_text(SECRETS["batch"] + "\n")
    c.start_pacer("--http_credentials=admin:pw:1", "--http_readonly_credentials=viewer:v",
                  "--mesos_authentication_principal=batch",
                  f"--mesos_authentication_secret_file={secret}")
    url = c.pacer.url
    r = requests.get(url + "/v2/apps", timeout=5)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="pacer"'
    assert r.json()["message"] == "Unauthorized"
    assert requests.get(url + "/v2/apps", auth=("admin", "pw:2"), timeout=5).status_code == 401
    assert requests.get(url + "/v2/apps", auth=("viewer", "v"), timeout=5).status_code == 200
    r = requests.post(url + "/v2/apps", auth=("viewer", "v"), timeout=5,
                      json={"id": "/no", "cmd": "sleep 100", "cpus": 0.1, "mem": 16})
    assert r.status_code == 403 and "read-only" in r.json()["message"], r.text
    assert requests.get(url + "/ping", timeout=5).status_code == 200  # open, as Marathon's

    client = marathon.MarathonClient(url, username="admin", password="pw:1")
    client.create_app("web", marathon.MarathonApp(
        cmd="exec /usr/bin/python3 -m http.server $PORT0 --bind 127.0.0.1", cpus=0.1, mem=32,
        instances=1, port_definitions=[{"port": 0}]))
    app = c.wait_app("/web", running=1, timeout=60)
    sp = app["portDefinitions"][0]["port"]
    assert c.get("/v2/info").json()["frameworkId"]
    with running_lb([c.pacer.port], tmp_path, ["--marathon_credentials=viewer:v"]) as lb:
        wait_for(lambda: get_ok(sp), 30, interval=0.2, what="/web through pacer-lb")
        assert "401" not in lb.log()
    log = c.logs()
    for s in (SECRETS["batch"], "pw:1"):
        assert s not in log, "a secret was logged"


def jwt(key, claims, header=None):
    """An HS256 JSON Web Token, made here with hmac (no JWT library)."""
    def part(d):
        return base64.urlsafe_b64encode(json.dumps(d, separators=(",", ":")).encode()).rstrip(b"=")
    signing = part(header or {"alg": "HS256", "typ": "JWT"}) + b"." + part(claims)
    sig = hmac.new(key, signing, hashlib.sha256).digest()
    return (signing + b"." + base64.urlsafe_b64encode(sig).rstrip(b"=")).decode()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_bearer_tokens(pacer_cluster, creds, tmp_path):
    """--jwt_secret_key: where a daemon asks for credentials it also takes
    an HS256 bearer token signed with the key, its sub being the principal
    (ACLs match it). Expired, unsigned (alg none), otherwise signed and
    tampered tokens get 401 with both challenges; Basic still works."""
    c = pacer_cluster
    key = b"jwt-k3y-for-tests"
    (tmp_path / "jwt.key").write_bytes(key + b"\n")  # one newline is not part of the key
    m = c.start_master("--allocation_interval=100ms", f"--credentials={creds}",
                       "--authenticate_http_readonly", f"--jwt_secret_key={tmp_path / 'jwt.key'}")
    url = f"http://127.0.0.1:{m.port}/master/state"
    now = int(time.time())
    good = jwt(key, {"sub": "batch", "exp": now + 300})
    assert requests.get(url, headers=bearer(good), timeout=5).status_code == 200
    assert requests.get(url, auth=("admin", SECRETS["admin"]), timeout=5).status_code == 200
    parts = good.split(".")
    other_claims = base64.urlsafe_b64encode(b'{"sub":"admin","exp":%d}' % (now + 300)).rstrip(b"=")
    for name, token in [("expired", jwt(key, {"sub": "batch", "exp": now - 10})),
                        ("not yet valid", jwt(key, {"sub": "batch", "nbf": now + 600})),
                        ("no sub", jwt(key, {"exp": now + 300})),
                        ("other key", jwt(b"another key", {"sub": "batch"})),
                        ("alg none", jwt(key, {"sub": "batch"}, {"alg": "none"})[:-43]),
                        ("tampered", ".".join([parts[0], other_claims.decode(), parts[2]])),
                        ("garbage", "not-a-token")]:
        r = requests.get(url, headers=bearer(token), timeout=5)
        assert r.status_code == 401, (name, r.status_code)
        assert 'Basic realm="agora-master"' in r.headers["WWW-Authenticate"], name
        assert 'Bearer realm="agora-master"' in r.headers["WWW-Authenticate"], name
    assert requests.get(url, timeout=5).status_code == 401

    # Pacer with tokens only (no --http_credentials) and change_apps ACLs:
    # the token's sub is who the ACLs see.
    acls = tmp_path / "pacer-acls.json"
    acls.write_text(json.dumps(PACER_ACLS))
    c.auth = BearerAuth(jwt(key, {"sub": "admin", "exp": now + 600}))
    c.start_pacer(f"--jwt_secret_key={tmp_path / 'jwt.key'}", f"--acls={acls}")
    alice = BearerAuth(jwt(key, {"sub": "alice", "exp": now + 600}))
    app = {"cmd": "sleep 600", "cpus": 0.1, "mem": 16, "instances": 0}
    assert c.get("/v2/apps", auth=None).status_code == 401
    assert c.get("/v2/apps", auth=BearerAuth(jwt(b"x", {"sub": "alice"}))).status_code == 401
    r = c.post("/v2/apps", dict(app, id="/team-a/tok"), auth=alice)
    assert r.status_code == 201, r.text
    r = c.post("/v2/apps", dict(app, id="/team-b/tok"), auth=alice)
    assert r.status_code == 403 and "'alice'" in r.json()["details"][0]["errors"][0], r.text
    assert c.post("/v2/apps", dict(app, id="/team-b/tok")).status_code == 201  # admin
    log = c.logs()
    assert good not in log and key.decode() not in log, "a token or the key was logged"


class BearerAuth(requests.auth.AuthBase):
    def __init__(self, token):
        self.token = token

    def __call__(self, r):
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


PACER_ACLS = {
    "permissive": False,
    "change_apps": [{"principals": {"values": ["alice"]}, "app_ids": {"values": ["/team-a"]}},
                    {"principals": {"values": ["admin"]}, "app_ids": {"type": "ANY"}}],
}


def test_pacer_acls_limit_who_changes_which_apps(pacer_cluster, tmp_path):
    """Pacer with --acls: alice may change apps under /team-a only, admin
    all, bob none. A refused change is a 403 naming the app before anything
    changed (no app, no scale, no kill, no deletion); python3-marathon works
    for what is allowed; reading stays open to every user."""
    marathon = pytest.importorskip("marathon")
    c = pacer_cluster
    c.start_master("--allocation_interval=100ms")
    c.add_slave()
    c.wait_slaves(1)
    acls = tmp_path / "pacer-acls.json"
    acls.write_text(json.dumps(PACER_ACLS))
    alice, bob, admin = ("alice", "x"), ("bob", "y"), ("admin", "a")
    c.auth = admin
    c.start_pacer("--http_credentials=admin:a,alice:x,bob:y", f"--acls={acls}")
    app = {"cmd": "sleep 600", "cpus": 0.1, "mem": 16, "instances": 1}

    def refused(r, app_id):
        assert r.status_code == 403, (r.status_code, r.text)
        body = r.json()
        assert body["message"] == "Not Authorized to perform this action!", body
        assert body["details"][0]["path"] == app_id, body
        assert "change_apps" in body["details"][0]["errors"][0], body

    client = marathon.MarathonClient(c.pacer.url, username="alice", password="x")
    client.create_app("/team-a/web", marathon.MarathonApp(**app))
    c.wait_app("/team-a/web", running=1)
    refused(c.post("/v2/apps", dict(app, id="/team-b/web"), auth=alice), "/team-b/web")
    refused(c.post("/v2/apps", dict(app, id="/team-ab"), auth=alice), "/team-ab")
    refused(c.post("/v2/apps", dict(app, id="/team-a/x"), auth=bob), "/team-a/x")
    assert c.get("/v2/apps/team-b/web").status_code == 404
    assert c.get("/v2/apps/team-ab").status_code == 404
    assert c.get("/v2/apps/team-a/x").status_code == 404

    r = c.post("/v2/apps", dict(app, id="/team-b/web"), auth=admin)
    assert r.status_code == 201, r.text
    b = c.wait_app("/team-b/web", running=1)
    task = b["tasks"][0]["id"]
    refused(c.put("/v2/apps/team-b/web", {"instances": 3}, auth=alice), "/team-b/web")
    refused(c.delete("/v2/apps/team-b/web", auth=alice), "/team-b/web")
    refused(c.post("/v2/apps/team-b/web/restart", auth=alice), "/team-b/web")
    refused(c.delete(f"/v2/apps/team-b/web/tasks/{task}", auth=alice), "/team-b/web")
    refused(c.post("/v2/tasks/delete", {"ids": [task]}, auth=alice), "/team-b/web")
    refused(c.put("/v2/groups/team-b", {"id": "/team-b", "apps": []}, auth=alice), "/team-b")
    refused(c.post("/v2/groups", {"id": "/team-c"}, auth=alice), "/team-c")
    # Nothing of /team-b changed; alice still reads it.
    b = c.get("/v2/apps/team-b/web", auth=alice).json()["app"]
    assert b["instances"] == 1 and [t["id"] for t in b["tasks"]] == [task], b
    assert {a["id"] for a in c.get("/v2/apps", auth=bob).json()["apps"]} == \
        {"/team-a/web", "/team-b/web"}

    # Within her prefix everything works, through the real client too.
    client.scale_app("/team-a/web", instances=2)
    c.wait_app("/team-a/web", running=2)
    assert c.post("/v2/apps/team-a/web/restart", auth=alice).status_code == 200
    c.wait_deployments()
    client.delete_app("/team-a/web")
    wait_for(lambda: c.get("/v2/apps/team-a/web").status_code == 404, 30, what="/team-a/web gone")

    bad = subprocess.run([os.path.join(BIN, "agora-pacer"), f"--master=127.0.0.1:{c.master.port}",
                          "--http_port=0", f"--work_dir={tmp_path / 'pacer-bad'}",
                          f"--acls={tmp_path / 'missing.json'}"],
                         capture_output=True, timeout=30)
    assert bad.returncode != 0 and b"--acls" in bad.stderr, bad.stderr[-2000:]


ACLS = {
    "permissive": True,
    # admin may register no role at all.
    "register_frameworks": [{"principals": {"values": ["admin"]}, "roles": {"type": "NONE"}}],
    # batch may launch as root only.
    "run_tasks": [{"principals": {"values": ["batch"]}, "users": {"values": ["root"]}},
                  {"principals": {"values": ["batch"]}, "users": {"type": "NONE"}}],
    # agent sees no framework and may tear none down; admin may.
    "view_frameworks": [{"principals": {"values": ["agent"]}, "users": {"type": "NONE"}}],
    "view_tasks": [{"principals": {"values": ["agent"]}, "users": {"type": "NONE"}}],
    "teardown_frameworks": [{"principals": {"values": ["agent"]},
                             "framework_principals": {"type": "NONE"}}],
}


def test_acls(cluster, creds, tmp_path):
    acls = tmp_path / "acls.json"
    acls.write_text(json.dumps(ACLS))
    m = cluster.start_master(f"--credentials={creds}", f"--acls={acls}",
                             "--authenticate_frameworks", "--authenticate_http_readonly")
    cluster.add_slave()
    admin, agent = ("admin", SECRETS["admin"]), ("agent", SECRETS["agent"])
    wait_for(lambda: len(requests.get(m.url + "/master/state", auth=admin,
                                      timeout=5).json()["slaves"]) == 1, 20, what="the slave")

    # register_frameworks: admin may not register any role.
    r = requests.post(m.url + "/api/v1/scheduler", auth=admin, timeout=5, json={
        "type": "SUBSCRIBE", "subscribe": {"framework_info": {
            "user": "root", "name": "x", "principal": "admin"}}})
    assert r.status_code == 403 and "Not authorized to use role '*'" in r.text, r.text

    # run_tasks: batch launches as root, not as nobody.
    s = SchedulerClient(m.url, principal="batch", auth=("batch", SECRETS["batch"]))
    s.subscribe()
    offer = s.next_offers()[0]
    res = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
           {"name": "mem", "type": "SCALAR", "scalar": {"value": 16}}]
    s.launch(offer, [
        {"name": "ok", "task_id": {"value": "ok"}, "agent_id": offer["agent_id"],
         "resources": res, "command": {"value": "sleep 30"}},
        {"name": "no", "task_id": {"value": "no"}, "agent_id": offer["agent_id"],
         "resources": res, "command": {"value": "true", "user": "nobody"}}])
    up = s.wait_update("no", "TASK_ERROR")
    assert up["reason"] == "REASON_TASK_UNAUTHORIZED", up
    assert "as user 'nobody'" in up["message"]
    s.wait_update("ok", "TASK_RUNNING")

    # view_frameworks: admin sees the framework, agent does not.
    def frameworks(who):
        return requests.get(m.url + "/master/state", auth=who, timeout=5).json()["frameworks"]
    assert [f["id"] for f in frameworks(admin)] == [s.framework_id]
    assert frameworks(agent) == []

    # ...and view_tasks: the operator API's GET_* answer the same way.
    def operator(who, type_):
        r = requests.post(m.url + "/api/v1", json={"type": type_}, auth=who, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()[type_.lower()]
    assert len(operator(admin, "GET_FRAMEWORKS")["frameworks"]) == 1
    assert operator(agent, "GET_FRAMEWORKS")["frameworks"] == []
    assert {t["task_id"]["value"] for t in operator(admin, "GET_TASKS")["tasks"]} == {"ok"}
    assert operator(agent, "GET_TASKS")["tasks"] == []
    st = operator(agent, "GET_STATE")
    assert st["get_tasks"]["tasks"] == [] and st["get_frameworks"]["frameworks"] == []
    assert len(st["get_agents"]["agents"]) == 1

    # teardown_frameworks: agent may not, admin may.
    call = {"type": "TEARDOWN", "teardown": {"framework_id": {"value": s.framework_id}}}
    r = requests.post(m.url + "/api/v1", json=call, auth=agent, timeout=5)
    assert r.status_code == 403, r.text
    r = requests.post(m.url + "/api/v1", json=call, auth=admin, timeout=5)
    assert r.status_code == 200, r.text
    wait_for(lambda: frameworks(admin) == [], 10, what="the framework torn down")
    # The completed framework and its tasks: admin sees them, agent not.
    def completed(who):
        return requests.get(m.url + "/master/state", auth=who,
                            timeout=5).json()["completed_frameworks"]
    [done] = completed(admin)
    assert done["id"] == s.framework_id
    assert [(t["id"], t["user"]) for t in done["completed_tasks"]] == [("ok", "root")], done
    assert completed(agent) == []
    assert operator(agent, "GET_FRAMEWORKS")["completed_frameworks"] == []
    assert len(operator(admin, "GET_FRAMEWORKS")["completed_frameworks"]) == 1
    # The operator event stream is not filtered: agent may not subscribe.
    r = requests.post(m.url + "/api/v1", json={"type": "SUBSCRIBE"}, auth=agent, timeout=5)
    assert r.status_code == 403 and "view_tasks" in r.text, r.text
    r = requests.post(m.url + "/api/v1", json={"type": "SUBSCRIBE"}, auth=admin, timeout=5,
                      stream=True)
    assert r.status_code == 200
    r.close()
    bad = dict(call, teardown={"framework_id": {"value": "nope"}})
    r = requests.post(m.url + "/api/v1", json=bad, auth=admin, timeout=5)
    assert r.status_code == 400 and "nope" in r.text
    assert metric(m.url, "agora_master_acl_denials_total", auth=admin) >= 3
    s.close()


def test_bad_acls_refused(tmp_path):
    p = subprocess.run([os.path.join(BIN, "agora-master"), "--port=0", f"--work_dir={tmp_path}",
                        '--acls={"run_tasks": [{"principals": {"values": [1]}}]}'],
                       capture_output=True, timeout=10)
    assert p.returncode != 0 and b"run_tasks[0].principals.values[0]" in p.stderr, p.stderr
