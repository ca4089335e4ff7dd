"""The same thing done by real Docker, next to what the chapter built.

Each chapter ends with the ``docker`` commands that do what its demos did by
hand: ``docker run --memory 64m`` next to the ``memory.max`` file the lab
wrote. ``docker("run --rm ...", expected=...)`` runs the command for real
when a Docker Engine answers on this machine (the course VM has one);
otherwise it prints the command and the output Docker gives, labelled as
such, never passed off as a live run. ``docker([...], on=engine)`` runs the
commands against a real engine the chapter started itself
(``labcore.teach.realengine``), so they run here too.
"""

from __future__ import annotations

import functools
import shlex
import shutil
import subprocess

TIMEOUT = 120
MAX_OUTPUT = 64 * 1024


@functools.lru_cache(maxsize=1)
def engine() -> str | None:
    """The Docker Engine's version if one answers here, else None."""
    if shutil.which("docker") is None:
        return None
    try:
        done = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


# The lab's engine leaves net.ipv4.ip_forward alone on purpose (labcore.teach.realengine), and the CLI then
# warns at every run; on its engine the line says nothing about the command, so it is left out there.
FORWARDING_WARNING = "IPv4 forwarding is disabled. Networking will not work."  # after "WARNING: " from run

NOT_LIVE = ("# not run: no Docker Engine answers on this machine. Docker prints output like the\n"
            "# lines below (IDs and PIDs differ on every machine); in the course VM they run for real.")


class Shown:
    """docker commands and their outputs, live or expected."""

    def __init__(self, steps: list[tuple[str, str, int]], live: bool):
        self.steps, self.live = steps, live  # (args, output, exit status)

    def __repr__(self) -> str:
        parts = [] if self.live else [NOT_LIVE]
        for args, output, status in self.steps:
            tail = "" if status == 0 else f"\n(exit status {status})"
            parts.append(f"$ docker {args}\n{output.rstrip()}{tail}".rstrip())
        return "\n\n".join(parts)


def _run(args: str, timeout: float, host: str | None = None) -> tuple[str, str, int]:
    try:
        done = subprocess.run(["docker", *(["-H", host] if host else []), *shlex.split(args)], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return args, f"(still running after {timeout:g} s: stopped waiting)", -1
    return args, (done.stdout + done.stderr)[:MAX_OUTPUT], done.returncode


def _without_forwarding_warning(output: str) -> str:
    return "".join(line for line in output.splitlines(keepends=True)
                   if line.strip().removeprefix("WARNING: ") != FORWARDING_WARNING)


def docker(args: str | list, expected: str = "", timeout: float = TIMEOUT, on=None) -> Shown:
    """Run ``docker ARGS`` where an engine answers; else show ``expected``, labelled as such.

    ``args`` may be a list of (args, expected) pairs: a short session, run in order. With ``on``
    (a started ``realengine.Engine``) the commands always run, against it; the list may then hold
    plain strings, since nothing but the live output is shown.
    """
    steps = [(args, expected)] if isinstance(args, str) else [(s, "") if isinstance(s, str) else s for s in args]
    if on is not None:
        ran = [_run(a, timeout, on.host) for a, _ in steps]
        return Shown([(a, _without_forwarding_warning(out), status) for a, out, status in ran], live=True)
    if engine() is None:
        return Shown([(a, e, 0) for a, e in steps], live=False)
    return Shown([_run(a, timeout) for a, _ in steps], live=True)


__all__ = ["docker", "engine", "Shown"]
