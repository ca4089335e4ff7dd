"""The real Docker Engine started by labcore.teach.realengine runs a container and leaves the host unchanged.

Compared before and after: links, iptables (nft and legacy) and the nft
ruleset, mounts, ip_forward, the files a default dockerd writes outside its
directories, cgroup directories, and the processes of the engine. Other
engineers' lab objects (``lab-`` links, ``labcore`` nft tables) may come and
go meanwhile: they are left out of the comparison, nothing of the engine's
is named like them.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from labcore import images, tracker
from labcore.errors import InvalidInputError, LabError
from labcore.teach.realengine import Engine

pytestmark = pytest.mark.needs("root", "overlayfs", "tool:dockerd", "tool:containerd", "tool:skopeo",
                               "tool:busybox", "tool:unshare")



def _run(*cmd) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True)
    return done.stdout


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _forwarding_held() -> bool:
    """Another lab's network holds net.ipv4.ip_forward (chapter 09, deep dive C): then it may change meanwhile."""
    return any(r.kind == "sysctl" and r.target == "net.ipv4.ip_forward" for r in tracker.default().records())


def host() -> dict:
    links = sorted(l.split(": ")[1].split("@")[0] for l in _run("ip", "-o", "link").splitlines()
                   if not l.split(": ")[1].startswith("lab-"))
    nft, skip = [], False
    for line in _run("nft", "list", "ruleset").splitlines():
        if line.startswith("table "):
            skip = " labcore" in line
        if not skip:
            nft.append(line)
    mounts = sorted(f"{m.split()[4]} {m.split(' - ')[1].split()[0]}" for m in Path("/proc/self/mountinfo").read_text()
                    .splitlines() if any(w in m for w in ("realengine", "docker", "containerd"))
                    or m.split()[4] in ("/etc", "/opt", "/run", "/var/run"))
    files = {p: sorted(os.listdir(p)) if os.path.isdir(p) else None
             for p in ("/etc/docker", "/opt", "/run", "/run/docker", "/run/containerd", "/var/lib/docker")}
    procs = sorted(_cmdline(p) for p in os.listdir("/proc") if p.isdigit() and "realengine" in _cmdline(p))
    cgroups = sorted(glob.glob("/sys/fs/cgroup/*/docker") + glob.glob("/sys/fs/cgroup/docker")
                     + glob.glob("/sys/fs/cgroup/**/lab-realengine*", recursive=True)
                     + glob.glob("/sys/fs/cgroup/*/labcore") + glob.glob("/sys/fs/cgroup/labcore"))
    rules = [l for l in _run("iptables-save").splitlines() + _run("iptables-legacy-save").splitlines()
             if not l.startswith("#") and not l.startswith(":")]
    return {"links": links, "nft": nft, "mounts": mounts, "files": files, "processes": procs, "cgroups": cgroups,
            "iptables": rules,
            "ip_forward": "held by a lab network" if _forwarding_held() else Path("/proc/sys/net/ipv4/ip_forward").read_text()}


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    base = tmp_path_factory.mktemp("re")
    ctx = base / "ctx"
    images.busybox_rootfs(ctx / "rootfs", applets=["sh", "echo", "sleep"])
    (ctx / "Dockerfile").write_text('FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n')
    images.build(ctx / "Dockerfile", ctx, base / "layout", "v1", cache=base / "cache")
    return base / "layout"


def same(before: dict, after: dict) -> bool:
    """Equal, but ip_forward only where no lab network held it at either time (it is theirs to change)."""
    if "held by a lab network" in (before["ip_forward"], after["ip_forward"]):
        before, after = dict(before, ip_forward=None), dict(after, ip_forward=None)
    return before == after


def ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def cgroup_records() -> list[str]:
    return sorted(r.target for r in tracker.default().records() if r.kind == "cgroup")


