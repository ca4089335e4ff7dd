"""Turning a request for namespaces into a plan: pure, no system call."""

import os

import pytest

import labcore as lab
from labcore import InvalidInputError, UnknownNamespaceError, namespaces as ns
from labcore.kernel import flags as F


def test_parse_kinds_accepts_strings_and_lists_and_drops_repeats():
    assert ns.parse_kinds("pid, mnt,pid") == ("pid", "mnt")
    assert ns.parse_kinds(["uts"]) == ("uts",)
    assert ns.parse_kinds("") == ()


def test_unknown_kind_names_it_and_lists_the_valid_ones():
    with pytest.raises(UnknownNamespaceError) as info:
        ns.parse_kinds("pid,network")
    assert "'network'" in info.value.what
    for kind in ns.KINDS:
        assert kind in info.value.fix


def test_all_eight_kinds_with_their_flags_and_man_pages():
    assert set(ns.KINDS) == {"pid", "net", "mnt", "uts", "ipc", "user", "cgroup", "time"}
    assert ns.flags_for(ns.KINDS) == sum(F.CLONE_NAMES)
    assert all(k.man.endswith("(7)") for k in ns.KINDS.values())


def test_pid_brings_a_mount_namespace_and_is_unshared_by_the_parent():
    p = ns.plan("pid")
    assert p.unshare_parent == F.CLONE_NEWPID and p.unshare == F.CLONE_NEWNS
    assert not p.second_fork and p.mount_proc


def test_net_alone_needs_no_second_fork():
    p = ns.plan("net")
    assert p.unshare == F.CLONE_NEWNET and not p.unshare_parent and not p.second_fork and not p.mount_proc


def test_with_a_user_namespace_the_child_unshares_everything_and_forks_again():
    p = ns.plan("user,pid")
    assert p.unshare_parent == 0
    assert p.unshare == F.CLONE_NEWUSER | F.CLONE_NEWPID | F.CLONE_NEWNS
    assert p.second_fork
    assert not ns.plan("user,net").second_fork  # a user namespace alone applies to the caller


def test_time_needs_a_second_fork_and_offsets_need_time():
    assert ns.plan("time").second_fork
    with pytest.raises(InvalidInputError, match="time namespace"):
        ns.plan("pid", time_offsets={"monotonic": 10})
    with pytest.raises(InvalidInputError, match="clock"):
        ns.plan("time", time_offsets={"realtime": 10})


def test_hostname_needs_uts_and_must_be_sane():
    with pytest.raises(InvalidInputError, match="uts"):
        ns.plan("pid", hostname="box")
    with pytest.raises(InvalidInputError, match="bad hostname"):
        ns.plan("uts", hostname="x" * 65)
    assert ns.plan("uts", hostname="box").hostname == "box"


def test_user_namespace_gets_a_default_map():
    p = ns.plan("user")
    if os.geteuid() == 0:
        assert p.user_map == ns.DEFAULT_USER_MAP
    else:
        assert p.user_map == (0, os.geteuid(), 1)
    assert ns.plan("pid").user_map is None


def test_spawn_refuses_before_forking_when_not_privileged(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("must not fork"))
    from labcore import PrivilegeError
    with pytest.raises(PrivilegeError) as info:
        lab.spawn(["true"], "pid,net")
    assert "root" in info.value.fix and "user" in info.value.fix
