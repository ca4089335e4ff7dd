"""Deep dive E, the container lifecycle call by call: its quiz and exercises."""

from __future__ import annotations

import secrets

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("E", "The container lifecycle, call by call", [
    Choice("first-ns", "In both traces, which comes first: the container's cgroup, or its namespaces?",
           right="the cgroup: the runtime places the first child in it before that child unshares",
           wrong=["the namespaces: a cgroup can only be joined by a process already in its pid namespace",
                  "neither: the kernel makes both at once when clone(2) carries CLONE_NEWCGROUP"],
           why="Section 3: every process forked later is then counted and limited from its first instruction."),
    Choice("pivot", "Why does a runtime bind-mount the rootfs onto itself before pivot_root(2)?",
           right="pivot_root needs the new root to be a mount point, and a plain directory is not one",
           wrong=["the bind mount copies the image's files so the container cannot change the bundle",
                  "pivot_root refuses any new root whose files belong to a user other than the caller"],
           why="Section 3: mount(rootfs, rootfs, MS_BIND|MS_REC) comes first in both traces."),
    Choice("seccomp-last", "Why is the seccomp filter the last thing loaded before execve in both runtimes?",
           right="the filter would also bind the runtime's own remaining calls, which it may forbid",
           wrong=["the kernel accepts a seccomp filter only from a process that holds no capabilities",
                  "a filter loaded earlier would be discarded by pivot_root with the old root"],
           why="Section 3: with no_new_privs set, a filter needs no privilege, so it can wait until the end; "
               "Docker's profile forbids mount, pivot_root and more, which the runtime itself still calls."),
    Choice("cold-attach", "The first write of a PID into cgroup.procs after a quiet moment takes milliseconds, the "
                          "same write right after it a tenth of a millisecond. Why?",
           right="its writer lock is a per-CPU rwsem, whose writer waits for an RCU grace period unless one came shortly before",
           wrong=["the first write builds the cgroup's list of processes, which later writes only append to",
                  "the kernel checks the writer's capabilities once, then caches the answer for a while"],
           why="Section 3, the slowest write: the lab's daemon pays that wait early, writing its own PID into its own "
               "cgroup when a container is created."),
    Choice("created-confined", "runc has created a container and not started it. What do its init's "
                               "capabilities look like?",
           right="already cut to config.json's sets, with no_new_privs on and the seccomp filter loaded",
           wrong=["all of root's still, since the init has yet to mount and pivot_root after start comes",
                  "none at all, since the exec fifo blocks every call until start gives them back"],
           why="Section 4: runc confines its init before it waits on the fifo; `start` leaves it only an "
               "open(2) and the execve."),
    Choice("go-threads", "runc's trace shows hundreds of futex and nanosleep calls, ours a handful. Why?",
           right="Go's runtime runs several threads that park and wake each other through futexes",
           wrong=["runc polls the exec fifo in a tight loop until start finally opens the other end of it",
                  "strace adds these calls itself, once for every call of a process it traces"],
           why="Section 6: counted by kind; Python does most of its calls in one thread."),
    Choice("strace-cost", "How far do the times of a traced run tell how fast the runtime is?",
           right="hardly: each call stops twice for the tracer, so calls cost many times more",
           wrong=["exactly: strace reads the kernel's clock, so it adds nothing to the calls",
                  "closely: strace adds a fixed microsecond to each call, which is easy to subtract again"],
           why="Section 5: the same run is several times slower under strace; compare order, not speed."),
    Recall("docker-run-kernel", "An interviewer asks: \"What system calls does a container runtime make when you "
                                "`docker run`?\" Walk through them in order.",
           model="The runtime makes its state directory and the exec fifo, creates the cgroup and writes the "
                 "first child's PID into cgroup.procs, then that child unshares (or clones) with CLONE_NEWNS, "
                 "NEWPID, NEWNET, NEWIPC, NEWUTS (and NEWCGROUP) and forks PID 1. PID 1 makes / a slave mount, "
                 "bind-mounts the rootfs onto itself, mounts proc, a tmpfs /dev with devpts, mqueue and sysfs, "
                 "creates device nodes, pivot_roots and detaches the old root, masks and makes read-only parts "
                 "of /proc, sets the hostname, sets no_new_privs, drops capabilities with capset and "
                 "PR_CAPBSET_DROP, loads the seccomp filter (runc loads it before the capability drop when "
                 "no_new_privs is off, as in Docker's default, since loading then needs CAP_SYS_ADMIN), waits on "
                 "the fifo until start, then execve's the command. On exit the runtime reaps it and removes the "
                 "cgroup and state.",
           demo="sections 3 and 5"),
    Recall("create-start", "Why do runtimes split `create` and `start`, and what is left for `start` to do?",
           model="create does everything slow and fallible (namespaces, cgroup, mounts, pivot_root, privileges) "
                 "and leaves the init blocked on the exec fifo, so a caller can attach a tracer or a debugger, or "
                 "read the init's PID and namespaces, before the program's first instruction. start only opens "
                 "the fifo's other end; the init then execs. runc confines the init before the wait; the lab's runtime does it "
                 "after, which a trace shows.",
           demo="section 4"),
])


