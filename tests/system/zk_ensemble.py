"""A real 3-node ZooKeeper ensemble on loopback ports, from Debian's
zookeeper package, for the HA system tests.

The servers run QuorumPeerMain from /usr/share/java/zookeeper.jar (its
manifest names the jars it needs) with tickTime=500ms, so sessions may be
as short as 1s. Readiness is checked with the `srvr` four-letter word and a
deadline. Nodes can be stopped and started one by one; the session-scoped
fixture `zk_ensemble` stops everything at the end.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

ZK_JAR = "/usr/share/java/zookeeper.jar"
JAVA = shutil.which("java") or "/usr/bin/java"
TICK_MS = 500


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def four_letter(port, cmd, timeout=1.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(cmd.encode())
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
    return out.decode(errors="replace")


class ZkNode:
    def __init__(self, myid, root, client_port):
        self.myid = myid
        self.dir = os.path.join(root, f"zk{myid}")
        self.client_port = client_port
        self.proc = None
        self.starts = 0

    def mode(self):
        """'leader', 'follower', 'standalone', or None when not serving."""
        try:
            out = four_letter(self.client_port, "srvr")
        except OSError:
            return None
        for line in out.splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class ZkEnsemble:
    def __init__(self, root, n=3):
        self.root = root
        ports = free_ports(3 * n)
        self.nodes = [ZkNode(i + 1, root, ports[3 * i]) for i in range(n)]
        servers = "\n".join(
            f"server.{i + 1}=127.0.0.1:{ports[3 * i + 1]}:{ports[3 * i + 2]}" for i in range(n))
        for node in self.nodes:
            os.makedirs(os.path.join(node.dir, "data"), exist_ok=True)
            with open(os.path.join(node.dir, "data", "myid"), "w") as f:
                f.write(f"{node.myid}\n")
            with open(os.path.join(node.dir, "zoo.cfg"), "w") as f:
                f.write(f"""tickTime={TICK_MS}
initLimit=10
syncLimit=4
dataDir={node.dir}/data
clientPort={node.client_port}
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
autopurge.purgeInterval=0
{servers}
""")

    @property
    def hosts(self):
        return ",".join(f"127.0.0.1:{n.client_port}" for n in self.nodes)

    def url(self, chroot):
        return f"zk://{self.hosts}/{chroot.strip('/')}"

    def start_node(self, i):
        node = self.nodes[i]
        if node.alive():
            return
        node.starts += 1
        log = open(os.path.join(node.dir, f"log.{node.starts}"), "w")
        node.proc = subprocess.Popen(
            [JAVA, "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
             "-Dzookeeper.admin.enableServer=false", "-Dzookeeper.jmx.log4j.disable=true",
             "-cp", ZK_JAR, "org.apache.zookeeper.server.quorum.QuorumPeerMain",
             os.path.join(node.dir, "zoo.cfg")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()

    def stop_node(self, i, sig=signal.SIGKILL):
        node = self.nodes[i]
        if node.alive():
            node.proc.send_signal(sig)
            node.proc.wait(15)
        node.proc = None

    def node_of(self, pid):
        """Index of the node a process has its ZooKeeper connection to (from
        its socket inodes in /proc), or None."""
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
        ports = {n.client_port: i for i, n in enumerate(self.nodes)}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            if not os.path.exists(table):
                continue
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    rport = int(cols[2].split(":")[1], 16)
                    if cols[9] in inodes and rport in ports and cols[3] == "01":
                        return ports[rport]
        return None

    def running(self):
        return [i for i, n in enumerate(self.nodes) if n.alive()]

    def wait_quorum(self, timeout=60.0):
        """Every running node serves, one of them as leader."""
        deadline = time.monotonic() + timeout
        modes = []
        while time.monotonic() < deadline:
            modes = [self.nodes[i].mode() for i in self.running()]
            if modes and all(modes) and modes.count("leader") == 1:
                return modes
            time.sleep(0.1)
        raise AssertionError(f"ZooKeeper quorum not formed within {timeout}s: {modes}\n"
                             + self.logs())

    def start(self, timeout=60.0):
        for i in range(len(self.nodes)):
            self.start_node(i)
        self.wait_quorum(timeout)
        return self

    def ensure_all_running(self, timeout=60.0):
        if len(self.running()) != len(self.nodes) or \
                any(self.nodes[i].mode() is None for i in self.running()):
            for i in range(len(self.nodes)):
                self.start_node(i)
            self.wait_quorum(timeout)

    def logs(self):
        out = []
        for n in self.nodes:
            for k in range(1, n.starts + 1):
                p = os.path.join(n.dir, f"log.{k}")
                if os.path.exists(p):
                    with open(p, errors="replace") as f:
                        out.append(f"----- zookeeper {n.myid} run {k} -----\n" + f.read()[-5000:])
        return "\n".join(out)

    def shutdown(self):
        for i in range(len(self.nodes)):
            self.stop_node(i)


def zk_available():
    return os.path.exists(ZK_JAR) and os.path.exists(JAVA)


@pytest.fixture(scope="session")
def zk_ensemble():
    """One 3-node ensemble for the whole session; tests use their own chroot
    (ensemble.url('agora-<test>')) and leave every node running."""
    if not zk_available():
        pytest.fail(f"ZooKeeper server not installed ({ZK_JAR}, {JAVA}): "
                    "run deploy/install-deps.sh")
    root = tempfile.mkdtemp(prefix="agora-zk-")
    ens = ZkEnsemble(root)
    try:
        ens.start()
        yield ens
    finally:
        ens.shutdown()
        shutil.rmtree(root, ignore_errors=True)
