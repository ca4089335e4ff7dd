"""binder/postBuild for real, in a fresh environment standing in for mybinder's image.

mybinder installs binder/requirements.txt, then runs postBuild from the
repository's root. Here the fresh venv borrows the installed requirements
from ours (a .pth file: nothing big to download), and postBuild runs on a
copy of the checkout, as an ordinary user, with its own HOME.
"""

import json
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def nobody_tmp():
    """A directory nobody can reach (pytest's tmp_path sits in root's private directory)."""
    path = Path(tempfile.mkdtemp(prefix="lab-binder-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.needs("root")  # to run postBuild as nobody, the unprivileged user Binder would use
def test_postbuild_makes_the_lab_kernel_usable_by_an_ordinary_user(nobody_tmp, nobody_copy):
    tmp_path = nobody_tmp
    nobody = pwd.getpwnam("nobody")
    repo, env, home = tmp_path / "repo", tmp_path / "env", tmp_path / "home"
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    # Without a pip of its own: the borrowed one installs into this env.
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(env)], check=True)
    site = next(env.glob("lib/python3*/site-packages"))
    # The requirements come from the venv's packages as nobody may read them (the checkout's own
    # venv may be out of its reach).
    (site / "lab-borrowed-requirements.pth").write_text(str(nobody_copy.base / "site-packages") + "\n")
    home.mkdir()
    for path in (tmp_path, repo, env, home):
        subprocess.run(["chown", "-R", f"{nobody.pw_uid}:{nobody.pw_gid}", str(path)], check=True)
    # pip fetches only the build backend (setuptools>=77) from the package index, as `make setup` does.
    run_env = {"PATH": f"{env}/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    done = subprocess.run(["runuser", "-u", "nobody", "--", "env", "-i", *[f"{k}={v}" for k, v in run_env.items()],
                           "bash", "binder/postBuild"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "labcore" in done.stdout  # postBuild's last step lists the kernelspecs
    spec = json.loads((env / "share/jupyter/kernels/labcore/kernel.json").read_text())
    assert spec["argv"][0] == str(env / "bin/python") and "sudo" not in spec["argv"]
    # The kernel's interpreter imports labcore from the copy, with the lab's extension.
    probe = subprocess.run(["runuser", "-u", "nobody", "--", spec["argv"][0], "-c",
                            "import labcore, labcore.ipython; print(labcore.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, env={"HOME": str(home), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == str(repo / "labcore/__init__.py")
