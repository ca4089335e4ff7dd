"""Chapter 00, Start here: the lab and its machine: its quiz and exercises."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("00", "Start here: the lab and its machine", [
    Choice("root", "Why do most of the course's demos need a kernel process that is root with CAP_SYS_ADMIN?",
           right="unshare(2) and mount(2) check CAP_SYS_ADMIN before making namespaces or mounts",
           wrong=["without root, a Jupyter kernel may not read other processes' /proc/PID/status files",
                  "ctypes, which calls into libc, is only allowed to load in a Python run by root"],
           why="Creating namespaces, cgroups and mounts is privileged; uid 0 without the capability is not "
               "enough (section 1 and the doctor's root line)."),
    Choice("hybrid", "A machine mounts cpu, memory and pids as separate cgroup filesystems, and also a cgroup2 "
                     "filesystem at /sys/fs/cgroup/unified holding no controller. Which mode is that?",
           right="hybrid: the controllers on v1, next to a nearly empty v2 tree",
           wrong=["v1: a cgroup2 mount is ignored while any v1 hierarchy exists",
                  "v2: one cgroup2 mount anywhere makes the whole machine unified"],
           why="The doctor's cgroups line and the raw mount table (section 2): v1 hierarchies plus a cgroup2 "
               "mount is the transition state called hybrid."),
    Choice("evidence", "Which is the strongest evidence that a process runs inside a container?",
           right="PID 2 in its /proc is not kthreadd",
           wrong=["a file named /.dockerenv sits at its root", "its hostname is twelve hexadecimal digits"],
           why="Only the host's initial pid namespace shows the kernel's threads; files and names are hints "
               "anyone can copy (section 3)."),
    Choice("record-first", "Why does the lab write an object's record before it creates the object, not after?",
           right="a crash between the two steps leaves a record to undo, never an unknown object",
           wrong=["the kernel refuses to make a namespace or a cgroup that has no record file yet",
                  "writing after would need root again, which the lab may have dropped by then"],
           why="A record without its object is harmless (undo tolerates 'already gone'); an object without "
               "a record would leak (section 4)."),
    Choice("start-time", "Cleanup finds the record of a process, PID 5030. Why does it compare the process's "
                         "start time as well as the PID before killing it?",
           right="PIDs are reused: another program may have been given 5030 since",
           wrong=["a zombie keeps its PID, and only its start time says if it can die",
                  "the start time tells which pid namespace counted the PID 5030"],
           why="The kernel hands out PIDs again once they are free; the pair (PID, start time) names one "
               "process for the whole life of the boot (section 4)."),
    Choice("scope", "What may `labcore cleanup` remove?",
           right="objects it has a record of that carry the lab's name or live under its directories",
           wrong=["every process whose parent has died, Docker's containers included, as they are orphans",
                  "any mount or cgroup made since boot that no running process uses any more"],
           why="Each undo checks the lab's prefix (lab- links, the labcore cgroup subtree, the lab's paths) "
               "before touching anything: it cannot remove the host's objects (section 4)."),
    Choice("v2-files", "On a machine in cgroup v2 mode, where are the limit files of a process's cgroup?",
           right="in one directory of the single tree at /sys/fs/cgroup, named by the 0:: line",
           wrong=["in one directory per controller, such as /sys/fs/cgroup/memory/<path> for memory",
                  "in /proc/PID/limits, which the kernel rewrites when a limit changes"],
           why="v2 has one unified tree; /proc/PID/cgroup has a single line 0::/path (section 2). "
               "/proc/PID/limits shows rlimits, another mechanism."),
    Recall("doctor", "What does the lab doctor check before you start, and why does it try things for real "
                     "instead of reading configuration files?",
           model="Whether the kernel process is root with CAP_SYS_ADMIN, the kernel release, whether we are "
                 "ourselves in a container, seccomp and LSMs, the namespace kinds and whether it can create "
                 "them (as root or through a user namespace), the cgroup mode and usable controllers, overlayfs, "
                 "the tiny VM and the tools. Configuration says what should be allowed; a sysctl, an LSM, a "
                 "seccomp filter or a missing capability can still refuse, so only trying proves it, and each "
                 "no comes with the reason that decided it and the fix.",
           demo="section 2"),
    Recall("orphan", "A notebook kernel that had started a container is killed by the OOM killer. What "
                     "happens to the container, and how is the machine put back?",
           model="The container keeps running: its process is an ordinary process, which the kernel gives a "
                 "new parent (the nearest child subreaper, or PID 1). Its cgroup and mounts stay too, since "
                 "nothing removes them. Because every object was recorded before it was made, "
                 "`labcore cleanup` reads the records, checks each one (PID and start time, the lab's names), "
                 "kills the process, then unmounts and removes the rest.",
           demo="section 4"),
])


def _status_field(pid: int, name: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return ""


CRASHER = ("import time, labcore as lab\n"
           "box = lab.spawn(['sleep', '600'], lab.namespaces.usable())\n"
           "print(box.pid, flush=True)\n"
           "time.sleep(600)")


def orphan_parent() -> tuple[int, int]:
    """Crash a process that started a container; return (the creator's PID, the orphan's PPid after).

    The container is made in a private state directory and removed with `labcore cleanup`, whatever happens.
    """
    state = tempfile.mkdtemp(prefix="lab-crash-demo-")
    env = dict(os.environ, LABCORE_STATE_DIR=state)
    creator = subprocess.Popen([sys.executable, "-c", CRASHER], env=env, stdout=subprocess.PIPE, text=True)
    try:
        orphan = int(creator.stdout.readline())
        creator.kill()
        creator.wait(timeout=10)
        deadline = time.monotonic() + 5
        parent = int(_status_field(orphan, "PPid"))
        while parent == creator.pid and time.monotonic() < deadline:
            time.sleep(0.01)
            parent = int(_status_field(orphan, "PPid"))
        return creator.pid, parent
    finally:
        if creator.poll() is None:
            creator.kill()
            creator.wait()
        creator.stdout.close()
        subprocess.run([sys.executable, "-m", "labcore", "cleanup"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(state, ignore_errors=True)


class OrphanParent(Exercise):
    id = "orphan-parent"
    chapter = "00"
    kind = "predict"
    title = "predict who adopts a container whose creator crashed"
    task = """Section 4 starts a container from a separate Python process, then kills that process with
