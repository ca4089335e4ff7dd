"""overlayfs: read-only image layers merged under one writable layer.

An overlay mount stacks directories (see the kernel's
Documentation/filesystems/overlayfs.rst, and mount(8) "overlay")::

    mount -t overlay overlay -o lowerdir=L2:L1,upperdir=U,workdir=W MERGED

* ``lowerdir`` lists the image's layers, **topmost first**; they are never
  written.
* ``upperdir`` is the container's writable layer. A file is copied there
  from below the first time it is opened for writing, or its metadata
  changes (*copy-up*). Reading never copies anything.
* A deletion cannot touch a lower layer, so overlay records it in the upper
  dir as a **whiteout**: a character device with device number 0/0 under
  the deleted name. A directory that replaces a lower one is marked
  **opaque** with the xattr ``trusted.overlay.opaque="y"``: nothing below it
  shows through.
* ``workdir`` is an empty directory on the same filesystem as the upper
  dir, where overlay prepares a copy-up before moving it into place in one
  atomic step (deep dive B watches it happen).

Docker's overlay2 storage driver is exactly this: one directory per layer
under /var/lib/docker/overlay2, and for each container an upper dir, a work
dir and a merged dir (chapter 11).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .. import kernel, tracker
from ..errors import InvalidInputError, PrivilegeError, UnsupportedError
from .scratch import Scratch

OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
PAGE = 4096  # mount(2) copies at most one page of options


def is_whiteout(path: str | os.PathLike) -> bool:
    """Is ``path`` an overlay whiteout: a character device numbered 0/0?"""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str | os.PathLike) -> bool:
    """Does the directory carry overlay's opaque mark (trusted.overlay.opaque = y)?"""
    for name in OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def mark_opaque(path: str | os.PathLike | int) -> None:
    """Set trusted.overlay.opaque on a directory, given by path or open fd (root only: trusted.* needs CAP_SYS_ADMIN)."""
    os.setxattr(path, OPAQUE_XATTRS[0], b"y", follow_symlinks=isinstance(path, int))


def make_whiteout(path: str | os.PathLike, dir_fd: int | None = None) -> None:
    """mknod(2) a 0/0 character device: overlay's mark for "deleted" (needs CAP_MKNOD)."""
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=dir_fd)


@dataclass
class Change:
    """One entry of an upper dir, read against the layers below it."""

    path: str        # inside the container, e.g. /etc/hostname
    kind: str        # added, modified (copied up), deleted (whiteout), replaced (opaque dir)

    def __str__(self) -> str:
        return f"{self.kind:<9} {self.path}"


@dataclass
class Overlay(tracker.Held):
    """A mounted overlay. ``merged`` is what a container would see as its root."""

    lower: list[Path]
    upper: Path | None
    work: Path | None
    merged: Path
    options: list[str] = field(default_factory=list)
    _record: object = None
    _scratch: list[Scratch] = field(default_factory=list)

    def __repr__(self) -> str:
        state = "mounted" if self.mounted else "unmounted"
        return f"<Overlay {len(self.lower)} lower layer(s), {'writable' if self.upper else 'read-only'}: {state}>"

    @property
    def mounted(self) -> bool:
        return self._record is not None

    def data(self) -> str:
        """The option string given to mount(2)."""
        return mount_data(self.lower, self.upper, self.work, self.options)

    def mountinfo(self) -> str:
        """This mount's line in /proc/self/mountinfo (what the kernel says it mounted)."""
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            if line.split()[4] == str(self.merged):
                return line
        return ""

    def changes(self) -> list[Change]:
        """What the upper dir holds, named as a container's diff (``docker diff``) would."""
        if self.upper is None:
            return []
        return upper_changes(self.upper, self.lower)

    def unmount(self, keep_dirs: bool = False) -> None:
        """umount2(2) the overlay, then delete its scratch dirs if we made them (idempotent).

        ``keep_dirs=True`` leaves upper and work dirs on disk, to look at them
        unmounted (deep dive B); a later ``unmount()`` deletes them.
        """
        super().release()
        if not keep_dirs:
            for scratch in self._scratch:
                scratch.remove()

    def release(self) -> None:
        self.unmount()


def _check_dir(path: Path, role: str) -> Path:
    path = Path(os.path.abspath(path))
    if any(c in str(path) for c in ",:\\\n"):
        raise InvalidInputError(f"{role} {path} contains ',', ':' or '\\'",
                                "overlay's option syntax separates paths with them: use a plainer path")
    if not path.is_dir():
        raise InvalidInputError(f"{role} {path} is not a directory", "create it first")
    return path


def mount_data(lower, upper=None, work=None, options=()) -> str:
    """``lowerdir=...,upperdir=...,workdir=...`` plus extra options (pure)."""
    parts = ["lowerdir=" + ":".join(str(p) for p in lower)]
    if upper is not None:
        parts += [f"upperdir={upper}", f"workdir={work}"]
    return ",".join(parts + list(options))


