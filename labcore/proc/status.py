"""/proc/PID/status: a process described in ``Name: value`` lines. See proc(5).

One file tells who a process is and what it may do: its state (``State:
S (sleeping)``), its parent (``PPid``), its PID in every pid namespace it
belongs to (``NSpid``, outermost first), its uids translated into the
reader's user namespace (``Uid``), its capability sets as hex masks
(``CapEff``...), its signal masks (``SigCgt``: caught, ``SigBlk``:
blocked; bit N-1 for signal N) and its memory (``VmRSS``). Used by the pid
namespace census, credentials, the doctor and the tiny VM.
"""

from __future__ import annotations

import signal
from pathlib import Path

from ..errors import InvalidInputError

# The one-letter states of State: (and of ps's STAT column).
STATES = {"R": "running", "S": "sleeping", "D": "disk sleep", "T": "stopped", "t": "traced",
          "Z": "zombie", "X": "dead", "I": "idle"}


def parse(text: str) -> dict[str, str]:
    """The text of a status file as a dict ("Name" -> "sleep", "NSpid" -> "4242 1", ...)."""
    return {key: value.strip() for key, value in (line.split(":", 1) for line in text.splitlines() if ":" in line)}


def status(pid: int | str = "self") -> dict[str, str]:
    """/proc/PID/status as a dict. Used by notebook 04 (``lab.pidns.status``)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        raise InvalidInputError(f"no process {pid}", "it has exited (and been reaped) already") from None
    return parse(text)


def signal_set(mask_hex: str) -> set[str]:
    """A signal mask from /proc/PID/status (hex, bit N-1 for signal N) as names: {'SIGTERM', ...}."""
    mask = int(mask_hex, 16)
    names = set()
    for number in range(1, 65):
        if mask >> (number - 1) & 1:
            try:
                names.add(signal.Signals(number).name)
            except ValueError:
                names.add(f"SIG{number}")  # real-time signals have no name in Python
    return names


__all__ = ["STATES", "parse", "status", "signal_set"]
