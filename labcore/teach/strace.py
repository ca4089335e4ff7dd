"""strace(1) output read back as events, and the phases of a container start found in them. Deep dive E.

strace stops a process at every system call it makes, through ptrace(2),
and prints one line per call: the call, its arguments as the kernel
received them, and what it returned. With ``-f`` it follows every child
and thread, and each line starts with the thread's ID; ``-ttt`` adds the
time of the call's entry (``-tt``: the time of day), ``-T`` the time spent
inside it::

    4242 1718000000.123456 unshare(CLONE_NEWNS|CLONE_NEWPID) = 0 <0.000120>
    4242 1718000000.123600 read(3,  <unfinished ...>
    4243 1718000000.123610 mount("proc", "/proc", "proc", 0, NULL) = 0 <0.000050>
    4242 1718000000.123700 <... read resumed>"go\\n", 4096) = 3 <0.000100>
    4242 1718000000.123900 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=4243, ...} ---
    4243 1718000000.124000 +++ exited with 0 +++

When two threads are inside calls at once, strace cuts the first call in
two halves (``<unfinished ...>`` then ``<... NAME resumed>``); ``parse``
glues them back into one ``Event`` at the time the call began. Signals
(``---``) and exits (``+++``) become events too.

The second half names what any OCI runtime must do to start a container
(``PHASES``) and finds each in a trace: the exec fifo, the cgroup, the
namespaces, the mounts, pivot_root, the hostname, the privileges dropped,
the execve of the command, its exit, the cleanup. ``phases()`` gives each
phase's events, ``first()`` their first times, ``stage_order()`` the
coarse order. See strace(1), ptrace(2).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabError

# --- one line, one event -----------------------------------------------------------------------------
_HEAD = re.compile(r"^(?:\[pid\s+(?P<bpid>\d+)\]\s+|(?P<pid>\d+)\s+)?"
                   r"(?P<time>\d+\.\d+|\d\d:\d\d:\d\d(?:\.\d+)?)\s+(?P<rest>.*)$")
_RESULT = re.compile(r"\)\s+=\s+(?P<result>.*?)(?:\s+<(?P<dur>\d+\.\d+)>)?$")
_CALL = re.compile(r"^(?P<name>[a-z_0-9]+)\((?P<body>.*)$")
_RESUMED = re.compile(r"^<\.\.\. (?P<name>[a-z_0-9]+) resumed>(?P<body>.*)$")
_SIGNAL = re.compile(r"^--- (?P<sig>SIG\w+) (?P<info>.*) ---$")
_EXIT = re.compile(r"^\+\+\+ (?:exited with (?P<code>\d+)|killed by (?P<sig>SIG\w+)(?P<core> \(core dumped\))?) \+\+\+$")


@dataclass
class Event:
    """One thing strace saw: a system call, a signal delivered, or a thread's end."""

    pid: int                       # the thread's ID (a process's first thread has its PID)
    time: float                    # seconds: since the epoch with -ttt, since midnight with -tt
    name: str                      # the call ("mount"), the signal ("SIGCHLD"), or "exit" / "killed"
    args: str = ""                 # the arguments as strace printed them (for a signal: its siginfo)
    result: str | None = None      # "0", "-1 ENOENT (No such file or directory)", "?"; None if never finished
    duration: float | None = None  # seconds inside the call (-T)
    kind: str = "call"             # call, signal, exit, killed

    @property
    def value(self) -> int | None:
        """The return value as a number (-1 on failure), or None (``?``, unfinished)."""
        m = re.match(r"(0x[0-9a-f]+|-?\d+)", self.result or "")
        if not m:
            return None
        text = m.group(1)
        return int(text, 16) if text.startswith("0x") else int(text, 8 if len(text) > 1 and text[0] == "0" else 10)

    @property
    def ok(self) -> bool:
        """A call that returned without an error (an execve that succeeded never returns: ``= 0``)."""
        return self.kind == "call" and self.value is not None and self.value >= 0

    @property
    def errno(self) -> str | None:
        m = re.match(r"-1 (E[A-Z0-9]+)", self.result or "")
        return m.group(1) if m else None

    def __str__(self) -> str:
        if self.kind == "call":
            return f"{self.pid} {self.name}({self.args}) = {self.result if self.result is not None else '<unfinished>'}"
        return f"{self.pid} {self.kind} {self.name} {self.args}".rstrip()


