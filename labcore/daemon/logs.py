"""The container's log: what it wrote, one JSON object per line, as Docker's json-file driver keeps it.

The shim reads the container's stdout and stderr pipes and appends, for
every chunk, a line like::

    {"log":"hi\\n","stream":"stdout","time":"2026-11-30T06:40:01.123456789Z"}

to ``container-json.log`` in the container's state directory (Docker's
is ``/var/lib/docker/containers/ID/ID-json.log``). The log outlives the
container's process, and the daemon: ``docker logs`` reads the file back,
``--follow`` and ``attach`` keep reading it as it grows. A line is written
in one write(2) of less than a pipe's page, so a reader never sees half of
one... except while it is being written: ``read_from`` keeps an unfinished
last line for the next call.
"""

from __future__ import annotations

import json
import os
import time


def timestamp(t: float | None = None) -> str:
    """RFC 3339 in UTC with nanoseconds, as Docker writes times."""
    ns = time.time_ns() if t is None else int(t * 1e9)
    seconds, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z"


def line(stream: str, data: bytes, t: float | None = None) -> bytes:
    """One log line (bytes that are not UTF-8 are replaced, as Docker does)."""
    return json.dumps({"log": data.decode("utf-8", "replace"), "stream": stream, "time": timestamp(t)},
                      separators=(",", ":")).encode() + b"\n"


def parse(text: bytes) -> dict | None:
    """A log line back into a dict (None for a damaged line)."""
    try:
        entry = json.loads(text)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) and "log" in entry and "stream" in entry else None


def read_from(path: str | os.PathLike, offset: int) -> tuple[list[dict], int]:
    """The complete lines of the log from ``offset``, and the offset after the last complete one."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    entries = [e for e in (parse(raw) for raw in data[:end].splitlines()) if e is not None]
    return entries, offset + end


def size(path: str | os.PathLike) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


__all__ = ["timestamp", "line", "parse", "read_from", "size"]
