"""no_new_privs: execve(2) may never again raise this process's privileges.

A setuid-root binary (``passwd``, ``su``, ``ping`` on old systems) runs with
uid 0 whoever starts it; a file with capabilities (``setcap``) grants them.
That is how an ordinary user legitimately becomes root for a moment, and
how an attacker inside a container with a vulnerable setuid binary becomes
root. ``prctl(PR_SET_NO_NEW_PRIVS, 1)`` switches this off for the process
and everything it starts, for good: execve keeps the caller's uids and
capabilities whatever the file's bits say. It is also what allows an
unprivileged process to load a seccomp filter. ``NoNewPrivs: 1`` in
/proc/PID/status. Docker: ``--security-opt no-new-privileges``; OCI:
``process.noNewPrivileges``. See prctl(2), and the kernel's
Documentation/userspace-api/no_new_privs.rst.
"""

from __future__ import annotations

import os
import shutil

from ..kernel import flags as F
from ..proc.status import status


def set_no_new_privs(k) -> None:
    """prctl(PR_SET_NO_NEW_PRIVS, 1): no way back."""
    k.prctl(F.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def is_set(pid: int | str = "self") -> bool:
    return status(pid).get("NoNewPrivs") == "1"


def setuid_copy(program: str, scratch) -> str:
    """A setuid-root copy of ``program`` in ``scratch`` (a ``lab.fs.Scratch``, on a filesystem
    mounted without nosuid): whoever runs it runs with euid 0, unless no_new_privs. Chapter 10
    copies id(1), which prints the euid it got. The copy goes when the scratch directory does."""
    path = os.path.join(str(scratch.path), os.path.basename(program))
    shutil.copy(program, path)
    os.chown(path, 0, 0)
    os.chmod(path, 0o4755)  # S_ISUID: execve(2) sets the euid to the file's owner
    return path


__all__ = ["set_no_new_privs", "is_set", "setuid_copy"]
