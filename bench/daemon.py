"""`docker run --rm IMAGE true` through labcore's daemon, against the real engine where one answers.

The whole stack is timed from the client's side: the docker CLI creates,
attaches, waits, starts; the daemon mounts the overlay and starts a shim;
the shim runs the runtime's create and start; `true` exits; the shim
records, the daemon removes. Peers measured in the same run, rounds
interleaved so a busy moment of the machine hits all alike:

* the real Docker engine (dockerd, containerd, containerd-shim-runc-v2,
  runc): the one on /var/run/docker.sock if it answers, else one started
  for this run by ``labcore.teach.realengine`` (its own data-root, exec-root
  and socket in a lab directory, no bridge nor iptables, everything undone
  at the end), loaded with the same image; where neither is possible it
  says why and prints no ratio;
* ``runc run`` of a bundle on the same busybox root: the bottom layer of
  Docker's stack alone, so the cost of everything above the runtime shows;
* ``labcore runtime run`` of that bundle: our runtime alone.

Everything runs in a state and data directory of its own, removed at the
end (containers, daemon, ``labcore cleanup``). Run alone with
``python bench/daemon.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import labcore as lab
from labcore.launch import stack_command

ROUNDS = 8      # interleaved rounds: 24 runs of each, a median steady from one bench to the next
PER_ROUND = 3   # runs of each in a round
IMAGE = "lab-bench/busybox:1"
REAL_SOCKET = "/var/run/docker.sock"


def _timed(argv, env=None) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    took = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return took


def _host_engine() -> bool:
    """Does a Docker engine answer on REAL_SOCKET (the host's own, started by someone else)?"""
    if not os.path.exists(REAL_SOCKET):
        return False
    done = subprocess.run(["docker", "-H", f"unix://{REAL_SOCKET}", "version", "--format", "{{.Server.Version}}"],
                          capture_output=True, text=True, timeout=30)
    return done.returncode == 0


def _lab_engine(layout: Path):
    """A real dockerd of the lab's own (labcore.teach.realengine) with IMAGE loaded; (engine, None) or (None, why)."""
    from labcore.teach import realengine
    if realengine.missing():
        return None, f"the real engine needs {', '.join(realengine.missing())} (provision/provision.sh installs them)"
    engine = realengine.Engine("bench-realengine")
    try:
        engine.start()
        engine.load(layout, "v1", IMAGE)
    except BaseException as exc:
        engine.stop()
        if isinstance(exc, lab.LabError):
            return None, f"the lab's dockerd could not be used: {exc}"
        raise
    return engine, None


def main() -> int:
    for need in ("root", "overlayfs", "tool:docker", "tool:runc"):
        if not lab.doctor.has(need):
            print("daemon: skipped:", lab.doctor.why_not(need))
            return 0
    base = Path(tempfile.mkdtemp(prefix="lab-bench-d"))
    env = dict(os.environ, LABCORE_STATE_DIR=str(base / "s"), LABCORE_DATA_DIR=str(base / "data"))
    labcore = [sys.executable, "-m", "labcore"]
    host = f"unix://{base / 's' / 'daemon' / 'docker.sock'}"
    real_why, real_host, real_image, engine = None, None, None, None
    try:
        rootfs = lab.images.busybox_rootfs(base / "ctx" / "rootfs")
        (base / "ctx" / "Dockerfile").write_text('FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n')
        old = os.environ.get("LABCORE_STATE_DIR"), os.environ.get("LABCORE_DATA_DIR")
        os.environ.update(LABCORE_STATE_DIR=env["LABCORE_STATE_DIR"], LABCORE_DATA_DIR=env["LABCORE_DATA_DIR"])
        try:
            lab.images.build(base / "ctx" / "Dockerfile", base / "ctx", base / "layout", "v1", cache=base / "cache")
        finally:
            for key, value in zip(("LABCORE_STATE_DIR", "LABCORE_DATA_DIR"), old):
                os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
        subprocess.run(labcore + ["image", "load", f"{base / 'layout'}:v1", "--name", IMAGE], env=env, check=True,
                       capture_output=True)
        subprocess.run(labcore + ["daemon", "start"], env=env, check=True, capture_output=True, timeout=60)
        bundle = base / "bundle"
        bundle.mkdir()
        from labcore.runtime import spec
        config = spec.default(["true"])
        config["root"] = {"path": str(rootfs), "readonly": True}
        for key in ("capabilities", "noNewPrivileges"):
            config["process"].pop(key, None)
        (bundle / "config.json").write_text(json.dumps(config))
        if _host_engine():
            real_host = f"unix://{REAL_SOCKET}"
            tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True).stdout
            subprocess.run(["docker", "-H", real_host, "import", "-", IMAGE], input=tar, check=True,
                           capture_output=True)
            real_image = IMAGE
        else:
            engine, real_why = _lab_engine(base / "layout")
            if engine is not None:
                real_host, real_image = engine.host, IMAGE
        runs = {
            "ours": lambda: _timed(["docker", "-H", host, "run", "--rm", IMAGE, "true"]),
            "runc": lambda: _timed(["runc", "--root", str(base / "runc"), "run", "-b", str(bundle), "lab-bench-runc"]),
            "runtime": lambda: _timed(stack_command("runtime", "--root", str(base / "rt"), "run", "-b", str(bundle),
                                                    "lab-bench-rt"), env),
        }
        if real_image:
            runs["real"] = lambda: _timed(["docker", "-H", real_host, "run", "--rm", IMAGE, "true"])
        samples: dict[str, list[float]] = {name: [] for name in runs}
        for fn in runs.values():
            fn()  # warm up: page cache, the image's layer, the first cgroups
        for _ in range(ROUNDS):
            for name, fn in runs.items():
                samples[name] += [fn() for _ in range(PER_ROUND)]
        med = {name: statistics.median(s) for name, s in samples.items()}
        n = ROUNDS * PER_ROUND
        print(f"docker_run_rm_true_labcore_daemon_ms: {med['ours']:.0f} (docker CLI -> labcore daemon -> shim -> "
              f"runtime, median of {n})")
        if real_image:
            where = "the host's engine" if engine is None else "a dockerd the lab started for this run"
            print(f"docker_run_rm_true_real_engine_ms: {med['real']:.0f} ({where}: dockerd -> containerd -> "
                  f"containerd-shim-runc-v2 -> runc, median of {n})")
            print(f"docker_run_rm_true_ratio: {med['ours'] / med['real']:.2f}x the real engine (target: at most 0.5x)")
        else:
            print(f"docker_run_rm_true_real_engine_ms: not measured ({real_why})")
            print("docker_run_rm_true_ratio: not measured (no real engine to compare with; target: at most 0.5x)")
        print(f"runc_run_true_ms: {med['runc']:.0f} (runc alone on the same busybox root: the bottom of Docker's stack)")
        print(f"labcore_runtime_run_true_ms: {med['runtime']:.0f} (our runtime alone, its own Python start included)")
        print(f"docker_run_stack_above_runc_ms: {med['ours'] - med['runc']:.0f} (client, daemon, shim, overlay, "
              "log and cleanup on top of a runtime run)")
    finally:
        ids = subprocess.run(["docker", "-H", host, "ps", "-aq"], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "-H", host, "rm", "-f", *ids], capture_output=True)
        subprocess.run(labcore + ["daemon", "stop"], env=env, capture_output=True, timeout=60)
        subprocess.run(labcore + ["cleanup"], env=env, capture_output=True, timeout=60)
        if engine is not None:
            engine.stop()  # its containers, dockerd, containerd, and every directory and cgroup it had
        elif real_image:
            subprocess.run(["docker", "-H", real_host, "rmi", real_image], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
