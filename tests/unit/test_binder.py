"""binder/ gives mybinder what it needs: the same dependencies as pyproject.toml, and the lab kernel."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _requirements() -> set[str]:
    lines = (ROOT / "binder/requirements.txt").read_text().splitlines()
    return {line.replace(" ", "") for line in lines if line.strip() and not line.startswith("#")}


def test_requirements_mirror_the_dependencies_and_the_lab_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {d.replace(" ", "") for d in project["dependencies"] + project["optional-dependencies"]["lab"]}
    assert _requirements() == wanted


def test_postbuild_installs_labcore_without_dependencies_and_the_kernelspec():
    script = (ROOT / "binder/postBuild").read_text()
    assert script.startswith("#!/bin/bash") and "set -euo pipefail" in script
    assert re.search(r"pip install --no-deps -e \.", script)
    assert "labcore install-kernel" in script and "--sudo" not in script  # no root on Binder
    assert (ROOT / "binder/postBuild").stat().st_mode & 0o111


def test_runtime_python_satisfies_requires_python():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    version = (ROOT / "binder/runtime.txt").read_text().strip().removeprefix("python-")
    assert project["requires-python"] == ">=3.11" and tuple(map(int, version.split("."))) >= (3, 11)
