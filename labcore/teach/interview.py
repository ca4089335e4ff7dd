"""Interview practice: a bank of questions, each tied to the demo that proves its answer.

An interview answer is convincing when it names what the kernel does and
can point at it happening. So every ``Question`` carries a model answer in
the course's words and a link to the notebook cell whose demo shows it
(``"04a-namespaces-pid.ipynb#2.-PID-1-and-signals"``): the link is the
heading's anchor as JupyterLab writes it, and ``broken_links`` checks that
each one lands on a heading of an existing notebook.

Two ways to practise, both kept in the learner's progress file:

* ``MockInterview``: a timed round. Questions come one at a time, with a
  clock running in the browser; the learner types (or says) an answer, opens
  the model answer and the demo link, and grades themselves.
* Spaced repetition (``Deck``), the Leitner system: every question sits in
  a box, 0 to 4. "got it" moves it up one box, "partly" leaves it where it
  is, "missed" sends it back to box 0. A question in box *b* comes back
  ``2**b`` rounds after it was last asked, so the ones answered badly come
  back at once and the known ones less and less often.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path

from . import progress

BOXES = 5                     # boxes 0..4: a question in box 4 comes back every 16 rounds
GRADES = ("got it", "partly", "missed")


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    model: str      # the model answer, in the course's words
    demo: str       # "NOTEBOOK.ipynb#Anchor": the cell whose demo proves the answer
    asked_in: str   # where the question comes from: "PART 4" of the source text, or "chapter 05a"


# --- links to the demo cells ------------------------------------------------------------------

def anchor(heading: str) -> str:
    """The id JupyterLab gives a markdown heading: its text, inline markup dropped, spaces as dashes."""
    text = heading.lstrip("#").strip()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)   # [text](url) -> text
    text = re.sub(r"[`*]", "", text)                        # `code`, *emphasis*
    return text.replace(" ", "-")


def headings(notebook: Path) -> dict[str, str]:
    """{anchor: heading} for every markdown heading of a notebook."""
    cells = json.loads(notebook.read_text())["cells"]
    found = {}
    for cell in cells:
        if cell["cell_type"] != "markdown":
            continue
        for line in "".join(cell["source"]).splitlines():
            if re.match(r"#{1,6} ", line):
                found[anchor(line)] = line
    return found


def broken_links(questions, notebooks: Path) -> list[str]:
    """One line per question whose demo link does not land on a heading of an existing notebook."""
    broken = []
    for q in questions:
        path, _, fragment = q.demo.partition("#")
        notebook = notebooks / path
        if not notebook.exists():
            broken.append(f"{q.id}: {path} does not exist")
        elif fragment not in headings(notebook):
            broken.append(f"{q.id}: {path} has no heading with the anchor #{fragment}")
    return broken


def section_link(notebook: str, notebooks: Path, section: int) -> str:
    """The link to the heading "## N. ..." of a notebook: how a chapter's "section N" becomes a link."""
    for a, heading in headings(notebooks / notebook).items():
        if re.match(rf"#+ {section}\. ", heading):
            return f"{notebook}#{a}"
    return f"{notebook}#Check-yourself"


# --- spaced repetition ------------------------------------------------------------------------

