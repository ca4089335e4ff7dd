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


def qemu_ready_seconds() -> float:
    """The peer: the same QEMU command line run bare (initramfs in a file), timed to the ready line."""
    import tempfile
    with tempfile.NamedTemporaryFile(prefix="lab-bench-initramfs-") as image:
        image.write(lab.initramfs.busybox_initramfs(lab.vm.INIT))
        image.flush()
        argv = lab.vm.qemu_argv(lab.vm.guest_kernel().path, image.name)
        start = time.perf_counter()
        qemu = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for line in qemu.stdout:
            if line.startswith(lab.vm.READY.encode()):
                break
        took = time.perf_counter() - start
        qemu.kill()
        qemu.wait()
    return took


def labcore_vm_seconds() -> float:
    with lab.vm.VM() as machine:
        return machine.boot_seconds


def bench_vm() -> None:
    if not lab.doctor.has("vm"):
        print("vm: skipped:", lab.doctor.why_not("vm"))
        return
    ours, peer = [], []
    for _ in range(3):  # interleaved, as above; a boot takes seconds, so few rounds
        ours.append(labcore_vm_seconds())
        peer.append(qemu_ready_seconds())
    ours_s, peer_s = statistics.median(ours), statistics.median(peer)
    print(f"vm_boot_to_ready_labcore_s: {ours_s:.2f}")
    print(f"vm_boot_to_ready_bare_qemu_s: {peer_s:.2f}")
    print(f"vm_boot_ratio: {ours_s / peer_s:.2f}x (target: at most 1.1x: the tracker's gate and the memfd cost nothing)")
    if lab.doctor.has("make_namespaces"):
        container_s = statistics.median(lab.compare.measure_container().start_seconds for _ in range(10))
        print(f"container_start_to_ready_ms: {container_s * 1000:.1f}")
        print(f"vm_vs_container_start_ratio: {ours_s / container_s:.0f}x (chapter 02's point: orders of magnitude)")


BENCHES = {"spawn": bench_spawn, "vm": bench_vm}


def main(argv: list[str]) -> int:
    for name in argv or BENCHES:
        BENCHES[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
