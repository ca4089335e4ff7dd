"""PID 1 on the real kernel: dropped signals, orphans and zombies, the reaping init, tini."""

import os
import signal
import subprocess
import time

import pytest

import labcore as lab
from labcore import init, pidns

pytestmark = pytest.mark.needs("root")

ORPHANS = "for i in 1 2 3 4 5; do (sleep 0.5 &); done; exec sleep 600"


def settled(box, size, second=None):
    """Wait until the namespace holds exactly ``size`` processes, none running, and return its census.

    With ``second``, PID 2 must also run that argv: before the orphans are
    even born, the init and a starting shell are two processes too.
    """
    return pidns.census_when(box.pid, lambda c: len(c) == size and c.settled()
                             and (second is None or c.by_pid(2).args == second), f"{size} processes")


def test_pid1_without_handler_survives_sigterm_while_pid2_dies_of_it():
    with lab.spawn(["sh", "-c", "sleep 600 & exec sleep 600"], "pid") as box:
        census = settled(box, 2)
        first, second = census.by_pid(1), census.by_pid(2)
        assert first.name == second.name == "sleep" and second.ppid == 1
        assert "SIGTERM" not in first.caught | first.blocked  # no handler: default action
        os.kill(second.host_pid, signal.SIGTERM)
        os.kill(first.host_pid, signal.SIGTERM)
        # PID 2 dies, and stays a zombie: its parent, PID 1, is sleep, which never waits.
        pidns.wait_until(lambda: pidns.census(box.pid).by_pid(2).zombie, what="PID 2 to die")
        time.sleep(0.2)
        assert pidns.census(box.pid).by_pid(1).state == "S"  # the kernel dropped PID 1's SIGTERM
        assert box.poll() is None
        # From inside, even SIGKILL to PID 1 is dropped; kill(2) itself reports success.
        assert lab.enter(box.pid, ["kill", "-KILL", "1"]).returncode == 0
        assert box.wait(timeout=0.2) is None
        box.kill()  # SIGKILL from the ancestor namespace does get through
        assert box.wait(timeout=5) == 137


def test_orphans_pile_up_as_zombies_under_a_pid1_that_never_waits():
    with lab.spawn(["sh", "-c", ORPHANS], "pid") as box:
        census = pidns.census_when(box.pid, lambda c: len(c.zombies()) == 5, "5 zombies")
        assert all(z.ppid == 1 and z.args == [] for z in census.zombies())  # re-parented to PID 1
        assert census.by_pid(1).state == "S"


def test_the_lab_init_reaps_orphans_forwards_sigterm_and_passes_the_status_on():
    with lab.spawn(init.argv(["sh", "-c", ORPHANS]), "pid") as box:
        census = settled(box, 2, ["sleep", "600"])  # init and the command: the orphans came, died and were reaped
        first = census.by_pid(1)
        assert first.name == init.NAME and "SIGTERM" in first.caught and census.zombies() == []
        # Asleep in select(2) on its wakeup pipe, woken by SIGCHLD, not in a blocking wait(2),
        # which can sleep past a signal that lands just before it (bench: init_lost_sigterm).
        assert first.wchan in init.SELECT_SLEEPS and "SIGCHLD" in first.caught
        box.send_signal(signal.SIGTERM)
        assert box.wait(timeout=5) == 128 + signal.SIGTERM  # forwarded; the command died of it
    assert lab.run(init.argv(["sh", "-c", "exit 7"]), "pid").returncode == 7
    assert lab.run(init.argv(["sh", "-c", "kill -KILL $$"]), "pid").returncode == 137
    failed = lab.run(init.argv(["no-such-command-lab"]), "pid")
    assert failed.returncode == 127 and "cannot run 'no-such-command-lab'" in failed.stderr


def test_the_lab_init_as_a_subreaper_adopts_orphans_outside_a_pid_namespace():
    script = "(exec sleep 30 &); exec sleep 600"
    with lab.spawn(init.argv(["sh", "-c", script], subreaper=True), ns=()) as reaper:
        orphan = pidns.wait_until(lambda: [pidns.describe(p) for p in pidns.children(reaper.pid)
                                           if pidns.describe(p).args == ["sleep", "30"]], what="the orphan")[0]
        assert orphan.ppid == reaper.pid != 1  # adopted by the subreaper, not by the host's PID 1
        assert pidns.describe(reaper.pid).name == init.NAME
        os.kill(orphan.host_pid, signal.SIGKILL)
        pidns.wait_until(lambda: len(pidns.children(reaper.pid)) == 1, what="the orphan to be reaped")
        reaper.send_signal(signal.SIGTERM)
        assert reaper.wait(timeout=5) == 143
    with pytest.raises(lab.InvalidInputError):
        pidns.children(reaper.pid)


def test_without_subreaper_and_not_pid1_the_init_warns():
    done = subprocess.run(init.argv(["true"]), capture_output=True, text=True)
    assert done.returncode == 0 and "not PID 1 and not a subreaper" in done.stderr


@pytest.mark.needs("tool:tini")
def test_tini_reaps_as_well():
    with lab.spawn(["tini", "--", "sh", "-c", ORPHANS], "pid") as box:
        census = settled(box, 2, ["sleep", "600"])
        assert census.by_pid(1).name == "tini" and census.zombies() == []
        assert census.by_pid(1).wchan == "do_sigtimedwait"  # its signals are blocked, not caught
        box.send_signal(signal.SIGTERM)
        assert box.wait(timeout=5) == 143


def test_when_pid1_dies_the_kernel_kills_the_rest_of_its_namespace():
    with lab.spawn(["sh", "-c", "sleep 600 & exec sleep 600"], "pid") as box:
        second = settled(box, 2).by_pid(2)
        box.kill()
        box.wait(timeout=5)
        assert not lab.tracker.is_running(second.host_pid)
