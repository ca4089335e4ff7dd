"""Chapter 04a's solutions."""

import os


def init(argv):
    """PID 1's job: start argv, reap every child (adopted orphans too), return argv's status."""
    child = os.fork()
    if child == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    while True:
        pid, status = os.wait()  # any child: ours, or an orphan the kernel re-parented to us
        if pid == child:
            return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _waits_for_its_child_only(argv):
    child = os.fork()
    if child == 0:
        os.execvp(argv[0], argv)
    _, status = os.waitpid(child, 0)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _raw_status(argv):
    child = os.fork()
    if child == 0:
        os.execvp(argv[0], argv)
    while True:
        pid, status = os.wait()
        if pid == child:
            return status


def _python_convention(argv):
    child = os.fork()
    if child == 0:
        os.execvp(argv[0], argv)
    while True:
        pid, status = os.wait()
        if pid == child:
            return os.waitstatus_to_exitcode(status)  # -15 for SIGTERM


SOLUTIONS = {
    "pid1-signals": lambda ex: {"SIGKILL"},
    "write-init": lambda ex: init,
}

WRONG = {
    "pid1-signals": lambda ex: [{"SIGTERM", "SIGKILL"}, set(), {"SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGKILL"}],
    "write-init": lambda ex: [_waits_for_its_child_only, _raw_status, _python_convention, "init"],
}
