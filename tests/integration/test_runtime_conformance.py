"""The OCI validation suite side by side (tools/conformance.py): a test runc passes must pass for us too.

The whole suite takes several minutes with both runtimes (see the report of
``make conformance``); this runs the comparison on the lifecycle tests and a
few config checks, chosen because runc passes them all on these machines.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS = "create,state,kill,kill_no_effect,delete_only_create_resources,hostname,linux_sysctl,process_user," \
        "linux_uid_mappings,linux_masked_paths"

pytestmark = pytest.mark.needs("root", "tool:runc", "validation_suite_source")  # ../shared: not in a learner's clone


def test_every_test_runc_passes_passes_for_labcore(tmp_path):
    out = tmp_path / "results.json"
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "conformance.py"), "--only", TESTS, "--json", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert out.exists(), done.stdout + done.stderr
    results = json.loads(out.read_text())
    assert len(results["results"]) == len(TESTS.split(","))
    assert results["regressions"] == [], done.stdout
    assert results["passes"]["labcore"] >= results["passes"]["runc"]
    assert done.returncode == 0, done.stdout
    assert "runc passes, labcore does not: 0" in done.stdout