def _bundle(work, args, namespaces=None):
    """A busybox bundle with a small seccomp filter (so the trace shows a load) and a hostname."""
    from ..teach import runtimes
    b = runtimes.bundle(work / f"b-{secrets.token_hex(3)}", args, hostname="traced")

    def put(cfg):
        cfg["linux"]["seccomp"] = SMALL_PROFILE
        if namespaces is not None:
            cfg["linux"]["namespaces"] = [{"type": t} for t in namespaces]
    runtimes.edit(b, put)
    return b


SMALL_PROFILE = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                 "syscalls": [{"names": ["reboot", "kexec_load", "init_module"], "action": "SCMP_ACT_ERRNO"}]}


def _trace(name, bundle, work, cid_prefix):
    from ..errors import LabError
    from ..teach import runtimes, strace
    rts = runtimes.available(work / f"roots-{secrets.token_hex(2)}")
    rt = rts[name]
    cid = f"{cid_prefix}-{secrets.token_hex(3)}"
    try:
        trace, code, output = strace.trace_run(rt, cid, bundle, work / f"{name}-{cid}.trace")
    finally:
        for r in rts.values():
            r.close()
    if code != 0:
        raise LabError(f"{name} run exited with {code}: {output.strip()[:200]}", "run the bundle once by hand")
    return trace


class RuncExecs(Exercise):
    id = "runc-execs"
    chapter = "E"
    kind = "predict"
    title = "predict how many programs one `runc run` executes"
    task = """Before section 2, predict: in the whole strace of one `runc run` of a bundle whose program is
`true`, how many execve(2) or execveat(2) calls succeed, in all processes together? Count the one that
starts runc itself and the one that starts `true`. Write a number. The checker traces a fresh `runc run`."""
    hint = "a Go program cannot fork safely once its threads run: how does runc get a clean process inside " \
           "the container?"

    def verify(self, answer):
        from ..fs.scratch import Scratch
        try:
            said = int(str(answer).strip())
        except ValueError:
            return "write a whole number, for example 3"
        work = Scratch("chE-predict")
        try:
            trace = _trace("runc", _bundle(work, ["true"]), work, "lab-ex-exec")
        finally:
            work.remove()
        truth = sum(1 for e in trace.calls("execve", "execveat") if e.ok)
        if said == truth:
            return None
        if said < truth:
            return ("more than that: besides runc and the command, count every time runc runs a program "
                    "to become the container's init")
        return "fewer than that: a failed execve does not count, nor do forks and threads"


class AskedNamespaces(Exercise):
    id = "asked-namespaces"
    chapter = "E"
    kind = "build"
    title = "find, in a trace, the namespaces a runtime asked the kernel for"
    task = """Write `asked_namespaces(trace)`. `trace` is a parsed strace of one container `run` (an iterable of
events with `.pid`, `.time`, `.name`, `.args`, `.result` and `.ok`). Return the set of namespace kinds the
runtime created, named as /proc/PID/ns names them ("mnt", "uts", "ipc", "pid", "net", "cgroup", "user",
"time"), from the calls themselves. `ex.sample` is one trace to try it on. The checker traces fresh runs of
a bundle with another set of namespaces, under labcore's runtime and under runc, and compares your set
with what the bundle asked for."""
    hint = "which three system calls can carry CLONE_NEW* flags, and which flag is the mount namespace's?"

    NAMESPACES = ["pid", "mount", "uts", "cgroup"]          # what the checked bundle asks for
    WANTED = {"pid", "mnt", "uts", "cgroup"}

    def setup(self):
        from ..fs.scratch import Scratch
        self.work = Scratch("chE-build")
        self.sample = _trace("runc", _bundle(self.work, ["true"]), self.work, "lab-ex-sample")

    def verify(self, answer):
        if not callable(answer):
            return "pass your function itself (asked_namespaces, without parentheses)"
        bundle = _bundle(self.work, ["true"], namespaces=self.NAMESPACES)
        for name in ("labcore", "runc"):
            trace = _trace(name, bundle, self.work, "lab-ex-ns")
            got = answer(trace)
            if not isinstance(got, (set, frozenset, list, tuple)):
                return f"asked_namespaces() returned {type(got).__name__}: return a set of names such as {{'pid'}}"
            got = set(got)
            if any(str(g).startswith("CLONE_") for g in got):
                return "name the kinds as /proc/PID/ns does ('pid', 'net'...), not by their flags"
            if got == self.WANTED:
                continue
            if "ns" in got or "mount" in got:
                return "which name does /proc/PID/ns give the mount namespace?"
            if not got:
                return f"nothing found in {name}'s trace: look at the flags of unshare, clone and clone3"
            if got - self.WANTED:
                return (f"{sorted(got - self.WANTED)} in {name}'s trace? This bundle asks for fewer namespaces than "
                        "Docker's default: read the flags of the calls that succeeded, not a list you know")
            return f"{name}'s run created more namespaces than you found: look at every call that carries flags"
        return None

    def close(self):
        self.work.remove()


EXERCISES = [RuncExecs, AskedNamespaces]


__all__ = ["QUIZ", "EXERCISES", "SMALL_PROFILE"]
