"""lab.runtimes on the real kernel (chapter 08): one bundle under every runtime here, the lifecycle of a
peer's container, and its cgroups recorded so that a crash leaves nothing cleanup cannot undo."""

from pathlib import Path

import pytest

from labcore import tracker
from labcore.teach import runtimes

pytestmark = pytest.mark.needs("root", "tool:busybox")


def _lab_cgroups(cid):
    return sorted(str(p) for p in Path("/sys/fs/cgroup").glob(f"**/labcore/{cid}") if p.is_dir())


def _lab_parents():
    """The shared labcore directories: a peer (runc, crun) makes any that are missing and never removes them."""
    return sorted(str(p) for p in Path("/sys/fs/cgroup").glob("*/labcore")) + sorted(
        str(p) for p in Path("/sys/fs/cgroup").glob("labcore"))


def test_one_bundle_gives_the_same_output_under_every_runtime(tmp_path, state_dir):
    rts = runtimes.available(tmp_path / "roots")
    b = runtimes.bundle(tmp_path / "b", ["sh", "-c", "echo $(hostname) $$"], hostname="same")
    parents = _lab_parents()
    try:
        outs = {name: rt.run(f"lab-t-same-{name}", b) for name, rt in rts.items()}
    finally:
        for rt in rts.values():
            rt.close()
    assert outs and all(out == (0, "same 1\n") for out in outs.values()), outs
    assert tracker.default().records() == []
    assert [g for name in rts for g in _lab_cgroups(f"lab-t-same-{name}")] == []
    assert _lab_parents() == parents


@pytest.mark.needs("tool:runc")
def test_a_runc_container_goes_through_the_states_and_its_records_go(tmp_path, state_dir):
    rt = runtimes.available(tmp_path / "roots")["runc"]
    b = runtimes.bundle(tmp_path / "b", ["sleep", "30"])
    parents = _lab_parents()
    try:
        created = rt.create("lab-t-life", b)
        assert created["status"] == "created"
        assert Path(f"/proc/{created['pid']}/cmdline").read_bytes().split(b"\0")[1] == b"init"
        recs = [r for r in tracker.default().records() if r.kind == "cgroup"]
        leaves = [r.target for r in recs if r.target.endswith("/labcore/lab-t-life")]
        made = [r.target for r in recs if r.target.endswith("/labcore")]  # the parents runc would have made
        assert leaves and sorted(made) == sorted(set(_lab_parents()) - set(parents))
        assert len(leaves) + len(made) == len(recs)
        rt.start("lab-t-life")
        assert rt.state("lab-t-life")["status"] == "running"
        rt.kill("lab-t-life", "KILL")
        assert rt.wait_for("lab-t-life", "stopped")["status"] == "stopped"
        rt.delete("lab-t-life")
        assert rt("state", "lab-t-life", check=False).returncode != 0
    finally:
        rt.close()
    assert tracker.default().records() == [] and _lab_cgroups("lab-t-life") == []
    assert _lab_parents() == parents


@pytest.mark.needs("tool:runc")
def test_cleanup_after_a_crash_kills_a_peer_container_and_removes_its_cgroups(tmp_path, state_dir):
    rt = runtimes.available(tmp_path / "roots")["runc"]
    b = runtimes.bundle(tmp_path / "b", ["sleep", "30"])
    parents = _lab_parents()
    pid = rt.create("lab-t-crash", b)["pid"]
    rt.start("lab-t-crash")
    assert _lab_cgroups("lab-t-crash")
    tracker.default().cleanup(force=True)  # what `labcore cleanup` does once the notebook has died
    assert not tracker.is_running(pid)
    assert _lab_cgroups("lab-t-crash") == [] and _lab_parents() == parents
    rt("delete", "--force", "lab-t-crash", check=False)  # runc's own state directory


def test_the_lifecycle_picture_marks_what_was_seen():
    d = runtimes.lifecycle_diagram({"a": [("create", "created"), ("start", "running")], "b": [("create", "created")]})
    lines = dict(line.split(None, 1) for line in d.text.splitlines()[1:])
    assert lines["created"] == "seen: a, b" and lines["running"] == "seen: a"
    assert lines["creating"] == "seen: not observed" and "s0 -> s1" in d.dot
    chain = runtimes.chain_diagram()
    assert "kubelet -> containerd" in chain.text and "runc -> container process" in chain.text
