"""Chapter 15, Interview questions: the bank, its quiz, the mock interview and the exercises.

``BANK`` holds every interview question of the source text (each part's,
and PART 15's list), each with a model answer and a link to the heading of
the notebook whose demo proves it. ``from_chapters()`` adds the questions
each chapter asks to be answered aloud, linked to the section named in
their ``demo``. A question whose demo lives in a chapter not written yet
is kept in the bank and left out of rounds until that notebook exists.
"""

from __future__ import annotations

import importlib
import os
import re

from ..teach.exercise import Exercise
from ..teach.interview import Question, section_link
from ..teach.quiz import Choice, Quiz, Recall
from . import CHAPTERS, NOTEBOOKS


BANK = [
    # PART 4: namespaces
    Question("pid-one", "Why is PID 1 special inside a container?",
             "PID 1 of a pid namespace is its init: of the signals other processes send it, the kernel delivers "
             "only those it has a handler for (SIGKILL and SIGSTOP from an ancestor namespace aside; a fault it "
             "causes itself, like SIGSEGV, still kills it), so a plain program ignores SIGTERM and `docker stop` "
             "waits out its grace period; orphans of the namespace are re-parented to it, so it must reap them "
             "or zombies pile up; and when it exits the kernel kills everything else in the namespace.",
             "04a-namespaces-pid.ipynb#2.-PID-1-and-signals", "PART 4"),
    # PART 5: cgroups
    Question("soft-hard", "What is the difference between a soft and a hard limit in cgroups?",
             "A hard limit (memory.max, v1 memory.limit_in_bytes) is a wall: past it the kernel reclaims, and "
             "if that fails the OOM killer ends a task of the group. memory.high (v2) is a throttle below it: "
             "above it the group's tasks are slowed and reclaimed hard, but nothing is killed. v1's "
             "soft_limit_in_bytes never throttles: it only picks which groups give memory back first when the "
             "whole host runs short (docker's --memory-reservation; on v2 that becomes memory.low, a protection). "
             "cpu.weight is soft too: it only matters when CPUs are contended.",
             "05b-cgroups-memory-pids-io.ipynb#3.-Soft-limits:-throttle,-don't-kill", "PART 5"),
    Question("memory-reached", "What happens when a container reaches its memory limit?",
             "The kernel first reclaims the group's own page cache and swappable memory; only when it cannot "
             "make room does the cgroup's OOM killer pick a task in the group and SIGKILL it. PID 1 killed means "
             "exit status 137; memory.events counts oom and oom_kill, and the kernel log names the victim.",
             "05b-cgroups-memory-pids-io.ipynb#1.-Memory:-the-hard-limit-ends-in-the-OOM-killer", "PART 5"),
    Question("cpu-throttling", "How does CPU throttling work?",
             "CFS bandwidth control gives the cgroup a quota of CPU time per period (cpu.max, e.g. 50000 100000 "
             "for half a CPU). Once the group's tasks have used the quota, they are taken off the CPU until the "
             "next period starts; cpu.stat counts nr_throttled and throttled_usec. A multithreaded process can "
             "spend the whole quota early in the period and then stall, which shows as latency.",
             "05a-cgroups-cpu.ipynb#3.-CPU-quota:-how-throttling-works", "PART 5"),
    # PART 6: union filesystems
    Question("cache-chain", "Why does changing a line early in a Dockerfile invalidate the cache of every later step?",
             "A step's cache key is its instruction plus the layer it starts from, which in turn depends on every "
             "earlier step. Change one instruction and its layer's digest changes, so every later step starts "
             "from a parent never seen before and must run again: order a Dockerfile from rarely to often changed.",
             "06-union-filesystems.ipynb#4.-Building-images,-and-the-layer-cache", "PART 6"),
    # PART 9: networking
    Question("bridge-host", "What is the difference between bridge and host networking?",
             "With a bridge, the container gets its own network namespace, with a veth pair whose other end is "
             "plugged into a bridge on the host, its own address, routes and ports; traffic leaves through NAT. "
             "With host networking it stays in the host's network namespace: no isolation and no NAT, it binds "
             "the host's ports directly and is as fast as the host.",
             "09-networking.ipynb#6.-Host-mode-and-none-mode", "PART 9"),
    Question("port-mapping", "How does port mapping actually work?",
             "`-p 8080:80` writes a DNAT rule in the nat table: a packet to the host's port 8080 has its "
             "destination rewritten to the container's address and port 80 before routing, conntrack remembers "
             "the translation and rewrites the replies back. Connections to 127.0.0.1 never cross PREROUTING, so "
             "Docker also runs docker-proxy, a userland process listening on the port, or uses hairpin NAT.",
             "09-networking.ipynb#5.-Published-ports:-DNAT,-and-Docker's-userland-proxy", "PART 9"),
    Question("dnat-snat", "What is DNAT and what is SNAT?",
             "Destination NAT rewrites where a packet goes, on the way in (PREROUTING or OUTPUT): port "
             "publishing. Source NAT rewrites where it seems to come from, on the way out (POSTROUTING): "
             "MASQUERADE gives a container's outgoing packets the host's address so answers find their way back. "
             "conntrack keeps both translations for the whole connection.",
             "09-networking.ipynb#4.-Going-out:-masquerade-(SNAT)", "PART 9"),
    # PART 10: security
    Question("root-danger", "Why is running containers as root dangerous?",
             "Without a user namespace, uid 0 in the container is uid 0 on the host: the kernel checks the same "
             "uid and capabilities. Only the dropped capabilities, seccomp, the LSM and the mounts stand between it "
             "and the host; one misconfiguration (--privileged, the Docker socket mounted, a host path) or one "
             "kernel bug turns it into root on the host.",
             "10-security.ipynb#1.-A-container-with-nothing-taken-away", "PART 10"),
    Question("rootless", "What is rootless Docker?",
             "The daemon and its containers run as an ordinary user, inside a user namespace that maps root inside "
             "to that user's uid outside (and a range from /etc/subuid for the other uids). A breakout lands as an "
             "unprivileged user; the price is what an unprivileged user cannot do (privileged ports, some network "
             "and storage drivers).",
             "10-security.ipynb#6.-User-namespaces-and-rootless-containers", "PART 10"),
    Question("userns", "How do user namespaces improve isolation?",
             "They map uids: uid 0 inside becomes an unprivileged uid outside, and capabilities held inside count "
             "only for resources owned by that user namespace. A process that escapes its mounts or reaches a host "
             "file is checked as the outside uid, not as root.",
             "04b-namespaces-the-others.ipynb#5.-user:-uid-0-inside,-an-ordinary-uid-outside", "PART 10"),
    # PART 11: storage
    Question("bind-volume", "What is the difference between a bind mount and a volume at kernel level?",
             "None in the mount itself: both are bind mounts of a host directory into the container's mount "
             "namespace, bypassing the overlay. A volume's directory is created and managed by Docker under its "
             "data root (and can be filled from the image); a bind mount is any host path the user names.",
             "11-storage-drivers.ipynb#4.-Bind-mounts-and-volumes,-at-kernel-level", "PART 11"),
    # PART 14: failure scenarios (its memory and daemon questions are chapter 14's own, added below)
    Question("pid1-crash", "What happens if PID 1 of a container crashes?",
             "Its pid namespace ends with it: the kernel (zap_pid_ns_processes) SIGKILLs every other process "
             "of the namespace, and the container stops with 128 + N for signal N (139 for SIGSEGV). The "
             "writable layer stays. Only a restart policy brings it back, with a doubling delay; each restart "
             "is a new process in a new pid namespace.",
             "14-failure-scenarios.ipynb#2.-PID-1-crashes", "PART 14"),
    Question("netns-breaks", "What happens if a container's network namespace breaks?",
             "The process runs on without an error of its own; its connections fail. A lost default route "
             "gives 'Network is unreachable' at once; flushed NAT rules let packets leave with a private source "
             "address and no reply returns (open connections keep their conntrack NAT); a deleted veth takes "
             "eth0 with it. Look from the host (ip -n / nsenter, the bridge's ports, the nat rules) and put back "
             "the missing piece, or reconnect the container.",
             "14-failure-scenarios.ipynb#4.-A-broken-network", "PART 14"),
    Question("storage-corrupts", "What happens if the storage driver's data is corrupted?",
             "A changed blob no longer matches its sha256 name, so the next pull, load or unpack that hashes it "
             "refuses it; remove the image and pull it again. Layers already extracted are not re-hashed when "
             "containers run, so damage there shows as odd crashes on one host. A full data root gives ENOSPC "
             "in every container writing to it, while / may have room.",
             "14-failure-scenarios.ipynb#5.-Storage-I:-a-corrupted-layer-blob", "PART 14"),
    # PART 15: what senior interviewers ask
    Question("isolation", "Explain how Docker creates isolation.",
             "A container is an ordinary process that the kernel shows a reduced world: namespaces decide what it "
             "sees (pids, mounts, network, hostname, IPC, users, cgroups), cgroups decide how much it may use, and "
             "a root filesystem from overlay layers decides which files it has; capabilities, seccomp, an LSM and "
             "masked paths decide what it may do. There is no container object in the kernel.",
             "03-kernel-primitives.ipynb#3.-The-three,-side-by-side,-and-what-else-confines-a-container", "PART 15"),
    Question("overlay", "Explain the overlay filesystem.",
             "overlayfs merges read-only lower directories (the image layers) under one writable upper directory "
             "(the container's layer). Reads find a file in the topmost layer that has it; the first write to a "
             "lower file copies it up whole; a deletion is a whiteout, a 0/0 character device in the upper dir; a "
             "replaced directory is marked opaque. The workdir makes copy-up atomic.",
             "06-union-filesystems.ipynb#3.-Mounting-an-image:-overlayfs", "PART 15"),
    Question("lifecycle", "Explain the container lifecycle.",
             "docker create writes the configuration and the writable layer, with no process yet; start has "
             "the runtime make the namespaces, the cgroup and the waiting init (runc create) and then exec the "
             "command (runc start): running. It is stopped when PID 1 exits (by itself, by a signal from `stop` "
             "or `kill`, by the OOM killer): the kernel drops the namespaces with their last process, the cgroup "
             "is removed, and the exit status is kept; rm then removes the writable layer, the metadata and the "
             "logs. Pause freezes it with the cgroup freezer.",
             "08-containerd-and-runc.ipynb#3.-The-life-of-a-container,-as-state-tells-it", "PART 15"),
    Question("kubernetes", "Explain how Kubernetes runs containers.",
             "The kubelet asks a CRI runtime (containerd's CRI plugin) for a pod sandbox: a pause container that "
             "holds the pod's network, IPC and UTS namespaces. Each container of the pod is then created by "
             "containerd, started by its shim through runc, and joins the sandbox's namespaces, so they share "
             "localhost and an IP address but keep their own filesystems and cgroups.",
             "08-containerd-and-runc.ipynb#5.-How-Kubernetes-runs-containers:-a-pod-by-hand", "PART 15"),
    Question("security-risks", "Explain container security risks.",
             "A shared kernel: one kernel bug reachable by a system call is a way out for every container; root "
             "without a user namespace; misconfigurations that hand over the host (--privileged, the engine's "
             "socket, host paths, CAP_SYS_ADMIN); untrusted images; and resource exhaustion without limits. "
             "Defences stack: user namespaces, dropped capabilities, seccomp, an LSM, read-only and masked paths.",
             "10-security.ipynb#2.-Capabilities:-root's-power-in-pieces", "PART 15"),
    Question("containerd-runc", "Compare containerd and runc.",
             "runc is the low-level OCI runtime: given a bundle (config.json and a rootfs) it sets up namespaces, "
             "cgroups, mounts and security and execs the process, then exits. containerd is the daemon above it: "
             "it pulls and stores images, prepares snapshots, keeps container metadata and starts one shim per "
             "container, which calls runc and stays as the container's parent.",
             "08-containerd-and-runc.ipynb#4.-runc-is-a-command;-containerd-is-a-daemon", "PART 15"),
    Question("layers", "Explain how image layers work internally.",
             "A layer is a tar of one build step's filesystem changes (deletions as whiteout files), stored as a "
             "blob named by the sha256 of its bytes; the config lists the uncompressed layers' diff_ids and the "
             "manifest lists the blobs. Layers are shared by digest between images and unpacked once; overlayfs "
             "stacks them at run time.",
             "06-union-filesystems.ipynb#1.-A-layer-is-a-directory-diff,-as-a-tar", "PART 15"),
    Question("networking", "Explain how container networking is implemented.",
             "Each container has a network namespace; a veth pair connects it to a bridge on the host; the bridge "
             "has an address that is the containers' gateway; outgoing traffic is masqueraded, published ports are "
             "DNAT rules; an embedded DNS server resolves container names; between hosts an overlay such as VXLAN "
             "wraps the containers' frames in UDP.",
             "09-networking.ipynb#2.-Two-containers-on-the-network", "PART 15"),
    Question("faster-than-vm", "Why are containers faster to start than VMs?",
             "A container is a process of the running kernel: starting one is a few system calls (clone with "
             "namespace flags, cgroup writes, mounts, execve), milliseconds. A VM boots a whole kernel on "
             "virtual hardware, with firmware, device probing and an init system; even microVMs need about a "
             "hundred milliseconds. Memory too: no second kernel, a shared page cache.",
             "02-containers-vs-vms.ipynb#4.-Start-latency-and-memory,-side-by-side", "PART 15"),
    Question("docker-run", "What happens during `docker run` internally?",
             "The client sends API calls to dockerd (create, attach, start; if create answers 404 it pulls the "
             "image and asks again); dockerd mounts the rootfs with its storage driver (with the containerd image "
             "store, containerd prepares a snapshot instead) and asks containerd to create the container; "
             "containerd writes the bundle and starts a shim; "
             "the shim runs runc create, which makes the namespaces and the cgroup, mounts the rootfs, "
             "pivot_roots, applies capabilities and seccomp and waits; start makes it execve the command; runc "
             "exits and the shim stays as the parent, holding stdio and the exit status.",
             "07-docker-architecture.ipynb#3.-docker-run,-call-by-call", "PART 15"),
]


