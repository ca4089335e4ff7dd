"""Containers vs virtual machines, measured side by side on this machine.

Two ways to give a program its own world:

* a **container** asks the running kernel for new namespaces and starts a
  process in them (clone(2)/unshare(2), then execve(2)): nothing boots;
* a **virtual machine** starts an emulator (QEMU), which emulates firmware
  and hardware, on which a second kernel boots, mounts its own filesystems
  and starts its own PID 1 (see ``labcore.teach.vm``).

What each costs is measured the same way for both: the wall-clock time
from "start it" to the first line the program inside prints, and the host
memory held by the process that *is* the container or the VM: the
container's PID 1, and QEMU (proportional set size, from
/proc/PID/smaps_rollup, see proc(5)). Helpers on either side are left out
of both: a rootless container's shim (here a fork of the Python that
started it), and the Python that holds QEMU's console pipes. Each result also records what the
inside sees: the kernel release, the boot id, and the memory size
(MemTotal), which a container reads from the *host's* kernel.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from ..ns import process
from ..errors import LabError
from ..ns.namespaces import CONTAINER, usable
from .vm import VM, meminfo, process_memory

# What the inside prints first: the facts we compare, then it waits to be measured.
PROBE = "echo ready; uname -r; cat /proc/sys/kernel/random/boot_id; grep MemTotal /proc/meminfo"


@dataclass
class Footprint:
    """One start of a container or a VM: its cost, and what its inside saw."""

    kind: str               # "container" or "VM"
    start_seconds: float    # from the start call to the inside's first line
    host_memory: int        # bytes of host RAM held by the container's PID 1, or by QEMU (PSS)
    release: str            # uname -r inside
    boot_id: str            # /proc/sys/kernel/random/boot_id inside
    mem_total: int          # MemTotal inside, in bytes

    def __repr__(self) -> str:
        return (f"<{self.kind}: started in {self.start_seconds * 1000:.1f} ms, holds "
                f"{self.host_memory / 2**20:.1f} MiB of host RAM, kernel {self.release}>")


def _settled(pid: int, comm: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}/comm").read_text().strip() != comm and time.monotonic() < deadline:
        time.sleep(0.001)


def measure_container(ns=None) -> Footprint:
    """Start one container (new namespaces, as ``docker run``) and measure it. Used by notebook 02."""
    kinds = usable(CONTAINER) if ns is None else ns
    start = time.monotonic()
    with process.spawn(["sh", "-c", PROBE + "; exec sleep 600"], kinds, capture=True) as box:
        first = box.stdout.readline().decode().strip()
        took = time.monotonic() - start
        if first != "ready":
            raise LabError(f"the container printed {first!r} instead of 'ready'", "run it by hand with lab.run")
        release, boot_id, mem = (box.stdout.readline().decode().strip() for _ in range(3))
        _settled(box.pid, "sleep")  # measured once the shell has become `sleep`, not during execve
        held = process_memory(box.pid)[1]
    return Footprint("container", took, held, release, boot_id, meminfo(mem)["MemTotal"])


def measure_vm(vm: VM | None = None) -> Footprint:
    """Boot a tiny VM (or take one just booted), measure it and leave it running. Used by notebook 02."""
    vm = vm or VM()
    if vm.boot_seconds is None:
        vm.boot()
    release, boot_id, mem = vm.run(PROBE.removeprefix("echo ready; ")).splitlines()
    return Footprint("VM", vm.boot_seconds, process_memory(vm.pid)[1], release, boot_id,
                     meminfo(mem)["MemTotal"])


@dataclass
class Comparison:
    """Several starts of each kind; medians compared, and a plot."""

    containers: list[Footprint]
    vms: list[Footprint]

    @staticmethod
    def _median(items, attr):
        return statistics.median(getattr(f, attr) for f in items)

    @property
    def start_ratio(self) -> float:
        """How many times longer a VM takes to start than a container (medians)."""
        return self._median(self.vms, "start_seconds") / self._median(self.containers, "start_seconds")

    @property
    def memory_ratio(self) -> float:
        """How many times more host memory a VM holds than a container (medians)."""
        return self._median(self.vms, "host_memory") / self._median(self.containers, "host_memory")

    def table(self) -> str:
        rows = [f"{'':10}{'starts':>8}{'median start':>16}{'median host memory':>22}"]
        for name, items in (("container", self.containers), ("VM", self.vms)):
            rows.append(f"{name:10}{len(items):>8}{self._median(items, 'start_seconds') * 1000:>13.1f} ms"
                        f"{self._median(items, 'host_memory') / 2**20:>18.1f} MiB")
        return "\n".join(rows)

    def plot(self, references: dict[str, float] | None = None, caveat: str = "emulated in software (QEMU TCG, no KVM)"):
        """Two bar charts on log scales: start latency and host memory, every start shown as a dot.

        ``references``: other start times to draw as dashed lines on the latency chart, label -> seconds
        (a real ``docker run``, a microVM's published boot), so the two extremes measured here are seen
        in context. ``caveat`` goes in the title: what the VM side is.
        """
        import logging
        # On a machine's first plot, matplotlib builds its font cache and says so on stderr:
        # a note about this machine, not about the lesson (and nbval would see it as output).
        fonts = logging.getLogger("matplotlib.font_manager")
        level = fonts.level
        fonts.setLevel(logging.ERROR)
        try:
            import matplotlib.pyplot as plt
        finally:
            fonts.setLevel(level)

        fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
        kinds = (("container\n(bare namespace spawn)", self.containers, "tab:blue"),
                 ("VM\n(" + caveat.split("(")[-1].rstrip(")") + ")" if "(" in caveat else "VM", self.vms, "tab:orange"))
        for ax, attr, scale, unit, label in ((axes[0], "start_seconds", 1000, "ms", "start latency (ms, log scale)"),
                                             (axes[1], "host_memory", 2**-20, "MiB", "host memory (MiB, log scale)")):
            for x, (name, items, color) in enumerate(kinds):
                values = [getattr(f, attr) * scale for f in items]
                middle = statistics.median(values)
                ax.bar(x, middle, width=0.5, color=color, alpha=0.6)
                # each start as a dot, spread across the left half of the bar; the median's value to its right
                spread = [x - 0.2 + 0.15 * i / max(1, len(values) - 1) for i in range(len(values))]
                ax.plot(spread, values, "k.", markersize=6, zorder=3)
                ax.annotate(f"median {middle:.0f} {unit}" if middle >= 10 else f"median {middle:.2g} {unit}",
                            (x + 0.27, middle), xytext=(4, 0), textcoords="offset points",
                            ha="left", va="center", fontsize=9)
            ax.set_xticks([0, 1], [k[0] for k in kinds], fontsize=9)
            ax.set_xlim(-0.5, 2.1)
            ax.set_yscale("log")
            ax.set_ylabel(label)
        low, high = axes[0].get_ylim()
        for i, (name, seconds) in enumerate((references or {}).items()):
            value = seconds * 1000
            axes[0].axhline(value, color="0.35", linestyle="--", linewidth=1, zorder=1)
            axes[0].annotate(name, (2.08, value), xytext=(0, 3 if i % 2 == 0 else -3), textcoords="offset points",
                             ha="right", va="bottom" if i % 2 == 0 else "top", fontsize=8, color="0.25")
            low, high = min(low, value / 2), max(high, value * 2)
        axes[0].set_ylim(low, high * 2)
        axes[1].set_ylim(axes[1].get_ylim()[0], axes[1].get_ylim()[1] * 2)
        axes[0].set_title(f"start: the VM took {self.start_ratio:.0f}x longer", fontsize=10)
        axes[1].set_title(f"memory: the VM held {self.memory_ratio:.0f}x more", fontsize=10)
        fig.suptitle(f"A bare container spawn vs a tiny VM {caveat}", fontsize=11)
        fig.tight_layout()
        return fig


__all__ = ["Footprint", "Comparison", "measure_container", "measure_vm", "PROBE"]
