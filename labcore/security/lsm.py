"""Linux Security Modules: the kernel's hooks for policies beyond uid and capabilities.

After the classic checks (file permissions, capabilities), the kernel calls
hooks at a few hundred points (opening a file, mounting, sending a signal,
creating a socket...), and each active LSM may still say no. Some are
*major* (AppArmor: policy by path, per program; SELinux: labels on every
process and file) and only one of them usually holds a system; others
stack: ``capability`` (the capability checks themselves), ``yama``
(ptrace scope), ``landlock`` (a process sandboxing itself), ``lockdown``
(even root may not change the running kernel), ``bpf`` (policies as BPF
programs). Docker loads its ``docker-default`` AppArmor profile where
AppArmor is enabled (Debian and Ubuntu kernels) and SELinux labels on
Fedora; seccomp is *not* an LSM: it filters system calls at their entry,
before any of these hooks run.

``/sys/kernel/security/lsm`` lists the active ones, in order; it lives on
securityfs, which not every machine mounts: then ``active`` mounts one in a
throwaway mount namespace of its own to read it.
"""

from __future__ import annotations

import os

LSM_FILE = "/sys/kernel/security/lsm"


def _read_in_private_mount() -> str:
    """Runs in a fork with its own mount namespace: mount securityfs, read the list."""
    from .. import kernel
    kernel.default().mount("securityfs", "/sys/kernel/security", "securityfs", 0)
    with open(LSM_FILE) as f:
        return f.read()


def active() -> list[str]:
    """The active LSMs, in the order the kernel calls them (e.g. ``['lockdown', 'capability', 'landlock', 'bpf']``)."""
    try:
        with open(LSM_FILE) as f:
            return f.read().strip().split(",")
    except FileNotFoundError:  # securityfs not mounted here: read it from a mount namespace of our own
        from ..ns import process
        return process.call(_read_in_private_mount, ns="mnt").strip().split(",")


def apparmor_enabled() -> bool:
    """Whether AppArmor is built in and switched on (its module parameter says Y)."""
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except FileNotFoundError:
        return False


def selinux_mode() -> str | None:
    """"enforcing" or "permissive" where SELinux runs (selinuxfs says which), else None."""
    try:
        with open("/sys/fs/selinux/enforce") as f:
            return "enforcing" if f.read().strip() == "1" else "permissive"
    except FileNotFoundError:
        return None


def label(pid: int | str = "self") -> str | None:
    """The major LSM's label of a process (an AppArmor profile name, an SELinux context), or None."""
    for path in (f"/proc/{pid}/attr/apparmor/current", f"/proc/{pid}/attr/current"):
        try:
            with open(path) as f:
                return f.read().strip("\0\n ")
        except OSError:
            continue
    return None


def available_profiles() -> list[str]:
    """AppArmor profiles loaded in the kernel (needs securityfs mounted and AppArmor on)."""
    path = "/sys/kernel/security/apparmor/profiles"
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rsplit(" (", 1)[0] for line in f if line.strip()]


__all__ = ["LSM_FILE", "active", "apparmor_enabled", "selinux_mode", "label", "available_profiles"]
