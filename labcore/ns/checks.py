"""The doctor's namespace checks: which kinds this kernel has, and whether we may make them.

Root creates any namespace. Anyone else needs a user namespace first
(user_namespaces(7)), which a sysctl, an LSM or a seccomp filter may
forbid: so ``userns_unprivileged`` and ``make_namespaces`` really try
unshare(2) in a throwaway child rather than trusting the sysctls. The
``nsexec`` check says whether labcore's C spawn helper is built.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .. import kernel
from .. import check as host
from ..check import Check, read
from ..proc.ns import KINDS
from .helper import NSEXEC, helper_built


def check_namespaces() -> Check:
    """Every kind of labcore.proc.ns.KINDS is in /proc/self/ns."""
    kinds = sorted(p.name for p in Path("/proc/self/ns").iterdir() if not p.name.endswith("_for_children"))
    missing = sorted(set(KINDS) - set(kinds))
    return Check("namespace kinds", not missing,
                 ", ".join(kinds) + (f" (missing {', '.join(missing)})" if missing else ""),
                 f"a kernel of 5.6 or newer has all {len(KINDS)}")


def check_userns() -> Check:
    limit = read("/proc/sys/user/max_user_namespaces", "0")
    if limit == "0":
        return Check("user namespaces", False, "user.max_user_namespaces is 0",
                     "sysctl -w user.max_user_namespaces=15000")
    return Check("user namespaces", True, f"allowed (max_user_namespaces={limit})")


def _probe_userns(as_uid: int | None) -> int:
    """Really try unshare(CLONE_NEWUSER) in a throwaway child; returns its errno (0 = it worked)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            if as_uid is not None:  # root asks on behalf of an ordinary user: become one first
                os.setgroups([])
                os.setresgid(as_uid, as_uid, as_uid)
                os.setresuid(as_uid, as_uid, as_uid)
            kernel.default().unshare(kernel.flags.CLONE_NEWUSER)
        except OSError as exc:
            code = exc.errno or 1
        os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def check_userns_unprivileged() -> Check:
    """Can an ordinary user create a user namespace? Tried for real (as nobody, when we are root)."""
    # (sysctl file, value that restricts, value that lifts the restriction): the usual culprits.
    knobs = [("kernel/unprivileged_userns_clone", "0", "1"),            # Debian's older kernels
             ("kernel/apparmor_restrict_unprivileged_userns", "1", "0"),  # Ubuntu 23.10 and later
             ("user/max_user_namespaces", "0", "15000")]
    found = [(k.replace("/", "."), lift) for k, bad, lift in knobs if read(f"/proc/sys/{k}") == bad]
    code = _probe_userns(65534 if os.geteuid() == 0 else None)
    if code == 0:
        return Check("unprivileged userns", True, "an ordinary user can create user namespaces (tried as "
                     f"{'nobody' if os.geteuid() == 0 else 'uid ' + str(os.geteuid())})")
    why = os.strerror(code) if code < 256 else f"status {code}"
    detail = f"unshare(CLONE_NEWUSER) as an ordinary user failed: {why}"
    if found:
        return Check("unprivileged userns", False, detail + "; restricted by " + ", ".join(n for n, _ in found),
                     "sysctl -w " + " ".join(f"{n}={lift}" for n, lift in found))
    return Check("unprivileged userns", False, detail + " (no sysctl forbids it: a seccomp filter may, "
                 "as Docker's default profile does)", "run the lab in the course VM")


def check_make_namespaces() -> Check:
    """Can *this* process create namespaces: as root, or rootless through a user namespace?"""
    if host.check_root().ok:
        return Check("make namespaces", True, "as root: every kind directly")
    code = _probe_userns(None)
    if code == 0:
        return Check("make namespaces", True, "rootless: inside a new user namespace first (not root here)")
    return Check("make namespaces", False, f"not root, and unshare(CLONE_NEWUSER) failed: {os.strerror(code)}",
                 "run the lab as root (sudo make lab) or in the course VM")


def check_nsexec() -> Check:
    """Is labcore's C spawn helper built (labcore/kernel/nsexec.c)? Without it, spawns fork Python."""
    if helper_built():
        return Check("spawn helper", True, f"{NSEXEC.name} is built: simple spawns do not fork Python")
    return Check("spawn helper", False, f"{NSEXEC} is not built: every spawn forks Python (about twice as slow)",
                 "sudo make setup (it installs gcc and builds the helper)")


def check_netns() -> Check:
    """Network namespaces need root (or a user namespace) and iproute2's ``ip``."""
    root = host.check_root()
    return Check("netns", root.ok and bool(shutil.which("ip")), root.detail if not root.ok else "root and ip",
                 root.fix or "apt-get install iproute2")


CHECKS = {
    "namespaces": check_namespaces,
    "userns": check_userns,
    "userns_unprivileged": check_userns_unprivileged,
    "make_namespaces": check_make_namespaces,
    "nsexec": check_nsexec,
}
FEATURES = {"netns": check_netns}  # asked for by name (tests, notebooks), not in the report

__all__ = ["CHECKS", "FEATURES", "check_namespaces", "check_userns", "check_userns_unprivileged",
           "check_make_namespaces", "check_nsexec", "check_netns"]
