"""The course VM keeps the learner's work: /vagrant is the source, JupyterLab serves the learner's own copy.

course-vm.sh and the Vagrantfile are read as text (no VM here); the seeding command itself is run
on temporary directories, so what it does to a learner's changed notebook is observed, not assumed.
"""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COURSE_VM = (ROOT / "provision/course-vm.sh").read_text()
VAGRANTFILE = (ROOT / "Vagrantfile").read_text()


def seeding_command() -> str:
    """The rsync line of course-vm.sh that fills the learner's copy, continuation lines joined."""
    joined = COURSE_VM.replace("\\\n", " ")
    lines = [line.strip() for line in joined.splitlines() if re.search(r"\brsync\b.*\$WORK", line)
             and not line.lstrip().startswith("#")]
    assert len(lines) == 1, lines
    return lines[0]


def variable(name: str) -> str:
    found = re.findall(rf"^{name}=(\$\([^)]*\)|\S+)", COURSE_VM, re.M)
    assert len(found) == 1, (name, found)
    return found[0]


def test_the_learners_copy_is_in_their_home_and_the_source_is_vagrant():
    assert variable("LAB") == "/vagrant"
    assert variable("LEARNER_HOME") == "$(getent passwd vagrant | cut -d: -f6)"
    assert variable("WORK") == "$LEARNER_HOME/docker-internals-lab"


def test_seeding_never_overwrites_nor_deletes_and_runs_as_the_learner():
    cmd = seeding_command()
    assert cmd.startswith("runuser -u vagrant -- rsync ")
    words = cmd.split()
    assert "--ignore-existing" in words
    assert not any(w.startswith(("--delete", "--remove", "--existing", "--backup", "--inplace")) for w in words)
    assert '"$LAB/notebooks/" "$WORK/"' in cmd


def test_jupyterlab_serves_the_learners_copy():
    unit = COURSE_VM.split("labcore-jupyter.service <<UNIT", 1)[1].split("\nUNIT\n", 1)[0]
    assert "WorkingDirectory=$WORK\n" in unit
    assert "--ServerApp.root_dir=$WORK " in unit
    assert "User=vagrant\n" in unit
    assert "$LAB/notebooks" not in unit


def test_kernelspec_and_sudoers_get_the_same_learner_home():
    assert 'install_kernel(sudo=True, learner_home=sys.argv[1])' in COURSE_VM
    assert 'sudoers("vagrant", learner_home=sys.argv[1])' in COURSE_VM
    assert COURSE_VM.count("' \"$LEARNER_HOME\"") == 2          # both given the same argument
    assert "install-kernel --sudo" not in COURSE_VM               # the CLI would take root's home


def test_the_source_is_root_owned_and_read_only_to_the_learner():
    folder = VAGRANTFILE.split('config.vm.synced_folder ".", "/vagrant"', 1)[1].split("\n\n", 1)[0]
    assert 'type: "rsync"' in folder and 'owner: "root"' in folder and 'group: "root"' in folder
    args = re.search(r"rsync__args: \[([^\]]*)\]", folder).group(1)
    assert '"--chmod=go-w,a+rX"' in args
    for default in ("--archive", "--delete", "--copy-links"):   # Vagrant's defaults, which rsync__args replaces
        assert f'"{default}"' in args


@pytest.mark.needs("tool:rsync")  # provision/provision.sh installs it
def test_the_seeding_command_keeps_what_the_learner_has(tmp_path):
    lab, work = tmp_path / "vagrant", tmp_path / "home/vagrant/docker-internals-lab"
    (lab / "notebooks/deep-dives/.ipynb_checkpoints").mkdir(parents=True)
    for name, text in {"01.ipynb": "course 01", "02.ipynb": "course 02 v2", "03-new.ipynb": "course 03",
                       "deep-dives/A.ipynb": "course A", "deep-dives/.ipynb_checkpoints/A-checkpoint.ipynb": "x"
                       }.items():
        (lab / "notebooks" / name).write_text(text)
    work.mkdir(parents=True)
    (work / "01.ipynb").write_text("learner's 01, changed")
    (work / "02.ipynb").write_text("course 02 v1")             # unchanged, but older: still not replaced
    (work / "scratch.ipynb").write_text("the learner's own")
    (work / "01.ipynb").chmod(0o600)
    cmd = seeding_command().removeprefix("runuser -u vagrant -- ")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", cmd], env={"LAB": str(lab), "WORK": str(work),
                          "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (work / "01.ipynb").read_text() == "learner's 01, changed"
    assert (work / "01.ipynb").stat().st_mode & 0o777 == 0o600
    assert (work / "02.ipynb").read_text() == "course 02 v1"
    assert (work / "03-new.ipynb").read_text() == "course 03"           # a new chapter arrives
    assert (work / "deep-dives/A.ipynb").read_text() == "course A"
    assert (work / "scratch.ipynb").read_text() == "the learner's own"  # nothing deleted
    assert not (work / "deep-dives/.ipynb_checkpoints").exists()
    assert "03-new.ipynb" in done.stdout and "01.ipynb" not in done.stdout
    (work / "03-new.ipynb").unlink()                                    # a fresh copy of one chapter
    subprocess.run(["bash", "-euo", "pipefail", "-c", cmd], env={"LAB": str(lab), "WORK": str(work),
                   "PATH": "/usr/bin:/bin"}, check=True, capture_output=True, timeout=60)
    assert (work / "03-new.ipynb").read_text() == "course 03"
    assert (work / "01.ipynb").read_text() == "learner's 01, changed"


def test_fresh_copy_one_liner_in_the_docs_matches_the_paths():
    readme = (ROOT / "README.md").read_text()
    line = "cp --backup=numbered /vagrant/notebooks/04a-namespaces-pid.ipynb ~/docker-internals-lab/"
    assert line in readme and line in VAGRANTFILE
    assert (ROOT / "notebooks/04a-namespaces-pid.ipynb").exists()
