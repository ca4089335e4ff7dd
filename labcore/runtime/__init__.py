"""An OCI runtime: a bundle's ``config.json`` turned into a running container.

The Open Container Initiative's *runtime spec* says what a container is
without naming any tool: a **bundle** (a directory holding ``config.json``
and a root filesystem) and five operations on it, driven from the command
line the way runc is: ``create``, ``start``, ``state``, ``kill``,
``delete``. Docker, containerd and Kubernetes all end in such a runtime.

The life of a container is a small state machine::

    creating --create returns--> created --start--> running --process exits--> stopped --delete--> (gone)

``create`` does all the slow work (namespaces, cgroups, mounts,
pivot_root) and leaves the container's first process *waiting* inside the
finished container, before it execs the user's program; ``start`` only
releases it. That split lets an orchestrator wire networking, or a debugger
attach, between the two steps, and makes ``start`` fast.

The modules, one concept each:

    config.py    read and check config.json (pure: every field's type, before anything is made)
    spec.py      the default config.json (``runtime spec``, like ``runc spec``)
    state.py     the state directory, the state JSON, the status of a container
    records.py   the container as one tracker record: handed to its init, undone by delete or cleanup
    cgroups.py   linux.resources written into cgroup v1 or v2 at cgroupsPath
    devices_v2.py cgroup v2's device rules: an eBPF program assembled from them and attached
    rootfs.py    mounts, /dev and devices, masked and read-only paths, pivot_root
    init.py      the container's first process: set up, wait on the exec fifo, exec
    console.py   process.terminal: a pty whose master goes out over --console-socket
    hooks.py     the OCI hooks, each run with the state on its stdin
    container.py the operations: create, start, kill, delete, run, exec, list
    cli.py       ``labcore runtime ...``: runc's command line

See https://github.com/opencontainers/runtime-spec (runtime.md, config.md).
"""

# Nothing loads with the package: each `labcore runtime` verb is a process of its own and imports
# what it needs, so `lab.runtime.spec` and the other modules load on first use.
import importlib

__all__ = ["config", "spec", "state", "container", "cgroups", "records", "rootfs", "init", "hooks", "console",
           "devices_v2", "cli"]


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
