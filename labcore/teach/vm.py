"""A virtual machine: a second kernel, running on hardware that QEMU emulates.

A container is a process of the host's kernel. A virtual machine is a
process too, seen from the host (here ``qemu-system-x86_64``), but inside
it runs a whole *guest kernel* that boots on emulated hardware: a CPU, RAM
that QEMU allocates in its own address space, a serial port, a timer, an
interrupt controller. The guest kernel has its own release, its own boot
id, its own PID 1 and kernel threads, its own memory management; nothing
of the host's kernel is visible in there.

The lab's tiny VM is the smallest thing that shows it:

* the kernel is Debian's *cloud* flavour (``linux-image-*-cloud-amd64``),
  unpacked by ``provision/guest-kernel.sh`` into ``/var/cache/labcore/vm``
  without installing it (the host's /boot stays untouched);
* the userland is an initramfs holding one static busybox and an ``/init``
  script (``labcore.teach.initramfs``), kept in an anonymous memory file
  (memfd_create(2)): nothing is written to disk;
* the console is the emulated serial port (``console=ttyS0``), wired to
  QEMU's stdin and stdout: we read the guest's output and type commands
  into its shell through two pipes.

QEMU normally asks the host kernel's KVM for hardware virtualisation; on
machines that are themselves VMs (like the lab's build machines) KVM is
often unavailable, and QEMU's **TCG** translates every guest instruction in
software. Slower, but it works everywhere and needs no privilege: any user
can boot this VM. Read qemu-system-x86_64(1) and the kernel's
Documentation/admin-guide/kernel-parameters.txt for the options below.

The QEMU process is recorded by the tracker before it starts, so
``labcore cleanup`` stops a VM left behind by a crashed notebook. A VM
gets at most what the host can give (``check_host``: RAM from MemAvailable,
CPUs from os.cpu_count()), and as root QEMU runs in a lab cgroup whose
memory limit is the guest's RAM plus ``QEMU_OVERHEAD_MB``: however the
guest behaves, QEMU cannot take more of the host. The cgroup goes when the
VM stops.
"""

from __future__ import annotations

import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import initramfs
from .. import tracker
from ..kernel import spawnproto as proto
from ..proc.meminfo import parse as meminfo  # lab.vm.meminfo, for notebook 02
from ..errors import InvalidInputError, LabError, UnsupportedError
from ..tracker import cache_dir  # where provisioning keeps the guest kernel and the test VM's image
from .vmlimits import QEMU_OVERHEAD_MB, QEMU_PIDS, check_host, vm_cgroup  # re-exported: lab.vm.check_host...
from .vmmemory import Memory, process_memory  # re-exported: lab.vm.Memory, lab.vm.process_memory

QEMU = "qemu-system-x86_64"
READY = "LAB-VM-READY"
EXIT = "LAB-VM-EXIT"


# The tiny VM's PID 1. It mounts the kernel's pseudo-filesystems, says it is
# ready (with the guest's own uptime: how long the *guest kernel* took), then
# runs each line typed on the serial console and prints its exit status.
# ``setup`` and ``mounts``: lines of a caller's own before the mounts and after them (deep dive D's host disk).
def init_script(setup: str = "", mounts: str = "") -> str:
    return f"""#!/bin/sh
{setup}mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
{mounts}stty -echo 2>/dev/null
echo "{READY} uptime $(cut -d' ' -f1 /proc/uptime)"
while read -r line; do
    sh -c "$line" </dev/null 2>&1
    echo "{EXIT} $?"
done
poweroff -f
"""


INIT = init_script()


@dataclass
class GuestKernel:
    """A kernel image for the guest, and the release it reports (its ``uname -r``)."""

    path: Path
    release: str

    def __repr__(self) -> str:
        return f"<GuestKernel {self.release} at {self.path}>"


def guest_kernel() -> GuestKernel:
    """The provisioned guest kernel ($LABCORE_VM_KERNEL, else the newest in the cache)."""
    env = os.environ.get("LABCORE_VM_KERNEL")
    found = [Path(env)] if env else sorted((cache_dir() / "vm").glob("vmlinuz-*"))
    if not found or not found[-1].is_file():
        where = env or f"{cache_dir() / 'vm'}/vmlinuz-*"
        raise UnsupportedError(f"no guest kernel at {where}",
                               "run `sudo make provision` (provision/guest-kernel.sh unpacks Debian's "
                               "linux-image-cloud-amd64 there)")
    path = found[-1]
    if not os.access(path, os.R_OK):
        raise UnsupportedError(f"cannot read the guest kernel {path}", "make it readable: chmod 644 " + str(path))
    return GuestKernel(path, path.name.removeprefix("vmlinuz-"))


