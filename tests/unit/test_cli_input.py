"""Bad input on the command line: a short notice, the right exit status, no traceback."""

import subprocess
import sys


def labcore(*args):
    return subprocess.run([sys.executable, "-m", "labcore", *args], capture_output=True, text=True)


def test_unknown_namespace_is_named_with_the_fix():
    done = labcore("run", "--ns", "pid,bogus", "--", "true")
    assert done.returncode == 125
    assert "unknown namespace kind 'bogus'" in done.stderr
    assert "fix:" in done.stderr and "Traceback" not in done.stderr


def test_hostname_without_uts_is_refused():
    done = labcore("run", "--ns", "pid", "--hostname", "box", "--", "true")
    assert done.returncode == 125 and "uts" in done.stderr and "Traceback" not in done.stderr


def test_no_command():
    done = labcore("run", "--ns", "pid")
    assert done.returncode == 125 and "no command given" in done.stderr


def test_help_lists_the_commands():
    done = labcore("--help")
    for word in ("doctor", "run", "cleanup", "install-kernel"):
        assert word in done.stdout
