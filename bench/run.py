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


def main(argv: list[str]) -> int:
    for name in argv or BENCHES:
        BENCHES[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
