"""A minimal init: the two jobs of PID 1 that an ordinary program forgets.

The first process of a pid namespace is its *init*, and the kernel treats it
apart (pid_namespaces(7)):

* **Signals.** A signal whose action is the default one is *dropped* when it
  is sent to init, from inside the namespace or from the host; only SIGKILL
  and SIGSTOP from an ancestor namespace get through. A program that never
  installed a SIGTERM handler (most programs) therefore survives
  ``docker stop``'s SIGTERM, and Docker kills it with SIGKILL 10 s later.
* **Orphans.** When a process dies, its children are re-parented to init
  (or to the nearest *subreaper*, prctl(2) ``PR_SET_CHILD_SUBREAPER``). A
  dead child stays a zombie, holding its PID, until its parent calls wait(2).
  An init that never waits fills the table with zombies until fork() fails.

This program does both jobs, as tini does (``docker run --init`` starts
tini as PID 1, under the name docker-init):

1. install a handler for SIGTERM, SIGINT... that passes the signal on to
   the command: a caught signal is never dropped (its bit shows in the
   ``SigCgt`` line of /proc/1/status);
2. fork and exec the command (exec resets the handlers to the defaults);
3. reap *any* child that has died, ours or an adopted orphan, until the
   command itself has exited;
4. exit with the command's status (128+N if signal N killed it); the
   kernel then kills whatever is left in the namespace.

Step 3 hides a trap. The obvious loop, a blocking ``wait(2)`` and a
handler that forwards, loses signals: Python runs a handler between two
bytecodes, so a SIGTERM that lands just before the init enters ``wait()``
only sets a flag, and the init then sleeps in ``wait()`` with the signal
unforwarded until some child dies, which may be never. (An earlier
version of this file did exactly that: a test hung on it twice in some 40
runs of the suite, and ``tools/init-race.py`` counted 12 lost SIGTERMs in
640 tries, 0 in 600 since.) The classic cure is the *self-pipe*: ``signal.set_wakeup_fd``
makes the C-level handler write each signal's number into a pipe the
moment it arrives, SIGCHLD included, and the init sleeps in ``select(2)``
on that pipe. A signal that arrives before the sleep leaves a byte behind,
so ``select`` returns at once; nothing can fall in between.

tini blocks the signals and takes them with sigtimedwait(2) instead of
handlers: blocked signals are never dropped either (``sig_ignored()`` in
kernel/signal.c), and a blocked signal cannot slip past a sleep either, so
tini has no need of a pipe. But while tini waits in sigtimedwait its
signals show in no /proc mask, so handlers make the better lesson.

Run it as ``python -m labcore.ns.init [-s] -- CMD [ARG...]``; ``-s`` makes it a
subreaper, for when it is not PID 1. ``argv(cmd)`` builds that command line.
Used by notebook 04.
"""

from __future__ import annotations

import os
import select
import signal
import sys

# Signals passed on to the command. SIGKILL and SIGSTOP cannot be caught, by design.
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
             signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGCONT)
NAME = "labcore-init"
# Where select(2) parks a sleeping process, as /proc/PID/wchan names it; which
# one shows depends on what the compiler inlined in the running kernel.
SELECT_SLEEPS = ("poll_schedule_timeout", "do_select")


def argv(command: list[str], subreaper: bool = False) -> list[str]:
    """The command line that runs ``command`` under this init."""
    return [sys.executable, "-m", "labcore.ns.init", *(["-s"] if subreaper else []), "--", *command]


def exit_code(wstatus: int) -> int:
    """The shell's convention: the exit status, or 128+N for a death by signal N."""
    return os.waitstatus_to_exitcode(wstatus) if os.WIFEXITED(wstatus) else 128 + os.WTERMSIG(wstatus)


def main(args: list[str]) -> int:
    subreaper = False
    while args and args[0] != "--":
        if args[0] == "-s":
            subreaper = True
        else:
            print(f"{NAME}: unknown option {args[0]!r} (usage: python -m labcore.ns.init [-s] -- CMD...)",
                  file=sys.stderr)
            return 2
        args = args[1:]
    command = args[1:]
    if not command:
        print(f"{NAME}: no command (usage: python -m labcore.ns.init [-s] -- CMD...)", file=sys.stderr)
        return 2

    from .. import kernel  # only now: the module is also read as documentation
    kernel.default().set_name(NAME)  # what ps shows instead of "python3"
    if subreaper:
        kernel.default().prctl(kernel.flags.PR_SET_CHILD_SUBREAPER, 1)
    elif os.getpid() != 1:
        print(f"{NAME}: not PID 1 and not a subreaper (-s): orphans will go to someone else", file=sys.stderr)

    child = 0

    def forward(signum, frame):
        if child:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass  # it is exiting already; wait() will tell

    # The self-pipe: from here on, every signal we catch also writes a byte here,
    # so a sleep in select() cannot miss one (see the module's docstring).
    wakeup, wakeup_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wakeup_write, warn_on_full_buffer=False)
    # Block while we set up, so that a signal arriving now waits for the handler
    # instead of hitting a half-started child.
    signal.pthread_sigmask(signal.SIG_BLOCK, (*FORWARDED, signal.SIGCHLD))
    for sig in FORWARDED:
        signal.signal(sig, forward)
    # SIGCHLD's default action is to ignore it, and an ignored signal never reaches
    # the pipe: a handler that does nothing makes each child's death wake us.
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    child = os.fork()
    if child == 0:
        for sig in (*FORWARDED, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)  # exec would reset caught ones; ignored ones it keeps
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            print(f"{NAME}: cannot run {command[0]!r}: {exc.strerror}", file=sys.stderr)
            os._exit(127)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (*FORWARDED, signal.SIGCHLD))

    while True:
        # Reap every child that is dead now, ours or an orphan the kernel gave us,
        # without blocking: WNOHANG returns (0, 0) once only live children remain.
        while True:
            pid, wstatus = os.waitpid(-1, os.WNOHANG)
            if pid == child:
                return exit_code(wstatus)
            if pid == 0:
                break
        # Sleep until a signal comes (SIGCHLD for a death, or one that forward()
        # has passed on by the time select returns), then empty the pipe.
        select.select([wakeup], [], [])
        os.read(wakeup, 4096)


__all__ = ["argv", "exit_code", "main", "FORWARDED", "NAME", "SELECT_SLEEPS"]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
