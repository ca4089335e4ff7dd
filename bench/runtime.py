"""An OCI runtime's own cost: create + start + delete of one bundle, labcore's runtime against runc and crun.

The method of youki's README: the same busybox bundle (its process is
``true``), each runtime with a state root of its own, the three commands
timed together, rounds interleaved so a busy moment hits every runtime.
crun refuses this machine's hybrid cgroups, so it runs in a mount namespace
where the cgroup2 mount is hidden (DESIGN.md); that adds an ``unshare`` and
an ``sh`` to its figure, measured here as ``crun_wrapper_ms`` and taken off.
Below ours, what a Python runtime cannot avoid: floors of bare interpreter
starts, of starts that import the standard ``json`` (the state every verb
reads), and of the standard modules our verbs import; and the ``ideal``:
the bare floor plus the work itself, timed inside one warm process.
Prints ``name: value`` lines; run alone with ``python bench/runtime.py``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import labcore as lab

ROUNDS = 15
HERE = Path(__file__).resolve().parent.parent
# Floors: three Python processes, as create, start and delete are. "bare": the interpreter's start and
# nothing else, what any Python runtime pays. "json": that plus the standard JSON package (which loads re
# and enum), for the state each verb reads. "stdlib": that plus the standard modules each of our verbs
# loads, since labcore is written with them (json, pathlib, argparse; dataclasses in create and delete;
# re, enum and inspect beneath). Under the second floor a runtime would do without them, lab's modules too.
WITH_DATACLASSES = "import json, pathlib, argparse, dataclasses"
FLOORS = {"bare": (["pass"] * 3, "nothing"),
          "json": (["import json"] * 3, "import json, as each verb of a runtime that keeps runc's state.json "
                   "(and reads config.json) with the standard library must"),
          "stdlib": ([WITH_DATACLASSES, "import json, pathlib, argparse", WITH_DATACLASSES],
                     "what our create, start and delete import of the standard library, and nothing else")}
# The work itself: create + start + delete called in one process whose imports are done (after a
# first lifecycle), timed around the three calls. Added to the "bare" floor, it is a Python runtime
# for which importing costs nothing, the best any Python runtime of this design could do.
WARM = """
import sys, time
from labcore.cli import main
root, bundle, cid = sys.argv[1:4]
def lifecycle(cid):
    for verb in (["create", "--bundle", bundle, cid], ["start", cid], ["delete", "--force", cid]):
        if main(["runtime", "--root", root] + verb) != 0:
            sys.exit(f"{verb[0]} failed")