SIGKILL. Before running it, predict the container's parent afterwards: the PPid the host's
/proc/PID/status shows for the container's process once its creator is dead. Write it as a number.
The checker crashes a creator of its own and compares."""
    hint = "a process never stays without a parent: when its parent dies, the kernel picks a new one"

    truth: tuple[int, int] | None = None

    def verify(self, answer):
        try:
            guess = int(str(answer).strip())
        except ValueError:
            return f"{answer!r} is not a PID: write the parent's process ID as a number"
        if self.truth is None:
            self.truth = orphan_parent()
        creator, parent = self.truth
        if guess == parent:
            return None
        if guess == os.getpid():
            return "this notebook's kernel started the creator, but it is not next in line to adopt its orphans"
        if guess == 0:
            return "PID 0 is the kernel's idle task, which adopts nobody: the orphan gets a real process"
        if guess == creator:
            return "the creator is dead: the kernel cannot leave a dead process as anybody's parent"
        if parent != 1 and guess == 1:
            return ("usually right, but not on this machine: a process above the creator asked the kernel "
                    "to adopt orphans (prctl PR_SET_CHILD_SUBREAPER); look for it among the creator's ancestors")
        return f"{guess} is not the new parent: which process adopts every orphan on a Linux system?"


# Mount tables of the three kinds of machine, as /proc/self/mounts shows them.
V2_MOUNTS = """\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
/dev/vda1 / ext4 rw,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0
tmpfs /run tmpfs rw,nosuid,nodev,size=403928k,mode=755 0 0
"""
V1_MOUNTS = """\
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
/dev/sda2 / ext4 rw,relatime 0 0
tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,nosuid,nodev,noexec,relatime,pids 0 0
"""
HYBRID_MOUNTS = """\
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,xattr,name=systemd 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,nosuid,nodev,noexec,relatime,pids 0 0
/dev/sda1 / ext4 rw,relatime 0 0
"""


class CgroupMode(Exercise):
    id = "cgroup-mode"
    chapter = "00"
    kind = "build"
    title = "tell a machine's cgroup mode from its mount table"
    task = """Write a function `mode(mounts)` that takes the text of a mount table, as /proc/self/mounts
prints it (one mount a line: device, mount point, filesystem type, options, two numbers), and returns
"v1", "hybrid" or "v2". No labcore: read the lines. The checker calls it on this machine's own mount
table, compared with what the kernel shows here, and on the tables of two other kinds of machine."""
    hint = "look at the third field of each line: which of `cgroup` and `cgroup2` appear, and where"

    def verify(self, answer):
        if not callable(answer):
            return "pass your function itself (mode, without parentheses)"
        from ..doctor import cgroup_mode
        here = Path("/proc/self/mounts").read_text()
        cases = [("this machine", here, cgroup_mode())]
        cases += [(f"a {name} machine", text, name) for name, text in
                  (("v1", V1_MOUNTS), ("v2", V2_MOUNTS), ("hybrid", HYBRID_MOUNTS)) if name != cgroup_mode()]
        for where, text, wanted in cases:
            got = answer(text)
            if got not in ("v1", "hybrid", "v2"):
                return f"mode() returned {got!r} for {where}: return 'v1', 'hybrid' or 'v2'"
            if got != wanted:
                return (f"mode() says {got} for {where}, which is not what its mount table shows: "
                        "count the lines of type cgroup and of type cgroup2, and note where cgroup2 is mounted")
        return None


EXERCISES = [OrphanParent, CgroupMode]


__all__ = ["QUIZ", "EXERCISES"]
