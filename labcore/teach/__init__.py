"""What teaches rather than builds: watching and drawing what the kernel did.

    monitor, plots   sample a cgroup's counters while a workload runs, then plot them
    workloads        the programs chapter 05 runs (payload.py), each bounded
    widgets          quizzes, exercises and live controls for the notebooks
    compare, vm      a tiny VM booted next to a container (initramfs builds its disk)
    confinement      what confines a process, read from its /proc files
    jupyter          the lab's Jupyter kernelspec

Modules load on use: plots brings matplotlib, which takes most of a second.
"""

__all__: list[str] = []
