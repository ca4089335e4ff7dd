"""Inside the throwaway host: containers started with ``labcore run``'s policies, and an engine on a socket.

This module runs *in the guest* of ``labcore.teach.hostvm`` (its disk
carries labcore), never on the learner's machine. It starts containers
the way ``labcore run`` does, with the same switches (``--privileged``,
``--cap-add``, ``--security-opt``... parsed by ``labcore.security.command``,
so "the default" is exactly Docker's defaults as ``labcore run`` applies
them: 14 capabilities, the default seccomp profile, masked and read-only
/proc paths), plus the two things a container of an image has that
``labcore run`` leaves out:

* a root filesystem of its own (``/var/tmp/labcore/rootfs``, entered with
  pivot_root(2)), whose /dev holds only null, zero, full, random, urandom
  and tty: no disk;
* ``-v SRC:DST`` bind mounts, and ``--pid host`` (the host's pid namespace:
  the container's /proc is the host's), the misconfigurations of deep dive D.

``--rootless`` adds a user namespace as ``labcore run`` does: run by the
guest's root, the container's root is uid 100000 on the host.

It also plays a container *engine*: ``engine SOCKET`` listens on a unix
socket and starts whatever container a client asks for, taking the fields
of Docker's create request (``Cmd``, ``HostConfig.Privileged``,
``HostConfig.Binds``). Like dockerd, it runs as the host's root and checks
nothing about who asks: whoever can connect to the socket commands root.

Plans come from the host side as base64 JSON (one console line), results go
back as ``LAB-ESCAPE-RESULT {json}`` lines; ``snapshot`` prints the guest's
process tree while containers run, for a diagram drawn on the learner's side.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path

RESULT = "LAB-ESCAPE-RESULT"
SNAPSHOT = "LAB-ESCAPE-SNAPSHOT"
ROOTFS = "/var/tmp/labcore/rootfs"


def parser() -> argparse.ArgumentParser:
    """``labcore run``'s security switches, and -v / --pid for the misconfigurations."""
    from ..security import command as security_command
    p = argparse.ArgumentParser(prog="container", add_help=False)
    security_command.add_arguments(p)
    p.add_argument("-v", "--volume", action="append", default=[], metavar="SRC:DST")
    p.add_argument("--pid", choices=("private", "host"), default="private")
    return p


@contextmanager
def prepared(flags: list[str]):
    """The namespaces and policy ``labcore run FLAGS`` would use, with the -v and --pid host mounts made
    (undone when the block ends)."""
    from ..fs import mounts
    from ..proc.ns import CONTAINER
    from ..security import command as security_command
    args = parser().parse_args(flags)
    policy = security_command.policy(args)   # the very function labcore run calls
    kinds = [k for k in CONTAINER if not (args.pid == "host" and k == "pid")]
    kinds = security_command.namespaces(args, ",".join(kinds)).split(",")  # --rootless: a user namespace first
    binds, made = [], []
    try:
        for spec in args.volume:
            src, _, dst = spec.partition(":")
            target = Path(ROOTFS) / dst.lstrip("/")
            if not target.exists():  # the mount point; removed after, so the next container starts clean
                made.append(target)
                if Path(src).is_dir():
                    target.mkdir(parents=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.touch()
            binds.append(mounts.bind(src, target))
        if args.pid == "host":  # docker run --pid host: /proc shows the host's processes
            binds.append(mounts.bind("/proc", Path(ROOTFS) / "proc"))
        yield ",".join(kinds), policy
    finally:
        for b in reversed(binds):
            b.unmount()
        for target in reversed(made):
            target.rmdir() if target.is_dir() else target.unlink()


def run_container(flags: list[str], argv: list[str], timeout: float = 120):
    """Run ``argv`` in a container made as ``labcore run FLAGS`` would, in the rootfs; returns the Result."""
    from ..ns import process
    with prepared(flags) as (kinds, policy):
        return process.run(argv, kinds, rootfs=ROOTFS, security=policy, timeout=timeout)


def snapshot(encoded: str) -> int:
    """Start a ``sleep`` container for each flag list, then print the host's process tree as JSON
    (the tasks of ``diagrams.processes``, read from this guest's /proc), and stop them."""
    import time
    from dataclasses import asdict
    from ..ns import process
    from .diagrams.processes import reference, walk
    with ExitStack() as stack:
        boxes = []
        for name, flags in json.loads(base64.b64decode(encoded)):
            kinds, policy = stack.enter_context(prepared(flags))
            box = process.spawn(["sleep", "120"], kinds, rootfs=ROOTFS, security=policy, hostname=name)
            stack.callback(box.close)
            stack.callback(box.kill)
            boxes.append(box)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
                Path(f"/proc/{b.pid}/comm").read_text().strip() == "sleep" for b in boxes):
            time.sleep(0.1)
        tasks, left_out = walk([1], depth=6)
        print(SNAPSHOT, json.dumps({"ref": reference(), "tasks": [asdict(t) for t in tasks], "left_out": left_out,
                                    "boxes": [b.pid for b in boxes]}), flush=True)
    return 0


def status_of(pid: int | str = "self") -> dict:
    """CapEff, Seccomp and NoNewPrivs of a process, as /proc/PID/status says them."""
    wanted = ("CapEff", "Seccomp", "NoNewPrivs")
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in wanted:
            out[key] = value.strip()
    return out


def plan(encoded: str) -> int:
    """Run each ``{"name", "flags", "argv"}`` of a plan in turn; print one result line for each."""
    import time
    for step in json.loads(base64.b64decode(encoded)):
        start = time.monotonic()
        try:
            r = run_container(step["flags"], step["argv"])
            out = {"status": r.returncode, "output": r.stdout + r.stderr}
        except Exception as exc:  # a refused run is a result too: say it
            out = {"status": 125, "output": f"{type(exc).__name__}: {exc}"}
        out.update(name=step["name"], seconds=round(time.monotonic() - start, 2))
        print(RESULT, json.dumps(out), flush=True)
    return 0


def engine(path: str) -> int:
    """A root daemon on a unix socket: one JSON create request per connection, the output sent back."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o660)   # root's group may talk to it, like /var/run/docker.sock
    srv.listen(4)
    while True:
        conn, _ = srv.accept()
        with conn:
            req = json.loads(conn.makefile().readline())
            host = req.get("HostConfig", {})
            flags = (["--privileged"] if host.get("Privileged") else [])
            for b in host.get("Binds", []):
                flags += ["-v", b]
            try:
                r = run_container(flags, list(req["Cmd"]))
                reply = {"StatusCode": r.returncode, "Output": r.stdout + r.stderr}
            except Exception as exc:
                reply = {"StatusCode": 125, "Output": f"{type(exc).__name__}: {exc}"}
            conn.sendall(json.dumps(reply).encode() + b"\n")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["plan"] and len(argv) == 2:
        return plan(argv[1])
    if argv[:1] == ["snapshot"] and len(argv) == 2:
        return snapshot(argv[1])
    if argv[:1] == ["engine"] and len(argv) == 2:
        return engine(argv[1])
    print("usage: python3 -m labcore.teach.escapeguest plan BASE64 | engine SOCKET", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["run_container", "prepared", "snapshot", "plan", "engine", "SNAPSHOT", "parser", "status_of", "RESULT", "ROOTFS"]
