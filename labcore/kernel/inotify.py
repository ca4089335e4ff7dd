"""inotify(7): the kernel tells us what happens to files in a directory.

Python has no binding for it, so this is ctypes like the rest of
``labcore.kernel``. Deep dive B watches an overlay's upper and work
directories with it, to see the steps of a copy-up in the order the kernel
takes them (a temporary file filled in the workdir, then linked or renamed
into the upper dir).
"""

from __future__ import annotations

import os
import select
import struct
from dataclasses import dataclass

from .libc import default


# <sys/inotify.h>
IN_ACCESS = 0x001
IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_CLOSE_NOWRITE = 0x010
IN_OPEN = 0x020
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_ISDIR = 0x40000000
IN_ALL_EVENTS = 0xFFF

EVENT_NAMES = {IN_ACCESS: "ACCESS", IN_MODIFY: "MODIFY", IN_ATTRIB: "ATTRIB", IN_CLOSE_WRITE: "CLOSE_WRITE",
               IN_CLOSE_NOWRITE: "CLOSE_NOWRITE", IN_OPEN: "OPEN", IN_MOVED_FROM: "MOVED_FROM",
               IN_MOVED_TO: "MOVED_TO", IN_CREATE: "CREATE", IN_DELETE: "DELETE"}
_HEADER = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)


@dataclass(frozen=True)
class Event:
    """One inotify event: in which watched directory, what happened, to which name."""

    where: str
    what: tuple[str, ...]
    name: str
    is_dir: bool

    def __str__(self) -> str:
        return f"{self.where}: {'|'.join(self.what)} {self.name}{' (dir)' if self.is_dir else ''}"


class Inotify:
    """An inotify instance watching directories, each under a label of our choice.

    ``k`` is the kernel to ask (the real one, or a recorder in unit tests).
    """

    def __init__(self, k=None):
        self._k = k if k is not None else default()
        self.fd = self._k.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        self._labels: dict[int, str] = {}

    def watch(self, path: str | os.PathLike, label: str, mask: int = IN_ALL_EVENTS) -> None:
        """inotify_add_watch(2) on ``path``; its events will say ``label``."""
        wd = self._k.inotify_add_watch(self.fd, os.fspath(path), mask)
        self._labels[wd] = label

    def read(self, timeout: float = 0.2) -> list[Event]:
        """Every event queued so far (waiting up to ``timeout`` for the first)."""
        events: list[Event] = []
        while select.select([self.fd], [], [], timeout)[0]:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            offset = 0
            while offset < len(buf):
                wd, mask, _cookie, size = _HEADER.unpack_from(buf, offset)
                name = buf[offset + _HEADER.size:offset + _HEADER.size + size].rstrip(b"\0").decode(errors="replace")
                offset += _HEADER.size + size
                what = tuple(n for bit, n in EVENT_NAMES.items() if mask & bit)
                events.append(Event(self._labels.get(wd, str(wd)), what, name, bool(mask & IN_ISDIR)))
            timeout = 0.05  # then drain what follows closely
        return events

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


__all__ = ["Inotify", "Event", "EVENT_NAMES", "IN_ALL_EVENTS", "IN_CREATE", "IN_MODIFY", "IN_ATTRIB",
           "IN_MOVED_FROM", "IN_MOVED_TO", "IN_DELETE", "IN_ISDIR", "IN_OPEN", "IN_ACCESS", "IN_CLOSE_WRITE",
           "IN_CLOSE_NOWRITE"]
