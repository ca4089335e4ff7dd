"""/proc/PID/mountinfo: the mount table of a process's mount namespace, one parser for all.

Each line (proc(5)) is::

    36 35 254:0 /run/lab/vol/_data /data rw,relatime shared:7 - ext4 /dev/vda rw
    id parent dev  root             point options  optional - type source super-options

* ``root``: the directory of the source filesystem mounted here: ``/`` for a
  whole filesystem, a sub-path for a bind mount (chapter 11);
* the optional fields say how the mount propagates: ``shared:N`` (a member
  of peer group N), ``master:N`` (a slave of group N), nothing for private
  (chapter 04);
* the super options are the filesystem's own: overlay's ``lowerdir=`` lives
  there (chapters 06 and 11, Binder's overlay root in 00).

Spaces, tabs, newlines and backslashes in paths are written as octal
escapes (``\\040``...), undone here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInputError


@dataclass
class Mount:
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
    peer_group: int | None = None  # shared:N
    master: int | None = None      # master:N (a slave of peer group N)

    def option(self, name: str) -> str | None:
        """The value of ``name=...`` in the super options (e.g. ``lowerdir``)."""
        for part in self.super_options.split(","):
            key, _, value = part.partition("=")
            if key == name:
                return value
        return None

    @property
    def propagation(self) -> str:
        if self.peer_group and self.master:
            return "shared and slave"
        return "shared" if self.peer_group else "slave" if self.master else "private"


def _unescape(text: str) -> str:
    return text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def parse(text: str) -> list[Mount]:
    """Parse the text of a mountinfo file (pure)."""
    out = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 6 or len(rest) < 2:
            continue
        optional = dict(f.split(":", 1) for f in fields[6:] if ":" in f)
        out.append(Mount(int(fields[0]), int(fields[1]), fields[2], _unescape(fields[3]), _unescape(fields[4]),
                         fields[5], rest[0], _unescape(rest[1]), rest[2] if len(rest) > 2 else "",
                         int(optional["shared"]) if "shared" in optional else None,
                         int(optional["master"]) if "master" in optional else None))
    return out


def read(pid: int | str = "self") -> list[Mount]:
    """The mounts that process ``pid`` sees (its mount namespace), from the kernel."""
    try:
        return parse(Path(f"/proc/{pid}/mountinfo").read_text())
    except FileNotFoundError:
        raise InvalidInputError(f"no process {pid}", "check the PID: it may have exited") from None


def find(point: str, pid: int | str = "self") -> Mount | None:
    """The (topmost) mount at ``point`` in process ``pid``'s view: a later mount hides earlier ones."""
    found = [m for m in read(pid) if m.point == point]
    return found[-1] if found else None


__all__ = ["Mount", "parse", "read", "find"]
