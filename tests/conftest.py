"""Test harness shared by unit and integration tests.

``@pytest.mark.needs("root", "netns")`` names what a test needs from the
machine, in the doctor's vocabulary; a missing feature skips the test with
the doctor's own reason. At the end the run lists every skip, and any skip
that did not come from a ``needs`` marker fails the run: a test may only
be skipped because this machine truly lacks something.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from labcore import doctor  # noqa: E402

NEEDS_PREFIX = "needs "


def pytest_runtest_setup(item):
    for marker in item.iter_markers("needs"):
        missing = [f for f in marker.args if not doctor.has(f)]
        if missing:
            pytest.skip(NEEDS_PREFIX + "; ".join(doctor.why_not(f) for f in missing))


def _skip_reason(report) -> str:
    if isinstance(report.longrepr, tuple):
        return report.longrepr[2].removeprefix("Skipped: ")
    return str(report.longrepr)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        terminalreporter.write_line("skipped tests: none")
        return
    terminalreporter.section(f"skipped tests ({len(skipped)}), with the doctor's reason")
    for report in skipped:
        reason = _skip_reason(report)
        justified = reason.startswith(NEEDS_PREFIX)
        terminalreporter.write_line(f"{'' if justified else 'UNJUSTIFIED '}{report.nodeid}: {reason}")


def pytest_sessionfinish(session, exitstatus):
    # Runs before the summary is printed, so check the skips here as well.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if any(not _skip_reason(r).startswith(NEEDS_PREFIX) for r in skipped):
        session.exitstatus = 1


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    """A private tracker state directory, so a test's cleanup touches only its own records."""
    path = tmp_path / "state"
    monkeypatch.setenv("LABCORE_STATE_DIR", str(path))
    return path



@pytest.fixture(params=["nsexec", "fork"])
def spawn_path(request):
    """Run a test both ways: through the C helper, and through the Python fork it stands in for."""
    from labcore import process
    if request.param == "fork":
        with process.python_road():
            yield request.param
    else:
        yield request.param
