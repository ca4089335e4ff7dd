"""OCI hooks: programs the runtime runs at fixed points of a container's life.

Each hook gets the container's state JSON on its stdin, so a network hook
can find the init PID and join its namespaces (this is how CNI plugins were
first wired in). The points, in order:

    createRuntime    during create, in the runtime's namespaces, after the namespaces exist
    prestart         the same moment (the older, deprecated name of createRuntime)
    createContainer  during create, in the container's mount namespace, before pivot_root
    startContainer   during start, in the container, just before the process is exec'd
    poststart        after start, in the runtime's namespaces
    poststop         during delete, after the container stopped

A hook that fails before the container runs (the first four) fails the
operation and the container is destroyed; a failing poststart or poststop
is only reported. See the runtime spec's config.md, "POSIX-platform Hooks".
"""

from __future__ import annotations

import json
import sys

from ..errors import LabError


def run(cfg: dict, point: str, state: dict, fatal: bool = True) -> None:
    """Run every hook of ``point`` in order, with ``state`` on stdin."""
    hooks = (cfg.get("hooks") or {}).get(point) or []
    if not hooks:
        return
    import subprocess  # only now: most configs have no hooks, and create and the init should not load it for nothing
    for i, hook in enumerate(hooks):
        argv = hook.get("args") or [hook["path"]]
        env = dict(e.split("=", 1) for e in hook.get("env") or [] if "=" in e)
        try:
            done = subprocess.run(argv, executable=hook["path"], input=json.dumps(state).encode(), env=env,
                                  timeout=hook.get("timeout"), stdout=sys.stdout.fileno(), stderr=sys.stderr.fileno())
            why = f"exited with status {done.returncode}" if done.returncode else None
        except subprocess.TimeoutExpired:
            why = f"did not finish within its timeout of {hook['timeout']} s"
        except OSError as exc:
            why = f"could not run: {exc.strerror}"
        if why is None:
            continue
        what = f"{point} hook {i} ({hook['path']}) {why}"
        if fatal:
            raise LabError(what, "fix the hook, or remove it from config.json's hooks")
        print(f"labcore runtime: warning: {what}", file=sys.stderr)


__all__ = ["run"]
