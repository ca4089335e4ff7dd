"""The test VM's pytest plugin: only cgroup v2 tests run, and a skip or an empty selection fails."""

import subprocess
import sys
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parents[2] / "tools/test-vm"


def run_pytest(tmp_path, source: str):
    (tmp_path / "test_sample.py").write_text(source)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "cgroup_v2_only", "-p", "no:cacheprovider",
                           "-W", "ignore::pytest.PytestUnknownMarkWarning", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(PLUGIN_DIR)})


def test_only_v2_tests_run_and_passing_ones_pass(tmp_path):
    done = run_pytest(tmp_path, """
import pytest
@pytest.mark.needs("root", "cgroup_v2")
def test_v2(): pass
def test_other(): raise AssertionError("must be deselected")
""")
    assert done.returncode == 0, done.stdout
    assert "1 passed, 1 deselected" in done.stdout
    assert "cgroup v2 tests selected: 1" in done.stdout
    assert "controllers enabled by the tests' cgroups:" in done.stdout


def test_a_skipped_v2_test_fails_the_run(tmp_path):
    done = run_pytest(tmp_path, """
import pytest
@pytest.mark.needs("cgroup_v2")
def test_v2(): pytest.skip("pretend the machine lacks it")
""")
    assert done.returncode == 1
    assert "FAIL: skipped inside the cgroup v2 VM: test_sample.py::test_v2" in done.stdout


def test_no_v2_test_at_all_fails_the_run(tmp_path):
    done = run_pytest(tmp_path, "def test_other(): pass\n")
    assert done.returncode == 1
    assert "no test is marked needs('cgroup_v2')" in done.stdout
