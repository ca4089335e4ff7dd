"""Hostile-archive checks: what a layer tar from an untrusted image may not do to its reader.

The bounds and refusals that ``labcore.fs.extract`` and ``labcore.fs.layers``
apply before trusting a byte of a layer (see tar(5) and the POSIX pax
format, and the OCI image spec's "layer.md"): header sizes checked before
tarfile reads a header into memory, a bounded decompressed stream, names
that never leave the root, PAX mtimes that are real times, and blobs
opened only when they are regular files (open(2) ``O_NOFOLLOW``/``O_NONBLOCK``).
"""

from __future__ import annotations

import errno
import gzip
import os
import stat
import tarfile
import zlib
from dataclasses import dataclass

from ..errors import InvalidInputError

CHUNK = 1 << 20
MAX_HEADER = 1 << 20          # a GNU long name or a PAX header bigger than this is refused unread


class UnsafeArchiveError(InvalidInputError):
    """A layer tar holds an entry that would reach outside its target, or too much data."""


@dataclass
class Limits:
    """How much one layer may hold before it is refused as absurd."""

    max_bytes: int = 16 << 30     # uncompressed bytes read from the archive
    max_entries: int = 1_000_000
    max_file: int = 8 << 30


def open_regular(path: str | os.PathLike, what: str | None = None):
    """Open a file to read, refusing at once anything but a regular file (a FIFO, a device, a symlink).

    ``O_NOFOLLOW`` refuses a symlink as the last component, ``O_NONBLOCK``
    keeps open(2) of a FIFO from waiting for a writer, and fstat(2) on the
    descriptor checks what was opened, not what the name points at later.
    """
    what = what or str(path)
    try:
        f = open(path, "rb", opener=lambda name, _: os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                                                              | os.O_CLOEXEC))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidInputError(f"{what} is not a regular file (a symbolic link)",
                                    "a blob is a file of its own: copy the file, do not link it") from None
        if exc.errno == errno.ENOENT:
            raise InvalidInputError(f"{what} does not exist", "check the path") from None
        raise
    st = os.fstat(f.fileno())
    if not stat.S_ISREG(st.st_mode):
        f.close()
        raise InvalidInputError(f"{what} is not a regular file ({stat.filemode(st.st_mode)[0]} in ls -l)",
                                "a blob is a regular file: a FIFO or a device never ends")
    os.set_blocking(f.fileno(), True)
    return f


class BoundedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses a GNU long name or PAX header claiming more than ``MAX_HEADER`` bytes.

    tarfile reads such a header whole into memory; its size field is checked
    here first, so a header claiming gigabytes costs 512 bytes, not gigabytes.
    """

    def _proc_member(self, tarfile_):
        kinds = {tarfile.GNUTYPE_LONGNAME: "GNU long name", tarfile.GNUTYPE_LONGLINK: "GNU long link name",
                 tarfile.XHDTYPE: "PAX", tarfile.XGLTYPE: "PAX global", tarfile.SOLARIS_XHDTYPE: "PAX (Solaris)"}
        if self.type in kinds and self.size > MAX_HEADER:
            raise UnsafeArchiveError(f"a {kinds[self.type]} header claims {self.size} bytes",
                                     f"more than {MAX_HEADER} for a header: the archive was crafted")
        return super()._proc_member(tarfile_)


class _Limited:
    """Reads from a (decompressed) stream and refuses to go past ``limit`` bytes."""

    def __init__(self, raw, limit: int, name: str):
        self.raw, self.limit, self.count, self.name = raw, limit, 0, name

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or self.count + size > self.limit + CHUNK:
            size = self.limit + CHUNK - self.count
        try:
            data = self.raw.read(size)
        except EOFError:
            raise UnsafeArchiveError(f"layer {self.name} is truncated: its gzip stream ends before its end marker",
                                     "the blob is damaged (an interrupted download?)") from None
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise UnsafeArchiveError(f"layer {self.name} is not valid gzip: {exc}", "the blob is damaged") from None
        self.count += len(data)
        if self.count > self.limit:
            raise UnsafeArchiveError(f"layer {self.name} holds more than {self.limit} bytes",
                                     "an absurdly large archive is refused: raise Limits.max_bytes if it is genuine")
        return data


def _open_blob(blob, limit: int):
    """(the file to close or None, a bounded stream of the tar): ``blob`` is a path or an open binary file."""
    if isinstance(blob, (str, os.PathLike)):
        raw = owned = open_regular(blob, f"layer {os.fspath(blob)}")
    else:
        raw, owned = blob, None
    start = raw.tell()
    magic = raw.read(2)
    raw.seek(start)
    stream = gzip.GzipFile(fileobj=raw, mode="rb") if magic == b"\x1f\x8b" else raw
    return owned, _Limited(stream, limit, os.path.basename(str(getattr(raw, "name", "layer"))))


def clean_name(name: str, what: str = "entry") -> list[str]:
    """An archive path as components, refusing absolute names and '..' (pure)."""
    if "\0" in name:
        raise UnsafeArchiveError(f"{what} {name!r} contains a NUL byte", "the archive is malformed")
    if name.startswith("/"):
        raise UnsafeArchiveError(f"{what} {name!r} is an absolute path",
                                 "layer entries are relative to the root: this archive was crafted")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{what} {name!r} climbs out with '..'",
                                 "path traversal: this archive was crafted to write outside its root")
    return parts


def _mtime_ns(member: tarfile.TarInfo) -> int:
    """The entry's mtime in nanoseconds: a PAX mtime may be fractional, or crafted (1e400, nan)."""
    try:
        ns = round(member.mtime * 10**9)
    except (ValueError, OverflowError, TypeError):
        ns = None
    if ns is None or not -(1 << 63) <= ns < 1 << 63:
        raise UnsafeArchiveError(f"entry {member.name!r} has mtime {member.pax_headers.get('mtime', member.mtime)}",
                                 "not a time a file can have: the archive is malformed or crafted")
    return ns


__all__ = ["UnsafeArchiveError", "Limits", "open_regular", "BoundedTarInfo", "clean_name", "CHUNK", "MAX_HEADER"]
