"""``with lab.trace():``: every system call labcore makes, one a line.

A one-line ``lab.spawn(["true"], ns="pid,uts")`` hides a dozen system
calls, made by three processes: this one, the helper or child it starts,
and PID 1 of the new namespaces. strace(1) shows them too, but for a
process that is already running (a notebook's kernel) it needs ptrace
rights and prints everything Python does. Here, the lab reports only its
own calls, in the kernel's vocabulary, as they happen::

    with lab.trace():
        lab.spawn(["true"], ns="pid,uts").wait()

How it works, and why it costs nothing when off: every call that
``labcore.kernel`` makes checks one attribute, ``kernel.tracing``; while a
trace is on it holds a file descriptor open on an anonymous, append-only
file. Each call then writes one line to it: who (the PID as the caller
sees itself), the call, its arguments and its result. Children that the
lab forks inherit the descriptor, so their calls land in the same file, in
the order they happened (O_APPEND makes each short write atomic); the C
helper ``nsexec`` is given it too and writes the same lines. The file is
closed on execve(2) (O_CLOEXEC), so the container's command never sees it.

One line: ``PID<TAB>STARTED<TAB>CALL<TAB>ARGUMENTS<TAB>RESULT``, result
``0``, a value, or ``-1 EPERM (Operation not permitted)`` as strace spells
it. A call is written once it returns, so a parent's ``fork`` line can land
after its child's first calls: STARTED (CLOCK_REALTIME in nanoseconds, when
the call began; a time namespace does not shift that clock) puts the lines
back in the order the calls were made.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Call:
    """One system call: who made it, what it was, what the kernel answered."""

    pid: int
    name: str
    args: str
    result: str
    started: int = 0

    @property
    def failed(self) -> bool:
        return self.result.startswith("-1")


def result_of(value) -> str:
    """A successful call's result, as strace shows it."""
    return "0" if value is None else str(value)


def error_of(code: int) -> str:
    """A failed call's result, as strace shows it: ``-1 EPERM (Operation not permitted)``."""
    return f"-1 {errno.errorcode.get(code, code)} ({os.strerror(code)})"


def parse(text: str) -> list[Call]:
    """The lines of a trace file, in the order the calls began (a half-written line is left out)."""
    calls = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) == 5 and fields[0].isdigit() and fields[1].isdigit():
            calls.append(Call(int(fields[0]), fields[2], fields[3], fields[4], int(fields[1])))
    return sorted(calls, key=lambda c: c.started)  # stable: equal times keep the file's order


class Trace(list):
    """The calls of one ``with lab.trace()`` block, in the order they began.

    ``who`` names each process: ``labcore`` for the one that traced, ``PID 1``
    for a process that sees itself as PID 1 (the first of a new pid
    namespace), ``child N`` for the others, numbered as they appear.

    Printed, the calls are grouped by process, one process after another in
    the order they appeared, each with its calls in its own order. Which of
    two running processes makes its next call first changes from run to run
    (the scheduler decides); what each process does, and in which order,
    does not.
    """

    def __init__(self, calls=(), tracer_pid: int = 0):
        super().__init__(calls)
        self.tracer_pid = tracer_pid

    def names(self) -> list[str]:
        return [c.name for c in self]

    def who(self, call: Call) -> str:
        if call.pid == self.tracer_pid:
            return "labcore"
        if call.pid == 1:
            return "PID 1"
        others = list(dict.fromkeys(c.pid for c in self if c.pid not in (1, self.tracer_pid)))
        return f"child {others.index(call.pid) + 1}"

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(who, call, arguments, result), process by process (see above)."""
        appeared = list(dict.fromkeys(c.pid for c in self))
        by_process = sorted(self, key=lambda c: appeared.index(c.pid))  # stable: each keeps its own order
        return [(self.who(c), c.name, c.args, c.result) for c in by_process]

    def __repr__(self) -> str:
        """One call a line, as strace(1) writes them, after who made it."""
        width = max([len("labcore")] + [len(r[0]) for r in self.rows()])
        return "\n".join(f"{who:<{width}}  {name}({args}) = {result}" for who, name, args, result in self.rows())


def _open_log() -> int:
    """An anonymous file (no name on disk), append-only, closed on execve(2)."""
    import tempfile  # only once a trace starts: every process that makes a call imports this module
    flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
    try:
        return os.open(tempfile.gettempdir(), flags | os.O_TMPFILE, 0o600)
    except OSError:  # a filesystem without O_TMPFILE: a named file, unlinked at once
        fd, path = tempfile.mkstemp(prefix="labcore-trace-")
        os.close(fd)
        fd = os.open(path, flags)
        os.unlink(path)
        return fd


@contextmanager
def tracing(k, show: bool = True):
    """Record every system call made through the kernel object ``k`` in the block.

    Yields the ``Trace``, filled when the block ends, and prints it
    then (unless ``show=False``). ``lab.trace()`` is this, on this process's
    real kernel.
    """
    if k.tracing >= 0:
        raise RuntimeError("a trace is already on: nest no trace inside another")
    fd = _open_log()
    result = Trace(tracer_pid=os.getpid())
    k.tracing = fd
    try:
        yield result
    finally:
        k.tracing = -1
        try:
            size = os.fstat(fd).st_size
            result.extend(parse(os.pread(fd, size, 0).decode(errors="replace")))
        finally:
            os.close(fd)
    if show:
        print(repr(result))


__all__ = ["tracing", "Trace", "Call", "parse", "result_of", "error_of"]
