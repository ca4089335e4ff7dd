"""labcore runtime on the real kernel: a busybox bundle through create, start, kill, delete (and runc alongside)."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labcore import images, tracker

pytestmark = pytest.mark.needs("root")

RUNTIME = [sys.executable, "-m", "labcore", "runtime"]


@pytest.fixture
def bundle(tmp_path, state_dir):
    b = tmp_path / "bundle"
    b.mkdir()
    images.busybox_rootfs(b / "rootfs", applets=["sh", "echo", "sleep", "cat", "hostname", "true", "id"])
    subprocess.run(RUNTIME + ["spec", "--bundle", str(b)], check=True, capture_output=True)
    return b


def edit(bundle, fn):
    cfg = json.loads((bundle / "config.json").read_text())
    fn(cfg)
    (bundle / "config.json").write_text(json.dumps(cfg))


def rt(root, *args, check=True, **kw):
    """Run the runtime with its output in files: a created container keeps create's stdio open, as runc's does,
    so a pipe would never reach end-of-file while it lives."""
    with open(root.parent / "out", "w+") as out, open(root.parent / "err", "w+") as err:
        code = subprocess.run(RUNTIME + ["--root", str(root), *args], stdout=out, stderr=err, timeout=60,
                              stdin=subprocess.DEVNULL, **kw).returncode
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(args, code, out.read(), err.read())
    if check and done.returncode:
        raise AssertionError(f"{args}: {done.returncode} {done.stderr}")
    return done


def status(root, cid, runtime=None):
    argv = (runtime or RUNTIME) + ["--root", str(root), "state", cid]
    return json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)


def wait_status(root, cid, wanted, runtime=None, timeout=10):
    deadline = time.monotonic() + timeout
    while (s := status(root, cid, runtime))["status"] != wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    return s


def test_lifecycle_created_running_stopped_deleted(bundle, tmp_path, state_dir):
    root = tmp_path / "root"
    edit(bundle, lambda c: c["process"].update(args=["sleep", "30"]))
    pid_file = tmp_path / "pid"
    rt(root, "create", "--bundle", str(bundle), "--pid-file", str(pid_file), "box")
    s = status(root, "box")
    assert s["status"] == "created" and s["id"] == "box" and s["bundle"] == str(bundle)
    assert s["pid"] == int(pid_file.read_text()) > 0
    host_ns = os.readlink("/proc/self/ns/pid")
    assert os.readlink(f"/proc/{s['pid']}/ns/pid") != host_ns  # created: its namespaces exist already
    rt(root, "start", "box")
    s = status(root, "box")
    assert s["status"] == "running"
    assert open(f"/proc/{s['pid']}/cmdline").read().split("\0")[0] == "sleep"
    assert rt(root, "start", "box", check=False).returncode == 125  # start twice: refused
    assert rt(root, "delete", "box", check=False).returncode == 125  # running: delete refused
    listed = rt(root, "list").stdout
    assert "box" in listed and "running" in listed
    rt(root, "kill", "box", "KILL")
    assert wait_status(root, "box", "stopped")["status"] == "stopped"
    rt(root, "delete", "box")
    assert not (root / "box").exists()
    assert rt(root, "state", "box", check=False).returncode == 125
    assert not [r for r in tracker.default().records() if r.kind == "container"]


def test_run_returns_the_exit_status_and_applies_the_config(bundle, tmp_path, state_dir):
    root = tmp_path / "root"
    edit(bundle, lambda c: (c["process"].update(args=["sh", "-c", "hostname; id -u; exit 7"],
                                                 user={"uid": 10, "gid": 10}),
                            c.update(hostname="boxname")))
    done = rt(root, "run", "--bundle", str(bundle), "r1", check=False)
    assert done.returncode == 7, done.stderr
    assert done.stdout.split() == ["boxname", "10"]
    assert not (root / "r1").exists()


def test_hooks_run_in_order_with_the_state_on_stdin(bundle, tmp_path, state_dir):
    root, log = tmp_path / "root", tmp_path / "hooks.log"
    def hook(name):
        return {"path": "/bin/sh", "args": ["sh", "-c", f"read s; echo {name} \"$s\" >> {log}"]}
    points = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
    edit(bundle, lambda c: (c.update(hooks={p: [hook(p)] for p in points}),
                            c["process"].update(args=["true"])))
    # startContainer runs inside the container: its /bin/sh is busybox, and the log must be reachable there.
    edit(bundle, lambda c: c["mounts"].append({"destination": str(tmp_path), "source": str(tmp_path),
                                               "type": "bind", "options": ["rbind"]}))
    rt(root, "run", "--bundle", str(bundle), "h1")
    lines = log.read_text().splitlines()
    assert [l.split()[0] for l in lines] == points
    first = json.loads(lines[0].split(" ", 1)[1])
    assert first["id"] == "h1" and first["pid"] > 0 and first["bundle"] == str(bundle)


@pytest.mark.parametrize("breakage, field", [
    (lambda b, c: (b / "config.json").unlink(), "does not exist"),
    (lambda b, c: c["linux"]["namespaces"].append({"type": "bogus"}), "linux.namespaces[5].type"),
    (lambda b, c: c["root"].update(path="nowhere"), "root.path"),
    (lambda b, c: c["process"].update(args="sh"), "process.args"),
    (lambda b, c: c["mounts"].append({"destination": "/x", "type": "nosuchfs", "source": "none"}), "mount"),
    (lambda b, c: c["process"].update(args=["/no/such/program"]), None),
])
def test_bad_bundle_leaves_nothing_behind(bundle, tmp_path, state_dir, breakage, field):
    import leakcheck
    root = tmp_path / "root"
    before = leakcheck.snapshot()
    cfg = json.loads((bundle / "config.json").read_text())
    breakage(bundle, cfg)
    if (bundle / "config.json").exists():
        (bundle / "config.json").write_text(json.dumps(cfg))
    if field is None:  # exec fails after start: create works, the process exits 127 and delete removes all
        done = rt(root, "run", "--bundle", str(bundle), "bad", check=False)
        assert done.returncode == 127
    else:
        done = rt(root, "create", "--bundle", str(bundle), "bad", check=False)
        assert done.returncode == 125 and field in done.stderr, done.stderr
    assert not (root / "bad").exists()
    assert not tracker.default().records()
    # Others may share the machine: the differences that could be this container's must be none.
    mine = [d for d in leakcheck.compare(before, leakcheck.snapshot()) if "/bad" in d or str(tmp_path) in d]
    assert mine == []


def test_cleanup_kills_a_container_left_running(bundle, tmp_path, state_dir):
    root = tmp_path / "root"
    edit(bundle, lambda c: c["process"].update(args=["sleep", "30"]))
    rt(root, "create", "--bundle", str(bundle), "left")
    rt(root, "start", "left")
    pid = status(root, "left")["pid"]
    out = subprocess.run([sys.executable, "-m", "labcore", "cleanup"], capture_output=True, text=True)
    assert "spared" in out.stdout and os.path.exists(f"/proc/{pid}")  # it runs: spared without --force
    out = subprocess.run([sys.executable, "-m", "labcore", "cleanup", "--force"], capture_output=True, text=True)
    assert "killed" in out.stdout
    assert not (root / "left").exists()
    deadline = time.monotonic() + 5
    while tracker.is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not tracker.is_running(pid)


@pytest.mark.needs("tool:runc")
def test_the_same_bundle_under_runc(bundle, tmp_path, state_dir):
    """The bundle our runtime runs, run by runc: the same lifecycle and the same state JSON keys."""
    edit(bundle, lambda c: c["process"].update(args=["sleep", "30"]))
    runc = [shutil.which("runc")]
    theirs, ours = tmp_path / "runc-root", tmp_path / "root"
    for runtime, root in ((runc, theirs), (RUNTIME, ours)):
        subprocess.run(runtime + ["--root", str(root), "create", "--bundle", str(bundle), "same"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        a, b = status(theirs, "same", runc), status(ours, "same")
        assert a["status"] == b["status"] == "created"
        assert {"ociVersion", "id", "status", "pid", "bundle"} <= set(a) and set(a) - {"rootfs", "created", "owner"} <= set(b)
        for runtime, root in ((runc, theirs), (RUNTIME, ours)):
            subprocess.run(runtime + ["--root", str(root), "start", "same"], check=True)
            assert wait_status(root, "same", "running", runtime)["status"] == "running"
            subprocess.run(runtime + ["--root", str(root), "kill", "same", "9"], check=True)
            assert wait_status(root, "same", "stopped", runtime)["status"] == "stopped"
    finally:
        for runtime, root in ((runc, theirs), (RUNTIME, ours)):
            subprocess.run(runtime + ["--root", str(root), "delete", "--force", "same"], capture_output=True)
    assert not (ours / "same").exists()


def test_exec_joins_the_namespaces_cgroups_and_capabilities(bundle, tmp_path, state_dir):
    root = tmp_path / "root"
    edit(bundle, lambda c: c["process"].update(args=["sleep", "30"]))
    rt(root, "create", "--bundle", str(bundle), "ex")
    try:
        rt(root, "start", "ex")
        pid = status(root, "ex")["pid"]
        done = rt(root, "exec", "ex", "sh", "-c", "cat /proc/1/cmdline; echo; hostname; grep CapEff /proc/self/status; "
                                                  "grep pids /proc/self/cgroup")
        lines = done.stdout.splitlines()
        assert lines[0].replace("\0", " ").strip() == "sleep 30"  # PID 1 of the container's pid namespace
        assert lines[1] == "labcore"                                # its uts namespace
        init_caps = [l for l in open(f"/proc/{pid}/status") if l.startswith("CapEff")][0].split()[1]
        assert lines[2].split()[1] == init_caps                     # no more powers than the init
        assert lines[3].endswith("/labcore/ex")                     # counted in the container's cgroup
        assert rt(root, "exec", "ex", "sh", "-c", "exit 3", check=False).returncode == 3
    finally:
        rt(root, "delete", "--force", "ex")


def test_the_lean_executable_finds_the_venv_and_applies_seccomp(bundle, tmp_path, state_dir):
    """tools/labcore-runtime starts Python with -I -S, so nothing of site runs: labcore/__main__.py must
    put labcore and the venv's pyseccomp on the path itself, or a bundle with a seccomp profile fails."""
    exe = Path(__file__).resolve().parents[2] / "tools" / "labcore-runtime"
    edit(bundle, lambda c: (c["process"].update(args=["cat", "/proc/self/status"]),
                            c["linux"].update(seccomp={"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                                {"names": ["uname"], "action": "SCMP_ACT_ERRNO"}]})))
    root = tmp_path / "root"
    done = subprocess.run([str(exe), "--root", str(root), "run", "--bundle", str(bundle), "lean1"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={"PATH": os.environ["PATH"], "LABCORE_STATE_DIR": os.environ["LABCORE_STATE_DIR"]})
    assert done.returncode == 0, done.stderr
    assert "Seccomp:\t2" in done.stdout, done.stdout + done.stderr  # 2: a filter is applied
    assert not (root / "lean1").exists()
