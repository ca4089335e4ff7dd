"""Every namespace kind, for real: the child sees its own copy, the host is unchanged."""

import os
import platform
import socket
import subprocess
import time

import pytest

import labcore as lab
from labcore import namespaces as ns

pytestmark = [pytest.mark.needs("root"), pytest.mark.usefixtures("spawn_path")]  # each test both ways


@pytest.mark.parametrize("kind", list(ns.KINDS))
def test_each_kind_gets_a_new_namespace_and_only_that_one(kind):
    host = ns.read()
    kinds = [kind]
    expect_new = {kind} | ({"mnt"} if kind == "pid" else set())
    inside = lab.call(ns.read, "self", ns=kinds)
    for k in ns.KINDS:
        if k in expect_new:
            assert inside[k] != host[k], f"{k} should be new"
        else:
            assert inside[k] == host[k], f"{k} should be shared"


def test_pid_one_inside_ordinary_pid_outside():
    with lab.spawn(["sleep", "30"], "pid") as proc:
        outer, inner = lab.nspid(proc.pid)
        assert outer == proc.pid and outer != 1 and inner == 1
        assert proc.namespaces()["pid"] != ns.read()["pid"]
    assert proc.returncode == 128 + 9


def test_fresh_proc_shows_only_the_container():
    out = lab.run(["sh", "-c", "ls /proc | grep -c '^[0-9]'"], "pid").stdout
    assert int(out) <= 3  # sh, and the grep/ls it forked
    assert os.path.exists(f"/proc/{os.getpid()}")  # the host's /proc was not covered: we are still in it


def test_uts_hostname_is_private():
    before = socket.gethostname()
    assert lab.run(["hostname"], "uts", hostname="box").stdout.strip() == "box"
    assert socket.gethostname() == before


def test_net_namespace_has_only_loopback_and_its_ports_are_its_own():
    # ip(8) asks the kernel over netlink (a /sys left unmounted would still show the host's links):
    ip = lab.run(["ip", "-o", "link"], "net").stdout.splitlines()
    assert len(ip) == 1 and ": lo:" in ip[0]

    def bind_port():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        return s.getsockname()[1]

    port = lab.call(bind_port, ns="net")
    s = socket.socket()
    s.bind(("127.0.0.1", port))  # free on the host: the container's port was its own
    s.close()


def test_mount_inside_is_invisible_outside(tmp_path):
    target = tmp_path / "m"
    target.mkdir()
    out = lab.run(["sh", "-c", f"mount -t tmpfs lab-tmp {target} && grep -c ' {target} ' /proc/self/mountinfo"],
                  "mnt").stdout
    assert out.strip() == "1"
    assert str(target) not in open("/proc/self/mountinfo").read()


def test_ipc_objects_are_invisible_across():
    # ipcmk prints the queue's id; inside, ipcs lists exactly that one queue; the host's list lacks it.
    out = lab.run(["sh", "-c", "ipcmk -Q | grep -o '[0-9]*$'; ipcs -q | grep -c '^0x'"], "ipc").stdout.split()
    qid, inside = out
    assert inside == "1"
    host = subprocess.run(["ipcs", "-q"], capture_output=True, text=True).stdout
    assert qid not in [line.split()[1] for line in host.splitlines() if line.startswith("0x")]


def test_user_namespace_root_inside_is_mapped_outside():
    with lab.spawn(["sleep", "30"], "user,pid") as proc:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            status = open(f"/proc/{proc.pid}/status").read()
            uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
            if uid_line.split()[1] != "0":
                break
            time.sleep(0.01)
        assert uid_line.split()[1:] == [str(ns.DEFAULT_USER_MAP[1])] * 4
        uid_map = open(f"/proc/{proc.pid}/uid_map").read().split()
        assert uid_map == ["0", "100000", "65536"]
    assert lab.run(["id", "-u"], "user").stdout.strip() == "0"


def test_cgroup_namespace_makes_our_cgroup_look_like_the_root():
    inside = lab.run(["cat", "/proc/self/cgroup"], "cgroup").stdout
    assert all(line.endswith(":/") for line in inside.splitlines())


def test_time_namespace_offsets_the_monotonic_clock():
    day = 86400
    host_uptime = float(open("/proc/uptime").read().split()[0])
    inside = float(lab.run(["cat", "/proc/uptime"], "time", time_offsets={"boottime": day}).stdout.split()[0])
    assert day <= inside - host_uptime < day + 60


def test_same_kernel_inside():
    assert lab.run(["uname", "-r"]).stdout.strip() == platform.release()


def test_enter_joins_a_running_container():
    with lab.spawn(["sleep", "30"], hostname="inside") as proc:
        res = lab.enter(proc.pid, ["sh", "-c", "hostname; echo $$; readlink /proc/self/ns/net"])
        name, pid, net = res.stdout.split()
        assert name == "inside" and int(pid) > 1
        assert net == f"net:[{proc.namespaces()['net']}]"


def test_pin_keeps_a_network_namespace_after_its_last_process(state_dir):
    with lab.spawn(["sleep", "30"], "net") as proc:
        rec = lab.pin_netns(proc.pid, "lab-pintest")
        inode = proc.namespaces()["net"]
    try:
        assert os.stat("/run/netns/lab-pintest").st_ino == inode
        out = subprocess.run(["ip", "netns", "exec", "lab-pintest", "ip", "-o", "link"],
                             capture_output=True, text=True).stdout
        assert ": lo:" in out
    finally:
        lab.tracker.default().undo(rec)
    assert not os.path.exists("/run/netns/lab-pintest")


def test_exit_status_and_signals_come_back():
    assert lab.run(["sh", "-c", "exit 7"], "pid").returncode == 7
    assert lab.run(["sh", "-c", "kill -KILL $$"], "net").returncode == 137
    assert lab.run(["sh", "-c", "kill -TERM $$"], "uts").returncode == 128 + 15


def test_pid_one_ignores_sigterm_without_a_handler():
    with lab.spawn(["sleep", "30"], "pid") as proc:
        proc.send_signal(15)
        assert proc.wait(timeout=0.5) is None  # still alive: PID 1 has no handler, so SIGTERM is dropped
        proc.kill()
        assert proc.wait(timeout=5) == 137


def test_command_not_found_and_function_exceptions():
    with pytest.raises(lab.CommandNotFoundError, match="no-such-command"):
        lab.run(["no-such-command"])
    with pytest.raises(ZeroDivisionError):
        lab.call(lambda: 1 / 0, ns="pid")


def test_no_records_left_after_processes_end(state_dir):
    lab.run(["true"])
    with lab.spawn(["sleep", "30"]):
        assert len(lab.tracker.default().records()) == 1  # PID 1, our own child (no shim as root)
    assert lab.tracker.default().records() == []
