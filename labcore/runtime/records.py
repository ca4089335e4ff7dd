"""A container as one tracker record: made by ``create``, handed to its init, undone by ``delete``.

Every kernel object the lab makes is recorded first (``labcore.tracker``),
and a container is several: its init process, its cgroups, the device
programs attached to them, its state directory. One record of kind
``container`` stands for all of them. ``create`` owns it until the init
exists, then hands it over (``hand_over``): ``labcore cleanup`` then spares
the container while its init runs (``--force`` kills it) and removes a
stopped one's cgroups and directory with ``undo_container``, the same
undo ``delete`` runs.

Kept apart from ``state.py`` because loading the tracker has a cost that
``start``, ``state`` and ``kill`` (each a process of its own) never need.
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import tracker
from ..proc.stat import is_running


@tracker.undoes("container", order=5)  # before processes, mounts and cgroups: it owns some
def undo_container(rec: tracker.Record) -> str:
    """Kill the container's init (if still the same process), remove its cgroups and state directory."""
    from . import cgroups
    target = Path(rec.target)
    if not (target / "state.json").exists() and target.exists():
        tracker.refuse(rec, "not a container state directory (no state.json)")
    pid, start = rec.extra.get("pid"), rec.extra.get("start_time")
    said = "already stopped"
    # A zombie (exited, not yet reaped by its parent) is dead already: SIGKILL would change nothing.
    if isinstance(pid, int) and pid > 1 and isinstance(start, int) and is_running(pid, start):
        from ..ns.kill import kill_pidfd, open_checked  # here: labcore.ns is large, and most inits have exited by now
        fd = open_checked(pid, start)
        if fd is not None:
            try:
                kill_pidfd(fd, pid)
                said = "killed"
            finally:
                os.close(fd)
    programs = [p for p in rec.extra.get("device_programs") or [] if isinstance(p.get("prog_id"), int)]
    if programs:  # a cgroup we made takes its program with it; one that existed before keeps it unless detached
        from . import devices_v2
        for p in programs:
            devices_v2.detach(p["cgroup"], p["prog_id"])
    cgroups.remove(rec.extra.get("cgroups") or [])
    cgroups.give_back([c for c in rec.extra.get("root_controllers") or [] if c in cgroups.V2_CONTROLLERS])
    import shutil
    shutil.rmtree(target, ignore_errors=True)
    return f"{said}, state removed"


def add(cid_dir: Path) -> tracker.Record:
    """The tracker record of a container about to be created (owned by ``create`` until init exists)."""
    return tracker.default().add("container", str(cid_dir))


def hand_over(rec: tracker.Record, pid: int, start: int, **extra) -> None:
    """From now on the container's init owns the record: cleanup spares it while it runs."""
    rec.owner, rec.owner_start = pid, start
    tracker.default().update(rec, pid=pid, start_time=start, **extra)


__all__ = ["add", "hand_over", "undo_container"]
