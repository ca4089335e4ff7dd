"""Chapter 04a, Namespaces I: pid, PID 1, signals and zombies: its quiz and exercises."""

from __future__ import annotations

import os
import signal
import time

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("04a", "Namespaces I: pid, PID 1, signals and zombies", [
    Choice("only-pid1", "Which of these holds for PID 1 of a pid namespace, and for no other process in it?",
           right="the orphans of the namespace are re-parented to it",
           wrong=["it is the only process there allowed to fork children",
                  "it keeps every capability, whatever the runtime dropped"],
           why="Section 3: the five orphaned sleeps all had PPID 1 inside; forking and capabilities "
               "have nothing to do with being first."),
    Choice("stop-137", "`docker stop` takes exactly ten seconds and the container shows `Exited (137)`. "
                       "The likeliest cause?",
           right="PID 1 has no SIGTERM handler, so the kernel dropped SIGTERM",
           wrong=["the network namespace took ten seconds to be torn down",
                  "the container's cgroup froze its tasks until the timeout ran out"],
           why="Section 2: SigCgt was empty, SIGTERM did nothing, and only the SIGKILL that follows "
               "the grace period ended it: 128 + 9."),
    Choice("zombie", "A process of the container has exited and its parent has not called wait(). "
                     "What does it still hold?",
           right="its PID and its exit status, until its parent reaps it",
           wrong=["its memory and open files, until the kernel's next sweep frees them",
                  "a slot in the run queue, where it spins until a SIGKILL arrives"],
           why="Section 3: a zombie runs no code and owns no memory; it keeps a PID (so the PID space "
               "can run out) and the status its parent has yet to collect."),
    Choice("init-flag", "What does `docker run --init` put in front of your command?",
           right="tini as PID 1, which forwards signals to it and reaps orphans",
           wrong=["a whole systemd instance that supervises your command as a unit",
                  "a seccomp rule that lets your command act on SIGTERM as PID 1"],
           why="Section 4: Docker bind-mounts tini as /sbin/docker-init and runs your command as its child."),
    Choice("pid1-exits", "A container's PID 1 exits while a background worker it started is halfway through a "
                         "job. What happens to the worker?",
           right="the kernel kills it with SIGKILL: the namespace ends with its init",
           wrong=["it is re-parented to the host's init and carries on with its job",
                  "it becomes the new PID 1, since the lowest remaining PID takes over"],
           why="Section 5: both background sleeps were gone as soon as PID 1 was killed."),
    Choice("kill-inside", "A process inside the container runs `kill -KILL 1`. What does kill(2) return, and what "
                          "happens to PID 1?",
           right="0, and nothing: the signal is dropped on delivery",
           wrong=["EPERM, because no process may signal its own namespace's init",
                  "0, and PID 1 dies, since no process can catch or ignore SIGKILL"],
           why="Section 2: `kill -KILL 1 && echo` printed its message and PID 1 went on sleeping. Only "
               "an ancestor namespace can force SIGKILL and SIGSTOP through."),
    Recall("why-pid1", "An interviewer asks: \"Why is PID 1 special inside a container, and what do you do about "
                       "it?\" Answer with the three rules and the fix.",
           model="The kernel treats the first process of a pid namespace as its init. (1) Signals it has no "
                 "handler for are dropped, so docker stop's SIGTERM does nothing and SIGKILL follows after the "
                 "grace period; (2) orphans of the namespace are re-parented to it, and their zombies stay until "
                 "it calls wait(); (3) when it exits, the kernel kills every other process in the namespace. "
                 "Fix: run a small init as PID 1 (docker run --init, tini, dumb-init) or make the application "
                 "handle SIGTERM and reap its children.",
           demo="sections 2, 3 and 5"),
    Recall("count-zombies", "How would you count the zombies of a container from the host, with neither docker "
                            "nor nsenter?",
           model="Take the inode of /proc/PID/ns/pid for the container's PID 1. Walk /proc: keep the numeric "
                 "entries whose ns/pid has the same inode (a zombie keeps its pid namespace), and count those "
                 "whose State line in /proc/N/status starts with Z. NSpid gives their PIDs inside.",
           demo="section 3"),
])

# The signals the prediction is about, in the order the checker sends them.
SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGKILL")


def _names(answer) -> set[str]:
    """A learner's set of signals, written as names ("SIGTERM", "term") or numbers, as canonical names."""
    if isinstance(answer, str):
        answer = answer.replace(",", " ").split()
    out = set()
    for item in answer:
        if isinstance(item, int):
            out.add(signal.Signals(item).name)
            continue
        name = str(item).strip().upper()
        name = name if name.startswith("SIG") else "SIG" + name
        if name not in signal.Signals.__members__:
            raise ValueError(f"{item!r} is not a signal name: write names such as SIGTERM")
        out.add(name)
    return out


