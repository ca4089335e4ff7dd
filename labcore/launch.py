"""How the container stack starts the ``labcore`` command for itself.

A runtime verb starts at least three times per container (create, start, delete) and a shim once,
so the start of the interpreter is much of their cost. ``stack_command`` runs labcore/__main__.py
by its path with ``python -I -S``: ``-S`` skips site's start-up (the system's and the user's
directories, sitecustomize), and ``__main__.py`` adds only labcore and the venv's site-packages;
``-I`` keeps the caller's PYTHON* variables and directory out of the import path, so a learner's
PYTHONPATH never changes what a shim or a runtime verb loads. ``python -m labcore`` pays for runpy
and the rest of site on top. ``tools/labcore-runtime`` starts the runtime the same way for tools
written for runc.
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
