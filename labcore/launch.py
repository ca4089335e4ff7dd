"""How the container stack starts the ``labcore`` command for itself.

A runtime verb starts at least three times per container (create, start, delete) and a shim once,
so the start of the interpreter is much of their cost. ``stack_command`` runs labcore/__main__.py
by its path with ``python -I -S``: no scan of site-packages and its ``.pth`` files, no caller's
environment or directory in the import path (``__main__.py`` puts labcore and site-packages there
itself). ``tools/labcore-runtime`` starts the runtime the same way for tools written for runc.
"""

from __future__ import annotations

import os
import sys

MAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__main__.py")


def stack_command(*words: str) -> list[str]:
    """The argv of ``labcore WORDS...`` started lean, with this interpreter."""
    return [sys.executable, "-I", "-S", MAIN, *words]


def shown(cmdline: str) -> str:
    """A command line of the stack as the chapters print it: this interpreter as ``python``, this
    checkout's labcore/__main__.py as ``.../labcore/__main__.py``."""
    return cmdline.replace(MAIN, ".../labcore/__main__.py").replace(sys.executable, "python")


__all__ = ["stack_command", "shown", "MAIN"]
