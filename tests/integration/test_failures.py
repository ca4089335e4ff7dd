"""Chapter 14's failures, caused for real and read from the host (labcore.teach.failures, the daemon's --restart).

One daemon serves the module, in state and data directories of its own,
with a busybox image that also holds tini. Each test causes one failure
and checks what an on-call engineer would read: exit statuses, cgroup
counters, the kernel log, process states, routes and rules. At the end
every container is removed, the daemon stopped and ``labcore cleanup`` run
there; no process, mount or container cgroup of ours may be left.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from labcore import images
from labcore.errors import InvalidInputError
from labcore.teach import failures

import daemonstack
from daemonstack import docker

IMAGE = "lab/busybox:14"
DAEMON = ("root", "overlayfs", "cgroup_limits", "tool:docker", "tool:busybox", "tool:tini")
# PID 1 whose child goes on forking subshells that leave an orphan each: the orphans end as zombies of PID 1
ZOMBIE_MAKER = 'sh -c "while :; do (sleep 0.01 &); sleep 0.02; done" & exec sleep 100000'


def _add_tini(rootfs):
    shutil.copy2(shutil.which("tini-static") or "/usr/bin/tini-static", rootfs / "bin" / "tini")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with daemonstack.daemon(tmp_path_factory.mktemp("f"), IMAGE, 'FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n',
                            applets=["sh", "echo", "sleep", "tail"], prepare=_add_tini) as st:
        yield st



def inspect(stack, name: str) -> dict:
    return json.loads(docker(stack, "inspect", name).stdout)[0]


def until(fn, timeout: float = 30, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(step)
    return fn()


# --- the daemon's restart policies ---------------------------------------------------------------
@pytest.mark.needs(*DAEMON)
def test_on_failure_restarts_a_crashing_container_then_gives_up(stack):
    # PID 1 overflows its stack: a real SIGSEGV, 128 + 11 = 139
    docker(stack, "run", "-d", "--name", "crashy", "--restart", "on-failure:2", IMAGE, "sh", "-c",
           "sleep 0.3; f(){ f; }; f")
    pids = set()

    def settled():
        s = inspect(stack, "crashy")
        if s["State"]["Pid"]:
            pids.add(s["State"]["Pid"])
        return s if s["State"]["Status"] == "exited" and not s["State"]["Restarting"] and s["RestartCount"] == 2 else None
    s = until(settled, timeout=60, step=0.05)
    assert s, inspect(stack, "crashy")
    assert s["State"]["ExitCode"] == 139 and s["HostConfig"]["RestartPolicy"] == {"Name": "on-failure",
                                                                                 "MaximumRetryCount": 2}
    assert len(pids) >= 2  # each restart is a new process
    time.sleep(1)
    assert inspect(stack, "crashy")["RestartCount"] == 2  # the policy gave up after two restarts
    docker(stack, "rm", "crashy")


@pytest.mark.needs(*DAEMON)
def test_always_restarts_a_clean_exit_but_not_a_docker_stop(stack):
    docker(stack, "run", "-d", "--name", "loop", "--restart", "always", IMAGE, "sh", "-c", "sleep 0.2")
    assert until(lambda: inspect(stack, "loop")["RestartCount"] >= 2, timeout=30)
    docker(stack, "rm", "-f", "loop")
    docker(stack, "run", "-d", "--name", "steady", "--restart", "always", IMAGE, "sleep", "600")
    docker(stack, "stop", "-t", "1", "steady")
    time.sleep(1)
    s = inspect(stack, "steady")
    assert (s["State"]["Status"], s["RestartCount"]) == ("exited", 0)
    docker(stack, "start", "steady")
    assert inspect(stack, "steady")["State"]["Running"]
    docker(stack, "rm", "-f", "steady")


@pytest.mark.needs(*DAEMON)
def test_bad_restart_policies_are_refused(stack):
    for args in (["--restart", "sometimes"], ["--restart", "always:3"]):
        done = docker(stack, "create", *args, IMAGE, "true", check=False)
        assert done.returncode != 0 and "restart" in done.stderr, done.stderr
    assert docker(stack, "ps", "-aq").stdout == ""


# --- memory, PID 1, pids -------------------------------------------------------------------------
@pytest.mark.needs(*DAEMON)
def test_oom_kill_is_counted_logged_and_reported(stack):
    with failures.KernelLog() as klog:
        docker(stack, "run", "-d", "--name", "hog", "--memory", "32m", IMAGE, "sh", "-c",
               "tail /dev/zero; echo tail ended with $?; sleep 600")
        assert until(lambda: "tail ended" in docker(stack, "logs", "hog").stdout)
        pid = inspect(stack, "hog")["State"]["Pid"]
        stats = failures_cgroup_stats(pid)
        assert stats.oom_kills == 1
        assert docker(stack, "logs", "hog").stdout == "tail ended with 137\n"
        assert until(lambda: klog.grep("Memory cgroup out of memory", "(tail)"))
    docker(stack, "rm", "-f", "hog")
    done = docker(stack, "run", "--name", "hog1", "--memory", "32m", IMAGE, "tail", "/dev/zero", check=False)
    s = inspect(stack, "hog1")["State"]
    assert (done.returncode, s["ExitCode"], s["OOMKilled"]) == (137, 137, True)
    docker(stack, "rm", "hog1")


def failures_cgroup_stats(pid: int):
    from labcore import cgroups
    return cgroups.of(pid).stats()


@pytest.mark.needs(*DAEMON)
def test_when_pid_1_dies_the_kernel_kills_the_rest_of_its_namespace(stack):
    # PID 1 starts two sleepers, then crashes (stack overflow: SIGSEGV) two seconds later
    docker(stack, "run", "-d", "--name", "family", IMAGE, "sh", "-c", "sleep 600 & sleep 600 & sleep 2; f(){ f; }; f")
    pid = inspect(stack, "family")["State"]["Pid"]
    members = until(lambda: len(failures.pid_namespace_members(pid)) >= 4 and failures.pid_namespace_members(pid))
    assert pid in members and len(members) >= 3
    assert until(lambda: all(failures.state(p) == "gone" for p in members), timeout=20)
    assert until(lambda: inspect(stack, "family")["State"]["Status"] == "exited")
    assert inspect(stack, "family")["State"]["ExitCode"] == 139
    docker(stack, "rm", "family")


@pytest.mark.needs(*DAEMON)
def test_zombies_fill_the_pids_limit_and_an_init_that_reaps_prevents_it(stack):
    docker(stack, "run", "-d", "--name", "zz", "--pids-limit", "20", IMAGE, "sh", "-c", ZOMBIE_MAKER)
    docker(stack, "run", "-d", "--name", "zt", "--pids-limit", "20", "--entrypoint", "/bin/tini", IMAGE,
           "--", "sh", "-c", ZOMBIE_MAKER)
    pid, tini = inspect(stack, "zz")["State"]["Pid"], inspect(stack, "zt")["State"]["Pid"]
    assert until(lambda: failures_cgroup_stats(pid).pids_max_events, timeout=20)
    stats = failures_cgroup_stats(pid)
    # At the limit (pids.peak, where the kernel has it), and a moment below it while the loop's short-lived
    # children (the subshell, sleep 0.02) are reaped: the zombies, never reaped, hold the rest.
    assert stats.pids_peak in (20, None) and stats.pids_current >= 17 and len(failures.zombies(pid)) >= 15
    assert "can't fork" in docker(stack, "logs", "zz").stderr
    time.sleep(0.5)
    assert len(failures.zombies(tini)) <= 2 and failures_cgroup_stats(tini).pids_current < 10
    docker(stack, "rm", "-f", "zz", "zt")


# --- a network broken three ways, repaired ---------------------------------------------------------
@pytest.mark.needs("root", "netns", "nftables")
def test_route_nat_and_veth_failures_and_their_repairs():
    from labcore import net
    name = f"f{os.getpid() % 10000}"
    web = net.network.create(name)
    inet = net.internet.create(f"lab-in{name}", f"lab-up{name}")
    ep = net.endpoint.attach(f"{name}a", web.name)
    ns = Path(ep.netns).name

    def ping():
        return failures.ping(ep, inet.server)
    try:
        assert ping().returncode == 0
        failures.delete_default_route(ns)
        assert not any(r.startswith("default") for r in failures.routes(ns))
        assert "unreachable" in ping().stderr.lower()
        net.links.add_route("default", web.gateway, netns=ns)
        assert ping().returncode == 0

        rules = failures.flush_chain(web.table, "postrouting")
        assert len(rules) == 1 and "masquerade" not in net.nft.show(web.table)
        assert ping().returncode != 0  # the reply has no way back to a private address
        assert failures.restore_rules(rules) == 1 and "masquerade" in net.nft.show(web.table)
        assert ping().returncode == 0

        failures.delete_link(ep.host_link)
        assert [l["name"] for l in net.links.describe(ns)] == ["lo"]
        assert ping().returncode != 0
        failures.rewire(ep)
        assert ping().returncode == 0
    finally:
        ep.remove()
        inet.remove()
        net.network.remove(web.name)
    assert not any(l["name"] in (ep.host_link, web.bridge) for l in net.links.describe())


def test_breakers_refuse_what_is_not_the_labs(tmp_path):
    with pytest.raises(InvalidInputError):
        failures.delete_link("eth0")
    with pytest.raises(InvalidInputError):
        failures.delete_default_route("default")
    f = tmp_path / "notes"
    f.write_text("mine")
    with pytest.raises(InvalidInputError):
        failures.flip_byte(f)
    assert f.read_text() == "mine"


# --- storage ----------------------------------------------------------------------------------------
@pytest.mark.needs("root")
def test_a_flipped_byte_in_a_layer_blob_is_caught_by_its_digest():
    from labcore.fs import Scratch
    from labcore.images.layout import DigestMismatchError, Layout
    with Scratch("f14-digest") as work:
        images.busybox_rootfs(work / "ctx" / "rootfs", applets=["sh"])
        (work / "ctx" / "Dockerfile").write_text('FROM scratch\nCOPY rootfs/ /\n')
        images.build(work / "ctx" / "Dockerfile", work / "ctx", work / "layout", "v1", cache=work / "cache")
        layout = Layout.open(work / "layout")
        layer = layout.image("v1").layers[0]
        layout.verify(layer["digest"])
        broken = failures.flip_byte(layout.blob_path(layer["digest"]))
        with pytest.raises(DigestMismatchError, match=layer["digest"]):
            layout.verify(layer["digest"])
        broken.undo()
        layout.verify(layer["digest"])


@pytest.mark.needs("root")
def test_kernel_log_returns_only_what_comes_after_it_was_opened():
    with open("/dev/kmsg", "w") as k:
        k.write("labcore-test: before\n")
    with failures.KernelLog() as klog:
        with open("/dev/kmsg", "w") as k:
            k.write(f"labcore-test: after {os.getpid()}\n")
        assert until(lambda: klog.grep("labcore-test"), timeout=5) == [f"labcore-test: after {os.getpid()}"]
