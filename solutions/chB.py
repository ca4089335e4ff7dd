"""Deep dive B's solutions."""

from labcore import fs


def stack(ex):
    """The image's layers topmost first, under the container's writable layer."""
    return fs.mount([ex.app, ex.base], ex.merged, ex.upper, ex.work)


SOLUTIONS = {
    "opaque-hides": lambda ex: {"c", "d"},
    "two-lowers": lambda ex: stack,
}

WRONG = {
    "opaque-hides": lambda ex: [{"d"}, {"a", "b", "c", "d"}, {"c"}, {"d", "a", "b"}],
    "two-lowers": lambda ex: [
        lambda ex: fs.mount([ex.base, ex.app], ex.merged, ex.upper, ex.work),   # bottom first
        lambda ex: fs.mount([ex.app, ex.base], ex.merged),                      # read-only
        lambda ex: fs.mount([ex.app, ex.base], ex.merged, ex.work, ex.upper),   # upper and work swapped
    ],
}