class Deck:
    """The learner's boxes, kept under "interview" in the progress file (or in the file ``where``)."""

    def __init__(self, questions, where=None):
        self.questions = {q.id: q for q in questions}
        self.where = where

    @staticmethod
    def _state(data: dict) -> dict:
        state = data.setdefault("interview", {})
        state.setdefault("round", 0)
        state.setdefault("cards", {})
        return state

    def state(self) -> dict:
        return self._state(progress.load(self.where))

    def due(self, state: dict, round_no: int) -> list[str]:
        """Questions due in round ``round_no``: never asked, or asked ``2**box`` rounds ago or more."""
        cards = state["cards"]
        return [qid for qid in self.questions
                if qid not in cards or round_no - cards[qid]["last"] >= 2 ** cards[qid]["box"]]

    def pick(self, n: int, seed: int | None = None) -> tuple[int, list[Question]]:
        """Start the next round: (its number, ``n`` questions: due ones first, the weakest boxes first)."""
        state = self.state()
        round_no = state["round"] + 1
        rng = random.Random(f"{seed}:{round_no}")
        due = self.due(state, round_no)
        rng.shuffle(due)
        box = {qid: state["cards"].get(qid, {}).get("box", 0) for qid in self.questions}
        due.sort(key=lambda qid: box[qid])   # stable: shuffled within a box
        rest = [qid for qid in self.questions if qid not in due]
        rng.shuffle(rest)
        chosen = (due + sorted(rest, key=lambda qid: box[qid]))[:n]
        data = progress.load(self.where)
        self._state(data)["round"] = round_no
        progress.save(data, self.where)
        return round_no, [self.questions[qid] for qid in chosen]

    def grade(self, qid: str, grade: str, round_no: int, seconds: float | None = None) -> dict:
        """Move a question between boxes after the learner's own grade; returns its card."""
        if grade not in GRADES:
            raise ValueError(f"grade yourself with one of {GRADES}, not {grade!r}")
        data = progress.load(self.where)
        card = self._state(data)["cards"].setdefault(qid, {"box": 0, "last": round_no, "grades": []})
        if grade == "got it":
            card["box"] = min(card["box"] + 1, BOXES - 1)
        elif grade == "missed":
            card["box"] = 0
        card["last"] = round_no
        card["grades"].append(grade if seconds is None else f"{grade} ({seconds:.0f} s)")
        progress.save(data, self.where)
        return card

    def summary(self) -> dict[int, int]:
        """How many questions sit in each box (never asked ones count in box 0)."""
        cards = self.state()["cards"]
        counts = {b: 0 for b in range(BOXES)}
        for qid in self.questions:
            counts[cards.get(qid, {}).get("box", 0)] += 1
        return counts


# --- the mock interview -----------------------------------------------------------------------

