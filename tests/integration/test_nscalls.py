"""Deep dive A on the real kernel: clone, unshare and pid_for_children, setns, ioctl_ns, pinning."""

import os
import socket
import subprocess

import pytest

import labcore as lab
from labcore import nscalls, namespaces as ns

pytestmark = pytest.mark.needs("root")

HOST_PID_NS = 0xEFFFFFFC  # PROC_PID_INIT_INO
HOST_USER_NS = 0xEFFFFFFD  # PROC_USER_INIT_INO


def facts(observations):
    return {o.step: o.facts for o in observations}


def test_raw_clone_gives_birth_inside_the_new_namespaces(state_dir):
    res = nscalls.clone_run(["sh", "-c", "echo $$; hostname; set -- /proc/[0-9]*; echo $#"], "pid,uts",
                            hostname="cloned")
    assert res.stdout.split() == ["1", "cloned", "1"]  # PID 1, its own name, alone in its /proc
    assert socket.gethostname() != "cloned"
    assert nscalls.clone_run(["sh", "-c", "exit 5"], "net").returncode == 5
    assert lab.tracker.default().records() == []


def test_clone_refuses_what_it_cannot_do():
    with pytest.raises(lab.InvalidInputError, match="CLONE_NEWTIME"):
        nscalls.clone_run(["true"], "time")
    with pytest.raises(lab.InvalidInputError, match="user"):
        nscalls.clone_run(["true"], "user,pid")


@pytest.mark.parametrize("kinds", [(), ("user",)])
def test_pid_for_children_story(kinds):
    seen = facts(lab.call(nscalls.pid_for_children_story, ns=kinds, timeout=30))
    assert seen["before"]["pid_for_children is our pid namespace"]
    assert seen["after unshare(CLONE_NEWPID)"] == {"our pid namespace changed": False,
                                                    "pid_for_children": "ENOENT (no PID 1 yet)"}
    assert seen["first fork()"] == {"its getpid()": 1, "its pid namespace is our new pid_for_children": True}
    assert seen["second fork(), while PID 1 lives"] == {"its getpid()": 2}
    assert seen["PID 1 exited"] == {"the second child died of": "SIGKILL"}
    assert seen["third fork(), PID 1 gone"] == {"fork() gives": "ENOMEM"}


def test_setns_by_hand_one_kind_at_a_time():
    with lab.spawn(["sleep", "600"], hostname="box") as box:
        steps, out = lab.call(nscalls.setns_story, box.pid, ["sh", "-c", "echo $$; hostname"], ns=())
    seen = facts(steps)
    assert seen["open /proc/PID/ns/*"] == {"kinds that differ from ours": "ipc, uts, net, pid, mnt"}
    assert seen["setns(fd, CLONE_NEWUTS)"] == {"changed": "uts", "hostname": "box"}
    assert seen["setns(fd, CLONE_NEWPID)"] == {"changed": "pid_for_children"}  # not our own pid namespace
    assert seen["setns(fd, CLONE_NEWNS)"] == {"/proc/self exists": False}
    assert out.split() == ["2", "box"]  # the child is in the container's pid namespace, after its PID 1


def test_setns_into_a_user_namespace_makes_us_root_there():
    with lab.spawn(["sleep", "600"], "user,pid,net") as box:
        steps, out = lab.call(nscalls.setns_story, box.pid, ["id", "-u"], ns=())
    seen = facts(steps)
    assert seen["setns(fd, CLONE_NEWUSER)"] == {"getuid()": 0, "changed": "user"}
    assert out.strip() == "0"


def test_ioctl_ns_tells_owner_creator_and_parent():
    with lab.spawn(["sleep", "600"], "user,pid,net") as box:
        user, pid, net = (nscalls.info(box.pid, k) for k in ("user", "pid", "net"))
    assert pid.owner == net.owner == user.inode != HOST_USER_NS  # the new user namespace owns them
    assert user.parent == user.owner == HOST_USER_NS and user.owner_uid == 0  # made by root
    assert pid.parent == HOST_PID_NS and net.parent is None
    host = nscalls.info("self", "pid")
    assert host.inode == HOST_PID_NS and host.parent is None  # the initial namespace has no parent
    assert len({user.device, pid.device, net.device, host.device}) == 1  # all on nsfs
    with pytest.raises(lab.UnknownNamespaceError):
        nscalls.info("self", "network")


def test_a_bind_mount_or_an_open_fd_keeps_a_network_namespace_alive(state_dir):
    with lab.spawn(["sh", "-c", "ip link set lo up && ip addr add 198.51.100.7/32 dev lo && echo ok && exec sleep 600"],
                   "net", capture=True) as box:
        assert box.stdout.readline() == b"ok\n"
        inode = box.namespaces()["net"]
        rec = lab.pin_netns(box.pid, "lab-ns-test-pin")
        fd = os.open(f"/proc/{box.pid}/ns/net", os.O_RDONLY)
    try:
        assert not lab.tracker.is_running(box.pid)
        for where in ("/run/netns/lab-ns-test-pin", fd):
            res = nscalls.run_in({"net": where}, ["ip", "-o", "-4", "addr", "show", "dev", "lo"])
            assert "198.51.100.7/32" in res.stdout  # the same namespace, with its state
        assert os.stat("/run/netns/lab-ns-test-pin").st_ino == os.fstat(fd).st_ino == inode
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert "lab-ns-test-pin" in listed
    finally:
        os.close(fd)
        lab.tracker.default().undo(rec)
    assert not os.path.exists("/run/netns/lab-ns-test-pin")


@pytest.mark.needs("tool:strace")
def test_strace_shows_what_unshare_and_nsenter_call():
    lines = nscalls.strace(["unshare", "--pid", "--fork", "--mount-proc", "--uts", "true"])
    assert lines[0] == "unshare(CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWPID) = 0"
    assert lines[1].startswith("clone(child_stack=NULL, flags=") and lines[1].endswith("= <pid>")
    assert '[child] mount("proc", "/proc", "proc", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL) = 0' in lines
    with lab.spawn(["sleep", "600"], hostname="box") as box:
        lines = nscalls.strace(["nsenter", "-t", str(box.pid), "-u", "-p", "hostname"])
    assert [line.split(", ")[1].split(")")[0] for line in lines if line.startswith("setns")] == \
        ["CLONE_NEWUTS", "CLONE_NEWPID"]


def test_run_in_refuses_without_privilege(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(lab.InvalidInputError, match="CAP_SYS_ADMIN"):
        nscalls.run_in({"net": "/proc/self/ns/net"}, ["true"])


def test_links_include_the_for_children_files():
    mine = nscalls.links()
    assert mine["pid_for_children"] == mine["pid"] and mine["time_for_children"] == mine["time"]
    assert set(mine) == set(ns.KINDS) | {"pid_for_children", "time_for_children"}
