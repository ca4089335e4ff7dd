"""The whole test suite, in the order `make test` runs it.

1. the leak check's "before" snapshot of the host;
2. unit tests as the user nobody (they must not need root), then unit and
   integration tests as root (skips must be justified by the doctor);
3. nbval on every notebook with the lab kernel and the sanitizer file;
4. the unprivileged pass: every notebook executed as the user nobody;
5. the leak check's "after": any difference from step 1 fails the run.

Every step runs even if an earlier one failed, so one run shows everything.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import leakcheck  # noqa: E402

PY = sys.executable


def notebooks(selection: str | None = None) -> list[str]:
    if selection:
        return selection.split()
    found = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    return [str(p.relative_to(ROOT)) for p in found]


def nbval_command(selection: str | None = None) -> list[str]:
    return [PY, "-m", "pytest", "--nbval", "--nbval-kernel-name", "labcore",
            "--nbval-sanitize-with", "tests/notebooks/sanitize.cfg", "--nbval-cell-timeout", "900",
            "-p", "no:cacheprovider", "-q", *notebooks(selection)]


def unprivileged_pass() -> int:
    """Execute every notebook as nobody: each must finish, privileged demos explaining themselves."""
    user = pwd.getpwnam("nobody")
    probe = subprocess.run(["runuser", "-u", "nobody", "--", PY, "-c", f"import labcore, os; os.listdir({str(ROOT)!r})"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        print("the unprivileged pass needs the checkout and its .venv readable by nobody "
              f"(clone it outside /root): {probe.stderr.strip().splitlines()[-1:]}")
        return 1
    home = tempfile.mkdtemp(prefix="lab-unprivileged-")
    os.chown(home, user.pw_uid, user.pw_gid)
    env = [f"HOME={home}", f"PATH={os.environ['PATH']}", f"JUPYTER_RUNTIME_DIR={home}/runtime",
           f"MPLCONFIGDIR={home}/mpl", f"IPYTHONDIR={home}/ipython", f"LABCORE_STATE_DIR={home}/labcore"]
    try:
        return subprocess.run(["runuser", "-u", "nobody", "--", "env", "-i", *env, PY,
                               "tools/execute_notebooks.py", *notebooks()], cwd=ROOT).returncode
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str]) -> int:
    os.chdir(ROOT)
    if argv[:1] == ["nbval"]:  # make test-notebooks [NOTEBOOKS="..."]
        return subprocess.run(nbval_command(" ".join(argv[1:]) or None)).returncode
    steps = [
        ("unit tests as nobody", lambda: subprocess.run(
            ["runuser", "-u", "nobody", "--", "env", "-i", "HOME=/tmp", f"PATH={os.environ['PATH']}",
             PY, "-m", "pytest", "-q", "tests/unit"]).returncode),
        ("unit and integration tests", lambda: subprocess.run([PY, "-m", "pytest", "tests/unit", "tests/integration"]).returncode),
        ("notebooks under nbval", lambda: subprocess.run(nbval_command()).returncode),
        ("notebooks as nobody", unprivileged_pass),
    ]
    before = leakcheck.snapshot()
    results = []
    for name, step in steps:
        print(f"\n===== {name} =====", flush=True)
        start = time.monotonic()
        code = step()
        results.append((name, code, time.monotonic() - start))
    print("\n===== leak check =====", flush=True)
    diff = leakcheck.compare(before, leakcheck.snapshot())
    print("\n".join("  " + d for d in diff) if diff else "host unchanged: " +
          ", ".join(f"{len(v)} {k}" for k, v in before.items()))
    results.append(("leak check", 1 if diff else 0, 0.0))
    print("\n===== summary =====")
    for name, code, took in results:
        print(f"{'PASS' if code == 0 else 'FAIL'}  {name:<28} {took:6.1f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
