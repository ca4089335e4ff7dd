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


@tracker.undoes("mount", order=20)  # after processes, before the paths the mounts sit in
def unmount_recorded(rec: tracker.Record) -> str:
    """Detach a mount the lab made (MNT_DETACH: at once, even if something still uses it)."""
    if not tracker.is_lab_path(rec.target):
        tracker.refuse(rec, "not a lab path")
    try:
        kernel.default().umount2(rec.target, F.MNT_DETACH)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.ENOENT):
            return "already unmounted"
        raise
    return "unmounted"


__all__ = ["unmount_recorded", "MountInfo", "parse_mountinfo", "mountinfo", "find", "backing", "bind", "BindMount"]
