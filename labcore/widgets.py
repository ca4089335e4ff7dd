"""Quizzes and exercise checkers for the end of each chapter.

``Quiz`` shows multiple-choice questions with ipywidgets and explains each
answer when the learner presses "Check". ``Exercise`` wraps a checker
function: the learner computes something on the real machine, passes it
to ``check``, and learns whether (and why not) it is right.

Both also work without a browser: ``quiz.grade({1: "b"})`` and
``exercise.check(value)`` return results, which is how the notebooks
assert that their own quizzes and checkers work.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Callable


@dataclass
class Question:
    text: str
    options: list[str]
    answer: int          # index into options
    why: str             # shown after checking: the explanation, and where it was demonstrated


class Quiz:
    """A few multiple-choice questions; ``display(quiz)`` or leave it last in a cell."""

    def __init__(self, title: str, questions: list[Question]):
        for q in questions:
            if not 0 <= q.answer < len(q.options):
                raise ValueError(f"question {q.text!r}: answer index {q.answer} out of range")
        self.title = title
        self.questions = questions
        self._widget = None

    def __repr__(self) -> str:
        return f"Quiz: {self.title} ({len(self.questions)} questions; press Check after answering)"

    def key(self) -> dict[int, str]:
        """The right answers, as {question number: option letter}."""
        return {i: "abcdefgh"[q.answer] for i, q in enumerate(self.questions, 1)}

    def grade(self, answers: dict[int, str]) -> tuple[int, list[str]]:
        """Score {question number: letter}; returns (right, feedback lines)."""
        right, lines = 0, []
        for i, q in enumerate(self.questions, 1):
            given = answers.get(i)
            ok = given == "abcdefgh"[q.answer]
            right += ok
            mark = "right" if ok else f"not quite (answer: {'abcdefgh'[q.answer]})"
            lines.append(f"{i}. {mark}: {q.why}")
        return right, lines

    def widget(self):
        import ipywidgets as w

        boxes, radios = [], []
        for i, q in enumerate(self.questions, 1):
            radio = w.RadioButtons(options=[f"{'abcdefgh'[j]}) {o}" for j, o in enumerate(q.options)],
                                   value=None, layout=w.Layout(width="auto"))
            radios.append(radio)
            boxes += [w.HTML(f"<b>{i}. {escape(q.text)}</b>"), radio]
        out = w.Output()
        button = w.Button(description="Check", button_style="primary")

        def on_click(_):
            answers = {i: r.value[0] for i, r in enumerate(radios, 1) if r.value}
            right, lines = self.grade(answers)
            out.clear_output()
            with out:
                print(f"{right} of {len(self.questions)} right")
                print("\n".join(lines))

        button.on_click(on_click)
        return w.VBox([w.HTML(f"<h4>{escape(self.title)}</h4>"), *boxes, button, out])

    def _repr_mimebundle_(self, include=None, exclude=None):
        # The widget for the browser; the text for nbval and for readers of the raw file.
        self._widget = self.widget()
        bundle = self._widget._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle["text/plain"] = repr(self)
        return bundle


class Exercise:
    """A hands-on task whose result ``checker(value)`` verifies on this machine.

    ``checker`` returns ``None`` when the value is right, or a string saying
    what is wrong (a hint, never the answer).
    """

    def __init__(self, title: str, task: str, checker: Callable[[object], str | None]):
        self.title = title
        self.task = task
        self.checker = checker

    def __repr__(self) -> str:
        return f"Exercise: {self.title}\n{self.task}"

    def check(self, value) -> bool:
        if value is None:
            print(f"Not yet: {self.title}: replace None with your answer, then run this cell again.")
            return False
        try:
            problem = self.checker(value)
        except Exception as exc:  # a learner's odd value must not crash the checker
            problem = f"could not check {value!r}: {exc}"
        if problem:
            print(f"Not yet: {problem}")
            return False
        print(f"Correct: {self.title}")
        return True


__all__ = ["Question", "Quiz", "Exercise"]
