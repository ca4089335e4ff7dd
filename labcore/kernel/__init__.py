"""The only door to the operating system that Python's ``os`` lacks.

Every other labcore module calls the kernel through the functions here:
``kernel.unshare(...)``, ``kernel.mount(...)``... They go to the active
backend: the real one (``LibcKernel``, ctypes into libc) or, in unit tests,
a ``RecordingKernel`` installed with::

    with kernel.recording() as rec:
        plan_something()
    assert rec.names() == ["unshare", "mount"]

Failures raise ``OSError`` with errno kept and the call named.
"""

from __future__ import annotations

from contextlib import contextmanager

from . import flags
from .fake import RecordingKernel
from .inotify import Inotify
from .libc import LibcKernel

_active = LibcKernel()


def active():
    """The backend in use (real, or a recorder in tests)."""
    return _active


@contextmanager
def recording(fail_on: dict[str, int] | None = None):
    """Swap in a RecordingKernel for the duration of the block."""
    global _active
    previous, _active = _active, RecordingKernel(fail_on)
    try:
        yield _active
    finally:
        _active = previous


def unshare(flags_: int) -> None:
    """unshare(2): move the calling process into new namespaces."""
    _active.unshare(flags_)


def setns(fd: int, nstype: int = 0, what: str = "") -> None:
    """setns(2): join the namespace that ``fd`` (a /proc/PID/ns file) refers to."""
    _active.setns(fd, nstype, what)


def clone(flags_: int) -> int:
    """clone(2) without a new stack: fork() with namespace flags (single-threaded callers only)."""
    return _active.clone(flags_)


def ns_ioctl(fd: int, request: int, what: str = "") -> int:
    """ioctl_ns(2): ask a namespace file who owns it, its parent, its kind."""
    return _active.ns_ioctl(fd, request, what)


def mount(source, target, fstype=None, flags_: int = 0, data=None) -> None:
    """mount(2)."""
    _active.mount(source, target, fstype, flags_, data)


def umount2(target: str, flags_: int = 0) -> None:
    """umount2(2); MNT_DETACH for a lazy unmount."""
    _active.umount2(target, flags_)


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2): swap the root mount of this mount namespace."""
    _active.pivot_root(new_root, put_old)


def sethostname(name: str) -> None:
    """sethostname(2): only visible in this UTS namespace."""
    _active.sethostname(name)


def default_signal(sig: int) -> None:
    """rt_sigaction(2): back to SIG_DFL, glibc's internal signals included."""
    _active.default_signal(sig)


def set_name(name: str) -> None:
    """prctl(PR_SET_NAME): rename the calling thread, as ps shows it."""
    _active.set_name(name)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2)."""
    return _active.prctl(option, arg2, arg3, arg4, arg5)


__all__ = ["flags", "active", "recording", "RecordingKernel", "LibcKernel",
           "unshare", "setns", "clone", "ns_ioctl", "mount", "umount2", "pivot_root", "sethostname", "default_signal", "set_name",
           "prctl", "Inotify"]
