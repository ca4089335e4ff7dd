"""Real Docker clients (the docker CLI and the Python SDK) drive labcore's daemon, shim and runtime.

One daemon serves the whole module, in a state and data directory of its
own; at the end every container is removed, the daemon stopped and
``labcore cleanup`` run there, and nothing of ours may be left: no process
naming that directory, no mount below it, no container cgroup.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import daemonstack
from daemonstack import LABCORE, docker, kill_daemon, start_daemon

pytestmark = pytest.mark.needs("root", "overlayfs", "tool:docker", "tool:busybox")

IMAGE = "lab/busybox:1"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    dockerfile = 'FROM scratch\nCOPY rootfs/ /\nENV GREETING=hello\nWORKDIR /tmp\nCMD ["sh"]\n'
    with daemonstack.daemon(tmp_path_factory.mktemp("d"), IMAGE, dockerfile) as st:
        yield st



def ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def is_shim_of(pid: int, cid: str) -> bool:
    """A shim, started before its container existed, names it in its process name."""
    return " shim --root " in cmdline(pid) and Path(f"/proc/{pid}/comm").read_text() == f"shim {cid[:10]}\n"


def spares(stack) -> list[int]:
    """This daemon's shims that wait for a container: started with its runtime root, named for none yet."""
    root = f" shim --root {stack['base'] / 's' / 'daemon' / 'runtime'} "
    found = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            if root in cmdline(int(p)) and not Path(f"/proc/{p}/comm").read_text().startswith("shim "):
                found.append(int(p))
        except OSError:
            pass
    return found


