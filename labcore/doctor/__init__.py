"""The lab doctor: what this machine can do for the course, and why not.

Every check reads the kernel's own interfaces (/proc, /sys, the cgroup
mounts) or runs a harmless command, and answers yes or no with the detail
that decided it (a ``Check``, see check.py). Each "no" carries the fix.
The tests take their skip reasons from here, so a test is only ever
skipped for a reason the doctor states, and the notebooks use
``doctor.needs(...)`` to explain a demo they cannot run instead of failing.

The checks live with what they check: each package exports its own from
its ``checks.py`` (``CHECKS``, shown in the report, and ``FEATURES``, asked
for by name only), and the doctor gathers them::

    host.py                root, kernel, inside a container, seccomp, LSMs, nftables, iptables, tools
    labcore.ns.checks      namespace kinds, user namespaces, make namespaces, spawn helper; netns
    labcore.cgroups.checks cgroups, cgroup v1, cgroup v2; cgroup_limits, cgroup_io
    labcore.fs.checks      overlayfs
    labcore.teach.checks   tiny VM

It gathers them on first use, not when imported: a package's checks import
``labcore.doctor.check``, whose import runs this file first, so this file
must not need them while it loads.
"""

from __future__ import annotations

import functools

from ..errors import InvalidInputError
from ..proc.cgroup import mode as cgroup_mode
from ..proc.cgroup import mounts as cgroup_mounts
from ..proc.cgroup import v1_controllers, v2_controllers
from . import host
from .check import Check, Report
from .host import check_container, check_root, container_signs


def _packages():
    """The modules that export checks, in the report's order."""
    from ..cgroups import checks as cgroups
    from ..fs import checks as fs
    from ..ns import checks as ns
    from ..teach import checks as teach
    return [host, ns, cgroups, fs, teach]


@functools.lru_cache(maxsize=None)
def checks() -> dict:
    """name -> check function, for the report: every package's CHECKS."""
    return {name: fn for module in _packages() for name, fn in module.CHECKS.items()}


@functools.lru_cache(maxsize=None)
def features() -> dict:
    """name -> check function, for everything ``has()`` answers but the report leaves out."""
    return {name: fn for module in _packages() for name, fn in getattr(module, "FEATURES", {}).items()}


def __getattr__(name: str):
    if name == "CHECKS":  # the report's checks, gathered on first use
        return checks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def report() -> Report:
    """Run every check. Shown in notebook 00 and by `labcore doctor`."""
    return Report((name, fn()) for name, fn in checks().items())


@functools.lru_cache(maxsize=None)
def _feature(name: str) -> Check:
    if name.startswith("tool:"):
        return host.check_tool(name[5:])
    found = checks().get(name) or features().get(name)
    if found is None:
        raise InvalidInputError(f"unknown feature {name!r}",
                                f"features are {', '.join([*checks(), *features()])}, or tool:NAME")
    return found()


def has(name: str) -> bool:
    """Does this machine have ``name`` (a check name, ``netns``, ``cgroup_io`` or ``tool:runc``)?"""
    return _feature(name).ok


def why_not(name: str) -> str:
    """The doctor's reason a feature is missing, with its fix ('' if present)."""
    c = _feature(name)
    return "" if c.ok else f"{c.name}: {c.detail}" + (f" (fix: {c.fix})" if c.fix else "")


def needs(*names: str) -> bool:
    """For notebooks: True if every feature is here; otherwise print why and return False.

    ``if lab.doctor.needs("root"):`` keeps a privileged demo from failing
    where it cannot run (Binder, a laptop without root), and says what it needs.
    """
    missing = [n for n in names if not has(n)]
    for name in missing:
        print(f"This demo needs {name}, which this machine lacks: {why_not(name)}")
    return not missing


__all__ = ["Check", "Report", "CHECKS", "checks", "features", "report", "has", "why_not", "needs",
           "cgroup_mode", "cgroup_mounts", "v1_controllers", "v2_controllers", "container_signs",
           "check_container", "check_root"]
