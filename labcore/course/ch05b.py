"""Chapter 05b, Control groups II: memory, PIDs, I/O: its quiz and exercises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("05b", "Control groups II: memory, PIDs, I/O", [
    Choice("anon", "A container limited to 64 MiB writes 256 MiB of anonymous memory on a host without swap. "
                   "What happens?",
           right="reclaim finds nothing to free; the OOM killer sends SIGKILL: exit 137",
           wrong=["malloc() returns NULL at 64 MiB, and the program handles the error itself",
                  "the kernel lends it host memory until the whole machine runs short of it"],
           why="Anonymous pages have nowhere to go without swap, so reclaim fails and the group's OOM killer "
               "acts (section 1)."),
    Choice("cache", "The same 64 MiB container reads a 1 GiB file from disk. What happens?",
           right="its page cache is reclaimed as it reads, and it finishes at the limit",
           wrong=["it is OOM-killed as soon as 64 MiB of the file sit in its page cache",
                  "read() fails with ENOMEM as soon as its share of the page cache is full"],
           why="Clean file pages can always be dropped and read again: reclaim comes before the OOM killer "
               "(section 2)."),
    Choice("high", "A group on cgroup v2 goes over its memory.high. What does the kernel do to it?",
           right="makes its tasks reclaim and sleep, without ever calling the OOM killer",
           wrong=["it kills the group's largest process, as it does when memory.max is reached",
                  "nothing at all, unless the whole machine is running short of free memory"],
           why="memory.high throttles; the third option is v1's soft_limit_in_bytes (section 3)."),
    Choice("lazy", "Under a 64 MiB limit, `bytes(256 << 20)` succeeds in Python while `b\"x\" * (256 << 20)` is "
                   "killed. Why?",
           right="the first asks for zeroed pages it never touches, so nothing is charged",
           wrong=["the first is allocated in the kernel's memory, outside the group's charge",
                  "the second is copied twice, and the copy pushes it over the limit first"],
           why="A page is charged at its first fault; calloc()'s fresh pages are never faulted in (section 1)."),
    Choice("bomb", "A fork bomb starts in a container with `--pids-limit 20`. What does the host see?",
           right="at most 20 tasks in that group; every further fork() fails with EAGAIN",
           wrong=["the container is stopped by the kernel the moment its 21st process is created",
                  "the host's process table still fills, only more slowly than without a limit"],
           why="The pids controller refuses the fork inside the group; nothing outside it is touched "
               "(section 4)."),
    Choice("threads", "A JVM needs 150 threads; its container runs with `--pids-limit 100`. What happens?",
           right="it fails to start threads past the limit: every thread is a task",
           wrong=["it starts normally: pids.max counts processes, and the JVM is one",
                  "it starts, and the kernel puts its extra threads in the parent group"],
           why="pids.max counts tasks, processes and threads alike (section 4)."),
    Choice("network", "Which cgroup controller caps a container's network bandwidth?",
           right="none of them: tc or eBPF shape traffic; net_cls only tags packets",
           wrong=["net_cls, which caps the bytes per second sent from each interface",
                  "io, which counts network bytes alongside the bytes read from disks"],
           why="No controller in v1 or v2 shapes traffic (section 6)."),
    Recall("soft-hard", "An interviewer asks: \"What is the difference between a soft and a hard memory limit in "
                        "cgroups?\" Answer for both versions.",
           model="The hard limit (memory.max on v2, memory.limit_in_bytes on v1, docker --memory) is a "
                 "ceiling: at it the kernel reclaims the group's memory, and if it cannot, the OOM killer kills "
                 "a process of the group. A soft limit is a target. On v2, memory.high makes the group reclaim "
                 "and sleep when it goes over, slowing it down but never killing it. On v1, "
                 "memory.soft_limit_in_bytes only steers global reclaim when the whole machine runs short. "
                 "Docker's --memory-reservation writes soft_limit_in_bytes on v1 and memory.low (a protection) "
                 "on v2.",
           demo="sections 1 and 3"),
    Recall("at-limit", "What happens, step by step, when a container reaches its memory limit?",
           model="Each new page charge over the limit triggers reclaim inside the group: clean page cache is "
                 "dropped, dirty pages written back, anonymous memory swapped if swap is allowed. If that makes "
                 "room, the program carries on, at the limit (usage stays flat). If not, the memory cgroup's "
                 "OOM killer picks the group's biggest process and sends it SIGKILL; if it was PID 1 the "
                 "container exits 137, memory.events (or memory.oom_control on v1) counts an oom_kill, and "
                 "docker inspect shows OOMKilled true.",
           demo="sections 1 and 2"),
])


class HighOrMax(Exercise):
    id = "high-or-max"
    chapter = "05b"
    kind = "predict"
    title = "predict which memory limit kills"
    task = """Before running sections 1 to 3, predict. A program keeps taking memory, 4 MiB at a time,
