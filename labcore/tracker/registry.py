"""How each kind of object is undone: the undo each module registers, and what it refuses."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from collections.abc import Callable  # not typing's: loading typing took 2 ms of each runtime verb

from ..errors import CleanupError
from .records import Record


@dataclass
class Undo:
    order: int
    fn: Callable[[Record], str]


UNDO: dict[str, Undo] = {}
STAMP: dict[str, Callable[[Record], dict]] = {}
KEPT = "kept"  # an undo outcome starting with this leaves the object, so its record stays

# Each kind is undone by the module that creates it, which registers its undo with
# @undoes when it loads. After a crash, `labcore cleanup` may meet a record before
# anything has loaded that module: this table says which one to load.
KINDS = {
    "process": "labcore.ns.kill",
    "mount": "labcore.fs.mounts",
    "netns": "labcore.ns.netns",
    "cgroup": "labcore.cgroups.base",
    "cgroup-controller": "labcore.cgroups.v2",
    "path": "labcore.tracker.paths",
    "link": "labcore.net.links",
    "nft-table": "labcore.net.nft",
    "sysctl": "labcore.net.sysctl",
    "ipam": "labcore.net.ipam",
    "ipam-lease": "labcore.net.ipam",
    "docker-fw": "labcore.net.dockerfw",
    "container": "labcore.runtime.records",
}


def undoes(kind: str, order: int):
    """Register the undo function of a kind (its module is named in KINDS)."""
    def register(fn):
        UNDO[kind] = Undo(order, fn)
        return fn
    return register


def stamps(kind: str):
    """Register what to add to a record once its object exists (``created()`` calls it)."""
    def register(fn):
        STAMP[kind] = fn
        return fn
    return register


def undo_for(kind: str) -> Undo | None:
    """The undo of ``kind``, loading the module that registers it if need be; None if unknown."""
    if kind not in UNDO and kind in KINDS:
        importlib.import_module(KINDS[kind])
    return UNDO.get(kind)


def refuse(rec: Record, why: str):
    raise CleanupError(f"refusing to undo {rec}: {why}",
                       "only objects named with the lab's prefix are ever removed; "
                       "if this one is the lab's, undo it by hand and delete its record file"
                       + (f" {rec.file}" if rec.file else ""))


__all__ = ["Undo", "UNDO", "STAMP", "KEPT", "KINDS", "undoes", "stamps", "undo_for", "refuse"]
