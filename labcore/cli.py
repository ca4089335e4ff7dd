"""The ``labcore`` command: a learner's tools outside the notebooks.

    labcore doctor                 what this machine can do, and why not
    labcore run [--ns ...] -- CMD  run CMD as PID 1 of new namespaces
    labcore run --cpus 0.25 --memory 64M --pids 20 --stats -- CMD   ... in a cgroup with limits
    labcore run --network web --publish 8080:80 --name api -- CMD   ... wired to a lab network (labcore/net/)
    labcore network create|ls|rm   lab networks: a subnet, a bridge, NAT (labcore/net/command.py)
    labcore cleanup                undo whatever a crashed notebook left behind
    labcore install-kernel         register the "Docker Internals Lab" Jupyter kernel
    labcore image build|unpack|inspect|push|pull   OCI images (see labcore/images/cli.py)
    labcore registry start|stop    an image registry on 127.0.0.1 (labcore/images/registryd.py)
    labcore daemon start|stop|status   a Docker Engine API subset on a unix socket (labcore/daemon/)
    labcore --version

A ``LabError`` is printed as a short notice (what, and the fix) and the
command exits with 125, as ``docker run`` does for its own errors; a
command that cannot be found exits with 127, as in a shell.

The command starts fast, because a container runtime's command is started
once or more per container: each subcommand imports the modules it uses
when it runs, and only the chosen subcommand's options are set up. So
``labcore --help`` and ``labcore --version`` load argparse and the table of
namespace kinds (``labcore.proc.ns``), and nothing else of labcore; a
runtime verb's usual line (labcore/runtime/cli.py) does not load argparse.
"""

from __future__ import annotations

import signal
import sys

from . import __version__
from .errors import CommandNotFoundError, LabError
from .proc.ns import CONTAINER, KINDS


def cmd_doctor(args) -> int:
    from . import doctor
    print(doctor.report())
    return 0


def cmd_run(args) -> int:
    from .cgroups import command as cgroup_command
    argv = args.command
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise LabError("no command given", "put it after --, for example: labcore run -- sh -c 'echo $$'")
    from .security import command as security_command
    args.security = security_command.policy(args)  # Docker's defaults unless asked otherwise; checked first
    args.ns = security_command.namespaces(args, args.ns)  # --rootless adds a user namespace
    from .net import command as net_command
    with cgroup_command.group(args) as cgroup, net_command.endpoint(args, argv) as net:  # a namespace wired first
        return _run(args, argv, cgroup, net)


def _run(args, argv, cgroup, net=None) -> int:
    from .ns import process
    proc = process.spawn(argv, args.ns, hostname=args.hostname, cgroup=cgroup, security=args.security, **(net or {}))
    interrupts = 0

    def forward(signum, frame):
        # PID 1 of a pid namespace ignores signals it has no handler for, even
        # SIGTERM and SIGINT: the second interrupt sends SIGKILL, like `docker stop`.
        nonlocal interrupts
        interrupts += 1
        proc.send_signal(signal.SIGKILL if interrupts > 1 else signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    with proc:
        return proc.wait()


def cmd_cleanup(args) -> int:
    from . import tracker
    from .errors import CleanupError
    trk = tracker.default()
    try:
        done, error = trk.cleanup(force=args.force), None
    except CleanupError as exc:
        done, error = getattr(exc, "outcome", tracker.Outcome()), exc
    for rec, outcome in done:
        print(f"{rec.describe()}: {outcome}")
    for rec in done.spared:
        print(f"{rec.describe()}: spared (process {rec.owner}, which made it, is still running; --force undoes it)")
    left = len(trk.records()) + len(trk.skipped)
    print(f"cleanup: {len(done)} object(s) handled, {len(done.spared)} spared, "
          + (f"nothing left in {trk.objects}" if not left else f"{left} record(s) left in {trk.objects}"))
    if error is not None:
        print(f"labcore: {error.notice()}", file=sys.stderr)
        return 1
    return 0


def cmd_install_kernel(args) -> int:
    from .teach.jupyter import install_kernel
    path = install_kernel(user=args.user, prefix=args.prefix, sudo=args.sudo)
    print(f"installed the 'Docker Internals Lab' kernel in {path}")
    return 0


def cmd_registry(args) -> int:
    from .images import registryd
    return registryd.command(args)


# --- each subcommand's options, added only when that subcommand is the one run ---------

def _run_options(run) -> None:  # run: its argparse.ArgumentParser, as each one below
    from .cgroups import command as cgroup_command
    run.add_argument("--ns", default=",".join(CONTAINER),
                     help="namespace kinds, comma-separated, among " + ",".join(KINDS) +
                          " (default: %(default)s, as docker run); pid brings mnt with it for /proc")
    run.add_argument("--hostname", help="hostname inside (needs uts)")
    cgroup_command.add_arguments(run)
    from .security import command as security_command
    security_command.add_arguments(run)
    from .net import command as net_command
    net_command.add_arguments(run)
    from argparse import REMAINDER
    run.add_argument("command", nargs=REMAINDER, help="-- CMD [ARG...]")


def cmd_network(args) -> int:
    from .net import command as net_command
    return net_command.cmd_network(args)


def _network_options(p) -> None:
    from .net import command as net_command
    net_command.network_options(p)


def _install_kernel_options(kern) -> None:
    where = kern.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="in the user's Jupyter directory")
    where.add_argument("--prefix", help="under PREFIX/share/jupyter (default: this Python's prefix)")
    kern.add_argument("--sudo", action="store_true",
                      help="start the kernel through sudo, so a non-root Jupyter gets a root kernel (the VM)")


