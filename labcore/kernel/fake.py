"""A recording stand-in for the kernel, for unit tests without root.

``RecordingKernel`` has every method of ``LibcKernel``; each one appends
``(name, args)`` to ``calls`` and succeeds, so code that sets up a root
filesystem or writes uid maps can be run as an ordinary user and its calls
compared with what it should do. ``fail_on`` makes a named call raise the
OSError the real kernel would, so error paths can be tested too. Code under
test is given the fake as its ``k`` argument, just as production code is
given the real kernel: nothing is swapped behind its back.

Like youki's test ``Syscall``, it answers what a call returns (``fork``
and ``clone`` say "I am the parent" with ``child_pid``; ``write`` keeps what
was written, readable back through ``written``).
"""

from __future__ import annotations

import os


class RecordingKernel:
    name = "recording"

    def __init__(self, fail_on: dict[str, int] | None = None, child_pid: int = 4242):
        self.calls: list[tuple[str, tuple]] = []
        self.fail_on = dict(fail_on or {})
        self.child_pid = child_pid
        self.written: dict[str, str] = {}
        self.caps = (0, 0, 0)  # what capget answers: the last capset, or no capability at all
        self.tracing = -1  # never traced: it makes no real call to report

    def _record(self, call: str, *args) -> None:
        self.calls.append((call, args))
        if call in self.fail_on:
            err = self.fail_on[call]
            raise OSError(err, f"{call}: {os.strerror(err)}")

    def names(self) -> list[str]:
        """Just the call names, in order: handy in assertions."""
        return [call for call, _ in self.calls]

    def args(self, call: str) -> list[tuple]:
        """The arguments of every call named ``call``, in order."""
        return [args for name, args in self.calls if name == call]

    # namespaces
    def unshare(self, flags):
        self._record("unshare", flags)

    def setns(self, fd, nstype=0, what=""):
        self._record("setns", fd, nstype)

    def clone(self, flags):
        self._record("clone", flags)
        return self.child_pid

    def fork(self):
        self._record("fork")
        return self.child_pid

    def ns_ioctl(self, fd, request, what=""):
        self._record("ns_ioctl", fd, request)
        return 0

    # mounts and the root
    def mount(self, source, target, fstype=None, flags=0, data=None):
        self._record("mount", source, target, fstype, flags, data)

    def umount2(self, target, flags=0):
        self._record("umount2", target, flags)

    def pivot_root(self, new_root, put_old):
        self._record("pivot_root", new_root, put_old)

    def chdir(self, path):
        self._record("chdir", path)

    def chroot(self, path):
        self._record("chroot", path)

    def symlink(self, target, path):
        self._record("symlink", target, path)

    def mknod(self, path, mode, device=0):
        self._record("mknod", path, mode, device)

    def write(self, path, text):
        self._record("write", path, text)
        self.written[str(path)] = self.written.get(str(path), "") + text

    # who we are
    def sethostname(self, name):
        self._record("sethostname", name)

    def setresuid(self, ruid, euid, suid):
        self._record("setresuid", ruid, euid, suid)

    def setresgid(self, rgid, egid, sgid):
        self._record("setresgid", rgid, egid, sgid)

    def setgroups(self, groups):
        self._record("setgroups", list(groups))

    def capget(self, pid=0):
        self._record("capget", pid)
        return self.caps

    def capset(self, effective, permitted, inheritable):
        self._record("capset", effective, permitted, inheritable)
        self.caps = (effective, permitted, inheritable)

    def set_name(self, name):
        self._record("set_name", name)

    def load_seccomp(self, program):
        self._record("load_seccomp", len(program) // 8)

    def prctl(self, option, arg2=0, arg3=0, arg4=0, arg5=0):
        self._record("prctl", option, arg2, arg3, arg4, arg5)
        return 0

    # signals and programs
    def default_signal(self, sig):
        self._record("default_signal", sig)

    def execve(self, file, argv, env):
        self._record("execve", file, list(argv))

    def posix_spawn(self, path, argv, env, **kwargs):
        self._record("posix_spawn", path, list(argv))
        return self.child_pid

    # terminals
    def openpty(self):
        self._record("openpty")
        return (97, 98)

    def setsid(self):
        self._record("setsid")
        return self.child_pid

    def set_controlling_terminal(self, fd):
        self._record("set_controlling_terminal", fd)

    def set_window_size(self, fd, rows, columns):
        self._record("set_window_size", fd, rows, columns)

    # inotify(7)
    def inotify_init1(self, flags):
        self._record("inotify_init1", flags)
        return 99

    def inotify_add_watch(self, fd, path, mask):
        self._record("inotify_add_watch", fd, str(path), mask)
        return len(self.args("inotify_add_watch"))


__all__ = ["RecordingKernel"]
