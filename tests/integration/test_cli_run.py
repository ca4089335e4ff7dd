"""`labcore run`, the learner's tool, on the real kernel."""

import os
import pwd
import shutil
import subprocess
import sys
import tempfile

import pytest

pytestmark = pytest.mark.needs("root")


def labcore(*args, **kw):
    return subprocess.run([sys.executable, "-m", "labcore", *args], capture_output=True, text=True, **kw)


def test_pid_one_and_hostname():
    done = labcore("run", "--ns", "pid,mnt,uts,ipc,net", "--hostname", "box", "--", "sh", "-c", "echo $$; hostname")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "box"]


def test_exit_status_comes_back():
    assert labcore("run", "--ns", "pid", "--", "sh", "-c", "exit 7").returncode == 7
    assert labcore("run", "--ns", "uts", "--", "sh", "-c", "kill -KILL $$").returncode == 137
    # Inside a pid namespace, not even SIGKILL from within reaches PID 1: the shell goes on.
    assert labcore("run", "--ns", "pid", "--", "sh", "-c", "kill -KILL $$; exit 3").returncode == 3


def test_stdio_passes_through():
    done = labcore("run", "--ns", "uts", "--", "sh", "-c", "read line; echo got $line; echo err >&2",
                   input="hello\n")
    assert done.stdout == "got hello\n" and done.stderr == "err\n"


def test_command_not_found_exits_127_with_a_notice():
    done = labcore("run", "--", "definitely-not-a-command")
    assert done.returncode == 127
    assert "command not found: 'definitely-not-a-command'" in done.stderr
    assert "fix:" in done.stderr and "Traceback" not in done.stderr


@pytest.fixture
def as_nobody(nobody_copy):
    """Run labcore as the unprivileged user nobody, from a copy it may read, with a home it may write to."""
    nobody = pwd.getpwnam("nobody")
    home = tempfile.mkdtemp(prefix="lab-nobody-")
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    env = {"PATH": os.environ["PATH"], "HOME": home}

    def run(*args):
        return subprocess.run([nobody_copy.python, "-m", "labcore", *args], capture_output=True, text=True,
                              env=env, cwd=home, user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[])
    yield run
    shutil.rmtree(home)


def test_without_root_says_what_it_needs(as_nobody):
    done = as_nobody("run", "--ns", "pid,net", "--", "true")
    assert done.returncode == 125, done.stderr
    assert "PrivilegeError" in done.stderr and "not root" in done.stderr
    assert "fix:" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.needs("userns_unprivileged")
def test_unprivileged_user_namespace_works_for_nobody(as_nobody):
    done = as_nobody("run", "--ns", "user,pid,uts", "--hostname", "mine", "--", "sh", "-c", "id -u; echo $$; hostname")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "1", "mine"]


def test_doctor_reports_cgroup_mode_and_controllers():
    done = labcore("doctor")
    assert done.returncode == 0
    from labcore import doctor
    mode = doctor.cgroup_mode()
    line = next(line for line in done.stdout.splitlines() if "cgroups" in line)
    assert mode in line
    for controller in doctor.v1_controllers():
        assert controller in line