def _seconds(text: str) -> float:
    if ":" in text:
        h, m, s = text.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    return float(text)


def _split_call(body: str) -> tuple[str, str | None, float | None]:
    """``args) = result <dur>`` -> (args, result, duration); (body, None, None) if unfinished."""
    if body.endswith("<unfinished ...>"):
        return body[:-len("<unfinished ...>")].rstrip(), None, None
    # The last ") = " is the result's: the arguments may hold one inside a string.
    at = body.rfind(")")
    while at >= 0:
        found = _RESULT.match(body, at)
        if found:
            dur = found.group("dur")
            return body[:at], found.group("result"), float(dur) if dur else None
        at = body.rfind(")", 0, at)
    return body, None, None


def parse(text: str) -> list[Event]:
    """The events of ``strace -f -ttt [-T] -o FILE`` output (or -tt, or strace's ``[pid N]`` stderr form).

    Lines that are not strace's (a program's own output, "Process N attached") are skipped.
    A call cut in two halves is one event, in the place of its first half.
    """
    events: list[Event] = []
    unfinished: dict[int, Event] = {}
    first_pid = None
    for line in text.splitlines():
        m = _HEAD.match(line.rstrip())
        if not m:
            continue
        pid = int(m.group("pid") or m.group("bpid") or 0) or first_pid or 0
        first_pid = first_pid or pid
        t, rest = _seconds(m.group("time")), m.group("rest")
        if (r := _RESUMED.match(rest)):
            head = unfinished.pop(pid, None)
            args, result, dur = _split_call(r.group("body"))
            args = args.replace("<unfinished ...>", "").strip()  # "<... read resumed> <unfinished ...>) = ?": the thread ended
            if head is None or head.name != r.group("name"):  # its first half came before the trace began
                events.append(Event(pid, t, r.group("name"), args, result, dur))
                continue
            head.args = (head.args + " " + args).strip() if args else head.args
            head.result, head.duration = result, dur
            continue
        if (s := _SIGNAL.match(rest)):
            events.append(Event(pid, t, s.group("sig"), s.group("info"), kind="signal"))
            continue
        if (e := _EXIT.match(rest)):
            if e.group("code") is not None:
                events.append(Event(pid, t, "exit", "", e.group("code"), kind="exit"))
            else:
                events.append(Event(pid, t, e.group("sig"), "core dumped" if e.group("core") else "", kind="killed"))
            continue
        if (c := _CALL.match(rest)):
            args, result, dur = _split_call(c.group("body"))
            ev = Event(pid, t, c.group("name"), args, result, dur)
            events.append(ev)
            if rest.endswith("<unfinished ...>"):
                unfinished[pid] = ev
    return events


