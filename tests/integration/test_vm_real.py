"""The tiny VM for real: QEMU boots the guest kernel, we talk to it, it stops, nothing stays behind."""

import os
import signal
import subprocess
import sys

import pytest

import labcore as lab
from labcore import tracker

pytestmark = pytest.mark.needs("vm")


def test_boot_run_measure_and_power_off(state_dir):
    vm = lab.vm.VM().boot()
    try:
        assert vm.guest_uptime > 0 and vm.boot_seconds > vm.guest_uptime
        assert vm.run("uname -r").strip() == vm.kernel.release != os.uname().release
        assert vm.run("cat /proc/1/comm").strip() == "init"
        memory = vm.memory()
        assert 0 < memory.guest_available < memory.guest_total < vm.memory_mb * 2**20
        assert memory.qemu_rss > memory.guest_used
        kinds = [r.kind for r in tracker.default().records()]  # QEMU, recorded while it runs, and as root
        assert kinds.count("process") == 1 and set(kinds) <= {"process", "cgroup"}  # the cgroup it runs in
        with pytest.raises(lab.LabError, match="status 3"):
            vm.run("exit 3")
        with pytest.raises(lab.InvalidInputError):
            vm.run("true\ntrue")
    finally:
        status = vm.stop()
    assert status == 0 and not tracker.is_running(vm.pid)
    assert tracker.default().records() == []
    assert "LAB-VM-READY" in vm.console


def test_a_guest_kernel_panic_ends_qemu_and_nothing_else(state_dir):
    with lab.vm.VM() as vm:
        line = vm.crash()
    assert line.startswith("Kernel panic - not syncing")
    assert vm.returncode == 0 and not tracker.is_running(vm.pid)
    assert tracker.default().records() == []


def test_cleanup_stops_a_vm_whose_notebook_died(state_dir):
    # A separate Python boots a VM, reports QEMU's PID, and is killed: the VM lives on.
    crasher = subprocess.Popen(
        [sys.executable, "-c", "import time, labcore as lab\nvm = lab.vm.VM().boot()\nprint(vm.pid, flush=True)\n"
         "time.sleep(600)"], stdout=subprocess.PIPE, text=True)
    qemu = int(crasher.stdout.readline())
    crasher.send_signal(signal.SIGKILL)
    crasher.wait()
    assert tracker.is_running(qemu)
    done = subprocess.run([sys.executable, "-m", "labcore", "cleanup"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"process pid {qemu}: killed" in done.stdout
    assert not tracker.is_running(qemu)


def test_bad_settings_are_refused_before_qemu_starts(state_dir):
    with pytest.raises(lab.InvalidInputError, match="memory_mb"):
        lab.vm.VM(memory_mb=1).boot()
    assert tracker.default().records() == []


@pytest.mark.needs("make_namespaces")
def test_container_and_vm_measured_side_by_side(state_dir):
    container = lab.compare.measure_container()
    vm = lab.vm.VM()
    try:
        machine = lab.compare.measure_vm(vm)
    finally:
        vm.stop()
    assert container.release == os.uname().release and machine.release == vm.kernel.release
    assert container.boot_id != machine.boot_id
    assert container.host_memory < machine.host_memory
    comparison = lab.compare.Comparison([container], [machine])
    assert comparison.start_ratio > 1 and comparison.memory_ratio > 1
    assert "container" in comparison.table() and "VM" in comparison.table()
