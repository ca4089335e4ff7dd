"""Deep dive A, the namespace system calls: its quiz and exercises."""

from __future__ import annotations

import os
import secrets

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("A", "The namespace system calls", [
    Choice("born-pid1", "Which call gives you a process that is PID 1 of a new pid namespace from its very "
                        "first instruction?",
           right="clone(2) with CLONE_NEWPID: the new child is born inside",
           wrong=["unshare(2) with CLONE_NEWPID: the caller itself is renumbered 1",
                  "setns(2) on a new pid namespace's file: the caller becomes its init"],
           why="unshare and setns only set pid_for_children; clone makes the child inside at once (sections 2 "
               "and 3)."),
    Choice("newtime", "Why can clone(2) not create a time namespace, when unshare(2) and clone3(2) can?",
           right="CLONE_NEWTIME is 0x80, inside the byte where clone(2) takes the exit signal",
           wrong=["clone(2) checks CAP_SYS_TIME, which container runtimes never hold at that point",
                  "a time namespace needs a process that has already called execve(2) once"],
           why="CLONE_NEWTIME & CSIGNAL is not 0; clone3(2) passes 64-bit flags and the signal apart (section 1)."),
    Choice("init-dies", "PID 1 of a pid namespace exits while two other processes still run in it. What follows?",
           right="the kernel SIGKILLs the rest, and a later fork() into the namespace fails",
           wrong=["the oldest process left becomes the namespace's new PID 1 and keeps it running",
                  "the processes left are adopted by the host's init and carry on as before"],
           why="zap_pid_ns_processes() kills what remains; alloc_pid() then refuses new PIDs: ENOMEM (section 3)."),
    Choice("setns-pid", "After setns(fd, CLONE_NEWPID) into a container's pid namespace, what has changed for the "
                        "process that called it?",
           right="only pid_for_children: its next child gets a PID inside",
           wrong=["its getpid(): it now has the next free PID inside the container",
                  "its /proc/self: it now points at the container's view of itself"],
           why="A process never changes PID; the setns step changed only pid_for_children, and the child was "
               "PID 2 (section 4)."),
    Choice("threads", "Why does runc make its setns(2) calls in C code that runs before the Go runtime starts?",
           right="the kernel refuses a threaded process setns into a user or mount namespace",
           wrong=["Go's standard library has no wrappers for the unshare(2) and setns(2) calls",
                  "C code starts faster, and runc must create hundreds of containers a second"],
           why="userns_install() and mntns_install() return EINVAL to a process with several threads; "
               "setns(CLONE_NEWUSER) from this notebook's kernel did (section 4)."),
    Choice("keepalive", "A network namespace's last process exits. What can keep the namespace and its addresses "
                        "alive?",
           right="a bind mount of its nsfs file, or an open descriptor on it",
           wrong=["its devices, listed under /sys/class/net until you delete them",
                  "the veth peer in the host, which holds a reference to it"],
           why="Processes, descriptors, bind mounts and dependent namespaces are the references; we entered the "
               "namespace through both after its process was gone (section 6)."),
    Choice("owner", "What does ioctl(fd, NS_GET_USERNS) answer for a network namespace's file?",
           right="a descriptor on the user namespace that owns that network namespace",
           wrong=["a descriptor on the user namespace of the process that opened the file",
                  "the uid of the process that first created the network namespace here"],
           why="Every namespace is owned by the user namespace its creator was in; capabilities count there "
               "(section 5)."),
    Recall("nsenter", "An interviewer asks: \"What does nsenter -t PID -a sh do, system call by system call?\" "
                      "Answer, and say why it forks before running sh.",
           model="It opens every /proc/PID/ns/KIND file first (once it has joined the mount namespace, the host's "
                 "/proc may be out of reach), then calls setns(2) on each: the user namespace first if there is "
                 "one, since it owns the others. setns on the pid namespace only changes pid_for_children, so it "
                 "forks: the child is born in the container's pid namespace, with a PID like 2 inside, and execs "
                 "sh. docker exec does the same through runc.",
           demo="section 4"),
    Recall("three-calls", "Explain the difference between clone(2), unshare(2) and setns(2), and the two kinds of "
                          "namespace they treat differently.",
           model="All three take the same CLONE_NEW* bits. clone creates a child born in new namespaces; unshare "
                 "creates new namespaces and moves the caller; setns moves the caller into an existing namespace "
                 "given a file descriptor on its nsfs file. For pid and time, unshare and setns never move the "
                 "caller: they set pid_for_children or time_for_children, and only its next children go there.",
           demo="sections 1 to 4"),
])


def _pid_for_children_after_unshare() -> str:
    """In a throwaway child: unshare(CLONE_NEWPID), fork nothing, and look at pid_for_children."""
    from .. import kernel
    from ..kernel import flags as F
    ours = os.stat("/proc/self/ns/pid").st_ino
    kernel.default().unshare(F.CLONE_NEWPID)
    try:
        now = os.stat("/proc/self/ns/pid_for_children").st_ino
    except FileNotFoundError:
        return "none"
    return "same" if now == ours else "new"


