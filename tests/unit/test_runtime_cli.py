"""The runtime's command line: the table's own reader agrees with argparse on every line runc's callers
send, hands everything else to argparse, and spares a verb argparse's parser building."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labcore import cli
from labcore.runtime import cli as rcli

ROOT = Path(__file__).resolve().parents[2]

# What the OCI validation suite, containerd-style shims, the daemon and the chapters send.
RUNC_LINES = [
    "runtime create x", "runtime --root /r create --bundle /b --pid-file /p x", "runtime create -b /b x --pid-file=/p",
    "runtime create x --root /s", "runtime --root=/r start x", "runtime state x", "runtime kill x",
    "runtime kill x KILL", "runtime kill x 9", "runtime delete x", "runtime delete --force x", "runtime delete -f x",
    "runtime delete x -f", "runtime list", "runtime spec", "runtime spec --bundle /b --force",
    "runtime run --console-socket /s x", "runtime exec x sh -c true", "runtime exec --tty --console-socket /s x sh",
    "runtime exec x -- sh -c true", "runtime exec -t x ls -l", "runtime exec x", "runtime exec x --tty sh",
    "runtime --root /r --root /q start x", "runtime create --bundle=/b --console-socket=/c/s.sock c-1.2_3+4",
]
# Help, mistakes and what only argparse reads (abbreviations, "--", a negative number as a signal).
OTHER_LINES = [
    "runtime", "runtime start", "runtime start x y", "runtime nosuch x", "runtime create --bund /b x",
    "runtime start -h", "runtime --help", "runtime kill x -9", "runtime create -- x", "--version runtime start x",
    "runtime delete --force=1 x", "runtime create x --pid-file", "runtime start --tty x", "doctor",
]


def by_argparse(argv):
    try:
        return vars(cli.parser("runtime", argv).parse_args(argv))
    except SystemExit as exc:
        return f"exit {exc.code}"


@pytest.mark.parametrize("line", RUNC_LINES)
def test_the_table_reader_and_argparse_agree(line):
    argv = line.split()
    fast = rcli.parse(argv)
    assert fast is not None, "runc's own lines must not need argparse"
    assert vars(fast) == by_argparse(argv)


@pytest.mark.parametrize("line", OTHER_LINES)
def test_anything_else_goes_to_argparse(line):
    assert rcli.parse(line.split()) is None


def test_main_reads_a_verb_without_building_a_parser_and_falls_back_for_the_rest(monkeypatch, tmp_path, capsys):
    built = []
    real = cli.parser
    monkeypatch.setattr(cli, "parser", lambda *a: built.append(a) or real(*a))
    # a missing container: the verb ran (LabError: 125) and no parser was built
    assert cli.main(["runtime", "--root", str(tmp_path), "state", "nosuch"]) == 125
    assert built == [] and "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["runtime", "state"])  # no ID: argparse says what is missing
    assert exc.value.code == 2 and built and "the following arguments are required: id" in capsys.readouterr().err


def test_help_is_built_from_the_same_table(capsys):
    with pytest.raises(SystemExit):
        cli.main(["runtime", "create", "--help"])
    out = capsys.readouterr().out
    for opt in rcli.VERBS["create"][2]:
        assert opt.flags[0] in out and opt.help.split(" (")[0] in out


def test_a_verb_process_loads_neither_argparse_nor_what_it_brings(tmp_path):
    """argparse itself, with gettext; what its parser building loaded (locale; shutil with bz2 and lzma)."""
    run = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime", str(ROOT / "labcore" / "__main__.py"),
                          "runtime", "--root", str(tmp_path), "state", "nosuch"],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": ""})
    assert run.returncode == 125, run.stderr
    loaded = {line.split("|")[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    assert "labcore.proc.stat" in loaded  # the listing is real: what the state module loads
    assert not {"argparse", "gettext", "locale", "shutil", "lzma", "bz2"} & loaded
