"""Bind mounts, volumes, and reading /proc/PID/mountinfo.

A **bind mount** makes a directory that already exists somewhere visible at
a second place: ``mount --bind SRC DST`` (``MS_BIND`` in mount(2)). No new
filesystem is made: both places are the same inodes on the same device.

A Docker **volume** is, at the kernel level, the same thing: Docker keeps
the data in a directory it manages (``/var/lib/docker/volumes/NAME/_data``)
and bind-mounts it into the container. ``-v /host/path:/in`` (a bind
mount) and ``-v name:/in`` (a volume) differ only in who chose and manages
the source directory, not in what the kernel does (unless a volume driver
mounts another filesystem, NFS or tmpfs, as the source). Either way the
writes skip overlayfs entirely: no copy-up, no whiteouts.

``/proc/PID/mountinfo`` (read by ``labcore.proc.mountinfo``) shows each mount
of a process's mount namespace on one line; its ``root`` field is the
directory of the source filesystem that is mounted: ``/`` for a whole
filesystem, a sub-path for a bind mount. Used by chapter 11.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from .. import kernel, tracker
from ..errors import InvalidInputError, PrivilegeError
from ..kernel import flags as F
from ..proc.mountinfo import Mount, find as find_mount, parse, read


# The parser is the core's (labcore/mountinfo.py); chapter 11 knows it by these names.
MountInfo, parse_mountinfo, mountinfo, find = Mount, parse, read, find_mount


def backing(path: str | os.PathLike, pid: int | str = "self") -> tuple[MountInfo, str]:
    """The mount holding ``path``, and ``path`` as seen from that filesystem's root.

    For a bind mount of ``path``, that second value is what mountinfo shows
    as the bind mount's ``root`` field.
    """
    path = os.path.realpath(path)
    best = None
    for m in mountinfo(pid):
        if path == m.point or path.startswith(m.point.rstrip("/") + "/"):
            if best is None or len(m.point) >= len(best.point):
                best = m
    rel = os.path.relpath(path, best.point)
    return best, os.path.normpath(os.path.join(best.root, rel)) if rel != "." else best.root


class BindMount(tracker.Held):
    """A bind mount made by the lab; ``unmount()`` (or the end of a ``with``) undoes it."""

    def __init__(self, source: Path, target: Path, record, readonly: bool):
        self.source, self.target, self._record, self.readonly = source, target, record, readonly

    def __repr__(self) -> str:
        return f"<BindMount {self.source} on {self.target}{' (read-only)' if self.readonly else ''}>"

    def unmount(self) -> None:
        """umount2(2) it (idempotent)."""
        self.release()


def bind(source: str | os.PathLike, target: str | os.PathLike, readonly: bool = False) -> BindMount:
    """``mount --bind SOURCE TARGET``, as a container runtime does for ``-v``. Used by chapter 11.

    ``target`` must be a lab path (a container's merged dir, a scratch dir).
    A read-only bind needs a second call: the first mount(2) ignores
    MS_RDONLY with MS_BIND, so the runtime remounts it (see mount(8)).
    """
    source, target = Path(os.path.abspath(source)), Path(os.path.abspath(target))
    if not source.exists():
        raise InvalidInputError(f"bind source {source} does not exist", "create it first")
    if not target.exists() or target.is_symlink():
        raise InvalidInputError(f"bind target {target} does not exist (or is a symlink)",
                                "create the mount point (a directory, or a file for a file)")
    if not tracker.is_lab_path(str(target)):
        raise InvalidInputError(f"bind target {target} is not a lab path", f"mount under {tracker.state_dir()}")
    if os.geteuid() != 0:
        raise PrivilegeError("a bind mount needs CAP_SYS_ADMIN", "run the lab kernel as root")
    with tracker.default().created("mount", target) as rec:
        kernel.default().mount(str(source), str(target), None, F.MS_BIND)
        if readonly:
            kernel.default().mount(None, str(target), None, F.MS_REMOUNT | F.MS_BIND | F.MS_RDONLY)
    return BindMount(source, target, rec, readonly)


def _identity(m: MountInfo) -> dict:
    return {"mount_id": m.mount_id, "device": m.device, "fstype": m.fstype, "source": m.source}


@tracker.stamps("mount")
def stamp_mount(rec: tracker.Record) -> dict:
    """Once mounted: which mount it is (mountinfo's ID, device, type, source), for the undo to compare.

    ``None`` when nothing shows at the target in our mount namespace (a
    mount made in another namespace that did not propagate here).
    """
    found = find_mount(str(tracker.resolve(rec.target)))
    return _identity(found) if found else {"mount_id": None}


@tracker.undoes("mount", order=20)  # after processes, before the paths the mounts sit in
def unmount_recorded(rec: tracker.Record) -> str:
    """Detach a mount the lab made, if the mount found there is still the one recorded.

    UMOUNT_NOFOLLOW: a symlink put in its place is not followed; MNT_DETACH:
    at once, even if something still uses it. A record made before the
    mount existed (a crash while mounting) has no ID: it is undone only if
    nothing is mounted there any more.
    """
    path = tracker.lab_path(rec)
    mounts = read()
    top = next((m for m in reversed(mounts) if m.point == str(path)), None)
    wanted = rec.extra.get("mount_id")
    if wanted is None:
        if top is None:
            return "already unmounted"
        tracker.refuse(rec, f"the mount at {path} (ID {top.mount_id}) cannot be told to be the lab's: "
                            "its ID was never recorded")
    # Mount IDs are reused once freed: the device, type and source must match too.
    ours = [m for m in mounts if all(rec.extra.get(k, v) == v for k, v in _identity(m).items())]
    if not ours:
        return "already unmounted" + (" (another mount is there now, left alone)" if top else "")
    if top is None or top.mount_id != wanted or ours[0].point != str(path):
        tracker.refuse(rec, f"the recorded mount {wanted} is no longer the topmost one at {path}")
    try:
        kernel.default().umount2(str(path), F.UMOUNT_NOFOLLOW | F.MNT_DETACH)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.ENOENT):
            return "already unmounted"
        raise
    return "unmounted"


__all__ = ["unmount_recorded", "stamp_mount", "MountInfo", "parse_mountinfo", "mountinfo", "find", "backing", "bind", "BindMount"]
