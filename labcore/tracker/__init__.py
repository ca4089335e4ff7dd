"""Every kernel object the lab creates is recorded on disk, then undone.

Containers are made of objects that outlive the code that made them: a
mount stays mounted, a cgroup directory stays, a process keeps running
after the notebook kernel that started it is killed. So before creating
anything, labcore writes a small JSON record of it under the state
directory (``/run/labcore``: a tmpfs, cleared at reboot exactly like the
objects it describes). When the object is undone, its record goes.
``labcore cleanup`` undoes whatever records remain after a crash.

Rules that keep this safe for the host:

* The record is written *before* the object exists, so a crash at any
  point leaves a record; undoing tolerates "already gone".
* A process is identified by its PID *and* its start time, so a recycled
  PID is never killed by mistake.
* Every undo checks that the object carries the lab's name (``lab-``
  links and network namespaces, a ``labcore`` cgroup subtree, paths under
  the state directory): cleanup cannot touch anything of the host's.

Each kind of object is undone by the module that creates it (a mount by
``labcore.fs.mounts``, a cgroup by ``labcore.cgroups.base``...), which
registers its undo with ``@tracker.undoes(kind, order)``; ``KINDS`` names
that module, so cleanup after a crash can load it. ``order`` sets who goes
first: processes (they hold everything else busy), mounts, namespaces,
cgroups, then files.

Creating an object, rolling it back if the creation fails half-way::

    with tracker.default().created("mount", target) as rec:
        kernel.default().mount(...)  # on error: undone, record dropped
    ...
    tracker.default().undo(rec)    # later, when done with it
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..proc import mountinfo
from ..proc.stat import is_running, process_start_time  # here too: notebooks use lab.tracker.is_running
from ..errors import CleanupError

PREFIX = "lab-"          # links, network namespaces
CGROUP_NAME = "labcore"  # the subtree that holds every lab cgroup, in each hierarchy


def state_dir() -> Path:
    """Where records live: $LABCORE_STATE_DIR, else /run/labcore (root) or a per-user dir."""
    env = os.environ.get("LABCORE_STATE_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/run/labcore")
    return Path(f"/tmp/labcore-{os.geteuid()}")


@dataclass
class Record:
    """One object the lab created: its kind, what identifies it, how to undo it."""

    kind: str
    target: str
    extra: dict = field(default_factory=dict)
    owner: int = 0
    seq: int = 0
    file: Path | None = None

    def __repr__(self) -> str:
        return f"<{self.describe()}>"

    def describe(self) -> str:
        """``process pid 1234``, ``mount /run/labcore/x``: what a person recognises."""
        return f"process pid {self.target}" if self.kind == "process" else f"{self.kind} {self.target}"


class Tracker:
    """Records on disk in ``<state>/objects``, one JSON file per object."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root else state_dir()
        self.objects = self.root / "objects"
        self._atexit = False

    # --- records -------------------------------------------------------
    def add(self, kind: str, target, **extra) -> Record:
        """Write the record of an object about to be created."""
        if kind not in KINDS and kind not in UNDO:
            raise ValueError(f"no undo known for kind {kind!r}")
        self.objects.mkdir(parents=True, exist_ok=True, mode=0o700)
        rec = Record(kind, str(target), extra, owner=os.getpid(), seq=time.time_ns())
        rec.file = self.objects / f"{rec.seq}-{os.getpid()}-{kind}.json"
        tmp = rec.file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"kind": kind, "target": rec.target, "extra": extra,
                                   "owner": rec.owner, "seq": rec.seq}))
        tmp.rename(rec.file)  # atomic: cleanup never reads half a record
        if not self._atexit:
            atexit.register(self.undo_owned)
            self._atexit = True
        return rec

    def forget(self, rec: Record) -> None:
        """Drop a record whose object is gone."""
        if rec.file is not None:
            rec.file.unlink(missing_ok=True)

    def records(self) -> list[Record]:
        """All records, oldest first."""
        out = []
        for path in sorted(self.objects.glob("*.json")) if self.objects.is_dir() else []:
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # written by a newer lab, or being removed right now
            out.append(Record(data["kind"], data["target"], data.get("extra", {}),
                              data.get("owner", 0), data.get("seq", 0), path))
        return sorted(out, key=lambda r: r.seq)

    # --- undo ----------------------------------------------------------
    def undo(self, rec: Record) -> str:
        """Undo one object (idempotent) and drop its record. Returns what happened."""
        outcome = undo_for(rec.kind).fn(rec)
        self.forget(rec)
        return outcome

    @contextmanager
    def created(self, kind: str, target, **extra):
        """Record, let the caller create the object; on failure undo and re-raise."""
        rec = self.add(kind, target, **extra)
        try:
            yield rec
        except BaseException:
            try:
                self.undo(rec)
            except Exception:
                pass  # the original error is the one worth showing; the record stays for cleanup
            raise

    @contextmanager
    def track(self, kind: str, target, **extra):
        """Record for the duration of the block, then undo whatever happened."""
        with self.created(kind, target, **extra) as rec:
            yield rec
        self.undo(rec)

    def cleanup(self, owner: int | None = None) -> list[tuple[Record, str]]:
        """Undo every recorded object (or only those of ``owner``), in a safe order.

        Processes go first (they hold mounts, cgroups and namespaces busy),
        then mounts, namespaces, links, firewall rules, cgroups and paths;
        within a kind, deepest path first (a cgroup before its parent), then
        newest first (a mount on top of another goes first).
        """
        recs = [r for r in self.records() if owner is None or r.owner == owner]
        recs.sort(key=lambda r: (undo_for(r.kind).order if undo_for(r.kind) else 99,
                                 -len(Path(r.target).parts), -r.seq))
        done, failed = [], []
        for rec in recs:
            if undo_for(rec.kind) is None:
                failed.append(f"{rec}: unknown kind")
                continue
            try:
                done.append((rec, self.undo(rec)))
            except (OSError, CleanupError) as exc:
                failed.append(f"{rec}: {exc}")
        if failed:
            raise CleanupError("could not undo: " + "; ".join(failed),
                               "see what holds them (ps, findmnt, ip link), then run `labcore cleanup` again")
        return done

    def undo_owned(self) -> None:
        """At interpreter exit: undo what this process created and did not undo itself."""
        try:
            self.cleanup(owner=os.getpid())
        except Exception:
            pass  # leave the records: `labcore cleanup` will retry


