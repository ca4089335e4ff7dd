"""The lab kernelspec and the course VM's sudoers rule for it (pure: no root, no kernel started)."""

import os
import re
import shutil
import subprocess

import pytest

from labcore.teach import jupyter
from labcore.teach.jupyter import CONNECTION_FILE_RE, kernelspec, root_environment, sudoers, sudoers_arguments

PY = "/vagrant/.venv/bin/python"
LEARNER = "/home/vagrant"
PROGRESS = "/home/vagrant/.local/share/docker-internals-lab/progress.json"
CONNECTION = "/home/vagrant/.local/share/jupyter/runtime/kernel-3f2a9c1e-77aa-4d0b-9f5e-0c1d2e3f4a5b.json"


def visudo() -> str:
    found = shutil.which("visudo", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    assert found, "visudo missing: make provision installs sudo"
    return found


def test_plain_kernel_is_this_python_with_the_extension():
    argv = kernelspec(python=PY)["argv"]
    assert argv == [PY, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--ext", "labcore.ipython"]
    assert kernelspec()["display_name"] == "Docker Internals Lab"


def test_sudo_kernel_gets_only_an_explicit_environment():
    argv = kernelspec(sudo=True, python=PY)["argv"]
    assert argv[:4] == ["sudo", "--non-interactive", "/usr/bin/env", "-i"]
    assert "-E" not in argv and not any(a.startswith("--preserve-env") for a in argv)
    env = dict(w.split("=", 1) for w in argv[4:argv.index(PY)])
    assert env == dict(w.split("=", 1) for w in root_environment(PY))
    assert set(env) == {"PATH", "HOME", "LANG", "IPYTHONDIR", "MPLCONFIGDIR", "LABCORE_PROGRESS"}
    assert env["HOME"] == "/root" and env["IPYTHONDIR"].startswith("/var/lib/labcore/")
    assert env["PATH"].split(":")[0] == "/vagrant/.venv/bin"
    assert argv[argv.index(PY):] == kernelspec(python=PY)["argv"]


def test_the_root_kernel_keeps_progress_in_the_learners_home():
    argv = kernelspec(sudo=True, python=PY, learner_home=LEARNER)["argv"]
    env = dict(w.split("=", 1) for w in argv[4:argv.index(PY)])
    assert env["LABCORE_PROGRESS"] == PROGRESS
    assert env["HOME"] == "/root"                      # only the progress file is the learner's
    assert "LABCORE_PROGRESS" not in " ".join(kernelspec(python=PY)["argv"])   # not in the plain kernel
    assert jupyter.progress_file("/home/vagrant/") == PROGRESS


def test_the_learners_home_defaults_to_the_invoking_users(monkeypatch):
    import pwd
    me = pwd.getpwuid(os.getuid())
    monkeypatch.delenv("SUDO_USER", raising=False)
    assert jupyter.invoking_home() == me.pw_dir
    env = dict(w.split("=", 1) for w in root_environment(PY))
    assert env["LABCORE_PROGRESS"] == f"{me.pw_dir.rstrip('/')}/.local/share/docker-internals-lab/progress.json"
    # root through sudo: the home of the user behind sudo (here: nobody's, a user every system has)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("SUDO_USER", "nobody")
    assert jupyter.invoking_home() == pwd.getpwnam("nobody").pw_dir
    monkeypatch.setenv("SUDO_USER", "no-such-user-for-labcore")
    assert jupyter.invoking_home() == me.pw_dir


def test_install_kernel_writes_the_learners_progress_file(tmp_path):
    import json
    path = jupyter.install_kernel(prefix=str(tmp_path), sudo=True, learner_home=LEARNER)
    argv = json.loads((tmp_path / "share/jupyter/kernels/labcore/kernel.json").read_text())["argv"]
    assert path.endswith("labcore") and f"LABCORE_PROGRESS={PROGRESS}" in argv
    assert argv == kernelspec(sudo=True, learner_home=LEARNER)["argv"]   # this Python's, as course-vm.sh's venv


def _allowed(args: list[str]) -> bool:
    """What sudo does with the rule's arguments: one POSIX ERE against the words joined by spaces.

    The rule's expression uses only what Python's re and POSIX ERE read alike."""
    return re.fullmatch(sudoers_arguments(PY, LEARNER), " ".join(args)) is not None


def test_the_rule_allows_exactly_the_kernel_command():
    argv = kernelspec(sudo=True, python=PY, learner_home=LEARNER)["argv"]
    after_env = argv[argv.index("/usr/bin/env") + 1:]
    real = [CONNECTION if a == "{connection_file}" else a for a in after_env]
    assert _allowed(real)
    assert _allowed([a.replace(CONNECTION, "/root/.local/share/jupyter/runtime/kernel-1.json") for a in real])
    i = real.index(CONNECTION)
    smuggled = [  # what a wildcard (*) would have let through
        real[:i] + ["/x.json", "--IPKernelApp.exec_lines=import os", "/y.json"] + real[i + 1:],
        real[:i] + ["/x.json --IPKernelApp.exec_lines=x /y.json"] + real[i + 1:],
        real + ["--IPKernelApp.exec_lines=import os"],
        [a.replace("HOME=/root", "HOME=/home/vagrant") for a in real],
        real[:1] + ["JUPYTER_TOKEN=x"] + real[1:],
        [a.replace("/var/lib/labcore/ipython", "/tmp/ipython") for a in real],
        [a.replace(PY, "/tmp/python") for a in real],
        [a.replace(CONNECTION, "kernel.json") for a in real],      # relative
        real[1:],                                                   # without -i: sudo's environment kept
        [a.replace(PROGRESS, "/etc/shadow") for a in real],         # root writing elsewhere
        [a.replace(PROGRESS, "/home/vagrantX/.local/share/docker-internals-lab/progress.json") for a in real],
        [a for a in real if not a.startswith("LABCORE_PROGRESS=")],
    ]
    for args in smuggled:
        assert not _allowed(args), args
    assert re.fullmatch(CONNECTION_FILE_RE, CONNECTION)


def test_sudoers_text_is_one_rule_that_visudo_accepts(tmp_path):
    text = sudoers("vagrant", PY, LEARNER)
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert rules == [f"vagrant ALL=(root) NOPASSWD: /usr/bin/env {sudoers_arguments(PY, LEARNER)}"]
    assert jupyter._ere(f"LABCORE_PROGRESS={PROGRESS}") in rules[0]
    path = tmp_path / "labcore"
    path.write_text(text)
    done = subprocess.run([visudo(), "-cf", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    path.write_text(text.replace("NOPASSWD:", "NOPASSWD"))   # visudo does reject a broken file
    assert subprocess.run([visudo(), "-cf", str(path)], capture_output=True).returncode != 0


@pytest.mark.parametrize("user, python", [("vagrant; ALL", PY), ("Vagrant", PY), ("vagrant", "python3"),
                                           ("vagrant", "/opt/my venv/bin/python"), ("vagrant", "/x/#/python")])
def test_sudoers_refuses_what_it_cannot_write_safely(user, python):
    with pytest.raises(ValueError):
        sudoers(user, python)


@pytest.mark.parametrize("home", ["/home/my user", "home/vagrant", "/home/x#y", "/home/v\nvagrant ALL=(ALL) ALL"])
def test_sudoers_refuses_a_learner_home_it_cannot_write_safely(home):
    with pytest.raises(ValueError):
        sudoers("vagrant", PY, home)


def test_the_rule_and_the_kernelspec_agree_by_default():
    """course-vm.sh gives both the same home; left to their defaults, both take the invoking user's."""
    argv = kernelspec(sudo=True, python=PY)["argv"]
    after_env = argv[argv.index("/usr/bin/env") + 1:]
    real = " ".join(CONNECTION if a == "{connection_file}" else a for a in after_env)
    assert re.fullmatch(sudoers_arguments(PY), real)
