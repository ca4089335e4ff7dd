"""Credentials across user namespaces: who a process is, and what that lets it do.

A user namespace maps a range of user IDs inside to a range outside
(``/proc/PID/uid_map``: ``inside outside count``). The kernel stores one
ID, the outside one, and *translates* it for whoever asks: the ``Uid`` line
of /proc/PID/status is written in the user namespace of the process that
reads it. So the same process, read through the same file, is uid 0 to a
reader inside and uid 100000 to the host (user_namespaces(7)).

Being uid 0 inside gives every capability, but only over what the user
namespace owns: its own mount, uts, net... namespaces. Against the rest of
the system (the host's files, other processes, the clock, devices) the
process counts as its outside uid, an ordinary user. ``try_powers()`` asks
the kernel, one harmless attempt at a time. Used by notebook 04.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .. import kernel
from ..kernel import caps
from ..proc.status import status


@dataclass(frozen=True)
class Ids:
    """Real, effective, saved and filesystem uid of a process, as the reader's namespace sees them."""

    real: int
    effective: int
    saved: int
    fs: int


def uids(pid: int | str = "self") -> Ids:
    """The ``Uid`` line of /proc/PID/status, translated into *our* user namespace."""
    return Ids(*(int(x) for x in status(pid)["Uid"].split()))


def uid_map(pid: int | str = "self") -> list[tuple[int, int, int]]:
    """/proc/PID/uid_map as (first uid inside, first uid outside, count) lines.

    "Outside" means in the reader's user namespace; from the host, the
    initial namespace's map reads ``0 0 4294967295``: everything to itself.
    """
    lines = Path(f"/proc/{pid}/uid_map").read_text().splitlines()
    return [tuple(int(x) for x in line.split()) for line in lines]


def capabilities(pid: int | str = "self", which: str = "CapEff") -> set[str]:
    """A capability set of /proc/PID/status (CapEff, CapPrm, CapBnd...) as names like 'CAP_SYS_ADMIN'."""
    return caps.names(int(status(pid)[which], 16))


@dataclass(frozen=True)
class Attempt:
    """One thing a process tried, and the kernel's answer."""

    action: str
    allowed: bool
    answer: str  # "done", or the errno name the kernel returned

    def __str__(self) -> str:
        return f"{'allowed' if self.allowed else 'refused':8} {self.action}  ({self.answer})"


def _attempt(action: str, fn) -> Attempt:
    try:
        fn()
    except OSError as exc:
        return Attempt(action, False, errno.errorcode.get(exc.errno, str(exc.errno)))
    return Attempt(action, True, "done")


def _open_for_append(path: str) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_APPEND))  # open, write nothing, close: no change either way


def _give_away(path: str) -> None:
    """Create a file and give it to uid 4000000, which no lab user namespace maps."""
    Path(path).touch()
    os.chown(path, 4000000, -1)


def try_powers(scratch: str = "/mnt") -> list[Attempt]:
    """Try, for real, what root of a user namespace may and may not do.

    Run it inside the namespaces (``lab.call(try_powers, ns="user,mnt,uts")``):
    it mounts a tmpfs on ``scratch`` in its *own* mount namespace. Each other
    attempt is harmless even if it succeeded: a file opened for appending is
    closed unwritten, signal 0 only checks permission, the device node and
    the file given away land in that private tmpfs. Used by notebook 04.
    """
    return [
        _attempt("mount a tmpfs in its own mount namespace",
                 lambda: kernel.default().mount("lab-userns", scratch, "tmpfs")),
        _attempt("set the hostname of its own uts namespace", lambda: kernel.default().sethostname("lab-userns")),
        _attempt("open /etc/passwd (root's file) for writing", lambda: _open_for_append("/etc/passwd")),
        _attempt("read /etc/shadow", lambda: Path("/etc/shadow").read_bytes()),
        _attempt("send a signal to the host's PID 1 (signal 0: a permission check)", lambda: os.kill(1, 0)),
        _attempt("create a device node (/dev/null's twin)",
                 lambda: os.mknod(f"{scratch}/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))),
        _attempt("give a file to a uid its namespace does not map", lambda: _give_away(f"{scratch}/file")),
        _attempt("mount a fresh /proc (its pid namespace is the host's)",
                 lambda: kernel.default().mount("proc", scratch, "proc")),
    ]


__all__ = ["Ids", "Attempt", "uids", "uid_map", "capabilities", "try_powers"]
