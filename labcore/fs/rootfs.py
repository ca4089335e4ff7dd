"""A container's root filesystem: pivot_root(2) into a directory.

``chroot`` only changes how one process resolves ``/``; the old root stays
mounted and reachable (a root process escapes with a second chroot and
``..``). A container runtime instead, inside its new mount namespace:

1. bind-mounts the rootfs onto itself, because pivot_root wants a mount
   point, and mounts ``/dev`` (a tmpfs with the few device files a program
   expects, bound from the host's), a fresh ``/proc`` and, for a container
   with its own network namespace, a fresh ``/sys``. Both come before the
   switch: in a user namespace the kernel mounts a new proc or sysfs only
   while a fully visible one is in the mount namespace (it would otherwise
   reveal what the host hides under its mounts), and the host's leave with
   the old root;
2. ``pivot_root(".", ".")``: the rootfs becomes ``/`` and the old root is
   stacked on top of it, still mounted;
3. ``umount2(".", MNT_DETACH)``: the old root, the host's whole tree, is
   gone from this mount namespace. Nothing outside the rootfs can be named
   any more.

This is what runc does too (``libcontainer/rootfs_linux.go``). See
pivot_root(2), mount_namespaces(7). ``labcore.ns.process.spawn(...,
rootfs=...)`` calls ``enter()`` in the child, after it made its mounts private.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .. import kernel
from ..errors import InvalidInputError
from ..kernel import flags as F

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


@dataclass(frozen=True)
class Rootfs:
    """Where a process's ``/`` will be, and the directory it starts in there."""

    path: str
    cwd: str = "/"
    readonly: bool = False
    sysfs: str = ""   # "ro" or "rw": a new sysfs on /sys, for a container with its own net namespace

    @classmethod
    def of(cls, value) -> "Rootfs":
        """A Rootfs from a path or a Rootfs, checked before anything is forked (pure read)."""
        rootfs = value if isinstance(value, Rootfs) else Rootfs(os.fspath(value))
        path = Path(rootfs.path)
        if not path.is_absolute():
            rootfs = Rootfs(str(path.resolve()), rootfs.cwd, rootfs.readonly, rootfs.sysfs)
        if not Path(rootfs.path).is_dir():
            raise InvalidInputError(f"rootfs {rootfs.path} is not a directory",
                                    "unpack an image there first (labcore image unpack)")
        if not rootfs.cwd.startswith("/"):
            raise InvalidInputError(f"working directory {rootfs.cwd!r} is not absolute", "start it with /")
        return rootfs


def _plain_dir(path: Path) -> bool:
    """A real directory, not a symlink: an image could point /dev at a host path otherwise."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _mount_dev(root: Path, k) -> None:
    dev = root / "dev"
    if not _plain_dir(dev):
        return
    k.mount("tmpfs", str(dev), "tmpfs", F.MS_NOSUID | F.MS_NOEXEC, "mode=755,size=64k")
    for name in DEVICES:
        host = Path("/dev") / name
        if not host.exists():
            continue
        (dev / name).touch()  # a bind mount needs something to cover
        k.mount(str(host), str(dev / name), None, F.MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        k.symlink(target, str(dev / name))


def enter(rootfs: Rootfs, mount_proc: bool, k=None) -> None:
    """In the child, in its own mount namespace with private mounts: make ``rootfs`` its ``/``.

    ``k`` is the kernel to call (this process's real one by default; a
    ``kernel.RecordingKernel`` in the unit tests).
    """
    k = k if k is not None else kernel.default()
    root = Path(rootfs.path)
    k.mount(str(root), str(root), None, F.MS_BIND | F.MS_REC)
    _mount_dev(root, k)
    if mount_proc and _plain_dir(root / "proc"):  # of this process's pid namespace
        k.mount("proc", str(root / "proc"), "proc", F.MS_NOSUID | F.MS_NODEV | F.MS_NOEXEC)
    if rootfs.sysfs and _plain_dir(root / "sys"):  # of this process's net namespace
        k.mount("sysfs", str(root / "sys"), "sysfs",
                F.MS_NOSUID | F.MS_NODEV | F.MS_NOEXEC | (F.MS_RDONLY if rootfs.sysfs == "ro" else 0))
    k.chdir(str(root))
    k.pivot_root(".", ".")
    k.umount2(".", F.MNT_DETACH)  # the old root: the host's tree leaves this namespace
    k.chdir("/")
    if rootfs.readonly:
        k.mount(None, "/", None, F.MS_REMOUNT | F.MS_BIND | F.MS_RDONLY)
    os.makedirs(rootfs.cwd, exist_ok=True)  # WORKDIR makes its directory, as docker does
    k.chdir(rootfs.cwd)


__all__ = ["Rootfs", "enter", "DEVICES"]
