"""Figures of what ``labcore.teach.monitor`` sampled: limits against what the kernel let happen.

Each function takes a ``Monitor`` (or several) and returns a ``Plot``: a
matplotlib figure that Jupyter shows as a PNG, with a short text form
("<Plot: CPU of lab-cpu against a 0.25 CPU quota>") for readers of the raw
notebook and for the tests. The figures are drawn with matplotlib's object
API and its Agg canvas, never through ``pyplot``'s global state, so a
background thread (the live control of chapter 05a) may draw too.

Cumulative counters become rates (CPU seconds per second = CPUs in use;
bytes per second); gauges (memory in use, tasks) are drawn as they are.
"""

from __future__ import annotations

import logging
from io import BytesIO

# On a fresh machine matplotlib announces "building the font cache" on stderr, once: in a
# notebook that line would become part of a cell's output. Let it build the cache quietly.
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..cgroups.limits import human_bytes  # noqa: E402
from .monitor import Monitor  # noqa: E402

MIB = 1 << 20
LIMIT = dict(color="tab:red", linestyle="--", linewidth=1.5)
SOFT = dict(color="tab:orange", linestyle=":", linewidth=1.5)
EVENT = dict(color="0.4", linestyle=":", linewidth=1)


class Plot:
    """A figure with a readable text form; Jupyter displays it as a PNG."""

    def __init__(self, figure: Figure, title: str):
        self.figure = figure
        self.title = title

    def __repr__(self) -> str:
        return f"<Plot: {self.title}>"

    def png(self) -> bytes:
        buf = BytesIO()
        FigureCanvasAgg(self.figure).print_png(buf)
        return buf.getvalue()

    def _repr_png_(self) -> bytes:
        return self.png()

    def save(self, path: str) -> None:
        with open(path, "wb") as f:
            f.write(self.png())


