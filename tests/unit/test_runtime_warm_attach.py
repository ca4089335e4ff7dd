"""runtime.cgroups.warm_attach: our own PID written into the cgroup we are in, on a thread (no root:
a fake hierarchy in a temporary directory); and who calls it, early enough."""

import os

from labcore.runtime import cgroups


def fake_hierarchy(tmp_path, monkeypatch, own: str = "/user.slice/lab"):
    """A v1 pids hierarchy at tmp_path, where /proc/self/cgroup says we are in ``own``."""
    monkeypatch.setattr(cgroups, "hierarchies", lambda: {"pids": tmp_path, "cpu,cpuacct": tmp_path / "cpu"})
    monkeypatch.setattr(cgroups, "read_proc_cgroup",
                        lambda pid: f"7:cpu,cpuacct:/elsewhere\n5:pids:{own}\n0::/init.scope\n")
    procs = tmp_path / own.lstrip("/") / "cgroup.procs"
    procs.parent.mkdir(parents=True)
    procs.write_text("")
    return procs


def test_it_writes_our_own_pid_into_our_own_cgroup_and_only_there(tmp_path, monkeypatch):
    procs = fake_hierarchy(tmp_path, monkeypatch)
    thread = cgroups.warm_attach()
    thread.join(5)
    assert procs.read_text() == str(os.getpid())  # a move to where we are: nothing changes
    assert not (tmp_path / "cpu").exists()           # the hierarchy where our group is missing was passed over
    assert thread.daemon and thread.name == "warm-attach"


def test_a_refused_write_is_no_error_and_no_cgroup_mounted_does_nothing(tmp_path, monkeypatch):
    procs = fake_hierarchy(tmp_path, monkeypatch)
    procs.unlink()
    procs.mkdir()  # writing it fails (EISDIR)... after the check that it exists
    thread = cgroups.warm_attach()
    thread.join(5)
    assert not thread.is_alive()
    monkeypatch.setattr(cgroups, "hierarchies", lambda: {})
    assert cgroups.warm_attach() is None


def test_the_runtimes_create_and_run_commands_warm_first(monkeypatch):
    """Before create: the writer waits for the grace period holding cgroup_mutex, so called inside
    create, next to the container's mkdir, it would delay it. The command calls it ahead."""
    import argparse

    from labcore.runtime import cli, container
    calls = []
    monkeypatch.setattr(cgroups, "warm_attach", lambda: calls.append("warm"))
    monkeypatch.setattr(container, "create", lambda *a: calls.append("create"))
    monkeypatch.setattr(container, "run", lambda *a: calls.append("run") or 0)
    args = argparse.Namespace(root="/nonexistent", id="c1", bundle=".", pid_file=None, console_socket=None)
    assert cli.cmd_create(args) == 0 and cli.cmd_run(args) == 0
    assert calls == ["warm", "create", "warm", "run"]
