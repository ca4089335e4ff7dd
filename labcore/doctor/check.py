"""One answer of the doctor: a ``Check``, and a ``Report`` of many.

Every package that owns a feature says whether this machine has it, in its
own ``checks.py`` (``labcore.cgroups.checks``, ``labcore.ns.checks``...),
as a function returning a ``Check``: ``ok``, the ``detail`` that decided
it, and the ``fix`` when not ok. This module is the type they share; it
imports nothing of labcore, so any package may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path


@dataclass
class Check:
    """One answer: ``ok`` with the ``detail`` that decided it, and the ``fix`` when not ok."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def __str__(self) -> str:
        mark = "yes" if self.ok else "no "
        text = f"{mark}  {self.name:<22} {self.detail}"
        if not self.ok and self.fix:
            text += f"\n     {'':<22} fix: {self.fix}"
        return text


class Report(dict):
    """name -> Check, printable as a table (and as HTML in a notebook)."""

    def __str__(self) -> str:
        return "\n".join(str(c) for c in self.values())

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{'✅' if c.ok else '❌'}</td><td><b>{escape(c.name)}</b></td>"
            f"<td>{escape(c.detail)}{'<br><i>fix: ' + escape(c.fix) + '</i>' if not c.ok and c.fix else ''}</td></tr>"
            for c in self.values())
        return f"<table>{rows}</table>"


def read(path: str | Path, default: str = "") -> str:
    """A small kernel file's content, stripped, or ``default`` if it cannot be read: what checks look at."""
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default


__all__ = ["Check", "Report", "read"]
