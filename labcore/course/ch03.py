"""Chapter 03, The kernel primitives: its quiz and exercises."""

from __future__ import annotations

import errno
import os
import secrets
import time
from pathlib import Path

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("03", "The kernel primitives", [
    Choice("limit", "Which primitive stops a container from using more than 64 MiB of memory?",
           right="a control group, through the limit file in its directory",
           wrong=["a memory namespace, which hides the rest of the host's RAM",
                  "the overlay filesystem, which caps the writable layer's size"],
           why="Limits are files in the group's cgroup directory (section 2.2); there is no memory namespace."),
    Choice("sees-own", "Which primitive makes a container see only its own processes in ps?",
           right="a pid namespace, with a /proc mounted inside it",
           wrong=["a pids cgroup, which lists its own tasks to ps",
                  "pivot_root, which hides the host's /proc directory"],
           why="A new pid namespace, found as a different /proc/PID/ns/pid inode (section 2.1); ps reads the "
               "/proc mounted for that namespace."),
    Choice("write-lands", "The container writes /srv/note. Where does the file land on the host?",
           right="in the overlay's upper directory, the container's own layer",
           wrong=["in the image's top layer, the one that /srv came from",
                  "in the overlay's work directory, until the container stops"],
           why="Overlayfs sends every write to upperdir; the lower layers are untouched (section 2.3)."),
    Choice("proc-root", "From the host, how do you read a file inside a running container without entering it?",
           right="through /proc/PID/root/, its root as the process sees it",
           wrong=["through /var/lib/docker/image/, where its files are unpacked",
                  "through /proc/PID/cwd/, which always points at its own /"],
           why="/proc/PID/root is a link to the process's root directory, even in another mount namespace "
               "(section 2.3)."),
    Choice("inspect", "`docker inspect` shows a container's memory limit as 64 MiB, but someone has since written "
                      "another value into its memory.max by hand. Which limit does the kernel enforce?",
           right="the value now in the file: inspect shows the daemon's saved config",
           wrong=["64 MiB: docker inspect reads the kernel's value each time it runs",
                  "64 MiB: the runtime puts its own value back within a second"],
           why="The kernel enforces the cgroup file; docker inspect answers from the daemon's stored records "
               "(section 2), which only docker update changes."),
    Choice("beyond", "Beyond namespaces, a cgroup and an overlay root, which of these also confines a container "
                     "that a default `docker run` starts?",
           right="a seccomp filter that refuses dozens of system calls",
           wrong=["a user namespace mapping its root to an unprivileged host user",
                  "a private copy of every sysctl under /proc/sys to change freely"],
           why="Docker adds a seccomp filter, a reduced capability set, an LSM profile and masked paths; user "
               "namespaces only with userns-remap or rootless mode, and /proc/sys is read-only (section 3)."),
    Recall("isolation", "\"How does Docker isolate a process?\" Name the mechanisms, what each does, and how you "
                        "would show one of each from the host.",
           model="Three primitives build the container: namespaces (what it sees; /proc/PID/ns), a cgroup (what it "
                 "may use; /proc/PID/cgroup and the limit files), an overlay root (its files; /proc/PID/mountinfo, "
                 "upperdir). Around them Docker narrows what the process may do: a reduced capability set "
                 "(CapEff in /proc/PID/status), a seccomp filter (Seccomp: 2), an AppArmor or SELinux profile "
                 "(/proc/PID/attr/current), and masked or read-only paths under /proc and /sys.",
           demo="sections 2 and 3; chapter 10"),
    Recall("teardown", "Why does removing a container take several separate clean-ups, and in what order?",
           model="The kernel has no container object: the process, its cgroup and its overlay are independent "
                 "objects. Kill the process first (its namespaces go with their last process, and it holds "
                 "the others busy), then remove the cgroup directory (refused while a process is in it), then "
                 "unmount the overlay and delete the upper directory.",
           demo="section 4"),
])


def rmdir_with_a_process() -> str:
    """rmdir(2) a cgroup directory while a process sits in the group: 'succeeds' or the errno's name."""
    from .. import cgroups
    from ..ns import namespaces
    from ..ns.process import spawn
    group = cgroups.create(f"lab-ch03-rmdir-{secrets.token_hex(3)}", pids=8)
    try:
        box = spawn(["sleep", "60"], namespaces.usable(namespaces.CONTAINER), cgroup=group)
        try:
            try:
                os.rmdir(group.directories()[0])
                return "succeeds"
            except OSError as e:
                return errno.errorcode.get(e.errno, str(e.errno))
        finally:
            box.close()
    finally:
        group.remove()


