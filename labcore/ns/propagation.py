"""Mount propagation: which mount events cross from one mount namespace to another.

A new mount namespace starts as a *copy* of its parent's mount table. What
happens to mounts made *later* depends on each mount's propagation type
(mount_namespaces(7), and the kernel's Documentation/filesystems/sharedsubtree.rst):

* **shared**: the mount belongs to a *peer group*; a mount or unmount below
  it is replayed on every peer, in every namespace, both ways. systemd makes
  ``/`` shared at boot, so on most hosts the copies a new namespace gets are
  peers of the host's mounts.
* **slave**: events come in from the master peer group, none go out. runc
  makes the container's ``/`` a recursive slave before anything else.
* **private**: nothing in, nothing out. labcore's default for containers.

``/proc/PID/mountinfo`` shows it in its optional fields: ``shared:N`` (peer
group N), ``master:N`` (slave of group N), nothing for private.

This module makes a lab directory into a shared mount (a bind mount onto
itself, then ``MS_SHARED``), mounts tmpfs below it in one namespace or
another, and reads the result from any process's mountinfo. Every mount is
recorded by the tracker first. Used by notebook 04.
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import kernel, tracker
from ..errors import InvalidInputError, LabError
from ..kernel import flags as F
from ..proc.mountinfo import Mount, find as find_mount, parse, read
from .process import enter


MountEntry, mountinfo, parse_mountinfo = Mount, read, parse  # one parser: labcore/mountinfo.py


def find(path: str | os.PathLike, pid: int | str = "self") -> Mount | None:
    """The mount at exactly ``path`` in ``pid``'s namespace (the topmost one), or None."""
    return find_mount(os.path.abspath(path), pid)


def _check_lab_path(path: Path) -> None:
    if not tracker.is_lab_path(str(path)):
        raise InvalidInputError(f"{path} is not a lab path",
                                f"use a path under {tracker.state_dir()} or named {tracker.PREFIX}...")


def mount_tmpfs(target: str | os.PathLike, pid: int | None = None) -> tracker.Record:
    """Mount a tmpfs on ``target``, in the mount namespace of ``pid`` (default: ours).

    The mount is recorded on the host side too: when ``target`` is below a
    shared mount, it propagates to the host, and must be undone there.
    """
    target = Path(os.path.abspath(target))
    _check_lab_path(target)
    name = f"{tracker.PREFIX}tmpfs"
    with tracker.default().created("mount", str(target)) as rec:
        if pid is None:
            kernel.default().mount(name, str(target), "tmpfs", F.MS_NOSUID | F.MS_NODEV)
        else:
            # Join its user namespace too when it has its own (a rootless container): it owns the mounts.
            kinds = ("user", "mnt") if os.stat(f"/proc/{pid}/ns/user").st_ino != os.stat("/proc/self/ns/user").st_ino \
                else ("mnt",)
            done = enter(pid, ["mount", "-t", "tmpfs", "-o", "nosuid,nodev", name, str(target)], kinds=kinds)
            if done.returncode != 0:
                raise LabError(f"mount tmpfs on {target} in the mount namespace of {pid} failed: "
                               f"{done.stderr.strip()}", "is the directory there?")
    return rec


class SharedDir:
    """A lab directory made into a shared mount: the stage for propagation demos.

    ``with SharedDir("lab-prop") as shared:`` creates the directory under the
    state directory, bind-mounts it onto itself (only a mount point can have
    a propagation type) and marks it ``MS_SHARED``. ``mount(name, pid)``
    mounts a tmpfs on a directory in it, in any namespace; ``sees(name, pid)``
    tells where it shows. At the end everything is undone in reverse order;
    unmounting the bind mount (lazily) takes every mount below it along.
    """

    def __init__(self, name: str):
        if not name.startswith(tracker.PREFIX) or "/" in name:
            raise InvalidInputError(f"bad directory name {name!r}",
                                    f"use a name starting with {tracker.PREFIX!r} and without '/'")
        self.path = tracker.state_dir() / name
        self._records: list[tracker.Record] = []

    def open(self) -> "SharedDir":
        if self.path.exists():
            raise InvalidInputError(f"{self.path} already exists", "choose another name, or run labcore cleanup")
        trk = tracker.default()
        with trk.created("path", str(self.path)) as rec:
            self.path.mkdir(parents=True)
            self.path.chmod(0o755)
        self._records.append(rec)
        with trk.created("mount", str(self.path)) as rec:
            kernel.default().mount(str(self.path), str(self.path), None, F.MS_BIND)
            kernel.default().mount(None, str(self.path), None, F.MS_SHARED)
        self._records.append(rec)
        return self

    def mount(self, name: str, pid: int | None = None) -> Path:
        """Mount a tmpfs on NAME inside the directory, in ``pid``'s mount namespace (default: ours)."""
        target = self.path / name
        target.mkdir(exist_ok=True)
        self._records.append(mount_tmpfs(target, pid))
        return target

    def sees(self, name: str, pid: int | str = "self") -> bool:
        """Does ``pid``'s mount namespace have a mount on NAME inside the directory?"""
        return find(self.path / name, pid) is not None

    def propagation(self, pid: int | str = "self") -> str:
        """The directory's propagation type in ``pid``'s namespace: shared, slave, private."""
        entry = find(self.path, pid)
        return entry.propagation if entry else "not a mount point"

    def close(self) -> None:
        for rec in reversed(self._records):  # mounts below, the bind mount, then the directory
            tracker.default().undo(rec)
        self._records.clear()

    def __enter__(self) -> "SharedDir":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["MountEntry", "SharedDir", "mountinfo", "parse_mountinfo", "find", "mount_tmpfs"]
