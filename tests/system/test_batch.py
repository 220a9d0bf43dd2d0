"""agora-batch end to end: one agora-master, three agora-slaves, 500 tasks.

Binaries come from $AGORA_BUILD_DIR/bin (default <repo>/build/bin). Every
daemon binds --port=0 and reports its port through --port_file; the test
waits for those files (never a fixed sleep), keeps each daemon's log in its
own file, prints the logs when the test fails, and kills every process it
started at teardown.

Run: /usr/bin/python3 -m pytest -q tests/system/test_batch.py
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.path.join(os.environ.get("AGORA_BUILD_DIR", os.path.join(REPO, "build")), "bin")
NUM_SLAVES = 3
SLAVE_RESOURCES = "cpus:4;mem:4096;disk:10000;ports:[31000-32000]"
STARTUP_DEADLINE = 20.0
BATCH_DEADLINE = 180.0


def _binary(name):
    path = os.path.join(BUILD_DIR, name)
    assert os.access(path, os.X_OK), f"{path} not built (set AGORA_BUILD_DIR)"
    return path


class Daemon:
    """One started process, its log file and (optionally) its port file."""

    def __init__(self, name, argv, workdir, port_file=None):
        self.name = name
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.port_file = port_file
        self.log = open(self.log_path, "wb")
        # Own process group: a kill reaches the daemon's children (task
        # monitors, tasks) too.
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_port(self, deadline):
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}")
            try:
                with open(self.port_file) as f:
                    text = f.read().strip()
                if text:
                    return int(text)
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"{self.name} did not write {self.port_file} in time")

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self.log.close()

    def tail(self, n=60):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


@pytest.fixture
def cluster(request):
    """A master and NUM_SLAVES slaves on loopback; yields the master's
    "127.0.0.1:PORT"."""
    workdir = tempfile.mkdtemp(prefix="agora-batch-test-")
    daemons = []
    failed = True
    # The call phase's report is logged before fixture teardown runs, so a
    # failure of the test body shows up here as a bump of testsfailed.
    failed_before = request.session.testsfailed
    try:
        master_port_file = os.path.join(workdir, "master.port")
        master = Daemon("master", [
            _binary("agora-master"), "--ip=127.0.0.1", "--port=0",
            f"--port_file={master_port_file}",
            f"--work_dir={os.path.join(workdir, 'master')}",
        ], workdir, master_port_file)
        daemons.append(master)
        deadline = time.monotonic() + STARTUP_DEADLINE
        master_addr = f"127.0.0.1:{master.wait_port(deadline)}"

        for i in range(NUM_SLAVES):
            pf = os.path.join(workdir, f"slave{i}.port")
            daemons.append(Daemon(f"slave{i}", [
                _binary("agora-slave"), "--ip=127.0.0.1", "--port=0",
                f"--port_file={pf}", f"--master={master_addr}",
                f"--work_dir={os.path.join(workdir, f'slave{i}')}",
                f"--resources={SLAVE_RESOURCES}",
            ], workdir, pf))
        for d in daemons[1:]:
            d.wait_port(deadline)

        yield {"master": master_addr, "workdir": workdir, "daemons": daemons}
        failed = request.session.testsfailed > failed_before
    finally:
        for d in reversed(daemons):
            d.stop()
        if failed:
            for d in daemons:
                print(f"----- {d.name} ({d.log_path}) -----\n{d.tail()}")
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


SUMMARY = re.compile(r"agora-batch: (\d+) tasks: (\d+) finished, (\d+) failed, (\d+) lost in "
                     r"([0-9.]+) s \(([0-9.]+) tasks/s\)")


def run_batch(master, *args, deadline=BATCH_DEADLINE):
    argv = [_binary("agora-batch"), f"--master={master}", *args,
            f"--timeout={int(deadline)}secs"]
    # The framework's own --timeout ends it cleanly (teardown); the
    # subprocess timeout is only the last resort.
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=deadline + 30, start_new_session=True)
    out = proc.stdout.decode(errors="replace")
    err = proc.stderr.decode(errors="replace")
    return proc.returncode, out, err


def test_batch_500_tasks(cluster):
    rc, out, err = run_batch(cluster["master"], "--tasks=500", "--cmd=true",
                             "--cpus=0.1", "--mem=16")
    print(out)
    print(err[-4000:])
    m = SUMMARY.search(out)
    assert m, f"no summary line in stdout: {out!r}"
    total, finished, failed, lost = (int(m.group(i)) for i in range(1, 5))
    assert (total, finished, failed, lost) == (500, 500, 0, 0), m.group(0)
    assert rc == 0


def test_batch_failed_tasks_exit_1(cluster):
    rc, out, err = run_batch(cluster["master"], "--tasks=5", "--cmd=exit 3",
                             "--cpus=0.1", "--mem=16", "--name=failing", deadline=60)
    m = SUMMARY.search(out)
    assert m, f"no summary line in stdout: {out!r}\n{err[-2000:]}"
    assert int(m.group(2)) == 0 and int(m.group(3)) == 5, m.group(0)
    assert rc == 1


def test_minimal(cluster):
    proc = subprocess.run([_binary("agora-minimal"), cluster["master"], "echo hi"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                          start_new_session=True)
    out = proc.stdout.decode(errors="replace")
    assert "is TASK_FINISHED" in out, out + proc.stderr.decode(errors="replace")[-2000:]
    assert proc.returncode == 0
