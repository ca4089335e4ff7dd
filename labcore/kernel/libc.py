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
import signal
import struct
import termios
import time

from . import flags as F
from .tracing import error_of, result_of

_libc = ctypes.CDLL(None, use_errno=True)
# The machine the syscall numbers are looked up for (uname(2)); platform.machine() says the same, but
# importing platform compiles a dozen regular expressions, in every process that makes a call.
_MACHINE = os.uname().machine

# pivot_root has no glibc wrapper: we go through syscall(2) with its number.
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
# clone has a glibc wrapper, but it wants a function and a stack; the raw call forks instead.
_SYS_CLONE = {"x86_64": 56, "aarch64": 220, "riscv64": 220, "ppc64le": 120, "s390x": 120}
# glibc's sigaction() refuses its own internal signals (32 and 33): we ask the kernel directly.
_SYS_RT_SIGACTION = {"x86_64": 13, "aarch64": 134, "riscv64": 134, "ppc64le": 173, "s390x": 174}
# capget/capset have no glibc wrapper either (libcap wraps them).
_SYS_CAPGET = {"x86_64": 125, "aarch64": 90, "riscv64": 90, "ppc64le": 183, "s390x": 184}
_SYS_CAPSET = {"x86_64": 126, "aarch64": 91, "riscv64": 91, "ppc64le": 184, "s390x": 185}
_LINUX_CAPABILITY_VERSION_3 = 0x20080522  # two 32-bit words per set: capabilities 0-63


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _SockFprog(ctypes.Structure):  # struct sock_fprog: a classic BPF program, as seccomp(2) takes it
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _number(table: dict[str, int], call: str) -> int:
    number = table.get(_MACHINE)
    if number is None:
        raise OSError(38, f"{call}: no syscall number known for {_MACHINE}")
    return number

_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long
_libc.inotify_init1.argtypes = [ctypes.c_int]
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]


