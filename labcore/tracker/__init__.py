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
  PID is never killed by mistake (a record without one is refused).
* Every undo first normalises and resolves its target (``..`` and symlinks
  on the way are refused), then checks that the object carries the lab's
  name (``lab-`` network namespaces, a ``labcore`` cgroup subtree, paths
  under the lab's own directories): cleanup cannot touch anything of the
  host's. A mount is undone only if the mount found there is the recorded one.
* "Already exists" is never rolled back: a creator that finds the object
  there already says ``rec.not_mine()``, and the record goes without undo.
* An undo that has to leave its object in place (``"kept: ..."``) keeps the
  record too: an object that exists always has its record.
* The state directory belongs to the user running the lab and nobody else
  can write to it (``check_private``); a malformed record file is reported
  and skipped, never guessed at.
* ``labcore cleanup`` spares the objects of a process that is still alive
  (its PID and start time, as for processes) unless told ``force``.

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
import pwd
import shutil
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..proc import mountinfo
from ..proc.stat import is_running, process_start_time  # here too: notebooks use lab.tracker.is_running
from ..errors import CleanupError, LabError

PREFIX = "lab-"          # links, network namespaces
CGROUP_NAME = "labcore"  # the subtree that holds every lab cgroup, in each hierarchy


def user_state_dir() -> Path:
    """An unprivileged user's state directory: $XDG_RUNTIME_DIR/labcore, else ~/.cache/labcore.

    Never a fixed name in a world-writable place such as /tmp, where another
    user could make it first.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime) and os.path.isdir(runtime):
        return Path(runtime) / "labcore"
    home = os.environ.get("HOME") or pwd.getpwuid(os.geteuid()).pw_dir
    return Path(home) / ".cache" / "labcore"


def state_dir() -> Path:
    """Where records live: $LABCORE_STATE_DIR, else /run/labcore (root) or ``user_state_dir()``."""
    env = os.environ.get("LABCORE_STATE_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/run/labcore")
    return user_state_dir()


def check_private(path: Path, what: str = "state directory", create: bool = True, mode: int | None = None,
                  owners: tuple[int, ...] = (0,)) -> Path:
    """Make sure ``path`` is a directory of this user that nobody else can write to (made if missing).

    The lab trusts what it finds there (records it undoes, directories it
    removes): a directory someone else owns or may write to could name the
    host's objects. Root, who may do anything anyway, is trusted as an owner
    too (``owners``: a root-owned directory an ordinary user cannot write
    fails plainly, it cannot mislead). Its parent must be this user's or root's, and not
    writable by others unless sticky (/tmp), so nobody can swap it either.
    """
    path = Path(os.path.abspath(path))
    me = os.getresuid()[1]  # the effective UID, the owner of what this process creates
    if create and not os.path.lexists(path):
        parent = path.parent
        if not parent.exists():
            parent.mkdir(parents=True, mode=0o700)
        try:
            path.mkdir(mode=mode if mode is not None else (0o755 if me == 0 else 0o700))
        except FileExistsError:
            pass  # made meanwhile: judged below like any other
    fix = f"remove {path} (nothing of the lab is in it) or set LABCORE_STATE_DIR to a directory of your own"
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    if stat.S_ISLNK(st.st_mode):
        raise LabError(f"the lab's {what} {path} is a symlink: refusing to use it", fix)
    if not stat.S_ISDIR(st.st_mode):
        raise LabError(f"the lab's {what} {path} is not a directory", fix)
    if st.st_uid != me and st.st_uid not in owners:
        raise LabError(f"the lab's {what} {path} is owned by uid {st.st_uid}, not by uid {me} who runs the lab: "
                       "refusing to use it", fix)
    if st.st_mode & 0o022:
        raise LabError(f"the lab's {what} {path} is writable by group or others "
                       f"(mode {stat.S_IMODE(st.st_mode):o}): refusing to use it", f"chmod go-w {path}, or {fix}")
    up = os.stat(path.parent)
    if up.st_uid not in (0, me) or (up.st_mode & 0o022 and not up.st_mode & stat.S_ISVTX):
        raise LabError(f"the lab's {what} {path} is in {path.parent}, which another user may change: "
                       "refusing to use it", fix)
    return path


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


class Outcome(list):
    """What ``cleanup()`` did: a list of (record, outcome), with what it did not do.

    ``spared``: records whose owner is still alive; ``skipped``: malformed
    record files (path, why); ``failed``: undos that raised.
    """

    def __init__(self, done=(), spared=(), skipped=(), failed=()):
        super().__init__(done)
        self.spared, self.skipped, self.failed = list(spared), list(skipped), list(failed)


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


# --- how each kind is undone -----------------------------------------------

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
    "path": __name__,
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


def resolve(path: str | os.PathLike) -> Path:
    """``path`` normalised, with every directory on the way resolved (symlinks followed).

    The last component is not followed: a symlink there is the object itself.
    """
    p = os.path.normpath(os.path.abspath(path))
    return Path(os.path.realpath(os.path.dirname(p))) / os.path.basename(p)


DATA_DIR = "/var/tmp"  # the disk bulky data goes on (not a tmpfs) on Debian and in the course VM


def default_data_dir() -> Path:
    """The lab's own directory on that disk: /var/tmp/labcore as root; otherwise the user's private
    state directory's ``data`` (an ordinary user makes no overlays or big layers)."""
    if os.geteuid() == 0:
        return Path(DATA_DIR) / "labcore"
    return state_dir() / "data"


def data_dir() -> Path:
    """Where bulky scratch data goes (labcore.fs.scratch): $LABCORE_DATA_DIR, else ``default_data_dir()``.

    Everything below it is the lab's: ``labcore cleanup`` may remove what is recorded there.
    """
    return Path(os.environ.get("LABCORE_DATA_DIR") or default_data_dir())


def lab_dirs() -> list[Path]:
    """The directories that are the lab's own: everything below them is a lab path."""
    return [Path(os.path.realpath(state_dir())), Path(os.path.realpath(data_dir()))]


def cache_dir() -> Path:
    """The lab's cache ($LABCORE_CACHE, /var/cache/labcore): only its lab-... files are temporary."""
    # The same place as labcore.teach.vm.cache_dir(), without loading the teaching modules.
    return Path(os.path.realpath(os.environ.get("LABCORE_CACHE", "/var/cache/labcore")))


def is_lab_path(path: str, root: Path | None = None) -> bool:
    """True for paths the lab owns: below its state or data directory, or a lab-... file in its cache.

    The path is normalised and resolved first (see ``resolve``). A lab-...
    name anywhere else (``~/lab-notes``) is someone else's.
    """
    p = resolve(path)
    roots = lab_dirs() + ([Path(os.path.realpath(root))] if root else [])
    if any(r in p.parents for r in roots):
        return True
    cache = cache_dir()
    return p.name.startswith(PREFIX) and cache in p.parents


def lab_path(rec: Record) -> Path:
    """The record's target as it will be acted on: normalised, resolved, a lab path; else refused."""
    target = rec.target
    if not os.path.isabs(target) or os.path.normpath(target) != target:
        refuse(rec, "not a normalised absolute path ('..', '.' or a relative path)")
    p = resolve(target)
    if not is_lab_path(str(p)):
        refuse(rec, f"{p} is not a lab path" + (f" (reached through a symlink from {target})"
                                                 if str(p) != target else ""))
    return p


def refuse(rec: Record, why: str):
    raise CleanupError(f"refusing to undo {rec}: {why}",
                       "only objects named with the lab's prefix are ever removed; "
                       "if this one is the lab's, undo it by hand and delete its record file"
                       + (f" {rec.file}" if rec.file else ""))


def mounts_under(path: str | os.PathLike) -> list[str]:
    """Mount points at or below ``path``, from /proc/self/mountinfo."""
    base = os.path.abspath(path)
    return [m.point for m in mountinfo.read() if m.point == base or m.point.startswith(base.rstrip("/") + "/")]


@undoes("path", order=80)
def _remove_path(rec: Record) -> str:
    path = lab_path(rec)
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


__all__ = ["Tracker", "Record", "Outcome", "Held", "Undo", "UNDO", "STAMP", "KINDS", "KEPT", "default", "state_dir",
           "user_state_dir", "check_private", "parse_record", "owner_alive", "undoes", "stamps", "undo_for", "refuse",
           "is_lab_path", "lab_path", "lab_dirs", "resolve", "process_start_time", "is_running", "mounts_under",
           "data_dir", "default_data_dir", "DATA_DIR", "PREFIX", "CGROUP_NAME"]