def _figure(title: str):
    fig = Figure(figsize=(8, 3.4), dpi=90, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("seconds")
    ax.grid(alpha=0.3)
    return fig, ax


def _events(ax, mon: Monitor, skip=("start", "exit")) -> None:
    for t, label in mon.events:
        if label not in skip:
            ax.axvline(t, **EVENT)
            ax.annotate(label, (t, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                        textcoords="offset points", fontsize=8, color="0.3")


def _steps(changes, end: float):
    """[(t, value), ...] -> x, y of a step line reaching ``end``."""
    xs, ys = [], []
    for (t, v), nxt in zip(changes, [c[0] for c in changes[1:]] + [end]):
        xs += [t, nxt]
        ys += [v, v]
    return xs, ys


def _windows(mon: Monitor, name: str, per: float, every: int):
    """(edges, rates): the counter's growth per second over each window of ``every`` samples, as stairs."""
    times, values = mon.series(name)
    edges, rates = [], []
    for i in range(0, len(times) - every, every):
        t0, t1 = times[i], times[i + every]
        if t1 > t0:
            if edges and edges[-1] != t0:
                edges.append(t0)
                rates.append(float("nan"))  # a gap: no rate measured there
            if not edges:
                edges.append(t0)
            edges.append(t1)
            rates.append((values[i + every] - values[i]) / (t1 - t0) / per)
    return edges, rates


def _period_edges(mon: Monitor, window: tuple[float, float], period: float) -> list[float]:
    """Where a new CFS period began: between the two samples where nr_periods grew (``period``
    apart from the window's start when this kernel has no such counter)."""
    times, counts = mon.series("cpu_periods")
    found = [(a + b) / 2 for a, b, n0, n1 in zip(times, times[1:], counts, counts[1:])
             if n1 > n0 and window[0] <= (a + b) / 2 <= window[1]]
    if found:
        return found
    start, out = window[0], []
    while start <= window[1]:
        out.append(start)
        start += period
    return out


def cpu(mon: Monitor, quota=None, every: int = 2, window: tuple[float, float] | None = None,
        period: float = 0.1) -> Plot:
    """CPU used (in % of one CPU, over ``every`` sampling intervals) against the quota, and the
    periods in which the group was throttled. ``quota``: CPUs, or [(time, CPUs)...] when it changed.
    ``window=(start, end)`` zooms on a few seconds (sample often to see single periods): the use
    is then drawn as steps, one per window of ``every`` samples, with a vertical line where each
    bandwidth period began (read from nr_periods; every ``period`` seconds if it is missing)."""
    name = mon.cgroup.name
    fig, ax = _figure(f"CPU of {name}")
    t, used = mon.rate("cpu_usage_usec", per=1e6 / 100, every=every)
    if window:
        edges, stairs = _windows(mon, "cpu_usage_usec", 1e6 / 100, every)
        if stairs:
            ax.stairs(stairs, edges, color="tab:blue", linewidth=1.5,
                      label=f"CPU used (% of one CPU, per {mon.interval * every * 1000:g} ms)")
        for k, edge in enumerate(_period_edges(mon, window, period)):
            ax.axvline(edge, color="0.45", linewidth=0.8, linestyle="-",
                       label=None if k else "a new CFS period begins")
        ax.grid(axis="x", visible=False)  # the period lines are the vertical grid
    else:
        ax.plot(t, used, color="tab:blue", label="CPU used (% of one CPU)")
    end = max(t, default=1)
    if quota is not None:
        changes = quota if isinstance(quota, list) else [(0.0, quota)]
        xs, ys = _steps([(ct, None if q is None else q * 100) for ct, q in changes], end)
        ax.plot(xs, [y if y is not None else float("nan") for y in ys], label="quota", **LIMIT)
    ax.set_ylabel("% of one CPU")
    ax.set_ylim(bottom=0)
    tt, throttled = mon.rate("cpu_throttled_periods", every=every)
    if throttled and max(throttled) > 0 and not window:
        ax2 = ax.twinx()
        width = (tt[1] - tt[0]) * 0.8 if len(tt) > 1 else 0.1
        ax2.bar(tt, throttled, width=width, color="tab:red", alpha=0.15, label="throttled periods per second")
        ax2.set_ylabel("throttled periods / s", color="tab:red")
        ax2.set_ylim(0, max(throttled) * 3)  # keep the bars low, under the usage line
        ax2.legend(loc="upper right", fontsize=8)
    _events(ax, mon)
    if window:
        ax.set_xlim(*window)
        ax.set_xlabel("seconds (zoomed)")
        ax.set_ylim(0, 115)
        ax.legend(loc="upper right", fontsize=8, framealpha=0.95)
    else:
        ax.legend(loc="upper left", fontsize=8)
    label = "no quota" if quota is None else ("a changing quota" if isinstance(quota, list) else f"a {quota:g} CPU quota")
    if window:
        return Plot(fig, f"CPU of {name} against {label}, as steps with its periods, "
                         f"seconds {window[0]:g} to {window[1]:g}")
    return Plot(fig, f"CPU of {name} against {label}, with throttled periods")


def memory(mon: Monitor, limit: int | None = None, high: int | None = None, read: bool = False) -> Plot:
    """Memory in use against the hard limit (and the soft limit, ``high``); the OOM kill marked.
    ``read=True`` adds the bytes the group has read from disk so far (cumulative, in MiB, on the
    same axis): a reader whose reads climb past its flat memory line was reclaimed, not killed."""
    name = mon.cgroup.name
    fig, ax = _figure(f"memory of {name}")
    t, used = mon.series("memory_current")
    ax.plot(t, [u / MIB for u in used], color="tab:blue", linewidth=2, label="memory in use")
    if read:
        tr, total = mon.series("io_read_bytes")
        if total:
            ax.plot(tr, [(v - total[0]) / MIB for v in total], color="tab:green", linewidth=1.5,
                    label="read from disk so far (cumulative)")
    if limit is not None:
        ax.axhline(limit / MIB, label=f"hard limit {human_bytes(limit)}", **LIMIT)
    if high is not None:
        ax.axhline(high / MIB, label=f"soft limit {human_bytes(high)}", **SOFT)
    killed = mon.first_increase("oom_kills")
    if killed is not None:
        ax.axvline(killed, color="black", linewidth=2, label="OOM kill")
    ax.set_ylabel("MiB")
    ax.set_ylim(bottom=0)
    _events(ax, mon)
    ax.legend(loc="center right" if read else "lower right", fontsize=8)
    what = f"a {human_bytes(limit)} limit" if limit else "no hard limit"
    if high:
        what += f" and a {human_bytes(high)} soft limit"
    return Plot(fig, f"memory of {name} against {what}" + (", OOM kill marked" if killed is not None else "")
                + (", with the bytes read so far" if read else ""))


def pids(mon: Monitor, maximum: int | None = None) -> Plot:
    """Tasks in the group against pids.max, and the forks the kernel refused.

    The limit is drawn as a shaded band above pids.max (where the kernel says no), under the
    tasks line, so a group held at its limit shows both: the line along the band's edge."""
    name = mon.cgroup.name
    fig, ax = _figure(f"tasks in {name}")
    t, current = mon.series("pids_current")
    top = (maximum or max(current, default=1)) * 1.35
    if maximum is not None:
        ax.axhspan(maximum, top, color="tab:red", alpha=0.12, zorder=1,
                   label=f"above pids.max = {maximum}: fork() fails")
        ax.axhline(maximum, zorder=2, **{**LIMIT, "linewidth": 1})
    ax.step(t, current, where="post", color="tab:blue", linewidth=2.5, zorder=3, label="tasks (pids.current)")
    ax.set_ylabel("tasks")
    ax.set_ylim(0, top)
    tr, refused = mon.rate("pids_max_events")
    if refused and max(refused) > 0:
        ax2 = ax.twinx()
        ax2.plot(tr, refused, color="tab:red", alpha=0.6, linewidth=1, label="forks refused per second")
        ax2.set_ylabel("refused forks / s", color="tab:red")
        ax2.set_ylim(0, max(refused) * 2.5)  # the refusals stay in the lower part, clear of the tasks line
        ax2.legend(loc="lower right", fontsize=8)
        ax.set_zorder(ax2.get_zorder() + 1)  # the tasks line above the refusals
        ax.patch.set_visible(False)
    _events(ax, mon)
    ax.legend(loc="upper left", fontsize=8)
    return Plot(fig, f"tasks in {name} against pids.max {maximum}")


def weights(monitors: dict[str, Monitor], weights: dict[str, int], every: int = 3) -> Plot:
    """Several groups competing for one CPU: each one's share over time, labelled with its weight."""
    fig, ax = _figure("groups competing for one CPU")
    for label, mon in monitors.items():
        t, used = mon.rate("cpu_usage_usec", per=1e6 / 100, every=every)
        ax.plot(t, used, label=f"{label} (weight {weights[label]})")
    ax.set_ylabel("% of one CPU")
    ax.set_ylim(0, 110)
    ax.legend(loc="upper right", fontsize=8)
    parts = " vs ".join(f"{label} weight {weights[label]}" for label in monitors)
    return Plot(fig, f"CPU shares of {parts}")


def io(mon: Monitor, limit_bps: int | None = None, every: int = 3) -> Plot:
    """Read throughput against the bytes-per-second limit."""
    name = mon.cgroup.name
    fig, ax = _figure(f"disk reads of {name}")
    t, rate = mon.rate("io_read_bytes", per=MIB, every=every)
    ax.plot(t, rate, color="tab:blue", label="read (MiB/s)")
    if limit_bps is not None:
        ax.axhline(limit_bps / MIB, label=f"limit {human_bytes(limit_bps)}/s", **LIMIT)
    ax.set_ylabel("MiB/s")
    ax.set_ylim(bottom=0)
    _events(ax, mon)
    ax.legend(loc="upper right", fontsize=8)
    what = f"a {human_bytes(limit_bps)}/s limit" if limit_bps else "no limit"
    return Plot(fig, f"disk reads of {name} against {what}")


__all__ = ["Plot", "cpu", "memory", "pids", "weights", "io"]
