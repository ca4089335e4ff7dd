"""Command lines for chapter 05's workloads, each refused when it could hurt the host.

The programs themselves are in ``payload.py`` (standard library only, so a
process in a small memory group starts small). Here they are turned into
argv lists for ``lab.spawn`` or ``lab.monitor.run``, after checks that hold
whatever number a learner types:

* every workload stops on its own after at most ``MAX_SECONDS``, and the
  monitor kills the whole group at its own deadline too;
* a memory hog may not ask for more than a quarter of the memory available
  now (and never more than 2 GiB), so even without a limit the host keeps
  most of its RAM;
* a fork bomb runs only in a lab group whose pids.max is set, at most
  ``MAX_BOMB_PIDS``;
* the disk is read, and written only once: a data file of the lab's own.
"""

from __future__ import annotations

import errno
import itertools
import mmap
import os
import sys
import time
from pathlib import Path

from .. import tracker
from ..errors import InvalidInputError, UnsupportedError
from ..cgroups import limits as L
from ..cgroups.detect import disk_of
from ..fs.scratch import DATA_DIR, ensure_data_dir  # the disk the data file goes on (the doctor's cgroup_io looks at it)

PAYLOAD = str(Path(__file__).with_name("payload.py"))
MAX_SECONDS = 120
MAX_PAUSE = 5          # seconds between two steps of the hog (payload.MAX_PAUSE)
MAX_BOMB_PIDS = 200
MAX_HOG = 2 << 30
MAX_DATA = 1 << 30
_serial = itertools.count()


def _argv(*args) -> list[str]:
    # -I: isolated mode, no site-packages and no PYTHON* variables: a small, predictable process.
    return [sys.executable, "-I", PAYLOAD, *(str(a) for a in args)]