lifecycle(cid + "-warm")
t = time.perf_counter()
lifecycle(cid)
print((time.perf_counter() - t) * 1000)
"""
HIDE_CGROUP2 = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"']


def lifecycle(argv: list[str], bundle: Path, n: int, cpu: list | None = None) -> float:
    """Milliseconds of create + start + delete; ``cpu`` gets the CPU milliseconds (user + system) the
    three commands and the processes they waited for used: a figure a busy machine inflates less."""
    cid = f"lab-bench-{n}"
    quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv + ["create", "--bundle", str(bundle), cid], **quiet)
    subprocess.run(argv + ["start", cid], **quiet)
    subprocess.run(argv + ["delete", "--force", cid], **quiet)
    took = (time.perf_counter() - start) * 1000
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append((now.ru_utime + now.ru_stime - used.ru_utime - used.ru_stime) * 1000)
    return took


def main() -> None:
    if not lab.doctor.has("root"):
        print("runtime_lifecycle: skipped (needs root)")
        return
    work = Path(tempfile.mkdtemp(prefix="lab-bench-runtime-"))
    try:
        bundle = work / "bundle"
        bundle.mkdir()
        lab.images.busybox_rootfs(bundle / "rootfs", applets=["true", "sh"])
        # The runtime's executable, as runc is runc's: python -I -S on labcore/runtime/__main__.py
        ours = [str(HERE / "tools" / "labcore-runtime"), "--root", str(work / "ours")]
        subprocess.run(ours + ["spec", "--bundle", str(bundle)], check=True, stdout=subprocess.DEVNULL)
        cfg = json.loads((bundle / "config.json").read_text())
        cfg["process"]["args"] = ["true"]
        (bundle / "config.json").write_text(json.dumps(cfg))
        runtimes = {"labcore": ours}
        if shutil.which("runc"):
            runtimes["runc"] = [shutil.which("runc"), "--root", str(work / "runc")]
        if shutil.which("crun"):
            runtimes["crun"] = HIDE_CGROUP2 + [shutil.which("crun"), "--root", str(work / "crun")]
        samples = {name: [] for name in runtimes}
        cpu = {name: [] for name in runtimes}
        wrapper, floor, warm = [], {kind: [] for kind in FLOORS}, []
        for name, argv in runtimes.items():
            lifecycle(argv, bundle, 0)  # warm up
        for n in range(1, ROUNDS + 1):
            for name, argv in runtimes.items():
                samples[name].append(lifecycle(argv, bundle, n, cpu[name]))
            for kind, (codes, _) in FLOORS.items():  # paid before the runtime's own code
                t = time.perf_counter()
                for code in codes:
                    subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True)
                floor[kind].append((time.perf_counter() - t) * 1000)
            warm.append(float(subprocess.run([sys.executable, "-c", WARM, str(work / "warm"), str(bundle),
                                              f"lab-bench-warm-{n}"], cwd=HERE, check=True, stdin=subprocess.DEVNULL,
                                             capture_output=True, text=True).stdout))
            if "crun" in runtimes:
                t = time.perf_counter()
                for _ in range(3):  # crun's three commands each went through the wrapper
                    subprocess.run(HIDE_CGROUP2 + ["true"], check=True)
                wrapper.append((time.perf_counter() - t) * 1000)
        med = {name: statistics.median(s) for name, s in samples.items()}
        if wrapper:
            print(f"crun_wrapper_ms: {statistics.median(wrapper):.1f}")
            med["crun"] -= statistics.median(wrapper)
        for name, value in med.items():
            print(f"runtime_lifecycle_{name}_ms: {value:.1f}")
        for kind, (_, text) in FLOORS.items():
            ms = statistics.median(floor[kind])
            ratio = f", {ms / med['runc']:.2f}x runc's whole lifecycle" if "runc" in med else ""
            print(f"runtime_lifecycle_python_floor_{kind}_ms: {ms:.1f} (three starts of {sys.executable} -I -S "
                  f"doing {text}{ratio})")
        work_ms = statistics.median(warm)
        ideal = statistics.median(floor["bare"]) + work_ms
        ratio = f", {ideal / med['runc']:.2f}x runc" if "runc" in med else ""
        print(f"runtime_lifecycle_labcore_work_ms: {work_ms:.1f} (create + start + delete inside one process "
              "whose imports are done)")
        print(f"runtime_lifecycle_python_ideal_ms: {ideal:.1f} (the bare floor plus that work: our runtime if "
              f"importing cost nothing{ratio})")
        print(f"runtime_lifecycle_labcore_above_stdlib_floor_ms: {med['labcore'] - statistics.median(floor['stdlib']):.1f} "
              "(labcore's own modules and the work itself)")
        if "runc" in med:
            print(f"runtime_lifecycle_labcore_vs_runc: {med['labcore'] / med['runc']:.2f}x (target <= 1.0x)")
        if "crun" in med:
            print(f"runtime_lifecycle_labcore_vs_crun: {med['labcore'] / med['crun']:.2f}x")
        if "runc" in med:
            ours_cpu, runc_cpu = statistics.median(cpu["labcore"]), statistics.median(cpu["runc"])
            print(f"runtime_lifecycle_cpu_ms: labcore {ours_cpu:.1f}, runc {runc_cpu:.1f} ({ours_cpu / runc_cpu:.2f}x; "
                  f"user + system time of the three commands, load average {os.getloadavg()[0]:.1f} on "
                  f"{os.cpu_count()} CPUs during the run)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
