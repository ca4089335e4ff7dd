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

``/proc/PID/mountinfo`` (proc(5)) shows each mount of a process's mount
namespace on one line::

    36 35 254:0 /run/lab/vol/_data /data rw,relatime - ext4 /dev/vda rw
    id parent dev  root             point options  - type source super-options

``root`` is the directory of the source filesystem that is mounted: ``/``
for a whole filesystem, a sub-path for a bind mount. Used by chapter 11.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .. import kernel, tracker
from ..errors import InvalidInputError, PrivilegeError
from ..kernel import flags as F


@dataclass
class MountInfo:
    """One line of /proc/PID/mountinfo."""

    mount_id: int
    parent_id: int
    device: str          # major:minor of the filesystem
    root: str            # which directory of that filesystem is mounted here
    point: str           # where it is mounted
    options: str         # per-mount options (rw, nosuid...)
    fstype: str
    source: str
    super_options: str   # the filesystem's own options (overlay's lowerdir=... are here)

    def option(self, name: str) -> str | None:
        """The value of ``name=...`` in the super options (e.g. ``lowerdir``)."""
        for part in self.super_options.split(","):
            key, _, value = part.partition("=")
            if key == name:
                return value
        return None


def _unescape(text: str) -> str:
    return text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def parse_mountinfo(text: str) -> list[MountInfo]:
    """Parse the text of a mountinfo file (pure)."""
    out = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 6 or len(rest) < 3:
            continue
        out.append(MountInfo(int(fields[0]), int(fields[1]), fields[2], _unescape(fields[3]),
                             _unescape(fields[4]), fields[5], rest[0], _unescape(rest[1]), rest[2]))
    return out


def mountinfo(pid: int | str = "self") -> list[MountInfo]:
    """The mounts that process ``pid`` sees (its mount namespace), from the kernel."""
    try:
        return parse_mountinfo(Path(f"/proc/{pid}/mountinfo").read_text())
    except FileNotFoundError:
        raise InvalidInputError(f"no process {pid}", "check the PID") from None


def find(point: str, pid: int | str = "self") -> MountInfo | None:
    """The (topmost) mount at ``point`` in process ``pid``'s view."""
    found = [m for m in mountinfo(pid) if m.point == point]
    return found[-1] if found else None


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
        kernel.mount(str(source), str(target), None, F.MS_BIND)
        if readonly:
            kernel.mount(None, str(target), None, F.MS_REMOUNT | F.MS_BIND | F.MS_RDONLY)
    return BindMount(source, target, rec, readonly)


__all__ = ["MountInfo", "parse_mountinfo", "mountinfo", "find", "backing", "bind", "BindMount"]
