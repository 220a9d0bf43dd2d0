"""libagora-scheduler as an installed SDK: `cmake --install` of the build
into a temporary prefix (then moved, so nothing may point back at the build
tree or at the first prefix), the exports of the shared and static
libraries, the public headers on their own, and tests/sdk/ (an out-of-tree
framework) built against the prefix with pkg-config and with
find_package(AgoraScheduler), shared and static, each run on a real
cluster until its tasks finished."""
import glob
import os
import re
import shutil
import subprocess

import pytest

from agora_harness import BUILD, REPO

SDK_SRC = os.path.join(REPO, "tests", "sdk")
NTASKS = 6
RUN_DEADLINE = 90
# Symbols a linker may add to any shared object's dynamic table.
STANDARD = {"_init", "_fini"}


def run(argv, env=None, cwd=None, timeout=300):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                       timeout=timeout)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, f"{' '.join(argv)} exited {p.returncode}:\n{out[-6000:]}"
    return out


def sanitized():
    """A build with AGORA_SANITIZE=ON: its libraries need the sanitizer
    runtimes, so the framework is built with the same flags."""
    with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
        return re.search(r"^AGORA_SANITIZE:BOOL=(ON|1|TRUE)$", f.read(), re.M) is not None


SAN_FLAGS = ["-fsanitize=address,undefined"] if os.path.exists(
    os.path.join(BUILD, "CMakeCache.txt")) and sanitized() else []


class Sdk:
    def __init__(self, prefix):
        self.prefix = prefix
        pcs = glob.glob(os.path.join(prefix, "**", "pkgconfig", "agora-scheduler.pc"),
                        recursive=True)
        assert len(pcs) == 1, f"agora-scheduler.pc installed {len(pcs)} times: {pcs}"
        self.pkgconfig = os.path.dirname(pcs[0])
        self.libdir = os.path.dirname(self.pkgconfig)
        self.include = os.path.join(prefix, "include")

    def env(self):
        e = dict(os.environ)
        e["PKG_CONFIG_PATH"] = self.pkgconfig
        e.pop("PKG_CONFIG_LIBDIR", None)
        return e

    def pkg(self, *args):
        return run(["pkg-config", *args], env=self.env()).split()

    def shared_lib(self):
        libs = glob.glob(os.path.join(self.libdir, "libagora-scheduler.so.*"))
        sonames = [p for p in libs if re.search(r"\.so\.\d+$", p)]
        assert len(sonames) == 1, f"want one libagora-scheduler.so.N, have {libs}"
        return sonames[0]


@pytest.fixture(scope="module")
def sdk(tmp_path_factory):
    """The SDK installed from AGORA_BUILD_DIR, then moved elsewhere."""
    tmp = tmp_path_factory.mktemp("sdk")
    staged = os.path.join(tmp, "staged")
    out = run(["cmake", "--install", BUILD, "--prefix", staged])
    print(out)
    prefix = os.path.join(tmp, "prefix")
    shutil.move(staged, prefix)
    return Sdk(prefix)


@pytest.fixture(scope="module")
def apps(sdk, tmp_path_factory):
    """tests/sdk built four ways; {variant: path of the binary}."""
    tmp = str(tmp_path_factory.mktemp("apps"))
    src = os.path.join(SDK_SRC, "sdk_app.c")
    warn = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter"]
    built = {}
    # The README's lines: pkg-config, shared and static.
    for variant, module in (("pkgconfig", "agora-scheduler"),
                            ("pkgconfig-static", "agora-scheduler-static")):
        exe = os.path.join(tmp, variant)
        run(["cc", *warn, *SAN_FLAGS, "-o", exe, src, *sdk.pkg("--cflags", "--libs", module)])
        built[variant] = exe
    # find_package(AgoraScheduler): tests/sdk/CMakeLists.txt.
    for variant, static in (("cmake", "OFF"), ("cmake-static", "ON")):
        bdir = os.path.join(tmp, variant + "-build")
        flags = " ".join(SAN_FLAGS)
        run(["cmake", "-S", SDK_SRC, "-B", bdir, f"-DCMAKE_PREFIX_PATH={sdk.prefix}",
             f"-DSDK_STATIC={static}", f"-DCMAKE_C_FLAGS={flags}",
             f"-DCMAKE_EXE_LINKER_FLAGS={flags}"], env=sdk.env())
        run(["cmake", "--build", bdir])
        built[variant] = os.path.join(bdir, "sdk-app")
    return built


def defined_symbols(argv):
    out = run(argv)
    syms = []
    for line in out.splitlines():
        parts = line.split()
        # "ADDRESS TYPE NAME"; archive member headers and blanks are skipped.
        if len(parts) == 3 and re.fullmatch(r"[0-9a-f]+", parts[0]):
            syms.append(parts[2].split("@")[0])
    assert syms, f"{' '.join(argv)} listed no symbol:\n{out[:2000]}"
    return syms


