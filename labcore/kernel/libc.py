"""The real kernel: system calls through libc, with ctypes.

Python 3.11 has no ``os.unshare`` or ``os.setns``, and no version has
``mount`` or ``pivot_root``, so we call libc directly. Each wrapper checks
the return value and turns -1 into ``OSError`` carrying errno, so callers
can still write ``except PermissionError``, and the message names the call
and its object: ``[Errno 1] mount proc on /proc: Operation not permitted``.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import platform
import signal
import struct

from . import flags as F

_libc = ctypes.CDLL(None, use_errno=True)

# pivot_root has no glibc wrapper: we go through syscall(2) with its number.
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
# clone has a glibc wrapper, but it wants a function and a stack; the raw call forks instead.
_SYS_CLONE = {"x86_64": 56, "aarch64": 220, "riscv64": 220, "ppc64le": 120, "s390x": 120}
# glibc's sigaction() refuses its own internal signals (32 and 33): we ask the kernel directly.
_SYS_RT_SIGACTION = {"x86_64": 13, "aarch64": 134, "riscv64": 134, "ppc64le": 173, "s390x": 174}

_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long


def _check(result: int, what: str) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _b(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


class LibcKernel:
    """Direct system calls. One method per call, named after it."""

    name = "libc"

    def unshare(self, flags: int) -> None:
        _check(_libc.unshare(flags), f"unshare({F.describe(flags, F.CLONE_NAMES)})")

    def setns(self, fd: int, nstype: int = 0, what: str = "") -> None:
        _check(_libc.setns(fd, nstype), f"setns({what or fd})")

    def mount(self, source: str | None, target: str, fstype: str | None = None,
              flags: int = 0, data: str | None = None) -> None:
        what = f"mount {source or fstype or 'none'} on {target}"
        if fstype:
            what += f" (type {fstype})"
        if flags:
            what += f" [{F.describe(flags, F.MS_NAMES)}]"
        _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), what)

    def umount2(self, target: str, flags: int = 0) -> None:
        _check(_libc.umount2(_b(target), flags), f"umount {target}")

    def pivot_root(self, new_root: str, put_old: str) -> None:
        number = _SYS_PIVOT_ROOT.get(platform.machine())
        if number is None:
            raise OSError(38, f"pivot_root: no syscall number known for {platform.machine()}")
        result = _libc.syscall(ctypes.c_long(number), _b(new_root), _b(put_old))
        _check(result, f"pivot_root({new_root}, {put_old})")

    def clone(self, flags: int) -> int:
        """Raw clone(2) without a new stack: a fork() that can also create namespaces.

        Returns the child's PID in the parent and 0 in the child, like fork().
        Only call it in a single-threaded process: unlike glibc's fork() it runs
        no atfork handlers, and in the child libc still believes it has the
        parent's thread ID, so the child should just set up and exec.
        """
        number = _SYS_CLONE.get(platform.machine())
        if number is None:
            raise OSError(38, f"clone: no syscall number known for {platform.machine()}")
        word = flags | signal.SIGCHLD  # the low byte: the signal we get when the child dies
        # NULL stack: the child goes on from here on a copy-on-write copy of ours.
        args = (0, word) if platform.machine() == "s390x" else (word, 0)  # s390 swaps the two
        result = _libc.syscall(ctypes.c_long(number), ctypes.c_ulong(args[0]), ctypes.c_ulong(args[1]),
                               ctypes.c_void_p(0), ctypes.c_void_p(0), ctypes.c_ulong(0))
        return _check(result, f"clone({F.describe(flags, F.CLONE_NAMES)}|SIGCHLD)")

    def ns_ioctl(self, fd: int, request: int, what: str = "") -> int:
        """ioctl_ns(2) on a /proc/PID/ns file: a new fd, a CLONE_NEW* flag, or a uid."""
        name = {F.NS_GET_USERNS: "NS_GET_USERNS", F.NS_GET_PARENT: "NS_GET_PARENT",
                F.NS_GET_NSTYPE: "NS_GET_NSTYPE", F.NS_GET_OWNER_UID: "NS_GET_OWNER_UID"}.get(request, hex(request))
        try:
            if request == F.NS_GET_OWNER_UID:  # the answer is written into a uid_t we pass
                buf = bytearray(4)
                fcntl.ioctl(fd, request, buf, True)
                return struct.unpack("I", buf)[0]
            return fcntl.ioctl(fd, request)
        except OSError as exc:
            raise OSError(exc.errno, f"ioctl({what or fd}, {name}): {os.strerror(exc.errno)}") from None

    def default_signal(self, sig: int) -> None:
        """rt_sigaction(2) to SIG_DFL, for any signal, glibc's internal ones included.

        An ignored signal stays ignored across execve(2), and glibc's
        posix_spawn(3) leaves 32 and 33 ignored in what it starts (make, for
        one): a container's command must not inherit that. All zeros is
        SIG_DFL with no flags and an empty mask, in the kernel's layout too.
        """
        number = _SYS_RT_SIGACTION.get(platform.machine())
        if number is None:
            raise OSError(38, f"rt_sigaction: no syscall number known for {platform.machine()}")
        default = (ctypes.c_ulong * 4)()
        _check(_libc.syscall(ctypes.c_long(number), ctypes.c_long(sig), default, ctypes.c_void_p(0),
                             ctypes.c_size_t(8)), f"rt_sigaction({sig}, SIG_DFL)")

    def sethostname(self, name: str) -> None:
        raw = name.encode()
        _check(_libc.sethostname(raw, len(raw)), f"sethostname({name!r})")

    def set_name(self, name: str) -> None:
        """prctl(PR_SET_NAME): the name ps shows (15 bytes at most), works whoever we are."""
        buf = ctypes.create_string_buffer(name.encode()[:15])
        _check(_libc.prctl(F.PR_SET_NAME, ctypes.addressof(buf), 0, 0, 0), f"prctl(PR_SET_NAME, {name!r})")

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")

__all__ = ["LibcKernel"]
