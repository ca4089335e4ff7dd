"""The spawn protocol: one message set for the parent, the Python child and nsexec.c."""

import re
from pathlib import Path

import pytest

from labcore.kernel import RecordingKernel, spawnproto as proto
from labcore.ns import parent

NSEXEC_C = Path(proto.__file__).with_name("nsexec.c")


def test_messages_round_trip_through_their_lines():
    for message, line in ((proto.Pid(42), b"pid 42\n"), (proto.Maps(), b"maps\n"),
                          (proto.Error(1, "unshare"), b"error 1 unshare\n"),
                          (proto.Error(2, "exec", "sh: gone"), b"error 2 exec sh: gone\n")):
        assert proto.encode(message) == line and proto.decode(line) == message
    assert proto.encode(proto.Error(5, "setup", "two\nlines")) == b"error 5 setup two lines\n"  # one line each
    for bad in (b"pid x\n", b"hello\n", b"error 1 nowhere\n", b""):
        with pytest.raises(ValueError):
            proto.decode(bad)
    with pytest.raises(ValueError, match="unknown stage"):
        proto.Error(1, "nowhere")


def test_nsexec_c_reports_exactly_the_python_stage_names_in_order():
    source = NSEXEC_C.read_text()
    array = re.search(r"STAGES\[\]\s*=\s*\{(.*?)\};", source, re.S).group(1)
    assert tuple(re.findall(r'"([a-z]+)"', array)) == proto.STAGES
    enum = re.search(r"enum stage \{(.*?)\};", source, re.S).group(1)
    assert [name.strip().lower() for name in enum.split(",")] == list(proto.STAGES)
    assert 'dprintf(REPORT, "error %d %s\\n"' in source and 'dprintf(REPORT, "pid %d\\n"' in source


def test_maps_are_written_through_the_kernel_object_setgroups_denied_first_when_not_root():
    k = RecordingKernel()
    parent.write_maps(4242, (0, 100000, 65536), k, root=False)
    assert k.args("write") == [("/proc/4242/setgroups", "deny"), ("/proc/4242/uid_map", "0 100000 65536\n"),
                               ("/proc/4242/gid_map", "0 100000 65536\n")]
    k = RecordingKernel()
    parent.write_maps(7, (0, 1000, 1), k, root=True)
    assert k.written == {"/proc/7/uid_map": "0 1000 1\n", "/proc/7/gid_map": "0 1000 1\n"}


def test_the_parent_tells_itself_from_the_child_by_forks_answer():
    from labcore.ns.namespaces import Plan
    k = RecordingKernel(child_pid=4242)  # fork answers "you are the parent" even if getpid() were 1
    assert parent.fork_into_new_pid_namespace(Plan(unshare_parent=0x20000000), k) == 4242
    assert k.names() == ["unshare", "fork", "setns"]
    k = RecordingKernel(child_pid=0)  # the child: it must not touch the parent's pid_for_children
    assert parent.fork_into_new_pid_namespace(Plan(unshare_parent=0x20000000), k) == 0
    assert k.names() == ["unshare", "fork"]