# --- a whole trace -------------------------------------------------------------------------------------
KINDS = {  # a coarse family per call, for counting (anything else: "other")
    "files": "open openat openat2 read pread64 readv write pwrite64 writev close close_range lseek newfstatat fstat "
             "stat lstat statx statfs fstatfs getdents64 readlink readlinkat access faccessat faccessat2 fcntl ioctl "
             "dup dup2 dup3 mkdir mkdirat rmdir unlink unlinkat rename renameat renameat2 symlink symlinkat mknod "
             "mknodat chdir fchdir getcwd fchown fchownat chmod fchmod fchmodat umask inotify_init1 "
             "inotify_add_watch",
    "memory": "mmap munmap mprotect brk madvise mremap mlock munlock",
    "processes and threads": "clone clone3 fork vfork execve execveat exit exit_group wait4 waitid set_tid_address "
                             "set_robust_list rseq gettid getpid getppid arch_prctl prlimit64 setrlimit getrlimit "
                             "sched_getaffinity sched_setaffinity uname getrandom",
    "waiting and threads' sync": "futex nanosleep clock_nanosleep sched_yield epoll_create1 epoll_ctl epoll_pwait "
                                 "epoll_wait poll ppoll pselect6 select pipe pipe2 eventfd2 socketpair sendmsg "
                                 "recvmsg",
    "signals": "rt_sigaction rt_sigprocmask rt_sigreturn sigaltstack kill tgkill tkill pidfd_send_signal "
               "pidfd_open",
    "namespaces and mounts": "unshare setns mount umount2 pivot_root sethostname setdomainname chroot "
                             "mount_setattr open_tree move_mount fsopen fsconfig fsmount",
    "privileges": "capset capget seccomp setresuid setresgid setuid setgid setgroups getuid geteuid getgid "
                  "getegid",
}
_KIND_OF = {name: kind for kind, names in KINDS.items() for name in names.split()}
_PRIVILEGE_PRCTL = ("PR_CAPBSET", "PR_CAP_AMBIENT", "PR_SET_NO_NEW_PRIVS", "PR_SET_SECCOMP", "PR_SET_KEEPCAPS",
                    "PR_SET_SECUREBITS")


def kind_of(ev: Event) -> str:
    """The family of a call: files, memory, namespaces and mounts, privileges..."""
    if ev.name == "prctl":
        return "privileges" if ev.args.startswith(_PRIVILEGE_PRCTL) else "processes and threads"
    return _KIND_OF.get(ev.name, "other")


@dataclass
class Trace:
    """The events of one traced command, in the order strace wrote them (the order calls began)."""

    events: list[Event]
    label: str = ""

    def __iter__(self):
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def __repr__(self) -> str:
        return (f"<Trace {self.label}: {len(self.calls())} calls by {len(self.tasks())} threads "
                f"in {len(self.processes())} processes, {self.seconds() * 1000:.0f} ms>")

    @property
    def start(self) -> float:
        return self.events[0].time if self.events else 0.0

    def seconds(self) -> float:
        return self.events[-1].time - self.start if self.events else 0.0

    def ms(self, ev: Event) -> float:
        """Milliseconds from the trace's first event to ``ev``."""
        return (ev.time - self.start) * 1000

    def calls(self, *names: str) -> list[Event]:
        return [e for e in self.events if e.kind == "call" and (not names or e.name in names)]

    def tasks(self) -> set[int]:
        """Every thread ID seen."""
        return {e.pid for e in self.events}

    def threads_of(self) -> dict[int, int]:
        """Each thread's process (its thread-group leader): a clone with CLONE_THREAD makes a thread."""
        leader = {}
        for e in self.calls("clone", "clone3", "fork", "vfork"):
            child = _child_of(e)
            if child:
                leader[child] = leader.get(e.pid, e.pid) if "CLONE_THREAD" in e.args else child
        return leader

    def processes(self) -> set[int]:
        """The thread IDs that are processes, not extra threads."""
        leader = self.threads_of()
        return {pid for pid in self.tasks() if leader.get(pid, pid) == pid}

    def count_by_kind(self) -> Counter:
        return Counter(kind_of(e) for e in self.calls())

    def count(self) -> Counter:
        return Counter(e.name for e in self.calls())


def _child_of(ev: Event) -> int | None:
    """The new task's ID from a clone/clone3/fork/vfork (clone3 prints it after ``=>``)."""
    # Inside a new pid namespace a clone returns the child's PID *there*; --decode-pids=pidns adds the host's.
    host = re.search(r"/\* (\d+) in strace's PID NS \*/", ev.result or "")
    v = int(host.group(1)) if host else ev.value
    return v if v and v > 0 else None


def read(path, label: str = "") -> Trace:
    """A Trace from a file strace wrote with -o."""
    return Trace(parse(Path(path).read_text(errors="replace")), label or Path(path).stem)


