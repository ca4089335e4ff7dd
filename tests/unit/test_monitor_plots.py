"""The monitor's arithmetic, the plots, the live control and the workloads' safety checks, without root."""

import time

import pytest

from labcore import InvalidInputError, monitor, plots
from labcore.cgroups import Stats
from labcore.cgroups import limits as L
from labcore.teach import workloads as W
from labcore.teach.monitor import Monitor, Sample
from labcore.teach.widgets import LiveLimit


class FakeGroup:
    """Counters that grow as a quarter of a CPU would, a memory gauge, an OOM kill at sample 5."""

    name = "lab-fake"
    owned = True

    def __init__(self):
        self.n = 0
        self.limits = L.Limits(cpus=0.25, pids=20)
        self.changed = []

    def stats(self):
        self.n += 1
        return Stats(cpu_usage_usec=25_000 * self.n, cpu_throttled_periods=self.n, memory_current=(self.n % 5) << 20,
                     oom_kills=int(self.n >= 5), pids_current=min(self.n, 20), pids_max_events=self.n,
                     io_read_bytes=(4 << 20) * self.n // 10)

    def set(self, **human):
        self.changed.append(human)
        return self.limits


def filled(samples=10, step=0.1):
    """A monitor holding samples taken every ``step`` seconds (no thread, no waiting)."""
    mon = Monitor(FakeGroup(), interval=step)
    for i in range(samples):
        mon.samples.append(Sample(i * step, mon.cgroup.stats()))
    return mon


def test_rates_and_shares_come_from_differences():
    mon = filled()
    t, share = mon.rate("cpu_usage_usec", per=1e6)
    assert share == pytest.approx([0.25] * 9) and t[0] == pytest.approx(0.05)
    t2, share2 = mon.rate("cpu_usage_usec", per=1e6, every=3)
    assert len(t2) == 3 and share2 == pytest.approx([0.25] * 3)
    assert mon.share() == pytest.approx(0.25)
    assert mon.share(start=0.3, end=0.6) == pytest.approx(0.25)
    with pytest.raises(InvalidInputError, match="not enough samples"):
        mon.share(start=5)


def test_first_increase_and_peak():
    mon = filled()
    assert mon.first_increase("oom_kills") == pytest.approx(0.4)  # the 5th sample, at 0.4 s
    assert mon.peak("memory_current") == 4 << 20
    assert mon.first_increase("memory_high_events") is None  # never sampled: None everywhere


def test_the_thread_samples_on_a_fixed_grid_and_stops():
    mon = Monitor(FakeGroup(), interval=0.01)
    with mon:
        time.sleep(0.2)
        mon.mark("half-way")
    n = len(mon.samples)
    assert 5 <= n <= 25 and not mon.running
    time.sleep(0.05)
    assert len(mon.samples) == n  # stopped means stopped
    assert mon.events[0][1] == "half-way" and mon.cost_per_sample() > 0
    assert "samples, stopped" in repr(mon)


def test_interval_bounds():
    with pytest.raises(InvalidInputError):
        Monitor(FakeGroup(), interval=0)


@pytest.mark.parametrize("draw, args, title", [
    (plots.cpu, (0.25,), "CPU of lab-fake against a 0.25 CPU quota, with throttled periods"),
    (plots.cpu, ([(0.0, 0.2), (0.5, 0.6)],), "CPU of lab-fake against a changing quota, with throttled periods"),
    (plots.memory, (4 << 20, 3 << 20), "memory of lab-fake against a 4 MiB limit and a 3 MiB soft limit, "
                                      "OOM kill marked"),
    (plots.pids, (20,), "tasks in lab-fake against pids.max 20"),
    (plots.io, (4 << 20,), "disk reads of lab-fake against a 4 MiB/s limit"),
])
def test_plots_are_pngs_with_a_stable_text_form(draw, args, title):
    plot = draw(filled(), *args)
    assert repr(plot) == f"<Plot: {title}>"
    assert plot._repr_png_().startswith(b"\x89PNG\r\n\x1a\n")


def test_weights_plot_names_each_group():
    plot = plots.weights({"light": filled(), "heavy": filled()}, {"light": 100, "heavy": 300})
    assert repr(plot) == "<Plot: CPU shares of light weight 100 vs heavy weight 300>"
    assert plot.png()[:4] == b"\x89PNG"


def test_live_limit_changes_the_group_marks_the_time_and_redraws():
    mon = filled()
    control = LiveLimit(mon.cgroup, mon, "cpus", values=(0.05, 1.0, 0.05))
    assert repr(control).startswith("Live control: cpus of lab-fake (slider 0.05 to 1)")
    control.set(0.6)
    assert mon.cgroup.changed == [{"cpus": 0.6}]
    assert control.changes[-1][1] == 0.6 and mon.events[-1][1] == "cpus = 0.6"
    assert control.output.outputs[0]["data"]["text/plain"].startswith("<Plot: CPU of lab-fake")
    assert "image/png" in control.output.outputs[0]["data"]
    bundle = control._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and bundle["text/plain"] == repr(control)


def test_live_limit_refuses_a_limit_it_cannot_draw():
    mon = filled()
    with pytest.raises(ValueError, match="no live control"):
        LiveLimit(mon.cgroup, mon, "io_read_bps")


def test_workloads_refuse_what_could_hurt_the_host(monkeypatch):
    monkeypatch.setattr(L, "ram_bytes", lambda *a, **k: 1 << 30)  # 1 GiB available: a hog may take 256 MiB
    assert W.hog("256M")[-4:] == ["256", "4", "0.05", "0.5"]
    with pytest.raises(InvalidInputError, match="more than a demo may take"):
        W.hog("300M")
    with pytest.raises(InvalidInputError, match="seconds"):
        W.busy(seconds=W.MAX_SECONDS + 1)
    with pytest.raises(InvalidInputError, match="seconds"):
        W.busy(seconds=0)
    group = FakeGroup()
    assert W.fork_bomb(group, 2)[-3:] == ["bomb", "2.0", "20"]
    for pids in (None, W.MAX_BOMB_PIDS + 1):
        group.limits = L.Limits(pids=pids)
        with pytest.raises(InvalidInputError, match="fork bomb needs a lab cgroup"):
            W.fork_bomb(group)
    group.owned = False
    group.limits = L.Limits(pids=20)
    with pytest.raises(InvalidInputError, match="fork bomb"):
        W.fork_bomb(group)


def test_workload_commands_run_the_payload_script_in_isolated_mode():
    argv = W.busy(3, cpu=0)
    assert argv[1] == "-I" and argv[2].endswith("labcore/teach/payload.py") and argv[3:] == ["busy", "3.0", "0"]


def test_run_refuses_a_silly_timeout():
    with pytest.raises(InvalidInputError, match="timeout"):
        monitor.run(FakeGroup(), ["true"], timeout=0)
