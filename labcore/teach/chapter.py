"""What a chapter's notebook calls around its lessons: its first cell, its quiz,
its exercises, and the course map with the learner's progress.

``chapter("04a")`` opens a chapter: its title, time, what to read first, and
how far this learner has got in it. When this machine lacks what the
chapter's demos need (root, namespaces, a tool), it says so once, with how
to get it, and every later cell of the notebook is passed over instead of
failing one by one. Nothing else in a notebook has to ask "can I run this?".
"""

from __future__ import annotations

from html import escape

from .. import course
from . import progress
from .exercise import open_exercise


def _missing(chapter: course.Chapter) -> list[str]:
    from .. import doctor
    return [need for need in chapter.needs if not doctor.has(need)]


def _skip_rest(lines: list[str]) -> list[str]:
    return ["pass\n"]


def _gate(skip: bool) -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    transformers = shell.input_transformers_post
    if _skip_rest in transformers:
        transformers.remove(_skip_rest)
    if skip:
        transformers.append(_skip_rest)


class Opened:
    """The chapter's header, as text for readers of the file and HTML for the browser."""

    def __init__(self, chapter: course.Chapter, missing: list[str], reasons: dict[str, str]):
        self.chapter, self.missing, self.reasons = chapter, missing, reasons

    def lines(self) -> list[str]:
        c = self.chapter
        after = ", ".join(f"{p} ({course.find(p).title})" for p in c.after) or "nothing"
        out = [f"Chapter {c.id}: {c.title}", f"About {c.minutes} minutes. Read first: {after}."]
        for need in self.missing:
            out.append(f"This machine lacks {need}: {self.reasons[need]}")
        if self.missing:
            out.append("The cells below will not run here. Open this chapter in the course VM "
                       "(vagrant up, see the README), where everything it needs is installed.")
        return out

    def __repr__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        first, *rest = self.lines()
        return f"<p><b>{escape(first)}</b><br>" + "<br>".join(escape(r) for r in rest) + "</p>"


def chapter(chapter_id: str) -> Opened:
    from .. import doctor
    c = course.find(chapter_id)
    missing = _missing(c)
    _gate(skip=bool(missing))
    return Opened(c, missing, {need: doctor.why_not(need) for need in missing})


def quiz(chapter_id: str):
    """The chapter's quiz, its options in this learner's order."""
    return course.content(chapter_id).QUIZ.shuffled()


def exercise(chapter_id: str, exercise_id: str):
    """Open one of the chapter's exercises: runs its setup and shows the task."""
    exercises = {cls.id: cls for cls in course.content(chapter_id).EXERCISES}
    if exercise_id not in exercises:
        raise course.InvalidInputError(f"chapter {chapter_id} has no exercise {exercise_id!r}",
                                       f"its exercises are {', '.join(exercises)}")
    return open_exercise(exercises[exercise_id])


def _counts(c: course.Chapter) -> tuple[int, int, int, int]:
    """(questions answered right or 'got it', questions, exercises done, exercises) of one chapter."""
    if not c.ready:
        return 0, 0, 0, 0
    try:
        module = course.content(c.id)
    except ModuleNotFoundError:
        return 0, 0, 0, 0
    done = progress.of_chapter(c.id)
    good = {q for q, e in done["quiz"].items() if e.get("result") in ("right", "got it")}
    questions = [q.id for q in module.QUIZ.questions]
    exercises = [e.id for e in module.EXERCISES]
    return (len(good & set(questions)), len(questions),
            len(set(done["exercises"]) & set(exercises)), len(exercises))


class CourseMap:
    """Every chapter: time, what to read first, and this learner's progress."""

    def rows(self) -> list[tuple[str, ...]]:
        rows = []
        for c in course.CHAPTERS:
            right, questions, done, exercises = _counts(c)
            state = (f"quiz {right}/{questions}, exercises {done}/{exercises}" if c.ready else "coming")
            rows.append((c.id, c.title, f"{c.minutes} min", ", ".join(c.after) or "-", state))
        return rows

    def __repr__(self) -> str:
        return "\n".join(f"{i:4} {title:55} {time:>7}  after {after:9} {state}"
                         for i, title, time, after, state in self.rows())

    def _repr_html_(self) -> str:
        head = "<tr><th>chapter</th><th></th><th>time</th><th>read first</th><th>your progress</th></tr>"
        body = ""
        for (i, title, time, after, state), c in zip(self.rows(), course.CHAPTERS):
            name = f'<a href="{escape(c.notebook)}">{escape(title)}</a>' if c.ready else escape(title)
            body += (f"<tr><td>{escape(i)}</td><td>{name}</td><td>{escape(time)}</td>"
                     f"<td>{escape(after)}</td><td>{escape(state)}</td></tr>")
        return f"<table>{head}{body}</table>"


def course_map() -> CourseMap:
    return CourseMap()


def next_chapter(chapter_id: str) -> str:
    """The markdown link a chapter ends with."""
    nxt = course.next_of(chapter_id)
    return f"Next: [{nxt.id} · {nxt.title}]({nxt.notebook})" if nxt else "This is the last chapter so far."


__all__ = ["chapter", "quiz", "exercise", "course_map", "next_chapter", "Opened", "CourseMap"]