def header_text(sdk):
    text = ""
    for h in glob.glob(os.path.join(sdk.include, "agora", "*.h")):
        with open(h) as f:
            text += f.read()
    return text


def check_exports(syms, sdk, what):
    bad = sorted(s for s in syms if not s.startswith("agora_") and s not in STANDARD)
    assert not bad, f"{what} exports {len(bad)} non-agora_ symbols: {bad[:40]}"
    # Every export is part of the installed headers' API...
    text = header_text(sdk)
    undeclared = sorted(s for s in syms if s.startswith("agora_") and
                        not re.search(r"\b" + re.escape(s) + r"\b", text))
    assert not undeclared, f"{what} exports symbols no installed header names: {undeclared[:40]}"
    # ...and every function scheduler.h declares is exported.
    with open(os.path.join(sdk.include, "agora", "scheduler.h")) as f:
        api = set(re.findall(r"\b(agora_\w+)\s*\(", f.read()))
    missing = sorted(api - set(syms))
    assert not missing, f"{what} lacks functions of scheduler.h: {missing}"


def test_shared_library_exports_only_the_api(sdk):
    so = sdk.shared_lib()
    dyn = run(["readelf", "-d", so])
    m = re.search(r"\(SONAME\)\s+Library soname: \[(.+?)\]", dyn)
    assert m and m.group(1) == os.path.basename(so), f"SONAME of {so}: {m and m.group(1)}"
    assert os.path.abspath(BUILD) not in dyn, f"{so} has a run path into the build tree:\n{dyn}"
    assert os.path.exists(os.path.join(sdk.libdir, "libagora-scheduler.so")), "no dev symlink"
    syms = defined_symbols(["nm", "-D", "--defined-only", so])
    print(f"{os.path.basename(so)}: {len(syms)} exported symbols, all agora_*")
    check_exports(syms, sdk, os.path.basename(so))
    # The internals the issue saw leaking stay inside.
    for internal in ("xmalloc", "log_msg", "log_set_level", "res_add", "pbjson_to_json"):
        assert internal not in syms


def test_static_library_is_one_object_with_only_the_api_global(sdk):
    a = os.path.join(sdk.libdir, "libagora-scheduler.a")
    members = run(["ar", "t", a]).split()
    assert len(members) == 1, f"libagora-scheduler.a holds {members}"
    syms = defined_symbols(["nm", "-g", "--defined-only", a])
    check_exports(syms, sdk, "libagora-scheduler.a")


def test_installed_files_do_not_point_at_the_build_tree(sdk):
    for path in glob.glob(os.path.join(sdk.prefix, "**", "*"), recursive=True):
        if os.path.isfile(path) and not re.search(r"\.(so(\.\d+)*|a)$", path):
            with open(path, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    continue  # programs: source file names for their log lines only
            with open(path, errors="replace") as f:
                text = f.read()
            assert os.path.abspath(BUILD) not in text, f"{path} names the build tree"
            # systemd units name their programs by absolute path, as they must.
            if "/lib/systemd/" not in path:
                assert "/staged" not in text, f"{path} names the prefix it was installed to"


def test_public_header_compiles_from_the_prefix_alone(sdk, tmp_path):
    src = tmp_path / "h.c"
    src.write_text("#include <agora/scheduler.h>\n"
                   "int main(void) { Mesos__V1__TaskID id = MESOS__V1__TASK_ID__INIT;\n"
                   "  return agora_task_state_terminal(MESOS__V1__TASK_STATE__TASK_FINISHED)"
                   " && id.value == 0 ? 0 : 1; }\n")
    cflags = sdk.pkg("--cflags", "agora-scheduler")
    assert all(not f.startswith("-I") or f.startswith("-I" + sdk.prefix) for f in cflags), cflags
    run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", *cflags, str(src)],
        cwd=str(tmp_path))
    # C++ frameworks include it too.
    if shutil.which("c++"):
        run(["c++", "-Wall", "-Werror", "-fsyntax-only", "-x", "c++", *cflags, str(src)],
            cwd=str(tmp_path))


@pytest.fixture
def sdk_cluster(cluster):
    cluster.start_master()
    for _ in range(2):
        cluster.add_slave(resources="cpus:1;mem:256;disk:1000;ports:[31000-31010]")
    cluster.wait_slaves(2)
    return cluster


