"""cgroup v2 delegation for a container's limits: each ancestor must enable the controller for its children,
or the limit's file (memory.max...) does not exist and the limit would be lost. On a fake tree of files."""

import pytest

from labcore.errors import LabError
from labcore.runtime import cgroups


def _group(path, offered, enabled=""):
    path.mkdir(parents=True, exist_ok=True)
    (path / "cgroup.controllers").write_text(offered + "\n")
    (path / "cgroup.subtree_control").write_text(enabled + "\n")
    return path


def test_each_ancestor_is_asked_for_what_it_does_not_enable_yet(tmp_path):
    root = _group(tmp_path, "cpu memory pids", "memory")
    lab = _group(root / "labcore", "memory pids")
    at_root = []
    cgroups.delegate(root, lab / "c1", ["memory", "pids"], at_root)
    assert (root / "cgroup.subtree_control").read_text() == "+pids"  # memory was on already
    assert at_root == ["pids"]
    assert (lab / "cgroup.subtree_control").read_text() == "+pids"  # the last of "+memory", "+pids" written


def test_a_controller_the_parent_does_not_offer_is_refused_naming_it(tmp_path):
    root = _group(tmp_path, "memory pids", "memory pids")
    _group(root / "labcore", "memory")  # pids not offered to labcore's children
    with pytest.raises(LabError, match="pids controller is not available") as err:
        cgroups.delegate(root, root / "labcore" / "c1", ["pids"], [])
    assert "subtree_control" in err.value.fix


def test_limits_name_the_controllers_they_need():
    need = cgroups._v2_controllers({"memory": {"limit": 1 << 25}, "pids": {"limit": 20}, "cpu": {"quota": 50000}})
    assert need == ["cpu", "memory", "pids"]
    assert cgroups._v2_controllers({}) == []
    assert cgroups._v2_controllers({"cpu": {"cpus": "0"}}) == ["cpuset"]


def test_the_last_container_out_removes_the_shared_parent_whoever_made_it(tmp_path):
    mount = tmp_path / "pids"
    mount.mkdir()
    first, second = mount / "labcore" / "a", mount / "labcore" / "b"
    made_first, made_second = [], []
    cgroups.make({"pids": first}, made_first)
    cgroups.make({"pids": second}, made_second)
    assert made_first == [str(mount / "labcore"), str(first)] and made_second == [str(second)]
    cgroups.remove(made_first)  # the maker goes first: the parent still holds b
    assert (mount / "labcore").is_dir() and not first.exists()
    cgroups.remove(made_second)  # the last one out takes the parent it did not make
    assert not (mount / "labcore").exists() and mount.is_dir()
