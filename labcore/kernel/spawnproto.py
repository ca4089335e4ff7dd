"""The spawn protocol: what a parent and the child it starts in new namespaces tell each other.

Starting a process in new namespaces takes two processes that must wait for
each other: the parent (labcore) records the child with the tracker, writes
its uid/gid maps or moves it into a cgroup; the child sets up its namespaces
and must not run the command before the parent is done. Both roads speak
the same few messages over two pipes, whoever the child is: a fork of this
interpreter (``labcore/ns/child.py``) or the C helper ``nsexec``
(``labcore/kernel/nsexec.c``, which writes the same lines with dprintf).

* the **report pipe**, child -> parent, one text line per message:

  ======================  =============================================
  ``maps``                ``Maps()``: "write my uid_map and gid_map now"
  ``pid 4242``            ``Pid(4242)``: the host PID of PID 1 (from
                          nsexec, or from a shim that forked it)
  ``error 1 unshare ...`` ``Error(errno, stage, detail)``: a call failed;
                          ``stage`` is one of ``STAGES``, ``detail``
                          (optional) names the call
  end of file             the command was exec'd (the pipe is
                          close-on-exec), or a function call is running
  ======================  =============================================

* the **gate pipe**, parent -> child: one byte ``g`` (``GO``) lets the child
  go on; end of file means the parent died before recording it, and the
  child exits without running anything.

The helper road, for a command in namespaces root can make::

    labcore (parent)                nsexec                 PID 1 (nsexec's clone)
        | posix_spawn ------------->  |
        |                             | unshare(FLAGS)
        |                             | clone(CLONE_PARENT) --> |
        | <------------- pid 4242     |  exits                  | mount, sethostname
        | records 4242, cgroup                                  |
        | g ----------------------------------------------------> | (gate)
        | <----------------------------------------- EOF           | execve(command)

The Python road, here with a user namespace (rootless)::

    labcore (parent)                child (fork)              PID 1 (its fork)
        | unshare(CLONE_NEWPID), fork -> |
        | records the child              | unshare(USER|...)
        | g ----------------------------> | (gate)
        | <------------------------ maps  |
        | writes uid_map, gid_map         |
        | g ----------------------------> | setresuid(0...), fork -> |
        | <------------------------ pid N |  waits for N (the shim)  |
        | records N                                                  |
        | g ---------------------------------------------------------> | (gate)
        | <------------------------------------------------------ EOF  | execve

The last stage, ``security``, is the Python road's alone: a security policy
(``labcore/security``: capabilities, masked paths, seccomp) applied last
before execve. Stage names are a fixed list shared with ``nsexec.c``: the two must agree
(``tests/unit/test_spawnproto.py`` reads nsexec.c's list and compares).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# Where a child was when a call failed. Keep in the same order as STAGES in nsexec.c.
STAGES = ("arguments", "setns", "unshare", "maps", "time", "clone", "fork",
          "propagation", "rootfs", "proc", "hostname", "setup", "exec", "security")

GO = b"g"  # the gate byte, parent -> child


@dataclass(frozen=True)
class Pid:
    """The host PID of PID 1, when the parent did not fork it itself."""

    pid: int


@dataclass(frozen=True)
class Maps:
    """The child made a user namespace: the parent must write its uid/gid maps now."""


@dataclass(frozen=True)
class Error:
    """A call failed in the child, at ``stage``; ``detail`` names the call when the child knows it."""

    errno: int
    stage: str
    detail: str = ""

    def __post_init__(self):
        if self.stage not in STAGES:
            raise ValueError(f"unknown stage {self.stage!r}: one of {', '.join(STAGES)}")


Message = Pid | Maps | Error


def encode(message: Message) -> bytes:
    """One message as its line: ``pid 42``, ``maps``, ``error 1 unshare DETAIL``."""
    if isinstance(message, Pid):
        return f"pid {message.pid}\n".encode()
    if isinstance(message, Maps):
        return b"maps\n"
    if isinstance(message, Error):
        detail = " ".join(message.detail.split())  # one line, whatever the exception said
        return f"error {message.errno} {message.stage}{' ' + detail if detail else ''}\n".encode()
    raise TypeError(f"not a spawn message: {message!r}")


def decode(line: bytes | str) -> Message:
    """The message a line carries; ValueError for anything else."""
    text = line.decode(errors="replace") if isinstance(line, bytes) else line
    word, _, rest = text.rstrip("\n").partition(" ")
    if word == "maps" and not rest:
        return Maps()
    if word == "pid" and rest.isdigit():
        return Pid(int(rest))
    if word == "error":
        code, _, rest = rest.partition(" ")
        stage, _, detail = rest.partition(" ")
        if code.isdigit() and stage in STAGES:
            return Error(int(code), stage, detail)
    raise ValueError(f"not a spawn message: {text!r}")


def send(fd: int, message: Message) -> None:
    """Write one message to the report pipe (one write: lines never mix)."""
    os.write(fd, encode(message))


def open_gate(fd: int) -> None:
    """Parent: let the child go on. If it already died (a failed call), its Error report says why."""
    try:
        os.write(fd, GO)
    except BrokenPipeError:
        pass


def wait_at_gate(fd: int) -> bool:
    """Child: block until the parent says go; False if it died first (end of file)."""
    return os.read(fd, 1) == GO


__all__ = ["STAGES", "GO", "Pid", "Maps", "Error", "Message", "encode", "decode", "send", "open_gate",
           "wait_at_gate"]