def _first_section(demo: str) -> int | None:
    found = re.search(r"sections? (\d+)", demo)
    return int(found.group(1)) if found else None


def from_chapters() -> list[Question]:
    """The questions each written chapter asks to be answered aloud, linked to the section it names."""
    found = []
    for c in CHAPTERS:
        if c.id == "15" or not c.ready:
            continue
        quiz = importlib.import_module(c.module).QUIZ
        for q in quiz.questions:
            if isinstance(q, Recall):
                section = _first_section(q.demo)
                link = (section_link(c.notebook, NOTEBOOKS, section) if section
                        else f"{c.notebook}#Check-yourself")
                found.append(Question(f"{c.id}-{q.id}", q.text, q.model, link, f"chapter {c.id}"))
    return found


def ready(questions) -> list[Question]:
    """The questions whose demo notebook exists; the others wait for their chapter."""
    return [q for q in questions if os.path.exists(NOTEBOOKS / q.demo.partition("#")[0])]


def waiting(questions) -> list[Question]:
    return [q for q in questions if q not in ready(questions)]


def questions() -> list[Question]:
    """Every question a round may ask: the source text's and the chapters', where the demo exists."""
    return ready(BANK + from_chapters())


QUIZ = Quiz("15", "Interview questions", [
    Choice("seccomp-lsm", "A candidate says: \"seccomp is Docker's LSM, like AppArmor\". What is the accurate "
                          "correction?",
           right="seccomp filters system calls by number and arguments; LSMs hook object access",
           wrong=["seccomp is an LSM, but one loaded per process rather than per host",
                  "seccomp replaced LSMs in recent kernels, so Docker only uses seccomp now"],
           why="seccomp runs a BPF filter at system call entry; AppArmor and SELinux are LSMs, hooks inside the "
               "kernel's checks on files, sockets and so on. Docker uses both, independently."),
    Choice("container-object", "What does the kernel know as \"a container\"?",
           right="nothing: it knows processes, namespaces, cgroups and mounts",
           wrong=["a task_struct flag that runtimes set through prctl",
                  "an entry under /sys/fs/container that the runtime creates"],
           why="Chapter 03 built one from the three primitives; chapter 01 found it from the host as a process."),
    Choice("oom-137", "`docker ps -a` shows `Exited (137)` and `docker inspect` shows OOMKilled true. Which "
                      "sentence explains both?",
           right="the cgroup's OOM killer sent SIGKILL to PID 1: 128 + 9",
           wrong=["the daemon stopped it because it used more CPU than its quota allowed",
                  "the process called exit(137) after malloc returned NULL"],
           why="Chapter 05b: the memory.max wall, memory.events' oom_kill counter and a SIGKILL."),
    Choice("layer-share", "Two images share their first three layers. On a host that has pulled both, how many "
                          "copies of those three layers are on disk?",
           right="one: layers are stored by digest and each is unpacked once",
           wrong=["two: each image's manifest owns its own copy of every layer",
                  "one compressed copy in each image, plus one unpacked copy in total"],
           why="Chapter 06: a layer is a blob named by its digest; the store keeps one per digest."),
    Choice("stop-ten", "`docker stop` always takes ten seconds for one service. The best first question?",
           right="what runs as PID 1, and does it handle SIGTERM?",
           wrong=["is the host short of memory, so the container swaps?",
                  "is the container's network namespace slow to tear down?"],
           why="Chapter 04a: a PID 1 without a SIGTERM handler ignores it; stop waits, then sends SIGKILL."),
    # Aloud: PART 15's own ten. The parts' questions wait in the bank for the mock interview, which samples it.
    *[Recall(q.id, q.text, model=q.model, demo=q.demo) for q in ready(BANK) if q.asked_in == "PART 15"],
])


