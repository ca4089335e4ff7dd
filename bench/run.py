"""Benchmarks: each figure measured side by side with a real peer in the same run.

Prints one ``name: value`` per line. Nothing here asserts a time: machines
differ, ratios against a peer measured in the same run are what we compare.
Targets are printed next to the ratio they concern.
"""

from __future__ import annotations

import os
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


def _cgroup_bench_ready(name: str) -> bool:
    if not lab.doctor.has("cgroup_limits"):
        print(f"{name}: skipped:", lab.doctor.why_not("cgroup_limits"))
        return False
    return True


def bench_throttle() -> None:
    """Throttling fidelity: the CPU share a busy loop gets under a quota, over 5 s, against the quota.

    The peer is the same loop without a quota, measured in the same run: the
    most this machine gives one loop right now (less than 100 % when it is busy).
    """
    if not _cgroup_bench_ready("throttle"):
        return
    from labcore.cgroups import workloads

    def measured(limits: dict) -> float:
        with lab.cgroups.create(f"lab-bench-{os.getpid()}", **limits) as cg:
            run = lab.monitor.run(cg, workloads.busy(5.6), timeout=30, interval=0.1)
        return run.monitor.share(run.started + 0.5, run.started + 5.5)  # 5 s, after start-up

    for quota in (0.10, 0.25, 0.50, 1.00):
        ceiling = measured({})  # measured next to each quota: the machine's load changes
        share = measured({"cpus": quota})
        reachable = min(quota, ceiling)
        print(f"throttle_{quota * 100:.0f}pct_share_pct: {share * 100:.1f} (quota {quota * 100:.0f}, "
              f"error {100 * (share - quota):+.1f} points; unlimited peer just before: {ceiling * 100:.1f}; "
              f"share/min(quota, peer) {share / reachable:.3f}; target: within 3 points of the quota)")


def bench_monitor() -> None:
    """The monitor's own cost per sample, against reading the same files with cat, and with a bare loop."""
    if not _cgroup_bench_ready("monitor"):
        return
    with lab.cgroups.create(f"lab-bench-{os.getpid()}") as cg:
        files = [str(f) for f in cg.stat_files()]
        mon = lab.monitor.Monitor(cg)
        rounds = 400

        def bare():
            for path in files:
                fd = os.open(path, os.O_RDONLY)
                os.read(fd, 65536)
                os.close(fd)

        ours = median_ms(mon.sample, rounds) * 1000
        floor = median_ms(bare, rounds) * 1000
        cat = median_ms(lambda: subprocess.run(["cat", *files], capture_output=True, check=True), 60) * 1000
    print(f"monitor_files_per_sample: {len(files)} ({cg.version})")
    print(f"monitor_sample_us: {ours:.0f}")
    print(f"monitor_bare_read_us: {floor:.0f} (peer: os.read of the same files, no parsing)")
    print(f"monitor_cat_us: {cat:.0f} (peer: one cat of the same files per sample)")
    print(f"monitor_vs_bare_ratio: {ours / floor:.2f}x; monitor_vs_cat_ratio: {ours / cat:.3f}x (target: below 1)")
    print(f"monitor_cpu_at_10hz_pct: {ours * 10 / 1e6 * 100:.2f} (% of one CPU spent sampling 10 times a second)")


BENCHES = {"spawn": bench_spawn, "throttle": bench_throttle, "monitor": bench_monitor}


def main(argv: list[str]) -> int:
    for name in argv or BENCHES:
        BENCHES[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
