"""``labcore run``'s limits: the options, the group made for one command, the counters at its exit.

    labcore run --cpus 0.25 --memory 64M --pids 20 --stats -- python3 app.py

Like ``docker run``, each option is a limit of the cgroup the command runs
in. The group is created before the command starts (the command is moved
into it before it runs anything), and removed after it exits. Every value
is checked first: a bad one is refused with its name, and nothing is made.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager

from ..ns import namespaces
from . import create, limits

OPTIONS = {  # option -> (limit name, help)
    "--cpus": ("cpus", "CPU quota in CPUs: 0.25 or 25%% is a quarter of one CPU (cpu.max / cfs_quota_us)"),
    "--cpu-weight": ("cpu_weight", "relative CPU weight under contention, 1-10000, default 100 "
                                   "(cpu.weight; cpu.shares on v1 = weight x 10.24)"),
    "--memory": ("memory", "hard memory limit, e.g. 64M: beyond it, reclaim, then the OOM killer (exit 137)"),
    "--memory-high": ("memory_high", "soft memory limit, e.g. 48M: throttle and reclaim above it "
                                     "(memory.high; soft_limit_in_bytes on v1)"),
    "--pids": ("pids", "the most processes and threads, e.g. 20: fork() fails beyond it"),
}


def add_arguments(run: argparse.ArgumentParser) -> None:
    """Add the limit options to the ``run`` subcommand."""
    group = run.add_argument_group("limits (a cgroup made for the command, removed after it)")
    for option, (_, text) in OPTIONS.items():
        group.add_argument(option, help=text)
    group.add_argument("--io-bps", action="append", metavar="DEVICE:RATE",
                       help="read and write bytes per second on a disk, e.g. /dev/vda:4M (repeatable)")
    group.add_argument("--cgroup", metavar="NAME", help="name of the group (default: lab-run-PID)")
    group.add_argument("--stats", action="store_true", help="print the group's counters when the command exits")


def requested(args) -> dict:
    """The limits given on the command line, in human units."""
    human = {name: getattr(args, option[2:].replace("-", "_")) for option, (name, _) in OPTIONS.items()}
    human["io_bps"] = args.io_bps
    return {key: value for key, value in human.items() if value is not None}


@contextmanager
def group(args):
    """The cgroup for the command (None if no limit, name or --stats was asked), removed at the end."""
    human = requested(args)
    if not human and not args.cgroup and not args.stats:
        yield None
        return
    limits.parse(**human)                                        # bad limits: refused, nothing made
    limits.check_name(args.cgroup or "lab-run")
    namespaces.plan(namespaces.parse_kinds(args.ns), args.hostname)  # so are bad namespaces
    with create(args.cgroup or f"lab-run-{os.getpid()}", **human) as cg:
        yield cg
        if args.stats:
            print(f"labcore: cgroup {cg.name} ({cg.version}; {cg.limits}) at exit:", file=sys.stderr)
            print("\n".join("  " + line for line in cg.stats().lines()), file=sys.stderr)


__all__ = ["add_arguments", "requested", "group", "OPTIONS"]