WORDS = {"same": "same", "ours": "same", "old": "same", "new": "new", "none": "none",
         "enoent": "none", "error": "none", "nothing": "none"}


class PidForChildren(Exercise):
    id = "pid-for-children"
    chapter = "A"
    kind = "predict"
    title = "predict /proc/self/ns/pid_for_children right after unshare(CLONE_NEWPID)"
    task = """A process calls unshare(CLONE_NEWPID) and has not forked yet. Then it looks at
/proc/self/ns/pid_for_children. What does it find? Answer with one word:
  "same": the file still names the process's own pid namespace;
  "new":  the file names the new pid namespace (an inode seen nowhere else yet);
  "none": the file cannot be opened at all.
The checker makes the call in a throwaway process and compares."""
    hint = "unshare(2) creates the namespace at once; ask whether the kernel gives out a handle on it yet"

    def verify(self, answer):
        from ..ns.process import call
        said = WORDS.get(str(answer).strip().strip('"\'').lower())
        if said is None:
            return f"{answer!r} is not one of the three words: answer \"same\", \"new\" or \"none\""
        truth = call(_pid_for_children_after_unshare, ns=(), timeout=30)
        if said == truth:
            return None
        if said == "same":
            return "unshare(CLONE_NEWPID) did change something in this process: not the file's old target"
        if said == "new":
            return ("the namespace exists, but think about what a pid namespace needs before the kernel "
                    "will hand out a handle on it")
        return "the kernel answered differently here: read section 3 again after running it"


class PeekInside(Exercise):
    id = "peek-inside"
    chapter = "A"
    kind = "build"
    title = "join a container's uts and net namespaces by hand, and look around"
    task = """Write `peek(pid)`. The checker runs it in a throwaway process (as lab.call does, so your
calls never touch the notebook's kernel) with the host PID of a container it started. peek must join
that container's uts and net namespaces, and no other, by the system call itself: open
/proc/PID/ns/KIND and call setns(2) on the descriptor (lab.kernel.default().setns(fd, nstype); the
flags are in lab.kernel.flags). Then return a pair: (the hostname your process now sees, the names
of the network interfaces your process now sees). The checker compares both with the container's
and looks at which namespaces your process is in when peek returns."""
    hint = "two opens, two setns calls; then ask the kernel for the hostname and the interfaces, in this process"

    def setup(self):
        from ..ns import namespaces
        from ..ns.process import spawn
        tag = secrets.token_hex(2)
        self.hostname = f"peek-{tag}"
        self.device = f"lab-br{tag}"
        # A bridge of its own, named at random, so its interfaces differ from any other network namespace's.
        script = f"ip link add {self.device} type bridge 2>/dev/null; echo ok; exec sleep 600"
        self.target = spawn(["sh", "-c", script], namespaces.usable(("pid", "mnt", "uts", "ipc", "net")),
                            hostname=self.hostname, capture=True)
        self.target.stdout.readline()

    @property
    def pid(self) -> int:
        return self.target.pid

    def verify(self, answer):
        from ..ns.calls import links
        from ..ns.process import call
        from ..proc import net
        if not callable(answer):
            return "pass your function itself (peek, without parentheses)"

        def run(fn, pid):
            before = links()
            seen = fn(pid)
            return before, seen, links()

        before, seen, after = call(run, answer, self.pid, ns=(), timeout=30)
        theirs = links(self.pid)
        if not isinstance(seen, (tuple, list)) or len(seen) != 2:
            return f"peek returned {seen!r}: return a pair (hostname, interface names)"
        hostname, devices = seen
        for kind in ("uts", "net"):
            if after[kind] != theirs[kind]:
                return (f"when peek returned, your process was not in the container's {kind} namespace: "
                        "setns(2) moves the process that calls it, a command run 'inside' does not move you")
        extra = [k for k in ("mnt", "ipc", "pid_for_children", "cgroup", "user") if after[k] != before[k]]
        if extra:
            return f"you joined more than uts and net ({', '.join(extra)} changed too): join only those two"
        if str(hostname) != self.hostname:
            return f"{hostname!r} is not the hostname the container sees: read it after joining, in your process"
        try:
            names = sorted(str(d) for d in devices)
        except TypeError:
            return f"{devices!r} is not a list of interface names"
        if names != sorted(net.interfaces(self.pid)):
            return ("those are not the interfaces of the container's network namespace: ask in a way that "
                    "follows the caller's network namespace (sysfs shows the one it was mounted in)")
        return None

    def close(self):
        self.target.close()


EXERCISES = [PidForChildren, PeekInside]


__all__ = ["QUIZ", "EXERCISES"]