_default: Tracker | None = None


def default() -> Tracker:
    """The tracker for this process's state directory."""
    global _default
    if _default is None or _default.root != state_dir():
        _default = Tracker()
    return _default


class Held:
    """Base of an object that holds one tracked kernel object (a mount, a file).

    It keeps the tracker's record in ``_record``; ``release()`` undoes it once
    (later calls do nothing), and ``with`` releases it on the way out, errors
    included. Subclasses name the verb the kernel uses (unmount, remove).
    """
    _record: Record | None = None

    def release(self) -> None:
        if self._record is not None:
            default().undo(self._record)
            self._record = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


# --- how each kind is undone -----------------------------------------------

@dataclass
class Undo:
    order: int
    fn: Callable[[Record], str]


UNDO: dict[str, Undo] = {}

# Each kind is undone by the module that creates it, which registers its undo with
# @undoes when it loads. After a crash, `labcore cleanup` may meet a record before
# anything has loaded that module: this table says which one to load.
KINDS = {
    "process": "labcore.ns.kill",
    "mount": "labcore.fs.mounts",
    "netns": "labcore.ns.netns",
    "cgroup": "labcore.cgroups.base",
    "cgroup-controller": "labcore.cgroups.v2",
    "path": __name__,
}


def undoes(kind: str, order: int):
    """Register the undo function of a kind (its module is named in KINDS)."""
    def register(fn):
        UNDO[kind] = Undo(order, fn)
        return fn
    return register


def undo_for(kind: str) -> Undo | None:
    """The undo of ``kind``, loading the module that registers it if need be; None if unknown."""
    if kind not in UNDO and kind in KINDS:
        importlib.import_module(KINDS[kind])
    return UNDO.get(kind)


def is_lab_path(path: str, root: Path | None = None) -> bool:
    """True for paths the lab owns: under a state directory, or named lab-..."""
    p = Path(os.path.abspath(path))
    roots = [state_dir()] + ([root] if root else [])
    if any(p == r or r in p.parents for r in roots):
        return True
    return p.name.startswith(PREFIX) and p.parent != Path("/")


def refuse(rec: Record, why: str):
    raise CleanupError(f"refusing to undo {rec}: {why}",
                       "only objects named with the lab's prefix are ever removed")


def mounts_under(path: str | os.PathLike) -> list[str]:
    """Mount points at or below ``path``, from /proc/self/mountinfo."""
    base = os.path.abspath(path)
    return [m.point for m in mountinfo.read() if m.point == base or m.point.startswith(base.rstrip("/") + "/")]


@undoes("path", order=80)
def _remove_path(rec: Record) -> str:
    if not is_lab_path(rec.target):
        refuse(rec, "not a lab path")
    path = Path(rec.target)
    if path.is_dir() and not path.is_symlink():
        # rmtree would descend into a mount and delete what it shows: never do that.
        busy = mounts_under(path)
        if busy:
            raise CleanupError(f"{busy[0]} is still mounted inside {path}",
                               "unmount it first (labcore cleanup does, mounts before paths)")
        shutil.rmtree(path, ignore_errors=False)
        return "removed"
    try:
        path.unlink()
        return "removed"
    except FileNotFoundError:
        return "already gone"


__all__ = ["Tracker", "Record", "Held", "Undo", "UNDO", "KINDS", "default", "state_dir", "undoes", "undo_for", "refuse", "is_lab_path",
           "process_start_time", "is_running", "mounts_under", "PREFIX", "CGROUP_NAME"]
