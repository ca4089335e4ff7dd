"""The lab doctor: what this machine can do for the course, and why not.

Every check reads the kernel's own interfaces (/proc, /sys, the cgroup
mounts) or runs a harmless command, and answers yes or no with the detail
that decided it. Each "no" carries the fix. The tests take their skip
reasons from here, so a test is only ever skipped for a reason the doctor
states, and the notebooks use ``doctor.needs(...)`` to explain a demo
they cannot run instead of failing.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from html import escape
from pathlib import Path

from ..errors import InvalidInputError

CGROUP_ROOT = Path("/sys/fs/cgroup")
OPTIONAL_TOOLS = ["runc", "crun", "containerd", "dockerd", "docker-registry", "skopeo", "umoci",
                  "oci-image-tool", "qemu-system-x86_64"]
CAP_SYS_ADMIN = 21
# capability(7) numbers, in order, as <linux/capability.h> names them.
CAP_NAMES = ["chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
             "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
             "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
             "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
             "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
             "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore"]


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


def _read(path: str | Path, default: str = "") -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default


def _status_field(name: str) -> str:
    for line in _read("/proc/self/status").splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return ""


# --- individual checks ------------------------------------------------------

def check_root() -> Check:
    caps = int(_status_field("CapEff") or "0", 16)
    if os.geteuid() == 0 and caps & (1 << CAP_SYS_ADMIN):
        missing = [i for i in range(0, int(_read("/proc/sys/kernel/cap_last_cap", "40")) + 1) if not caps >> i & 1]
        names = [f"CAP_{CAP_NAMES[i].upper()}" if i < len(CAP_NAMES) else str(i) for i in missing]
        extra = f" (missing: {', '.join(names)})" if missing else " with every capability"
        return Check("root", True, f"uid 0, CAP_SYS_ADMIN{extra}")
    return Check("root", False, f"uid {os.geteuid()}, effective capabilities {caps:#x}",
                 "run the lab as root: `sudo make lab`, or use the course VM (see README)")


def check_kernel() -> Check:
    return Check("kernel", True, f"Linux {platform.release()} on {platform.machine()}")


def cgroup_mounts() -> dict[str, tuple[str, str]]:
    """Mount point -> (fstype, options) of every cgroup/cgroup2 mount."""
    found = {}
    for line in _read("/proc/self/mounts").splitlines():
        dev, point, fstype, opts = line.split()[:4]
        if fstype in ("cgroup", "cgroup2"):
            found[point] = (fstype, opts)
    return found


def cgroup_mode() -> str:
    """'v2' (unified), 'hybrid' (v1 controllers plus a cgroup2 mount), 'v1', or 'none'."""
    mounts = cgroup_mounts()
    kinds = {fstype for fstype, _ in mounts.values()}
    if mounts.get(str(CGROUP_ROOT), ("",))[0] == "cgroup2":
        return "v2"
    if "cgroup" in kinds:
        return "hybrid" if "cgroup2" in kinds else "v1"
    return "v2" if kinds == {"cgroup2"} else "none"


def v1_controllers() -> dict[str, str]:
    """Controller -> its mount point, for every mounted cgroup v1 hierarchy."""
    out = {}
    for point, (fstype, opts) in cgroup_mounts().items():
        if fstype == "cgroup":
            for opt in opts.split(","):
                if opt not in ("rw", "ro", "relatime", "nosuid", "nodev", "noexec", "clone_children") \
                        and not opt.startswith("name=") and "=" not in opt:
                    out[opt] = point
    return dict(sorted(out.items()))


def v2_controllers() -> tuple[str, list[str]]:
    """The cgroup2 mount point and the controllers enabled at its root."""
    for point, (fstype, _) in cgroup_mounts().items():
        if fstype == "cgroup2":
            return point, _read(Path(point) / "cgroup.controllers").split()
    return "", []


def check_cgroups() -> Check:
    mode = cgroup_mode()
    v1 = v1_controllers()
    v2_point, v2 = v2_controllers()
    parts = []
    if v1:
        parts.append("v1 controllers " + ", ".join(v1))
    if v2_point:
        parts.append(f"cgroup2 at {v2_point} with " + (", ".join(v2) if v2 else "no controllers"))
    ok = bool(v1) or bool(v2)
    return Check("cgroups", ok, f"{mode}: " + "; ".join(parts) if parts else mode,
                 "mount cgroup2 on /sys/fs/cgroup (systemd does at boot) or use the course VM")


def check_cgroup_v2() -> Check:
    point, controllers = v2_controllers()
    wanted = {"cpu", "memory", "pids", "io"}
    if point and wanted <= set(controllers):
        return Check("cgroup v2", True, f"at {point} with {', '.join(controllers)}")
    detail = f"cgroup2 at {point} has only {', '.join(controllers) or 'no controllers'}" if point \
        else "no cgroup2 mount"
    return Check("cgroup v2", False, detail + f" ({cgroup_mode()} mode: the controllers are on v1)",
                 "boot with systemd.unified_cgroup_hierarchy=1, or use the course VM (`make test-vm`)")


def check_cgroup_v1() -> Check:
    v1 = v1_controllers()
    wanted = {"cpu", "cpuacct", "memory", "pids"}
    if wanted <= set(v1):
        return Check("cgroup v1", True, f"{len(v1)} controllers: {', '.join(v1)}")
    return Check("cgroup v1", False, f"v1 controllers: {', '.join(v1) or 'none'}",
                 "this machine runs cgroup v2 only; the v1 demos need a hybrid or v1 host")


def check_overlayfs() -> Check:
    if "overlay" in _read("/proc/filesystems"):
        return Check("overlayfs", True, "listed in /proc/filesystems")
    return Check("overlayfs", False, "not in /proc/filesystems", "modprobe overlay (as root)")


def check_userns() -> Check:
    limit = _read("/proc/sys/user/max_user_namespaces", "0")
    if limit == "0":
        return Check("user namespaces", False, "user.max_user_namespaces is 0",
                     "sysctl -w user.max_user_namespaces=15000")
    return Check("user namespaces", True, f"allowed (max_user_namespaces={limit})")


def _probe_userns(as_uid: int | None) -> int:
    """Really try unshare(CLONE_NEWUSER) in a throwaway child; returns its errno (0 = it worked)."""
    from .. import kernel
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            if as_uid is not None:  # root asks on behalf of an ordinary user: become one first
                os.setgroups([])
                os.setresgid(as_uid, as_uid, as_uid)
                os.setresuid(as_uid, as_uid, as_uid)
            kernel.default().unshare(kernel.flags.CLONE_NEWUSER)
        except OSError as exc:
            code = exc.errno or 1
        os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def check_userns_unprivileged() -> Check:
    """Can an ordinary user create a user namespace? Tried for real (as nobody, when we are root)."""
    # (sysctl file, value that restricts, value that lifts the restriction): the usual culprits.
    knobs = [("kernel/unprivileged_userns_clone", "0", "1"),            # Debian's older kernels
             ("kernel/apparmor_restrict_unprivileged_userns", "1", "0"),  # Ubuntu 23.10 and later
             ("user/max_user_namespaces", "0", "15000")]
    found = [(k.replace("/", "."), lift) for k, bad, lift in knobs if _read(f"/proc/sys/{k}") == bad]
    code = _probe_userns(65534 if os.geteuid() == 0 else None)
    if code == 0:
        return Check("unprivileged userns", True, "an ordinary user can create user namespaces (tried as "
                     f"{'nobody' if os.geteuid() == 0 else 'uid ' + str(os.geteuid())})")
    why = os.strerror(code) if code < 256 else f"status {code}"
    detail = f"unshare(CLONE_NEWUSER) as an ordinary user failed: {why}"
    if found:
        return Check("unprivileged userns", False, detail + "; restricted by " + ", ".join(n for n, _ in found),
                     "sysctl -w " + " ".join(f"{n}={lift}" for n, lift in found))
    return Check("unprivileged userns", False, detail + " (no sysctl forbids it: a seccomp filter may, "
                 "as Docker's default profile does)", "run the lab in the course VM")


def check_make_namespaces() -> Check:
    """Can *this* process create namespaces: as root, or rootless through a user namespace?"""
    if check_root().ok:
        return Check("make namespaces", True, "as root: every kind directly")
    code = _probe_userns(None)
    if code == 0:
        return Check("make namespaces", True, "rootless: inside a new user namespace first (not root here)")
    return Check("make namespaces", False, f"not root, and unshare(CLONE_NEWUSER) failed: {os.strerror(code)}",
                 "run the lab as root (sudo make lab) or in the course VM")


def check_namespaces() -> Check:
    kinds = sorted(p.name for p in Path("/proc/self/ns").iterdir() if not p.name.endswith("_for_children"))
    want = {"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"}
    missing = want - set(kinds)
    return Check("namespace kinds", not missing, ", ".join(kinds) + (f" (missing {', '.join(missing)})" if missing else ""),
                 "a kernel of 5.6 or newer has all eight")


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
    actions = _read("/proc/sys/kernel/seccomp/actions_avail")
    mode = _status_field("Seccomp")
    if not actions:
        return Check("seccomp", False, "no /proc/sys/kernel/seccomp", "a kernel built with CONFIG_SECCOMP_FILTER")
    mine = {"0": "this process is not filtered", "1": "this process is in strict mode",
            "2": "this process is already filtered (we may be in a container)"}.get(mode, "")
    return Check("seccomp", True, f"filter actions: {actions}; {mine}")


def check_lsm() -> Check:
    lsms = _read("/sys/kernel/security/lsm")
    if lsms:
        label = _read("/proc/self/attr/current")
        return Check("LSMs", True, f"active: {lsms}" + (f"; our label: {label}" if label else ""))
    if Path("/sys/kernel/security").is_dir():
        return Check("LSMs", False, "securityfs not mounted", "mount -t securityfs securityfs /sys/kernel/security")
    apparmor = Path("/sys/module/apparmor").exists()
    selinux = Path("/sys/fs/selinux").exists()
    found = [n for n, ok in (("apparmor", apparmor), ("selinux", selinux)) if ok]
    return Check("LSMs", bool(found), ("found " + ", ".join(found)) if found else
                 "no securityfs, no AppArmor, no SELinux: this kernel runs without an LSM",
                 "the course VM (Debian) has AppArmor for the security chapter")


def container_signs() -> tuple[list[str], list[str]]:
    """Evidence that this process runs inside a container: (strong signs, hints).

    Strong signs come from the kernel: only the host's (initial) pid namespace
    shows the kernel's own threads (PID 2 is kthreadd), and only the initial
    user namespace maps every uid to itself. Files such as /.dockerenv are
    mere hints: an image built by Docker keeps them when booted as a VM.
    """
    strong, hints = [], []
    if _read("/proc/2/comm") != "kthreadd":
        strong.append("PID 2 is not kthreadd: we are not in the host's pid namespace")
    uid_map = _read("/proc/self/uid_map").split()
    if uid_map and uid_map != ["0", "0", "4294967295"]:
        strong.append(f"uid_map is '{' '.join(uid_map)}': we are in a user namespace")
    for line in _read("/proc/self/mountinfo").splitlines():
        if line.split()[4] == "/" and " - overlay " in line:
            strong.append("the root filesystem is an overlay mount")
    if re.search(r"/(docker|kubepods|libpod|lxc)[/-]", _read("/proc/self/cgroup")):
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


def check_tools() -> Check:
    found = [t for t in OPTIONAL_TOOLS if shutil.which(t)]
    missing = [t for t in OPTIONAL_TOOLS if t not in found]
    return Check("optional tools", not missing, "installed: " + (", ".join(found) or "none") +
                 ("; missing: " + ", ".join(missing) if missing else ""),
                 "later chapters' provision steps install them")


def check_vm() -> Check:
    """Can this machine boot notebook 02's tiny VM (QEMU, the guest kernel, a static busybox)?"""
    from ..teach import vm
    ok, detail, fix = vm.available()
    if ok:
        return Check("tiny VM", True, detail + " (software emulation: works without KVM or root)")
    return Check("tiny VM", False, detail, fix)


