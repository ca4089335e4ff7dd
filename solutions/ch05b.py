"""Chapter 05b's solutions."""

from pathlib import Path


def contain(directory):
    """A ceiling between what the service needs (1 process + 15 threads = 16 tasks) and 40."""
    (Path(directory) / "pids.max").write_text("30")


def _processes_only(directory):
    """Counts the service as one process: threads are tasks too."""
    (Path(directory) / "pids.max").write_text("8")


def _too_high(directory):
    (Path(directory) / "pids.max").write_text("100")


def _no_limit(directory):
    (Path(directory) / "pids.max").write_text("max")


def _a_word(directory):
    (Path(directory) / "pids.max").write_text("thirty")


SOLUTIONS = {
    "high-or-max": lambda ex: "max",
    "contain-bomb": lambda ex: contain,
}

WRONG = {
    "high-or-max": lambda ex: ["high", "both", "neither", "memory.high", 48],
    "contain-bomb": lambda ex: [_processes_only, _too_high, _no_limit, _a_word],
}
