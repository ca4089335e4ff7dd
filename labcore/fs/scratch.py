"""Scratch directories: where layers, upper dirs and mount points live.

Everything the filesystem chapters create on disk goes into a directory
under the lab's state directory (``/run/labcore/fs/...``), or for bulky
data under its data directory (``/var/tmp/labcore``), recorded by the
tracker *before* it exists, so ``labcore cleanup`` removes it after a
crash. The tracker's ``path`` undo never descends into a mount, so a
forgotten overlay is unmounted (``mount`` records go first) before its
directories are removed.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from .. import tracker
from ..errors import InvalidInputError


# The lab's data directory is the tracker's to know (it judges what is a lab path); named here for the chapters.
DATA_DIR, default_data_dir, data_dir = tracker.DATA_DIR, tracker.default_data_dir, tracker.data_dir


def ensure_data_dir() -> Path:
    """``data_dir()``, made if missing, and refused unless it is this user's (or root's) and nobody else
    may write to it."""
    return tracker.check_private(data_dir(), "data directory")


class Scratch:
    """A fresh directory owned by the lab; ``remove()`` (or the end of a ``with``) deletes it.

    By default it lives under the state directory. ``on_disk=True`` puts it
    in ``data_dir()`` instead, named ``lab-NAME-…`` (the tracker's mark for
    a lab path): for the hundreds of megabytes chapter 11 writes, which a
    RAM-backed /run may not hold.
    """

    def __init__(self, name: str = "scratch", on_disk: bool = False):
        if not name or "/" in name or name.startswith("."):
            raise InvalidInputError(f"bad scratch name {name!r}", "use a plain name such as 'layers'")
        base = ensure_data_dir() if on_disk else tracker.state_dir() / "fs"
        self.path = base / f"{tracker.PREFIX if on_disk else ''}{name}-{secrets.token_hex(4)}"
        with tracker.default().created("path", self.path) as rec:
            base.mkdir(parents=True, exist_ok=True, mode=0o711)
            try:
                self.path.mkdir(mode=0o755)
            except FileExistsError:
                rec.not_mine()  # (a random name: someone else's, never ours to remove)
                raise
        self._rec = rec

    def __truediv__(self, other) -> Path:
        return self.path / other

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"<Scratch {self.path}>"

    def dir(self, *parts: str) -> Path:
        """A subdirectory (made if missing)."""
        path = self.path.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def remove(self) -> None:
        """Delete the directory and everything in it (idempotent)."""
        if self._rec is not None:
            tracker.default().undo(self._rec)
            self._rec = None

    @property
    def removed(self) -> bool:
        return self._rec is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def disk_usage(path: str | os.PathLike) -> int:
    """Bytes of data under ``path`` (apparent sizes of regular files, symlinks not followed)."""
    total = 0
    for root, dirs, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(root, name))
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


__all__ = ["Scratch", "disk_usage", "data_dir", "default_data_dir", "ensure_data_dir", "DATA_DIR"]
