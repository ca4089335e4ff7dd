"""``linux.resources.devices`` on cgroup v2: an eBPF program the kernel runs at every device access.

cgroup v1 had a ``devices`` controller with files (``devices.allow``,
``devices.deny``, one rule a line). cgroup v2 has no such files: its
device controller is a hook. A program of type
``BPF_PROG_TYPE_CGROUP_DEVICE`` attached to a cgroup at ``BPF_CGROUP_DEVICE``
runs whenever a process of that cgroup (or of a cgroup below it) opens a
device node or makes one with mknod(2). It gets a pointer (in register
r1) to a small context, ``struct bpf_cgroup_dev_ctx``::

    offset 0  __u32 access_type   low 16 bits: the device type  (BPF_DEVCG_DEV_BLOCK 1, _CHAR 2)
                                  high 16 bits: the access asked (BPF_DEVCG_ACC_MKNOD 1, _READ 2, _WRITE 4)
    offset 4  __u32 major
    offset 8  __u32 minor

and answers in r0: 1 allows, 0 denies (the open fails with EPERM). So a
runtime *writes a program* from the rules, as runc does
(libcontainer/cgroups/devices/devicefilter.go). The rules keep v1's
meaning: a rule for every device (``a``, no major or minor, ``rwm``) sets
the default and drops the rules before it; the others are exceptions, and
the last one that matches wins. The program is that list read backwards::

    r2 = ctx->access_type & 0xffff     (the type)
    r3 = ctx->access_type >> 16        (the access)
    r4 = ctx->major ; r5 = ctx->minor
    for each rule, last first:
        if r2 != TYPE   goto next      (left out for type a)
        r1 = r3 & ACCESS
        if r1 != r3     goto next      (asked for more than the rule grants; left out for rwm)
        if r4 != MAJOR  goto next      (left out for *)
        if r5 != MINOR  goto next      (left out for *)
        r0 = ALLOW ; exit
      next:
    r0 = DEFAULT ; exit

Each eBPF instruction is 8 bytes: an opcode (instruction class, operation,
source: an immediate ``K`` or a register ``X``), the destination and source
registers in one byte, a signed 16-bit jump offset (in instructions, from
the next one) and a signed 32-bit immediate. The assembler below knows only
the six instructions this filter uses.

The program is loaded (the verifier checks it), attached with
``BPF_F_ALLOW_MULTI`` (the parent's programs keep running: a container
cannot widen what its parent allows), and its fd closed: the attachment
keeps it alive. It goes when the cgroup is removed; ``detach`` removes it
from a cgroup that outlives the container. The container's tracker record
lists ``{"cgroup", "prog_id"}`` of each attachment (see state.py).
"""

from __future__ import annotations

import os
import struct
import sys
from dataclasses import dataclass

from ..kernel import bpf

DEV_BLOCK, DEV_CHAR = 1, 2                  # BPF_DEVCG_DEV_*
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4    # BPF_DEVCG_ACC_*
ACCESS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}
TYPES = {"c": DEV_CHAR, "b": DEV_BLOCK, "a": None}

# Opcodes: class | operation | source (include/uapi/linux/bpf.h, bpf_common.h).
LDX_MEM_W = 0x61     # BPF_LDX | BPF_MEM | BPF_W:  dst = *(u32 *)(src + off)
ALU32_AND_K = 0x54   # BPF_ALU | BPF_AND | BPF_K:  dst &= imm   (32-bit)
ALU32_RSH_K = 0x74   # BPF_ALU | BPF_RSH | BPF_K:  dst >>= imm  (32-bit)
ALU32_MOV_X = 0xBC   # BPF_ALU | BPF_MOV | BPF_X:  dst = src    (32-bit)
ALU64_MOV_K = 0xB7   # BPF_ALU64 | BPF_MOV | BPF_K: dst = imm
JNE_K = 0x55         # BPF_JMP | BPF_JNE | BPF_K:  if dst != imm goto +off
JNE_X = 0x5D         # BPF_JMP | BPF_JNE | BPF_X:  if dst != src goto +off
EXIT = 0x95          # BPF_JMP | BPF_EXIT:         return r0
NEXT = "next"        # a jump to the end of the rule's block, resolved when the block is done


def insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One instruction, 8 bytes. The register byte puts dst in the low nibble on little-endian machines."""
    regs = (src << 4 | dst) if sys.byteorder == "little" else (dst << 4 | src)
    return struct.pack("=BBhi", op, regs, off, imm)


@dataclass(frozen=True)
class Rule:
    """One device rule: ``allow`` or deny, type c/b/a, major and minor (None: any), access ⊆ "rwm"."""
    allow: bool
    type: str = "a"
    major: int | None = None
    minor: int | None = None
    access: str = "rwm"

    @classmethod
    def from_oci(cls, d: dict) -> Rule:
        """An entry of linux.resources.devices: {"allow", "type", "major", "minor", "access"}."""
        def number(v):
            return None if v is None or v < 0 else v
        return cls(bool(d.get("allow")), d.get("type") or "a", number(d.get("major")), number(d.get("minor")),
                   d.get("access") or "rwm")

    @classmethod
    def from_line(cls, line: str, allow: bool = True) -> Rule:
        """A v1 devices.allow line: ``c 1:3 rwm``, ``c *:* m``, ``a``."""
        parts = line.split()
        if parts == ["a"]:
            return cls(allow)
        major, minor = parts[1].split(":")
        return cls(allow, parts[0], None if major == "*" else int(major), None if minor == "*" else int(minor),
                   parts[2] if len(parts) > 2 else "rwm")

    def covers_everything(self) -> bool:
        return self.type == "a" and self.major is None and self.minor is None and set(self.access) >= set("rwm")

    def mask(self) -> int:
        return sum(ACCESS[c] for c in set(self.access) if c in ACCESS)


def reduce(rules: list[Rule]) -> tuple[bool, list[Rule]]:
    """v1's meaning: (the default, the exceptions in order). A rule for everything resets the list."""
    default, exceptions = True, []  # a new cgroup allows every device until told otherwise
    for r in rules:
        if r.covers_everything():
            default, exceptions = r.allow, []
        else:
            exceptions.append(r)
    return default, exceptions


def _block(r: Rule) -> list[bytes]:
    out: list = []
    if TYPES.get(r.type) is not None:
        out.append((JNE_K, 2, 0, NEXT, TYPES[r.type]))
    if r.mask() != ACC_MKNOD | ACC_READ | ACC_WRITE:
        out += [(ALU32_MOV_X, 1, 3, 0, 0), (ALU32_AND_K, 1, 0, 0, r.mask()), (JNE_X, 1, 3, NEXT, 0)]
    if r.major is not None:
        out.append((JNE_K, 4, 0, NEXT, r.major))
    if r.minor is not None:
        out.append((JNE_K, 5, 0, NEXT, r.minor))
    out += [(ALU64_MOV_K, 0, 0, 0, int(r.allow)), (EXIT, 0, 0, 0, 0)]
    # A jump's offset counts instructions from the one after it: to the block's end is len - (i + 1).
    return [insn(op, dst, src, len(out) - i - 1 if off == NEXT else off, imm)
            for i, (op, dst, src, off, imm) in enumerate(out)]


def assemble(rules: list[Rule]) -> bytes:
    """The whole program for ``rules`` (in config order): bytes for BPF_PROG_LOAD."""
    default, exceptions = reduce(rules)
    code = [insn(LDX_MEM_W, 2, 1, 0), insn(ALU32_AND_K, 2, imm=0xFFFF),   # r2 = type
            insn(LDX_MEM_W, 3, 1, 0), insn(ALU32_RSH_K, 3, imm=16),       # r3 = access
            insn(LDX_MEM_W, 4, 1, 4), insn(LDX_MEM_W, 5, 1, 8)]           # r4 = major, r5 = minor
    for r in reversed(exceptions):  # the last rule that matches decides
        code += _block(r)
    code += [insn(ALU64_MOV_K, 0, imm=int(default)), insn(EXIT)]
    return b"".join(code)


def attach(cgroup: str | os.PathLike, rules: list[Rule], loaded=None) -> int:
    """Load the program for ``rules`` and attach it to the v2 cgroup directory; returns its program id.

    ``loaded(prog_id)``, if given, is called between the two: the tracker records the id before the attachment.
    """
    code = assemble(rules)
    prog = bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, code, license="Apache-2.0", name="labcore_devices",
                         expected_attach_type=bpf.BPF_CGROUP_DEVICE)
    try:
        if loaded is not None:
            loaded(bpf.prog_id(prog))
        target = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            bpf.prog_attach(target, prog, bpf.BPF_CGROUP_DEVICE, bpf.BPF_F_ALLOW_MULTI, what=str(cgroup))
        finally:
            os.close(target)
        return bpf.prog_id(prog)
    finally:
        os.close(prog)  # the attachment holds the program now


def attached(cgroup: str | os.PathLike) -> list[int]:
    """The ids of the device programs attached to that cgroup itself ([] if it is gone)."""
    try:
        target = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    try:
        return bpf.prog_query(target, bpf.BPF_CGROUP_DEVICE, what=str(cgroup))
    finally:
        os.close(target)


def detach(cgroup: str | os.PathLike, prog_id: int) -> bool:
    """Take program ``prog_id`` off the cgroup if it is still there; False if the cgroup or program is gone."""
    if prog_id not in attached(cgroup):
        return False
    prog = bpf.prog_get_fd_by_id(prog_id)
    try:
        target = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            bpf.prog_detach(target, prog, bpf.BPF_CGROUP_DEVICE, what=str(cgroup))
        finally:
            os.close(target)
    finally:
        os.close(prog)
    return True


__all__ = ["Rule", "reduce", "assemble", "attach", "attached", "detach", "insn"]
