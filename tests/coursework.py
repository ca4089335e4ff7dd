"""What the course tests share: the chapters that exist, and their solutions."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from labcore import course

ROOT = Path(__file__).resolve().parent.parent
READY = [c for c in course.CHAPTERS if c.ready]


def solutions(c: course.Chapter):
    """solutions/chNN.py, loaded from the checkout (it is not part of the package)."""
    path = ROOT / "solutions" / f"ch{c.id}.py"
    spec = importlib.util.spec_from_file_location(f"solutions_ch{c.id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
