"""The whiteboard diagrams drawn from real kernel objects: a container, an overlay, a cgroup.

Each test makes its objects, draws them (DOT, text, and a PNG from dot),
checks that the picture names what the kernel says, and removes them.
"""

import os
import shutil
import time
from pathlib import Path

import pytest

import labcore as lab
from labcore import fs
from labcore.teach import diagrams
from labcore.proc.cgroup import CGROUP_ROOT

pytestmark = pytest.mark.needs("root", "tool:dot")


def test_a_container_in_the_process_tree_and_its_pid_map(state_dir):
    with lab.spawn(["sleep", "60"], lab.namespaces.usable(lab.namespaces.CONTAINER)) as proc:
        inodes = {k: os.stat(f"/proc/{proc.pid}/ns/{k}").st_ino for k in ("pid", "mnt", "uts", "ipc", "net")}
        d = diagrams.process_tree(proc.pid)
        assert f"host PID {proc.pid}, PID 1 inside" in d.dot
        assert f"subgraph cluster_pidns_{inodes['pid']}" in d.dot
        assert all(f"{k}:{v}" in d.dot for k, v in inodes.items())
        assert "new: pid mnt uts ipc net" in d.dot and f"host PID {proc.pid}, PID 1 inside" in d.text
        assert d.png().startswith(b"\x89PNG") and "<svg" in d.svg()
        bundle = d._repr_mimebundle_()
        assert bundle["text/plain"] == d.text and len(bundle["image/png"]) > 1000

        mine = diagrams.process_tree(os.getpid(), depth=1)  # the container is our child, one cluster deeper
        assert mine.dot.index(f"cluster_pidns_{inodes['pid']}") > mine.dot.index("(the host's)")
        assert f"p{os.getpid()} -> p{proc.pid};" in mine.dot

        m = diagrams.pid_map(proc.pid)
        assert f"PID <B>{proc.pid}</B>" in m.dot and "PID <B>1</B>" in m.dot
        assert m.text.splitlines()[2] == f"  pid namespace {inodes['pid']}: sleep is PID 1"
        m.png()
        pid = proc.pid
    with pytest.raises(lab.InvalidInputError, match="no process"):
        diagrams.process_tree(pid)


def test_an_overlay_stack_shows_where_each_file_is(state_dir):
    with fs.Scratch("test-diag-img") as s:
        base, top = s.dir("base"), s.dir("top")
        for d in (base / "etc", base / "opt", top / "etc"):
            d.mkdir()
        (base / "etc" / "hostname").write_text("image\n")
        (base / "etc" / "passwd").write_text("root:x:0:0\n")
        (base / "opt" / "a").write_text("a\n")
        (top / "etc" / "motd").write_text("hi\n")
        with fs.container_layer([top, base], name="test-diag") as c:
            (c.merged / "etc" / "hostname").write_text("box\n")   # copied up
            os.unlink(c.merged / "etc" / "passwd")                # a whiteout in the upper dir
            shutil.rmtree(c.merged / "opt")
            os.mkdir(c.merged / "opt")                            # an opaque directory over base's
            d = diagrams.overlay(c.merged, file=["etc/hostname", "etc/passwd", "etc/motd", "opt/a", "nope"])
            assert d.text.splitlines()[1:] == [
                f"merged   {c.merged}",
                f"upperdir     {c.upper}",
                "    etc/hostname: found here",
                "    etc/passwd: whiteout: deleted here",
                "    opt/a: hidden from here down",
                f"lowerdir 1   {top}",
                "    etc/motd: found here",
                f"lowerdir 2   {base}",
                f"workdir      {c.work}",
                "nope: in no layer"]
            assert "etc/passwd: whiteout: deleted here" in d.dot and "etc/hostname: visible, from the upperdir" in d.dot
            assert d.png().startswith(b"\x89PNG")
            merged = c.merged
        with pytest.raises(lab.InvalidInputError, match="nothing is mounted"):
            diagrams.overlay(merged)


def test_a_cgroup_tree_shows_the_limits_and_goes(state_dir):
    with lab.cgroups.create("lab-diag-test", memory="64M", pids=20) as cg:
        d = diagrams.cgroup_tree(cg)
        limits = d.text.splitlines()[1]
        assert limits.startswith("lab-diag-test: ") and "64 MiB" in limits and "pids.max 20" in limits
        assert "pids.current 0" in limits
        assert "<B>64 MiB</B>" in d.dot and "<B>20</B>" in d.dot
        whole = diagrams.cgroup_tree("/labcore", depth=1)
        assert "  lab-diag-test: " in whole.text and "g0 -> g" in whole.dot
        d.png()
    assert not list(Path(CGROUP_ROOT).glob("**/labcore/lab-diag-test"))
    with pytest.raises(lab.InvalidInputError, match="no cgroup"):
        diagrams.cgroup_tree("/labcore/lab-diag-test")


def test_a_measured_cfs_timeline_shows_throttled_periods(state_dir):
    with lab.cgroups.create("lab-diag-cfs", cpus=0.2) as cg:
        with lab.spawn(["sh", "-c", "while :; do :; done"], lab.namespaces.usable("pid"), cgroup=cg):
            time.sleep(0.2)
            plot = diagrams.cfs_timeline(cgroup=cg, periods=4)
    assert "measured: quota 20 ms per 100 ms period" in repr(plot)
    throttled = int(repr(plot).split("; ")[1].split()[0])
    assert throttled >= 2, repr(plot)
    assert plot.png().startswith(b"\x89PNG")
