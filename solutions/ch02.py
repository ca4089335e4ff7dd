"""Chapter 02's solutions."""

from pathlib import Path

from labcore.course.ch02 import _order, measure_ratio


def which(run):
    """'vm' when the box's kernel booted on its own (another boot id), else 'container'."""
    inside = run("cat /proc/sys/kernel/random/boot_id").strip()
    host = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return "container" if inside == host else "vm"


def _by_pid_one(run):
    """A typical mistake: the container's PID 1 is also not the host's init."""
    return "vm" if run("cat /proc/1/comm").strip() == "systemd" else "container"


def _order_now(ex):
    if ex.ratio is None:
        ex.ratio = measure_ratio()
    return _order(ex.ratio)


SOLUTIONS = {
    "start-ratio": _order_now,
    "vm-or-container": lambda ex: which,
}

WRONG = {
    "start-ratio": lambda ex: [_order_now(ex) // 10 or 10, _order_now(ex) * 10, 500, "fast"],
    "vm-or-container": lambda ex: [lambda run: "vm", lambda run: "container", _by_pid_one, which(ex._vm)],
}
