"""Chapter 05a, Control groups I: the tree and the CPU: its quiz and exercises."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..teach.exercise import Exercise
from ..teach.quiz import Choice, Quiz, Recall

QUIZ = Quiz("05a", "Control groups I: the tree and the CPU", [
    Choice("every-period", "A single-threaded busy loop runs for 10 s under `--cpus 0.25`. How much does "
                           "nr_throttled in its cpu.stat grow?",
           right="by about 100: it spends its 25 ms early in each period, then waits",
           wrong=["not at all: one thread never needs more than the CPU it is running on",
                  "only in periods when another group wants the same CPU as the loop"],
           why="A quota is a budget per 100 ms period; a loop that always wants to run exhausts it in every "
               "period (section 3 counted it)."),
    Choice("threads", "A service with 4 busy threads runs under `--cpus 1` on an 8-CPU host. How does it run "
                      "inside each 100 ms period?",
           right="all four threads run for about 25 ms, then none of them runs for 75 ms",
           wrong=["one thread at a time runs, each for 25 ms, so the period is always busy",
                  "each thread runs at a quarter of its speed, evenly across the whole period"],
           why="The quota is CPU time summed over every CPU: four threads spend 100 ms of it in 25 ms of wall "
               "time, then the group is throttled (section 3)."),
    Choice("alone", "Groups A (cpu.weight 100) and B (cpu.weight 300) share one CPU, but only A has work to do. "
                    "What share of that CPU does A get?",
           right="nearly all of it, since weights only divide time between busy groups",
           wrong=["a quarter of it: its 100 out of the 400 weight the two groups hold",
                  "a third of it: its own weight measured against the other group's 300"],
           why="Weights are work-conserving: the light group took the whole CPU back once the heavy one "
               "stopped (section 4)."),
    Choice("idle-host", "A group's cpu.max says `20000 100000`; its one busy thread runs on an otherwise idle "
                        "4-CPU host. What does the thread get?",
           right="a fifth of one CPU, although three or four CPUs sit idle",
           wrong=["a whole CPU, since nothing else on the host wants the idle ones",
                  "a fifth of each of the four CPUs, so 80 % of one CPU in total"],
           why="A quota is a ceiling that holds on an idle machine too; only a weight lends out idle time "
               "(sections 3 and 4)."),
    Choice("join", "How does a container runtime put the container's first process into its cgroup before "
                   "the entrypoint runs a single instruction?",
           right="it writes the process's PID into cgroup.procs while it waits, before execve",
           wrong=["it calls setns() on the group's directory, just as it does for each namespace",
                  "it runs the entrypoint first, and the kernel moves it when it opens /sys"],
           why="Joining a group is one write to cgroup.procs; the child waits until it is done, then execs "
               "(section 2)."),
    Choice("update", "What does `docker update --cpus 0.5 web` do to the running container `web`?",
           right="the runtime writes a new quota into its cpu.max, which holds at once",
           wrong=["the daemon stores the limit and applies it at the container's next start",
                  "the daemon stops `web` and recreates it with the new quota in its config"],
           why="A limit is a number in a file; the kernel applies a new number to the processes already "
               "inside (section 5)."),
    Choice("delegation", "On cgroup v2 you `mkdir` a group and find no cpu.max in it. What is the usual reason?",
           right="the parent's cgroup.subtree_control does not hand the cpu controller down",
           wrong=["the file appears only after the first process is written into cgroup.procs",
                  "the cpu controller exists only on v1, in its own /sys/fs/cgroup/cpu tree"],
           why="v2 gives a group only the controllers its parent enables in cgroup.subtree_control (section 2)."),
    Recall("throttling", "An interviewer asks: \"How does CPU throttling work in a container?\" Answer in "
                         "four sentences, naming the files you would read.",
           model="CFS bandwidth control gives the container's cgroup a quota of CPU time per period: cpu.max "
                 "\"50000 100000\" (v1 cpu.cfs_quota_us and cpu.cfs_period_us) is 50 ms every 100 ms, half a "
                 "CPU; docker run --cpus writes it. CPUs draw the quota from a per-group pool in 5 ms slices; "
                 "when the pool is empty the group's run queues are throttled, its tasks taken off the CPU "
                 "even if the CPU is idle, until the period timer refills it. The quota is summed over all "
                 "CPUs, so several threads spend it faster and then stall longer. cpu.stat counts nr_periods, "
                 "nr_throttled and throttled_usec: a high nr_throttled/nr_periods ratio is the sign.",
           demo="section 3"),
    Recall("latency", "A team says: \"Our service has latency spikes although it uses 30 % CPU on average.\" "
                      "What do you check, and what could fix it?",
           model="Check cpu.stat of its cgroup: if nr_throttled grows in most periods, the quota is spent in "
                 "bursts (often by many threads at once) and requests wait out the rest of each 100 ms "
                 "period; the average hides it. Fixes: raise or remove the quota (keep a weight, --cpu-shares "
                 "or a Kubernetes request, which only matters under contention), use fewer busy threads, or "
                 "allow bursts with cpu.max.burst.",
           demo="sections 3 and 4"),
])


def _cpu_directory(group) -> Path:
    """The directory holding the group's cpu files: its own on v2, the cpu hierarchy's on v1."""
    return Path(group.paths["cpu"])


class ThrottledFraction(Exercise):
    id = "throttled-fraction"
    chapter = "05a"
    kind = "predict"
    title = "predict how often a quota throttles one busy thread"
    task = """Before running section 3, predict. Two groups each run ONE busy thread (a loop that never
sleeps) for two seconds, with the default 100 ms period:

  A: quota 0.1 CPU  (cpu.max "10000 100000")
  B: quota 1.5 CPUs (cpu.max "150000 100000")

