"""What overlay2 costs: copy-up, and writes on overlay against a volume (chapter 11).

Two measurements, each made side by side in one run on this machine:

* ``copy_up_cost``: write **one byte** into files of the image of growing
  sizes. overlayfs must first copy the *whole* file into the upper dir
  (copy-up), so the time grows with the file's size. The same one-byte
  write through a bind-mounted volume costs the same for every size.
* ``overlay_vs_volume``: (a) write a new file, and (b) change 4 KiB in each
  of several existing files, once on the container's root (overlay) and
  once on a bind-mounted volume. New files go straight to the upper dir, so
  (a) is close; (b) pays a copy-up per file on overlay and nothing on the
  volume. That is why databases and other write-heavy data live in volumes.
* ``SmallDisk``: a size-limited tmpfs, for a writable layer that runs out of
  space (a copy-up needs room for the whole file).

Timings vary from machine to machine and run to run; what the notebook
asserts are the facts behind them (what the upper dir holds, which write
copied how many bytes), never a number of milliseconds.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field

from .. import kernel, tracker
from ..errors import InvalidInputError
from ..kernel import flags as F
from .mounts import bind
from .overlay import container_layer
from .scratch import Scratch

MiB = 1 << 20
_BLOCK = b"\xa5" * MiB


def _write_file(path, mib: int, fsync: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for _ in range(mib):
            os.write(fd, _BLOCK)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _poke(path, offset: int = 0, data: bytes = b"x") -> float:
    """Open an existing file for writing and change ``data`` at ``offset``; returns seconds."""
    start = time.perf_counter()
    fd = os.open(path, os.O_WRONLY)  # the open for writing is what triggers the copy-up
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)
    return time.perf_counter() - start


@dataclass
class CopyUpCost:
    """One-byte writes into files of several sizes: on overlay (copy-up) and on a volume."""

    sizes_mib: list[int]
    overlay_s: dict[int, list[float]] = field(default_factory=dict)
    volume_s: dict[int, list[float]] = field(default_factory=dict)
    upper_bytes: dict[int, int] = field(default_factory=dict)   # size of the copy in the upper dir

    def median_ms(self, size: int, where: str = "overlay") -> float:
        samples = self.overlay_s[size] if where == "overlay" else self.volume_s[size]
        return statistics.median(samples) * 1000

    def table(self) -> str:
        lines = [f"{'file':>8} {'overlay (copy-up)':>18} {'volume':>10} {'upper dir holds':>16}"]
        for size in self.sizes_mib:
            lines.append(f"{size:>5} MiB {self.median_ms(size):>15.2f} ms {self.median_ms(size, 'volume'):>7.3f} ms "
                         f"{self.upper_bytes[size] / MiB:>12.0f} MiB")
        return "\n".join(lines)

    def plot(self):
        """A matplotlib figure: milliseconds for a one-byte write, against the file's size."""
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(self.sizes_mib, [self.median_ms(s) for s in self.sizes_mib], "o-", label="overlay: copy-up first")
        ax.plot(self.sizes_mib, [self.median_ms(s, "volume") for s in self.sizes_mib], "s-",
                label="bind-mounted volume")
        ax.set_xscale("log", base=2)
        ax.set_xticks(self.sizes_mib, [str(s) for s in self.sizes_mib])
        ax.set_yscale("log")
        ax.set_xlabel("size of the file in the image (MiB)")
        ax.set_ylabel("time to write 1 byte (ms)")
        ax.set_title("The cost of copy-up")
        ax.legend()
        fig.tight_layout()
        plt.close(fig)  # returned for display; not left open in pyplot's state
        return fig


class SmallDisk(tracker.Held):
    """A tmpfs of ``mib`` MiB at a lab path: a small disk to fill (chapter 11's exercise).

    ``mount -t tmpfs -o size=NM``: the kernel refuses writes beyond the size with ENOSPC, as a full
    disk does. Recorded by the tracker; ``unmount()`` (or the end of a ``with``) undoes it.
    """

    def __init__(self, target: str | os.PathLike, mib: int):
        self.path, self.mib = os.path.abspath(target), int(mib)
        if not 1 <= self.mib <= 1024:
            raise InvalidInputError(f"a small disk of {mib} MiB", "give 1 to 1024 MiB")
        if not tracker.is_lab_path(self.path):
            raise InvalidInputError(f"{self.path} is not a lab path", "make it with labcore.fs.Scratch")
        with tracker.default().created("mount", self.path) as rec:
            kernel.default().mount(f"{tracker.PREFIX}disk", self.path, "tmpfs", F.MS_NOSUID | F.MS_NODEV,
                                   f"size={self.mib}m,mode=0755")
        self._record = rec

    def __repr__(self) -> str:
        return f"<SmallDisk {self.mib} MiB at {self.path}>"

    def free(self) -> int:
        """Bytes still free on it, as df(1) counts them."""
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def unmount(self) -> None:
        self.release()