# --- exercises --------------------------------------------------------------------------------

STEPS = ("unshare", "clone", "mount /proc", "sethostname", "execve")


class RunOrder(Exercise):
    id = "run-order"
    chapter = "15"
    kind = "predict"
    title = "predict the order of the system calls that start a container"
    task = """Interviewers love "what happens during docker run?". Before the section "Whiteboard: docker run,
call by call", put these five steps of starting a container with its own pid, mount and uts namespaces in
the order the kernel sees them: "unshare", "clone", "mount /proc", "sethostname", "execve". Answer with a
list of the five names. The checker traces a real start and compares."""
    hint = "which process can mount a /proc that shows the new pid namespace: the one that asked for it, or its child?"

    def observed(self) -> list[str]:
        from ..kernel import trace
        from ..ns.process import run
        with trace(show=False) as calls:
            run(["true"], ns="pid,mnt,uts", hostname="order")
        seen = []
        for call in sorted(calls, key=lambda c: c.started):
            name = "mount /proc" if call.name == "mount" and '"/proc"' in call.args else call.name
            if name in STEPS and name not in seen:
                seen.append(name)
        return seen

    def verify(self, answer):
        if not isinstance(answer, (list, tuple)) or sorted(answer) != sorted(STEPS):
            return f"answer with a list of the five names, each once: {list(STEPS)}"
        truth = self.observed()
        if list(answer) == truth:
            return None
        if answer.index("clone") < answer.index("unshare"):
            return "a new pid namespace is set up before the child exists: what must come first?"
        if answer[-1] != "execve":
            return "after execve the runtime's code is gone: what can still run after it?"
        return "close: the trace puts two of your steps the other way round; which needs the new mount namespace?"


