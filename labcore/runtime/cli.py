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

One table, ``VERBS``, says what each verb takes, and two readers use it.
``parse`` reads the lines runc's callers send, straight from the table:
every verb is a process of its own, and building argparse's parsers (it
looks for translations of its messages and measures the terminal, loading
``locale`` and ``shutil`` with ``bz2`` and ``lzma``) cost each one about
4 ms, as long as ``start`` works. Anything else (``--help``, a typo, an
abbreviation, a missing ID) goes to argparse, which ``labcore.cli`` builds
from the same table with ``register(subparsers)``, and which prints the
help or says what is wrong.
"""

from __future__ import annotations

import json
from types import SimpleNamespace


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


class Opt:
    """One option of a verb: its flags, the attribute it sets, and whether it takes a value (else it is a switch)."""

    def __init__(self, flags: tuple[str, ...], dest: str, value: bool, help: str, default=None):
        self.flags, self.dest, self.value, self.help = flags, dest, value, help
        self.default = default if value else False


ROOT = Opt(("--root",), "root", True, "the state directory")  # runc takes it before or after the verb
BUNDLE = Opt(("--bundle", "-b"), "bundle", True, "the bundle directory (default: .)", ".")
PID_FILE = Opt(("--pid-file",), "pid_file", True, "write the container's PID there")
CONSOLE = Opt(("--console-socket",), "console_socket", True,
              "with process.terminal (exec: with --tty): the unix socket that receives the pty's master")

# name -> (function, help, options, positional arguments); the order of `labcore runtime --help`.
# A positional ending in "?" may be left out; one ending in "..." takes every word after it.
VERBS = {
    "spec": (cmd_spec, "write a default config.json into the bundle",
             [BUNDLE, Opt(("--force",), "force", False, "overwrite an existing config.json")], []),
    "create": (cmd_create, "create a container, leaving it waiting", [BUNDLE, PID_FILE, CONSOLE], ["id"]),
    "run": (cmd_run, "create, start, wait for and delete a container", [BUNDLE, PID_FILE, CONSOLE], ["id"]),
    "start": (cmd_start, "start a created container's process", [], ["id"]),
    "state": (cmd_state, "print the state JSON of a container", [], ["id"]),
    "kill": (cmd_kill, "send a signal to the container's process", [], ["id", "signal?"]),
    "delete": (cmd_delete, "remove a stopped container",
               [Opt(("--force", "-f"), "force", False, "kill it first if it runs")], ["id"]),
    "list": (cmd_list, "the containers of this --root", [], []),
    "exec": (cmd_exec, "run a command inside a running container",
             [Opt(("--tty", "-t"), "tty", False, "give the process a pty (needs --console-socket)"), CONSOLE],
             ["id", "command..."]),
}
DEFAULTS = {"signal": "TERM", "command": []}  # what a positional left out stands for


def parse(argv: list[str]) -> SimpleNamespace | None:
    """``runtime [--root DIR] VERB [OPTION...] ARG...`` read with the table; None for anything else.

    Options come as ``--flag VALUE`` or ``--flag=VALUE``, before or between
    the arguments, and ``--root`` on either side of the verb, as runc takes
    them. What this does not read, argparse will, or will refuse.
    """
    words = list(argv)
    if not words or words.pop(0) != "runtime":
        return None
    got = {"root": None}
    while words and words[0].startswith("-"):  # runtime's own options: --root only
        if not _take(words, {"--root": ROOT}, got):
            return None
    if not words or words[0] not in VERBS:
        return None
    verb = words.pop(0)
    fn, _, options, positionals = VERBS[verb]
    flags = {flag: opt for opt in [*options, ROOT] for flag in opt.flags}
    for opt in options:
        got.setdefault(opt.dest, opt.default)
    wanted = list(positionals)
    while words:
        if wanted and wanted[0].endswith("..."):  # the command of exec: the rest, less a "--" before it
            got[wanted.pop(0)[:-3]] = words[1:] if words[0] == "--" else words
            break
        if words[0].startswith("-") and len(words[0]) > 1:
            if words[0] == "--" or not _take(words, flags, got):
                return None
        elif wanted:
            got[wanted.pop(0).rstrip("?")] = words.pop(0)
        else:
            return None  # one argument too many
    for name in wanted:
        if not name.endswith(("?", "...")):
            return None  # a required argument is missing: argparse says so
        got[name.rstrip("?.")] = DEFAULTS[name.rstrip("?.")]
    return SimpleNamespace(cmd="runtime", runtime_cmd=verb, fn=fn, **got)


def _take(words: list[str], flags: dict[str, Opt], got: dict) -> bool:
    """Move the option at ``words[0]`` (and its value) into ``got``; False if it is not one of ``flags``."""
    flag, eq, value = words[0].partition("=")
    opt = flags.get(flag)
    if opt is None or (eq and not opt.value) or (opt.value and not eq and len(words) < 2):
        return False
    words.pop(0)
    got[opt.dest] = (value if eq else words.pop(0)) if opt.value else True
    return True


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


def _verb_options(name: str, p) -> None:
    """One verb's options and arguments for argparse, from the table."""
    import argparse
    p.add_argument("--root", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # runc accepts it either side
    _, _, options, positionals = VERBS[name]
    for opt in options:
        if opt.value:
            p.add_argument(*opt.flags, dest=opt.dest, default=opt.default, help=opt.help)
        else:
            p.add_argument(*opt.flags, dest=opt.dest, action="store_true", help=opt.help)
    for arg in positionals:
        if arg.endswith("..."):
            p.add_argument(arg[:-3], nargs=argparse.REMAINDER, help="CMD [ARG...]")
        elif arg.endswith("?"):
            p.add_argument(arg[:-1], nargs="?", default=DEFAULTS[arg[:-1]], help="a name or number (default: TERM)")
        else:
            p.add_argument(arg)


def register(sub, argv=()) -> None:
    """Add ``runtime`` and its subcommands to the top-level parser's subparsers.

    When ``argv`` names a verb, only that verb's parser is built; without
    one, all are, for ``--help`` and errors.
    """
    rt = sub.add_parser("runtime", help="an OCI runtime with runc's command line (chapter 08)")
    rt.add_argument("--root", help="the state directory (default: the lab's state dir/runtime)")
    rsub = rt.add_subparsers(dest="runtime_cmd", required=True, metavar="SUBCOMMAND")
    only = chosen_verb(argv)
    for name, (fn, text, _, _) in VERBS.items():
        if only is None or name == only:
            p = rsub.add_parser(name, help=text)
            p.set_defaults(fn=fn)
            _verb_options(name, p)


__all__ = ["register", "parse", "chosen_verb", "VERBS"]