def command(out: Path) -> list[str]:
    """The strace command line that writes a trace ``parse`` reads: every thread, times, durations, long strings,
    and the host's PID next to a PID a container's process sees (``/* 4243 in strace's PID NS */``)."""
    if not shutil.which("strace"):
        raise LabError("strace is not installed", "apt-get install strace (provision/provision.sh does)")
    return [shutil.which("strace"), "-f", "-ttt", "-T", "-s", "512", "--decode-pids=pidns", "-o", str(out)]


def trace_run(rt, cid: str, bundle: Path, out: Path, timeout: float = 900) -> tuple[Trace, int, str]:
    """``RUNTIME run`` of ``bundle`` as container ``cid`` under strace into ``out``: (trace, exit status, output).

    ``rt`` is a ``labcore.teach.runtimes.Runtime``; as its own ``run`` does, the container gets a cgroupsPath
    in the lab's subtree and a peer's cgroups are recorded first, so ``labcore cleanup`` undoes a crash.
    The timeout is generous: under strace in an emulated VM, a Python runtime's run takes over a minute.
    Deep dive E.
    """
    from .. import tracker
    bundle, out = Path(bundle), Path(out)
    records = rt._prepare(bundle, cid)
    printed = out.with_suffix(".out")
    try:
        with open(printed, "w") as f:
            code = subprocess.run(command(out) + rt.command("run", "--bundle", str(bundle), cid),
                                  stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                  timeout=timeout).returncode
    finally:
        for rec in records:
            tracker.default().undo(rec)
    return read(out, rt.name), code, printed.read_text()


def run(argv: list[str], out: Path, timeout: float = 300) -> Trace:
    """Run ``argv`` under strace, writing the trace to ``out``; the parsed Trace."""
    done = subprocess.run(command(out) + list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)
    if done.returncode != 0:
        raise LabError(f"{argv[0]} under strace exited with {done.returncode}: {done.stderr.strip()[:300]}",
                       "run the command without strace to see why")
    return read(out)


# --- the phases of a container start -------------------------------------------------------------------
STAGES = ["prepare", "cgroups", "namespaces", "root filesystem", "the container's view", "privileges",
          "the command", "cleanup"]


@dataclass(frozen=True)
class Phase:
    name: str
    stage: str | None
    what: str             # the calls that make it, in words
    at_end: bool = False  # timed when its first call returned, not when it began (a rendezvous)


PHASES = [
    Phase("exec fifo made", "prepare", "mknod of ROOT/ID/exec.fifo: create's init will wait on it"),
    Phase("cgroup made and written", "cgroups", "mkdir of the container's cgroup, a PID written to cgroup.procs"),
    Phase("namespaces", "namespaces", "unshare/clone/clone3 with CLONE_NEW* flags"),
    Phase("rootfs bind mount", "root filesystem", "mount(rootfs, rootfs, MS_BIND|MS_REC): the root becomes a mount"),
    Phase("/proc /dev /sys mounted", "root filesystem", "mount of proc, tmpfs, devpts, mqueue, sysfs"),
    Phase("device nodes", "root filesystem", "mknod of /dev/null, zero, full, random, urandom, tty"),
    Phase("pivot_root", "root filesystem", "pivot_root(new root, put old)"),
    Phase("old root detached", "root filesystem", "umount2(old root, MNT_DETACH) after pivot_root"),
    Phase("read-only paths", "the container's view", "bind + remount MS_RDONLY (/proc/sys, /proc/bus...)"),
    Phase("masked paths", "the container's view", "/dev/null bound over files, an empty tmpfs over directories"),
    Phase("hostname", "the container's view", "sethostname"),
    Phase("no_new_privs", "privileges", "prctl(PR_SET_NO_NEW_PRIVS, 1)"),
    Phase("capabilities", "privileges", "prctl(PR_CAPBSET_DROP), capset"),
    Phase("seccomp filter", "privileges", "seccomp(SECCOMP_SET_MODE_FILTER) or prctl(PR_SET_SECCOMP): a BPF program"),
    # A blocking open of a fifo returns once both ends are open: that moment, not the call's entry, is the start.
    Phase("start: fifo opened", None, "the start side's open of exec.fifo returns: the init may go on", at_end=True),
    Phase("execve of the command", "the command", "execve of process.args that succeeds"),
    Phase("container exits", "the command", "the process of the command ends"),
    Phase("cgroup removed", "cleanup", "rmdir of the container's cgroup"),
]
BY_NAME = {p.name: p for p in PHASES}
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _paths(ev: Event) -> list[str]:
    return _STRING.findall(ev.args)