def copy_up_cost(sizes_mib=(1, 4, 16, 64), repeats: int = 3) -> CopyUpCost:
    """Measure one-byte writes into image files of ``sizes_mib`` (root: mounts). Used by chapter 11."""
    result = CopyUpCost(list(sizes_mib))
    with Scratch("copyup", on_disk=True) as s:
        lower, volume = s.dir("lower"), s.dir("volume-data")
        (lower / "volume").mkdir()  # the mount point, already in the image as Docker's VOLUME makes it
        names = [(size, r) for r in range(repeats) for size in sizes_mib]  # interleaved sizes
        for size, r in names:
            _write_file(lower / f"f{size}-{r}", size)
            _write_file(volume / f"f{size}-{r}", size)
        os.sync()
        with container_layer([lower], name="copyup-c", on_disk=True) as c, bind(volume, c.merged / "volume"):
            for size, r in names:
                result.overlay_s.setdefault(size, []).append(_poke(c.merged / f"f{size}-{r}"))
                result.volume_s.setdefault(size, []).append(_poke(c.merged / "volume" / f"f{size}-{r}"))
                result.upper_bytes[size] = os.stat(c.upper / f"f{size}-{r}").st_size
    return result


@dataclass
class OverlayVsVolume:
    """Two workloads on the container's root (overlay) and on a bind-mounted volume."""

    new_file_mib: int
    files: int
    file_mib: int
    new_file_s: dict[str, list[float]] = field(default_factory=dict)      # where -> seconds
    small_updates_s: dict[str, list[float]] = field(default_factory=dict)
    upper_bytes_after: int = 0
    volume_inodes_kept: bool = False

    def mb_per_s(self, where: str) -> float:
        return self.new_file_mib / statistics.median(self.new_file_s[where])

    def updates_ms(self, where: str) -> float:
        return statistics.median(self.small_updates_s[where]) * 1000

    def table(self) -> str:
        return "\n".join([
            f"{'':34} {'overlay':>10} {'volume':>10}",
            f"{f'new {self.new_file_mib} MiB file, fsync (MB/s)':34} {self.mb_per_s('overlay'):>10.0f} "
            f"{self.mb_per_s('volume'):>10.0f}",
            f"{f'4 KiB into {self.files} x {self.file_mib} MiB files (ms)':34} {self.updates_ms('overlay'):>10.1f} "
            f"{self.updates_ms('volume'):>10.1f}"])

    def plot(self):
        """Two bar charts: throughput of a new file, time of small updates to existing files.

        The small updates differ by two orders of magnitude, so their axis is logarithmic and
        every bar carries its value: on a linear axis the volume's bar would not show at all.
        """
        import matplotlib.pyplot as plt
        fig, (a, b) = plt.subplots(1, 2, figsize=(8.5, 3.6))
        where = ["overlay", "volume"]
        colors = ["tab:blue", "tab:green"]
        speeds = [self.mb_per_s(w) for w in where]
        bars = a.bar(where, speeds, color=colors)
        a.bar_label(bars, labels=[f"{v:.0f} MB/s" for v in speeds], padding=2, fontsize=9)
        a.set_ylim(0, max(speeds) * 1.2)
        a.set_title(f"new {self.new_file_mib} MiB file, fsync'ed", fontsize=10)
        a.set_ylabel("MB/s (higher is better)")
        times = [self.updates_ms(w) for w in where]
        bars = b.bar(where, times, color=colors)
        b.set_yscale("log")
        b.bar_label(bars, labels=[f"{v:.1f} ms" for v in times], padding=2, fontsize=9)
        b.set_ylim(min(times) / 3, max(times) * 4)
        b.set_title(f"4 KiB into each of {self.files} existing {self.file_mib} MiB files", fontsize=10)
        b.set_ylabel("ms, log scale (lower is better)")
        fig.suptitle("Writes on the container's root (overlay) and on a volume, same disk", fontsize=11)
        fig.tight_layout()
        plt.close(fig)
        return fig


def overlay_vs_volume(new_file_mib: int = 64, files: int = 8, file_mib: int = 8, rounds: int = 3) -> OverlayVsVolume:
    """Measure both workloads, interleaving overlay and volume (root: mounts). Used by chapter 11."""
    result = OverlayVsVolume(new_file_mib, files, file_mib)
    with Scratch("writes", on_disk=True) as s:
        lower, volume = s.dir("lower", "data"), s.dir("volume-data")
        (lower.parent / "volume").mkdir()
        for r in range(rounds):
            for i in range(files):  # fresh files each round: a file is copied up only once
                _write_file(lower / f"r{r}-{i}", file_mib)
                _write_file(volume / f"r{r}-{i}", file_mib)
        inodes = {p.name: p.stat().st_ino for p in volume.iterdir()}
        os.sync()  # flush the setup's writes now, or the first fsync measured would pay for them
        with container_layer([lower.parent], name="writes-c", on_disk=True) as c, bind(volume, c.merged / "volume"):
            places = {"overlay": c.merged / "data", "volume": c.merged / "volume"}
            for r in range(rounds):
                order = list(places.items()) if r % 2 == 0 else list(reversed(places.items()))
                for where, base in order:
                    start = time.perf_counter()
                    _write_file(base / f"new-{r}", new_file_mib, fsync=True)
                    result.new_file_s.setdefault(where, []).append(time.perf_counter() - start)
                    start = time.perf_counter()
                    for i in range(files):
                        _poke(base / f"r{r}-{i}", offset=file_mib * MiB // 2, data=b"y" * 4096)
                    result.small_updates_s.setdefault(where, []).append(time.perf_counter() - start)
            result.upper_bytes_after = sum(p.stat().st_size for p in (c.upper / "data").iterdir()
                                           if p.name.startswith("r"))
        result.volume_inodes_kept = all((volume / n).stat().st_ino == ino for n, ino in inodes.items())
    return result


__all__ = ["copy_up_cost", "CopyUpCost", "overlay_vs_volume", "OverlayVsVolume", "SmallDisk", "MiB"]
