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


def labcore_true(via=None):
    with lab.spawn(["/bin/true"], FIVE, via=via) as proc:
        if proc.wait() != 0:
            raise SystemExit("labcore spawn of /bin/true failed")


def labcore_true_forking_python():
    """The same spawn by the Python road: what labcore does where nsexec is not built."""
    labcore_true(via="python")


def unshare_true():
    subprocess.run(["unshare", "--pid", "--mount", "--uts", "--ipc", "--net", "--fork", "/bin/true"], check=True)


def fork_exec_true():
    """The floor under any spawn written in Python: fork(2) this interpreter, execve /bin/true, no namespaces."""
    pid = os.fork()
    if pid == 0:
        try:
            os.execv("/bin/true", ["/bin/true"])
        finally:
            os._exit(127)
    os.waitpid(pid, 0)


def bench_spawn() -> None:
    if not lab.doctor.has("root"):
        print("spawn: skipped:", lab.doctor.why_not("root"))
        return
    if not lab.doctor.has("nsexec"):
        print("spawn: the C helper is not built, so this measures the Python path:", lab.doctor.why_not("nsexec"))
    # Interleave them so that a slow moment of the machine hits all alike.
    ours, peer, forking, floor = [], [], [], []
    for _ in range(3):
        ours.append(median_ms(labcore_true, ROUNDS // 3))
        peer.append(median_ms(unshare_true, ROUNDS // 3))
        forking.append(median_ms(labcore_true_forking_python, ROUNDS // 3))
        floor.append(median_ms(fork_exec_true, ROUNDS // 3))
    ours_ms, peer_ms, forking_ms, floor_ms = (statistics.median(x) for x in (ours, peer, forking, floor))
    rss_mb = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
    print(f"spawn_true_5ns_labcore_ms: {ours_ms:.2f}")
    print(f"spawn_true_5ns_unshare_ms: {peer_ms:.2f}")
    print(f"spawn_true_5ns_ratio: {ours_ms / peer_ms:.2f}x (target: at most 1.5x)")
    # Why labcore has a C helper: fork(2) copies this interpreter's page tables,
    # which costs more than the namespaces on a machine with slow page faults.
    print(f"spawn_true_5ns_python_fork_path_ms: {forking_ms:.2f} ({forking_ms / peer_ms:.2f}x unshare(1): "
          "labcore without kernel/nsexec, forking Python)")
    print(f"spawn_floor_python_fork_exec_ms: {floor_ms:.2f} (fork+execve of /bin/true from this "
          f"{rss_mb:.0f} MiB interpreter, no namespaces; {floor_ms / peer_ms:.2f}x unshare(1) already)")


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
    from labcore.teach import workloads

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


BENCHES["vm"] = bench_vm


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
          "(no target: labcore.ns.init is Python written to be read; tini is the C one to ship)")
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


# --- chapter 06: layers and the build cache -------------------------------------------

LAYER_MB = 200


def _fill(directory, total_mb: int = LAYER_MB) -> None:
    """A tree of incompressible files (4 MiB each, in 5 subdirectories), like a real layer's payload."""
    import os
    for i in range(total_mb // 4):
        sub = directory / f"d{i % 5}"
        sub.mkdir(exist_ok=True)
        (sub / f"f{i}").write_bytes(os.urandom(4 << 20))


def bench_layer() -> None:
    """labcore's layer (tar + sha256, as make_layer writes it) against `tar -cf - DIR | sha256sum`."""
    from labcore.fs import Scratch, make_layer
    with Scratch("bench-layer", on_disk=True) as s:
        src = s.dir("src")
        _fill(src)
        blobs = s.dir("blobs")

        def ours():
            make_layer(src, blobs, gzip_level=None)

        def peer():
            subprocess.run(f"tar -cf - -C {src} . | sha256sum", shell=True, check=True, capture_output=True)
        times_ours, times_peer = [], []
        for _ in range(3):  # interleaved, so a busy moment of the machine hits both
            times_ours.append(median_ms(ours, 3))
            times_peer.append(median_ms(peer, 3))
    ours_ms, peer_ms = statistics.median(times_ours), statistics.median(times_peer)
    print(f"layer_{LAYER_MB}mb_labcore_ms: {ours_ms:.0f}")
    print(f"layer_{LAYER_MB}mb_tar_sha256sum_ms: {peer_ms:.0f}")
    print(f"layer_{LAYER_MB}mb_speed_ratio: {peer_ms / ours_ms:.2f}x the speed of tar | sha256sum (target: at least 0.8x)")


def bench_rebuild() -> None:
    """A build (busybox rootfs, 200 MB of data, two RUN steps), then the same build fully cached."""
    from labcore import images
    from labcore.fs import Scratch
    if not lab.doctor.has("root"):
        print("rebuild: skipped:", lab.doctor.why_not("root"))
        return
    with Scratch("bench-build", on_disk=True) as s:
        ctx = s.dir("ctx")
        images.busybox_rootfs(ctx / "rootfs")
        _fill(s.dir("ctx", "data"))
        (ctx / "Dockerfile").write_text("FROM scratch\nCOPY rootfs/ /\nRUN echo one > /one\n"
                                        "COPY data/ /data/\nRUN ls /data > /listing\nCMD [\"/bin/sh\"]\n")

        def go():
            return images.build(ctx / "Dockerfile", ctx, s.path / "out", "bench", cache=s.path / "cache", gzip_level=1)
        first = go()
        cached = [go() for _ in range(5)]
        assert all(b.rebuilt() == [] for b in cached), "a rebuild with nothing changed must be fully cached"
    print(f"build_first_ms: {first.seconds * 1000:.0f} (4 layers, {LAYER_MB} MB of data, gzip level 1)")
    print(f"build_fully_cached_ms: {statistics.median(b.seconds for b in cached) * 1000:.0f} "
          f"(hashes the {LAYER_MB} MB it would copy; runs no step)")
    print(f"build_cached_ratio: {statistics.median(b.seconds for b in cached) / first.seconds:.3f} of the first build")


BENCHES["layer"] = bench_layer
BENCHES["rebuild"] = bench_rebuild


# --- the `labcore` command's start-up ---------------------------------------------------

CLI_ROUNDS = 20


def bench_cli() -> None:
    """`labcore --version` and `--help` against the bare interpreter the entry point runs on.

    An OCI runtime's command is started for every container, so the command
    must not import what its subcommand does not use.
    """
    python = sys.executable
    command = os.path.join(os.path.dirname(python), "labcore")
    runs = {"bare": [python, "-c", "pass"], "version": [command, "--version"], "help": [command, "--help"]}
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for argv in runs.values():
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)  # warm up: page cache, .pyc files
    for _ in range(CLI_ROUNDS):
        for name, argv in runs.items():  # interleaved, so a slow moment of the machine hits all three
            start = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
            samples[name].append((time.perf_counter() - start) * 1000)
    bare, version, usage = (statistics.median(samples[name]) for name in ("bare", "version", "help"))
    print(f"cli_version_ms: {version:.1f}")
    print(f"cli_help_ms: {usage:.1f}")
    print(f"bare_python_ms: {bare:.1f} (peer: {python} -c pass, medians of {CLI_ROUNDS} runs each)")
    print(f"cli_version_overhead_ms: {version - bare:.1f} (target: at most 40 above the bare interpreter)")
    print(f"cli_help_overhead_ms: {usage - bare:.1f} (target: at most 40 above the bare interpreter)")


BENCHES["cli"] = bench_cli


BENCHES["registry"] = lambda: __import__("registry").main()  # bench/registry.py: push and pull against skopeo copy
BENCHES["seccomp"] = lambda: __import__("security").main()  # bench/security.py: getpid under Docker's filter vs none
BENCHES["net"] = lambda: __import__("net").main()  # bench/net.py: iperf3 over bridge+veth vs loopback; DNAT vs docker-proxy
BENCHES["runtime"] = lambda: __import__("runtime").main()  # bench/runtime.py: create+start+delete vs runc and crun
BENCHES["daemon"] = lambda: __import__("daemon").main()  # bench/daemon.py: docker run --rm true via our daemon vs the engine


def main(argv: list[str]) -> int:
    for name in argv or BENCHES:
        BENCHES[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