def mount(lower: list, merged, upper=None, work=None, options: list[str] | tuple = ()) -> Overlay:
    """Mount an overlay of ``lower`` (topmost first) with an optional writable ``upper``.

    Every path is checked before anything is mounted; the mount is recorded
    by the tracker (``merged`` must be a lab path) and undone by
    ``Overlay.unmount()`` or ``labcore cleanup``.
    """
    if not lower:
        raise InvalidInputError("an overlay needs at least one lower directory", "pass the image's layers")
    lower = [_check_dir(Path(p), "lower dir") for p in lower]
    merged = _check_dir(Path(merged), "mount point")
    if (upper is None) != (work is None):
        raise InvalidInputError("upperdir and workdir go together", "give both, or neither for a read-only overlay")
    if upper is None and len(lower) < 2:
        raise InvalidInputError("a read-only overlay needs at least two lower dirs",
                                "add a writable upper dir, or another lower dir")
    if upper is not None:
        upper, work = _check_dir(Path(upper), "upper dir"), _check_dir(Path(work), "work dir")
        if os.stat(upper).st_dev != os.stat(work).st_dev:
            raise InvalidInputError(f"upper dir {upper} and work dir {work} are on different filesystems",
                                    "overlay renames from one to the other: put both on the same filesystem")
        if {e.name for e in os.scandir(work)} - {"work", "index"}:  # overlay's own leftovers are fine
            raise InvalidInputError(f"work dir {work} holds files that overlay did not put there",
                                    "give overlay an empty work dir (or the one it used before)")
    if not tracker.is_lab_path(str(merged)):
        raise InvalidInputError(f"mount point {merged} is not a lab path",
                                f"mount under {tracker.state_dir()} (use labcore.fs.Scratch)")
    data = mount_data(lower, upper, work, options)
    if len(data.encode()) >= PAGE:
        raise InvalidInputError(f"the overlay options take {len(data)} bytes, more than mount(2) accepts ({PAGE - 1})",
                                "use fewer layers or shorter paths")
    if os.geteuid() != 0:
        raise PrivilegeError("mounting an overlay needs CAP_SYS_ADMIN, and this process is not root",
                             "run the lab kernel as root (the course VM does)")
    overlay = Overlay(lower, upper, work, merged, list(options))
    with tracker.default().created("mount", merged) as rec:
        try:
            kernel.default().mount("overlay", str(merged), "overlay", 0, data)
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                raise UnsupportedError("this kernel has no overlay filesystem", "modprobe overlay") from None
            raise
    overlay._record = rec
    return overlay


def container_layer(lower: list, options: list[str] | tuple = (), name: str = "container",
                    on_disk: bool = True) -> Overlay:
    """A container's root: ``lower`` (the image, topmost first) under a fresh writable layer.

    Makes a scratch dir with ``upper``, ``work`` and ``merged`` inside, mounts
    the overlay there, and deletes all three on ``unmount()``: removing a
    container removes its writable layer and nothing else. Upper and work
    (what the container writes) live on disk, in ``Scratch(on_disk=True)``
    under the lab's data directory: a container that writes gigabytes fills
    a disk, not the RAM-backed /run (chapter 11 writes hundreds of MB).
    ``on_disk=False`` keeps them with ``merged`` under the state directory.
    Used by 03, 06, 11, B.
    """
    scratches = [Scratch(name)]
    try:
        data = Scratch(name, on_disk=True) if on_disk else scratches[0]
        if on_disk:
            scratches.append(data)
        overlay = mount(lower, scratches[0].dir("merged"), data.dir("upper"), data.dir("work"), options)
    except BaseException:
        for scratch in scratches:
            scratch.remove()
        raise
    overlay._scratch = scratches
    return overlay


def watch(dirs: dict[str, str | os.PathLike], action) -> list:
    """Run ``action()`` while inotify(7) watches ``dirs`` ({label: directory}); return the events.

    Deep dive B watches an overlay's upper dir and ``workdir/work`` to see a
    copy-up being prepared in one and appearing, complete, in the other.
    """
    with kernel.Inotify() as ino:
        for label, path in dirs.items():
            ino.watch(path, label)
        ino.read(timeout=0)  # drop anything queued before the action
        action()
        return ino.read(timeout=0.2)


def _in_lower(rel: str, lower: list[Path]) -> bool:
    for layer in lower:
        candidate = layer / rel
        if os.path.lexists(candidate):
            return not is_whiteout(candidate)
        parent = candidate.parent
        if parent != layer and is_opaque(parent):
            return False
    return False


def upper_changes(upper: str | os.PathLike, lower: list) -> list[Change]:
    """Walk an upper dir and classify each entry against the lower layers (topmost first)."""
    upper, lower = Path(upper), [Path(p) for p in lower]
    out: list[Change] = []
    for root, dirs, files in os.walk(upper):
        dirs.sort()
        for name in sorted(dirs + files):
            full = Path(root) / name
            rel = str(full.relative_to(upper))
            if is_whiteout(full):
                kind = "deleted"
            elif full.is_dir() and not full.is_symlink() and is_opaque(full):
                kind = "replaced"
            elif _in_lower(rel, lower):
                if full.is_dir() and not full.is_symlink():
                    continue  # a directory copied up only to hold a changed child: not a change itself
                kind = "modified"
            else:
                kind = "added"
            out.append(Change("/" + rel, kind))
    return out


__all__ = ["Overlay", "Change", "mount", "container_layer", "mount_data", "upper_changes", "watch",
           "is_whiteout", "is_opaque", "mark_opaque", "make_whiteout", "OPAQUE_XATTRS"]
