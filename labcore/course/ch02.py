"""Chapter 02, Containers vs virtual machines: its quiz and exercises."""

from __future__ import annotations

import math
import random
import statistics

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("02", "Containers vs virtual machines", [
    Choice("uname", "A container built from a CentOS 7 image runs on an Ubuntu host whose kernel is 6.8. "
                    "What does `uname -r` print inside it?",
           right="the 6.8 release string: the host's kernel answers the call",
           wrong=["CentOS 7's release, 3.10, as recorded in the image's /boot",
                  "nothing at all: the uts namespace hides the kernel release"],
           why="uname(2) is answered by the one running kernel; section 2 compared host, container and VM."),
    Choice("gap", "This chapter measured a VM starting hundreds of times slower than a container. What makes "
                  "the gap that large here?",
           right="QEMU emulated the CPU in software, against a bare namespace spawn",
           wrong=["every VM start copies its whole disk image into RAM before booting",
                  "the container reused a kernel that had cached its start from a first run"],
           why="No KVM here: TCG translates every guest instruction; and the container side was a few system "
               "calls, no image, no daemon (section 4). docker run and a KVM microVM sit in between."),
    Choice("meminfo", "Inside a container limited to 512 MiB, what does /proc/meminfo report as MemTotal?",
           right="the host's total memory: meminfo is not namespaced",
           wrong=["512 MiB: the runtime rewrites meminfo to match the cgroup",
                  "what the container has used so far, read from its cgroup"],
           why="/proc/meminfo is the kernel's global view; the limit lives in the cgroup (section 3). "
               "Tools such as LXCFS exist to fake it."),
    Choice("panic", "A process makes its kernel panic. Where does the damage stop?",
           right="in a VM at the guest; in a container nowhere, as the host's kernel died",
           wrong=["in both at the boundary: the namespace or the VM contains the crash",
                  "in a VM nowhere, as QEMU shares the host kernel; in a container at its cgroup"],
           why="Section 5 panicked a guest kernel while the host, a container and the first VM kept running."),
    Choice("tcg", "What does QEMU's TCG do that QEMU with KVM does not?",
           right="translate every guest instruction in software",
           wrong=["emulate the chipset, disks and serial port the guest sees",
                  "load a firmware (SeaBIOS) for the guest to boot from"],
           why="With KVM the CPU runs guest code itself; QEMU still emulates the board and loads the firmware "
               "(section 1)."),
    Choice("host-view", "From the host, what does ps show of the processes running inside a QEMU guest?",
           right="none of them: only QEMU's own process and threads",
           wrong=["each guest process, with a host PID, in a pid namespace of its own",
                  "the guest's PID 1 only, as a child process of QEMU"],
           why="The guest's processes live in the guest kernel's memory; the host sees one emulator process "
               "(the picture in section 3), while a container's processes are the host's own."),
    Choice("microvm", "Firecracker publishes about 125 ms from its start call to the guest's /sbin/init, against "
                      "seconds for this chapter's VM. What explains most of that difference?",
           right="KVM runs guest code natively, and it skips the firmware and most devices",
           wrong=["it boots no guest kernel: the guest's processes run on the host's kernel",
                  "its guests are containers, started with unshare and pivot_root inside QEMU"],
           why="A microVM is still a VM with its own kernel; hardware virtualisation and a minimal machine make "
               "its boot short (section 4)."),
    Recall("faster", "\"Why are containers faster to start than VMs?\" Answer in three sentences, with numbers "
                     "from this chapter and say what they compare.",
           model="A container boots nothing: starting one is clone/unshare with namespace flags, a cgroup, a mount "
                 "and execve on a kernel that is already running (a few ms for a bare spawn; about 400 ms for a "
                 "whole docker run, with the daemon, the image and the shim). A VM boots a machine: firmware, a "
                 "second kernel, its devices and its init (seconds here under software emulation; a KVM microVM "
                 "such as Firecracker publishes about 125 ms). The comparison here is the extreme one: emulated "
                 "VM against a bare namespace spawn.",
           demo="section 4"),
    Recall("hybrids", "gVisor, Kata Containers and Firecracker exist. Which weakness of containers do they address, "
                      "and what do they pay for it?",
           model="Containers share one kernel, so a kernel bug reachable by a system call exposes every container "
                 "and the host (section 5). gVisor puts a user-space kernel between the container and the host; "
                 "Kata and Firecracker run each container in a small VM with its own kernel. They pay in start time, "
                 "memory per container and system-call or I/O overhead.",
           demo="section 5"),
])


