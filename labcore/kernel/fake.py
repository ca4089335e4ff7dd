"""A recording stand-in for the kernel, for unit tests without root.

``RecordingKernel`` accepts every call, appends ``(name, args)`` to
``calls`` and succeeds; ``fail_on`` makes a named call raise the OSError
the real kernel would, so error paths can be tested too.
"""

from __future__ import annotations

import os


class RecordingKernel:
    name = "recording"

    def __init__(self, fail_on: dict[str, int] | None = None):
        self.calls: list[tuple[str, tuple]] = []
        self.fail_on = dict(fail_on or {})

    def _record(self, call: str, *args) -> None:
        self.calls.append((call, args))
        if call in self.fail_on:
            err = self.fail_on[call]
            raise OSError(err, f"{call}: {os.strerror(err)}")

    def names(self) -> list[str]:
        """Just the call names, in order: handy in assertions."""
        return [call for call, _ in self.calls]

    def unshare(self, flags):
        self._record("unshare", flags)

    def setns(self, fd, nstype=0, what=""):
        self._record("setns", fd, nstype)

    def mount(self, source, target, fstype=None, flags=0, data=None):
        self._record("mount", source, target, fstype, flags, data)

    def umount2(self, target, flags=0):
        self._record("umount2", target, flags)

    def pivot_root(self, new_root, put_old):
        self._record("pivot_root", new_root, put_old)

    def clone(self, flags):
        self._record("clone", flags)
        return 0

    def ns_ioctl(self, fd, request, what=""):
        self._record("ns_ioctl", fd, request)
        return 0

    def default_signal(self, sig):
        self._record("default_signal", sig)

    def sethostname(self, name):
        self._record("sethostname", name)

    def set_name(self, name):
        self._record("set_name", name)

    def prctl(self, option, arg2=0, arg3=0, arg4=0, arg5=0):
        self._record("prctl", option, arg2, arg3, arg4, arg5)
        return 0

__all__ = ["RecordingKernel"]