def spare_of(stack, other_than: int = 0) -> int:
    """The spare shim (waiting up to 10 s for it: the daemon starts the next one after each take)."""
    deadline = time.monotonic() + 10
    while not (found := [p for p in spares(stack) if p != other_than]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(found) == 1, found
    return found[0]




def records(stack) -> list[dict]:
    return [json.loads(f.read_text()) for f in (stack["base"] / "s" / "objects").glob("*.json")]


def test_a_spare_shim_waits_for_the_next_container_and_becomes_its_shim(stack):
    spare = spare_of(stack)
    deadline = time.monotonic() + 10
    while os.sched_getscheduler(spare) != os.SCHED_IDLE and time.monotonic() < deadline:  # its first step
        time.sleep(0.02)
    assert os.getsid(spare) == spare  # a session of its own
    assert os.sched_getscheduler(spare) == os.SCHED_IDLE  # getting ready on CPU time nobody else wants
    rec = next(r for r in records(stack) if r["kind"] == "process" and r["target"] == str(spare))
    assert rec["extra"]["what"] == "shim" and "container" not in rec["extra"]  # recorded before any container
    cid = docker(stack, "run", "-d", IMAGE, "sleep", "30").stdout.strip()
    pid = json.loads(docker(stack, "inspect", cid).stdout)[0]["State"]["Pid"]
    assert ppid(pid) == spare and is_shim_of(spare, cid)
    assert os.sched_getscheduler(spare) == os.sched_getscheduler(pid) == os.SCHED_OTHER  # taken: normal again
    rec = next(r for r in records(stack) if r["kind"] == "process" and r["target"] == str(spare))
    assert rec["extra"]["container"] == cid and rec["owner"] == spare
    assert spare_of(stack, other_than=spare) != spare  # the next one, already waiting
    docker(stack, "rm", "-f", cid)


def test_docker_run_rm_prints_hi_and_leaves_nothing(stack):
    done = docker(stack, "run", "--rm", IMAGE, "echo", "hi")
    assert done.stdout == "hi\n"
    assert docker(stack, "ps", "-aq").stdout == ""  # --rm: removed once it exited
    left = stack["base"] / "s" / "daemon" / "containers"
    deadline = time.monotonic() + 10
    while list(left.iterdir()) and time.monotonic() < deadline:  # its files go a moment later (set aside first)
        time.sleep(0.02)
    assert list(left.iterdir()) == []


def test_exit_status_and_image_config_reach_the_client(stack):
    done = docker(stack, "run", "--rm", IMAGE, "sh", "-c", 'echo "$GREETING from $(pwd)"; echo oops >&2; exit 3',
                  check=False)
    assert (done.returncode, done.stdout, done.stderr) == (3, "hello from /tmp\n", "oops\n")
    assert docker(stack, "run", "--rm", "-e", "GREETING=bye", "-w", "/", IMAGE, "sh", "-c",
                  'echo "$GREETING from $(pwd)"').stdout == "bye from /\n"
    assert docker(stack, "run", "--rm", "--entrypoint", "echo", IMAGE, "from", "entrypoint").stdout == \
        "from entrypoint\n"
    assert docker(stack, "run", "--rm", "--user", "1000:1000", IMAGE, "id", "-u").stdout == "1000\n"
    status = docker(stack, "run", "--rm", IMAGE, "grep", "-E", "^(CapEff|Seccomp):", "/proc/self/status").stdout
    assert status.split() == ["CapEff:", "00000000a80425fb", "Seccomp:", "2"]  # Docker's 14 capabilities, its filter
    kept = list((stack["base"] / "s" / "daemon" / "seccomp").iterdir())
    assert [p.suffix for p in kept] == [".json"]  # Docker's default program: compiled by one shim, read by the next


def test_images_and_image_inspect(stack):
    assert docker(stack, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split() == [IMAGE]
    seen = json.loads(docker(stack, "image", "inspect", IMAGE).stdout)[0]
    assert seen["Config"]["Cmd"] == ["sh"] and seen["Config"]["WorkingDir"] == "/tmp"
    assert seen["Id"].startswith("sha256:") and len(seen["RootFS"]["Layers"]) == 1
    missing = docker(stack, "run", "--rm", "lab/nothing:1", "true", check=False)
    assert missing.returncode != 0 and "lab/nothing:1" in missing.stderr


def test_ps_logs_inspect_stop_rm(stack):
    script = 'echo out; echo err >&2; trap "echo bye; exit 5" TERM; while :; do sleep 0.1; done'
    cid = docker(stack, "run", "-d", "--name", "web", IMAGE, "sh", "-c", script).stdout.strip()
    assert len(cid) == 64
    assert docker(stack, "ps", "--format", "{{.ID}} {{.Names}} {{.Status}}").stdout.startswith(f"{cid[:12]} web Up")
    state = json.loads(docker(stack, "inspect", "web").stdout)[0]["State"]
    assert state["Status"] == "running" and state["Running"] and state["Pid"] > 0
    shim = ppid(state["Pid"])  # the container's init is the shim's child (the shim is its subreaper)...
    assert is_shim_of(shim, cid)
    assert os.getsid(shim) == shim  # ...and the shim leads a session of its own
    deadline = time.monotonic() + 10
    while (logs := docker(stack, "logs", "web")).stdout != "out\n" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (logs.stdout, logs.stderr) == ("out\n", "err\n")  # the two streams kept apart through the frames
    with pytest.raises(ProcessLookupError):
        docker(stack, "stop", "-t", "5", "web")
        os.kill(state["Pid"], 0)
    state = json.loads(docker(stack, "inspect", "web").stdout)[0]["State"]
    assert (state["Status"], state["ExitCode"], state["Pid"], state["OOMKilled"]) == ("exited", 5, 0, False)
    assert docker(stack, "logs", "web").stdout == "out\nbye\n"
    assert docker(stack, "ps", "-q").stdout == "" and docker(stack, "ps", "-aq").stdout.strip() == cid[:12]
    in_use = docker(stack, "run", "-d", "--name", "web", IMAGE, "true", check=False)
    assert in_use.returncode != 0 and "already in use" in in_use.stderr
    docker(stack, "rm", "web")
    assert docker(stack, "ps", "-aq").stdout == ""
    gone = docker(stack, "inspect", "web", check=False)
    assert gone.returncode != 0 and "No such object" in gone.stderr


def test_stop_sends_sigkill_after_the_grace_period(stack):
    docker(stack, "run", "-d", "--name", "deaf", IMAGE, "sleep", "1000")  # PID 1 without a handler ignores SIGTERM
    start = time.monotonic()
    docker(stack, "stop", "-t", "1", "deaf")
    took = time.monotonic() - start
    state = json.loads(docker(stack, "inspect", "deaf").stdout)[0]["State"]
    assert state["ExitCode"] == 137 and 1 <= took < 10
    running = docker(stack, "run", "-d", "--name", "busy", IMAGE, "sleep", "1000").stdout.strip()
    refused = docker(stack, "rm", "busy", check=False)
    assert refused.returncode != 0 and "cannot remove a running container" in refused.stderr
    docker(stack, "kill", "busy")  # returns once the signal is sent; `wait` answers once it has exited
    assert docker(stack, "wait", "busy").stdout == "137\n"
    assert json.loads(docker(stack, "inspect", running).stdout)[0]["State"]["ExitCode"] == 137
    docker(stack, "rm", "deaf", "busy")


def test_memory_limit_and_the_oom_killer(stack):
    hog = 'x=$(head -c 40000000 /dev/zero | tr "\\0" a); echo survived'  # a 40 MB shell variable
    done = docker(stack, "run", "--name", "hog", "-m", "16m", IMAGE, "sh", "-c", hog, check=False)
    assert done.returncode == 137 and "survived" not in done.stdout
    state = json.loads(docker(stack, "inspect", "hog").stdout)[0]["State"]
    assert (state["ExitCode"], state["OOMKilled"]) == (137, True)
    assert docker(stack, "run", "--rm", "-m", "512m", IMAGE, "sh", "-c", hog).stdout == "survived\n"
    docker(stack, "rm", "hog")


def test_logs_follow_streams_until_the_container_exits(stack):
    docker(stack, "run", "-d", "--name", "ticker", IMAGE, "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done")
    follow = docker(stack, "logs", "-f", "ticker", timeout=30)
    assert follow.stdout == "1\n2\n3\n"
    assert docker(stack, "wait", "ticker").stdout == "0\n"
    docker(stack, "rm", "ticker")


def test_a_stopped_container_starts_again_with_its_writable_layer(stack):
    counting = "echo run >> /count; wc -l < /count; exit 2"
    first = docker(stack, "run", "--name", "again", IMAGE, "sh", "-c", counting, check=False)
    again = docker(stack, "start", "-a", "again", check=False)  # at once: the last shim may still be finishing
    assert (first.returncode, first.stdout, again.returncode, again.stdout) == (2, "1\n", 2, "2\n")
    docker(stack, "start", "again")
    assert docker(stack, "wait", "again").stdout == "2\n"
    assert docker(stack, "logs", "again").stdout == "1\n2\n3\n"
    docker(stack, "rm", "again")


def test_the_python_sdk_runs_a_container(stack):
    docker_sdk = pytest.importorskip("docker")  # the test extra installs it
    client = docker_sdk.DockerClient(base_url=stack["host"])
    try:
        assert client.ping() and client.version()["ApiVersion"] == "1.41"
        assert client.containers.run(IMAGE, "echo hi", remove=True) == b"hi\n"
        with pytest.raises(docker_sdk.errors.ContainerError) as failed:
            client.containers.run(IMAGE, ["sh", "-c", "echo nope >&2; exit 2"], remove=True)
        assert failed.value.exit_status == 2 and failed.value.stderr == b"nope\n"
        assert client.containers.list(all=True) == []
    finally:
        client.close()


def test_live_restore_after_sigkill_of_the_daemon(stack):
    cid = docker(stack, "run", "-d", "--name", "survivor", IMAGE, "sh", "-c",
                 'trap "exit 9" TERM; while :; do sleep 0.1; done').stdout.strip()
    pid = json.loads(docker(stack, "inspect", cid).stdout)[0]["State"]["Pid"]
    kill_daemon(stack)
    assert docker(stack, "ps", check=False).returncode != 0  # nobody answers on the socket
    os.kill(pid, 0)  # the container runs on, under its shim
    assert is_shim_of(ppid(pid), cid)
    start_daemon(stack)
    assert docker(stack, "ps", "--format", "{{.ID}} {{.Names}}").stdout == f"{cid[:12]} survivor\n"
    # The killed daemon's spare shim ended with its stdin, and the new daemon dropped its record.
    spare = spare_of(stack)
    shims = [r for r in records(stack) if r["kind"] == "process" and r["extra"].get("what") == "shim"]
    assert sorted(int(r["target"]) for r in shims) == sorted([spare, ppid(pid)]), shims
    docker(stack, "stop", "-t", "5", "survivor")
    state = json.loads(docker(stack, "inspect", "survivor").stdout)[0]["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 9)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    docker(stack, "rm", "survivor")


def test_a_starting_daemon_starts_again_what_the_restart_policies_say(stack):
    loop = 'trap "exit 0" TERM; while :; do sleep 0.1; done'
    policies = {"always-died": "always", "always-stopped": "always", "unless-stopped-stopped": "unless-stopped",
                "on-failure-died": "on-failure", "no-died": "no"}
    for name, policy in policies.items():
        docker(stack, "run", "-d", "--name", name, "--restart", policy, IMAGE, "sh", "-c", loop)
    docker(stack, "stop", "-t", "5", "always-stopped", "unless-stopped-stopped")  # stopped by the user: exit 0
    died = [n for n in policies if n.endswith("-died")]
    pids = {n: json.loads(docker(stack, "inspect", n).stdout)[0]["State"]["Pid"] for n in died}
    shims = [ppid(pid) for pid in pids.values()]
    kill_daemon(stack)
    for pid in pids.values():
        os.kill(pid, signal.SIGKILL)  # they die while no daemon watches: their shims record 137
    deadline = time.monotonic() + 20
    while any(os.path.exists(f"/proc/{s}") for s in shims) and time.monotonic() < deadline:
        time.sleep(0.05)
    start_daemon(stack)
    state = {n: json.loads(docker(stack, "inspect", n).stdout)[0]["State"] for n in policies}
    running = {n for n, st in state.items() if st["Running"]}
    # always: even after docker stop (dockerd too, at its start); unless-stopped: not after docker stop;
    # on-failure: 137 is a failure; no: never
    assert running == {"always-died", "always-stopped", "on-failure-died"}, state
    assert all(state[n]["Pid"] not in pids.values() for n in running)  # new processes
    assert (state["no-died"]["ExitCode"], state["unless-stopped-stopped"]["ExitCode"]) == (137, 0)
    docker(stack, "rm", "-f", *policies)


def test_bind_mounts_share_a_host_directory_read_write_or_read_only(stack, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in.txt").write_text("from the host\n")
    done = docker(stack, "run", "--rm", "-v", f"{shared}:/data", IMAGE, "sh", "-c",
                  "cat /data/in.txt; echo back > /data/out.txt")
    assert done.stdout == "from the host\n" and (shared / "out.txt").read_text() == "back\n"
    ro = docker(stack, "run", "--rm", "-v", f"{shared}:/data:ro", IMAGE, "sh", "-c", "echo x > /data/y", check=False)
    assert ro.returncode != 0 and "Read-only file system" in ro.stderr and not (shared / "y").exists()
    cid = docker(stack, "create", "-v", f"{shared}:/data:ro,rslave", IMAGE, "true").stdout.strip()
    seen = json.loads(docker(stack, "inspect", cid).stdout)[0]
    assert seen["Mounts"] == [{"Type": "bind", "Source": str(shared), "Destination": "/data", "Mode": "ro",
                               "RW": False, "Propagation": "rslave"}]
    assert seen["HostConfig"]["Binds"] == [f"{shared}:/data:ro,rslave"]
    docker(stack, "rm", cid)
    for spec, said in ((f"myvolume:/data", "names a volume"), (f"{tmp_path}/missing:/data", "does not exist"),
                       (f"{shared}:/", "other than /"), (f"{shared}:/data:rx", "invalid mode")):
        bad = docker(stack, "run", "--rm", "-v", spec, IMAGE, "true", check=False)
        assert bad.returncode != 0 and said in bad.stderr, (spec, bad.stderr)
    assert not (tmp_path / "missing").exists()  # Docker would have made it; the lab changes nothing of the host
    assert docker(stack, "ps", "-aq").stdout == ""


def test_privileged_has_every_capability_no_seccomp_and_may_mount(stack):
    show = ("grep -E '^(CapEff|Seccomp):' /proc/self/status; echo timer_list $(wc -c < /proc/timer_list); "
            "mkdir -p /mnt; mount -t tmpfs lab-t /mnt && echo mounted; grep -w sysfs /proc/mounts")
    plain = docker(stack, "run", "--rm", IMAGE, "sh", "-c", show, check=False)
    assert "00000000a80425fb" in plain.stdout and "Seccomp:\t2" in plain.stdout and "mounted" not in plain.stdout
    assert "timer_list 0\n" in plain.stdout and " ro," in plain.stdout.split("sysfs", 1)[1]  # masked; /sys read-only
    full = docker(stack, "run", "--rm", "--privileged", IMAGE, "sh", "-c", show)
    ours = next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("CapBnd"))
    assert f"CapEff:\t{ours}" in full.stdout  # every capability the daemon itself may hold
    assert "Seccomp:\t0" in full.stdout and "mounted" in full.stdout
    assert "timer_list 0\n" not in full.stdout and " rw," in full.stdout.split("sysfs", 1)[1]  # nothing masked


def test_cleanup_spares_a_running_container(stack):
    env = stack["env"]
    docker(stack, "run", "-d", "--name", "kept", IMAGE, "sleep", "1000")
    pid = json.loads(docker(stack, "inspect", "kept").stdout)[0]["State"]["Pid"]
    done = subprocess.run(LABCORE + ["cleanup"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    os.kill(pid, 0)  # its shim owns its records while it runs: spared, as the daemon is
    assert json.loads(docker(stack, "inspect", "kept").stdout)[0]["State"]["Running"]
    assert docker(stack, "run", "--rm", IMAGE, "echo", "still").stdout == "still\n"
    docker(stack, "rm", "-f", "kept")
