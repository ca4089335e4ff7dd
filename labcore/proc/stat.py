"""/proc/PID/stat: a process's state and start time, on one line. See proc(5).

The line is made for programs: fields separated by spaces, in a fixed
order. Field 2 is the command name in parentheses, which may itself hold
spaces and parentheses, so the safe way to split is after the *last* ``)``.
Field 3 is the state letter (``Z`` for a zombie); field 22 is when the
process started, in clock ticks since boot. A PID is reused once its
process is reaped, but (PID, start time) names one process for good: the
tracker records both, so it never kills a stranger that got a recycled PID.
"""

from __future__ import annotations

from pathlib import Path


def fields(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat from field 3 (state) on, or None if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return text.rsplit(")", 1)[1].split()


def process_start_time(pid: int | str) -> int | None:
    """Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot."""
    found = fields(pid)
    return None if found is None else int(found[19])


def is_running(pid: int | str, start_time: int | None = None) -> bool:
    """Is ``pid`` alive (not gone, not a zombie), and the same process if ``start_time`` is given?

    Used throughout the notebooks (``lab.tracker.is_running``).
    """
    found = fields(pid)
    return found is not None and (start_time is None or int(found[19]) == start_time) and found[0] != "Z"


__all__ = ["fields", "process_start_time", "is_running"]
