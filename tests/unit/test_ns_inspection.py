"""Parsers and plans behind chapter 04 and deep dive A: pure, no root needed."""

import errno
import signal

import pytest

from labcore import InvalidInputError, init, kernel, namespaces as ns, pidns, procnet, propagation
from labcore.kernel import flags as F


def test_clone_cannot_carry_a_time_namespace_and_plan_clone_says_why():
    assert F.CLONE_NEWTIME & F.CSIGNAL  # the flag lies in clone's exit-signal byte
    assert not any(flag & F.CSIGNAL for flag in F.CLONE_NAMES if flag != F.CLONE_NEWTIME)
    with pytest.raises(InvalidInputError, match="CLONE_NEWTIME"):
        ns.plan_clone("pid,time")
    with pytest.raises(InvalidInputError, match="uid maps"):
        ns.plan_clone("user,pid")


def test_plan_clone_moves_every_flag_to_the_clone_call():
    p = ns.plan_clone("pid,uts,net", hostname="c")
    assert p.clone == F.CLONE_NEWPID | F.CLONE_NEWUTS | F.CLONE_NEWNET | F.CLONE_NEWNS  # pid brings mnt
    assert p.unshare == p.unshare_parent == 0 and p.second_fork and p.mount_proc and p.hostname == "c"


def test_propagation_choices_and_refusals():
    assert ns.plan("mnt").propagation == F.MS_REC | F.MS_PRIVATE
    assert ns.plan("mnt", propagation="slave").propagation == F.MS_REC | F.MS_SLAVE
    assert ns.plan("mnt,uts", propagation="shared").propagation == F.MS_REC | F.MS_SHARED
    with pytest.raises(InvalidInputError, match="unknown mount propagation"):
        ns.plan("mnt", propagation="rshared")
    with pytest.raises(InvalidInputError, match="needs a mount namespace"):
        ns.plan("net", propagation="slave")
    with pytest.raises(InvalidInputError, match="back to the host"):
        ns.plan("pid", propagation="shared")  # pid brings mnt and a fresh /proc


def test_recording_kernel_has_the_new_calls():
    rec = kernel.RecordingKernel(fail_on={"ns_ioctl": errno.EPERM})
    assert rec.clone(F.CLONE_NEWPID) == rec.child_pid  # the fake answers as the parent
    with pytest.raises(PermissionError):
        rec.ns_ioctl(3, F.NS_GET_PARENT)
    assert rec.names() == ["clone", "ns_ioctl"]


def test_signal_masks_are_decoded_bit_n_minus_one_for_signal_n():
    assert pidns.signal_set("0000000000000000") == set()
    assert pidns.signal_set(f"{1 << (signal.SIGTERM - 1):016x}") == {"SIGTERM"}
    both = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGCHLD - 1))
    assert pidns.signal_set(f"{both:x}") == {"SIGINT", "SIGCHLD"}


def test_census_prints_like_ps_with_zombies_marked_defunct():
    census = pidns.Census([
        pidns.Member(4000, 1, 0, "S", "sleep", ["sleep", "600"], set(), set(), "hrtimer_nanosleep"),
        pidns.Member(4003, 3, 1, "Z", "sleep", [], set(), set(), ""),
    ])
    text = str(census).splitlines()
    assert text[0].split() == ["PID", "PPID", "STATE", "COMMAND"]
    assert text[1].split() == ["1", "0", "sleeping", "sleep"]
    assert text[2].split() == ["3", "1", "zombie", "[sleep]", "<defunct>"]
    assert census.zombies() == [census[1]] and census.by_pid(1).host_pid == 4000


def test_census_of_a_process_that_does_not_exist_names_it():
    with pytest.raises(InvalidInputError, match="cannot read /proc/999999999/ns/pid"):
        pidns.census(999999999)


def test_wait_until_returns_the_value_or_times_out_with_a_lab_error():
    assert pidns.wait_until(lambda: 42, timeout=0.1) == 42
    with pytest.raises(pidns.LabError, match="waiting for nothing"):
        pidns.wait_until(lambda: None, timeout=0.05, what="nothing")


def test_mountinfo_optional_fields_give_the_propagation_type():
    text = ("36 35 98:0 /mnt1 /mnt/shared rw,noatime master:1 shared:2 - ext3 /dev/root rw\n"
            "37 35 98:0 / /a\\040dir rw shared:7 - tmpfs lab-x rw\n"
            "38 35 98:0 / /b rw master:7 - tmpfs lab-y rw\n"
            "39 35 98:0 / /c rw - proc proc rw\n")
    entries = propagation.parse_mountinfo(text)
    assert [e.propagation for e in entries] == ["shared and slave", "shared", "slave", "private"]
    assert entries[1].point == "/a dir" and entries[1].peer_group == 7 and entries[2].master == 7
    assert entries[3].fstype == "proc" and entries[0].source == "/dev/root"


def test_shared_dir_and_tmpfs_refuse_paths_that_are_not_the_labs():
    with pytest.raises(InvalidInputError, match="lab-"):
        propagation.SharedDir("etc")
    with pytest.raises(InvalidInputError, match="not a lab path"):
        propagation.mount_tmpfs("/etc")


def test_sysv_ipc_parses_the_proc_table_and_refuses_unknown_kinds():
    text = ("       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid\n"
            "1812255730          0   644           0          0     0     0     0     0     0     0\n")
    (queue,) = ns.sysv_ipc("msg", text)
    assert queue["msqid"] == "0" and queue["key"] == "1812255730"
    assert ns.sysv_ipc("shm", "") == []
    with pytest.raises(InvalidInputError, match="msg, shm or sem"):
        ns.sysv_ipc("pipes")


def test_our_own_views_parse():
    assert "lo" in procnet.interfaces()
    assert all(isinstance(port, int) for _, port in procnet.listening())
    assert all(" dev " in line for line in procnet.routes())
    assert ns.time_offsets() == {"monotonic": 0.0, "boottime": 0.0}  # the host's time namespace
    assert ns.cgroup_paths()  # every hierarchy we are in


def test_init_refuses_bad_usage(capsys):
    assert init.main([]) == 2
    assert init.main(["-x", "--", "true"]) == 2
    assert "unknown option '-x'" in capsys.readouterr().err
    assert init.argv(["sleep", "1"], subreaper=True)[-4:] == ["-s", "--", "sleep", "1"]
    assert init.exit_code(7 << 8) == 7                    # wait(2) status of exit(7)
    assert init.exit_code(signal.SIGKILL) == 128 + 9     # ... of a death by SIGKILL


def test_strace_output_is_normalised_and_split_calls_are_joined_in_call_order():
    from labcore.ns.calls import parse_strace
    raw = ("1157  unshare(CLONE_NEWPID)             = 0\n"
           "1157  clone(child_stack=NULL, flags=SIGCHLD, child_tidptr=0x7f308cedba10 <unfinished ...>\n"
           "1158  mount(\"proc\", \"/proc\", \"proc\", 0, NULL) = 0\n"
           "1157  <... clone resumed>)          = 1158\n"
           "hello from the traced program\n"
           "1158  setns(3, CLONE_NEWNET) = -1 EPERM (Operation not permitted)\n")
    assert parse_strace(raw) == [
        "unshare(CLONE_NEWPID) = 0",
        "clone(child_stack=NULL, flags=SIGCHLD, child_tidptr=0x<addr>) = <pid>",
        '[child] mount("proc", "/proc", "proc", 0, NULL) = 0',
        "[child] setns(3, CLONE_NEWNET) = -1 EPERM (Operation not permitted)",
    ]
