"""bpf(2): load an eBPF program into the kernel and attach it to a cgroup.

eBPF is the kernel's in-kernel virtual machine: eleven 64-bit registers,
instructions of 8 bytes, programs the kernel *verifies* before it accepts
them (every path ends, every memory read is in bounds) and then runs at a
hook. Which hook, and what the program may look at, is its **program
type**. One system call does everything, a command and a ``union bpf_attr``
whose layout depends on the command::

    BPF_PROG_LOAD       type, instructions, license -> a program fd (the verifier's log on refusal)
    BPF_PROG_ATTACH     a cgroup's directory fd, a program fd, an attach type (the hook), flags
    BPF_PROG_DETACH     the same three: that program leaves that hook of that cgroup
    BPF_PROG_QUERY      the ids of the programs attached at a hook of a cgroup
    BPF_PROG_GET_FD_BY_ID  a new fd for a program known by its id (cleanup after a crash)
    BPF_OBJ_GET_INFO_BY_FD a program's id (and more: struct bpf_prog_info)

A program lives while something holds it: an fd, a pin in /sys/fs/bpf, or
an attachment. Attached to a cgroup, it stays after its fd is closed and
goes when it is detached or when the cgroup is removed. With
``BPF_F_ALLOW_MULTI`` several programs share a hook and all must agree;
programs attached to ancestors run too, so a container cannot undo its
parent's rules. Needs CAP_SYS_ADMIN (or CAP_BPF). See bpf(2), and the
kernel's Documentation/bpf/.

Only the commands the container runtime needs are here (ctypes, as every
system call labcore makes outside Python's os module).
"""

from __future__ import annotations

import ctypes
import os
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

_SYS_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}

# Commands (enum bpf_cmd in include/uapi/linux/bpf.h).
BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_DETACH = 5, 8, 9
BPF_PROG_GET_FD_BY_ID, BPF_OBJ_GET_INFO_BY_FD, BPF_PROG_QUERY = 13, 15, 16
# Program types and attach types used here.
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_OVERRIDE, BPF_F_ALLOW_MULTI = 1, 2

ATTR_SIZE = 128  # bytes of union bpf_attr we pass: the kernel wants the rest of its union zero, or absent
LOG_SIZE = 1 << 16


def _bpf(cmd: int, attr: ctypes.Array, what: str) -> int:
    number = _SYS_BPF.get(os.uname().machine)
    if number is None:
        raise OSError(38, f"bpf: no syscall number known for {os.uname().machine}")
    result = _libc.syscall(ctypes.c_long(number), ctypes.c_int(cmd), attr, ctypes.c_uint(len(attr)))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def prog_load(prog_type: int, insns: bytes, license: str = "GPL", name: str = "",
              expected_attach_type: int = 0) -> int:
    """BPF_PROG_LOAD: the verifier checks ``insns`` (8 bytes each); returns the program's fd (close-on-exec).

    On refusal it is asked again with a log buffer, and its log ends the OSError's message.
    """
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())

    def attempt(log: ctypes.Array | None) -> int:
        attr = ctypes.create_string_buffer(ATTR_SIZE)
        struct.pack_into("=IIQQ", attr, 0, prog_type, len(insns) // 8, ctypes.addressof(code), ctypes.addressof(lic))
        if log is not None:  # log_level, log_size, log_buf
            struct.pack_into("=IIQ", attr, 24, 1, len(log), ctypes.addressof(log))
        attr[48:48 + len(name[:15])] = name[:15].encode()  # prog_name: shown by bpftool
        struct.pack_into("=I", attr, 68, expected_attach_type)
        return _bpf(BPF_PROG_LOAD, attr, f"bpf(BPF_PROG_LOAD, {name or 'program'})")

    try:
        return attempt(None)
    except OSError as exc:
        log = ctypes.create_string_buffer(LOG_SIZE)
        try:
            return attempt(log)
        except OSError:
            text = log.value.decode(errors="replace").strip()
            raise OSError(exc.errno, f"{exc.strerror}" + (f"; the verifier says: {text[-800:]}" if text else "")) \
                from None


def _attach_attr(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0) -> ctypes.Array:
    attr = ctypes.create_string_buffer(ATTR_SIZE)
    struct.pack_into("=IIII", attr, 0, target_fd, prog_fd, attach_type, flags)
    return attr


def prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0, what: str = "") -> None:
    """BPF_PROG_ATTACH: the program runs at ``attach_type`` of the cgroup open as ``target_fd``."""
    _bpf(BPF_PROG_ATTACH, _attach_attr(target_fd, prog_fd, attach_type, flags),
         f"bpf(BPF_PROG_ATTACH, {what or target_fd})")


def prog_detach(target_fd: int, prog_fd: int, attach_type: int, what: str = "") -> None:
    """BPF_PROG_DETACH: that program leaves that hook of that cgroup."""
    _bpf(BPF_PROG_DETACH, _attach_attr(target_fd, prog_fd, attach_type), f"bpf(BPF_PROG_DETACH, {what or target_fd})")


def prog_query(target_fd: int, attach_type: int, what: str = "") -> list[int]:
    """BPF_PROG_QUERY: the ids of the programs attached at ``attach_type`` of the cgroup itself."""
    ids = (ctypes.c_uint32 * 64)()
    attr = ctypes.create_string_buffer(ATTR_SIZE)
    struct.pack_into("=IIIIQI", attr, 0, target_fd, attach_type, 0, 0, ctypes.addressof(ids), len(ids))
    _bpf(BPF_PROG_QUERY, attr, f"bpf(BPF_PROG_QUERY, {what or target_fd})")
    count = struct.unpack_from("=I", attr, 24)[0]
    return list(ids[:min(count, len(ids))])


def prog_get_fd_by_id(prog_id: int) -> int:
    """BPF_PROG_GET_FD_BY_ID: a new fd for the program with that id (ENOENT once it is freed)."""
    attr = ctypes.create_string_buffer(ATTR_SIZE)
    struct.pack_into("=I", attr, 0, prog_id)
    return _bpf(BPF_PROG_GET_FD_BY_ID, attr, f"bpf(BPF_PROG_GET_FD_BY_ID, {prog_id})")


def prog_id(prog_fd: int) -> int:
    """BPF_OBJ_GET_INFO_BY_FD: the kernel-wide id of a loaded program (``bpftool prog show`` lists it)."""
    info = ctypes.create_string_buffer(64)  # struct bpf_prog_info begins: __u32 type, __u32 id, ...
    attr = ctypes.create_string_buffer(ATTR_SIZE)
    struct.pack_into("=IIQ", attr, 0, prog_fd, len(info), ctypes.addressof(info))
    _bpf(BPF_OBJ_GET_INFO_BY_FD, attr, f"bpf(BPF_OBJ_GET_INFO_BY_FD, {prog_fd})")
    return struct.unpack_from("=I", info, 4)[0]


__all__ = ["prog_load", "prog_attach", "prog_detach", "prog_query", "prog_get_fd_by_id", "prog_id",
           "BPF_PROG_TYPE_CGROUP_DEVICE", "BPF_CGROUP_DEVICE", "BPF_F_ALLOW_MULTI", "BPF_F_ALLOW_OVERRIDE"]
