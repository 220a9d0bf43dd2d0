"""A Docker engine and a test image for the Docker system tests.

DockerEnv makes sure the engine answers: docker.io is installed by
deploy/install-deps.sh (tests/run.sh runs it); when no daemon answers on
/var/run/docker.sock this starts dockerd itself (and stops it at the end,
only then). The test image is built locally, without any registry:
`docker import` of a root filesystem made of Debian's busybox-static
(/bin/busybox and a symlink per applet: sh, httpd, sleep, ...).

Everything the tests create carries this session's label (DockerEnv.label,
agora.test=<uuid>, so that concurrent sessions on one engine leave each
other alone) or Agora's labels with the slave id of one of its slaves, and
is removed by the tests.
"""
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import uuid

DOCKER_SOCKET = "/var/run/docker.sock"
IMAGE = "agora-test-busybox:latest"
BUSYBOX = "/bin/busybox"


def docker_cli(*args, check=True, timeout=60, input_=None):
    """Run the docker CLI (tests only: the slave never does)."""
    r = subprocess.run(["docker"] + list(args), capture_output=True, timeout=timeout,
                       input=input_)
    if check and r.returncode != 0:
        raise AssertionError("docker %s failed (%d): %s" % (" ".join(args), r.returncode,
                                                           r.stderr.decode(errors="replace")))
    return r.stdout.decode(errors="replace")


def engine_get(path, socket_path=DOCKER_SOCKET, timeout=10):
    """GET on the Engine API over the unix socket: (status, parsed JSON or text)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(socket_path)
        s.sendall(("GET %s HTTP/1.0\r\nHost: docker\r\n\r\n" % path).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


def engine_answers():
    try:
        status, _ = engine_get("/_ping", timeout=3)
        return status == 200
    except OSError:
        return False


def build_rootfs_tar():
    """A tar of a busybox root filesystem, in memory."""
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, check=True,
                             text=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add_dir(name, mode=0o755):
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.DIRTYPE
            ti.mode = mode
            tar.addfile(ti)

        def add_file(name, data, mode=0o644):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = mode
            tar.addfile(ti, io.BytesIO(data))

        for d in ("bin", "etc", "proc", "sys", "dev", "www", "root", "var", "usr", "usr/bin"):
            add_dir(d)
        add_dir("tmp", 0o1777)
        with open(BUSYBOX, "rb") as f:
            add_file("bin/busybox", f.read(), 0o755)
        for a in applets:
            if a == "busybox":
                continue
            ti = tarfile.TarInfo("bin/" + a)
            ti.type = tarfile.SYMTYPE
            ti.linkname = "busybox"
            tar.addfile(ti)
        add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
        add_file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        add_file("www/index.html", b"hello from agora\n")
    return buf.getvalue()


def wait_previous_dockerd(pid_file="/var/run/docker.pid", timeout=60):
    """A dockerd that stops answering may still be shutting down (its pid
    file refuses a new daemon): wait for it to exit, and drop a pid file
    that no live process owns."""
    deadline = time.monotonic() + timeout
    while os.path.exists(pid_file):
        try:
            with open(pid_file) as f:
                pid = int(f.read().strip() or 0)
            os.kill(pid, 0)          # still alive: it is on its way out
        except (OSError, ValueError):
            os.unlink(pid_file)      # stale
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"a dockerd (pid {pid}) neither answers nor exits")
        time.sleep(0.2)


class DockerEnv:
    """The session's Docker engine and test image."""

    def __init__(self):
        self.dockerd = None
        self.tmp = None
        self.image = IMAGE
        self.label = "agora.test=" + uuid.uuid4().hex

    def start(self):
        if shutil.which("docker") is None or shutil.which("dockerd") is None:
            raise RuntimeError("docker.io is not installed (deploy/install-deps.sh installs it)")
        if not os.path.exists(BUSYBOX):
            raise RuntimeError("busybox-static is not installed (deploy/install-deps.sh)")
        if not engine_answers():
            wait_previous_dockerd()
            self.tmp = tempfile.mkdtemp(prefix="agora-dockerd-")
            log = open(os.path.join(self.tmp, "dockerd.log"), "w")
            # Our own session and process group: stopped by pid at the end.
            self.dockerd = subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
            log.close()
            deadline = time.monotonic() + 60
            while not engine_answers():
                if self.dockerd.poll() is not None or time.monotonic() > deadline:
                    with open(os.path.join(self.tmp, "dockerd.log"), errors="replace") as f:
                        raise RuntimeError("dockerd did not come up:\n" + f.read()[-3000:])
                time.sleep(0.2)
        rootfs = build_rootfs_tar()
        digest = hashlib.sha256(rootfs).hexdigest()[:16]
        status, info = engine_get("/images/%s/json" % self.image)
        labels = ((info.get("Config") or {}).get("Labels") or {}) if status == 200 else {}
        if labels.get("agora-test.rootfs") != digest:
            # Built once: a session finding the same image (same busybox) keeps it.
            docker_cli("import", "--change", "ENV PATH=/bin", "--change", 'CMD ["/bin/sh"]',
                       "--change", "LABEL agora-test.rootfs=" + digest, "-", self.image,
                       input_=rootfs, timeout=120)
        return self

    def containers(self, label):
        """Ids of every container (running or not) with label (k=v)."""
        out = docker_cli("ps", "-aq", "--no-trunc", "--filter", "label=" + label)
        return out.split()

    def remove_labelled(self, label):
        ids = self.containers(label)
        if ids:
            docker_cli("rm", "-f", *ids, check=False)

    def stop(self):
        if self.dockerd is not None and self.dockerd.poll() is None:
            self.dockerd.send_signal(signal.SIGTERM)
            try:
                self.dockerd.wait(30)
            except subprocess.TimeoutExpired:
                self.dockerd.kill()
                self.dockerd.wait(10)
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
