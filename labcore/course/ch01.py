"""Chapter 01, What Docker really is: its quiz and exercises."""

from __future__ import annotations

import secrets

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("01", "What Docker really is", [
    Choice("kernel", "A container built from an Alpine image runs on a Debian host. Which kernel runs its process?",
           right="the Debian host's kernel: the image brings files, not a kernel",
           wrong=["Alpine's kernel, shipped in the image and started by the runtime",
                  "a small kernel the Docker daemon keeps for all containers"],
           why="One kernel for everybody: section 4 read the same release and boot id inside and out."),
    Choice("pid", "The host's ps lists a container's main process as PID 48213. What does that process "
                  "read from getpid()?",
           right="1, its PID in the newest pid namespace it belongs to",
           wrong=["48213, since a process has only one PID", "0, the PID the kernel reserves for its own idle task"],
           why="NSpid in /proc/PID/status lists one PID per pid namespace; getpid() returns the last (section 2)."),
    Choice("same-netns", "How do you prove from the host that two processes share a network namespace?",
           right="readlink /proc/PID/ns/net shows the same inode number for both",
           wrong=["both report the same IP address in `ip addr`",
                  "both have the same parent process in `ps -o ppid`"],
           why="The inode number is the namespace's identity; two namespaces can hold the same address "
               "(section 5)."),
    Choice("137", "`docker ps -a` shows a container as `Exited (137)`. What happened to it?",
           right="its main process was killed by SIGKILL: docker kill, the OOM killer, or a stop that timed out",
           wrong=["its main process called exit(137) after an unhandled exception",
                  "the runtime could not find the image's entrypoint and gave up"],
           why="wait(2) reports the signal; runtimes and shells turn death by signal N into 128 + N (section 6)."),
    Choice("unshare-pid", "A process calls unshare(CLONE_NEWPID). What is its own PID right after?",
           right="unchanged; its next child is born as PID 1 of the new namespace",
           wrong=["1, since it now leads the new pid namespace",
                  "a fresh PID the kernel allocates in the new namespace"],
           why="A process never changes PID: unshare only sets /proc/self/ns/pid_for_children (section 1)."),
    Recall("vm-or-not", "An interviewer asks: \"Is a container a lightweight virtual machine?\" Answer in "
                        "three sentences, with one thing you would show on a terminal to prove it.",
           model="No. A virtual machine runs its own kernel on virtual hardware under a hypervisor; a container "
                 "is an ordinary process of the host's kernel, with namespaces limiting what it sees and "
                 "cgroups limiting what it uses. Proof: the host's ps lists the container's process with a "
                 "host PID, and uname -r and /proc/sys/kernel/random/boot_id read the same inside and out.",
           demo="sections 2 and 4"),
    Recall("stop", "What does `docker stop` do to a container, in terms of processes and signals?",
           model="It sends SIGTERM to the container's PID 1 (or the image's STOPSIGNAL), waits for the grace "
                 "period (10 s by default), then sends SIGKILL. There is nothing else to stop: when PID 1 "
                 "dies, the kernel kills the rest of its pid namespace.",
           demo="section 6; chapter 04a shows why PID 1 may ignore SIGTERM"),
])


class KillStatus(Exercise):
    id = "kill-status"
    chapter = "01"
    kind = "predict"
    title = "predict the status of a container killed with SIGKILL"
    task = """Before running the section "Stopping a container is killing a process", predict the number
Docker would show in `Exited (N)` for a container whose PID 1 was killed with SIGKILL (signal 9).
Write it as a number. The checker kills a real container and compares."""
    hint = "wait(2) says 'killed by signal 9'; the number Docker prints follows the shell's convention."

    def verify(self, answer):
        from ..ns import namespaces
        from ..ns.process import spawn
        box = spawn(["sleep", "60"], namespaces.usable(namespaces.CONTAINER), hostname="predict")
        try:
            box.kill()
            status = box.wait(timeout=5)
        finally:
            box.close()
        if str(answer).strip() == str(status):
            return None
        if str(answer).strip() == "9":
            return "9 is the signal itself; the status a shell or a runtime shows adds something to it"
        if str(answer).strip().lstrip("-") == "9":
            return "a negative number is how Python's subprocess reports a signal, not what Docker shows"
        return f"{answer} is not what the kernel and the runtime report here: think 'death by signal N'"


class FindContainer(Exercise):
    id = "find-container"
    chapter = "01"
    kind = "build"
    title = "find a container from the host, with /proc only"
    task = """Write a function `find(marker)` that returns `(host_pid, inner_pid)` of the container
whose command line is `sleep <marker>`, using only files under /proc (no labcore, no ps): the way
an administrator finds a container's process on a Docker host. The checker starts a container with a
marker of its own and calls your function."""
    hint = "every process has /proc/PID/cmdline (arguments separated by NUL bytes) and the NSpid line "\
           "of /proc/PID/status"

    def setup(self):
        from ..ns import namespaces
        from ..ns.process import spawn
        self.marker = str(1000 + secrets.randbelow(9000))
        self.target = spawn(["sleep", self.marker], namespaces.usable(namespaces.CONTAINER), hostname="find-me")

    def verify(self, answer):
        if not callable(answer):
            return "pass your function itself (find, without parentheses)"
        found = answer(self.marker)
        if not isinstance(found, tuple) or len(found) != 2:
            return f"find() returned {found!r}: return a pair (host_pid, inner_pid)"
        host_pid, inner_pid = (int(x) for x in found)
        if host_pid != self.target.pid:
            return f"{host_pid} is not the container's host PID: compare the whole cmdline, NULs included"
        if inner_pid != 1:
            return f"inside its namespace it is not PID {inner_pid}: NSpid lists the host's PID first"
        return None

    def close(self):
        self.target.close()


EXERCISES = [KillStatus, FindContainer]


__all__ = ["QUIZ", "EXERCISES"]
