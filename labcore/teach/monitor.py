"""Sampling a cgroup's counters over time, while a workload runs.

The kernel keeps cumulative counters (CPU microseconds used, periods
throttled, bytes read...) and a few gauges (memory in use now, tasks now).
A single reading says little; readings at a fixed interval say what
happened when: the CPU used in each interval is the difference of two
readings, divided by the interval. That is all ``docker stats``, cAdvisor
and ``systemd-cgtop`` do, and all this module does: a background thread
calls ``cgroup.stats()`` every ``interval`` seconds and keeps the samples.

``run()`` puts the pieces of a chapter 05 demo together: a cgroup, a
workload started inside it (in new namespaces, like a container), the
monitor around it, and a deadline after which every process of the group
is killed, so no demo can run away.
"""

from __future__ import annotations

import os
import select
import threading
import time
from dataclasses import dataclass, field

from ..ns import process
from ..cgroups.base import Cgroup, Stats
from ..errors import InvalidInputError
from ..ns.namespaces import CONTAINER


@dataclass
class Sample:
    """The counters at ``t`` seconds after the monitor started."""

    t: float
    stats: Stats


class Monitor:
    """Samples ``cgroup.stats()`` every ``interval`` seconds in a background thread.

    ``with Monitor(cg) as mon: ...`` samples for the duration of the block.
    ``mark("limit 0.5 CPU")`` notes an event at the current time, for the plots.
    """

    def __init__(self, cgroup: Cgroup, interval: float = 0.1):
        if not 0.005 <= interval <= 10:
            raise InvalidInputError(f"interval {interval!r} s is out of range", "give 0.005 to 10 seconds")
        self.cgroup = cgroup
        self.interval = interval
        self.samples: list[Sample] = []
        self.events: list[tuple[float, str]] = []
        self.sample_seconds = 0.0  # time spent reading counters: the monitor's own cost
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Monitor of {self.cgroup.name} every {self.interval:g} s: {len(self.samples)} samples, {state}>"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def now(self) -> float:
        """Seconds since the monitor started, on its clock."""
        return time.monotonic() - self._start

    def at(self, monotonic: float) -> float:
        """A ``time.monotonic()`` value on the monitor's clock."""
        return monotonic - self._start

    def sample(self) -> Sample:
        """Read the counters once, now, and keep the sample."""
        before = time.monotonic()
        stats = self.cgroup.stats()
        after = time.monotonic()
        taken = Sample((before + after) / 2 - self._start, stats)
        with self._lock:
            self.sample_seconds += after - before
            self.samples.append(taken)
        return taken

    def _loop(self) -> None:
        tick = time.monotonic()
        while not self._stop.is_set():
            self.sample()
            tick += self.interval  # a fixed grid: a slow sample does not shift the next ones
            self._stop.wait(max(tick - time.monotonic(), 0))

    def start(self) -> "Monitor":
        if not self.running:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name=f"monitor-{self.cgroup.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> "Monitor":
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def mark(self, label: str) -> float:
        """Note an event now (a limit changed, the workload started...); returns its time."""
        t = self.now()
        with self._lock:
            self.events.append((t, label))
        return t

    # --- reading the samples ---------------------------------------------------------
    def snapshot(self) -> list[Sample]:
        """A copy of the samples so far (the thread may be adding more)."""
        with self._lock:
            return list(self.samples)

    def series(self, name: str) -> tuple[list[float], list]:
        """(times, values) of one counter, e.g. ``mon.series("memory_current")``; missing values skipped."""
        pairs = [(s.t, getattr(s.stats, name)) for s in self.snapshot() if getattr(s.stats, name) is not None]
        return [t for t, _ in pairs], [v for _, v in pairs]

    def rate(self, name: str, per: float = 1.0, every: int = 1) -> tuple[list[float], list[float]]:
        """How fast a cumulative counter grew, per second, over windows of ``every`` sampling intervals.

        ``rate("cpu_usage_usec", per=1e6)`` is the CPU share in CPUs (0.25 = a
        quarter of one CPU). Returns (window midpoints, rates).
        """
        times, values = self.series(name)
        out_t, out_v = [], []
        for i in range(0, len(times) - every, every):
            t0, t1, v0, v1 = times[i], times[i + every], values[i], values[i + every]
            if t1 > t0:
                out_t.append((t0 + t1) / 2)
                out_v.append((v1 - v0) / (t1 - t0) / per)
        return out_t, out_v

    def average_rate(self, name: str, start: float | None = None, end: float | None = None,
                     per: float = 1.0) -> float:
        """How fast a cumulative counter grew between ``start`` and ``end`` (monitor clock), per second."""
        times, values = self.series(name)
        window = [(t, v) for t, v in zip(times, values)
                  if (start is None or t >= start) and (end is None or t <= end)]
        if len(window) < 2 or window[-1][0] <= window[0][0]:
            raise InvalidInputError(f"not enough samples of {name} in that window to measure a rate",
                                    "widen the window, or let the workload run longer")
        (t0, v0), (t1, v1) = window[0], window[-1]
        return (v1 - v0) / per / (t1 - t0)

    def share(self, start: float | None = None, end: float | None = None) -> float:
        """The CPU used between ``start`` and ``end`` (seconds on the monitor's clock), in CPUs."""
        return self.average_rate("cpu_usage_usec", start, end, per=1e6)

    def first_increase(self, name: str) -> float | None:
        """When a counter first went up (between two samples: the later one's time), e.g. oom_kills."""
        times, values = self.series(name)
        for t, before, after in zip(times[1:], values, values[1:]):
            if after > before:
                return t
        return None

    def peak(self, name: str):
        """The highest sampled value of a counter (None if never sampled)."""
        values = self.series(name)[1]
        return max(values) if values else None

    def cost_per_sample(self) -> float:
        """Mean seconds one sample took to read (the monitor's own overhead)."""
        return self.sample_seconds / len(self.samples) if self.samples else 0.0