class RmdirBusy(Exercise):
    id = "rmdir-busy"
    chapter = "03"
    kind = "predict"
    title = "predict what rmdir does to a cgroup that still holds a process"
    task = """Before running section 4, predict what rmdir(2) of a cgroup's directory does while a process still
runs in that group. Write "succeeds", or the name of the error you expect, as errno(3) spells it
(for example "EACCES"). The checker puts a process in a group of its own and tries."""
    hint = "a cgroup is a directory the kernel watches: think of what would become of the process inside"

    truth: str | None = None

    def verify(self, answer):
        guess = str(answer).strip().upper().split(":")[0]
        if self.truth is None:
            self.truth = rmdir_with_a_process()
        if guess == self.truth.upper():
            return None
        if guess == "SUCCEEDS":
            return "then the process would sit in a group that no longer exists: the kernel does not allow it"
        if guess in ("EPERM", "EACCES"):
            return "root may remove cgroup directories: the kernel objects to what the group holds, not to you"
        if guess == "ENOTEMPTY":
            return ("close, but no: rmdir ignores a cgroup's control files, so 'not empty' is not the kernel's "
                    "complaint here")
        if not guess.startswith("E"):
            return f"{answer!r} is neither 'succeeds' nor an error name such as EACCES"
        return f"not {guess}: the kernel's refusal is about the process that still belongs to the group"


class ContainerDiff(Exercise):
    id = "container-diff"
    chapter = "03"
    kind = "build"
    title = "list what a container changed, from the host, as docker diff does"
    task = """Write a function `changed(pid)` that returns the set of files (regular files only, not directories)
that the container whose host PID is `pid` has created or modified since it started, as paths inside
the container ("/etc/passwd"). Use only the host's files and that PID: no labcore, no entering the
container. The checker starts a container of its own that writes a few files, and calls your function."""
    hint = "its own mount table (/proc/PID/mountinfo) says what its / is made of, and where each part lives"

    def setup(self):
        from .. import fs, images
        from ..ns.process import spawn
        names = [secrets.token_hex(3) for _ in range(3)]
        self.expected = {f"/tmp/{names[0]}", f"/srv/{names[1]}/{names[2]}", "/etc/passwd"}
        script = (f"echo note > /tmp/{names[0]}; mkdir -p /srv/{names[1]}; echo data > /srv/{names[1]}/{names[2]}; "
                  "echo 'guest:x:1000:1000::/tmp:/bin/sh' >> /etc/passwd; exec sleep 600")
        self.work = fs.Scratch("ch03-diff")
        self.root = self.box = None
        try:
            base = images.busybox_rootfs(self.work.dir("base"))
            self.root = fs.container_layer([base], name="ch03-diff")
            self.box = spawn(["/bin/sh", "-c", script], hostname="diff", rootfs=self.root.merged)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{self.box.pid}/comm").read_text().strip() != "sleep" and time.monotonic() < deadline:
                time.sleep(0.01)
        except BaseException:
            self.close()
            raise

    def verify(self, answer):
        if not callable(answer):
            return "pass your function itself (changed, without parentheses)"
        found = answer(self.box.pid)
        if isinstance(found, (list, tuple, frozenset)):
            found = set(found)
        if not isinstance(found, set):
            return f"changed() returned {type(found).__name__}: return a set of paths"
        found = {str(p) for p in found}
        if any(not p.startswith("/") for p in found):
            return "write each path as the container sees it, starting with /"
        if len(found) > 10 * len(self.expected):
            return (f"{len(found)} paths: that is the container's whole root, image included; "
                    "keep only what the container itself wrote")
        missing, extra = self.expected - found, found - self.expected
        if missing and not extra and any(p.startswith("/etc/") for p in missing):
            return "one file is missing: the container also changed a file that came from the image"
        if missing:
            return f"{len(missing)} changed file(s) missing from your set: look at every directory of its writable part"
        if extra:
            return f"{len(extra)} path(s) too many, such as {sorted(extra)[0]}: regular files only, and only its own"
        return None

    def close(self):
        if self.box is not None:
            self.box.close()
        if self.root is not None:
            self.root.unmount()
        self.work.remove()


EXERCISES = [RmdirBusy, ContainerDiff]


__all__ = ["QUIZ", "EXERCISES"]
