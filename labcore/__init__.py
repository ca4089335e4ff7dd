"""labcore: the Docker Internals Lab's small container toolkit.

Everything here makes real kernel objects on the machine it runs on. The
notebooks import it as ``import labcore as lab``.
"""

from . import doctor, kernel, namespaces, process, tracker, widgets
from . import cgroups, monitor
from .errors import (CleanupError, CommandNotFoundError, InvalidInputError, LabError,
                     PrivilegeError, UnknownNamespaceError, UnsupportedError)
from .namespaces import CONTAINER, Namespaces, nspid, pin_netns
from .process import Process, Result, call, enter, run, spawn

__version__ = "0.1.0"

__all__ = [
    # modules
    "doctor", "kernel", "namespaces", "process", "tracker", "widgets",
    "cgroups", "monitor", "plots",
    # errors
    "LabError", "PrivilegeError", "UnsupportedError", "InvalidInputError",
    "UnknownNamespaceError", "CommandNotFoundError", "CleanupError",
    # namespaces
    "CONTAINER", "Namespaces", "Process", "Result", "spawn", "run", "call", "enter", "nspid", "pin_netns",
]


def __getattr__(name: str):
    """``lab.plots`` is imported on first use: matplotlib takes most of a second to load."""
    if name == "plots":
        import importlib
        return importlib.import_module(".plots", __name__)
    raise AttributeError(f"module 'labcore' has no attribute {name!r}")