class MockInterview:
    """A timed round of ``n`` questions, one at a time, graded by the learner."""

    def __init__(self, questions, n: int = 5, seconds: int = 120):
        self.deck = Deck(questions)
        self.n = n
        self.seconds = seconds

    def __repr__(self) -> str:
        # The bank grows with the course: its size is shown in the widget, not in this stable line.
        return f"Mock interview: {self.n} questions a round, {self.seconds} s each; press Start"

    def widget(self):
        import time

        import ipywidgets as w

        title = w.HTML(f"<h4>Mock interview</h4><p>{len(self.deck.questions)} questions in the bank; "
                       "the ones you missed come first.</p>")
        start = w.Button(description="Start a round", button_style="primary")
        start.add_class("lab-interview-start")
        question = w.HTML()
        question.add_class("lab-interview-question")
        clock = w.Play(interval=1000, min=0, max=self.seconds, step=1, show_repeat=False)
        bar = w.IntProgress(min=0, max=self.seconds, description="time")
        w.jslink((clock, "value"), (bar, "value"))   # ticks in the browser: the kernel stays free
        notes = w.Textarea(placeholder="your answer, as you would say it", layout=w.Layout(width="95%"))
        show = w.Button(description="Show the model answer", layout=w.Layout(width="auto"))
        show.add_class("lab-interview-show")
        model = w.HTML()
        model.add_class("lab-interview-model")
        grade = w.ToggleButtons(options=GRADES, value=None, description="I")
        grade.add_class("lab-interview-grade")
        report = w.HTML()
        report.add_class("lab-interview-report")
        asking = w.VBox([question, w.HBox([clock, bar]), notes, show, model, grade])
        asking.layout.display = "none"
        state = {"round": 0, "queue": [], "current": None, "shown_at": 0.0, "done": []}

        def ask_next():
            grade.unobserve(on_grade, names="value")
            grade.value = None
            grade.observe(on_grade, names="value")
            if not state["queue"]:
                asking.layout.display = "none"
                lines = "".join(f"<li>{escape(q.text)}: {escape(g)}</li>" for q, g in state["done"])
                boxes = ", ".join(f"box {b}: {n}" for b, n in self.deck.summary().items())
                report.value = (f"<p>Round {state['round']} done.</p><ul>{lines}</ul>"
                                f"<p>Your boxes ({boxes}): missed questions come back next round.</p>")
                return
            q = state["current"] = state["queue"].pop(0)
            number = self.n - len(state["queue"])
            question.value = (f"<b>Question {number} of {self.n}</b> <i>({escape(q.asked_in)})</i>"
                              f"<p style='font-size:1.2em'>{escape(q.text)}</p>")
            notes.value, model.value = "", ""
            grade.layout.display = "none"
            clock.value = 0
            clock.playing = True
            state["shown_at"] = time.monotonic()

        def on_start(_):
            state["round"], state["queue"] = self.deck.pick(self.n, progress.seed())
            state["done"] = []
            report.value = ""
            asking.layout.display = None
            ask_next()

        def on_show(_):
            q = state["current"]
            taken = time.monotonic() - state["shown_at"]
            clock.playing = False
            over = " (over time)" if taken > self.seconds else ""
            model.value = (f"<blockquote>{escape(q.model)}</blockquote><p>The demo: "
                           f"<a href='{escape(q.demo)}'>{escape(q.demo)}</a>. You took {taken:.0f} s{over}.</p>")
            grade.layout.display = None

        def on_grade(change):
            if change["new"] is None or state["current"] is None:
                return
            q = state["current"]
            self.deck.grade(q.id, change["new"], state["round"], time.monotonic() - state["shown_at"])
            state["done"].append((q, change["new"]))
            ask_next()

        start.on_click(on_start)
        show.on_click(on_show)
        grade.observe(on_grade, names="value")
        box = w.VBox([title, start, asking, report])
        box.add_class("lab-interview")
        return box

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.widget()._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle["text/plain"] = repr(self)
        return bundle


# --- the bank, as the chapter shows it -----------------------------------------------------

class Bank:
    """The question bank as a table: each question, where it was asked, and the link to its demo."""

    def __init__(self, questions, waiting=()):
        self.questions = list(questions)
        self.waiting = list(waiting)

    def __repr__(self) -> str:
        by_source: dict[str, int] = {}
        for q in self.questions:
            key = "the source text" if q.asked_in.startswith("PART") else "the chapters"
            by_source[key] = by_source.get(key, 0) + 1
        counts = ", ".join(f"{n} from {where}" for where, n in by_source.items())
        lines = [f"{len(self.questions)} questions with a demo to point at ({counts})"]
        lines += [f"  [{q.asked_in}] {q.text} -> {q.demo}" for q in self.questions]
        if self.waiting:
            lines.append(f"{len(self.waiting)} more wait for their chapter:")
            lines += [f"  [{q.asked_in}] {q.text} -> {q.demo.partition('#')[0]}" for q in self.waiting]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{escape(q.asked_in)}</td><td>{escape(q.text)}</td>"
                       f"<td><a href='{escape(q.demo)}'>{escape(q.demo.partition('#')[0])}</a></td></tr>"
                       for q in self.questions)
        rows += "".join(f"<tr><td>{escape(q.asked_in)}</td><td>{escape(q.text)}</td>"
                        f"<td><i>its chapter is not written yet</i></td></tr>" for q in self.waiting)
        return (f"<p>{len(self.questions)} questions, each linked to the demo that proves its answer</p>"
                f"<table><tr><th>asked in</th><th>question</th><th>the demo</th></tr>{rows}</table>")


__all__ = ["Question", "Deck", "MockInterview", "Bank", "anchor", "headings", "broken_links", "section_link", "GRADES"]
