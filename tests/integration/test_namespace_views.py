"""What chapter 04 shows of each namespace kind, checked on the real kernel."""

import os
import socket
import sys
import time

import pytest

import labcore as lab
from labcore import credentials, namespaces as ns, pidns, procnet
from labcore.ns.propagation import SharedDir, find, mount_tmpfs

pytestmark = pytest.mark.needs("root")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_net_namespace_seen_from_the_host_through_proc_pid_net():
    port = free_port()
    server = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    request = ["sh", "-c", f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc 127.0.0.1 {port}"]
    with lab.spawn(server, "net", capture=True) as web:
        assert pidns.wait_until(lambda: procnet.listening(web.pid), what="the server") == [("127.0.0.1", port)]
        assert procnet.interfaces(web.pid) == ["lo"] and procnet.routes(web.pid) == []
        assert ("127.0.0.1", port) not in procnet.listening()
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # the same port is free on the host
        down = lab.enter(web.pid, request)
        assert "Network is unreachable" in down.stderr  # lo starts DOWN in a new network namespace
        assert lab.enter(web.pid, ["ip", "link", "set", "lo", "up"]).returncode == 0
        up = lab.enter(web.pid, request)
        assert up.stdout.startswith("HTTP/1.0 200 OK")
        assert lab.enter(web.pid, ["ip", "route", "add", "198.51.100.0/24", "dev", "lo"]).returncode == 0
        assert procnet.routes(web.pid) == ["198.51.100.0/24 dev lo"]
        assert "198.51.100.0/24 dev lo" not in procnet.routes()


def test_sysfs_shows_the_namespace_of_whoever_mounted_it():
    out = lab.run(["sh", "-c", "ls /sys/class/net; echo --; mount -t sysfs lab-sysfs /sys && ls /sys/class/net"],
                  "net,mnt").stdout
    before, after = out.split("--")
    assert set(before.split()) == set(os.listdir("/sys/class/net"))
    assert after.split() == ["lo"]


def test_mount_inside_is_invisible_outside_and_propagation_decides_later_mounts(state_dir):
    with SharedDir("lab-ns-test-prop") as shared:
        boxes = {kind: lab.spawn(["sleep", "600"], "mnt", propagation=kind) for kind in ("private", "slave", "shared")}
        try:
            assert shared.propagation() == "shared"
            assert {k: shared.propagation(b.pid) for k, b in boxes.items()} == \
                {"private": "private", "slave": "slave", "shared": "shared"}
            shared.mount("from-host")
            assert {k: shared.sees("from-host", b.pid) for k, b in boxes.items()} == \
                {"private": False, "slave": True, "shared": True}
            for kind, box in boxes.items():
                shared.mount(f"from-{kind}", box.pid)
                assert shared.sees(f"from-{kind}", box.pid)
            assert [k for k in boxes if shared.sees(f"from-{k}")] == ["shared"]  # only shared goes out
        finally:
            for box in boxes.values():
                box.close()
    assert find(shared.path) is None and not shared.path.exists()
    assert lab.tracker.default().records() == []


def test_a_mount_in_a_private_namespace_stays_there(state_dir):
    with lab.spawn(["sleep", "600"], "mnt") as box:
        target = lab.tracker.state_dir() / "lab-ns-test-private"
        target.mkdir(parents=True)
        try:
            rec = mount_tmpfs(target, box.pid)
            assert find(target, box.pid) is not None and find(target) is None
            lab.tracker.default().undo(rec)  # nothing on the host: "already unmounted"
        finally:
            target.rmdir()


def test_uts_hostname_and_domainname_are_private():
    out = lab.run(["sh", "-c", "hostname; cat /proc/sys/kernel/hostname; domainname lab-nis; domainname"],
                  "uts", hostname="box").stdout.split()
    assert out == ["box", "box", "lab-nis"]
    assert socket.gethostname() != "box"


def test_ipc_objects_stay_in_their_namespace():
    script = "ipcmk -Q >/dev/null && ipcmk -M 4096 >/dev/null && echo ready && exec sleep 600"
    with lab.spawn(["sh", "-c", script], "ipc", capture=True) as box:
        assert box.stdout.readline() == b"ready\n"
        queues = ns.sysv_ipc("msg", lab.enter(box.pid, ["cat", "/proc/sysvipc/msg"]).stdout)
        segments = ns.sysv_ipc("shm", lab.enter(box.pid, ["cat", "/proc/sysvipc/shm"]).stdout)
        assert [q["msqid"] for q in queues] == ["0"] and [s["shmid"] for s in segments] == ["0"]
        assert queues[0]["key"] not in {q["key"] for q in ns.sysv_ipc("msg")}
        other = lab.run(["cat", "/proc/sysvipc/msg"], "ipc").stdout
        assert ns.sysv_ipc("msg", other) == []


def test_user_namespace_same_process_two_uids():
    with lab.spawn(["sh", "-c", "id -u; exec sleep 600"], "user,pid", capture=True) as box:
        assert box.stdout.readline() == b"0\n"
        assert credentials.uids(box.pid).real == ns.DEFAULT_USER_MAP[1]
        assert credentials.uid_map(box.pid) == [ns.DEFAULT_USER_MAP]
        assert "CAP_SYS_ADMIN" in credentials.capabilities(box.pid)
        seen_inside = lab.enter(box.pid, ["grep", "^Uid", f"/proc/{box.pid}/status"], kinds="user").stdout
        assert seen_inside.split()[1:] == ["0"] * 4  # the same file, read from inside the user namespace
    assert credentials.uid_map() == [(0, 0, 4294967295)]


def test_root_of_a_user_namespace_owns_its_namespaces_and_nothing_else():
    inside = {a.action: a for a in lab.call(credentials.try_powers, ns="user,mnt,uts")}
    allowed = [a for a, r in inside.items() if r.allowed]
    assert allowed == ["mount a tmpfs in its own mount namespace", "set the hostname of its own uts namespace"]
    assert inside["read /etc/shadow"].answer == "EACCES"
    assert inside["give a file to a uid its namespace does not map"].answer == "EINVAL"
    real_root = lab.call(credentials.try_powers, ns="mnt,uts")
    assert all(a.allowed for a in real_root)


def test_cgroup_namespace_root_is_where_the_process_stood(state_dir):
    with ns.scratch_cgroup("lab-ns-test-cg") as cgroup:
        views = lab.call(ns.cgroup_views, cgroup, ns=())
        hierarchy = "cgroup2" if lab.doctor.cgroup_mode() == "v2" else "pids"
        assert views["before"][hierarchy] == "/labcore/lab-ns-test-cg"
        assert views["after"][hierarchy] == "/"
        assert views["parent"][hierarchy].startswith("/..")
    assert not os.path.exists(cgroup)
    assert lab.tracker.default().records() == []


def test_time_namespace_offsets_boottime_not_realtime():
    offset = 10 * 86400
    with lab.spawn(["sh", "-c", "cat /proc/uptime; date +%s; exec sleep 600"], "time",
                   time_offsets={"boottime": offset}, capture=True) as box:
        uptime, now = (float(box.stdout.readline().split()[0]), int(box.stdout.readline()))
        assert ns.time_offsets(box.pid) == {"monotonic": 0.0, "boottime": float(offset)}
        assert ns.read(box.pid)["time"] != ns.read()["time"]
    host_uptime = float(open("/proc/uptime").read().split()[0])
    assert offset - 60 < uptime - host_uptime <= offset
    assert abs(now - time.time()) < 60


def test_scratch_cgroup_refuses_names_without_the_prefix():
    with pytest.raises(lab.InvalidInputError, match="lab-"):
        with ns.scratch_cgroup("mine"):
            pass
