"""One record on disk: the object the lab created, and how it is read back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Record:
    """One object the lab created: its kind, what identifies it, how to undo it."""

    kind: str
    target: str
    extra: dict = field(default_factory=dict)
    owner: int = 0
    seq: int = 0
    file: Path | None = None
    owner_start: int | None = None  # the owner's start time: a recycled owner PID is not the owner
    disowned: bool = field(default=False, repr=False, compare=False)

    def not_mine(self) -> None:
        """Inside ``created()``: the object was there already (EEXIST): drop the record, never undo it."""
        self.disowned = True

    def __repr__(self) -> str:
        return f"<{self.describe()}>"

    def describe(self) -> str:
        """``process pid 1234``, ``mount /run/labcore/x``: what a person recognises."""
        return f"process pid {self.target}" if self.kind == "process" else f"{self.kind} {self.target}"


_FIELDS = {"kind": str, "target": str, "extra": dict, "owner": int, "seq": int}


def parse_record(text: str, path: Path | None = None) -> Record:
    """A record from its JSON text; ValueError saying what is wrong with it."""
    if not text.strip():
        raise ValueError("empty")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"not a JSON object but {type(data).__name__}")
    for key, typ in _FIELDS.items():
        if key not in data:
            raise ValueError(f"no {key!r}")
        if not isinstance(data[key], typ) or isinstance(data[key], bool):
            raise ValueError(f"{key!r} is {type(data[key]).__name__}, not {typ.__name__}")
    start = data.get("owner_start")
    if start is not None and (not isinstance(start, int) or isinstance(start, bool)):
        raise ValueError(f"'owner_start' is {type(start).__name__}, not int")
    return Record(data["kind"], data["target"], data["extra"], data["owner"], data["seq"], path, start)


__all__ = ["Record", "parse_record"]
