"""What a task may ask of the slave's host (issue 13, items 5 and 6).

A default slave refuses Docker tasks that ask for a privileged container,
an added capability or a bind mount of a host path, with TASK_ERROR
naming the field and the flag that would open it; --docker_allow_privileged,
--allowed_capabilities and --allowed_host_paths open them; the master's
--acls decide them per principal (launch_privileged_containers,
add_capabilities, mount_host_paths). --switch_user runs a task as its user
with the sandbox owned by it; an unknown user fails naming it.
"""
import os
import pwd
import shutil
import tempfile

import pytest

from agora_harness import Daemon, SchedulerClient, sandbox_of, task_info
from conftest import run_cluster
from test_docker import (DOCKER_ARGS, dcluster, docker_task, read_sandbox,  # noqa: F401
                         wait_states)

NOBODY = pwd.getpwnam("nobody").pw_uid
NOT_ALLOWED = "is not allowed on this slave"


@pytest.fixture
def open_cluster(request):
    """A cluster whose work dirs another user can reach (pytest's tmp_path
    is 0700 root's): tasks run as nobody chdir into their sandbox."""
    tmp = tempfile.mkdtemp(prefix="agora-hostsec-", dir="/dev/shm")
    os.chmod(tmp, 0o755)
    try:
        yield from run_cluster(request, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def start(cluster, *slave_args, master_args=(), principal=None):
    m = cluster.start_master(*master_args)
    cluster.add_slave(*slave_args)
    cluster.wait_slaves(1)
    sch = SchedulerClient(m.url, name="hostsec", principal=principal)
    sch.subscribe()
    return sch


def privileged(tid, aid):
    t = docker_task(tid, aid, "true")
    t["container"]["docker"]["privileged"] = True
    return t


def with_params(tid, aid, cmd, *params):
    t = docker_task(tid, aid, cmd)
    t["container"]["docker"]["parameters"] = [{"key": k, "value": v} for k, v in params]
    return t


def with_volume(tid, aid, cmd, host_path, container_path="/host"):
    t = docker_task(tid, aid, cmd)
    t["container"]["volumes"] = [{"container_path": container_path, "host_path": host_path,
                                  "mode": "RO"}]
    return t


# CapEff of the container's process, bit 21 (CAP_SYS_ADMIN) tested in sh.
HAS_SYS_ADMIN = ("c=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status); echo CapEff=$c; "
                 "[ $(( 0x$c & 0x200000 )) -ne 0 ]")


def test_default_slave_refuses_host_requests(dcluster, tmp_path):
    sch = start(dcluster, *DOCKER_ARGS)
    offer = sch.next_offers()[0]
    aid = offer["agent_id"]
    sch.launch(offer, [
        privileged("priv", aid),
        with_params("cap", aid, "true", ("cap-add", "SYS_ADMIN")),
        with_volume("root", aid, "true", "/"),
        with_volume("dotdot", aid, "true", "/srv/../"),
        with_params("vparam", aid, "true", ("env", "A=1"), ("volume", "/:/host:ro")),
        with_params("unconfined", aid, "true", ("security-opt", "seccomp=unconfined")),
        with_volume("escape", aid, "true", "data/../../../.."),
        # What every slave allows: dropping a capability.
        with_params("plain", aid, "echo fine", ("cap-drop", "NET_RAW")),
    ])
    want = {t: ["TASK_ERROR", "TASK_FAILED", "TASK_FINISHED"] for t in
            ("priv", "cap", "root", "dotdot", "vparam", "unconfined", "escape", "plain")}
    last, _ = wait_states(sch, want)
    expect = {
        "priv": "container.docker.privileged is not allowed on this slave "
                "(--docker_allow_privileged)",
        "cap": "container.docker.parameters[0]: cap-add 'SYS_ADMIN' is not allowed on this "
               "slave (--allowed_capabilities)",
        "root": "container.volumes[0].host_path: host path '/' is not allowed on this slave "
                "(--allowed_host_paths)",
        "dotdot": "container.volumes[0].host_path: host path '/' " + NOT_ALLOWED,
        "vparam": "container.docker.parameters[1]: host path '/' " + NOT_ALLOWED,
        "unconfined": "container.docker.parameters[0]: 'security-opt=seccomp=unconfined' "
                      + NOT_ALLOWED,
        "escape": "container.volumes[0].host_path: 'data/../../../..' leaves the sandbox",
    }
    for tid, msg in expect.items():
        st = last[tid]
        assert st["state"] == "TASK_ERROR", st
        assert st["reason"] == "REASON_TASK_UNAUTHORIZED", st
        assert msg in st["message"], st
    assert last["plain"]["state"] == "TASK_FINISHED", last["plain"]
    # Nothing of the refused tasks reached the engine.
    log = dcluster.slaves[0].log()
    assert "launch failed" not in log


def test_slave_flags_open_them(dcluster, tmp_path):
    shared = tmp_path / "shared"
    (shared / "data").mkdir(parents=True)
    (shared / "data" / "marker").write_text("from the host\n")
    os.symlink("/", shared / "to-root")  # a link a task could have left there
    sch = start(dcluster, *DOCKER_ARGS, "--docker_allow_privileged",
                "--allowed_capabilities=net_admin,CAP_SYS_ADMIN",
                f"--allowed_host_paths=/nonexistent,{shared}")
    offer = sch.next_offers()[0]
    aid = offer["agent_id"]
    sch.launch(offer, [
        privileged("priv", aid),
        with_params("cap", aid, HAS_SYS_ADMIN, ("cap-add", "SYS_ADMIN")),
        with_params("nocap", aid, HAS_SYS_ADMIN),
        with_params("time", aid, "true", ("cap-add", "SYS_TIME")),
        with_volume("bind", aid, "cat /host/marker", str(shared / "x" / ".." / "data")),
        with_params("vparam", aid, "cat /h/marker", ("volume", f"{shared}/data:/h:ro")),
        with_volume("outside", aid, "true", str(shared / ".." / "..")),
        with_volume("link", aid, "true", str(shared / "to-root")),
        with_volume("linksub", aid, "true", str(shared / "to-root" / "etc")),
    ])
    want = {t: ["TASK_ERROR", "TASK_FAILED", "TASK_FINISHED"] for t in
            ("priv", "cap", "nocap", "time", "bind", "vparam", "outside", "link", "linksub")}
    last, _ = wait_states(sch, want, timeout=90)
    # Privileged passed the slave's policy and reached docker: `docker run
    # --privileged` cannot work on this machine, so either it ran or the
    # engine refused it (a launch failure, never the policy's TASK_ERROR).
    st = last["priv"]
    assert st["state"] in ("TASK_FINISHED", "TASK_FAILED"), st
    assert NOT_ALLOWED not in st.get("message", ""), st
    if st["state"] == "TASK_FAILED":
        assert st["reason"] == "REASON_CONTAINER_LAUNCH_FAILED", st
    assert last["cap"]["state"] == "TASK_FINISHED", last["cap"]
    assert "CapEff=" in read_sandbox(dcluster.slaves[0], "cap", "stdout")
    # Docker's default set has no SYS_ADMIN: the check above can fail.
    assert last["nocap"]["state"] == "TASK_FAILED", last["nocap"]
    assert last["time"]["state"] == "TASK_ERROR", last["time"]
    assert "cap-add 'SYS_TIME' " + NOT_ALLOWED in last["time"]["message"]
    for tid in ("bind", "vparam"):
        assert last[tid]["state"] == "TASK_FINISHED", last[tid]
        assert read_sandbox(dcluster.slaves[0], tid, "stdout") == "from the host\n"
    assert last["outside"]["state"] == "TASK_ERROR", last["outside"]
    assert f"host path '{os.path.dirname(str(tmp_path))}' " + NOT_ALLOWED in \
        last["outside"]["message"]
    # The link resolves to "/", which is not under the allowed prefix.
    assert last["link"]["state"] == "TASK_ERROR", last["link"]
    assert "host path '/' " + NOT_ALLOWED in last["link"]["message"], last["link"]
    assert last["linksub"]["state"] == "TASK_ERROR", last["linksub"]
    assert "host path '/etc' " + NOT_ALLOWED in last["linksub"]["message"], last["linksub"]


ACLS = """{
 "launch_privileged_containers": [{"principals": {"type": "ANY"}, "users": {"type": "NONE"}}],
 "add_capabilities": [{"principals": {"values": ["net"]}, "capabilities": {"values": ["NET_ADMIN"]}},
                      {"principals": {"type": "ANY"}, "capabilities": {"type": "NONE"}}],
 "mount_host_paths": [{"principals": {"values": ["net"]}, "paths": {"values": ["%s"]}},
                      {"principals": {"type": "ANY"}, "paths": {"type": "NONE"}}]
}"""


def test_acls_decide_host_requests_per_principal(dcluster, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "marker").write_text("acl ok\n")
    sch = start(dcluster, *DOCKER_ARGS, "--docker_allow_privileged",
                "--allowed_capabilities=ALL", "--allowed_host_paths=/",
                master_args=[f"--acls={ACLS % shared}"], principal="net")
    offer = sch.next_offers()[0]
    aid = offer["agent_id"]
    sch.launch(offer, [
        privileged("priv", aid),
        with_params("admin", aid, "true", ("cap-add", "SYS_ADMIN")),
        with_params("net", aid, "true", ("cap-add", "NET_ADMIN")),
        with_volume("etc", aid, "true", "/etc"),
        with_volume("mine", aid, "cat /host/marker", str(shared)),
    ])
    want = {t: ["TASK_ERROR", "TASK_FAILED", "TASK_FINISHED"] for t in
            ("priv", "admin", "net", "etc", "mine")}
    last, _ = wait_states(sch, want, timeout=60)
    expect = {
        "priv": "Not authorized to launch task priv: container.docker.privileged "
                "(launch_privileged_containers)",
        "admin": "container.docker.parameters[0] 'SYS_ADMIN' (add_capabilities)",
        "etc": "container.volumes[0].host_path '/etc' (mount_host_paths)",
    }
    for tid, msg in expect.items():
        st = last[tid]
        assert st["state"] == "TASK_ERROR", st
        assert st["reason"] == "REASON_TASK_UNAUTHORIZED", st
        assert st.get("source") == "SOURCE_MASTER", st
        assert msg in st["message"], st
    assert last["net"]["state"] == "TASK_FINISHED", last["net"]
    assert last["mine"]["state"] == "TASK_FINISHED", last["mine"]
    assert read_sandbox(dcluster.slaves[0], "mine", "stdout") == "acl ok\n"


# ------------------------------------------------------------ --switch_user


def as_user(t, user):
    t["command"]["user"] = user
    return t


def test_switch_user_runs_tasks_as_their_user(open_cluster):
    sch = start(open_cluster)
    offer = sch.next_offers()[0]
    aid = offer["agent_id"]
    sch.launch(offer, [
        as_user(task_info("nobody", aid, "id -u; id -g; echo $USER; touch mine"), "nobody"),
        as_user(task_info("ghost", aid, "true"), "agora-no-such-user"),
        task_info("framework-user", aid, "id -u"),  # FrameworkInfo.user: root
    ])
    got = sch.wait_updates({"nobody": ["TASK_FINISHED", "TASK_FAILED"],
                            "ghost": ["TASK_FAILED", "TASK_FINISHED"],
                            "framework-user": ["TASK_FINISHED", "TASK_FAILED"]}, timeout=30)
    slave = open_cluster.slaves[0]
    assert got["nobody"]["state"] == "TASK_FINISHED", got["nobody"]
    out = read_sandbox(slave, "nobody", "stdout").split()
    gid = pwd.getpwnam("nobody").pw_gid
    assert out == [str(NOBODY), str(gid), "nobody"], out
    sandbox = sandbox_of(slave, "nobody")
    assert os.stat(sandbox).st_uid == NOBODY
    assert os.stat(os.path.join(sandbox, "stdout")).st_uid == NOBODY
    assert os.stat(os.path.join(sandbox, "mine")).st_uid == NOBODY
    st = got["ghost"]
    assert st["state"] == "TASK_FAILED", st
    assert "user 'agora-no-such-user' does not exist on this slave" in st["message"], st
    assert got["framework-user"]["state"] == "TASK_FINISHED"
    assert read_sandbox(slave, "framework-user", "stdout").split() == ["0"]


def test_no_switch_user_runs_as_the_slave(open_cluster):
    sch = start(open_cluster, "--no-switch_user")
    offer = sch.next_offers()[0]
    aid = offer["agent_id"]
    sch.launch(offer, [as_user(task_info("t", aid, "id -u"), "agora-no-such-user")])
    st = sch.wait_update("t", ["TASK_FINISHED", "TASK_FAILED"], timeout=30)
    assert st["state"] == "TASK_FINISHED", st
    assert read_sandbox(open_cluster.slaves[0], "t", "stdout").split() == [str(os.geteuid())]


def test_switch_user_docker_task(dcluster, tmp_path):
    os.chmod(tmp_path, 0o755)
    sch = start(dcluster, *DOCKER_ARGS)
    offer = sch.next_offers()[0]
    aid = offer["agent_id"]
    sch.launch(offer, [
        as_user(docker_task("d", aid, "id -u; touch $MESOS_SANDBOX/mine && echo wrote"),
                "nobody"),
        as_user(docker_task("ghost", aid, "true"), "agora-no-such-user"),
    ])
    last, _ = wait_states(sch, {"d": ["TASK_FINISHED", "TASK_FAILED"],
                                "ghost": ["TASK_FINISHED", "TASK_FAILED"]})
    assert last["d"]["state"] == "TASK_FINISHED", last["d"]
    assert read_sandbox(dcluster.slaves[0], "d", "stdout").split() == [str(NOBODY), "wrote"]
    sandbox = sandbox_of(dcluster.slaves[0], "d")
    for name in ("", "stdout", "mine"):
        assert os.stat(os.path.join(sandbox, name)).st_uid == NOBODY, name
    assert last["ghost"]["state"] == "TASK_FAILED", last["ghost"]
    assert "user 'agora-no-such-user' does not exist on this slave" in last["ghost"]["message"]


def test_slave_not_root_runs_tasks_only_as_itself(open_cluster):
    """A slave that does not run as root cannot switch: a task of another
    user fails saying so; one of the slave's own user runs."""
    c = open_cluster
    m = c.start_master()
    gid = pwd.getpwnam("nobody").pw_gid
    wd = os.path.join(c.tmp, "slave-nobody")
    os.makedirs(wd)
    os.chown(wd, NOBODY, gid)
    d = Daemon("agora-slave", wd,
               [f"--master=127.0.0.1:{m.port}", "--resources=cpus:2;mem:1024;disk:1000",
                "--isolation=none", "--containerizers=process", "--hostname=slave-nobody"],
               prefix=["setpriv", f"--reuid={NOBODY}", f"--regid={gid}", "--clear-groups"])
    c.slaves.append(d)
    d.start()
    c.wait_slaves(1)
    sch = SchedulerClient(m.url, name="hostsec")
    sch.subscribe()
    offer = sch.next_offers()[0]
    aid = offer["agent_id"]
    sch.launch(offer, [task_info("as-root", aid, "true"),  # FrameworkInfo.user: root
                       as_user(task_info("as-nobody", aid, "id -u"), "nobody")])
    got = sch.wait_updates({"as-root": ["TASK_FAILED", "TASK_FINISHED"],
                            "as-nobody": ["TASK_FAILED", "TASK_FINISHED"]}, timeout=30)
    st = got["as-root"]
    assert st["state"] == "TASK_FAILED", st
    assert "cannot run the task as user 'root': this slave does not run as root" in \
        st["message"], st
    assert got["as-nobody"]["state"] == "TASK_FINISHED", got["as-nobody"]
    assert read_sandbox(d, "as-nobody", "stdout").split() == [str(NOBODY)]


def test_unreachable_sandbox_is_named(cluster, tmp_path):
    """pytest's tmp_path lies under a 0700 directory of root's: nobody
    cannot enter a sandbox there, and the failure says so."""
    os.chmod(tmp_path, 0o700)
    sch = start(cluster)
    offer = sch.next_offers()[0]
    sch.launch(offer, [as_user(task_info("t", offer["agent_id"], "true"), "nobody")])
    st = sch.wait_update("t", ["TASK_FAILED", "TASK_FINISHED"], timeout=30)
    assert st["state"] == "TASK_FAILED", st
    assert "Failed to enter sandbox" in st["message"] and "as user nobody" in st["message"], st
    assert "Permission denied" in st["message"], st
