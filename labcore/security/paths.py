"""Masked and read-only paths: the files of /proc and /sys that speak for the whole machine.

A fresh /proc inside a pid namespace shows the container's processes, but
many of its files are not per-namespace at all: /proc/kcore is the host's
physical memory, /proc/sysrq-trigger reboots the host with one byte,
/proc/sys/kernel/* changes the host's kernel settings, /proc/keys lists
keys of the whole kernel. Docker therefore, inside the container's mount
namespace,

* **masks** some paths: mounts /dev/null over a file, an empty read-only
  tmpfs over a directory, so reading gives nothing (OCI: ``maskedPaths``);
* makes others **read-only**: bind-mounts the path onto itself and remounts
  that bind MS_RDONLY (OCI: ``readonlyPaths``).

These mounts live in the container's own mount namespace and vanish with
it: nothing to record or undo. A path missing on this kernel is skipped.
With CAP_SYS_ADMIN a container could unmount them again, which is why
they come with the capability drop. See mount(2), proc(5).
"""

from __future__ import annotations

import os

from ..kernel import flags as F

# Docker's lists (moby's oci/defaults.go), in the same spirit: hide what leaks the host, freeze what changes it.
MASKED = ("/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
          "/sys/devices/virtual/powercap")
READONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def mask(path: str, k) -> bool:
    """Hide ``path``: /dev/null over a file, an empty read-only tmpfs over a directory. False if absent."""
    if not os.path.lexists(path):
        return False
    if os.path.isdir(path):
        k.mount("tmpfs", path, "tmpfs", F.MS_RDONLY, "size=0")
    else:
        k.mount("/dev/null", path, None, F.MS_BIND)
    return True


def read_only(path: str, k) -> bool:
    """Make ``path`` read-only: bind it onto itself, then remount that bind read-only."""
    if not os.path.lexists(path):
        return False
    k.mount(path, path, None, F.MS_BIND | F.MS_REC)
    k.mount(None, path, None, F.MS_BIND | F.MS_REMOUNT | F.MS_RDONLY | _kept(path))
    return True


def _kept(path: str) -> int:
    """The nosuid/nodev/noexec flags ``path``'s mount has: a remount must repeat them (in a user
    namespace the kernel refuses to clear them: they are locked). ST_* and MS_* share these bits."""
    return os.statvfs(path).f_flag & (os.ST_NOSUID | os.ST_NODEV | os.ST_NOEXEC)


def fresh_sysfs(k, readonly: bool = True) -> None:
    """Mount a new sysfs on /sys: it shows the network devices of *our* network namespace.

    sysfs shows the devices of the net namespace of whoever mounts it; the
    host's /sys, inherited by a new mount namespace, keeps showing the host's. A root filesystem
    without a /sys directory gets none.
    """
    if not os.path.isdir("/sys"):
        return
    k.mount("sysfs", "/sys", "sysfs", F.MS_NOSUID | F.MS_NODEV | F.MS_NOEXEC | (F.MS_RDONLY if readonly else 0))


def readonly_root(k) -> None:
    """``--read-only``: remount the container's / read-only (its own bind, in its own mount namespace)."""
    k.mount("/", "/", None, F.MS_BIND | F.MS_REC)
    k.mount(None, "/", None, F.MS_BIND | F.MS_REMOUNT | F.MS_RDONLY | _kept("/"))


__all__ = ["MASKED", "READONLY", "mask", "read_only", "fresh_sysfs", "readonly_root"]
