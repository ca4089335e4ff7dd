"""The programs chapter 05 runs inside cgroups: plain Python, standard library only.

Run as a script, never imported by the workload itself, so a process in a
32 MiB group starts small::

    python3 -I payload.py busy 5          # spin on one CPU for 5 s
    python3 -I payload.py hog 256 4       # take 256 MiB, 4 MiB at a time, really touching it
    python3 -I payload.py bomb 3 200      # fork without end for 3 s (only in a group of pids.max <= 200)
    python3 -I payload.py read FILE 4     # read FILE with O_DIRECT (straight from the disk) for 4 s
    python3 -I payload.py cache FILE      # read FILE through the page cache

``labcore.teach.workloads`` builds these command lines, with the safety
checks; each program also stops on its own at its deadline.
"""

from __future__ import annotations

import mmap
import os
import sys
import time

MIB = 1 << 20
MAX_SECONDS = 120      # no program runs, waits or holds longer (workloads.MAX_SECONDS)
MAX_PAUSE = 5          # seconds between two steps of the hog
MAX_BOMB_PIDS = 200    # the bomb forks only in a group whose pids.max is at most this (workloads.MAX_BOMB_PIDS)


def _bounded(what: str, value: float, most: float = MAX_SECONDS, least: float = 0) -> float:
    """A duration within [least, most] seconds, or the program stops before doing anything."""
    if not least <= value <= most:
        sys.exit(f"payload: {what} {value!r} is out of range: give {least} to {most} seconds")
    return value


def busy(seconds: float, cpu: int | None = None, start_at: float | None = None) -> None:
    """Burn CPU for ``seconds`` of wall-clock time, optionally on one CPU only.

    ``start_at`` (a CLOCK_MONOTONIC time, the same for every process) makes
    several loops start together, however long each took to start up.
    """
    _bounded("seconds", seconds)
    if cpu is not None and cpu >= 0:  # -1: any CPU
        os.sched_setaffinity(0, {cpu})  # sched_setaffinity(2): compete for that one CPU
    if start_at is not None:
        time.sleep(_bounded("start_at wait", max(start_at - time.monotonic(), 0)))
    end = time.monotonic() + seconds
    loops = 0
    while time.monotonic() < end:
        loops += 1
    print(loops)


def hog(total_mib: int, step_mib: int = 4, pause: float = 0.05, hold: float = 0.5) -> None:
    """Take ``total_mib`` of memory, ``step_mib`` at a time, then hold it for ``hold`` seconds.

    ``b"x" * n`` writes every byte, so every page is really faulted in and
    charged to the cgroup. (``bytes(n)`` would not: it comes from calloc(),
    whose fresh pages cost nothing until written. ``bytearray(n)`` does touch
    them: it fills its buffer with zeros itself.)
    """
    _bounded("pause", pause, MAX_PAUSE)
    _bounded("hold", hold)
    _bounded("time to take it all (pause x steps)", pause * -(-total_mib // max(step_mib, 1)))
    chunks = []
    while len(chunks) * step_mib < total_mib:
        chunks.append(b"x" * (step_mib * MIB))
        print(len(chunks) * step_mib, flush=True)  # how far we got, should we be killed
        time.sleep(pause)
    time.sleep(hold)


def pids_max(cgroup: str = "/proc/self/cgroup", mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The pids.max of this process's own cgroup, as the file says it ("max", "20"), or None if unreadable.

    /proc/self/cgroup names the group (a v1 line for the pids hierarchy, or
    v2's ``0::/path``), /proc/self/mountinfo where that hierarchy is mounted
    (and which of its directories the mount shows: a group outside it, as in
    a cgroup namespace, cannot be read here).
    """
    groups = {}
    with open(cgroup) as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            groups[controllers] = path
    v1 = next((path for controllers, path in groups.items() if "pids" in controllers.split(",")), None)
    with open(mountinfo) as f:
        mounts = [line.split(" - ") for line in f if " - " in line]
    for wanted in ("cgroup", "cgroup2"):  # the v1 pids hierarchy first, where there is one
        for left, right in mounts:
            fields, (fstype, _, options) = left.split(), right.split()[:3]
            if fstype != wanted or (wanted == "cgroup" and "pids" not in options.split(",")):
                continue
            path = v1 if wanted == "cgroup" else groups.get("")
            root, point = fields[3], fields[4]
            if path is None or not (path + "/").startswith(root.rstrip("/") + "/"):
                continue
            try:
                with open(os.path.join(point, path[len(root.rstrip("/")):].lstrip("/"), "pids.max")) as limit:
                    return limit.read().strip()
            except OSError:
                continue
    return None


def bomb(seconds: float, max_pids: int = MAX_BOMB_PIDS) -> None:
    """A fork bomb with a deadline: every process forks again and again until ``seconds`` pass.

    Both parent and child carry on in the same loop, so the number of
    processes doubles at each round until fork(2) fails with EAGAIN (the
    pids controller said no). Nobody reaps: dead children stay zombies,
    and zombies still count against pids.max.

    Before the first fork it reads its own group's pids.max, and refuses to
    start unless that is a number of at most ``max_pids``: the limit must be
    in place at the moment it starts, whatever was checked before.
    """
    _bounded("seconds", seconds, least=0.001)
    limit = pids_max()
    if limit is None or not limit.isdigit() or not 0 < int(limit) <= min(max_pids, MAX_BOMB_PIDS):
        sys.exit(f"payload: refusing to fork: this process's cgroup has pids.max {limit or 'unreadable'}, "
                 f"not a limit of at most {min(max_pids, MAX_BOMB_PIDS)}")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            os.fork()
        except OSError:
            pass  # EAGAIN: the group is full; try again later
        time.sleep(0.05)
    os._exit(0)


def read(path: str, seconds: float, block_kib: int = 256) -> None:
    """Read the file ``path`` over and over with O_DIRECT for ``seconds``.

    O_DIRECT skips the page cache, so every read is a real request to the
    disk, which is where the io controller's throttle sits.
    """
    _bounded("seconds", seconds)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    size = os.fstat(fd).st_size
    buf = mmap.mmap(-1, block_kib * 1024)  # O_DIRECT wants aligned memory: mmap gives whole pages
    offset, total = 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = os.preadv(fd, [buf], offset)
        total += got
        offset = offset + got if got and offset + got < size else 0
    print(total)


def cache(path: str, hold: float = 0.5) -> None:
    """Read the whole file ``path`` through the page cache, which is charged to our cgroup.

    The file is dropped from the cache first (posix_fadvise DONTNEED), so
    its pages are charged to us, not to whoever read them before.
    """
    _bounded("hold", hold)
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    done = 0
    while chunk := os.read(fd, MIB):
        done += len(chunk)
    print(done // MIB, flush=True)
    time.sleep(hold)


PROGRAMS = {"busy": busy, "hog": hog, "bomb": bomb, "read": read, "cache": cache}


def main(argv: list[str]) -> None:
    program, *args = argv
    fn = PROGRAMS[program]
    converted = [a if a.startswith("/") else (float(a) if "." in a else int(a)) for a in args]
    fn(*converted)


if __name__ == "__main__":
    main(sys.argv[1:])

__all__ = ["busy", "hog", "bomb", "read", "cache", "pids_max", "PROGRAMS", "MAX_SECONDS", "MAX_PAUSE", "MAX_BOMB_PIDS"]
