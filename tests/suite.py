"""The whole test suite, in the order `make test` runs it.

1. the leak check's "before" snapshot of the host;
2. unit tests as the user nobody (they must not need root), then unit,
   integration and browser tests as root (skips must be justified by the doctor);
3. nbval on every notebook with the lab kernel and the sanitizer file;
4. the unprivileged pass: every notebook executed as the user nobody;
5. the leak check's "after": any difference from step 1 fails the run.

Every step runs even if an earlier one failed, so one run shows everything.

nobody works on a copy (``NobodyCopy``), never on the checkout itself, so the
suite runs wherever the checkout was cloned, even in a directory other users
cannot enter (root's home is 0700, Ubuntu's homes 0750).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
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


class NobodyCopy:
    """What nobody runs, in a temporary directory anyone may enter, whatever the checkout's own modes.

    * ``lab/``: the working tree as it is (uncommitted changes included), without .git
      and .venv, owned by root and readable by all: the tests read files beside them;
    * ``site-packages/``: the venv's installed packages, hard links to its files
      (a copy across file systems), without the editable install that points into the
      checkout;
    * ``venv/``: an empty venv of the same interpreter (no pip) whose one .pth file
      puts ``lab/`` and those packages on sys.path, with the lab kernelspec pointing
      at its own python;
    * ``home/``: nobody's HOME, the only place nobody may write.

    Removed when the suite ends. Building it takes about a second.
    """

    IGNORE = staticmethod(shutil.ignore_patterns(".git", ".venv", ".vagrant", "*.egg-info", ".ipynb_checkpoints",
                                                 ".pytest_cache"))

    def __init__(self) -> None:
        start = time.monotonic()
        self.base = Path(tempfile.mkdtemp(prefix="lab-nobody-"))
        try:
            self._build()
        except BaseException:
            self.remove()
            raise
        self.took = time.monotonic() - start

    def _build(self) -> None:
        self.base.chmod(0o755)
        self.lab = self.base / "lab"
        shutil.copytree(ROOT, self.lab, symlinks=True, ignore=self.IGNORE)
        for path in [self.lab, *self.lab.rglob("*")]:
            if not path.is_symlink():  # readable by all, whatever the umask of the clone
                path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))
        packages = self.base / "site-packages"
        shutil.copytree(sysconfig.get_paths()["purelib"], packages, symlinks=True, copy_function=_link_or_copy,
                        ignore=shutil.ignore_patterns("__editable__*"))
        venv = self.base / "venv"
        subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv)],
                       check=True)
        self.python = str(venv / "bin" / "python")
        purelib = subprocess.run([self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        Path(purelib, "lab-nobody.pth").write_text(f"{self.lab}\nimport site; site.addsitedir({str(packages)!r})\n")
        subprocess.run([self.python, "-m", "labcore", "install-kernel"], check=True, stdout=subprocess.DEVNULL)
        user = pwd.getpwnam("nobody")
        self.home = self.base / "home"
        self.home.mkdir(mode=0o700)
        os.chown(self.home, user.pw_uid, user.pw_gid)

    def run(self, argv: list[str], **env: str) -> int:
        """``python argv...`` as nobody in ``lab/``, with a small environment of its own."""
        base = {"HOME": str(self.home), "PATH": os.environ["PATH"], "LANG": "C.UTF-8"}
        words = [f"{k}={v}" for k, v in {**base, **env}.items()]
        return subprocess.run(["runuser", "-u", "nobody", "--", "env", "-i", *words, self.python, *argv],
                              cwd=self.lab).returncode

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)


def unit_tests_as_nobody(copy: NobodyCopy) -> int:
    return copy.run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"])


def unprivileged_pass(copy: NobodyCopy) -> int:
    """Execute every notebook as nobody: each must finish, privileged demos explaining themselves."""
    home = copy.home
    return copy.run(["tools/execute_notebooks.py", *notebooks()], JUPYTER_RUNTIME_DIR=f"{home}/runtime",
                    MPLCONFIGDIR=f"{home}/mpl", IPYTHONDIR=f"{home}/ipython", LABCORE_STATE_DIR=f"{home}/labcore")


def main(argv: list[str]) -> int:
    os.chdir(ROOT)
    # Quizzes and exercises that the runs display or check must not write the maintainer's progress file.
    scratch = tempfile.mkdtemp(prefix="lab-progress-")
    os.environ["LABCORE_PROGRESS"] = os.path.join(scratch, "progress.json")
    try:
        return _main(argv)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _main(argv: list[str]) -> int:
    if argv[:1] == ["nbval"]:  # make test-notebooks [NOTEBOOKS="..."]
        return subprocess.run(nbval_command(" ".join(argv[1:]) or None)).returncode
    copy: NobodyCopy | None = None

    def as_nobody(step):
        def run() -> int:
            nonlocal copy
            if copy is None:
                copy = NobodyCopy()
                print(f"(nobody's copy of the checkout and venv: {copy.base}, made in {copy.took:.1f} s)", flush=True)
            return step(copy)
        return run

    steps = [
        ("unit tests as nobody", as_nobody(unit_tests_as_nobody)),
        ("unit, integration, browser",
         lambda: subprocess.run([PY, "-m", "pytest", "tests/unit", "tests/integration", "tests/browser"]).returncode),
        ("notebooks under nbval", lambda: subprocess.run(nbval_command()).returncode),
        ("notebooks as nobody", as_nobody(unprivileged_pass)),
    ]
    before = leakcheck.snapshot()
    results = []
    try:
        for name, step in steps:
            print(f"\n===== {name} =====", flush=True)
            start = time.monotonic()
            try:
                code = step()
            except (OSError, subprocess.CalledProcessError) as exc:
                print(f"{name}: {exc}", flush=True)
                code = 1
            results.append((name, code, time.monotonic() - start))
    finally:
        if copy is not None:
            copy.remove()
    print("\n===== leak check =====", flush=True)
    diff = leakcheck.compare(before, leakcheck.snapshot())
    print("\n".join("  " + d for d in diff) if diff else "host unchanged: " +
          ", ".join(f"{len(before[k])} {k}" for k in leakcheck.PROBES))
    results.append(("leak check", 1 if diff else 0, 0.0))
    print("\n===== summary =====")
    for name, code, took in results:
        print(f"{'PASS' if code == 0 else 'FAIL'}  {name:<28} {took:6.1f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