def check_nsexec() -> Check:
    """Is labcore's C spawn helper built (labcore/kernel/nsexec.c)? Without it, spawns fork Python."""
    from ..ns.process import NSEXEC, helper_built
    if helper_built():
        return Check("spawn helper", True, f"{NSEXEC.name} is built: simple spawns do not fork Python")
    return Check("spawn helper", False, f"{NSEXEC} is not built: every spawn forks Python (about twice as slow)",
                 "sudo make setup (it installs gcc and builds the helper)")


CHECKS = {
    "root": check_root,
    "kernel": check_kernel,
    "namespaces": check_namespaces,
    "cgroups": check_cgroups,
    "cgroup_v1": check_cgroup_v1,
    "cgroup_v2": check_cgroup_v2,
    "overlayfs": check_overlayfs,
    "userns": check_userns,
    "userns_unprivileged": check_userns_unprivileged,
    "make_namespaces": check_make_namespaces,
    "nftables": check_nftables,
    "iptables": check_iptables,
    "seccomp": check_seccomp,
    "lsm": check_lsm,
    "container": check_container,
    "tools": check_tools,
    "vm": check_vm,
    "nsexec": check_nsexec,
}


def report() -> Report:
    """Run every check. Shown in notebook 00 and by `labcore doctor`."""
    return Report((name, fn()) for name, fn in CHECKS.items())


@functools.lru_cache(maxsize=None)
def _feature(name: str) -> Check:
    if name.startswith("tool:"):
        tool = name[5:]
        path = shutil.which(tool)
        return Check(name, bool(path), path or f"{tool} not installed", f"install {tool} (see provision/)")
    if name == "netns":  # network namespaces need root (or a user namespace) and iproute2
        root = check_root()
        return Check(name, root.ok and bool(shutil.which("ip")), root.detail if not root.ok else "root and ip",
                     root.fix or "apt-get install iproute2")
    if name in ("cgroup_limits", "cgroup_io"):  # checked by labcore.cgroups (chapter 05)
        from ..cgroups.detect import FEATURES
        return FEATURES[name]()
    if name not in CHECKS:
        raise InvalidInputError(f"unknown feature {name!r}",
                                f"features are {', '.join(CHECKS)}, netns, cgroup_limits, cgroup_io, or tool:NAME")
    return CHECKS[name]()


def has(name: str) -> bool:
    """Does this machine have ``name`` (a check name, ``netns`` or ``tool:runc``)?"""
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


__all__ = ["Check", "Report", "report", "has", "why_not", "needs", "cgroup_mode",
           "v1_controllers", "v2_controllers", "container_signs", "CHECKS"]