def _order(ratio: float) -> int:
    """The power of ten nearest to ``ratio`` (on a log scale)."""
    return 10 ** max(0, round(math.log10(ratio)))


def measure_ratio(containers: int = 3) -> float:
    """Boot a VM and start containers now; how many times longer the VM's start took (medians)."""
    from ..teach import compare
    from ..teach.vm import VM
    boxes = [compare.measure_container() for _ in range(containers)]
    with VM() as vm:
        booted = compare.measure_vm(vm)
    return booted.start_seconds / statistics.median(b.start_seconds for b in boxes)


class StartRatio(Exercise):
    id = "start-ratio"
    chapter = "02"
    kind = "predict"
    title = "predict how much longer a VM takes to start than a container"
    task = """Before running section 4, predict how many times longer the tiny VM takes to start than a container
on this machine, as a power of ten: 1, 10, 100, 1000, 10000 or 100000. A start is timed from the call
that starts it to the first line the program inside prints. The checker boots a VM and starts
containers now (this takes a few seconds), and compares the order of magnitude."""
    hint = "think of what each start does: a few system calls, against firmware plus a whole kernel's boot"

    ratio: float | None = None

    def verify(self, answer):
        try:
            guess = int(str(answer).strip())
        except ValueError:
            return f"{answer!r} is not one of 1, 10, 100, 1000, 10000, 100000"
        if guess not in (1, 10, 100, 1000, 10000, 100000):
            return f"{guess} is not a power of ten: pick 1, 10, 100, 1000, 10000 or 100000"
        if self.ratio is None:
            self.ratio = measure_ratio()
        truth = _order(self.ratio)
        if guess == truth:
            return None
        if guess < truth:
            return (f"too low: the VM's start costs more than {guess} container starts here. Under software "
                    "emulation every guest instruction of the firmware and the kernel's boot is translated")
        return ("too high: a container start is not that cheap next to the VM here. It is a process start "
                "in new namespaces, a few system calls, but still a fork and an execve")


class TellApart(Exercise):
    id = "vm-or-container"
    chapter = "02"
    kind = "build"
    title = "tell a VM from a container, from inside"
    task = """Write a function `which(run)` that returns "vm" or "container". `run(command)` runs a shell command
in a box you cannot see and returns its output as a string; the box is either a container on this
host or the tiny VM. Decide from what the kernel inside tells you (the host's own files are yours to
read too). The checker hands your function several boxes, in a random order."""
    hint = "chapter 01 and section 2 compared two readings that only a different kernel can change"

    def setup(self):
        from ..ns import namespaces
        self.ns = namespaces.usable(namespaces.CONTAINER)
        self.vm = None  # booted at the first check: opening the exercise should not cost a VM's boot

    def _vm(self, command: str) -> str:
        from ..teach.vm import VM
        if self.vm is None:
            self.vm = VM().boot()
        return self.vm.run(command)

    def _container(self, command: str) -> str:
        from ..ns.process import run
        return run(["sh", "-c", command], self.ns, hostname=f"box{random.randrange(1000, 9999)}").stdout

    def verify(self, answer):
        if not callable(answer):
            return "pass your function itself (which, without parentheses)"
        boxes = [("container", self._container), ("vm", self._vm)] * 2
        random.shuffle(boxes)
        for truth, run in boxes:
            got = answer(run)
            if got not in ("vm", "container"):
                return f"which() returned {got!r}: return 'vm' or 'container'"
            if got != truth:
                return (f"which() said {got} for a {'VM' if truth == 'vm' else 'container'}: compare something "
                        "the box reports with the host's own value, something no namespace can change")
        return None

    def close(self):
        if self.vm is not None:
            self.vm.stop()


EXERCISES = [StartRatio, TellApart]


__all__ = ["QUIZ", "EXERCISES"]