def _sleeping(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read() == b"sleep\x00600\x00"
    except OSError:
        return False


class Pid1Signals(Exercise):
    id = "pid1-signals"
    chapter = "04a"
    kind = "predict"
    title = "predict which signals from the host end a PID 1 without handlers"
    task = """Before running section 2, predict. Five containers run `sleep 600` as their PID 1, and sleep
installs no signal handler at all. From the host, each container's PID 1 receives one of
SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGKILL. Which of them end their container?
Write the set of names, for example {"SIGHUP", "SIGINT"}, or set() if you think none does.
The checker starts the five containers, sends the five signals and compares."""
    hint = "an ordinary process dies of every one of these; the question is what changes for PID 1"

    def measure(self) -> set[str]:
        """The signals that ended their container, measured now."""
        from ..ns import namespaces
        from ..ns.pidns import wait_until
        from ..ns.process import spawn
        boxes = {}
        try:
            for name in SIGNALS:
                boxes[name] = spawn(["sleep", "600"], namespaces.usable("pid"))
            # Each must run sleep itself, not still be starting, when its signal comes.
            wait_until(lambda: all(_sleeping(b.pid) for b in boxes.values()), what="the five sleeps")
            for name, box in boxes.items():
                os.kill(box.pid, getattr(signal, name))
            time.sleep(0.5)  # plenty for a signal to be delivered and a process to die
            return {name for name, box in boxes.items() if box.wait(timeout=0.05) is not None}
        finally:
            for box in boxes.values():
                box.close()

    def verify(self, answer):
        try:
            predicted = _names(answer)
        except (TypeError, ValueError) as exc:
            return str(exc) if isinstance(exc, ValueError) else "write a set of signal names, like {\"SIGHUP\"}"
        stray = predicted - set(SIGNALS)
        if stray:
            return f"{', '.join(sorted(stray))} was not sent: choose among {', '.join(SIGNALS)}"
        ended = self.measure()
        if predicted == ended:
            return None
        if predicted - ended:
            return ("at least one signal you chose left its PID 1 sleeping: what does the kernel do with a "
                    "signal whose action is the default one, when it is sent to a namespace's init?")
        return ("at least one signal you left out did end its container: one signal can be neither caught, "
                "blocked nor ignored, and an ancestor namespace can always deliver it")


# The command each check runs under the learner's init. The last one makes five orphans that die
# 0.2 s later, waits, and exits with the number of zombies it finds in its own /proc.
COUNT_ZOMBIES = ("for i in 1 2 3 4 5; do (sleep 0.2 &); done; sleep 1.5; "
                 "exit $(grep -l '^State:.Z' /proc/[0-9]*/status 2>/dev/null | wc -l)")
CASES = [(["sh", "-c", "exit 7"], 7, "a command that exits with status 7"),
         (["sh", "-c", "kill -TERM $$"], 143, "a command killed by SIGTERM"),
         (["sh", "-c", COUNT_ZOMBIES], 0, "a command that leaves five orphans behind")]


class WriteInit(Exercise):
    id = "write-init"
    chapter = "04a"
    kind = "build"
    title = "write the init a container needs"
    task = """Write `init(argv)`, a function that does PID 1's job. The checker runs it as PID 1 of a new pid
namespace (with a /proc of its own) three times, each with a different command. It must
  * start `argv` as its child;
  * reap every child that dies, the orphans the kernel hands it included, while the command runs;
  * return when the command has exited, with the command's status as `docker wait` would print it:
    the exit code, or 128 + N for a death by signal N.
Python's os module has all it needs (fork, execvp, wait or waitpid)."""
    hint = "an orphan whose parent died becomes the child of PID 1: which call collects *any* child?"

    def verify(self, answer):
        if not callable(answer):
            return "pass your function itself (init, without parentheses)"
        from ..ns import namespaces
        from ..ns.process import call
        for argv, wanted, what in CASES:
            got = call(answer, argv, ns=namespaces.usable("pid"), timeout=30)
            if got == wanted:
                continue
            if wanted == 0 and isinstance(got, int) and 0 < got <= 5:
                return (f"for {what}, the command found {got} zombie(s) in the namespace a second later: "
                        "some children died and nobody collected them")
            if got is None:
                return f"for {what}, init() returned None: return the command's status"
            if isinstance(got, int) and got == wanted << 8:
                return f"for {what}, init() returned {got}: that is the raw wait status, not the exit status"
            if isinstance(got, int) and got < 0:
                return (f"for {what}, init() returned {got}: that is how Python's subprocess reports a signal, "
                        "not how a runtime does")
            return f"for {what}, init() returned {got!r}, not the status `docker wait` would print"
        return None


EXERCISES = [Pid1Signals, WriteInit]


__all__ = ["QUIZ", "EXERCISES"]
