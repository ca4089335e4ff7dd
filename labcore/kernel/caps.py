"""Capabilities: root's powers, split into bits. See capabilities(7).

The kernel does not ask "is this root?" but "does this process hold the
capability for this act?": CAP_SYS_ADMIN to mount or create namespaces,
CAP_NET_ADMIN to configure network devices, CAP_KILL to signal other
users' processes... Each is a bit number fixed by <linux/capability.h>;
/proc/PID/status shows a process's sets as hex masks (``CapEff``: what it
may do now), and /proc/sys/kernel/cap_last_cap the highest number this
kernel knows.

A process has five sets (capabilities(7), "Thread capability sets"):

* **effective**: what the kernel checks now;
* **permitted**: the ceiling of the effective set (a process may lower a
  capability from effective and raise it again while it stays permitted);
* **inheritable**: what may pass through execve(2) to a program whose file
  carries the same bits (or via the ambient set);
* **bounding**: the ceiling of everything a later execve(2) may ever grant,
  file capabilities and setuid-root included; only dropped, never raised;
* **ambient**: kept across execve(2) of an ordinary program (no file
  capabilities), for a process that is not root. Docker leaves it empty.

capget(2)/capset(2) read and change the first three; prctl(2) reads and
drops the bounding set (PR_CAPBSET_READ/DROP) and manages the ambient one
(PR_CAP_AMBIENT). The calls themselves are methods of the kernel object
(``libc.py``); this module names the bits and strings the calls together.
"""

from __future__ import annotations

# capabilities(7) numbers, in order, as <linux/capability.h> names them (CAP_ + upper case).
CAP_NAMES = ["chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
             "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
             "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
             "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
             "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
             "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore"]
CAP_SYS_ADMIN = CAP_NAMES.index("sys_admin")  # 21


def name(number: int) -> str:
    """``CAP_SYS_ADMIN`` for 21; a number newer than this table stays a number."""
    return f"CAP_{CAP_NAMES[number].upper()}" if 0 <= number < len(CAP_NAMES) else str(number)


def names(mask: int) -> set[str]:
    """The capabilities set in ``mask`` (e.g. ``int(status["CapEff"], 16)``) as names."""
    return {name(bit) for bit in range(mask.bit_length()) if mask >> bit & 1}


def number(text: str) -> int:
    """21 for ``CAP_SYS_ADMIN``, ``SYS_ADMIN`` or ``sys_admin`` (Docker's --cap-add accepts all three)."""
    key = text.strip().lower().removeprefix("cap_")
    if key not in CAP_NAMES:
        raise ValueError(f"unknown capability {text!r}")
    return CAP_NAMES.index(key)


def mask(capabilities) -> int:
    """The bit mask of an iterable of names or numbers: what /proc/PID/status prints in hex."""
    bits = 0
    for cap in capabilities:
        bits |= 1 << (cap if isinstance(cap, int) else number(cap))
    return bits


def last_cap() -> int:
    """The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap)."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        return int(f.read())


# prctl(2) options for the bounding and ambient sets (<linux/prctl.h>).
PR_CAPBSET_READ, PR_CAPBSET_DROP = 23, 24
PR_SET_KEEPCAPS = 8
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_IS_SET, PR_CAP_AMBIENT_RAISE, PR_CAP_AMBIENT_LOWER, PR_CAP_AMBIENT_CLEAR_ALL = 1, 2, 3, 4


def read_bounding(k) -> int:
    """Our bounding set, one PR_CAPBSET_READ per capability the kernel knows."""
    return mask(n for n in range(last_cap() + 1) if k.prctl(PR_CAPBSET_READ, n))


def read_ambient(k) -> int:
    """Our ambient set, one PR_CAP_AMBIENT_IS_SET per capability."""
    return mask(n for n in range(last_cap() + 1) if k.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, n))


def read_all(k) -> dict[str, int]:
    """All five sets of this process as masks, asked of the kernel (not parsed from /proc)."""
    effective, permitted, inheritable = k.capget(0)
    return {"effective": effective, "permitted": permitted, "inheritable": inheritable,
            "bounding": read_bounding(k), "ambient": read_ambient(k)}


def drop_bounding(k, keep: int) -> None:
    """Drop from our bounding set every capability not in ``keep`` (while we still hold CAP_SETPCAP)."""
    for n in range(last_cap() + 1):
        if not keep >> n & 1 and k.prctl(PR_CAPBSET_READ, n):
            k.prctl(PR_CAPBSET_DROP, n)


def set_all(k, effective: int, permitted: int, inheritable: int, bounding: int, ambient: int) -> None:
    """Make this process's five sets exactly these, in the only order the kernel accepts.

    1. drop from the bounding set what is not wanted (needs CAP_SETPCAP, so first);
    2. capset the three others (they may only shrink: permitted is the ceiling);
    3. clear the ambient set, then raise each wanted bit (each must be both
       permitted and inheritable, or the kernel says EPERM).
    """
    drop_bounding(k, bounding)
    k.capset(effective, permitted, inheritable)
    k.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    for n in range(last_cap() + 1):
        if ambient >> n & 1:
            k.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n)


__all__ = ["CAP_NAMES", "CAP_SYS_ADMIN", "name", "names", "number", "mask", "last_cap", "read_bounding",
           "read_ambient", "read_all", "drop_bounding", "set_all", "PR_SET_KEEPCAPS", "PR_CAP_AMBIENT"]
