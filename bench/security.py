"""The price of seccomp: one system call (getpid) under Docker's default filter, against no filter.

A small C program makes N raw getpid(2) calls and prints the nanoseconds
per call; it runs in a lab container without a policy (the peer), under the
lab's default policy (Docker's seccomp profile, 14 capabilities), and under
a filter that allows getpid only after comparing its first argument: since
Linux 5.11 the kernel caches "always allowed" answers per syscall number
and skips the BPF program for them, and an argument check defeats that
cache, so the third line shows what running the filter itself costs.
Rounds interleave the three so a busy moment hits all. Prints ``name:
value`` lines; run alone with ``python bench/security.py``.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import labcore as lab

CALLS = 2_000_000
ROUNDS = 5

LOOP_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++)
        syscall(SYS_getpid, 0L);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.2f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}
"""


def _uncached_profile():
    """Docker's default with getpid allowed only when its (unused) first argument is 0."""
    from labcore.security import Policy, seccomp
    base = Policy.docker_default()
    data = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "syscalls": []}
    for r in base.seccomp.resolve(set(base.capabilities.effective)):
        names = [n for n in r.names if n != "getpid"]
        if names:
            data["syscalls"].append({"names": names, "action": r.action, "errnoRet": r.errno_ret,
                                     "args": [{"index": i, "op": op, "value": v, "valueTwo": v2}
                                              for i, op, v, v2 in r.args]})
    data["syscalls"].append({"names": ["getpid"], "action": "SCMP_ACT_ALLOW",
                             "args": [{"index": 0, "op": "SCMP_CMP_EQ", "value": 0}]})
    return replace(base, seccomp=seccomp.Profile.from_json(data, "default, getpid checked"))


def main() -> None:
    if not lab.doctor.has("root") or shutil.which("cc") is None:
        print("seccomp: skipped:", lab.doctor.why_not("root") or "no C compiler (cc) to build the getpid loop")
        return
    from labcore.security import Policy
    work = Path(tempfile.mkdtemp(prefix="lab-bench-seccomp-"))
    try:
        (work / "loop.c").write_text(LOOP_C)
        subprocess.run(["cc", "-O2", "-o", str(work / "loop"), str(work / "loop.c")], check=True)
        work.chmod(0o755)
        policies = {"none": None, "docker_default": Policy.docker_default(), "uncached": _uncached_profile()}
        samples = {name: [] for name in policies}
        for _ in range(ROUNDS):
            for name, pol in policies.items():
                r = lab.run([str(work / "loop"), str(CALLS)], ("pid", "mnt"), security=pol)
                if r.returncode != 0:
                    raise SystemExit(f"the getpid loop failed under {name}: {r.stderr}")
                samples[name].append(float(r.stdout))
    finally:
        shutil.rmtree(work)
    none, default, uncached = (statistics.median(samples[n]) for n in policies)
    print(f"getpid_ns_no_filter: {none:.1f} (peer: the same loop in a container without seccomp)")
    print(f"getpid_ns_docker_default_seccomp: {default:.1f}")
    print(f"getpid_seccomp_ratio: {default / none:.2f}x (target: at most 1.5x; the kernel's action cache "
          "answers getpid without running the filter, but a filtered task still enters syscalls the slow way)")
    print(f"getpid_ns_filter_run_uncached: {uncached:.1f}")
    print(f"getpid_seccomp_uncached_ratio: {uncached / none:.2f}x (no target: the price of running "
          "libseccomp's BPF program on a call the cache cannot answer)")


if __name__ == "__main__":
    sys.exit(main())
