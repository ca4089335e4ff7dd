"""Every system call of a container start on one time axis, one row per runtime, the phases marked. Deep dive E.

Each row is one traced ``run`` (``labcore.teach.strace``): a thin grey tick
for every call any of its threads made, then, in the colour of their stage,
the calls of each phase of a container start (``strace.PHASES``), with the
phase's number at its first call. Time runs from the runtime's own execve,
in milliseconds, so the rows show how long each runtime takes to reach each
phase, under strace: every call is stopped twice for the tracer, so the
absolute times are inflated; the order and the gaps between phases are what
the picture is for. Used by ``lab.diagrams.syscall_timeline(traces, found)``.
"""

from __future__ import annotations

STAGE_COLOURS = ["#7f7f7f", "#8c564b", "#d62728", "#1f77b4", "#17becf", "#9467bd", "#2ca02c", "#ff7f0e"]
CAVEATS = ("Times are from strace -ttt and include its cost: every call stops twice for the tracer, so a traced run "
           "is several times slower than a plain one. The Go runtime in runc starts threads that sleep and wake "
           "(grey ticks on runc's row); most of ours before the first phase is Python starting and importing.")


def _rows(ax, traces, found, colour, number, origin, levels):
    """Draw one row per trace on ``ax``, times in ms after ``origin[name]`` (seconds); returns the x range."""
    from .. import strace
    names = list(traces)
    lo, hi = 0.0, 0.0
    for row, name in enumerate(names):
        y = len(names) - 1 - row
        trace = traces[name]
        ms = lambda e: (e.time - origin[name]) * 1000  # noqa: E731
        times = [ms(e) for e in trace.calls()]
        lo, hi = min(lo, min(times, default=0)), max(hi, max(times, default=0))
        ax.eventplot([times], lineoffsets=y, linelengths=0.35, colors="#b0b0b0", linewidths=0.4)
        for k, phase in enumerate(strace.PHASES):
            evs = found[name][phase.name]
            if not evs:
                continue
            ax.eventplot([[ms(e) for e in evs]], lineoffsets=y, linelengths=0.55, colors=colour[phase.stage],
                         linewidths=1.2)
            level = 0.36 + 0.11 * (k % levels)
            ax.annotate(str(number[phase.name]), (ms(evs[0]), y + 0.28), xytext=(ms(evs[0]), y + level),
                        ha="center", va="bottom", fontsize=7.5, color=colour[phase.stage],
                        arrowprops={"arrowstyle": "-", "color": colour[phase.stage], "lw": 0.5})
    ax.set_yticks(range(len(names)), [f"{n}\n({len(traces[n].calls())} calls)" for n in reversed(names)])
    ax.set_ylim(-0.6, len(names) - 0.1)
    ax.grid(axis="x", color="#eeeeee")
    return lo, hi


def syscall_timeline(traces: dict, found: dict, title: str | None = None):
    """A matplotlib Figure: ``traces`` name -> Trace, ``found`` name -> ``strace.phases(...)``; rows top down.

    Top: the whole run, from each runtime's own execve. Bottom: the container's part, from each runtime's
    first mount in the new namespaces to the command's exit, so the phases line up for comparison.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from .. import strace

    names = list(traces)
    fig = plt.figure(figsize=(13, 2.6 + 2.7 * len(names)))
    height = 0.3
    top = fig.add_axes((0.07, 0.60, 0.65, height))
    zoom = fig.add_axes((0.07, 0.17, 0.65, height))
    colour = {stage: STAGE_COLOURS[i % len(STAGE_COLOURS)] for i, stage in enumerate(strace.STAGES)}
    colour[None] = "black"  # the start, which belongs to no stage
    number = {p.name: i + 1 for i, p in enumerate(strace.PHASES)}
    _, end = _rows(top, traces, found, colour, number, {n: traces[n].start for n in names}, levels=4)
    top.set_xlim(-end * 0.01, end * 1.02)
    top.set_xlabel("milliseconds since the runtime's own execve", fontsize=9)
    top.set_title(title or "One `run` of the same bundle: every system call of every thread, phases numbered",
                  fontsize=11)
    mounted = {n: (found[n]["rootfs bind mount"] or traces[n].events)[0].time for n in names}
    _rows(zoom, traces, found, colour, number, mounted, levels=6)
    last = max((found[n]["container exits"] or traces[n].events[-1:])[0].time - mounted[n] for n in names) * 1000
    zoom.set_xlim(-0.08 * last, last * 1.08)
    zoom.set_xlabel("milliseconds since the runtime's rootfs bind mount (zoom on the container's part, 4 to 17)",
                    fontsize=9)
    handles = [Line2D([], [], color=colour[s], lw=2, label=s) for s in strace.STAGES]
    handles.append(Line2D([], [], color="black", lw=2, label="start (the fifo)"))
    handles.append(Line2D([], [], color="#b0b0b0", lw=1, label="any other call"))
    zoom.legend(handles=handles, fontsize=7.5, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    listing = "\n".join(f"{number[p.name]:2}  {p.name}" for p in strace.PHASES)
    fig.text(0.75, 0.90, "phases", fontsize=9, weight="bold", va="top")
    fig.text(0.75, 0.87, listing, fontsize=8, va="top", family="monospace")
    fig.text(0.07, 0.012, CAVEATS, fontsize=7.5, color="dimgray", wrap=True)
    return fig


__all__ = ["syscall_timeline", "CAVEATS"]
