"""Capabilities: root's powers, split into bits. See capabilities(7).

The kernel does not ask "is this root?" but "does this process hold the
capability for this act?": CAP_SYS_ADMIN to mount or create namespaces,
CAP_NET_ADMIN to configure network devices, CAP_KILL to signal other
users' processes... Each is a bit number fixed by <linux/capability.h>;
/proc/PID/status shows a process's sets as hex masks (``CapEff``: what it
may do now), and /proc/sys/kernel/cap_last_cap the highest number this
kernel knows.
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


__all__ = ["CAP_NAMES", "CAP_SYS_ADMIN", "name", "names"]
