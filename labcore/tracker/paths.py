"""Where the lab keeps its things, and which paths are its own.

The state and data directories, the directory ownership checks
(``check_private``), ``is_lab_path``, and the undo of the "path" kind,
which removes only lab paths.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from pathlib import Path

from ..proc import mountinfo
from ..errors import CleanupError, LabError
from .records import Record
from .registry import refuse, undoes


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
    """The lab's cache ($LABCORE_CACHE, /var/cache/labcore): the guest kernel and the test VM's image.

    Only its lab-... files are temporary (the test VM's disks while a run lasts).
    """
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


__all__ = ["PREFIX", "CGROUP_NAME", "user_state_dir", "state_dir", "check_private", "resolve", "DATA_DIR",
           "default_data_dir", "data_dir", "lab_dirs", "cache_dir", "is_lab_path", "lab_path", "mounts_under"]
