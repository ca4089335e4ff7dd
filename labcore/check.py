"""What this machine can do: one ``Check`` type, and the machine-wide checks.

A check reads the kernel's own files (proc(5), capabilities(7), seccomp(2))
or asks a tool for its version, and answers yes or no: ``ok``, the
``detail`` that decided it, and the ``fix`` when not ok. Every package that
owns a feature says whether this machine has it in its own ``checks.py``
(``labcore.cgroups.checks``, ``labcore.ns.checks``...), with this type, on
top of the checks here that concern the machine as a whole: who we are
(root, with which capabilities), which kernel, whether we already run
inside a container, the security and firewall layers (seccomp, LSMs,
nftables, iptables), and the optional tools of later chapters.
``labcore.doctor`` gathers them all into its report.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from html import escape
from pathlib import Path

from .kernel import caps
from .proc import cgroup as proc_cgroup
from .proc import mountinfo
from .proc.status import status


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


OPTIONAL_TOOLS = ["runc", "crun", "containerd", "dockerd", "docker-registry", "skopeo", "umoci",
                  "oci-image-tool", "qemu-system-x86_64"]


def check_root() -> Check:
    """uid 0 with CAP_SYS_ADMIN (the lab's privileged demos); names the capabilities missing."""
    effective = int(status().get("CapEff") or "0", 16)
    if os.geteuid() == 0 and effective & (1 << caps.CAP_SYS_ADMIN):
        last = int(read("/proc/sys/kernel/cap_last_cap", "40"))
        missing = [caps.name(i) for i in range(last + 1) if not effective >> i & 1]
        extra = f" (missing: {', '.join(missing)})" if missing else " with every capability"
        return Check("root", True, f"uid 0, CAP_SYS_ADMIN{extra}")
    return Check("root", False, f"uid {os.geteuid()}, effective capabilities {effective:#x}",
                 "run the lab as root: `sudo make lab`, or use the course VM (see README)")


def check_kernel() -> Check:
    return Check("kernel", True, f"Linux {platform.release()} on {platform.machine()}")


def container_signs() -> tuple[list[str], list[str]]:
    """Evidence that this process runs inside a container: (strong signs, hints).

    Strong signs come from the kernel: only the host's (initial) pid namespace
    shows the kernel's own threads (PID 2 is kthreadd), and only the initial
    user namespace maps every uid to itself. Files such as /.dockerenv are
    mere hints: an image built by Docker keeps them when booted as a VM.
    Used by notebook 00, also from inside a container.
    """
    strong, hints = [], []
    if read("/proc/2/comm") != "kthreadd":
        strong.append("PID 2 is not kthreadd: we are not in the host's pid namespace")
    uid_map = read("/proc/self/uid_map").split()
    if uid_map and uid_map != ["0", "0", "4294967295"]:
        strong.append(f"uid_map is '{' '.join(uid_map)}': we are in a user namespace")
    if any(m.point == "/" and m.fstype == "overlay" for m in mountinfo.parse(read("/proc/self/mountinfo"))):
        strong.append("the root filesystem is an overlay mount")
    if any(re.search(r"/(docker|kubepods|libpod|lxc)[/-]", path)
           for _, path in proc_cgroup.entries(read("/proc/self/cgroup"))):
        strong.append("our cgroup path names a container manager")
    for path, who in (("/.dockerenv", "Docker"), ("/run/.containerenv", "Podman")):
        if Path(path).exists():
            hints.append(f"{path} exists ({who} left it)")
    for var, who in (("BINDER_SERVICE_HOST", "mybinder"), ("KUBERNETES_SERVICE_HOST", "Kubernetes")):
        if os.environ.get(var):
            hints.append(f"{var} is set ({who})")
    return strong, hints


def check_container() -> Check:
    strong, hints = container_signs()
    if strong:
        return Check("inside a container", True, "; ".join(strong + hints))
    detail = "PID 2 is kthreadd and uids are not mapped, so we share the host's pid and user namespaces"
    if hints:
        detail += f" ({'; '.join(hints)}, but the kernel says otherwise)"
    return Check("inside a container", False, detail)


def _version(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else ""


def check_nftables() -> Check:
    if not shutil.which("nft"):
        return Check("nftables", False, "nft not installed", "apt-get install nftables (provision/ does)")
    return Check("nftables", True, _version(["nft", "--version"]) or "nft installed")


def check_iptables() -> Check:
    if not shutil.which("iptables"):
        return Check("iptables", False, "iptables not installed", "apt-get install iptables (provision/ does)")
    version = _version(["iptables", "--version"])
    flavour = "nf_tables" if "nf_tables" in version else "legacy" if "legacy" in version else "unknown"
    return Check("iptables", True, f"{version} (flavour: {flavour})")


def check_seccomp() -> Check:
    actions = read("/proc/sys/kernel/seccomp/actions_avail")
    if not actions:
        return Check("seccomp", False, "no /proc/sys/kernel/seccomp", "a kernel built with CONFIG_SECCOMP_FILTER")
    mine = {"0": "this process is not filtered", "1": "this process is in strict mode",
            "2": "this process is already filtered (we may be in a container)"}.get(status().get("Seccomp", ""), "")
    return Check("seccomp", True, f"filter actions: {actions}; {mine}")


def check_lsm() -> Check:
    lsms = read("/sys/kernel/security/lsm")
    if lsms:
        label = read("/proc/self/attr/current")
        return Check("LSMs", True, f"active: {lsms}" + (f"; our label: {label}" if label else ""))
    if Path("/sys/kernel/security").is_dir():
        return Check("LSMs", False, "securityfs not mounted", "mount -t securityfs securityfs /sys/kernel/security")
    apparmor = Path("/sys/module/apparmor").exists()
    selinux = Path("/sys/fs/selinux").exists()
    found = [n for n, ok in (("apparmor", apparmor), ("selinux", selinux)) if ok]
    return Check("LSMs", bool(found), ("found " + ", ".join(found)) if found else
                 "no securityfs, no AppArmor, no SELinux: this kernel runs without an LSM",
                 "the course VM (Debian) has AppArmor for the security chapter")


def check_tools() -> Check:
    found = [t for t in OPTIONAL_TOOLS if shutil.which(t)]
    missing = [t for t in OPTIONAL_TOOLS if t not in found]
    return Check("optional tools", not missing, "installed: " + (", ".join(found) or "none") +
                 ("; missing: " + ", ".join(missing) if missing else ""),
                 "later chapters' provision steps install them")


def check_tool(name: str) -> Check:
    """``tool:NAME``: is the command NAME on the PATH?"""
    path = shutil.which(name)
    return Check(f"tool:{name}", bool(path), path or f"{name} not installed", f"install {name} (see provision/)")


# In the report: who we are and which kernel first; the security and firewall layers
# until their packages (security/, net/) own them; the optional tools last.
CHECKS = {
    "root": check_root,
    "kernel": check_kernel,
    "container": check_container,
    "seccomp": check_seccomp,
    "lsm": check_lsm,
    "nftables": check_nftables,
    "iptables": check_iptables,
    "tools": check_tools,
}

__all__ = ["Check", "Report", "read", "CHECKS", "OPTIONAL_TOOLS", "check_root", "check_kernel", "container_signs", "check_container", "check_nftables", "check_iptables", "check_seccomp", "check_lsm", "check_tools", "check_tool"]
