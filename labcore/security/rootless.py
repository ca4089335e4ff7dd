"""A rootless container: an ordinary user starts it, root inside, that user outside.

``labcore run --rootless`` (like rootless Docker or Podman) needs no root
at all: the user creates a user namespace, which the kernel allows any
process (where the distribution does not restrict it), becomes uid 0 in it,
and creates the container's other namespaces as their owner. The map is
the user's own uid (or, with newuidmap and /etc/subuid, a range of ids
that belong to nobody else). Inside, the container's root holds Docker's
14 capabilities, but only over what its own user namespace owns: its
hostname, its mounts, its network. Outside, the kernel sees the user:
files it writes belong to them, signals it sends are theirs, and if it
breaks out it has no more power than they had.

``run_as`` starts ``labcore run --rootless`` as another user (the demo
runs as root and picks ``nobody``) and looks at PID 1 from the host while
it runs.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabError, PrivilegeError
from ..proc.status import status


@dataclass
class RootlessRun:
    """What a rootless container said about itself, and what the host saw of its PID 1."""

    user: str
    inside: str            # the command's output
    host_pid: int          # PID 1 as the host numbers it
    host_uid: int          # the uid the host sees PID 1 run as
    uid_map: str           # /proc/PID/uid_map of PID 1, read from the host

    def __repr__(self) -> str:
        return (f"<RootlessRun as {self.user}: PID 1 is host PID {self.host_pid}, host uid {self.host_uid}, "
                f"uid_map {self.uid_map.split()}>")


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            continue
        found += kids
        todo += kids
    return found


def _tools_for(home: Path) -> Path:
    """A copy of labcore (and the seccomp binding it loads) that the other user may read.

    The checkout may sit where only root can enter (a home directory of mode 0700), so the
    user runs the lab's command from its own copy, as it would from a package installed for it.
    """
    import pyseccomp
    tools = home / "tools"
    skip = shutil.ignore_patterns("__pycache__", "nsexec", "*.c")
    shutil.copytree(Path(__file__).resolve().parents[1], tools / "labcore", ignore=skip)
    shutil.copy(pyseccomp.__file__, tools / Path(pyseccomp.__file__).name)
    for path in [tools, *tools.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return tools


def run_as(command: str, user: str = "nobody", home=None, timeout: float = 30) -> RootlessRun:
    """``labcore run --rootless -- sh -c COMMAND`` as ``user``; PID 1 is looked at from the host.

    ``home`` (a ``lab.fs.Scratch``) is the user's writable home for the run (the lab keeps its
    records there). The command's PID 1 stays alive until the host has looked: it waits for its
    standard input to close.
    """
    if os.geteuid() != 0:
        raise PrivilegeError("starting a process as another user needs root", "run the lab kernel as root")
    entry = pwd.getpwnam(user)
    os.chown(str(home.path), entry.pw_uid, entry.pw_gid)
    tools = _tools_for(Path(home.path))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home.path), "PYTHONPATH": str(tools),
           "PYTHONDONTWRITEBYTECODE": "1"}
    script = f"{command}; echo; echo lab-ready; read _"
    python = os.path.realpath(getattr(sys, "_base_executable", sys.executable))  # the system's, not the venv's
    proc = subprocess.Popen([python, "-m", "labcore", "run", "--rootless", "--", "sh", "-c", script],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=str(home.path), user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
    try:
        lines, deadline = [], time.monotonic() + timeout
        while (line := proc.stdout.readline()) and line.strip() != "lab-ready":
            lines.append(line)
            if time.monotonic() > deadline:
                break
        if not line:
            raise LabError(f"the rootless container failed: {proc.stderr.read().strip()}",
                           "see `labcore doctor` (user namespaces may be restricted for ordinary users)")
        pid_one = next(p for p in _descendants(proc.pid) if status(p)["NSpid"].split()[-1] == "1")
        with open(f"/proc/{pid_one}/uid_map") as f:
            uid_map = f.read().strip()
        host_uid = int(status(pid_one)["Uid"].split()[0])
        proc.stdin.close()
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            stream.close()
    return RootlessRun(user, "".join(lines).rstrip("\n"), pid_one, host_uid, uid_map)


__all__ = ["RootlessRun", "run_as"]