def fields(args: str) -> list[str]:
    """The top-level arguments of a call, split at commas outside strings, braces and brackets."""
    out, depth, cur, quoted, escaped = [], 0, [], False, False
    for ch in args:
        if quoted:
            quoted = not (ch == '"' and not escaped)
            escaped = ch == "\\" and not escaped
        elif ch == '"':
            quoted = True
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if cur or out:
        out.append("".join(cur).strip())
    return out


def _unquote(field: str) -> str | None:
    """A string argument's text; None for NULL, an address or a number."""
    m = re.fullmatch(r'"((?:[^"\\]|\\.)*)"(?:\.\.\.)?', field)
    return m.group(1) if m else None


def _is_cgroup_path(ev: Event, cid: str) -> bool:
    # Absolute under /sys/fs/cgroup, or relative to a directory fd open there (runc's openat2(fd, "cpu/...")).
    return any(cid in p and (p.startswith("/sys/fs/cgroup/") or (not p.startswith("/") and ev.name == "openat2"))
               for p in _paths(ev))


def argv_text(argv: list[str]) -> str:
    """How strace prints an argv array: ``["sh", "-c", "echo hi"]``."""
    return "[" + ", ".join(json.dumps(a) for a in argv) + "]"


def phases(trace: Trace, cid: str, rootfs: str, argv: list[str]) -> dict[str, list[Event]]:
    """Each phase's events in ``trace``, a run of container ``cid`` with root ``rootfs`` running ``argv``."""
    found: dict[str, list[Event]] = {p.name: [] for p in PHASES}
    pivoted: set[int] = set()
    command_pid = None
    want_argv = argv_text(argv)
    for ev in trace.events:
        a, n = ev.args, ev.name
        if ev.kind in ("exit", "killed"):
            if ev.pid == command_pid:
                found["container exits"].append(ev)
            continue
        if ev.kind != "call" or not ev.ok:
            continue  # failed calls and probes (runc asks seccomp what it supports with NULL filters)
        paths = _paths(ev)
        phase = None
        if n in ("mknod", "mknodat") and "S_IFIFO" in a and any(p.endswith("/exec.fifo") for p in paths):
            phase = "exec fifo made"
        elif n in ("mkdir", "mkdirat", "openat", "openat2", "open") and _is_cgroup_path(ev, cid) \
                and (n.startswith("mkdir") or "O_WRONLY" in a or "O_RDWR" in a):
            phase = "cgroup made and written"
        elif n in ("unshare", "clone", "clone3") and "CLONE_NEW" in a:
            phase = "namespaces"
        elif n == "mount":
            f = fields(a) + [""] * 5
            source, target, fstype, flags = _unquote(f[0]), _unquote(f[1]), _unquote(f[2]) or "", f[3]
            after = ev.pid in pivoted
            if source == rootfs and target == rootfs and "MS_BIND" in flags:
                phase = "rootfs bind mount"
            elif after and target not in (None, "/", ".") and "MS_RDONLY" in flags and "MS_REMOUNT" in flags:
                phase = "read-only paths"
            elif after and target and ((source == "/dev/null" and "MS_BIND" in flags)
                                       or (fstype == "tmpfs" and "MS_RDONLY" in flags)):
                phase = "masked paths"
            elif after and source and source == target and source != "/" and "MS_BIND" in flags:
                phase = "read-only paths"  # the bind half of a read-only path (bind, then remount read-only)
            elif not after and fstype in ("proc", "tmpfs", "devpts", "mqueue", "sysfs"):
                phase = "/proc /dev /sys mounted"
        elif n in ("mknod", "mknodat") and "S_IFCHR" in a:
            phase = "device nodes"
        elif n == "pivot_root":
            phase = "pivot_root"
            pivoted.add(ev.pid)
        elif n == "umount2" and ev.pid in pivoted and "MNT_DETACH" in a and not found["old root detached"]:
            phase = "old root detached"
        elif n == "sethostname":
            phase = "hostname"
        elif n == "prctl" and a.startswith("PR_SET_NO_NEW_PRIVS, 1"):
            phase = "no_new_privs"
        elif n == "capset" or (n == "prctl" and a.startswith("PR_CAPBSET_DROP")):
            phase = "capabilities"
        elif (n == "seccomp" and a.startswith("SECCOMP_SET_MODE_FILTER") and "filter=" in a) or \
                (n == "prctl" and a.startswith("PR_SET_SECCOMP, SECCOMP_MODE_FILTER")):
            phase = "seccomp filter"
        elif n in ("openat", "open") and any(p.endswith("/exec.fifo") for p in paths) \
                and "O_PATH" not in a and "O_RDWR" not in a:
            phase = "start: fifo opened"
        elif n in ("execve", "execveat") and want_argv in a:
            phase = "execve of the command"
            command_pid = ev.pid
        elif n in ("rmdir", "unlinkat") and _is_cgroup_path(ev, cid) and (n == "rmdir" or "AT_REMOVEDIR" in a):
            phase = "cgroup removed"
        if phase:
            found[phase].append(ev)
    return found