def qemu_binary() -> str:
    """The QEMU emulator's path, or an UnsupportedError saying what to install."""
    path = shutil.which(QEMU)
    if not path:
        raise UnsupportedError(f"{QEMU} is not installed: the lab boots its VM with QEMU",
                               "apt-get install qemu-system-x86 (sudo make provision does)")
    return path


def qemu_argv(kernel: str | os.PathLike, initrd: str, memory_mb: int = 256, cpus: int = 1,
              accel: str = "tcg", append: str = "", drives: tuple[str, ...] = (), cpu: str = "max",
              extra: tuple[str, ...] = ()) -> list[str]:
    """The QEMU command line of a VM booted straight into ``kernel`` (pure: starts nothing).

    ``drives`` are raw disk image files, attached as virtio disks
    (/dev/vda, /dev/vdb... in the guest). ``cpu="max"`` offers the guest
    every CPU feature the accelerator can provide (``extra``: more QEMU options): QEMU's default model
    (qemu64) lacks SSE4.2 and POPCNT, which today's numpy wheels require.
    Used by the tiny VM and the test VM.
    """
    if accel.split(",")[0] not in ("tcg", "kvm"):
        raise InvalidInputError(f"unknown accelerator {accel!r}", "use 'tcg' (software, works everywhere) or 'kvm'")
    if not 64 <= memory_mb <= 65536:
        raise InvalidInputError(f"memory_mb={memory_mb} is out of range", "give 64 to 65536 MiB (256 is plenty)")
    if not 1 <= cpus <= 64:
        raise InvalidInputError(f"cpus={cpus} is out of range", "give 1 to 64 virtual CPUs")
    argv = [QEMU,
            "-machine", "pc", "-accel", accel,      # a classic PC; tcg = translate in software
            "-cpu", cpu,
            "-m", str(memory_mb), "-smp", str(cpus),
            "-nodefaults", "-no-user-config",       # no default NIC, VGA, CD-ROM; no config files
            "-display", "none", "-serial", "stdio",  # the guest's ttyS0 is our stdin/stdout
            "-no-reboot",                           # a guest reboot (or panic) ends QEMU
            "-kernel", str(kernel), "-initrd", initrd,
            "-append", ("console=ttyS0 loglevel=3 panic=-1 " + append).strip()]
    for disk in drives:
        argv += ["-drive", f"file={disk},format=raw,if=virtio"]
    return argv + list(extra)


def start_qemu(argv: list[str], pass_fds=(), cgroup=None, **popen) -> tuple[subprocess.Popen, tracker.Record]:
    """Start QEMU recorded by the tracker first, so ``labcore cleanup`` can always stop it.

    A bash shell waits at a gate, then becomes QEMU with execve: same PID,
    same start time as recorded. It is the spawn protocol's gate
    (``kernel/spawnproto.py``): ``GO`` once recorded, written as a line for
    bash's read; if we die before recording it, the gate reads end-of-file
    and nothing is started.
    Serial console on stdin/stdout pipes unless ``popen`` says otherwise.
    ``cgroup`` (a ``lab.cgroups.Cgroup``) is joined at the gate, before QEMU runs.
    """
    gate_r, gate_w = os.pipe()
    go = proto.GO.decode()
    gate = f'read -r -u {gate_r} go && [ "$go" = {go} ] && exec {gate_r}<&- && exec "$@"'  # bash: dash refuses fds above 9
    popen = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    try:
        proc = subprocess.Popen(["bash", "-c", gate, "lab-vm-gate", *argv], pass_fds=(gate_r, *pass_fds), **popen)
    finally:
        os.close(gate_r)
    try:
        record = tracker.default().add("process", proc.pid, start_time=tracker.process_start_time(proc.pid),
                                       what="qemu")
        if cgroup is not None:
            cgroup.attach(proc.pid)  # before GO: QEMU never runs outside its limits
        os.write(gate_w, proto.GO + b"\n")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        os.close(gate_w)
    return proc, record


