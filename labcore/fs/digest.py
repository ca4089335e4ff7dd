"""Layer digests through gzip: a blob's diff_id, read in bounded chunks.

The diff_id of a layer is the sha256 of its *uncompressed* tar (the OCI
image spec, "config.md", ``rootfs.diff_ids``); a blob is usually gzipped
(RFC 1952, possibly several members). This module decompresses it a
``CHUNK`` at a time, so a decompression bomb is refused, not held in memory.
"""

from __future__ import annotations

import hashlib
import os
import zlib

from .tarsafety import CHUNK, UnsafeArchiveError, open_regular

MAX_UNCOMPRESSED = 16 << 30   # a layer that decompresses to more than this is refused (Limits.max_bytes)


def uncompressed_digest(blob, max_bytes: int = MAX_UNCOMPRESSED) -> str:
    """sha256 of the tar inside a blob, gzipped or not: the layer's diff_id.

    ``blob`` is a path or an open binary file (read from where it is). Every
    gzip member is hashed, as ``gzip -d`` and ``apply_layer`` read them all,
    so the diff_id covers the bytes that are extracted. Refused with
    ``UnsafeArchiveError``: a truncated stream, bytes after it that are not
    gzip, and more than ``max_bytes`` uncompressed (memory stays bounded:
    at most ``CHUNK`` bytes are decompressed at a time).
    """
    if isinstance(blob, (str, os.PathLike)):
        with open_regular(blob) as f:
            return uncompressed_digest(f, max_bytes)
    f, name = blob, os.path.basename(str(getattr(blob, "name", "blob")))
    h = hashlib.sha256()
    total = 0

    def add(data: bytes) -> None:
        nonlocal total
        total += len(data)
        if total > max_bytes:
            raise UnsafeArchiveError(f"layer {name} uncompresses to more than {max_bytes} bytes",
                                     "a decompression bomb, or a layer too large for the lab: refused")
        h.update(data)

    start = f.tell()
    magic = f.read(2)
    f.seek(start)
    if magic != b"\x1f\x8b":
        while chunk := f.read(CHUNK):
            add(chunk)
        return "sha256:" + h.hexdigest()
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending = b""
    while True:
        if not pending:
            pending = f.read(CHUNK)
            if not pending:
                break
        if d.eof:  # a member ended: another one follows, or zero padding (as gzip -d allows)
            pending = pending.lstrip(b"\0")
            if not pending:
                continue
            if len(pending) < 2:
                pending += f.read(CHUNK)
            if not pending.startswith(b"\x1f\x8b"):
                raise UnsafeArchiveError(f"layer {name} has bytes after its gzip stream that are not gzip",
                                         "the blob is damaged or was crafted")
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            add(d.decompress(pending, CHUNK))
            while d.unconsumed_tail:
                add(d.decompress(d.unconsumed_tail, CHUNK))
        except zlib.error as exc:
            raise UnsafeArchiveError(f"layer {name} is not valid gzip: {exc}", "the blob is damaged") from None
        pending = d.unused_data
    if not d.eof:
        raise UnsafeArchiveError(f"layer {name} is truncated: its gzip stream ends before its end marker",
                                 "the blob is damaged (an interrupted download?)")
    return "sha256:" + h.hexdigest()


__all__ = ["uncompressed_digest", "MAX_UNCOMPRESSED"]
