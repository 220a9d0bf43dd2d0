"""The Debian packages of `cmake --build build --target package`
(cmake/AgoraPackaging.cmake).

test_contents reads the .deb files (dpkg-deb): what each package holds,
its Depends/Recommends, its conffiles and its units. test_installed
installs them for real with apt-get (which resolves their Depends), then
runs what the packages installed the way their systemd units would
(ExecStart, User=, EnvironmentFile=): a master, a slave, agora-batch, Pacer
and pacer-lb from /usr/bin, with the source and build trees hidden from
them (a tmpfs mounted over each in a private mount namespace), and a
framework built against libagora-scheduler-dev with pkg-config alone;
then it purges the packages. That changes the machine (/usr/bin, /etc,
the agora user), so it runs only with AGORA_TEST_SYSTEM_INSTALL=1, which
tests/run.sh sets when it runs as root (CI's throwaway machines); the
rest of the suite never looks in /usr/bin (agora_harness.binary reads
AGORA_BUILD_DIR only)."""
import glob
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile

import pytest
import requests

from agora_harness import BUILD, REPO, Daemon, kill_sandbox_processes, wait_for

VERSION_RE = re.compile(r"^project\(agora VERSION (\S+)", re.M)
PACKAGES = ("agora", "agora-pacer-lb", "libagora-scheduler1", "libagora-scheduler-dev")
SYSTEM_INSTALL = os.environ.get("AGORA_TEST_SYSTEM_INSTALL") == "1"


def run(argv, timeout=300, env=None, check=True):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                       env=env)
    out = p.stdout.decode(errors="replace")
    if check:
        assert p.returncode == 0, f"{' '.join(argv)} exited {p.returncode}:\n{out[-6000:]}"
    return out


def project_version():
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        return VERSION_RE.search(f.read()).group(1)


@pytest.fixture(scope="module")
def debs():
    """{package: path of its .deb}, made from AGORA_BUILD_DIR now."""
    out = os.path.join(BUILD, "packages")
    for old in glob.glob(os.path.join(out, "*.deb")) + glob.glob(os.path.join(out, "*.ddeb")):
        os.unlink(old)
    run(["cmake", "--build", BUILD, "--target", "package"], timeout=600)
    found = {}
    for path in glob.glob(os.path.join(out, "*.deb")):
        name = run(["dpkg-deb", "-f", path, "Package"]).strip()
        found[name] = path
    assert sorted(found) == sorted(PACKAGES), f"packages made: {found}"
    return found


def field(deb, name):
    return run(["dpkg-deb", "-f", deb, name]).strip()


def contents(deb):
    """{path: (mode string, link target or None)} of a .deb's files."""
    files = {}
    for line in run(["dpkg-deb", "-c", deb]).splitlines():
        parts = line.split()
        path = parts[5].lstrip(".")
        files[path.rstrip("/") or "/"] = (parts[0], parts[7] if len(parts) > 7 else None)
    return files


def control_file(deb, name, tmp):
    d = tempfile.mkdtemp(dir=tmp)
    run(["dpkg-deb", "-e", deb, d])
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return f.read()


def deb_file(deb, path):
    """The text of one file of a .deb."""
    tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE, check=True)
    p = subprocess.run(["tar", "-xO", "." + path], input=tar.stdout, stdout=subprocess.PIPE,
                       check=True)
    return p.stdout.decode()


def unit_settings(text):
    """{key: value} of the [Service] section of a unit file."""
    out, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k] = v
    return out