For each, what percentage of its periods will end throttled (nr_throttled / nr_periods x 100)?
Answer with a pair of numbers, (A, B). The checker runs both loops and reads their cpu.stat."""
    hint = "ask, for each group: in one 100 ms period, how much CPU time can one thread use, and how much " \
           "may the group use?"
    TOLERANCE = 35  # a loaded machine may not let a loop spend even a small quota in every period

    def measure(self, seconds: float = 2.0) -> tuple[float, float]:
        """(A, B): the percentage of periods throttled, measured now."""
        from .. import cgroups
        from ..ns.process import spawn
        from ..teach import workloads
        wide = min(1.5, max(1.0, (os.cpu_count() or 1) - 0.5))
        # A high weight lets the loops run as soon as they may, on a busy machine too; only the quota
        # holds them back (on an idle machine the weight changes nothing).
        with cgroups.create("lab-ex-quota-a", cpus=0.1, cpu_weight=1000) as a, \
                cgroups.create("lab-ex-quota-b", cpus=wide, cpu_weight=1000) as b:
            go = time.monotonic() + 1.0  # both loops start spinning then, after Python's start-up
            loops = [spawn(workloads.busy(seconds, start_at=go), cgroup=g, capture=True) for g in (a, b)]
            time.sleep(max(go - time.monotonic(), 0) + 0.05)
            before = {g: g.stats() for g in (a, b)}
            try:
                for loop in loops:
                    loop.wait(timeout=seconds + 20)
            finally:
                for loop in loops:
                    loop.close()
            out = []
            for g in (a, b):
                after = g.stats()
                periods = (after.cpu_periods or 0) - (before[g].cpu_periods or 0)
                throttled = (after.cpu_throttled_periods or 0) - (before[g].cpu_throttled_periods or 0)
                out.append(100.0 * throttled / periods if periods else 0.0)
        return out[0], out[1]

    def verify(self, answer):
        try:
            guess_a, guess_b = (float(x) for x in answer)
        except (TypeError, ValueError):
            return "give a pair of percentages, for example (10, 20): A first, then B"
        if not (0 <= guess_a <= 100 and 0 <= guess_b <= 100):
            return "each number is a percentage of periods, between 0 and 100"
        a, b = self.measure()
        self.measured = (a, b)
        problems = []
        if abs(guess_a - a) > self.TOLERANCE:
            problems.append(f"A was throttled in ≈{a:.0f} % of its periods, not {guess_a:g} %. The quota is "
                            "a share of CPU *time*; the question is how many periods end with the budget spent "
                            "while the thread still wanted to run")
        if abs(guess_b - b) > self.TOLERANCE:
            problems.append(f"B was throttled in ≈{b:.0f} % of its periods, not {guess_b:g} %. Compare what one "
                            "thread can use in a period with what B's quota allows")
        return "; ".join(problems) or None


class HalfCpu(Exercise):
    id = "half-cpu"
    chapter = "05a"
    kind = "build"
    title = "give a group half a CPU by writing its files"
    task = """The group `labcore/lab-ex-half` exists, with no CPU limit. Write a function
`half(directory)` that gives it exactly half of one CPU by writing its cgroup files with plain file
writes (no labcore): `directory` is the directory that holds the group's cpu files (`ex.directory`),
on cgroup v2 or v1 (section 2's table names the files of each). The checker resets the group, calls
your function, runs a busy loop in the group for two seconds, and measures from the host how much CPU
the loop really got: it must be close to 50 % of one CPU."""
    hint = "open the directory and look at the cpu.* files the kernel made there; each takes microseconds"

    def setup(self):
        from .. import cgroups
        self.group = cgroups.create("lab-ex-half")
        self.directory = str(_cpu_directory(self.group))
        self.version = self.group.version

    def measure(self, seconds: float = 2.0) -> float:
        """The CPU the group's busy loop got, in CPUs, after its start-up."""
        from ..teach import monitor, workloads
        run = monitor.run(self.group, workloads.busy(seconds), timeout=seconds + 20, interval=0.05)
        return run.monitor.share(run.started + 0.4, run.ended - 0.05)

    def verify(self, answer):
        from ..teach.diagrams.cgroups import cpu_quota
        if not callable(answer):
            return "pass your function itself (half, without parentheses)"
        self.group.set(cpus="max")  # start from no limit, whatever an earlier try wrote
        try:
            answer(self.directory)
        except OSError as exc:
            return (f"the kernel refused a write: {exc}. Look at what the file holds now (cat it) and "
                    "write a value of the same form")
        share = self.measure()
        quota, period = cpu_quota(self.group)  # what the kernel enforces now, read back from the host
        self.measured = share, quota, period
        if share > 0.6 or quota is None:
            return (f"the loop got ≈{share * 100:.0f} % of a CPU and the group has no quota: what you wrote "
                    "does not cap it (a weight only matters when groups compete; a quota holds a group alone)")
        if quota / period > 0.52:
            return f"the loop got ≈{share * 100:.0f} % of a CPU: the cap you wrote is looser than half"
        if quota / period < 0.48:
            return f"the loop got only ≈{share * 100:.0f} % of a CPU: the cap you wrote is tighter than half"
        return None

    def close(self):
        self.group.remove()


EXERCISES = [ThrottledFraction, HalfCpu]


__all__ = ["QUIZ", "EXERCISES"]
