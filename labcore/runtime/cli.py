"""``labcore runtime ...``: the runtime's command line, runc's verbs and argument order.

    labcore runtime [--root DIR] spec [--bundle DIR]
    labcore runtime [--root DIR] create [--bundle DIR] [--pid-file F] [--console-socket S] ID
    labcore runtime [--root DIR] start ID
    labcore runtime [--root DIR] state ID
    labcore runtime [--root DIR] kill ID [SIGNAL]
    labcore runtime [--root DIR] delete [--force] ID
    labcore runtime [--root DIR] run [--bundle DIR] [--pid-file F] [--console-socket S] ID
    labcore runtime [--root DIR] list
    labcore runtime [--root DIR] exec [--tty --console-socket S] ID CMD...

Tools written for runc (the OCI validation suite, containerd's shim) call
exactly these, so ``tools/labcore-runtime`` lets them drive this runtime
instead (it starts Python lean: see ``labcore/launch.py``).
``labcore.cli`` registers them with ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import json


def _root(args):
    from . import state
    return args.root or state.default_root()


def cmd_spec(args) -> int:
    from . import spec
    print(f"wrote {spec.write(args.bundle, force=args.force)}")
    return 0


def cmd_create(args) -> int:
    from . import cgroups
    cgroups.warm_attach()  # while the modules create needs load
    from . import container
    container.create(_root(args), args.id, args.bundle, args.pid_file, args.console_socket)
    return 0


def cmd_start(args) -> int:
    from . import container
    container.start(_root(args), args.id)
    return 0


def cmd_state(args) -> int:
    from . import container
    print(json.dumps(container.load(_root(args), args.id).state(), indent=2))
    return 0


def cmd_kill(args) -> int:
    from . import container
    container.kill(_root(args), args.id, args.signal)
    return 0


def cmd_delete(args) -> int:
    from . import container
    container.delete(_root(args), args.id, force=args.force)
    return 0


def cmd_run(args) -> int:
    from . import cgroups
    cgroups.warm_attach()  # while the modules create needs load
    from . import container
    return container.run(_root(args), args.id, args.bundle, args.pid_file, args.console_socket)


def cmd_list(args) -> int:
    from . import container
    rows = container.listing(_root(args))
    print(f"{'ID':<20} {'PID':>7}  {'STATUS':<9} BUNDLE")
    for r in rows:
        print(f"{r['id']:<20} {r['pid']:>7}  {r['status']:<9} {r['bundle']}")
    return 0


def cmd_exec(args) -> int:
    from . import container
    argv = args.command[1:] if args.command and args.command[0] == "--" else args.command
    if not argv:
        from ..errors import LabError
        raise LabError("no command given", "labcore runtime exec ID CMD [ARG...]")
    return container.exec_in(_root(args), args.id, argv, args.tty, args.console_socket)


# name -> (function, help); the order of `labcore runtime --help`
VERBS = {
    "spec": (cmd_spec, "write a default config.json into the bundle"),
    "create": (cmd_create, "create a container, leaving it waiting"),
    "run": (cmd_run, "create, start, wait for and delete a container"),
    "start": (cmd_start, "start a created container's process"),
    "state": (cmd_state, "print the state JSON of a container"),
    "kill": (cmd_kill, "send a signal to the container's process"),
    "delete": (cmd_delete, "remove a stopped container"),
    "list": (cmd_list, "the containers of this --root"),
    "exec": (cmd_exec, "run a command inside a running container"),
}


def chosen_verb(argv) -> str | None:
    """The verb of ``... runtime [--root DIR] VERB ...``, or None (no verb, or not a runtime command line)."""
    words = list(argv)
    if "runtime" not in words:
        return None
    rest = iter(words[words.index("runtime") + 1:])
    for word in rest:
        if word == "--root":
            next(rest, None)  # its value
        elif not word.startswith("-"):
            return word if word in VERBS else None
    return None


def _verb_options(name: str, p: argparse.ArgumentParser) -> None:
    """One verb's options and arguments, in runc's order."""
    p.add_argument("--root", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # runc accepts it either side
    if name in ("spec", "create", "run"):
        p.add_argument("--bundle", "-b", default=".", help="the bundle directory (default: .)")
    if name not in ("spec", "list"):
        p.add_argument("id")
    if name == "spec":
        p.add_argument("--force", action="store_true", help="overwrite an existing config.json")
    if name in ("create", "run"):
        p.add_argument("--pid-file", help="write the container's PID there")
        p.add_argument("--console-socket", help="with process.terminal: the unix socket that receives the pty's master")
    if name == "kill":
        p.add_argument("signal", nargs="?", default="TERM", help="a name or number (default: TERM)")
    if name == "delete":
        p.add_argument("--force", "-f", action="store_true", help="kill it first if it runs")
    if name == "exec":
        p.add_argument("--tty", "-t", action="store_true", help="give the process a pty (needs --console-socket)")
        p.add_argument("--console-socket", help="with --tty: the unix socket that receives the pty's master")
        p.add_argument("command", nargs=argparse.REMAINDER, help="CMD [ARG...]")


def register(sub, argv=()) -> None:
    """Add ``runtime`` and its subcommands to the top-level parser's subparsers.

    When ``argv`` names a verb, only that verb's parser is built: every verb
    is a process of its own, and building the other eight parsers (argparse
    looks for translations of its messages each time) took longer than
    ``start`` itself. Without one, all are built, for ``--help`` and errors.
    """
    rt = sub.add_parser("runtime", help="an OCI runtime with runc's command line (chapter 08)")
    rt.add_argument("--root", help="the state directory (default: the lab's state dir/runtime)")
    rsub = rt.add_subparsers(dest="runtime_cmd", required=True, metavar="SUBCOMMAND")
    only = chosen_verb(argv)
    for name, (fn, text) in VERBS.items():
        if only is None or name == only:
            p = rsub.add_parser(name, help=text)
            p.set_defaults(fn=fn)
            _verb_options(name, p)


__all__ = ["register", "chosen_verb", "VERBS"]