@dataclass
class Run:
    """What ``run()`` saw: the exit status, the output, the samples, and the counters at the end."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    monitor: Monitor
    started: float                 # on the monitor's clock
    ended: float
    deadline_hit: bool             # True if the lab killed it at the deadline
    before: Stats = field(repr=False)
    after: Stats = field(repr=False)

    @property
    def oom_killed(self) -> bool:
        """Killed by SIGKILL while the group's oom_kill counter went up."""
        before, after = self.before.oom_kills or 0, self.after.oom_kills or 0
        return self.returncode == 137 and after > before

    def __repr__(self) -> str:
        how = "killed at the deadline" if self.deadline_hit else f"exit {self.returncode}"
        # A workload's argv is [python, -I, payload.py, NAME, ...]: name it by NAME.
        what = self.argv[3] if len(self.argv) > 3 and self.argv[2].endswith("payload.py") else self.argv[0]
        return f"<Run of {os.path.basename(what)} " \
               f"in {self.monitor.cgroup.name}: {how}>"


def run(cgroup: Cgroup, argv: list[str], timeout: float = 10, interval: float = 0.1,
        ns=CONTAINER, monitor: Monitor | None = None) -> Run:
    """Run ``argv`` in ``cgroup`` (and new namespaces), sampled every ``interval`` s; used by notebook 05.

    At ``timeout`` seconds every process of the group is killed (the
    ``deadline_hit`` of the result says so). The samples keep coming until
    the group is empty. Pass a running ``monitor`` to keep sampling across
    several runs.
    """
    if not 0 < timeout <= 600:
        raise InvalidInputError(f"timeout {timeout!r} s is out of range", "give more than 0 and at most 600 s")
    mon = monitor or Monitor(cgroup, interval)
    own_monitor = monitor is None
    mon.start()
    before = mon.sample().stats
    started = mon.mark("start")
    chunks = {"out": [], "err": []}
    kept = {"out": 0, "err": 0}  # bytes read from each stream: a workload printing forever is cut
    deadline_hit = False
    with process.spawn(argv, ns, capture=True, cgroup=cgroup) as proc:
        streams = {proc.stdout.fileno(): "out", proc.stderr.fileno(): "err"}
        end = time.monotonic() + timeout
        while streams:
            left = end - time.monotonic()
            ready = select.select(list(streams), [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                deadline_hit = True
                mon.mark("deadline: killed")
                cgroup.kill()
                break
            for fd in ready:
                data = os.read(fd, 65536)
                if not data:
                    del streams[fd]
                    continue
                kept[streams[fd]] += len(data)  # past process.MAX_OUTPUT, read and dropped:
                room = process.MAX_OUTPUT - (kept[streams[fd]] - len(data))  # the timeout ends it
                if room > 0:
                    chunks[streams[fd]].append(data[:room])
        if not deadline_hit and proc.wait(timeout=max(end - time.monotonic(), 0)) is None:
            deadline_hit = True  # it closed its output but went on running
            mon.mark("deadline: killed")
            cgroup.kill()
        proc.wait()
    ended = mon.mark("exit")
    cgroup.kill()  # a fork bomb's last children, if any survived PID 1
    after = mon.sample().stats
    if own_monitor:
        mon.stop()
    return Run(list(argv), proc.returncode, b"".join(chunks["out"]).decode(errors="replace"),
               b"".join(chunks["err"]).decode(errors="replace"), mon, started, ended, deadline_hit, before, after)


__all__ = ["Monitor", "Sample", "Run", "run"]