def _b(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


def _q(value) -> str:
    """An argument as strace prints it: strings quoted, None as NULL."""
    return "NULL" if value is None else f'"{value}"' if isinstance(value, (str, os.PathLike)) else str(value)


class LibcKernel:
    """Direct system calls. One method per call, named after it.

    ``tracing`` is -1, or the descriptor a ``lab.trace()`` block writes to
    (see ``tracing.py``): one integer compared per call when nobody traces.
    """

    name = "libc"

    def __init__(self):
        self.tracing = -1

    # --- reporting ------------------------------------------------------
    def _emit(self, call: str, args: str, result: str, started: int = 0) -> None:
        """One trace line; ``started`` (CLOCK_REALTIME ns) orders a fork before its child's calls."""
        line = f"{os.getpid()}\t{started or time.time_ns()}\t{call}\t{args}\t{result}\n".encode(errors="replace")
        try:
            os.write(self.tracing, line)
        except OSError:
            pass  # the trace ended in another process: a trace never breaks a call

    def _check(self, result: int, call: str, args: str, what: str = "", started: int = 0) -> int:
        """-1 from libc becomes OSError(errno, "WHAT: strerror"); the call is traced either way."""
        if result == -1:
            err = ctypes.get_errno()
            if self.tracing >= 0:
                self._emit(call, args, error_of(err), started)
            raise OSError(err, f"{what or f'{call}({args})'}: {os.strerror(err)}")
        if self.tracing >= 0:
            self._emit(call, args, result_of(result), started)
        return result

    def _os(self, call: str, args: str, fn, *fn_args, what: str = ""):
        """A call Python's os module already makes: traced, and its error names the object."""
        started = time.time_ns() if self.tracing >= 0 else 0
        try:
            result = fn(*fn_args)
        except OSError as exc:
            if self.tracing >= 0:
                self._emit(call, args, error_of(exc.errno), started)
            raise OSError(exc.errno, f"{what or f'{call}({args})'}: {os.strerror(exc.errno)}") from None
        if self.tracing >= 0:
            self._emit(call, args, result_of(result), started)
        return result

    # --- namespaces -----------------------------------------------------
    def unshare(self, flags: int) -> None:
        self._check(_libc.unshare(flags), "unshare", F.describe(flags, F.CLONE_NAMES))

    def setns(self, fd: int, nstype: int = 0, what: str = "") -> None:
        self._check(_libc.setns(fd, nstype), "setns", f"{what or fd}, {F.describe(nstype, F.CLONE_NAMES)}",
                    f"setns({what or fd})")

    def clone(self, flags: int) -> int:
        """Raw clone(2) without a new stack: a fork() that can also create namespaces.

        Returns the child's PID in the parent and 0 in the child, like fork().
        Only call it in a single-threaded process: unlike glibc's fork() it runs
        no atfork handlers, and in the child libc still believes it has the
        parent's thread ID, so the child should just set up and exec.
        """
        number = _SYS_CLONE.get(_MACHINE)
        if number is None:
            raise OSError(38, f"clone: no syscall number known for {_MACHINE}")
        word = flags | signal.SIGCHLD  # the low byte: the signal we get when the child dies
        # NULL stack: the child goes on from here on a copy-on-write copy of ours.
        args = (0, word) if _MACHINE == "s390x" else (word, 0)  # s390 swaps the two
        started = time.time_ns()  # the child's calls come after this, in the trace too
        result = _libc.syscall(ctypes.c_long(number), ctypes.c_ulong(args[0]), ctypes.c_ulong(args[1]),
                               ctypes.c_void_p(0), ctypes.c_void_p(0), ctypes.c_ulong(0))
        spelled = f"{F.describe(flags, F.CLONE_NAMES)}|SIGCHLD" if flags else "SIGCHLD"
        if result == 0:
            return 0  # the child: the parent reports the call, once
        return self._check(result, "clone", spelled, started=started)

    def fork(self) -> int:
        """fork(2) (glibc's, which runs Python's atfork handlers): our PID in the parent, 0 in the child."""
        started = time.time_ns()
        try:
            pid = os.fork()
        except OSError as exc:
            if self.tracing >= 0:
                self._emit("fork", "", error_of(exc.errno), started)
            raise
        if pid and self.tracing >= 0:  # the parent reports the call, once
            self._emit("fork", "", str(pid), started)
        return pid

    def ns_ioctl(self, fd: int, request: int, what: str = "") -> int:
        """ioctl_ns(2) on a /proc/PID/ns file: a new fd, a CLONE_NEW* flag, or a uid."""
        name = {F.NS_GET_USERNS: "NS_GET_USERNS", F.NS_GET_PARENT: "NS_GET_PARENT",
                F.NS_GET_NSTYPE: "NS_GET_NSTYPE", F.NS_GET_OWNER_UID: "NS_GET_OWNER_UID"}.get(request, hex(request))

        def ask():
            if request == F.NS_GET_OWNER_UID:  # the answer is written into a uid_t we pass
                buf = bytearray(4)
                fcntl.ioctl(fd, request, buf, True)
                return struct.unpack("I", buf)[0]
            return fcntl.ioctl(fd, request)
        return self._os("ioctl", f"{what or fd}, {name}", ask, what=f"ioctl({what or fd}, {name})")

    # --- mounts and the root ------------------------------------------------
    def mount(self, source: str | None, target: str, fstype: str | None = None,
              flags: int = 0, data: str | None = None) -> None:
        what = f"mount {source or fstype or 'none'} on {target}"
        if fstype:
            what += f" (type {fstype})"
        if flags:
            what += f" [{F.describe(flags, F.MS_NAMES)}]"
        args = f"{_q(source)}, {_q(target)}, {_q(fstype)}, {F.describe(flags, F.MS_NAMES)}, {_q(data)}"
        self._check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), "mount", args, what)

    def umount2(self, target: str, flags: int = 0) -> None:
        self._check(_libc.umount2(_b(target), flags), "umount2",
                    f"{_q(target)}, {F.describe(flags, F.MNT_NAMES)}", f"umount {target}")

    def pivot_root(self, new_root: str, put_old: str) -> None:
        number = _SYS_PIVOT_ROOT.get(_MACHINE)
        if number is None:
            raise OSError(38, f"pivot_root: no syscall number known for {_MACHINE}")
        result = _libc.syscall(ctypes.c_long(number), _b(new_root), _b(put_old))
        self._check(result, "pivot_root", f"{_q(new_root)}, {_q(put_old)}", f"pivot_root({new_root}, {put_old})")

    def chdir(self, path: str) -> None:
        self._os("chdir", _q(path), os.chdir, path)

    def chroot(self, path: str) -> None:
        self._os("chroot", _q(path), os.chroot, path)

    def symlink(self, target: str, path: str) -> None:
        """symlink(2): ``path`` becomes a link to ``target``."""
        self._os("symlink", f"{_q(target)}, {_q(path)}", os.symlink, target, path,
                 what=f"symlink {path} -> {target}")

    def mknod(self, path: str, mode: int, device: int = 0) -> None:
        """mknod(2): a device node (``mode`` has S_IFCHR or S_IFBLK) or a fifo."""
        spelled = f"{_q(path)}, {oct(mode)}, makedev({os.major(device)}, {os.minor(device)})"
        self._os("mknod", spelled, os.mknod, path, mode, device, what=f"mknod {path}")

    def write(self, path: str, text: str) -> None:
        """Write ``text`` to a kernel file (/proc/PID/uid_map, /sys/fs/cgroup/...): open, write, close."""
        def put():
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
        shown = text if len(text) < 60 else text[:57] + "..."
        self._os("write", f"{_q(path)}, {shown!r}", put, what=f"write {text.strip()!r} to {path}")

    # --- who we are -----------------------------------------------------
    def sethostname(self, name: str) -> None:
        raw = name.encode()
        self._check(_libc.sethostname(raw, len(raw)), "sethostname", f"{_q(name)}, {len(raw)}",
                    f"sethostname({name!r})")

    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        self._os("setresuid", f"{ruid}, {euid}, {suid}", os.setresuid, ruid, euid, suid)

    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        self._os("setresgid", f"{rgid}, {egid}, {sgid}", os.setresgid, rgid, egid, sgid)

    def setgroups(self, groups: list[int]) -> None:
        self._os("setgroups", f"{len(groups)}, {groups}", os.setgroups, groups)

    def capget(self, pid: int = 0) -> tuple[int, int, int]:
        """capget(2): the effective, permitted and inheritable sets of ``pid`` (0: us), as bit masks."""
        header, data = _CapHeader(_LINUX_CAPABILITY_VERSION_3, pid), (_CapData * 2)()
        self._check(_libc.syscall(ctypes.c_long(_number(_SYS_CAPGET, "capget")), ctypes.byref(header), data),
                    "capget", f"{{_LINUX_CAPABILITY_VERSION_3, {pid}}}")
        return tuple(getattr(data[0], s) | getattr(data[1], s) << 32 for s in ("effective", "permitted", "inheritable"))

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        """capset(2): set our own three sets (each may only shrink, unless CAP_SETPCAP says otherwise)."""
        header, data = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
        for word in (0, 1):
            data[word].effective = effective >> (32 * word) & 0xFFFFFFFF
            data[word].permitted = permitted >> (32 * word) & 0xFFFFFFFF
            data[word].inheritable = inheritable >> (32 * word) & 0xFFFFFFFF
        self._check(_libc.syscall(ctypes.c_long(_number(_SYS_CAPSET, "capset")), ctypes.byref(header), data),
                    "capset", f"{{_LINUX_CAPABILITY_VERSION_3, 0}}, {{effective={effective:#x}, "
                              f"permitted={permitted:#x}, inheritable={inheritable:#x}}}")

    def set_name(self, name: str) -> None:
        """prctl(PR_SET_NAME): the name ps shows (15 bytes at most), works whoever we are."""
        buf = ctypes.create_string_buffer(name.encode()[:15])
        self._check(_libc.prctl(F.PR_SET_NAME, ctypes.addressof(buf), 0, 0, 0), "prctl",
                    f"PR_SET_NAME, {_q(name[:15])}")

    def load_seccomp(self, program: bytes) -> None:
        """prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER): attach a BPF program (8 bytes an instruction) to
        this thread, for good. What seccomp_load(3) does once libseccomp has generated the program."""
        buf = ctypes.create_string_buffer(program, len(program))
        prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
        self._check(_libc.prctl(F.PR_SET_SECCOMP, F.SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0), "prctl",
                    f"PR_SET_SECCOMP, SECCOMP_MODE_FILTER, {{len={len(program) // 8}, filter=...}}")

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        spelled = F.PR_NAMES.get(option, str(option))
        return self._check(_libc.prctl(option, arg2, arg3, arg4, arg5), "prctl", f"{spelled}, {arg2}")

    # --- signals and programs ---------------------------------------------
    def default_signal(self, sig: int) -> None:
        """rt_sigaction(2) to SIG_DFL, for any signal, glibc's internal ones included.

        An ignored signal stays ignored across execve(2), and glibc's
        posix_spawn(3) leaves 32 and 33 ignored in what it starts (make, for
        one): a container's command must not inherit that. All zeros is
        SIG_DFL with no flags and an empty mask, in the kernel's layout too.
        """
        number = _SYS_RT_SIGACTION.get(_MACHINE)
        if number is None:
            raise OSError(38, f"rt_sigaction: no syscall number known for {_MACHINE}")
        default = (ctypes.c_ulong * 4)()
        self._check(_libc.syscall(ctypes.c_long(number), ctypes.c_long(sig), default, ctypes.c_void_p(0),
                                  ctypes.c_size_t(8)), "rt_sigaction", f"{sig}, SIG_DFL")

    def execve(self, file: str, argv: list[str], env) -> None:
        """execvpe(3): become ``argv`` (found on $PATH). Returns only on failure.

        Traced before the call, since a successful execve(2) never returns.
        """
        args = f"{_q(file)}, {argv!r}"
        if self.tracing >= 0:
            self._emit("execve", args, "no return: the process becomes the program")
        try:
            os.execvpe(file, argv, env)
        except OSError as exc:
            if self.tracing >= 0:
                self._emit("execve", args, error_of(exc.errno))
            raise

    def posix_spawn(self, path: str, argv: list[str], env, **kwargs) -> int:
        """posix_spawn(3): a vfork(2) and an execve(2), without copying this process."""
        return self._os("posix_spawn", f"{_q(path)}, {argv!r}", lambda: os.posix_spawn(path, argv, env, **kwargs),
                        what=f"posix_spawn {path}")

    # --- terminals (pty(7)) -------------------------------------------------
    def openpty(self) -> tuple[int, int]:
        """openpty(3): a new pseudo-terminal pair, (master, slave), both close-on-exec.

        glibc opens ``/dev/ptmx`` (posix_openpt), unlocks the slave (grantpt,
        unlockpt) and opens it through the master (ioctl TIOCGPTPEER): the
        pair belongs to the devpts instance that ``/dev/ptmx`` leads to in
        this mount namespace, so a container's init gets a /dev/pts/N of its own.
        """
        return self._os("openpty", "", os.openpty)

    def setsid(self) -> int:
        """setsid(2): a new session (and process group) led by us, with no controlling terminal yet."""
        return self._os("setsid", "", os.setsid)

    def set_controlling_terminal(self, fd: int) -> None:
        """ioctl(fd, TIOCSCTTY, 0): the terminal ``fd`` becomes our session's controlling terminal
        (only a session leader without one may ask): ^C on it signals our foreground process group."""
        self._os("ioctl", f"{fd}, TIOCSCTTY, 0", fcntl.ioctl, fd, termios.TIOCSCTTY, 0,
                 what=f"ioctl({fd}, TIOCSCTTY)")

    def set_window_size(self, fd: int, rows: int, columns: int) -> None:
        """ioctl(fd, TIOCSWINSZ): the terminal's size, as a program reads it back with TIOCGWINSZ."""
        size = struct.pack("HHHH", rows, columns, 0, 0)
        self._os("ioctl", f"{fd}, TIOCSWINSZ, {{ws_row={rows}, ws_col={columns}}}", fcntl.ioctl, fd,
                 termios.TIOCSWINSZ, size, what=f"ioctl({fd}, TIOCSWINSZ)")

    # --- inotify(7) ---------------------------------------------------------
    def inotify_init1(self, flags: int) -> int:
        return self._check(_libc.inotify_init1(flags), "inotify_init1", str(flags))

    def inotify_add_watch(self, fd: int, path: str, mask: int) -> int:
        return self._check(_libc.inotify_add_watch(fd, _b(path), mask), "inotify_add_watch",
                           f"{fd}, {_q(path)}, {hex(mask)}", f"inotify_add_watch {path}")


_real = LibcKernel()


def default() -> LibcKernel:
    """This process's real kernel (children forked from it inherit it, trace included)."""
    return _real


__all__ = ["LibcKernel", "default"]