def env_file(path):
    """The variables of a systemd EnvironmentFile (KEY=value lines)."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, v = line.split("=", 1)
                env[k] = v.strip('"')
    return env


DAEMON_UNITS = {"agora": ["agora-master", "agora-slave", "agora-pacer"],
                "agora-pacer-lb": ["agora-pacer-lb"]}


# The first test's setup runs the package target (CPack, dpkg-shlibdeps,
# debug info split): about 20 s alone, minutes on a loaded machine.
@pytest.mark.timeout(600)
def test_contents(debs, tmp_path):
    version = project_version()
    for name, deb in debs.items():
        assert field(deb, "Version") == version, name
        assert field(deb, "Architecture") == run(["dpkg", "--print-architecture"]).strip()

    agora = contents(debs["agora"])
    for prog in ("agora-master", "agora-slave", "agora-pacer", "agora-batch"):
        assert agora[f"/usr/bin/{prog}"][0] == "-rwxr-xr-x", prog
    if os.path.exists(os.path.join(BUILD, "bin", "agora")):
        assert "/usr/bin/agora" in agora, "the CLI is built but not packaged"
    lb = contents(debs["agora-pacer-lb"])
    assert "/usr/bin/agora-pacer-lb" in lb and "/usr/bin/agora-pacer-lb" not in agora

    # Units and their environment files (conffiles), per package.
    for pkg, units in DAEMON_UNITS.items():
        files = contents(debs[pkg])
        conffiles = control_file(debs[pkg], "conffiles", tmp_path).split()
        for u in units:
            unit = unit_settings(deb_file(debs[pkg], f"/usr/lib/systemd/system/{u}.service"))
            assert unit["ExecStart"] == f"/usr/bin/{u}", unit
            assert unit["EnvironmentFile"] == f"/etc/default/{u}", unit
            assert unit["Restart"] == "always", unit
            assert f"/etc/default/{u}" in files and f"/etc/default/{u}" in conffiles
        for script in ("postinst", "prerm", "postrm"):
            assert control_file(debs[pkg], script, tmp_path).startswith("#!/bin/sh"), script
    for name, deb in debs.items():
        assert f"/usr/share/doc/{name}/copyright" in contents(deb), name
    conffiles = control_file(debs["agora"], "conffiles", tmp_path).split()
    etc = sorted(p for p, (mode, _) in agora.items() if p.startswith("/etc/") and mode[0] == "-")
    assert etc == sorted(conffiles), "every file under /etc is a conffile"
    assert "/etc/agora/zoo.cfg.example" in etc

    # Depends from dpkg-shlibdeps: the libraries the binaries are linked to.
    depends = field(debs["agora"], "Depends")
    for lib in ("libevent-2.1-7", "libjansson4", "libprotobuf-c1", "libzookeeper-mt2",
                "libssl3", "libcurl4", "libuuid1", "zlib1g", "adduser"):
        assert re.search(rf"(^|, ){re.escape(lib)}( |,|$)", depends), f"{lib} not in {depends}"
    assert "docker.io" in field(debs["agora"], "Suggests")
    assert "zookeeper" in field(debs["agora"], "Suggests")
    assert field(debs["agora-pacer-lb"], "Recommends").startswith("haproxy")

    # The SDK split: the runtime holds the versioned library only.
    rt = contents(debs["libagora-scheduler1"])
    assert rt["/usr/lib/libagora-scheduler.so.1"][1] == f"libagora-scheduler.so.{version}"
    assert f"/usr/lib/libagora-scheduler.so.{version}" in rt
    assert not [p for p in rt if p.endswith((".h", ".a", ".pc")) or p.endswith(".so")]
    shlibs = control_file(debs["libagora-scheduler1"], "shlibs", tmp_path)
    assert shlibs.split()[:3] == ["libagora-scheduler", "1", "libagora-scheduler1"], shlibs
    dev = contents(debs["libagora-scheduler-dev"])
    for p in ("/usr/include/agora/scheduler.h", "/usr/include/agora/mesos.pb-c.h",
              "/usr/lib/libagora-scheduler.a", "/usr/lib/pkgconfig/agora-scheduler.pc",
              "/usr/lib/pkgconfig/agora-scheduler-static.pc",
              "/usr/lib/cmake/AgoraScheduler/AgoraSchedulerConfig.cmake"):
        assert p in dev, p
    assert dev["/usr/lib/libagora-scheduler.so"][1] == "libagora-scheduler.so.1"
    dev_depends = field(debs["libagora-scheduler-dev"], "Depends")
    assert f"libagora-scheduler1 (= {version})" in dev_depends, dev_depends
    assert "libprotobuf-c-dev" in dev_depends and "libzookeeper-mt-dev" in dev_depends

    # Stripped programs and library; their debug information is in
    # <package>-dbgsym .ddeb files, keyed by build id.
    root = tempfile.mkdtemp(dir=tmp_path)
    for pkg in ("agora", "agora-pacer-lb", "libagora-scheduler1"):
        run(["dpkg-deb", "-x", debs[pkg], root])
        ddeb = os.path.join(os.path.dirname(debs[pkg]), f"{pkg}-dbgsym_{version}_"
                            f"{field(debs[pkg], 'Architecture')}.ddeb")
        assert field(ddeb, "Depends") == f"{pkg} (= {version})", ddeb
        assert [p for p in contents(ddeb) if p.endswith(".debug")], ddeb
    for elf in glob.glob(f"{root}/usr/bin/*") + glob.glob(f"{root}/usr/lib/*.so.*"):
        if not os.path.islink(elf):
            assert ".debug_info" not in run(["readelf", "-S", "-W", elf]), elf

    # Nothing installed names the build tree (the units, the .pc files,
    # the CMake package).
    for deb, path in ((debs["agora"], "/usr/lib/systemd/system/agora-master.service"),
                      (debs["libagora-scheduler-dev"], "/usr/lib/pkgconfig/agora-scheduler.pc"),
                      (debs["libagora-scheduler-dev"],
                       "/usr/lib/cmake/AgoraScheduler/AgoraSchedulerConfig.cmake")):
        text = deb_file(deb, path)
        assert os.path.realpath(BUILD) not in text and REPO not in text, path


def installed(pkg):
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    return p.returncode == 0 and b"install ok installed" in p.stdout


def apt(*args):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # Other jobs on the machine may hold dpkg's lock for a while.
    return run(["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=120", *args], env=env,
               timeout=300)


@pytest.fixture
def system_install(debs):
    """The four packages installed with apt-get (their dependencies from
    the configured Debian mirror when missing), purged at teardown, with
    the agora user removed when this test created it."""
    if not SYSTEM_INSTALL:
        pytest.skip("installs into the system: set AGORA_TEST_SYSTEM_INSTALL=1 "
                    "(tests/run.sh does as root)")
    if os.geteuid() != 0:
        pytest.fail("AGORA_TEST_SYSTEM_INSTALL=1 needs root")
    before = [p for p in PACKAGES if installed(p)]
    if before:
        pytest.skip(f"{', '.join(before)} already installed here: not touching them")
    had_user = subprocess.run(["getent", "passwd", "agora"],
                              stdout=subprocess.DEVNULL).returncode == 0
    try:
        print(apt("install", "--no-install-recommends", *debs.values()))
        yield
    finally:
        print(apt("purge", *PACKAGES))
        if not had_user:
            subprocess.run(["deluser", "--system", "agora"], stdout=subprocess.DEVNULL)
            subprocess.run(["delgroup", "--system", "agora"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    for p in PACKAGES:
        assert not installed(p), f"{p} is still installed"
    assert not os.path.exists("/usr/bin/agora-master")
    assert not os.path.exists("/etc/default/agora-master"), "purge leaves conffiles"


def hidden_trees():
    """The source and build trees (one tmpfs over each)."""
    trees = [os.path.realpath(REPO)]
    b = os.path.realpath(BUILD)
    if not b.startswith(trees[0] + os.sep):
        trees.append(b)
    return trees


def as_unit(name, work, *args, **kw):
    """A Daemon that runs /usr/bin/NAME as its systemd unit would: the
    unit's ExecStart, its User=, the variables of its EnvironmentFile=
    (the flags given here win, as they would on ExecStart), with the
    source and build trees hidden. work: its work dir (made, and owned by
    the unit's user)."""
    unit = unit_settings(open(f"/usr/lib/systemd/system/{name}.service").read())
    env = env_file(unit["EnvironmentFile"])
    hide = " && ".join(f'mount -t tmpfs -o size=1m agora-hidden "{t}"' for t in hidden_trees())
    prefix = ["unshare", "--mount", "--", "sh", "-c", f'{hide} && exec "$@"', "sh"]
    os.makedirs(work)
    if "User" in unit:
        pw = pwd.getpwnam(unit["User"])
        os.chown(work, pw.pw_uid, pw.pw_gid)
        prefix += ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups"]
    d = Daemon(unit["ExecStart"], work, list(args), env=env, prefix=prefix, **kw)
    return d, env


def test_installed(debs, system_install, tmp_path):
    """Installed on this (Debian 12) machine, the packages' programs run
    as their units say, without the trees they were built from."""
    version = project_version()
    out = run(["/usr/bin/agora-master", "--version"]).strip()
    assert out == f"agora-master {version}", out
    for prog in ("agora-slave", "agora-pacer", "agora-pacer-lb", "agora-batch"):
        assert "--" in run([f"/usr/bin/{prog}", "--help"]), prog
    assert subprocess.run(["getent", "passwd", "agora"], stdout=subprocess.DEVNULL).returncode == 0
    confs = run(["dpkg-query", "-W", "-f=${Conffiles}", "agora"])
    assert "/etc/default/agora-master" in confs, confs
    # systemd's own check of the installed units (syntax, ExecStart exists),
    # which works without systemd running.
    units = [f"/usr/lib/systemd/system/{u}.service" for us in DAEMON_UNITS.values() for u in us]
    if shutil.which("systemd-analyze"):
        out = run(["systemd-analyze", "verify", "--man=no", *units],
                  env=dict(os.environ, SYSTEMD_LOG_LEVEL="warning"))
        assert "agora" not in out, out

    # Work dirs the agora user can reach (pytest's tmp_path is root's 0700).
    tmp = tempfile.mkdtemp(prefix="agora-pkg-", dir="/tmp")
    os.chmod(tmp, 0o755)
    daemons = []
    try:
        master, env = as_unit("agora-master", f"{tmp}/master")
        assert env["AGORA_WORK_DIR"] == "/var/lib/agora/master"  # overridden by --work_dir
        daemons.append(master.start())
        # It runs as the unit's user, and sees neither tree.
        with open(f"/proc/{master.proc.pid}/status") as f:
            uid = re.search(r"^Uid:\s+(\d+)", f.read(), re.M).group(1)
        assert int(uid) == pwd.getpwnam("agora").pw_uid
        for t in hidden_trees():
            assert os.listdir(f"/proc/{master.proc.pid}/root{t}") == [], t
        assert requests.get(master.url + "/health", timeout=5).status_code == 200
        ui = requests.get(master.url + "/", timeout=5)
        assert ui.status_code == 200 and "<html" in ui.text.lower(), ui.text[:300]
        addr = f"127.0.0.1:{master.port}"

        slave, _ = as_unit("agora-slave", f"{tmp}/slave", f"--master={addr}",
                           "--isolation=none", "--resources=cpus:2;mem:1024;ports:[31000-31100]")
        daemons.append(slave.start())
        wait_for(lambda: [s for s in requests.get(master.url + "/master/state", timeout=5)
                          .json()["slaves"] if s["active"]], 20, what="the slave registered")
        run(["/usr/bin/agora-batch", f"--master={addr}", "--tasks=3", "--cmd=true",
             "--timeout=60secs"], timeout=90)
        if os.path.exists(os.path.join(BUILD, "bin", "agora")):
            # The CLI, as an operator on the host would call it.
            summary = json.loads(run(["/usr/bin/agora", f"--master={addr}", "--json", "cluster"]))
            assert summary, summary

        pacer, _ = as_unit("agora-pacer", f"{tmp}/pacer", f"--master={addr}", "--http_port=0")
        daemons.append(pacer.start())
        wait_for(lambda: requests.get(pacer.url + "/v2/info", timeout=5).json()["frameworkId"],
                 20, what="Pacer subscribed")

        lb, _ = as_unit("agora-pacer-lb", f"{tmp}/lb", f"--marathon={pacer.url}",
                        "--http_port=0", "--stats_port=0")
        daemons.append(lb.start())
        wait_for(lambda: requests.get(lb.url + "/health", timeout=5).status_code == 200, 20,
                 what="pacer-lb healthy")

        # libagora-scheduler-dev: a framework built with the system's
        # pkg-config alone, linked to the packaged library, run on the
        # installed cluster.
        exe = os.path.join(tmp, "sdk-app")
        cflags = run(["pkg-config", "--cflags", "--libs", "agora-scheduler"]).split()
        run(["cc", "-std=c11", "-o", exe, os.path.join(REPO, "tests", "sdk", "sdk_app.c"), *cflags])
        ldd = run(["ldd", exe])
        assert re.search(r"libagora-scheduler\.so\.1 => /(usr/)?lib/libagora-scheduler\.so\.1",
                         ldd), ldd
        run([exe, addr, "3"], timeout=90)
    except BaseException:
        for d in daemons:
            print(d.log())
        raise
    finally:
        for d in reversed(daemons):
            d.stop()
        kill_sandbox_processes(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
