"""The only door to the operating system that Python's ``os`` lacks.

Every system call labcore makes goes through a *kernel object*: the real
one, ``LibcKernel`` (ctypes into libc), or in unit tests a
``RecordingKernel`` that only writes the calls down. Code that makes calls
is handed the object (its ``k`` argument), as youki hands every function its
``Syscall`` trait: the same function sets up a container on the real kernel
and, in a test without root, on the recorder::

    rec = kernel.RecordingKernel()
    rootfs.enter(root, mount_proc=True, k=rec)
    assert rec.names()[:2] == ["mount", "chdir"]

``default()`` is this process's real kernel, what ``k`` is when not given.
``trace()`` shows every call made through it, as strace would (see tracing.py).

Failures raise ``OSError`` with errno kept and the call named:
``[Errno 1] mount proc on /proc: Operation not permitted``.
"""

from __future__ import annotations

from . import flags
from .fake import RecordingKernel
from .inotify import Inotify
from .libc import LibcKernel, default
from .tracing import Call, Trace, tracing


def trace(k: LibcKernel | None = None, show: bool = True):
    """``with lab.trace():``: every system call labcore makes in the block, in this process
    and in the children it starts, printed when the block ends, one a line as strace writes them.

    Yields the ``Trace`` (a list of ``Call``) for asserts. Used by deep dive A.
    """
    return tracing(k if k is not None else default(), show)


__all__ = ["flags", "default", "trace", "Trace", "Call", "RecordingKernel", "LibcKernel", "Inotify"]
