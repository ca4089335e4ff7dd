"""The records on disk: the Tracker that writes, undoes and cleans them up, and what holds one."""

from __future__ import annotations

import atexit
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

from ..proc.stat import is_running, process_start_time
from ..errors import CleanupError
from .paths import check_private, state_dir
from .records import Record, parse_record
from .registry import KEPT, KINDS, STAMP, UNDO, undo_for


class Outcome(list):
    """What ``cleanup()`` did: a list of (record, outcome), with what it did not do.

    ``spared``: records whose owner is still alive; ``skipped``: malformed
    record files (path, why); ``failed``: undos that raised.
    """

    def __init__(self, done=(), spared=(), skipped=(), failed=()):
        super().__init__(done)
        self.spared, self.skipped, self.failed = list(spared), list(skipped), list(failed)


class Tracker:
    """Records on disk in ``<state>/objects``, one JSON file per object."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root else state_dir()
        self.objects = self.root / "objects"
        self.skipped: list[tuple[Path, str]] = []  # malformed record files met by the last records()
        self._atexit = False
        self._me: tuple[int, int | None] | None = None

    def _owner(self) -> tuple[int, int | None]:
        pid = os.getpid()
        if self._me is None or self._me[0] != pid:  # a forked child is another owner
            self._me = (pid, process_start_time(pid))
        return self._me

    # --- records -------------------------------------------------------
    def add(self, kind: str, target, **extra) -> Record:
        """Write the record of an object about to be created."""
        if kind not in KINDS and kind not in UNDO:
            raise ValueError(f"no undo known for kind {kind!r}")
        if kind == "process" and (not isinstance(extra.get("start_time"), int) or isinstance(extra["start_time"], bool)):
            raise ValueError("a process record needs its start_time (tracker.process_start_time(pid)): "
                             "without it a recycled PID could be killed")
        check_private(self.root)
        self.objects.mkdir(exist_ok=True, mode=0o700)
        pid, start = self._owner()
        rec = Record(kind, str(target), extra, owner=pid, seq=time.time_ns(), owner_start=start)
        rec.file = self.objects / f"{rec.seq}-{pid}-{kind}.json"
        self._write(rec)
        if not self._atexit:
            atexit.register(self.undo_owned)
            self._atexit = True
        return rec

    def _write(self, rec: Record) -> None:
        tmp = rec.file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"kind": rec.kind, "target": rec.target, "extra": rec.extra,
                                   "owner": rec.owner, "seq": rec.seq, "owner_start": rec.owner_start}))
        tmp.rename(rec.file)  # atomic: cleanup never reads half a record

    def update(self, rec: Record, **extra) -> None:
        """Add what is known only once the object exists (a mount's ID) to its record."""
        rec.extra.update(extra)
        if rec.file is not None and rec.file.exists():
            self._write(rec)

    def forget(self, rec: Record) -> None:
        """Drop a record whose object is gone."""
        if rec.file is not None:
            rec.file.unlink(missing_ok=True)

    def records(self) -> list[Record]:
        """All well-formed records, oldest first; malformed files are listed in ``self.skipped``."""
        out, self.skipped = [], []
        if not os.path.lexists(self.root):
            return out
        check_private(self.root, create=False)
        for path in sorted(self.objects.glob("*.json")) if self.objects.is_dir() else []:
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue  # undone right now by its owner
            except (OSError, UnicodeDecodeError) as exc:
                self.skipped.append((path, f"unreadable ({exc})"))
                continue
            try:
                out.append(parse_record(text, path))
            except ValueError as exc:
                self.skipped.append((path, str(exc)))
        return sorted(out, key=lambda r: r.seq)

    # --- undo ----------------------------------------------------------
    def undo(self, rec: Record) -> str:
        """Undo one object (idempotent) and drop its record. Returns what happened.

        An outcome starting with ``kept`` means the object is still there
        (in use by others): its record stays.
        """
        undo = undo_for(rec.kind)
        if undo is None:
            raise CleanupError(f"no undo known for {rec}", "a newer lab wrote it: clean up with that version")
        outcome = undo.fn(rec)
        if not outcome.startswith(KEPT):
            self.forget(rec)
        return outcome

    @contextmanager
    def created(self, kind: str, target, **extra):
        """Record, let the caller create the object; on failure undo and re-raise.

        A creator that finds the object exists already (EEXIST) calls
        ``rec.not_mine()``: the record is then dropped and nothing undone,
        error or not. Once the object exists, what the kind's stamp knows
        about it (a mount's ID) is added to the record.
        """
        rec = self.add(kind, target, **extra)
        try:
            yield rec
        except BaseException:
            if rec.disowned:
                self.forget(rec)
                raise
            try:
                self.undo(rec)
            except Exception:
                pass  # the original error is the one worth showing; the record stays for cleanup
            raise
        if rec.disowned:
            self.forget(rec)
            return
        undo_for(kind)  # loads the module that registers the kind's stamp, if not loaded yet
        stamp = STAMP.get(kind)
        if stamp is not None:
            self.update(rec, **stamp(rec))

    @contextmanager
    def track(self, kind: str, target, **extra):
        """Record for the duration of the block, then undo whatever happened."""
        with self.created(kind, target, **extra) as rec:
            yield rec
        self.undo(rec)

    def cleanup(self, owner: int | None = None, force: bool = False) -> Outcome:
        """Undo every recorded object (or only those of ``owner``), in a safe order.

        Processes go first (they hold mounts, cgroups and namespaces busy),
        then mounts, namespaces, links, firewall rules, cgroups and paths;
        within a kind, deepest path first (a cgroup before its parent), then
        newest first (a mount on top of another goes first).

        Objects of another process that is still alive (same PID, same start
        time) are spared unless ``force``: they are in use. Malformed record
        files are skipped. Whatever could not be undone, and every skipped
        file, is named by the CleanupError raised at the end (``.outcome``
        holds what was done).
        """
        recs = [r for r in self.records() if owner is None or r.owner == owner]
        skipped = [f"{path}: {why}" for path, why in self.skipped] if owner is None else []

        def order(r):
            undo = undo_for(r.kind)
            return (undo.order if undo else 99, -len(Path(r.target).parts), -r.seq)
        recs.sort(key=order)
        out = Outcome(skipped=skipped)
        for rec in recs:
            if undo_for(rec.kind) is None:
                out.failed.append(f"{rec}: unknown kind")
                continue
            # Judged now, not before the loop: the processes undone first may have been the owners.
            if not force and owner is None and rec.owner != os.getpid() and owner_alive(rec):
                out.spared.append(rec)
                continue
            try:
                out.append((rec, self.undo(rec)))
            except (OSError, CleanupError) as exc:
                out.failed.append(f"{rec}: {exc}")
        if out.failed or out.skipped:
            parts = (["could not undo: " + "; ".join(out.failed)] if out.failed else []) + \
                    (["skipped malformed record files: " + "; ".join(out.skipped)] if out.skipped else [])
            err = CleanupError(". ".join(parts),
                               "see what holds them (ps, findmnt, ip link), then run `labcore cleanup` again; "
                               "look at a malformed record file, undo its object by hand, then delete the file")
            err.outcome = out
            raise err
        return out

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


def owner_alive(rec: Record) -> bool:
    """Is the process that made ``rec`` still running (the same one: PID and start time)?"""
    return rec.owner > 0 and is_running(rec.owner, rec.owner_start)


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


__all__ = ["Outcome", "Tracker", "default", "owner_alive", "Held"]