def _registry_options(p) -> None:
    from .images import registryd
    registryd.add_arguments(p)


def _cleanup_options(cleanup) -> None:
    cleanup.add_argument("--force", action="store_true",
                         help="also undo objects whose creating process is still running")


# name -> (help, description, function, the function adding its options)
COMMANDS = {
    "doctor": ("what this machine can do for the course", None, cmd_doctor, None),
    "run": ("run a command as PID 1 of new namespaces",
            "Run CMD in new namespaces as PID 1 with a fresh /proc, pass stdio through, and exit "
            "with CMD's status (128+N if killed by signal N).", cmd_run, _run_options),
    "network": ("create, list and remove lab networks (chapter 09)", None, cmd_network, _network_options),
    "cleanup": ("undo every kernel object the lab recorded (after a crashed kernel)",
                "Undo what crashed notebooks left. Objects whose creator still runs are spared "
                "unless --force is given; exits 1 if anything could not be undone or a record file was malformed.",
                cmd_cleanup, _cleanup_options),
    "install-kernel": ("install the lab's Jupyter kernelspec", None, cmd_install_kernel, _install_kernel_options),
    "image": ("build, unpack and inspect OCI images (chapter 06)", None, None, None),  # see labcore/images/cli.py
    "runtime": ("an OCI runtime with runc's command line (chapter 08)", None, None, None),  # labcore/runtime/cli.py
    "daemon": ("a Docker Engine API subset on a unix socket (chapter 07)", None, None, None),  # labcore/daemon/cli.py
    "shim": ("one container's shim (the daemon starts it; chapter 08)", None, None, None),  # labcore/daemon/cli.py
    "registry": ("start or stop an image registry on 127.0.0.1 (chapter 12)",
                 "Start the distribution registry on loopback, its storage and access log in a lab directory; "
                 "stop stops the lab's registries (labcore cleanup does too).", cmd_registry, _registry_options),
}


def parser(command: str | None = None, argv=()):
    """The command line (an argparse parser), with the options of subcommand ``command`` only (``"all"``: every one).

    When ``command`` is one of COMMANDS, the others are left out (a runtime verb or a shim is a
    process per container: ten parsers it never uses cost it milliseconds); otherwise every one
    is listed with its help line, so ``labcore --help`` and the error for a wrong word stay complete.
    """
    import argparse  # here, not at the top: a runtime verb's line is read without it (labcore/runtime/cli.py)
    top = argparse.ArgumentParser(prog="labcore", description="The Docker Internals Lab's toolkit.")
    top.add_argument("--version", action="version", version=f"labcore {__version__}")
    sub = top.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for name, (text, description, fn, options) in COMMANDS.items():
        wanted = command in (name, "all")
        if command in COMMANDS and not wanted:
            continue
        if name == "image" and wanted:
            from .images import cli as image_cli
            image_cli.register(sub)  # adds "image" with its own subcommands
            continue
        if name == "runtime" and wanted:
            from .runtime import cli as runtime_cli
            runtime_cli.register(sub, argv)  # adds "runtime" with runc's verbs (only the one argv names)
            continue
        if name in ("daemon", "shim") and wanted:
            from .daemon import cli as daemon_cli
            (daemon_cli.register_daemon if name == "daemon" else daemon_cli.register_shim)(sub)
            continue
        p = sub.add_parser(name, help=text, description=description)
        p.set_defaults(fn=fn)
        if options and wanted:
            options(p)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The first word that is not an option names the subcommand (the top level's options take no value).
    command = next((word for word in argv if not word.startswith("-")), None)
    args = None
    if command == "runtime":  # runc's command line, read without building a parser (labcore/runtime/cli.py)
        from .runtime import cli as runtime_cli
        args = runtime_cli.parse(argv)
    if args is None:
        args = parser(command, argv).parse_args(argv)
    try:
        return args.fn(args)
    except CommandNotFoundError as exc:
        print(f"labcore: {exc.notice()}", file=sys.stderr)
        return 127
    except LabError as exc:
        print(f"labcore: {exc.notice()}", file=sys.stderr)
        return 125
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
