"""Where a runtime keeps its containers, and what ``state`` answers.

A runtime is not a daemon: every command (``create``, ``start``, ``kill``)
is a new process that exits. What connects them is a **state directory**,
one subdirectory per container under the root (``--root``, like runc's
``/run/runc``)::

    ROOT/ID/state.json   the container's id, bundle, init PID (with its start time), hooks...
    ROOT/ID/exec.fifo    exists while the container is "created": start opens it to let init exec

The status is never stored once it can be observed instead: a container
whose init PID (the same process: PID *and* start time) is alive is
"created" while its exec fifo exists and "running" after; one whose
process is gone (or a zombie) is "stopped". Only "creating" is written
down, for the moment ``create`` is still working.

``state ID`` prints the runtime spec's state JSON: ``ociVersion``, ``id``,
``status``, ``pid``, ``bundle``, ``annotations``.

Each container is also one tracker record (kind ``container``): see
``records.py``. This module does not load the tracker, so ``start``,
``state`` and ``kill``, which only read the directory, start faster.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..errors import InvalidInputError
from ..proc.stat import is_running, process_start_time  # noqa: F401 (process_start_time: part of what state offers)

OCI_VERSION = "1.0.2"
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")
STATUSES = ("creating", "created", "running", "stopped")


def default_root() -> Path:
    """The state root when --root is not given: ``<lab state dir>/runtime``."""
    from .. import tracker
    return tracker.state_dir() / "runtime"


def check_id(cid: str) -> str:
    """A container ID names a directory: letters, digits and ``_.+-``, no ``/`` nor ``..``."""
    if not ID_PATTERN.match(cid or ""):
        raise InvalidInputError(f"container id {cid!r} is not valid",
                                "use letters, digits and _ . + - (128 characters at most), as runc accepts")
    return cid


class Container:
    """One container's state directory and what it says."""

    def __init__(self, root: str | os.PathLike, cid: str):
        self.id = check_id(cid)
        self.root = Path(root)
        self.dir = self.root / cid
        self.file = self.dir / "state.json"
        self.fifo = self.dir / "exec.fifo"
        self.data: dict = {}

    def exists(self) -> bool:
        return self.file.exists()

    def load(self) -> "Container":
        try:
            self.data = json.loads(self.file.read_text())
        except FileNotFoundError:
            raise InvalidInputError(f"container {self.id!r} does not exist (no {self.file})",
                                    "`labcore runtime list` shows the containers of this --root") from None
        return self

    def save(self) -> None:
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        tmp.rename(self.file)  # atomic: a concurrent `state` never reads half a file

    @property
    def pid(self) -> int:
        return int(self.data.get("pid") or 0)

    def alive(self) -> bool:
        return self.pid > 0 and is_running(self.pid, self.data.get("start_time"))

    def status(self) -> str:
        """Observed, not stored: see the module docstring."""
        if self.data.get("status") == "creating":
            creator = self.data.get("creator")
            return "creating" if creator and is_running(*creator) else "stopped"
        if not self.alive():
            return "stopped"
        return "created" if self.fifo.exists() else "running"

    def state(self) -> dict:
        """The runtime spec's state object."""
        status = self.status()
        out = {"ociVersion": OCI_VERSION, "id": self.id, "status": status,
               "bundle": self.data.get("bundle", ""), "annotations": self.data.get("annotations") or {}}
        if status in ("created", "running"):
            out["pid"] = self.pid
        else:
            out["pid"] = 0
        return out

    def remove_dir(self) -> None:
        import shutil  # imported where used: `start` and `state` never remove, and shutil loads lzma and bz2
        shutil.rmtree(self.dir, ignore_errors=True)


def all_in(root: str | os.PathLike) -> list[Container]:
    """Every container of a state root, sorted by id."""
    root = Path(root)
    out = []
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        if (d / "state.json").exists() and ID_PATTERN.match(d.name):
            try:
                out.append(Container(root, d.name).load())
            except (ValueError, OSError):
                continue
    return out


__all__ = ["Container", "all_in", "default_root", "check_id", "OCI_VERSION", "STATUSES"]
