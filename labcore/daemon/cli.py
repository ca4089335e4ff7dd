"""``labcore daemon start|stop|status|serve`` and ``labcore shim``: the command line of the stack.

    labcore daemon start     start the daemon; prints DOCKER_HOST=unix://PATH
    labcore daemon status    its PID and socket (exit status 3 if it is not running)
    labcore daemon stop      stop it; containers keep running under their shims
    labcore daemon serve     the daemon itself (what start runs, in a session of its own)
    labcore shim --root ROOT  a container's shim: the daemon starts it, then names its container on stdin

``labcore.cli`` registers them with ``register_daemon`` and ``register_shim``.
"""

from __future__ import annotations


def cmd_daemon(args) -> int:
    from . import server
    if args.action == "serve":
        return server.serve()
    if args.action == "start":
        print(f"DOCKER_HOST=unix://{server.start()}")
        return 0
    if args.action == "stop":
        pids = server.stop()
        print(f"stopped daemon PID {', '.join(map(str, pids))}; its containers keep running" if pids
              else "no daemon was running")
        return 0
    found = server.status()
    if found is None:
        print("not running")
        return 3
    print(f"running: PID {found['pid']}, socket {found['socket']} (DOCKER_HOST=unix://{found['socket']})")
    return 0


def cmd_shim(args) -> int:
    from . import shim
    return shim.command(args)


def register_daemon(sub) -> None:
    p = sub.add_parser("daemon", help="a Docker Engine API subset on a unix socket (chapter 07)",
                       description="Start, stop or look at the lab's daemon; real docker clients drive it.")
    p.add_argument("action", choices=["start", "stop", "status", "serve"])
    p.set_defaults(fn=cmd_daemon)


def register_shim(sub) -> None:
    from . import shim
    p = sub.add_parser("shim", help="one container's shim (the daemon starts it; chapter 08)")
    shim.add_arguments(p)
    p.set_defaults(fn=cmd_shim)


__all__ = ["register_daemon", "register_shim", "cmd_daemon", "cmd_shim"]