def when(name: str, evs: list[Event]) -> float | None:
    """The time of a phase: its first call's entry, or its return for a rendezvous (``Phase.at_end``)."""
    if not evs:
        return None
    return evs[0].time + (evs[0].duration or 0.0) if BY_NAME[name].at_end else evs[0].time


def first(found: dict[str, list[Event]]) -> dict[str, float | None]:
    """Each phase's time (seconds, as in the trace; see ``when``), None where it was not seen."""
    return {name: when(name, evs) for name, evs in found.items()}


def missing(found: dict[str, list[Event]]) -> list[str]:
    return [name for name, evs in found.items() if not evs]


def order(found: dict[str, list[Event]]) -> list[str]:
    """The phases seen, sorted by their time (``when``)."""
    return sorted((n for n, evs in found.items() if evs), key=lambda n: when(n, found[n]))


def stage_order(found: dict[str, list[Event]]) -> list[str]:
    """The stages, sorted by the first time of their first phase (the start, which has no stage, left out)."""
    starts: dict[str, float] = {}
    for name, evs in found.items():
        stage = BY_NAME[name].stage
        if evs and stage:
            starts[stage] = min(starts.get(stage, evs[0].time), evs[0].time)
    return sorted(starts, key=starts.get)


def stages_apart(found: dict[str, list[Event]]) -> bool:
    """True if every phase of each stage begins before any phase of the next stage begins."""
    firsts = first(found)
    for earlier, later in zip(STAGES, STAGES[1:]):
        last_of = max(t for n, t in firsts.items() if t is not None and BY_NAME[n].stage == earlier)
        first_of = min(t for n, t in firsts.items() if t is not None and BY_NAME[n].stage == later)
        if last_of > first_of:
            return False
    return True


def made_by(trace: Trace, found: dict[str, list[Event]]) -> dict[str, str]:
    """Which process made each phase's first call: the runtime's own, the container's PID 1, or one between."""
    leader = trace.threads_of()
    runtime = trace.events[0].pid if trace.events else None
    init = found["execve of the command"][0].pid if found["execve of the command"] else None
    roles = {}
    for name, evs in found.items():
        if evs:
            pid = leader.get(evs[0].pid, evs[0].pid)
            roles[name] = "runtime" if pid == runtime else "container's init" if pid == init else "a child between"
    return roles


__all__ = ["Event", "Trace", "parse", "read", "run", "command", "trace_run", "fields", "kind_of", "KINDS", "Phase", "PHASES",
           "STAGES", "BY_NAME", "phases", "when", "first", "missing", "order", "stage_order", "stages_apart", "made_by",
           "argv_text"]
