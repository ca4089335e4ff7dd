"""The lab doctor: what this machine can do for the course, and why not.

Every check reads the kernel's own interfaces (/proc, /sys, the cgroup
mounts) or runs a harmless command, and answers yes or no with the detail
that decided it (a ``Check``, see ``labcore/check.py``). Each "no" carries the fix.
The tests take their skip reasons from here, so a test is only ever
skipped for a reason the doctor states, and the notebooks use
``doctor.needs(...)`` to explain a demo they cannot run instead of failing.

The checks live with what they check: each package exports its own from
its ``checks.py`` (``CHECKS``, shown in the report, and ``FEATURES``, asked
for by name only), and the doctor gathers them::

    labcore.check          root, kernel, inside a container, seccomp, LSMs, nftables, iptables, tools
    labcore.ns.checks      namespace kinds, user namespaces, make namespaces, spawn helper; netns
    labcore.cgroups.checks cgroups, cgroup v1, cgroup v2; cgroup_limits, cgroup_io
    labcore.fs.checks      overlayfs
    labcore.teach.checks   tiny VM; conformance_suite

The checks are run on first use (``has``, ``needs``, ``report``), not when
this module is imported.
"""

from __future__ import annotations

import functools

from ..errors import InvalidInputError
from ..proc.cgroup import mode as cgroup_mode
from ..proc.cgroup import mounts as cgroup_mounts
from ..proc.cgroup import v1_controllers, v2_controllers
from .. import check as host
from ..cgroups import checks as cgroups
from ..check import Check, Report, check_container, check_root, container_signs
from ..fs import checks as fs
from ..ns import checks as ns
from ..teach import checks as teach

PACKAGES = [host, ns, cgroups, fs, teach]  # the modules that export checks, in the report's order


# name -> check function: every package's CHECKS (in the report), and its FEATURES (asked for by name only)
CHECKS = {name: fn for module in PACKAGES for name, fn in module.CHECKS.items()}
FEATURES = {name: fn for module in PACKAGES for name, fn in getattr(module, "FEATURES", {}).items()}


def report() -> Report:
    """Run every check. Shown in notebook 00 and by `labcore doctor`."""
    return Report((name, fn()) for name, fn in CHECKS.items())


@functools.lru_cache(maxsize=None)
def _feature(name: str) -> Check:
    if name.startswith("tool:"):
        return host.check_tool(name[5:])
    found = CHECKS.get(name) or FEATURES.get(name)
    if found is None:
        raise InvalidInputError(f"unknown feature {name!r}",
                                f"features are {', '.join([*CHECKS, *FEATURES])}, or tool:NAME")
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


__all__ = ["Check", "Report", "CHECKS", "FEATURES", "PACKAGES", "report", "has", "why_not", "needs",
           "cgroup_mode", "cgroup_mounts", "v1_controllers", "v2_controllers", "container_signs",
           "check_container", "check_root"]
