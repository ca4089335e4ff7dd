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


@pytest.fixture(scope="session")
def nobody_copy():
    """The working tree and the venv's packages where nobody may read them (suite.NobodyCopy):
    the checkout itself may sit in a directory nobody cannot enter, as root's home is."""
    import suite  # tests/suite.py; imported here only: it snapshots nothing when imported, but is heavy
    copy = suite.NobodyCopy()
    yield copy
    copy.remove()


@pytest.fixture(autouse=True)
def progress_file(tmp_path, monkeypatch):
    """Quizzes and exercises the tests answer go to a file of the test's own, never the learner's."""
    path = tmp_path / "progress.json"
    monkeypatch.setenv("LABCORE_PROGRESS", str(path))
    return path


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    """A private tracker state directory, so a test's cleanup touches only its own records."""
    path = tmp_path / "state"
    monkeypatch.setenv("LABCORE_STATE_DIR", str(path))
    return path



@pytest.fixture(params=["helper", "python"])
def spawn_path(request, monkeypatch):
    """Run a test both ways: through the C helper, and through the Python fork it stands in for.

    Yields the road ("helper" or "python"). Spawns that name no ``via`` take
    this road where their plan allows it (a user namespace or a function
    always goes the Python way); at the end, every process the test started
    must have taken it, so the helper run cannot silently fork Python.
    """
    from labcore import doctor
    from labcore.ns import helper, process
    road = request.param
    if road == "helper":
        assert doctor.has("nsexec"), doctor.why_not("nsexec")
    original, taken = process._start, []

    def start(p, payload, kinds, capture, env, cgroup=None, via=None, k=None):
        chosen = via if via is not None else road if helper.can_start(p, payload) else "python"
        proc = original(p, payload, kinds, capture, env, cgroup=cgroup, via=chosen, k=k)
        taken.append((chosen, proc.via))
        return proc
    monkeypatch.setattr(process, "_start", start)
    yield road
    assert all(asked == got for asked, got in taken), taken
    if road == "python":
        assert all(got == "python" for _, got in taken), taken
