"""Errors the lab expects, each naming what was tried, on what, and the fix.

Everything labcore raises on purpose is a ``LabError``. The lab kernel
(``labcore.ipython``) and the command line (``labcore ...``) show a
``LabError`` as a short notice instead of a traceback, because it describes
a situation, not a bug::

    LabError                     anything the lab expects and explains
    ├── PrivilegeError           needs root or a capability we lack
    ├── UnsupportedError         this kernel or machine lacks a feature
    ├── InvalidInputError        a value given by the user is wrong
    │   └── UnknownNamespaceError
    ├── CommandNotFoundError     the program to run does not exist
    └── CleanupError             something the lab made could not be undone

System calls that fail are ``OSError`` (see ``labcore.kernel``) with the
errno kept, so ``except PermissionError`` still works; code that knows what
the failure means turns it into one of the errors above.
"""

from __future__ import annotations


class LabError(Exception):
    """An expected failure: ``what`` went wrong and ``fix`` says what to do."""

    def __init__(self, what: str, fix: str | None = None):
        self.what = what
        self.fix = fix
        super().__init__(what if not fix else f"{what} ({fix})")

    def notice(self) -> str:
        """The short text the lab kernel and the CLI print."""
        text = f"{type(self).__name__}: {self.what}"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class PrivilegeError(LabError):
    """The operation needs root (or a capability) that this process lacks."""


class UnsupportedError(LabError):
    """The kernel or the machine lacks a feature the operation needs."""


class InvalidInputError(LabError, ValueError):
    """A value given by the user is malformed or out of range."""


class UnknownNamespaceError(InvalidInputError):
    """A namespace kind that Linux does not have."""


class CommandNotFoundError(LabError):
    """The program asked for could not be executed."""


class CleanupError(LabError):
    """An object the lab created could not be removed."""


__all__ = [
    "LabError",
    "PrivilegeError",
    "UnsupportedError",
    "InvalidInputError",
    "UnknownNamespaceError",
    "CommandNotFoundError",
    "CleanupError",
]
