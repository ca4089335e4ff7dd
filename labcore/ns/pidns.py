"""A pid namespace seen from the host: its members, their states, PID 1's signals.

Every process of a pid namespace is also a process of the host, with a host
PID and a PID inside (the ``NSpid`` line of /proc/PID/status lists both). So
the host can take a census of a container without entering it: walk /proc,
keep the processes whose ``/proc/N/ns/pid`` is the container's namespace,
and read their state. That works for zombies too: a dead process keeps its
PID, and its pid namespace, until its parent reaps it.

Three facts make PID 1 special (pid_namespaces(7)), and this module shows
the first two:

* signals with the default action are dropped when sent to it, so the
  ``SigCgt`` (caught) mask of /proc/PID/status tells whether SIGTERM can
  stop a container (tini instead *blocks* the signals and takes them with
  sigtimedwait(2); while it waits there, ``wchan`` reads do_sigtimedwait and
  the kernel keeps the mask where /proc does not show it);
* orphans are re-parented to it, and only its wait(2) removes their zombies;
* when it dies, the kernel kills every other process of the namespace.

See ``labcore.ns.init`` for an init that does its job. Used by notebook 04.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import InvalidInputError, LabError
from ..proc.status import STATES, signal_set, status  # parsed in labcore.proc; lab.pidns.status for notebook 04


@dataclass
class Member:
    """One process of a pid namespace, as the host sees it."""

    host_pid: int
    pid: int           # its PID inside the namespace
    ppid: int          # its parent's PID inside the namespace (0: the parent is outside; see describe)
    state: str         # one letter, as ps prints it: S, R, Z...
    name: str          # the command name (comm), 15 characters at most
    args: list[str]    # its argv; empty for a zombie, whose memory is gone
    caught: set[str]   # signals it has a handler for
    blocked: set[str]  # signals it has blocked (queued, never dropped)
    wchan: str         # the kernel function it sleeps in ("do_wait", "do_sigtimedwait"...), or ""

    @property
    def zombie(self) -> bool:
        return self.state == "Z"

    def __repr__(self) -> str:
        return f"<PID {self.pid} ({self.name}) {STATES.get(self.state, self.state)}>"


class Census(list):
    """The members of one pid namespace, printed like ``ps`` with the namespace's own PIDs."""

    def zombies(self) -> list[Member]:
        return [m for m in self if m.zombie]

    def settled(self) -> bool:
        """True when nobody is running: each member is a zombie, or asleep and parked in a kernel function.

        State and wchan are two reads of /proc, not one: a process woken in
        between shows S with no wchan, and the census is not settled yet.
        """
        return all(m.zombie or (m.state == "S" and m.wchan) for m in self)

    def by_pid(self, pid: int) -> Member:
        return next(m for m in self if m.pid == pid)

    def __str__(self) -> str:
        lines = [f"{'PID':>5} {'PPID':>5}  {'STATE':<9} COMMAND"]
        for m in self:
            command = f"[{m.name}] <defunct>" if m.zombie else m.name
            lines.append(f"{m.pid:>5} {m.ppid:>5}  {STATES.get(m.state, m.state):<9} {command}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)


def _pidns_inode(pid: int | str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:  # gone, or not ours to look at
        return None


def describe(host_pid: int | str) -> Member:
    """One process, read from /proc: its PID in its own namespace, state, name, argv, signal masks.

    Its ``ppid`` is the parent's PID as *we* number it; ``census`` renumbers
    parents into the namespace's own PIDs.
    """
    st = status(host_pid)
    try:
        args = Path(f"/proc/{host_pid}/cmdline").read_bytes().split(b"\0")[:-1]
        wchan = Path(f"/proc/{host_pid}/wchan").read_text().split(".")[0]
    except FileNotFoundError:
        raise InvalidInputError(f"no process {host_pid}", "it has exited (and been reaped) already") from None
    return Member(int(host_pid), int(st["NSpid"].split()[-1]), int(st["PPid"]), st["State"][0], st["Name"],
                  [a.decode(errors="replace") for a in args], signal_set(st["SigCgt"]), signal_set(st["SigBlk"]),
                  "" if wchan == "0" else wchan)  # 0: running, not sleeping in the kernel


def census(pid: int) -> Census:
    """Every process in the pid namespace of ``pid`` (zombies included), by their PID inside."""
    ns = _pidns_inode(pid)
    if ns is None:
        raise InvalidInputError(f"cannot read /proc/{pid}/ns/pid", "is the process still there, and yours?")
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _pidns_inode(entry) == ns:
            try:
                members.append(describe(entry))
            except (InvalidInputError, OSError):
                continue  # it ended while we looked
    inside = {m.host_pid: m.pid for m in members}
    for m in members:
        m.ppid = inside.get(m.ppid, 0)  # a parent outside the namespace shows as 0, as in ps
    return Census(sorted(members, key=lambda m: m.pid))


def census_when(pid: int, test: Callable[[Census], object], what: str = "the namespace to settle",
                timeout: float = 10) -> Census:
    """Take censuses of ``pid``'s namespace until ``test(census)`` holds; return that census."""
    def attempt():
        found = census(pid)
        return found if test(found) else None
    return wait_until(attempt, timeout, what)


def children(pid: int) -> list[int]:
    """The PIDs of ``pid``'s children, from /proc/PID/task/PID/children (each thread has its own)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        raise InvalidInputError(f"no process {pid}", "it has exited already") from None


def wait_until(predicate: Callable[[], object], timeout: float = 10, what: str = "the condition"):
    """Poll ``predicate`` until it returns something true, and return that.

    Processes need a moment to start, die and be reaped; on a loaded machine
    more than a moment, so the timeout is generous and only a failure waits it out.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout} s waiting for {what}",
                           "the machine may be very busy: run the cell again")
        time.sleep(0.02)


__all__ = ["STATES", "Member", "Census", "status", "signal_set", "describe", "census", "census_when", "children", "wait_until"]