@dataclass
class VM:
    """A tiny VM: ``with lab.vm.VM() as vm: vm.run("uname -r")``. Used by notebook 02.

    ``boot()`` starts QEMU and waits for the guest's ready line;
    ``boot_seconds`` is the host's wall-clock time from starting QEMU to
    that line, ``guest_uptime`` the guest kernel's own uptime at that moment.
    """

    memory_mb: int = 256
    cpus: int = 1
    accel: str = "tcg"
    kernel: GuestKernel | None = None
    boot_timeout: float = 300
    init: str = field(default=INIT, repr=False)    # the guest's /init script (deep dive D boots from a disk)
    qemu_extra: tuple = ()                          # more QEMU options, e.g. a disk (deep dive D)
    console: str = ""                       # everything the guest printed, for reading afterwards
    boot_seconds: float | None = None
    guest_uptime: float | None = None
    returncode: int | None = None
    pid: int | None = None
    cgroup: object = field(default=None, repr=False)  # the lab cgroup QEMU runs in (as root), until it stops
    _proc: subprocess.Popen | None = field(default=None, repr=False)
    _record: tracker.Record | None = field(default=None, repr=False)
    _buffer: str = field(default="", repr=False)

    def __repr__(self) -> str:
        state = ("not booted" if self._proc is None else
                 "running" if self.returncode is None else f"stopped ({self.returncode})")
        release = self.kernel.release if self.kernel else "?"
        return f"<VM {release}, {self.memory_mb} MiB, {self.cpus} CPU, {self.accel}: {state}>"

    # --- starting ----------------------------------------------------------
    def boot(self) -> "VM":
        if self._proc is not None:
            raise LabError("this VM was already booted", "make a new lab.vm.VM()")
        qemu_argv(".", ".", self.memory_mb, self.cpus, self.accel)  # checks the values before anything starts
        check_host(self.memory_mb, self.cpus)
        binary = qemu_binary()
        self.kernel = self.kernel or guest_kernel()
        image = initramfs.busybox_initramfs(self.init)
        memfd = os.memfd_create("lab-vm-initramfs", 0)  # the initramfs lives in memory only
        with open(memfd, "wb", closefd=False) as f:
            f.write(image)
        argv = qemu_argv(self.kernel.path, f"/proc/self/fd/{memfd}", self.memory_mb, self.cpus, self.accel,
                         extra=tuple(self.qemu_extra))
        argv[0] = binary
        start = time.monotonic()
        try:
            self.cgroup = vm_cgroup(self.memory_mb) if os.geteuid() == 0 else None
            self._proc, self._record = start_qemu(argv, pass_fds=(memfd,), cgroup=self.cgroup)
        except BaseException:
            self._forget()
            raise
        finally:
            os.close(memfd)
        self.pid = self._proc.pid
        try:
            line = self._read_until(lambda l: l.startswith(READY), self.boot_timeout)
        except BaseException:
            self.kill()
            raise
        self.boot_seconds = time.monotonic() - start
        self.guest_uptime = float(line.split()[2])
        return self

    # --- talking to the guest over its serial console -------------------------
    def _read_until(self, done, timeout: float) -> str:
        """Read console lines until ``done(line)``; returns that line."""
        deadline = time.monotonic() + timeout
        out = self._proc.stdout.fileno()
        while True:
            while "\n" in self._buffer:
                line, self._buffer = self._buffer.split("\n", 1)
                line = line.rstrip("\r")
                self.console += line + "\n"
                if done(line):
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise LabError(f"the VM did not answer within {timeout:.0f} s; its console ended with: "
                               f"{self.console[-300:]!r}", "a heavily loaded machine is slow: raise boot_timeout")
            ready, _, _ = select.select([out], [], [], left)
            chunk = os.read(out, 65536) if ready else b""
            if ready and not chunk:  # QEMU exited
                self.returncode = self._proc.wait()
                self._forget()
                err = self._proc.stderr.read().decode(errors="replace").strip()
                raise LabError(f"QEMU exited ({self.returncode}) before the guest answered: "
                               f"{err or self.console[-300:]!r}", "read vm.console for the guest's last words")
            self._buffer += chunk.decode(errors="replace")

    def run(self, command: str, timeout: float = 120) -> str:
        """Run a shell command inside the guest; returns its output (stdout and stderr)."""
        if "\n" in command:
            raise InvalidInputError("one line at a time: the guest reads commands line by line",
                                    "join the commands with ';'")
        self._alive()
        before = len(self.console)
        self._proc.stdin.write(command.encode() + b"\n")
        self._proc.stdin.flush()
        last = self._read_until(lambda l: l.startswith(EXIT + " "), timeout)
        out = self.console[before:].removesuffix(last + "\n")
        status = int(last.split()[1])
        if status != 0:
            raise LabError(f"{command!r} failed in the VM with status {status}: {out.strip()[-200:]}")
        return out

    def memory(self) -> Memory:
        """QEMU's footprint on the host, next to what the guest kernel reports."""
        self._alive()
        rss, pss = process_memory(self.pid)
        inside = meminfo(self.run("cat /proc/meminfo"))
        return Memory(rss, pss, inside["MemTotal"], inside["MemAvailable"])

    # --- stopping --------------------------------------------------------------
    def stop(self, timeout: float = 60) -> int:
        """Power the guest off (poweroff -f: the guest kernel tells the emulated ACPI); QEMU then exits."""
        if self.returncode is None and self._proc is not None:
            self._proc.stdin.write(b"poweroff -f\n")
            self._proc.stdin.flush()
            try:
                self.returncode = self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
            self._drain()
            self._forget()
        return self.returncode

    def crash(self, timeout: float = 60) -> str:
        """Make the *guest* kernel panic (sysrq 'c'); returns the panic line. The host is untouched."""
        self._alive()
        self._proc.stdin.write(b"echo c > /proc/sysrq-trigger\n")
        self._proc.stdin.flush()
        line = self._read_until(lambda l: "Kernel panic" in l, timeout)
        try:
            self.returncode = self._proc.wait(timeout)  # panic=-1 reboots at once; -no-reboot ends QEMU
        except subprocess.TimeoutExpired:
            self.kill()
        self._drain()
        self._forget()
        return line[line.index("Kernel panic"):]

    def kill(self) -> None:
        """SIGKILL QEMU: pulling the power cord."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
        if self._proc is not None:
            self.returncode = self._proc.wait()
            self._forget()

    def _alive(self) -> None:
        if self._proc is None or self.returncode is not None:
            raise LabError("the VM is not running", "boot it first: vm = lab.vm.VM().boot()")

    def _drain(self) -> None:
        rest = self._proc.stdout.read().decode(errors="replace")
        self.console += "".join(l.rstrip("\r") + "\n" for l in (self._buffer + rest).splitlines())
        self._buffer = ""
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            try:
                stream.close()
            except OSError:
                pass  # stdin's pipe may be broken: QEMU is gone

    def _forget(self) -> None:
        if self._record is not None:
            tracker.default().forget(self._record)
            self._record = None
        if self.cgroup is not None:  # QEMU has exited: its cgroup goes too
            self.cgroup.remove()
            self.cgroup = None

    def __enter__(self) -> "VM":
        return self.boot() if self._proc is None else self

    def __exit__(self, *exc) -> None:
        if self.returncode is None:
            self.stop()


def boot(memory_mb: int = 256, cpus: int = 1, accel: str = "tcg") -> VM:
    """Boot the tiny VM and return it running; ``vm.stop()`` when done.
    Refused (InvalidInputError) if the host cannot give it ``memory_mb`` and ``cpus``."""
    return VM(memory_mb=memory_mb, cpus=cpus, accel=accel).boot()


def command_line(vm: VM) -> str:
    """The QEMU command line, as one would type it (for reading in a notebook)."""
    kernel = vm.kernel or guest_kernel()
    return shlex.join(qemu_argv(kernel.path, "INITRAMFS", vm.memory_mb, vm.cpus, vm.accel))


def available() -> tuple[bool, str, str]:
    """Can this machine boot the tiny VM? (yes or no, what it has or lacks, the fix). The doctor asks this."""
    try:
        binary = qemu_binary()
        kernel = guest_kernel()
        initramfs.busybox_initramfs("#!/bin/sh\n")
    except LabError as exc:
        return False, exc.what, exc.fix or "sudo make provision"
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    match = re.search(r"version (\S+)", version)
    return True, f"QEMU {match.group(1) if match else '?'}, guest kernel {kernel.release}", ""


__all__ = ["VM", "Memory", "GuestKernel", "boot", "start_qemu", "guest_kernel", "qemu_binary", "qemu_argv", "command_line",
           "process_memory", "meminfo", "available", "cache_dir", "check_host", "vm_cgroup", "INIT", "init_script",
           "QEMU_OVERHEAD_MB"]
