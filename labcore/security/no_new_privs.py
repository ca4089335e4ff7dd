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

from ..kernel import flags as F
from ..proc.status import status


def set_no_new_privs(k) -> None:
    """prctl(PR_SET_NO_NEW_PRIVS, 1): no way back."""
    k.prctl(F.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def is_set(pid: int | str = "self") -> bool:
    return status(pid).get("NoNewPrivs") == "1"


__all__ = ["set_no_new_privs", "is_set"]
