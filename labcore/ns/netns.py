"""Naming a network namespace: a bind mount in /run/netns, as `ip netns add` makes.

A namespace lives as long as something refers to it: a process in it, an
open file descriptor of its /proc/PID/ns/net file, or a bind mount of that
file. The bind mount is what lets it outlive every process, and it is where
``ip netns`` looks for names. See ip-netns(8), namespaces(7).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .. import kernel, tracker
from ..errors import InvalidInputError
from ..kernel import flags as F

NETNS_DIR = "/run/netns"  # where ip-netns(8) keeps its names


def pin_netns(pid: int, name: str) -> tracker.Record:
    """Keep ``pid``'s network namespace alive as /run/netns/NAME, as `ip netns add` does.

    Undo with ``tracker.default().undo(record)`` (or ``labcore cleanup``).
    Used by deep dive A.
    """
    if not name.startswith(tracker.PREFIX) or "/" in name or name in (".", ".."):
        raise InvalidInputError(f"bad network namespace name {name!r}",
                                f"use a name starting with {tracker.PREFIX!r} and without '/'")
    path = Path(NETNS_DIR) / name
    if path.exists():
        raise InvalidInputError(f"{path} already exists", "choose another name, or remove it (ip netns del)")
    made_dir = not path.parent.exists()
    with tracker.default().created("netns", name, made_dir=made_dir) as rec:
        path.parent.mkdir(exist_ok=True)
        path.touch()  # a bind mount needs an existing file to cover
        kernel.default().mount(f"/proc/{pid}/ns/net", str(path), None, F.MS_BIND)
    return rec


@tracker.undoes("netns", order=30)
def unpin_netns(rec: tracker.Record) -> str:
    """Detach the bind mount and remove its file; the namespace goes with its last reference."""
    name = rec.target
    if not name.startswith(tracker.PREFIX) or "/" in name or "\0" in name:
        tracker.refuse(rec, "network namespace without the lab- prefix")
    if os.path.realpath(NETNS_DIR) != NETNS_DIR:
        tracker.refuse(rec, f"{NETNS_DIR} is a symlink")
    path = f"{NETNS_DIR}/{name}"
    gone = True
    try:
        kernel.default().umount2(path, F.UMOUNT_NOFOLLOW | F.MNT_DETACH)
        gone = False
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOENT):
            raise
    try:
        os.unlink(path)
        gone = False
    except FileNotFoundError:
        pass
    if rec.extra.get("made_dir"):
        try:
            os.rmdir(NETNS_DIR)  # we created it; only if nothing else lives there now
        except OSError:
            pass
    return "already gone" if gone else "removed"


__all__ = ["pin_netns", "unpin_netns", "NETNS_DIR"]
