"""CFS bandwidth control on a timeline: a quota of CPU time per period, and the throttling after it.

A cgroup's CPU limit is a **quota** of CPU time per **period** (v2
``cpu.max "25000 100000"``; v1 ``cpu.cfs_quota_us`` and
``cpu.cfs_period_us``): 25 ms every 100 ms is a quarter of one CPU. The
group's tasks run until the period's quota is used up; then the scheduler
*throttles* them (runnable, yet not run) until the next period refills it.
``cpu.stat`` counts the periods (``nr_periods``), those that ran out
(``nr_throttled``) and the time spent throttled (``throttled_usec``); see
the kernel's Documentation/scheduler/sched-bwc.rst.

``cfs_timeline`` draws this either as a model (numbers in, the ideal
sawtooth out) or measured, by reading a running group's counters every few
milliseconds. It returns a ``Plot`` like ``labcore.teach.plots``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ...cgroups import Cgroup
from .cgroups import cpu_quota
from ...errors import InvalidInputError
from ...cgroups.limits import MIN_QUOTA_US, PERIOD_US

MODEL_CAVEAT = ("a model: the kernel hands quota to each CPU in 5 ms slices and checks it at timer ticks, "
                "so real runs stop a little late and unevenly")
SAMPLES_PER_PERIOD = 20


@dataclass
class Period:
    """One bandwidth period, in µs from the start of the timeline."""

    start: float
    end: float
    used: float            # CPU time used in it
    ran_until: float       # when the group stopped running (quota spent, or its work done)
    throttled: bool


def model(quota_us: int, period_us: int, demand_us: int, periods: int) -> list[Period]:
    """The ideal timeline (pure): ``demand_us`` of CPU time wanted each period, by as many always-busy
    threads as that takes; they run until the quota is spent, then wait for the next period."""
    threads = max(1, math.ceil(demand_us / period_us))
    out = []
    for k in range(periods):
        start = k * period_us
        used = min(demand_us, quota_us)
        out.append(Period(start, start + period_us, used, start + used / threads, demand_us > quota_us))
    return out


def measure(cg: Cgroup, period_us: int, periods: int) -> list[tuple[float, int, int, int]]:
    """(µs since start, usage_usec, nr_periods, nr_throttled), read ``SAMPLES_PER_PERIOD`` times a period."""
    out, start = [], time.monotonic()
    step = period_us / SAMPLES_PER_PERIOD / 1e6
    for i in range(periods * SAMPLES_PER_PERIOD + 1):
        s = cg.stats()
        out.append(((time.monotonic() - start) * 1e6, s.cpu_usage_usec or 0, s.cpu_periods or 0,
                    s.cpu_throttled_periods or 0))
        time.sleep(max(0.0, start + (i + 1) * step - time.monotonic()))
    return out


def from_samples(samples: list[tuple[float, int, int, int]], quota_us: int) -> tuple[list[Period], list]:
    """Periods found in samples (pure): a new period starts where nr_periods grew; one is throttled if
    nr_throttled grew at its end. Also the sawtooth points (µs, CPU time used so far in the period)."""
    periods, points = [], []
    if not samples:
        return periods, points
    t0, base, last_run = samples[0][0], samples[0][1], samples[0][0]
    prev = samples[0]
    for t, usage, n, thr in samples[1:]:
        if n > prev[2]:  # a period boundary lies in this interval
            edge = (prev[0] + t) / 2
            periods.append(Period(t0, edge, prev[1] - base, last_run, thr > prev[3]))
            points.append((edge, prev[1] - base))
            points.append((edge, 0))
            t0, base, last_run = edge, prev[1], edge
        if usage - prev[1] > (t - prev[0]) * 0.05:  # it ran in this interval
            last_run = t
        points.append((t, usage - base))
        prev = (t, usage, n, thr)
    return periods, points


def _draw(periods: list[Period], points, quota_us, title: str, caveat: str, demand_us=None, measured=False):
    from ..plots import LIMIT, Plot, _figure  # matplotlib loads only when a timeline is drawn

    fig, ax = _figure(caveat)
    ax.title.set_fontsize(8)
    ax.title.set_color("0.35")
    fig.suptitle(title, fontsize=11)
    ms = 1e-3
    ax.plot([x * ms for x, _ in points], [y * ms for _, y in points], color="tab:blue", linewidth=2,
            label="CPU time used in this period")
    if quota_us is not None:
        ax.axhline(quota_us * ms, label=f"quota: {quota_us * ms:g} ms per period", **LIMIT)
    if demand_us is not None:
        ax.axhline(demand_us * ms, color="0.4", linestyle=":", linewidth=1.2, label="CPU time wanted")
    shaded = False
    for k, p in enumerate(periods):
        if p.start > 0 or not measured:  # a measurement starts mid-period: no edge there
            ax.axvline(p.start * ms, color="0.5", linewidth=0.8)
        if p.throttled and p.end > p.ran_until:
            ax.axvspan(p.ran_until * ms, p.end * ms, color="tab:red", alpha=0.15,
                       label=None if shaded else "throttled: runnable, not allowed to run")
            shaded = True
        name = "(partial)" if measured and k == 0 else f"period {k + (0 if measured else 1)}"
        ax.annotate(name, ((p.start + p.end) / 2 * ms, 1), xycoords=("data", "axes fraction"),
                    xytext=(0, -11), textcoords="offset points", ha="center", fontsize=7, color="0.3")
    if periods:
        ax.axvline(periods[-1].end * ms, color="0.5", linewidth=0.8)
    ax.set_xlabel("milliseconds")
    ax.set_ylabel("CPU time used (ms)")
    top = max([y for _, y in points] + [quota_us or 0, demand_us or 0, 1])
    ax.set_ylim(0, top * ms * 1.2)
    fig.set_size_inches(8, 4)
    fig.legend(loc="outside lower center", fontsize=8, ncols=4, frameon=False)
    return Plot(fig, title)


def cfs_timeline(quota_us: int | None = None, period_us: int = PERIOD_US, demand_us: int | None = None, *,
                 periods: int = 5, cgroup: Cgroup | None = None):
    """CPU time used per bandwidth period against the quota, throttled stretches shaded.

    ``cfs_timeline(25_000, 100_000, demand_us=100_000)`` draws the model:
    one busy thread under a 0.25 CPU quota. ``cfs_timeline(cgroup=cg)``
    measures a running group for ``periods`` periods (it blocks that long:
    half a second by default) with its own quota and period. Used by chapter 05.
    """
    if not 1 <= periods <= 50:
        raise InvalidInputError(f"periods={periods}", "draw between 1 and 50 periods")
    if cgroup is not None:
        if quota_us is not None or demand_us is not None:
            raise InvalidInputError("cfs_timeline takes numbers or a cgroup, not both",
                                    "drop quota_us/demand_us: the group's own cpu.max is used")
        quota_us, period_us = cpu_quota(cgroup)
        before = cgroup.stats()
        found, points = from_samples(measure(cgroup, period_us, periods), quota_us or 0)
        after = cgroup.stats()
        throttled = (after.cpu_throttled_periods or 0) - (before.cpu_throttled_periods or 0)
        quota = "no quota" if quota_us is None else f"quota {quota_us / 1000:g} ms per {period_us / 1000:g} ms period"
        title = f"CFS bandwidth of {cgroup.name}, measured: {quota}; {throttled} throttled period(s) here"
        caveat = (f"cpu.stat read every {period_us / SAMPLES_PER_PERIOD / 1000:g} ms: a period's edge is placed where "
                  "nr_periods grew, within one reading; an idle group has no periods")
        return _draw(found, points, quota_us, title, caveat, measured=True)
    if quota_us is None or quota_us < MIN_QUOTA_US or period_us < MIN_QUOTA_US:
        raise InvalidInputError(f"quota_us={quota_us}, period_us={period_us}",
                                f"give a quota and a period of at least {MIN_QUOTA_US} µs, e.g. cfs_timeline(25_000)")
    demand_us = period_us if demand_us is None else demand_us
    if not 0 <= demand_us <= 64 * period_us:
        raise InvalidInputError(f"demand_us={demand_us}", "give the CPU time wanted per period, 0 to 64 periods' worth")
    found = model(quota_us, period_us, demand_us, periods)
    points = []
    for p in found:
        points += [(p.start, 0), (p.ran_until, p.used), (p.end, p.used)]
    title = (f"CFS bandwidth: quota {quota_us / 1000:g} ms every {period_us / 1000:g} ms "
             f"({quota_us / period_us:g} CPU), {demand_us / 1000:g} ms of CPU wanted per period")
    return _draw(found, points, quota_us, title, MODEL_CAVEAT, demand_us)


__all__ = ["cfs_timeline", "model", "measure", "from_samples", "Period", "MODEL_CAVEAT"]
