"""The device filter's assembler, run on a small eBPF interpreter of the six instructions it uses (no root).

The integration test (tests/integration/test_runtime_devices_v2.py) has the kernel's verifier and
hook run the same programs; here many rule lists are checked quickly against v1's meaning.
"""

import struct
import sys

import pytest

from labcore.runtime import devices_v2 as d
from labcore.runtime.cgroups import DEFAULT_DEVICES, device_rules

CHAR, BLOCK = d.DEV_CHAR, d.DEV_BLOCK
R, W, M = d.ACC_READ, d.ACC_WRITE, d.ACC_MKNOD


def run(code: bytes, dev_type: int, access: int, major: int, minor: int) -> int:
    """Execute ``code`` with a bpf_cgroup_dev_ctx; r0 at exit."""
    ctx = struct.pack("=III", access << 16 | dev_type, major, minor)
    regs, pc, steps = [0] * 11, 0, 0
    mask32 = 0xFFFFFFFF
    while True:
        steps += 1
        assert steps < 10_000, "no exit"
        op, rb, off, imm = struct.unpack_from("=BBhi", code, pc * 8)
        dst, src = (rb & 0xF, rb >> 4) if sys.byteorder == "little" else (rb >> 4, rb & 0xF)
        pc += 1
        if op == d.LDX_MEM_W:
            assert src == 1 and off in (0, 4, 8), "reads only the context"
            regs[dst] = struct.unpack_from("=I", ctx, off)[0]
        elif op == d.ALU32_AND_K:
            regs[dst] = regs[dst] & imm & mask32
        elif op == d.ALU32_RSH_K:
            regs[dst] = (regs[dst] & mask32) >> imm
        elif op == d.ALU32_MOV_X:
            regs[dst] = regs[src] & mask32
        elif op == d.ALU64_MOV_K:
            regs[dst] = imm
        elif op == d.JNE_K:
            pc += off if regs[dst] != imm else 0
        elif op == d.JNE_X:
            pc += off if regs[dst] != regs[src] else 0
        elif op == d.EXIT:
            return regs[0]
        else:
            raise AssertionError(f"unknown opcode {op:#x}")


def allowed(rules, dev_type, access, major, minor):
    return run(d.assemble(rules), dev_type, access, major, minor) == 1


def test_no_rules_allows_everything_like_a_new_v1_cgroup():
    assert allowed([], CHAR, R | W, 1, 5) and allowed([], BLOCK, M, 8, 0)


def test_deny_all_then_allow_one_device():
    rules = [d.Rule(False), d.Rule.from_line("c 1:3 rwm")]
    assert allowed(rules, CHAR, R | W, 1, 3)        # /dev/null
    assert not allowed(rules, CHAR, R, 1, 5)        # /dev/zero
    assert not allowed(rules, BLOCK, R, 1, 3)       # the same numbers, another type


def test_access_must_be_within_the_rule():
    rules = [d.Rule(False), d.Rule(True, "c", 1, 5, "r")]
    assert allowed(rules, CHAR, R, 1, 5)
    assert not allowed(rules, CHAR, R | W, 1, 5) and not allowed(rules, CHAR, M, 1, 5)


def test_wildcards_and_the_last_match_wins():
    rules = [d.Rule(False), d.Rule.from_line("c *:* m"), d.Rule.from_line("c 136:* rwm"),
             d.Rule(False, "c", 136, 7, "w")]
    assert allowed(rules, CHAR, M, 250, 1)           # mknod of any char device
    assert not allowed(rules, BLOCK, M, 8, 0)        # but not of a block device
    assert allowed(rules, CHAR, R | W, 136, 3)       # any pts
    assert not allowed(rules, CHAR, W, 136, 7)       # except writing to pts/7 (the later rule)
    assert allowed(rules, CHAR, R, 136, 7)


def test_a_rule_for_everything_resets_the_list():
    rules = [d.Rule(True, "c", 1, 5), d.Rule(False)]  # the deny-all comes last: it wins over the earlier allow
    assert d.reduce(rules) == (False, [])
    assert not allowed(rules, CHAR, R, 1, 5)
    assert allowed([d.Rule(False), d.Rule(True)], CHAR, R, 1, 5)


def test_oci_entries_and_the_runtime_defaults():
    resources = {"devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 10,
                                                                   "minor": 229, "access": "rw"}]}
    rules = device_rules(resources, [{"path": "/dev/fuse2", "type": "c", "major": 10, "minor": 230}])
    assert len(rules) == 2 + len(DEFAULT_DEVICES) + 1
    assert allowed(rules, CHAR, R | W, 10, 229) and not allowed(rules, CHAR, M | R | W, 10, 229)
    assert allowed(rules, CHAR, R | W, 1, 3) and allowed(rules, CHAR, R | W, 5, 1)   # null, console
    assert allowed(rules, CHAR, R | W, 10, 230)                                        # from linux.devices
    assert not allowed(rules, CHAR, R, 10, 231) and not allowed(rules, BLOCK, R, 8, 0)


def test_encoding_of_one_instruction():
    # if r4 != 1 goto +2: opcode 0x55, dst 4 (low nibble on little-endian), offset 2, immediate 1
    raw = d.insn(d.JNE_K, 4, 0, 2, 1)
    assert len(raw) == 8
    if sys.byteorder == "little":
        assert raw == bytes([0x55, 0x04, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00])


@pytest.mark.parametrize("line, rule", [("a", d.Rule(True)), ("c 1:3 rwm", d.Rule(True, "c", 1, 3)),
                                        ("b *:* m", d.Rule(True, "b", None, None, "m"))])
def test_v1_lines(line, rule):
    assert d.Rule.from_line(line) == rule
