"""A process holding overlays, bind mounts and scratch dirs is SIGKILLed; `labcore cleanup` undoes it all."""

import signal
import subprocess
import sys
import textwrap

import pytest

import leakcheck

pytestmark = pytest.mark.needs("root", "overlayfs")

HOLDER = textwrap.dedent("""
    import time
    import labcore as lab
    from labcore import fs, images
    base = fs.Scratch("crash-base")
    images.busybox_rootfs(base.dir("rootfs"), applets=["sh", "sleep"])
    c = fs.container_layer([base.path / "rootfs"], name="crash-c")
    (c.merged / "data").mkdir()
    fs.mounts.bind(base.dir("volume"), c.merged / "data")
    box = lab.spawn(["/bin/sh", "-c", "exec sleep 600"], rootfs=c.merged)
    print("ready", len(lab.tracker.default().records()), box.pid, flush=True)
    time.sleep(600)
""")


def ours(diff, state_dir, pid):
    """The differences that are this test's (other engineers may share the machine)."""
    return [d for d in diff if str(state_dir) in d or f"pid {pid} " in d]


def test_sigkill_then_cleanup_unmounts_and_removes_everything(state_dir):
    before = leakcheck.snapshot()
    pid = 0
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True)
    try:
        line = holder.stdout.readline()
        word, count, pid = line.split()
        # 3 scratch dirs (base; the layer's merged, and its upper and work on disk), overlay, bind, container's PID 1
        assert (word, count) == ("ready", "6"), line
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        left = ours(leakcheck.compare(before, leakcheck.snapshot()), state_dir, pid)
        assert any("overlay" in d for d in left) and any("/data" in d for d in left), left
    finally:
        holder.kill()
        holder.wait()
        done = subprocess.run([sys.executable, "-m", "labcore", "cleanup"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("unmounted") == 2 and done.stdout.count("removed") == 3 and "killed" in done.stdout
    assert ours(leakcheck.compare(before, leakcheck.snapshot()), state_dir, pid) == []
    assert not list((state_dir / "fs").iterdir())