def test_real_engine_runs_a_container_and_leaves_the_host_as_it_was(layout):
    before, recorded = host(), cgroup_records()
    engine = Engine("test-realengine")
    try:
        engine.start()
        assert comm(engine.pid) == "dockerd" and comm(engine.containerd_pid()) == "containerd"
        engine.load(layout, "v1", "lab/busybox:re")
        assert engine.docker("run", "--rm", "lab/busybox:re", "echo", "hi").stdout == "hi\n"
        engine.docker("run", "-d", "--name", "box", "lab/busybox:re", "sleep", "600")
        pid = int(engine.docker("inspect", "--format", "{{.State.Pid}}", "box").stdout)
        shim = ppid(pid)
        assert comm(pid) == "sleep" and comm(shim) == "containerd-shim"  # the shim is the container's parent
        assert ppid(shim) != engine.containerd_pid()  # ...and has left containerd's tree
        # The engine's mounts stay in its own mount namespace: none is seen from the host's.
        assert os.readlink(f"/proc/{engine.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
        assert not [m for m in Path("/proc/self/mountinfo").read_text().splitlines() if str(engine.work) in m]
        during = host()
        assert same(dict(before, mounts=None, files=None, processes=None, cgroups=None),
                    dict(during, mounts=None, files=None, processes=None, cgroups=None))  # network untouched
    finally:
        engine.stop()
    assert not tracker.is_running(pid) and not engine.work.exists()
    assert same(before, host()), host()
    assert cgroup_records() == recorded  # no labcore parent kept on record either


def test_a_chapters_docker_commands_run_on_an_engine_the_lab_started():
    from labcore.teach import realdocker
    engine = Engine("test-realdocker")
    try:
        engine.start()
        engine.load_busybox(["sh", "echo", "cat"])  # named busybox, as the chapters' commands say
        shown = realdocker.docker(["run --rm busybox echo hi", ("run --rm busybox cat /nowhere", "unused")], on=engine)
        assert shown.live and shown.steps[0] == ("run --rm busybox echo hi", "hi\n", 0)
        assert shown.steps[1][2] == 1 and "No such file" in shown.steps[1][1]
        assert "(exit status 1)" in repr(shown) and "not run" not in repr(shown) and "unused" not in repr(shown)
    finally:
        engine.stop()
    assert not engine.work.exists()


def _link(name: str) -> str:
    return subprocess.run(["ip", "-br", "addr", "show", "dev", name], capture_output=True, text=True).stdout


def test_a_user_defined_network_gets_a_recorded_bridge_and_the_engine_removes_it():
    """docker network create: a bridge on the host even with --bridge=none; stop removes it, its record goes."""
    before, links_before = host(), _link("lab-test-web")
    engine = Engine("test-realnet")
    try:
        engine.start()
        engine.load_busybox(["sh", "echo", "httpd", "nslookup", "wget"])
        web = engine.reserve_network("test-web")
        assert [r.target for r in tracker.default().records() if r.kind == "link"].count("lab-test-web") == 1
        engine.docker(*web.create_args("web").split())
        assert f"{web.gateway}/" in _link(web.bridge)  # dockerd made it, with the gateway address
        with pytest.raises(InvalidInputError, match="lab-test-web exists"):  # a link there is not taken over
            engine.reserve_network("test-web")
        engine.docker("run", "-d", "--name", "api", "--network", "web", "busybox", "sh", "-c",
                      "echo hello from api > /tmp/index.html && exec httpd -f -p 80 -h /tmp")
        looked_up = engine.docker("run", "--rm", "--network", "web", "busybox", "nslookup", "-type=a", "api").stdout
        ip = engine.docker("inspect", "--format", "{{.NetworkSettings.Networks.web.IPAddress}}", "api").stdout.strip()
        assert "127.0.0.11" in looked_up and f"Address: {ip}" in looked_up  # Docker's embedded DNS
        assert engine.docker("run", "--rm", "--network", "web", "busybox", "wget", "-qO-",
                             "http://api/").stdout == "hello from api\n"
    finally:
        done = engine.stop()  # with the network and its container still there
    assert links_before == "" and _link("lab-test-web") == ""
    assert any("lab-test-web" in line for line in done)
    assert not [r for r in tracker.default().records() if r.target == "lab-test-web"]
    assert same(before, host()), host()


@pytest.fixture
def short_dir():
    """A state and data directory short enough for containerd's socket paths (sun_path: 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="re", dir="/tmp"))
    yield path
    shutil.rmtree(path)


def test_labcore_cleanup_after_a_crash_stops_the_whole_engine(layout, short_dir):
    """A kernel that started the engine and a container is SIGKILLed; `labcore cleanup` undoes it all."""
    before = host()
    tmp_path = short_dir
    env = dict(os.environ, LABCORE_STATE_DIR=str(tmp_path / "s"), LABCORE_DATA_DIR=str(tmp_path / "d"))
    script = (f"from labcore.teach.realengine import Engine\n"
              f"e = Engine('test-realengine').start()\n"
              f"e.load({str(layout)!r}, 'v1', 'lab/busybox:re')\n"
              f"e.docker('run', '-d', '--name', 'box', 'lab/busybox:re', 'sleep', '600')\n"
              f"e.docker(*e.reserve_network('test-crash').create_args('web').split())\n"
              f"print(e.pid, e.docker('inspect', '--format', '{{{{.State.Pid}}}}', 'box').stdout.strip(), flush=True)\n"
              f"import time; time.sleep(600)\n")
    kernel = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    try:
        dockerd, pid = map(int, kernel.stdout.readline().split())
        shim = ppid(pid)
        assert comm(shim) == "containerd-shim"
    finally:
        kernel.kill()  # the crash: nothing of the engine is stopped
        kernel.wait()
        kernel.stdout.close()
    assert tracker.is_running(dockerd) and tracker.is_running(pid) and "lab-test-crash" in _link("lab-test-crash")
    done = subprocess.run([sys.executable, "-m", "labcore", "cleanup"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not any(tracker.is_running(p) for p in (dockerd, shim, pid))
    assert _link("lab-test-crash") == ""  # the user-defined network's bridge, which a killed dockerd leaves
    assert list((tmp_path / "s" / "objects").glob("*.json")) == []
    assert same(before, host()), host()


def test_a_data_directory_too_long_for_the_sockets_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("LABCORE_DATA_DIR", str(tmp_path / ("x" * 60)))
    with pytest.raises(LabError, match="at most 107"):
        Engine("test-realengine").start()
    assert not (tmp_path / ("x" * 60)).exists() or not any((tmp_path / ("x" * 60)).iterdir())


def _ps_names(engine) -> list[str]:
    return engine.docker("ps", "--format", "{{.Names}}").stdout.split()


@pytest.mark.parametrize("live_restore", [True, False], ids=["live-restore", "default"])
def test_a_killed_dockerd_restarts_and_live_restore_decides_the_containers_fate(layout, live_restore):
    """SIGKILL dockerd: containerd dies with it, the shim and the container do not. Restarted, dockerd
    adopts the container with live-restore, and without it stops the container it finds."""
    before = host()
    engine = Engine("test-realengine", live_restore=live_restore)
    try:
        engine.start()
        assert engine.docker("info", "--format", "{{.LiveRestoreEnabled}}").stdout.strip() == str(live_restore).lower()
        engine.load(layout, "v1", "lab/busybox:re")
        engine.docker("run", "-d", "--name", "box", "--stop-timeout", "1", "lab/busybox:re", "sleep", "600")
        pid = int(engine.docker("inspect", "--format", "{{.State.Pid}}", "box").stdout)
        shim, dockerd, containerd = ppid(pid), engine.pid, engine.containerd_pid()
        engine.kill_daemon()
        assert not tracker.is_running(dockerd) and not tracker.is_running(containerd)  # its parent-death signal
        assert tracker.is_running(pid) and ppid(pid) == shim  # the container runs on under its shim
        assert engine.docker("ps", check=False).returncode != 0  # no API
        engine.restart()
        assert engine.pid != dockerd and comm(engine.containerd_pid()) == "containerd"
        if live_restore:
            assert _ps_names(engine) == ["box"] and tracker.is_running(pid)  # the same process, adopted
            assert int(engine.docker("inspect", "--format", "{{.State.Pid}}", "box").stdout) == pid
            engine.docker("stop", "box")  # and it answers to the new daemon
        else:
            assert _ps_names(engine) == []  # the container it found running was stopped
        assert not tracker.is_running(pid)
        assert engine.docker("inspect", "--format", "{{.State.Status}}", "box").stdout.strip() == "exited"
    finally:
        engine.stop()
    assert same(before, host()), host()


def test_userns_remap_makes_the_containers_root_a_subordinate_uid_and_adds_no_user_to_the_host(
        layout, short_dir, monkeypatch):
    accounts = {f: Path(f).read_bytes() if os.path.exists(f) else None
                for f in ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/subuid", "/etc/subgid")}
    before = host()
    # Under a 0700 directory, as in a home: dockerd starts only because its data-root is bound under /run.
    assert short_dir.stat().st_mode & 0o777 == 0o700
    monkeypatch.setenv("LABCORE_DATA_DIR", str(short_dir / "d"))
    engine = Engine("test-userns", userns_remap=True)
    try:
        engine.start()
        first, count = engine.remapped()
        assert count == 65536 and first >= 100000  # useradd's first free range
        engine.load(layout, "v1", "lab/busybox:re")
        assert engine.docker("run", "--rm", "lab/busybox:re", "sh", "-c", "echo $(cat /proc/self/uid_map)").stdout.split() \
            == ["0", str(first), str(count)]
        assert engine.docker("run", "--rm", "--userns=host", "lab/busybox:re", "sh", "-c",
                             "echo $(cat /proc/self/uid_map)").stdout.split() == ["0", "0", "4294967295"]
        # A volume: the host root's 0600 file is out of the remapped root's reach; a directory given to the
        # remapped root takes its files, owned by the subordinate uid on the host.
        share = short_dir / "share"
        (share / "theirs").mkdir(parents=True)
        os.chown(share / "theirs", first, first)
        (share / "secret").write_text("host root only\n")
        os.chmod(share / "secret", 0o600)
        refused = engine.docker("run", "--rm", "-v", f"{share}:/data", "lab/busybox:re", "sh", "-c",
                                "cat /data/secret", check=False)
        assert refused.returncode == 1 and "Permission denied" in refused.stderr
        engine.docker("run", "--rm", "-v", f"{share}:/data", "lab/busybox:re", "sh", "-c", "echo made > /data/theirs/f")
        assert (share / "theirs" / "f").stat().st_uid == first
        assert engine.docker("run", "--rm", "--userns=host", "-v", f"{share}:/data", "lab/busybox:re",
                             "sh", "-c", "cat /data/secret").stdout == "host root only\n"
        for shared in (["--privileged"], ["--pid", "host"], ["--network", "host"]):  # refused by dockerd itself
            refused = engine.docker("run", "--rm", *shared, "lab/busybox:re", "true", check=False)
            assert refused.returncode == 125 and "user namespaces" in refused.stderr, (shared, refused.stderr)
        engine.docker("run", "-d", "--name", "box", "lab/busybox:re", "sleep", "600")
        pid = int(engine.docker("inspect", "--format", "{{.State.Pid}}", "box").stdout)
        status = Path(f"/proc/{pid}/status").read_text()
        assert f"Uid:\t{first}\t{first}\t{first}\t{first}" in status  # seen from the host
    finally:
        engine.stop()
    assert not engine.work.exists() and same(before, host())
    assert {f: Path(f).read_bytes() if os.path.exists(f) else None for f in accounts} == accounts
