"""The lab's daemon with one image loaded, for tests that drive it with the real docker CLI.

Shared by the daemon, network and failure tests: each gets its own state and data directories (a
short path: a unix socket's path has at most 107 bytes), a busybox image built and loaded, and the
daemon started; at the end every container is removed, the daemon stopped, ``labcore cleanup`` run,
and the host checked for anything of ours left: processes naming the directory, mounts below it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from labcore import images

LABCORE = [sys.executable, "-m", "labcore"]


def ours(base: Path) -> dict:
    """What of ours is on the host: processes whose command line names ``base``, mounts below it."""
    procs = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(base) in cmd:
                procs.add(cmd)
    mounts = {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if line.split()[4].startswith(str(base))}
    return {"processes": procs, "mounts": mounts}


@contextmanager
def daemon(base: Path, image: str, dockerfile: str, applets: list[str] | None = None, prepare=None):
    """Yield ``{"base", "env", "host"}`` for a daemon serving ``image`` (built from ``dockerfile`` over a
    busybox rootfs with ``applets``; ``prepare(rootfs)`` may add files), then undo all of it and check."""
    env = dict(os.environ, LABCORE_STATE_DIR=str(base / "s"), LABCORE_DATA_DIR=str(base / "data"))
    saved = {k: os.environ.get(k) for k in ("LABCORE_STATE_DIR", "LABCORE_DATA_DIR")}
    os.environ.update(LABCORE_STATE_DIR=env["LABCORE_STATE_DIR"], LABCORE_DATA_DIR=env["LABCORE_DATA_DIR"])
    before = ours(base)
    sock = base / "s" / "daemon" / "docker.sock"
    try:
        ctx = base / "ctx"
        images.busybox_rootfs(ctx / "rootfs", **({"applets": applets} if applets else {}))
        if prepare is not None:
            prepare(ctx / "rootfs")
        (ctx / "Dockerfile").write_text(dockerfile)
        images.build(ctx / "Dockerfile", ctx, base / "layout", "v1", cache=base / "cache")
        load = subprocess.run(LABCORE + ["image", "load", f"{base / 'layout'}:v1", "--name", image], env=env,
                              capture_output=True, text=True)
        assert load.returncode == 0, load.stderr
        started = subprocess.run(LABCORE + ["daemon", "start"], env=env, capture_output=True, text=True, timeout=60)
        assert started.returncode == 0, started.stderr
        host = started.stdout.strip().removeprefix("DOCKER_HOST=")
        assert host == f"unix://{sock}"
        yield {"base": base, "env": env, "host": host}
    finally:
        ids = subprocess.run(["docker", "-H", f"unix://{sock}", "ps", "-aq"], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "-H", f"unix://{sock}", "rm", "-f", *ids], capture_output=True)
        subprocess.run(LABCORE + ["daemon", "stop"], env=env, capture_output=True, timeout=60)
        cleanup = subprocess.run(LABCORE + ["cleanup"], env=env, capture_output=True, text=True, timeout=60)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert ours(base) == before, (before, ours(base))
    assert not sock.exists()
    assert list((base / "s" / "objects").glob("*.json")) == []


def docker(stack: dict, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    """The docker CLI against the stack's daemon; asserts success unless ``check`` is False."""
    done = subprocess.run(["docker", "-H", stack["host"], *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"docker {' '.join(args)}: exit {done.returncode}: {done.stderr}{done.stdout[-2000:]}"
    return done


def kill_daemon(stack: dict) -> int:
    """SIGKILL the stack's daemon (as a crash would) and wait until it is gone; returns its PID."""
    status = subprocess.run(LABCORE + ["daemon", "status"], env=stack["env"], capture_output=True, text=True).stdout
    daemon = int(status.split("PID ")[1].split(",")[0])
    os.kill(daemon, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{daemon}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return daemon


def start_daemon(stack: dict) -> None:
    """Start the stack's daemon again (after ``kill_daemon``): it finds its containers (live restore)."""
    again = subprocess.run(LABCORE + ["daemon", "start"], env=stack["env"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
