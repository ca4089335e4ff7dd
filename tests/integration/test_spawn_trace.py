"""lab.trace() sees the whole spawn, on both roads: the parent's calls, the helper's or the child's, PID 1's."""

import pytest

import labcore as lab
from labcore.ns import process

pytestmark = pytest.mark.needs("root")


def in_order(names: list[str], wanted: list[set[str]]) -> list[int]:
    """The index of each wanted call (any name of the set), each found after the one before."""
    found, start = [], 0
    for options in wanted:
        index = next(i for i in range(start, len(names)) if names[i] in options)
        found.append(index)
        start = index + 1
    return found


@pytest.mark.parametrize("road", ["helper", "python"])
def test_a_spawn_is_traced_from_unshare_to_execve(road):
    with lab.trace(show=False) as calls:
        with lab.spawn(["true"], ns="pid,uts", hostname="box", via=road) as proc:
            assert proc.via == road and proc.wait(timeout=10) == 0
    names = calls.names()
    unshare, fork, mount, hostname, execve = in_order(
        names, [{"unshare"}, {"clone", "fork"}, {"mount"}, {"sethostname"}, {"execve"}])
    assert 'CLONE_NEWPID' in calls[unshare].args and calls[unshare].result == "0"
    assert int(calls[fork].result) == proc.pid  # the clone or fork that made PID 1, reported by its maker
    mounts = [c for c in calls if c.name == "mount"]
    assert any('"proc", "/proc", "proc"' in c.args for c in mounts), mounts
    # PID 1 makes the mounts, sets the hostname and becomes the command; it sees itself as PID 1.
    assert {c.pid for c in mounts} == {1} and calls[hostname].pid == calls[execve].pid == 1
    assert calls[hostname].args == '"box", 3' and calls[execve].args.startswith('"true"')
    assert calls.who(calls[execve]) == "PID 1"
    if road == "helper":  # nsexec, our posix_spawn'd child, unshares and clones
        assert names[0] == "posix_spawn" and calls.who(calls[0]) == "labcore"
        assert calls.who(calls[unshare]) == calls.who(calls[fork]) == "child 1"
    else:  # this process unshares CLONE_NEWPID and forks; PID 1 unshares the rest
        assert calls.who(calls[unshare]) == calls.who(calls[fork]) == "labcore"
        assert any(c.name == "unshare" and c.pid == 1 and "CLONE_NEWUTS" in c.args for c in calls)


@pytest.mark.parametrize("road", ["helper", "python"])
def test_a_refused_call_is_traced_with_its_errno(road, state_dir):
    bad = lab.namespaces.Plan(unshare=0x1)  # a bit of clone's exit-signal byte: unshare(2) says EINVAL
    with lab.trace(show=False) as calls:
        with pytest.raises(lab.UnsupportedError):
            process._start(bad, ["true"], ("uts",), True, None, via=road)
    failed = [c for c in calls if c.failed]
    assert [c.name for c in failed] == ["unshare"] and failed[0].result.startswith("-1 EINVAL")
    assert "execve" not in calls.names()
