"""Live controls: a slider that changes a running cgroup's limit, with its plot redrawn.

(Quizzes and exercises are ``teach.quiz`` and ``teach.exercise``.)
"""

from __future__ import annotations

import base64
import threading
from html import escape


def _cpus(value) -> float:
    return round(float(value), 4)  # 0.15000000000000002, as a float slider steps, -> 0.15


def _mib(value) -> str:
    return f"{int(round(value))}M"


def _count(value) -> int:
    return int(round(value))


class LiveLimit:
    """A slider that changes one limit of a running cgroup, and a plot redrawn live (chapter 05).

    Moving the slider calls ``cgroup.set(limit=value)``: the kernel applies
    the new limit to the processes already inside, at once. The change is
    marked on the monitor's clock and the plot is redrawn; ``start()``
    also redraws every ``every`` seconds while the monitor samples.
    ``set(value)`` does exactly what moving the slider does (the notebook's
    stored run uses it, so the tests replay the same path).

    Each limit has its own slider, in the unit the limit parser takes
    (``labcore.cgroups.limits``): cpus in CPUs (a float), memory and
    memory_high in whole MiB (sent as ``"64M"``), pids as a whole count.
    ``values`` is (low, high, step) in that unit.
    """

    PLOTS = {"cpus": "cpu", "memory": "memory", "memory_high": "memory", "pids": "pids"}
    # limit -> (slider class, unit, default (low, high, step), slider value -> what cgroup.set takes,
    #           a parsed limit -> slider value)
    SLIDERS = {
        "cpus": ("FloatSlider", "CPUs", (0.05, 1.0, 0.05), _cpus, lambda cpus: cpus),
        "memory": ("IntSlider", "MiB", (16, 512, 16), _mib, lambda size: size >> 20),
        "memory_high": ("IntSlider", "MiB", (16, 512, 16), _mib, lambda size: size >> 20),
        "pids": ("IntSlider", "tasks", (5, 200, 5), _count, lambda pids: pids),
    }

    def __init__(self, cgroup, monitor, limit: str = "cpus", values: tuple | None = None,
                 every: float = 1.0):
        import ipywidgets as w

        if limit not in self.PLOTS:
            raise ValueError(f"no live control for {limit!r}: choose among {', '.join(self.PLOTS)}")
        self.cgroup, self.monitor, self.limit, self.every = cgroup, monitor, limit, every
        kind, self.unit, default, self._send, to_slider = self.SLIDERS[limit]
        current = getattr(cgroup.limits, limit)
        low, high, step = values if values is not None else default
        self.changes = [(0.0, current)]  # (monitor time, value): the limit's history, for the plot
        start = min(max(to_slider(current), low), high) if current is not None else high
        options = {"readout_format": ".2f"} if kind == "FloatSlider" else {}
        self.slider = getattr(w, kind)(value=start, min=low, max=high, step=step, description=limit,
                                       continuous_update=False, **options)
        self.slider.observe(self._changed, names="value")
        self.output = w.Output()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._draw = threading.Lock()

    def __repr__(self) -> str:
        low, high = self.slider.min, self.slider.max
        unit = "" if self.limit == "cpus" else f" {self.unit}"
        return (f"Live control: {self.limit} of {self.cgroup.name} (slider {low:g} to {high:g}{unit}); "
                f"moving it calls cgroup.set({self.limit}=...) and redraws the plot")

    def value(self, position) -> object:
        """What the slider at ``position`` sends to ``cgroup.set``: a value the limit parser takes."""
        return self._send(position)

    def _changed(self, change) -> None:
        from ..cgroups import limits as L
        sent = self.value(change["new"])
        self.cgroup.set(**{self.limit: sent})
        parsed = L.PARSERS[self.limit](sent)  # in the plots' units: CPUs, bytes, tasks
        shown = f"{sent:g}" if isinstance(sent, float) else str(sent)
        self.changes.append((self.monitor.mark(f"{self.limit} = {shown}"), parsed))
        self.refresh()

    def set(self, value) -> None:
        """Move the slider to ``value``, as a learner's hand would."""
        self.slider.value = value

    def plot(self):
        """The plot of the samples so far, with the limit as it changed."""
        from . import plots
        kind = self.PLOTS[self.limit]
        if kind == "cpu":
            return plots.cpu(self.monitor, quota=list(self.changes))
        if kind == "memory":
            return plots.memory(self.monitor, **{"limit" if self.limit == "memory" else "high": self.changes[-1][1]})
        return plots.pids(self.monitor, self.changes[-1][1])

    def refresh(self) -> None:
        """Redraw now. Safe from the background thread: it sets the Output widget's outputs directly,
        as one display_data message would carry them (the PNG as base64 text, as Jupyter sends it)."""
        with self._draw:
            picture = self.plot()
            self.output.outputs = ({"output_type": "display_data", "metadata": {},
                                    "data": {"image/png": base64.b64encode(picture.png()).decode(),
                                             "text/plain": repr(picture)}},)

    def start(self) -> "LiveLimit":
        """Redraw every ``every`` seconds while the monitor runs (until ``stop()``)."""
        def loop():
            while not self._stop.wait(self.every) and self.monitor.running:
                self.refresh()
        self.refresh()
        self._stop.clear()
        self._thread = threading.Thread(target=loop, name=f"live-{self.cgroup.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.refresh()

    def widget(self):
        import ipywidgets as w
        title = w.HTML(f"<b>{escape(self.limit)}</b> of cgroup <code>{escape(self.cgroup.name)}</code>: "
                       "move the slider while the workload runs")
        return w.VBox([title, self.slider, self.output])

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.widget()._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle["text/plain"] = repr(self)
        return bundle


__all__ = ["LiveLimit"]