def _seconds(seconds: float, what: str = "seconds", most: float = MAX_SECONDS, zero: bool = False) -> float:
    """A duration in (0, most] seconds ([0, most] if ``zero``), or an InvalidInputError naming it."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what} {seconds!r} is not a number of seconds", f"give at most {most}") from None
    if isinstance(seconds, bool) or not (0 <= value if zero else 0 < value) or not value <= most:
        raise InvalidInputError(f"{what} {seconds!r} is out of range",
                                f"give {'0' if zero else 'more than 0'} to at most {most} seconds")
    return value


def safe_memory() -> int:
    """The most a demo may allocate: a quarter of MemAvailable, at most 2 GiB."""
    return min(L.ram_bytes(field="MemAvailable") // 4, MAX_HOG)


def busy(seconds: float = 5, cpu: int | None = None, start_at: float | None = None) -> list[str]:
    """A busy loop for ``seconds``; ``cpu=0`` pins it to CPU 0 (to make groups compete for one CPU);
    ``start_at`` (a ``time.monotonic()`` value) makes it wait until then, so several start together."""
    if start_at is not None and not 0 <= start_at - time.monotonic() <= MAX_SECONDS:
        raise InvalidInputError(f"start_at {start_at!r} is not within {MAX_SECONDS} s from now",
                                "give time.monotonic() + a few seconds")
    extra = [] if cpu is None and start_at is None else [-1 if cpu is None else int(cpu)]
    return _argv("busy", _seconds(seconds), *extra, *([] if start_at is None else [float(start_at)]))


def hog(total="256M", step="4M", pause: float = 0.05, hold: float = 0.5) -> list[str]:
    """Take ``total`` of memory ``step`` by step, really touching every page, then hold it."""
    size, chunk = L.parse_bytes(total, "hog size"), L.parse_bytes(step, "hog step")
    if size > safe_memory():
        raise InvalidInputError(f"hog size {total!r} is more than a demo may take on this machine "
                                f"({L.human_bytes(safe_memory())}: a quarter of the memory available now)",
                                "ask for less: the point is to cross a cgroup limit, not to fill the host")
    if chunk > size:
        raise InvalidInputError(f"hog step {step!r} is larger than the total {total!r}", "use a smaller step")
    pause, hold = _seconds(pause, "hog pause", MAX_PAUSE, zero=True), _seconds(hold, "hog hold", zero=True)
    steps = -(-(size >> 20) // max(1, chunk >> 20))
    if pause * steps > MAX_SECONDS:
        raise InvalidInputError(f"hog pause {pause!r} x {steps} steps is more than {MAX_SECONDS} s",
                                "use a shorter pause or a larger step")
    return _argv("hog", size >> 20, max(1, chunk >> 20), pause, hold)


def fork_bomb(cgroup, seconds: float = 3) -> list[str]:
    """A fork bomb that stops after ``seconds``: refused unless ``cgroup`` caps its pids.

    Checked three times: here (the group's limits), by the bomb itself,
    which reads its own group's pids.max before its first fork and refuses
    anything above the limit checked here, and by ``cgroup.set``, which
    refuses to raise pids while the bomb runs (the group is marked here).
    """
    pids = getattr(getattr(cgroup, "limits", None), "pids", None)
    if not getattr(cgroup, "owned", False) or pids is None or pids > MAX_BOMB_PIDS:
        raise InvalidInputError(f"a fork bomb needs a lab cgroup with pids at most {MAX_BOMB_PIDS} "
                                f"(this one: {pids if pids is not None else 'no pids limit'})",
                                "create it with lab.cgroups.create(name, pids=20)")
    argv = _argv("bomb", _seconds(seconds), pids)
    cgroup.fork_bomb = True  # Cgroup.set: no raising pids while something runs in it
    return argv


class DataFile(tracker.Held):
    """A file of ``size`` random bytes on a real disk, for the io demos; removed by ``remove()``.

    Written with O_DIRECT, so it does not sit in the page cache afterwards:
    reading it again really goes to the disk. It is recorded by the
    tracker (a ``lab-data-...`` path), so ``labcore cleanup`` removes it
    after a crash. ``device`` is the disk it lives on: the one to throttle.
    """

    def __init__(self, size="128M", directory: str | None = None):
        self.size = L.parse_bytes(size, "data file size")
        directory = directory or str(ensure_data_dir())  # the lab's own directory on DATA_DIR's disk
        if self.size > MAX_DATA:
            raise InvalidInputError(f"data file size {size!r} is more than {L.human_bytes(MAX_DATA)}",
                                    "a few hundred MiB are plenty to watch a throttle")
        self.device = disk_of(directory)
        if self.device is None:
            raise UnsupportedError(f"{directory} is not on a disk (tmpfs or overlay?): nothing there to throttle",
                                   "give directory= a directory on a real disk, or use the course VM")
        self.path = Path(directory) / f"lab-data-{os.getpid()}-{next(_serial)}"
        with tracker.default().created("path", self.path) as self._record:
            try:
                self._write()
            except FileExistsError:  # O_EXCL: someone else's file, never ours to remove
                self._record.not_mine()
                raise

    def _write(self) -> None:
        block = mmap.mmap(-1, 1 << 20)  # aligned, as O_DIRECT requires
        block.write(os.urandom(1 << 20))  # random bytes: nothing for a filesystem to compress away
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_DIRECT, 0o600)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # no O_DIRECT here
        try:
            for _ in range(-(-self.size // len(block))):
                os.write(fd, block)
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # if it went through the cache, out with it
        finally:
            os.close(fd)
        self.size = os.stat(self.path).st_size

    def remove(self) -> None:
        """Delete the file (idempotent)."""
        self.release()

    def __repr__(self) -> str:
        return f"<DataFile {L.human_bytes(self.size)} on {self.device.name}>"


def disk_read(data: DataFile, seconds: float = 4) -> list[str]:
    """Read ``data`` with O_DIRECT (every read goes to the disk) for ``seconds``. Read only."""
    return _argv("read", data.path, _seconds(seconds))


def page_cache(data: DataFile) -> list[str]:
    """Read the whole of ``data`` through the page cache (charged to the reader's memory cgroup)."""
    if data.size > safe_memory():
        raise InvalidInputError(f"{data} is more than a demo may cache here", "use a smaller data file")
    return _argv("cache", data.path)


__all__ = ["busy", "hog", "fork_bomb", "DataFile", "disk_read", "page_cache", "safe_memory", "MAX_SECONDS",
           "MAX_BOMB_PIDS", "MAX_PAUSE", "PAYLOAD", "DATA_DIR"]
