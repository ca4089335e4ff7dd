"""The default ``config.json`` of a bundle, as ``runc spec`` writes it.

A bundle needs a config; this one is the starting point every runtime
offers: ``sh`` as the process, the five namespaces Docker gives a container
(pid, network, ipc, uts, mount), a fresh /proc, a small /dev on tmpfs with
a pts and a shm, a read-only /sys, the capabilities Docker keeps, and the
paths of /proc that leak the host masked or made read-only. Edit it, then
``labcore runtime run ID``.
"""

from __future__ import annotations

import json
import os

from ..errors import InvalidInputError

CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]  # runc spec's short list


def default(args: list[str] | None = None, rootfs: str = "rootfs") -> dict:
    """The default config as a dict (a new one each call)."""
    nosuid = ["nosuid", "noexec", "nodev"]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(args or ["sh"]),
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {s: list(CAPS) for s in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": rootfs, "readonly": True},
        "hostname": "labcore",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": nosuid + ["mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": nosuid},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": nosuid + ["ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                            "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


def write(bundle: str = ".", args: list[str] | None = None, force: bool = False) -> str:
    """Write ``BUNDLE/config.json`` (refuses to overwrite one unless ``force``). Returns its path."""
    path = os.path.join(bundle, "config.json")
    if not os.path.isdir(bundle):  # runc spec does not make the bundle either: the rootfs goes in it first
        raise InvalidInputError(f"bundle directory {bundle} does not exist",
                                f"make it first (mkdir -p {bundle}) and put the container's rootfs in it")
    if os.path.exists(path) and not force:
        raise InvalidInputError(f"{path} exists already", "remove it first, or pass --force")
    with open(path, "w") as f:
        json.dump(default(args), f, indent=2)
        f.write("\n")
    return path


__all__ = ["default", "write"]