class Isolate(Exercise):
    id = "isolate"
    chapter = "15"
    kind = "build"
    title = "from whiteboard to code: isolate a process"
    task = """An interviewer asks you to turn "a container is namespaces plus a cgroup" into code. Write
`isolate(argv, group)` that starts `argv` and returns the started process (what `lab.spawn` returns), so
that it has its own pid, mount and uts namespaces, the hostname "interview", and runs in the cgroup `group`
(the checker made it, with a 32 MiB memory limit). The checker calls it with a `sleep` and looks at the
process from the host."""
    hint = "one call of lab.spawn does it all: look at its ns=, hostname= and cgroup= parameters"

    def setup(self):
        from .. import cgroups
        self.group = cgroups.create("lab-ex-interview", memory="32M")

    def verify(self, answer):
        from ..ns.process import enter
        if not callable(answer):
            return "pass your function itself (isolate, without parentheses)"
        proc = answer(["sleep", "30"], self.group)
        try:
            pid = getattr(proc, "pid", None)
            if not isinstance(pid, int):
                return f"isolate() returned {proc!r}: return the process that lab.spawn gives you"
            mine = {k: os.stat(f"/proc/self/ns/{k}").st_ino for k in ("pid", "mnt", "uts")}
            theirs = {k: os.stat(f"/proc/{pid}/ns/{k}").st_ino for k in ("pid", "mnt", "uts")}
            shared = [k for k in mine if mine[k] == theirs[k]]
            if shared:
                return f"it still shares the host's {', '.join(shared)} namespace: ask for its own"
            name = enter(pid, ["hostname"], "uts").stdout.strip()
            if name != "interview":
                return f"inside, the hostname is {name!r}"
            if pid not in self.group.procs():
                return "the process is not in the group the checker gave you: pass it to the spawn"
            return None
        finally:
            if hasattr(proc, "close"):
                proc.close()

    def close(self):
        self.group.remove()


EXERCISES = [RunOrder, Isolate]



def bank():
    """The bank as the chapter shows it: ``lab.interview_bank()``."""
    from ..teach.interview import Bank
    everything = BANK + from_chapters()
    return Bank(ready(everything), waiting(everything))


def mock_interview(n: int = 5, seconds: int = 120):
    """A timed round of ``n`` questions, the weakest first: ``lab.mock_interview()``."""
    from ..teach.interview import MockInterview
    return MockInterview(questions(), n=n, seconds=seconds)


__all__ = ["QUIZ", "EXERCISES", "BANK", "questions", "from_chapters", "ready", "waiting", "bank", "mock_interview"]
