"""Exercises the learner does, checked on the real machine.

Two kinds, after the way teachers of systems courses work:

* ``predict``: the learner writes down what they expect *before* running the
  demo (a number, a name, yes or no); the checker compares it with what the
  kernel really does, measured when it checks, and explains a miss.
* ``build`` (or ``break``): the learner writes the code or the command
  that makes something happen (enter a namespace, set a limit, mount a
  layer) or that breaks it and then repairs it; the checker runs it for real
  and looks at the result from the host.

A chapter's exercises are subclasses of ``Exercise`` in
``labcore.course.chNN``. ``setup()`` makes what the task needs (a container
to find, a cgroup to inspect), ``verify(answer)`` returns ``None`` when the
answer is right or a hint (never the answer) when it is not, ``close()``
undoes ``setup``. In the notebook::

    ex = lab.exercise("01", "find-container")   # shows the task, runs setup()
    answer = None                                # the learner replaces None
    ex.check(answer)                             # "Not yet: ..." or "Done: ..."

The notebook is committed with ``None``: running every cell completes no
exercise, and the solutions live outside it (``solutions/`` in the checkout).
"""

from __future__ import annotations

from . import progress

KINDS = ("predict", "build", "break")


class Verdict:
    """What ``check`` returns: true when the exercise is done. Jupyter shows nothing for it,
    since ``check`` has already said what it found."""

    def __init__(self, done: bool):
        self.done = done

    def __bool__(self) -> bool:
        return self.done

    def __repr__(self) -> str:
        return "done" if self.done else "not yet"

    def _ipython_display_(self) -> None:
        pass


class Exercise:
    id: str = ""
    chapter: str = ""
    kind: str = "predict"
    title: str = ""
    task: str = ""          # what to do, shown when the exercise is opened
    hint: str = ""          # shown when the answer is still None

    def setup(self) -> None:
        """Make what the task needs. Runs when the exercise is opened."""

    def verify(self, answer) -> str | None:
        """None when ``answer`` is right; otherwise a hint that does not give the answer away."""
        raise NotImplementedError

    def close(self) -> None:
        """Undo ``setup``."""

    # What the learner calls.

    def check(self, answer) -> Verdict:
        if answer is None or answer is Ellipsis:
            print(f"Not tried yet: {self.title}. Replace None with your answer, then run this cell again."
                  + (f"\nHint: {self.hint}" if self.hint else ""))
            return Verdict(False)
        try:
            problem = self.verify(answer)
        except NotImplementedError:  # the committed stub: "your code here"
            print(f"Not tried yet: {self.title}. Write your code where the cell says so, then run it again."
                  + (f"\nHint: {self.hint}" if self.hint else ""))
            return Verdict(False)
        except Exception as exc:  # a learner's odd answer must not crash the checker
            problem = f"could not check {answer!r}: {type(exc).__name__}: {exc}"
        if problem:
            print(f"Not yet: {problem}")
            return Verdict(False)
        print(f"Done: {self.title}.")
        progress.record_exercise(self.chapter, self.id)
        return Verdict(True)

    def __repr__(self) -> str:
        return f"Exercise ({self.kind}): {self.title}\n{self.task.strip()}"

    def __enter__(self) -> "Exercise":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_exercise(cls: type[Exercise]) -> Exercise:
    if cls.kind not in KINDS:
        raise ValueError(f"exercise {cls.id}: kind {cls.kind!r} is not one of {KINDS}")
    exercise = cls()
    exercise.setup()
    return exercise


__all__ = ["Exercise", "Verdict", "KINDS", "open_exercise"]