@pytest.mark.parametrize("variant", ["pkgconfig", "pkgconfig-static", "cmake", "cmake-static"])
def test_out_of_tree_framework_runs(sdk, apps, sdk_cluster, variant):
    exe = apps[variant]
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", run(["readelf", "-d", exe]))
    uses_so = any(n.startswith("libagora-scheduler.so") for n in needed)
    assert uses_so == (not variant.endswith("static")), f"{variant} needs {needed}"
    env = dict(os.environ)
    if variant == "pkgconfig":  # no rpath: found through the loader path
        env["LD_LIBRARY_PATH"] = sdk.libdir
    if uses_so:
        ldd = run(["ldd", exe], env=env)
        m = re.search(r"libagora-scheduler\.so\.\d+ => (\S+)", ldd)
        assert m and m.group(1).startswith(sdk.prefix), f"{variant} loads:\n{ldd}"
    p = subprocess.run([exe, f"127.0.0.1:{sdk_cluster.master.port}", str(NTASKS)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                       timeout=RUN_DEADLINE, start_new_session=True)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    print(out)
    assert p.returncode == 0, f"{variant} exited {p.returncode}\n{out[-3000:]}\n{err[-3000:]}"
    assert f"sdk-app: {NTASKS} tasks: {NTASKS} finished, 0 failed" in out, out[-3000:]
    # The master saw the framework's tasks finish.
    state = sdk_cluster.state()
    tasks = [t for f in state["frameworks"] + state.get("completed_frameworks", [])
             if f["name"] == "sdk-app" for t in f.get("tasks", []) + f.get("completed_tasks", [])]
    finished = sorted(t["id"] for t in tasks if t["state"] == "TASK_FINISHED")
    assert finished == sorted(f"sdk-{i}" for i in range(NTASKS)), tasks


def test_tutorial_framework_builds_and_runs_against_the_sdk(sdk, sdk_cluster, tmp_path):
    """agora-minimal (docs/tutorial.md) needs nothing but the installed SDK."""
    exe = str(tmp_path / "minimal")
    src = os.path.join(REPO, "frameworks", "examples", "minimal.c")
    run(["cc", "-std=c11", "-Wall", "-Werror", *SAN_FLAGS, "-o", exe, src,
         *sdk.pkg("--cflags", "--libs", "agora-scheduler"), f"-Wl,-rpath,{sdk.libdir}"])
    p = subprocess.run([exe, f"127.0.0.1:{sdk_cluster.master.port}", "echo built outside"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=RUN_DEADLINE,
                       start_new_session=True)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, f"exited {p.returncode}\n{out}\n{p.stderr.decode()[-3000:]}"
    assert "task hello-1 is TASK_FINISHED" in out, out


def test_minimal_framework_stays_small():
    """Issue 15: agora-minimal stays at 60 lines or fewer."""
    with open(os.path.join(REPO, "frameworks", "examples", "minimal.c")) as f:
        n = len(f.read().splitlines())
    assert n <= 60, f"frameworks/examples/minimal.c has {n} lines"


def test_tutorial_code_is_the_compiled_code():
    """Every C block of docs/tutorial.md is part of a file the tests build
    and run (frameworks/examples/minimal.c above; tests/sdk/failover_app.c
    in test_sdk_failover.py), so the tutorial cannot drift from code that
    compiles."""
    def norm(text):
        return re.sub(r"\s+", " ", text).strip()

    with open(os.path.join(REPO, "docs", "tutorial.md")) as f:
        blocks = re.findall(r"^```c\n(.*?)^```", f.read(), re.M | re.S)
    sources = {}
    for rel in ("frameworks/examples/minimal.c", "tests/sdk/failover_app.c"):
        with open(os.path.join(REPO, rel)) as f:
            sources[rel] = norm(f.read())
    assert len(blocks) >= 8, f"only {len(blocks)} C blocks in the tutorial"
    for b in blocks:
        found = [rel for rel, text in sources.items() if norm(b) in text]
        assert found, "docs/tutorial.md shows code that no compiled file holds:\n" + b


def test_testkit_installed_and_usable_out_of_tree(sdk, tmp_path):
    """libagora-testkit from the prefix: only agora_testkit_* exported, and
    its own test (tests/testkit/test_testkit.c: a framework survives a
    master kill and a slave partition) built against the installed SDK
    alone and run with the build's daemons."""
    libs = glob.glob(os.path.join(sdk.libdir, "libagora-testkit.so.*"))
    so = [p for p in libs if re.search(r"\.so\.\d+$", p)]
    assert len(so) == 1, libs
    syms = defined_symbols(["nm", "-D", "--defined-only", so[0]])
    bad = sorted(s for s in syms if not s.startswith("agora_testkit_") and s not in STANDARD)
    assert not bad, f"libagora-testkit exports {bad[:40]}"
    exe = str(tmp_path / "test_testkit")
    run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", *SAN_FLAGS,
         "-pthread", "-o", exe, os.path.join(REPO, "tests", "testkit", "test_testkit.c"),
         *sdk.pkg("--cflags", "--libs", "agora-testkit", "agora-scheduler"),
         f"-Wl,-rpath,{sdk.libdir}"])
    env = dict(os.environ, AGORA_BIN_DIR=os.path.join(BUILD, "bin"), TMPDIR=str(tmp_path))
    p = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                       timeout=RUN_DEADLINE * 2)
    out = p.stdout.decode(errors="replace")
    print(out[-3000:])
    assert p.returncode == 0 and "PASSED" in out, out[-6000:]
    assert "step 2: partition healed" in out
    # The kit removed the cluster it made under TMPDIR.
    assert not glob.glob(str(tmp_path / "agora-testkit-*"))
