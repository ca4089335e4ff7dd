"""Benchmarks: each figure measured side by side with a real peer in the same run.

Prints one ``name: value`` per line. Nothing here asserts a time: machines
differ, ratios against a peer measured in the same run are what we compare.
Targets are printed next to the ratio they concern.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import labcore as lab

ROUNDS = 60
FIVE = ("pid", "mnt", "uts", "ipc", "net")


def median_ms(fn, rounds: int = ROUNDS) -> float:
    fn()  # warm up: page cache, imports, first netns
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def labcore_true():
    with lab.spawn(["/bin/true"], FIVE) as proc:
        if proc.wait() != 0:
            raise SystemExit("labcore spawn of /bin/true failed")


def unshare_true():
    subprocess.run(["unshare", "--pid", "--mount", "--uts", "--ipc", "--net", "--fork", "/bin/true"], check=True)


def bench_spawn() -> None:
    if not lab.doctor.has("root"):
        print("spawn: skipped:", lab.doctor.why_not("root"))
        return
    # Interleave the two so that a slow moment of the machine hits both alike.
    ours, peer = [], []
    for _ in range(3):
        ours.append(median_ms(labcore_true, ROUNDS // 3))
        peer.append(median_ms(unshare_true, ROUNDS // 3))
    ours_ms, peer_ms = statistics.median(ours), statistics.median(peer)
    print(f"spawn_true_5ns_labcore_ms: {ours_ms:.2f}")
    print(f"spawn_true_5ns_unshare_ms: {peer_ms:.2f}")
    print(f"spawn_true_5ns_ratio: {ours_ms / peer_ms:.2f}x (target: at most 1.5x)")


BENCHES = {"spawn": bench_spawn}


# --- chapter 04 and deep dive A: PID 1 inits, and clone(2) against unshare(2) ---

def _pid1_rss_kb(argv: list[str]) -> int:
    """VmRSS of PID 1 when it is ``argv`` in front of a sleep, in a new pid namespace."""
    with lab.spawn(argv + ["sleep", "60"], ("pid",)) as box:
        lab.pidns.census_when(box.pid, lambda c: len(c) == 2 and c.settled())
        return int(lab.pidns.status(box.pid)["VmRSS"].split()[0])


def bench_init() -> None:
    if not lab.doctor.has("root") or not lab.doctor.has("tool:tini"):
        print("init: skipped:", lab.doctor.why_not("root") or lab.doctor.why_not("tool:tini"))
        return
    rounds = ROUNDS // 3
    bare = median_ms(lambda: lab.run(["/bin/true"], ("pid",)), rounds)
    ours = median_ms(lambda: lab.run(lab.init.argv(["/bin/true"]), ("pid",)), rounds)
    tini = median_ms(lambda: lab.run(["tini", "--", "/bin/true"], ("pid",)), rounds)
    print(f"pid1_true_bare_ms: {bare:.2f}")
    print(f"pid1_true_labcore_init_ms: {ours:.2f}")
    print(f"pid1_true_tini_ms: {tini:.2f}")
    print(f"pid1_true_init_ratio: {ours / tini:.1f}x tini "
          "(no target: labcore.init is Python written to be read; tini is the C one to ship)")
    ours_kb, tini_kb = _pid1_rss_kb(lab.init.argv([])), _pid1_rss_kb(["tini", "--"])
    print(f"pid1_rss_labcore_init_kb: {ours_kb}")
    print(f"pid1_rss_tini_kb: {tini_kb}")
    print(f"pid1_rss_ratio: {ours_kb / tini_kb:.1f}x")


def clone_true():
    if lab.nscalls.clone_run(["/bin/true"], FIVE).returncode != 0:
        raise SystemExit("labcore clone_run of /bin/true failed")


def bench_clone() -> None:
    if not lab.doctor.has("root"):
        print("clone: skipped:", lab.doctor.why_not("root"))
        return
    ours, peer = [], []
    for _ in range(3):
        ours.append(median_ms(clone_true, ROUNDS // 3))
        peer.append(median_ms(unshare_true, ROUNDS // 3))
    ours_ms, peer_ms = statistics.median(ours), statistics.median(peer)
    print(f"clone_true_5ns_labcore_ms: {ours_ms:.2f}")
    print(f"clone_true_5ns_unshare_ms: {peer_ms:.2f}")
    print(f"clone_true_5ns_ratio: {ours_ms / peer_ms:.2f}x (target: at most 2x; one more fork than spawn, for a single-threaded clone)")


BENCHES.update(init=bench_init, clone=bench_clone)


def main(argv: list[str]) -> int:
    for name in argv or BENCHES:
        BENCHES[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
