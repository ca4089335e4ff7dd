"""labcore.proc: each kernel file parsed in one place, and the old names still lead there."""

import os

import labcore as lab
from labcore.cgroups import limits as L
from labcore.kernel import caps, flags as F
from labcore.proc import cgroup, meminfo, ns, stat, status

PROC_CGROUP = "12:pids:/labcore/lab-x\n4:cpu,cpuacct:/x\n1:name=systemd:/\n0::/user.slice\n"


def test_proc_cgroup_lines_in_both_shapes():
    assert cgroup.entries(PROC_CGROUP) == [("pids", "/labcore/lab-x"), ("cpu,cpuacct", "/x"),
                                           ("name=systemd", "/"), ("", "/user.slice")]
    assert cgroup.parse_proc_cgroup(PROC_CGROUP) == {"pids": "/labcore/lab-x", "cpu": "/x", "cpuacct": "/x",
                                                     "name=systemd": "/", "": "/user.slice"}
    assert set(cgroup.paths()) == {h or "cgroup2" for h, _ in cgroup.entries(cgroup.read())}


def test_status_stat_and_meminfo_of_this_process(tmp_path):
    mine = status.status()
    assert mine["Pid"] == str(os.getpid()) and status.STATES[mine["State"][0]]
    assert status.parse("Name:\tsleep\nNSpid:\t4242\t1\n") == {"Name": "sleep", "NSpid": "4242\t1"}
    assert stat.is_running(os.getpid(), stat.process_start_time(os.getpid()))
    assert not stat.is_running(os.getpid(), stat.process_start_time(os.getpid()) + 1)
    fake = tmp_path / "meminfo"
    fake.write_text("MemTotal:  2048 kB\nSwapTotal:  0 kB\nHugePages_Total:  3\n")
    assert meminfo.read(str(fake)) == {"MemTotal": 2 << 20, "SwapTotal": 0, "HugePages_Total": 3}
    assert L.ram_bytes(str(fake)) == 2 << 20 and L.ram_bytes(str(tmp_path / "none")) == 0
    assert meminfo.read()["MemTotal"] > 0


def test_one_table_of_namespace_kinds():
    assert list(ns.KINDS) == ["pid", "net", "mnt", "uts", "ipc", "user", "cgroup", "time"]
    assert ns.KINDS["mnt"].flag == F.CLONE_NEWNS and sum(k.flag for k in ns.KINDS.values()) == sum(F.CLONE_NAMES)
    assert lab.namespaces.KINDS is ns.KINDS and lab.namespaces.CONTAINER is ns.CONTAINER


def test_capability_names():
    assert caps.name(21) == "CAP_SYS_ADMIN" and caps.CAP_SYS_ADMIN == 21 and caps.name(63) == "63"
    assert caps.names(1 << 21 | 1) == {"CAP_CHOWN", "CAP_SYS_ADMIN"}


def test_the_notebooks_old_names_lead_to_the_one_parser():
    assert lab.pidns.status is status.status and lab.pidns.signal_set is status.signal_set
    assert lab.pidns.STATES is status.STATES
    assert lab.tracker.is_running is stat.is_running and lab.tracker.process_start_time is stat.process_start_time
    assert lab.vm.meminfo is meminfo.parse
    assert lab.cgroups.parse_proc_cgroup is cgroup.parse_proc_cgroup
    assert lab.namespaces.cgroup_paths() == cgroup.paths()
