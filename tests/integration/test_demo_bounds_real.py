"""No demo can exhaust the host (#11), on the real kernel: output, the fork bomb, the VM's cgroup,
writable layers on disk and RUN steps in a cgroup."""

import os
import subprocess
import sys

import pytest

import labcore as lab
from labcore import cgroups, images, monitor, tracker
from labcore.fs import overlay
from labcore.fs.scratch import data_dir
from labcore.teach import workloads as W


def name(tag: str) -> str:
    return f"lab-t{os.getpid()}-{tag}"


@pytest.mark.needs("root", "make_namespaces")
def test_a_container_printing_forever_is_cut_and_killed(state_dir):
    result = lab.run([sys.executable, "-c", "import sys\nwhile True: sys.stdout.write('y' * 4095 + '\\n')"],
                     timeout=60)
    assert result.cut and result.returncode == 137  # SIGKILL
    assert len(result.stdout) < lab.process.MAX_OUTPUT + 200
    assert result.stdout.endswith("so it was killed]\n")
    assert tracker.default().records() == []


@pytest.mark.needs("root", "cgroup_limits")
def test_a_monitored_workload_printing_forever_keeps_a_bounded_output(state_dir):
    # monitor.run reads until its timeout: past MAX_OUTPUT a stream is read and dropped.
    with cgroups.create(name("chatty"), pids=20) as cg:
        run = monitor.run(cg, [sys.executable, "-c", "import sys\nwhile True: sys.stdout.write('y' * 4095 + '\\n')"],
                          timeout=3, interval=0.5)
    assert run.deadline_hit
    assert len(run.stdout) == lab.process.MAX_OUTPUT  # it printed far more in 3 s than it kept


@pytest.mark.needs("root", "cgroup_limits")
def test_the_bomb_refuses_to_start_when_its_limit_was_raised_before_it_ran(state_dir):
    with cgroups.create(name("bomb"), pids=20) as cg:
        argv = W.fork_bomb(cg, 3)  # checked: pids 20
        cg.set(pids=100)           # raised before the bomb runs (nothing inside yet)
        run = monitor.run(cg, argv, timeout=15, interval=0.05)
        assert run.returncode != 0 and "refusing to fork" in run.stderr
        assert "pids.max 100" in run.stderr
    assert subprocess.run(["true"]).returncode == 0


@pytest.mark.needs("root", "cgroup_limits")
def test_raising_pids_is_refused_while_the_bomb_runs(state_dir):
    with cgroups.create(name("bomb2"), pids=20) as cg:
        proc = lab.spawn(W.fork_bomb(cg, 3), cgroup=cg, capture=True)
        try:
            with pytest.raises(lab.InvalidInputError, match="a fork bomb runs"):
                cg.set(pids="max")
            assert cg.read_limits().pids == 20
        finally:
            proc.close()
            cg.kill()


@pytest.mark.needs("root", "vm")
def test_qemu_runs_in_a_lab_cgroup_that_goes_with_the_vm(state_dir):
    vm = lab.vm.VM().boot()
    try:
        group = vm.cgroup
        assert group is not None and vm.pid in group.procs()
        assert group.read_limits().memory == (vm.memory_mb + lab.vm.QEMU_OVERHEAD_MB) << 20
        directories = group.directories()
    finally:
        vm.stop()
    assert vm.cgroup is None and not any(d.exists() for d in directories)
    assert tracker.default().records() == []


@pytest.mark.needs("root", "overlayfs")
def test_a_containers_writable_layer_lives_in_the_data_directory(tmp_path, state_dir):
    base = tmp_path / "base"
    base.mkdir()
    (base / "hello").write_text("hi")
    with overlay.container_layer([base]) as c:
        assert c.upper.is_relative_to(data_dir()) and c.work.is_relative_to(data_dir())
        assert not c.upper.is_relative_to(tracker.state_dir())
        (c.merged / "new").write_text("written")
        assert (c.upper / "new").read_text() == "written"
    assert tracker.default().records() == []


@pytest.mark.needs("root", "overlayfs")
def test_a_run_step_runs_in_a_lab_cgroup_with_limits(tmp_path, state_dir):
    ctx = tmp_path / "ctx"
    images.busybox_rootfs(ctx / "rootfs", applets=["sh", "cat"])
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY rootfs/ /\nRUN cat /proc/self/cgroup > /where\n")
    images.build(ctx / "Dockerfile", ctx, tmp_path / "out", "v1", cache=tmp_path / "cache")
    root = images.unpack(f"{tmp_path / 'out'}:v1", tmp_path / "rootfs").rootfs
    where = (root / "where").read_text()
    assert f"/{tracker.CGROUP_NAME}/lab-build-" in where
    assert tracker.default().records() == []
