"""Chapter 01's solutions."""

import os
from pathlib import Path


def find(marker):
    """(host PID, PID inside) of the process whose command line is `sleep MARKER`."""
    wanted = b"sleep\x00" + marker.encode() + b"\x00"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cmdline").read_bytes() != wanted:
                continue
            status = (entry / "status").read_text()
        except OSError:
            continue  # the process ended while we looked
        for line in status.splitlines():
            if line.startswith("NSpid:"):
                pids = line.split()[1:]
                return int(pids[0]), int(pids[-1])
    return None


def _host_pid_twice(marker):
    host, _ = find(marker)
    return host, host


SOLUTIONS = {
    "kill-status": lambda ex: 137,
    "find-container": lambda ex: find,
}

WRONG = {
    "kill-status": lambda ex: [9, -9, 0],
    "find-container": lambda ex: [find(ex.marker), _host_pid_twice, lambda marker: (os.getpid(), 1)],
}