towards 128 MiB, on a machine without swap. It runs twice, in two groups:

  one with a hard limit of 48 MiB  (memory.max = 48M; v1 memory.limit_in_bytes)
  one with a soft limit of 48 MiB  (memory.high = 48M; v1 memory.soft_limit_in_bytes)

In which group is it killed by the OOM killer? Answer "max", "high", "both" or "neither". The checker
runs both, for a few seconds each, and reads the groups' OOM kill counters."""
    hint = "one of the two is a ceiling, the other a target the kernel steers towards"
    ANSWERS = {"max": {"max"}, "high": {"high"}, "both": {"max", "high"}, "neither": set()}

    def measure(self) -> set[str]:
        """Which of the two groups saw an OOM kill, now."""
        from .. import cgroups
        from ..teach import monitor, workloads
        killed = set()
        for kind, limit in (("max", {"memory": "48M"}), ("high", {"memory_high": "48M"})):
            with cgroups.create(f"lab-ex-{kind}", **limit) as group:
                run = monitor.run(group, workloads.hog("128M", step="4M", pause=0.05), timeout=4, interval=0.1)
                if run.oom_killed:
                    killed.add(kind)
        return killed

    def verify(self, answer):
        said = str(answer).strip().lower().removeprefix("memory.")
        if said not in self.ANSWERS:
            return 'answer with one word: "max", "high", "both" or "neither"'
        killed = self.measure()
        self.measured = killed
        if self.ANSWERS[said] == killed:
            return None
        if "high" in self.ANSWERS[said] and "high" not in killed:
            return ("your answer counts the soft limit among the killers: ask what a target the kernel "
                    "steers towards needs to do when it is crossed")
        return ("your answer leaves out a group the kernel really OOM-killed: with no swap, what is left "
                "to do at a ceiling?")


class ContainBomb(Exercise):
    id = "contain-bomb"
    chapter = "05b"
    kind = "build"
    title = "write the limit that contains a fork bomb"
    task = """The group `labcore/lab-ex-bomb` will run two things: a service made of ONE process with 15
extra threads, which must start; and later a fork bomb, which must never hold more than 40 tasks.
It already has half a CPU and 256 MiB. Write a function `contain(directory)` that writes the limit
that makes both true, with plain file writes (no labcore): `directory` holds the group's pids files
(`ex.directory`). The checker resets the group, calls your function, starts the service, then runs a
real fork bomb in the group for two seconds and watches from the host."""
    hint = "look at the pids.* files in the directory; then count what the service needs, threads included"
    MOST = 40
    SERVICE = ("import threading, time\n"
               "threads = [threading.Thread(target=time.sleep, args=(0.5,)) for _ in range(15)]\n"
               "for t in threads: t.start()\n"
               "for t in threads: t.join()\n"
               "print('service up')\n")

    def setup(self):
        from .. import cgroups
        self.group = cgroups.create("lab-ex-bomb", cpus=0.5, memory="256M")
        self.directory = str(Path(self.group.paths["pids"]))

    def verify(self, answer):
        from ..teach import monitor, workloads
        if not callable(answer):
            return "pass your function itself (contain, without parentheses)"
        self.group.wait_empty()
        self.group.set(pids="max")  # start from no limit, whatever an earlier try wrote
        try:
            answer(self.directory)
        except OSError as exc:
            return f"the kernel refused a write: {exc}. cat the file first, and write a value of that form"
        written = (Path(self.directory) / "pids.max").read_text().strip()
        if not written.isdigit():
            return f"pids.max says {written!r}: nothing would stop the bomb"
        limit = int(written)
        if limit > self.MOST:
            return f"with pids.max {limit}, the bomb could hold more than {self.MOST} tasks"
        self.group.set(pids=limit)  # the same number, now also in the lab's record of the group
        service = monitor.run(self.group, [sys.executable, "-I", "-c", self.SERVICE], timeout=15)
        if service.returncode != 0 or "service up" not in service.stdout:
            return (f"under pids.max {limit} the service could not start all its threads "
                    "(what does the pids controller count?)")
        bomb = monitor.run(self.group, workloads.fork_bomb(self.group, seconds=2), timeout=15, interval=0.05)
        most = bomb.monitor.peak("pids_current") or 0
        host_ok = subprocess.run(["true"]).returncode == 0
        self.measured = most, bomb.after.pids_max_events
        if most > self.MOST or not host_ok or self.group.procs():
            return f"the bomb reached {most} tasks"  # cannot happen with pids.max <= 40, but say so if it does
        return None

    def close(self):
        self.group.remove()


EXERCISES = [HighOrMax, ContainBomb]


__all__ = ["QUIZ", "EXERCISES"]
