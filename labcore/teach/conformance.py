"""The OCI runtime validation suite, a few of its tests run live against two runtimes. Chapter 13.

The Open Container Initiative publishes, next to its runtime spec, a suite
of test programs (runtime-tools, ``validation/*/*.t``). Each one:

1. writes a bundle in a fresh ``/tmp/ocitest*`` directory: a small root
   filesystem, a ``config.json`` made by the suite's generator with the one
   setting under test (a hostname, a sysctl, a masked path...), and a copy
   of ``runtimetest``, a static Go program, at the root;
2. drives the runtime named by ``$RUNTIME`` through its command line only,
   runc's verbs: ``create``, ``start``, ``state``, ``kill``, ``delete``;
3. where the setting can only be seen from inside, runs ``runtimetest`` as
   the container's process: it reads ``/config.json`` (the bundle *is* the
   root filesystem: ``root.path`` is ``.``) and compares it with what it
   finds in /proc, its mounts, its hostname, its credentials; it reports in
   TAP ("ok 1 - ...", "not ok 2 - ..."), on the stdout ``create`` gave it,
   and the outer test folds that report into its own TAP.

So a runtime passes by making the container the config describes, and
nothing about how it does it is tested. ``make conformance`` runs all the
tests against labcore's runtime and runc (``tools/conformance.py`` builds
the suite once into a cache outside the checkout, about a minute); this
module reuses that script's functions to run a handful of tests in a
notebook, each runtime with a state root of its own in the caller's
scratch directory, and clears whatever a failing test leaves (mounts under
``/tmp/ocitest*``, cgroups named ``testdir``/``cgrouptest``).

Where the suite is not built (a user's clone, the course VM), ``available()``
says why, and ``side_by_side`` returns a table that says so instead of rows.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..check import Check

CHECKOUT = Path(__file__).resolve().parents[2]
SCRIPT = CHECKOUT / "tools" / "conformance.py"


def _script():
    """tools/conformance.py as a module (it is a script of the checkout, not part of the package)."""
    spec = importlib.util.spec_from_file_location("labcore_conformance_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def suite() -> Path | None:
    """The built copy of the suite in the cache, or None when it has not been built here."""
    if not SCRIPT.is_file():
        return None
    copy = _script().CACHE / "runtime-tools"
    if (copy / ".labcore-built").exists() and (copy / "runtimetest").exists():
        return copy
    return None


def check_suite() -> Check:
    """Doctor feature ``conformance_suite``: is the OCI validation suite built on this machine?"""
    copy = suite()
    if copy is not None:
        tests = len(list(copy.glob("validation/*/*.t")))
        return Check("OCI validation suite", True, f"built in {copy}: {tests} tests")
    if not SCRIPT.is_file():
        return Check("OCI validation suite", False, "tools/conformance.py is not in this installation",
                     "run the chapter from a checkout of the lab")
    source = _script().SOURCE
    if not source.is_dir():
        return Check("OCI validation suite", False, f"its source is not here ({source} is absent: it comes with the "
                     "project's ../shared directory, which a user's clone and the course VM do not have)",
                     "read `make conformance`'s results in the chapter's text")
    return Check("OCI validation suite", False, f"not built yet (the cache {_script().CACHE} has no build)",
                 "run `make conformance` once as root: it builds the suite (a minute or two) and runs it")


@dataclass
class Table:
    """Tests by runtime: ``rows[test][runtime] = (result, why)``; or ``skipped``, the reason none ran."""

    runtimes: list[str]
    rows: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    skipped: str = ""
    leftovers: list[str] = field(default_factory=list)

    def passes(self, runtime: str) -> list[str]:
        return [t for t, row in self.rows.items() if row[runtime][0] == "pass"]

    @property
    def regressions(self) -> list[str]:
        """Tests runc passes and labcore does not."""
        return [t for t, row in self.rows.items() if row["runc"][0] == "pass" and row["labcore"][0] != "pass"]

    def __repr__(self) -> str:
        if self.skipped:
            return f"not run on this machine: {self.skipped}"
        out = [f"{'test':<30}" + "".join(f"{n:<10}" for n in self.runtimes)]
        for test, row in self.rows.items():
            why = "; ".join(f"{n}: {row[n][1]}" for n in self.runtimes if row[n][0] != "pass" and row[n][1])
            out.append(f"{test:<30}" + "".join(f"{row[n][0]:<10}" for n in self.runtimes) + why[:120])
        out.append("passed: " + ", ".join(f"{n} {len(self.passes(n))} of {len(self.rows)}" for n in self.runtimes))
        return "\n".join(out)


def side_by_side(tests: list[str], work: str | Path, timeout: float = 120) -> Table:
    """Run each test of the suite against runc and labcore's runtime, one after the other.

    ``work`` (a directory of the caller's, removed by it) holds the two
    wrapper executables and the runtimes' state roots. Used by chapter 13.
    """
    runc = shutil.which("runc")
    names = ["runc", "labcore"]
    copy = suite()
    if copy is None or runc is None:
        reason = check_suite() if copy is None else Check("runc", False, "runc is not installed", "make provision")
        return Table(names, skipped=f"{reason.name}: {reason.detail} (fix: {reason.fix})")
    script = _script()
    script.TIMEOUT = timeout  # slow machines (a VM under emulation) get longer than the script's default
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    roots = {"runc": work / "state-runc", "labcore": work / "state-labcore"}
    argv = {"runc": [runc, "--root", str(roots["runc"])],
            "labcore": [str(CHECKOUT / "tools" / "labcore-runtime"), "--root", str(roots["labcore"])]}
    exe = {n: script.wrapper(work, n, argv[n]) for n in names}
    table = Table(names)
    table.leftovers += script.clear_leftovers({n: (argv[n], roots[n]) for n in names})
    for test in tests:
        path = copy / "validation" / test / f"{test}.t"
        if not path.is_file():
            from ..errors import InvalidInputError
            raise InvalidInputError(f"the suite has no test {test!r}",
                                    f"tests are the names under {copy / 'validation'}")
        row = {}
        for n in names:
            result, why, _ = script.run_one(copy, path, exe[n])
            row[n] = (result, why)
            table.leftovers += script.clear_leftovers({n: (argv[n], roots[n])})
        table.rows[test] = row
    return table


def tap(test: str, work: str | Path, runtime: str = "labcore", timeout: float = 120) -> str:
    """The raw TAP a test prints against one runtime (what ``prove`` would read). Used by chapter 13."""
    import os
    import subprocess
    copy = suite()
    if copy is None:
        return f"not run on this machine: {check_suite().detail}"
    script = _script()
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    root = work / f"state-{runtime}"
    argv = ([shutil.which("runc") or "runc"] if runtime == "runc" else [str(CHECKOUT / "tools" / "labcore-runtime")]) \
        + ["--root", str(root)]
    exe = script.wrapper(work, runtime, argv)
    try:
        done = subprocess.run([str(copy / "validation" / test / f"{test}.t")], cwd=copy,
                              env=dict(os.environ, RUNTIME=str(exe)), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout)
        return done.stdout.decode(errors="replace")
    finally:
        script.clear_leftovers({runtime: (argv, root)})


__all__ = ["suite", "check_suite", "side_by_side", "tap", "Table"]
