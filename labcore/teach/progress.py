"""The learner's progress: which quiz questions and exercises they have done.

One small JSON file in the learner's home, so it survives a kernel restart,
a ``vagrant halt`` and a fresh checkout:
``$LABCORE_PROGRESS``, or ``$XDG_DATA_HOME/docker-internals-lab/progress.json``
(``~/.local/share/...``). In the course VM the kernel runs as root through
sudo, and the kernelspec points ``LABCORE_PROGRESS`` into the learner's
home; the file is then written with the home's owner as its owner, so the
learner can read, copy or delete it.

What it holds::

    {"seed": 1234,                                  # shuffles quiz options, per learner
     "quiz": {"04a": {"pid-one": {"result": "right", "tries": 2, "at": "..."}}},
     "exercises": {"04a": {"predict-hostname": {"at": "..."}}}}

Quiz results are "right"/"wrong" for multiple choice and the learner's own
grade ("got it", "partly", "missed") for free recall. Chapter 15 reads them
to ask the badly answered questions again sooner.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

from ..errors import InvalidInputError

NAME = "docker-internals-lab"


def path() -> Path:
    explicit = os.environ.get("LABCORE_PROGRESS")
    if explicit:
        return Path(explicit)
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data, NAME, "progress.json")


def load(where: Path | None = None) -> dict:
    where = where or path()
    try:
        data = json.loads(where.read_text())
    except FileNotFoundError:
        data = {}
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read the progress file {where}: {exc}",
                                f"move it aside (mv {where} {where}.bad) and the lab starts a new one") from None
    if not isinstance(data, dict):
        data = {}
    data.setdefault("seed", None)
    data.setdefault("quiz", {})
    data.setdefault("exercises", {})
    return data


def _owner_dir(where: Path) -> Path:
    """The nearest existing directory above ``where``: the new file and directories take its owner."""
    for parent in where.parents:
        if parent.is_dir():
            return parent
    return Path("/")


def save(data: dict, where: Path | None = None) -> None:
    """Write atomically (a temporary file renamed over the old one): a crash never leaves half a file."""
    where = where or path()
    owner = _owner_dir(where).stat()
    missing = [p for p in reversed(where.parents) if not p.exists()]
    for d in missing:
        d.mkdir(mode=0o755)
        if os.geteuid() == 0:
            os.chown(d, owner.st_uid, owner.st_gid, follow_symlinks=False)
    tmp = where.with_name(f".{where.name}.{os.getpid()}")
    # O_NOFOLLOW|O_EXCL: root writing in a learner's home must not be steered by a symlink there.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        if os.geteuid() == 0:
            home = where.parent.stat()
            os.chown(tmp, home.st_uid, home.st_gid, follow_symlinks=False)
        os.replace(tmp, where)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def seed() -> int:
    """This learner's shuffle seed, drawn once and kept."""
    data = load()
    if not isinstance(data.get("seed"), int):
        data["seed"] = secrets.randbelow(2**31)
        save(data)
    return data["seed"]


def _stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def record_answer(chapter: str, question: str, result: str) -> None:
    data = load()
    entry = data["quiz"].setdefault(chapter, {}).setdefault(question, {"tries": 0})
    entry.update(result=result, tries=entry.get("tries", 0) + 1, at=_stamp())
    save(data)


def record_exercise(chapter: str, exercise: str) -> None:
    data = load()
    data["exercises"].setdefault(chapter, {})[exercise] = {"at": _stamp()}
    save(data)


def of_chapter(chapter: str) -> dict:
    """{"quiz": {question: entry}, "exercises": {exercise: entry}} for one chapter."""
    data = load()
    return {"quiz": data["quiz"].get(chapter, {}), "exercises": data["exercises"].get(chapter, {})}


__all__ = ["path", "load", "save", "seed", "record_answer", "record_exercise", "of_chapter"]
