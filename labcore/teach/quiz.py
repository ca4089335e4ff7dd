"""End-of-chapter quizzes that test understanding, not recall of a layout.

A chapter's questions live in ``labcore.course.chNN``, not in the notebook:
the notebook only says ``lab.quiz("04a")``, so reading a cell's source
never gives the answer away. Two kinds of question:

* ``Choice``: one right option and plausible wrong ones. The options are
  shuffled for each learner (``progress.seed()``), so "it's always b" does
  not work, and the explanation (``why``) appears only after checking.
* ``Recall``: no options. The learner answers aloud or in the box, as in an
  interview, then opens the model answer and grades themselves.

Every answer is kept in the progress file (``teach.progress``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from html import escape

from . import progress


@dataclass
class Choice:
    id: str
    text: str
    right: str
    wrong: list[str]
    why: str  # shown after checking: the explanation, and where the chapter showed it


@dataclass
class Recall:
    id: str
    text: str
    model: str           # the model answer, in the course's words
    demo: str = ""       # where the chapter proves it, e.g. "section 3"


SELF_GRADES = ("got it", "partly", "missed")


@dataclass
class Quiz:
    chapter: str
    title: str
    questions: list = field(default_factory=list)
    seed: int | None = None

    def __post_init__(self):
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError(f"quiz {self.chapter}: question ids repeat: {ids}")

    def __repr__(self) -> str:
        choice = sum(isinstance(q, Choice) for q in self.questions)
        recall = len(self.questions) - choice
        return (f"Quiz: {self.title} ({choice} to choose, {recall} to answer aloud; "
                f"press Check, then grade your spoken answers)")

    def positions(self) -> dict[str, int]:
        """Where each Choice's right option goes, for this quiz's seed.

        Positions are dealt in turn, not drawn independently: over a chapter every position holds
        the right answer about equally often, so no "the answer is usually b" habit can form; the
        seed then decides which question gets which position.
        """
        rng = random.Random(f"{self.seed or 0}:{self.chapter}")
        placed = {}
        by_count: dict[int, list[Choice]] = {}
        for q in self.questions:
            if isinstance(q, Choice):
                by_count.setdefault(1 + len(q.wrong), []).append(q)
        for n, questions in sorted(by_count.items()):
            start = rng.randrange(n)
            slots = [(start + i) % n for i in range(len(questions))]
            rng.shuffle(slots)
            placed.update({q.id: slot for q, slot in zip(questions, slots)})
        return placed

    def options(self, question: Choice) -> list[str]:
        """The question's options in this learner's order."""
        rng = random.Random(f"{self.seed or 0}:{self.chapter}:{question.id}")
        options = list(question.wrong)
        rng.shuffle(options)
        options.insert(self.positions()[question.id], question.right)
        return options

    def shuffled(self) -> "Quiz":
        """The same quiz with this learner's option order."""
        return Quiz(self.chapter, self.title, self.questions, progress.seed())

    def grade(self, answers: dict[str, str], record: bool = False) -> tuple[int, list[str]]:
        """Score {question id: chosen option text}; returns (right, one feedback line per Choice)."""
        right, lines = 0, []
        choices = [q for q in self.questions if isinstance(q, Choice)]
        for n, q in enumerate(choices, 1):
            given = answers.get(q.id)
            if given is None:
                lines.append(f"{n}. not answered yet")
                continue
            ok = given == q.right
            right += ok
            lines.append(f"{n}. {'right' if ok else 'not quite'}: {q.why}")
            if record:
                progress.record_answer(self.chapter, q.id, "right" if ok else "wrong")
        return right, lines

    def self_grade(self, question: str, grade: str) -> None:
        if grade not in SELF_GRADES:
            raise ValueError(f"grade yourself with one of {SELF_GRADES}, not {grade!r}")
        progress.record_answer(self.chapter, question, grade)

    def widget(self):
        import ipywidgets as w

        boxes, radios = [], {}
        choices = [q for q in self.questions if isinstance(q, Choice)]
        for n, q in enumerate(choices, 1):
            radio = w.RadioButtons(options=self.options(q), value=None,
                                   layout=w.Layout(width="auto"))
            radios[q.id] = radio
            box = w.VBox([w.HTML(f"<b>{n}. {escape(q.text)}</b>"), radio])
            box.add_class("lab-quiz-question")
            boxes.append(box)
        feedback = w.Output()
        feedback.add_class("lab-quiz-feedback")
        check = w.Button(description="Check", button_style="primary")
        check.add_class("lab-quiz-check")

        def on_check(_):
            answers = {qid: r.value for qid, r in radios.items() if r.value is not None}
            right, lines = self.grade(answers, record=True)
            feedback.clear_output()
            with feedback:
                print(f"{right} of {len(choices)} right")
                print("\n".join(lines))

        check.on_click(on_check)
        parts = [w.HTML(f"<h4>{escape(self.title)}</h4>"), *boxes, check, feedback]
        recalls = [q for q in self.questions if isinstance(q, Recall)]
        if recalls:
            parts.append(w.HTML("<h4>Answer aloud, as in an interview, then compare</h4>"))
            parts += [self._recall_widget(n, q) for n, q in enumerate(recalls, 1)]
        box = w.VBox(parts)
        box.add_class("lab-quiz")
        return box

    def _recall_widget(self, n: int, q: Recall):
        import ipywidgets as w

        notes = w.Textarea(placeholder="your answer (or say it aloud)", layout=w.Layout(width="95%"))
        show = w.Button(description="Show the model answer")
        model = w.HTML()
        grade = w.ToggleButtons(options=SELF_GRADES, value=None, description="I", layout=w.Layout(display="none"))

        def on_show(_):
            where = f"<br><i>Shown in: {escape(q.demo)}</i>" if q.demo else ""
            model.value = f"<blockquote>{escape(q.model)}{where}</blockquote>"
            grade.layout.display = None

        def on_grade(change):
            if change["new"] is not None:
                self.self_grade(q.id, change["new"])

        show.on_click(on_show)
        grade.observe(on_grade, names="value")
        box = w.VBox([w.HTML(f"<b>{n}. {escape(q.text)}</b>"), notes, show, model, grade])
        box.add_class("lab-quiz-recall")
        return box

    def _repr_mimebundle_(self, include=None, exclude=None):
        # The widget for the browser; a stable line of text for nbval and readers of the raw file.
        bundle = self.widget()._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle["text/plain"] = repr(self)
        return bundle


__all__ = ["Choice", "Recall", "Quiz", "SELF_GRADES"]
