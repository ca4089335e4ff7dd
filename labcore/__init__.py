"""labcore: the Docker Internals Lab's small container toolkit.

Everything here makes real kernel objects on the machine it runs on. The
notebooks import it as ``import labcore as lab``.
"""

from . import doctor, kernel, namespaces, process, tracker, widgets
from . import credentials, mountinfo, nscalls, pidns, procnet, propagation
from . import cgroups, monitor
from . import compare, confinement, initramfs, vm
from .errors import (CleanupError, CommandNotFoundError, InvalidInputError, LabError,
                     PrivilegeError, UnknownNamespaceError, UnsupportedError)
from .namespaces import CONTAINER, Namespaces, nspid, pin_netns
from .process import Process, Result, call, enter, run, spawn

__version__ = "0.1.0"


def __getattr__(name):
    # fs and images (tar, gzip, json...) load on first use: a lighter process forks faster.
    # labcore.init is a program (python -m labcore.init): importing it here eagerly would
    # make runpy warn that it was imported twice. plots loads matplotlib: most of a second.
    if name in ("fs", "images", "init", "plots"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'labcore' has no attribute {name!r}")


__all__ = [
    # modules
    "doctor", "kernel", "namespaces", "process", "tracker", "widgets",
    "fs", "images",
    "credentials", "init", "mountinfo", "nscalls", "pidns", "procnet", "propagation",
    "cgroups", "monitor", "plots",
    "compare", "confinement", "initramfs", "vm",
    # errors
    "LabError", "PrivilegeError", "UnsupportedError", "InvalidInputError",
    "UnknownNamespaceError", "CommandNotFoundError", "CleanupError",
    # namespaces
    "CONTAINER", "Namespaces", "Process", "Result", "spawn", "run", "call", "enter", "nspid", "pin_netns",
]
