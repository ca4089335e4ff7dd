"""The course's map, quizzes and exercises, without running any demo.

The quiz rules a learner relies on: no answer key in a notebook, the right
option spread over the positions, distractors no shorter than the answer
most of the time, some questions to answer aloud. The exercise rules: every
chapter has one to predict and one to build or break, each with a solution
outside the notebook; and no committed notebook shows one as done, since
running every cell must not solve them.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from labcore import course
from labcore.teach import chapter, progress
from labcore.teach.exercise import Exercise
from labcore.teach.quiz import Choice, Quiz, Recall

from coursework import READY, solutions  # noqa: E402


def sources(c: course.Chapter) -> str:
    nb = json.loads((course.NOTEBOOKS / c.notebook).read_text())
    return "\n".join("".join(cell["source"]) for cell in nb["cells"])


def all_choices() -> list[tuple[Quiz, Choice]]:
    found = []
    for c in READY:
        quiz = course.content(c.id).QUIZ
        found += [(quiz, q) for q in quiz.questions if isinstance(q, Choice)]
    return found


def test_every_notebook_is_a_chapter_of_the_map():
    on_disk = {str(p.relative_to(course.NOTEBOOKS)) for p in course.NOTEBOOKS.rglob("*.ipynb")
               if ".ipynb_checkpoints" not in p.parts}
    assert on_disk == {c.notebook for c in READY}


@pytest.mark.parametrize("c", READY, ids=lambda c: c.id)
def test_each_chapter_has_a_real_quiz(c):
    quiz = course.content(c.id).QUIZ
    assert quiz.chapter == c.id
    choices = [q for q in quiz.questions if isinstance(q, Choice)]
    recalls = [q for q in quiz.questions if isinstance(q, Recall)]
    assert len(choices) >= 4 and len(recalls) >= 1, "a quiz: at least 4 to choose, 1 to answer aloud"
    for q in choices:
        assert len(q.wrong) >= 2 and q.right not in q.wrong and len(set(q.wrong)) == len(q.wrong), q.id
        assert q.why, q.id


@pytest.mark.parametrize("c", READY, ids=lambda c: c.id)
def test_no_answer_key_in_the_notebook(c):
    text = sources(c)
    for q in course.content(c.id).QUIZ.questions:
        secrets = [q.right, q.why] if isinstance(q, Choice) else [q.model]
        for secret in secrets:
            assert secret not in text, f"{c.notebook} shows the answer to {q.id}"
    for word in ("Question(", "Choice(", "answer=", "right="):
        assert word not in text, f"{c.notebook} defines a quiz in its source ({word})"


def test_no_position_holds_more_than_40_percent_of_the_right_answers():
    for seed in range(50):
        counts = Counter()
        for quiz, q in all_choices():
            counts[Quiz(quiz.chapter, quiz.title, quiz.questions, seed).options(q).index(q.right)] += 1
        total = sum(counts.values())
        assert max(counts.values()) <= 0.4 * total, (seed, counts)


def test_the_right_answer_is_not_usually_the_longest():
    longest = [q.id for _, q in all_choices() if len(q.right) > max(len(w) for w in q.wrong)]
    assert len(longest) <= 0.4 * len(all_choices()), f"the right option is the longest in {longest}"


def test_options_are_shuffled_per_learner_and_stable_for_one():
    quiz, q = all_choices()[0]
    orders = {tuple(Quiz(quiz.chapter, quiz.title, quiz.questions, seed).options(q)) for seed in range(20)}
    assert len(orders) > 1
    one = Quiz(quiz.chapter, quiz.title, quiz.questions, 7)
    assert one.options(q) == one.options(q) and sorted(one.options(q)) == sorted([q.right, *q.wrong])


def test_grades_are_kept_in_the_progress_file(progress_file):
    quiz = course.content("01").QUIZ.shuffled()
    first, second = [q for q in quiz.questions if isinstance(q, Choice)][:2]
    right, lines = quiz.grade({first.id: first.right, second.id: second.wrong[0]}, record=True)
    assert right == 1 and lines[0].startswith("1. right") and lines[1].startswith("2. not quite")
    recall = next(q for q in quiz.questions if isinstance(q, Recall))
    quiz.self_grade(recall.id, "partly")
    kept = json.loads(progress_file.read_text())
    assert kept["quiz"]["01"][first.id]["result"] == "right"
    assert kept["quiz"]["01"][second.id]["result"] == "wrong"
    assert kept["quiz"]["01"][recall.id]["result"] == "partly"
    assert isinstance(kept["seed"], int)
    with pytest.raises(ValueError):
        quiz.self_grade(recall.id, "perfect")


def test_a_broken_progress_file_is_named_with_the_fix(progress_file):
    progress_file.write_text("{not json")
    with pytest.raises(course.InvalidInputError) as caught:
        progress.load()
    assert str(progress_file) in str(caught.value)


@pytest.mark.parametrize("c", READY, ids=lambda c: c.id)
def test_each_chapter_has_exercises_to_predict_and_to_build(c):
    exercises = course.content(c.id).EXERCISES
    kinds = {e.kind for e in exercises}
    assert "predict" in kinds and kinds & {"build", "break"}, kinds
    for e in exercises:
        assert issubclass(e, Exercise) and e.chapter == c.id and e.title and e.task, e
    sol = solutions(c)
    assert set(sol.SOLUTIONS) == set(sol.WRONG) == {e.id for e in exercises}


@pytest.mark.parametrize("c", READY, ids=lambda c: c.id)
def test_running_every_cell_solves_no_exercise(c):
    nb = json.loads((course.NOTEBOOKS / c.notebook).read_text())
    text = sources(c)
    for e in course.content(c.id).EXERCISES:
        assert f'lab.exercise("{c.id}", "{e.id}")' in text, f"{c.notebook} never opens exercise {e.id}"
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            shown = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            assert "Done: " not in shown, f"{c.notebook}: a stored run completed an exercise"


@pytest.mark.parametrize("c", READY, ids=lambda c: c.id)
def test_each_chapter_opens_and_ends_with_the_map(c):
    text = sources(c)
    assert f'lab.chapter("{c.id}")' in text
    nxt = course.next_of(c.id)
    if nxt is not None:
        assert nxt.notebook.split("/")[-1] in text, f"{c.notebook} does not link to the next chapter"


def test_the_course_map_shows_progress(progress_file):
    progress.record_exercise("01", "kill-status")
    rows = {row[0]: row for row in chapter.course_map().rows()}
    assert "exercises 1/" in rows["01"][4]
    assert rows["15"][4] == "coming" or course.BY_ID["15"].ready


def test_a_chapter_this_machine_cannot_run_says_so_once_and_passes_over_its_cells(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell
    from labcore import doctor
    shell = InteractiveShell.instance()
    try:
        monkeypatch.setattr(doctor, "has", lambda need: need != "root")
        monkeypatch.setattr(doctor, "why_not", lambda need: f"{need} is missing here")
        opened = chapter.chapter("11")
        assert opened.missing == ["root"] and "root is missing here" in repr(opened)
        assert "will not run here" in repr(opened)
        shell.run_cell("gated = 1")
        assert "gated" not in shell.user_ns
        monkeypatch.setattr(doctor, "has", lambda need: True)
        assert chapter.chapter("11").missing == []
        shell.run_cell("gated = 2")
        assert shell.user_ns["gated"] == 2
    finally:
        chapter._gate(skip=False)
        InteractiveShell.clear_instance()


def test_the_next_chapter_link_follows_the_course_order():
    assert chapter.next_chapter("01").startswith("Next: [02 · ")
    assert course.next_of("A").id == "B" and course.next_of("B").id == "C"
    ready = [c for c in course.CHAPTERS if c.ready]
    assert course.next_of(ready[-1].id) is None  # the last ready chapter closes the course


@pytest.mark.parametrize("c", READY, ids=lambda c: c.id)
def test_each_chapter_draws_the_live_system_and_ends_with_real_docker(c):
    text = sources(c)
    assert "lab.diagrams." in text, f"{c.notebook} draws no picture of the live system"
    # lab.docker() runs docker commands where an engine answers; lab.realengine starts one for the chapter
    assert "lab.docker(" in text or "lab.realengine.Engine(" in text, \
        f"{c.notebook} has no 'the same with real Docker' section"
    nb = json.loads((course.NOTEBOOKS / c.notebook).read_text())
    pictures = [out for cell in nb["cells"] if "lab.diagrams." in "".join(cell["source"])
                for out in cell.get("outputs", []) if "image/png" in out.get("data", {})]
    assert pictures, f"{c.notebook}: the stored run shows no diagram"


@pytest.mark.parametrize("c", READY, ids=lambda c: c.id)
def test_the_harness_stays_out_of_the_lessons(c):
    text = sources(c)
    for word in ("can_run", "doctor.needs(", "NBVAL_", "\nassert ", "the tests do not"):
        assert word not in text, f"{c.notebook} shows the test harness: {word.strip()!r}"


@pytest.mark.parametrize("c", READY, ids=lambda c: c.id)
def test_each_chapter_has_a_cheat_sheet_and_links_it(c):
    sheet = course.NOTEBOOKS / "cheatsheets" / f"{c.id}.md"
    assert sheet.exists() and sheet.read_text().count("Q:") >= 4, f"{sheet} missing or not in interview form"
    assert f"cheatsheets/{c.id}.md" in sources(c), f"{c.notebook} does not link its cheat sheet"


def test_a_quiz_renders_a_widget_with_a_stable_text_form_and_refuses_repeated_ids():
    quiz = Quiz("t", "t", [Choice("a", "2+2?", right="4", wrong=["3", "5"], why="arithmetic"),
                           Recall("b", "why?", model="because")], seed=1)
    bundle = quiz._repr_mimebundle_()
    assert bundle["text/plain"] == repr(quiz) and bundle["text/plain"].startswith("Quiz: t (1 to choose, 1 to answer")
    assert "application/vnd.jupyter.widget-view+json" in bundle
    with pytest.raises(ValueError):
        Quiz("t", "t", [Recall("a", "x", model="y"), Recall("a", "z", model="w")])


def test_an_exercise_check_says_why_and_survives_a_crashing_checker(capsys, progress_file):
    class Even(Exercise):
        id, chapter, title, task = "even", "01", "even", "give an even number"

        def verify(self, answer):
            return None if answer % 2 == 0 else f"{answer} is odd"

    ex = Even()
    assert not ex.check(None) and not ex.check(3) and not ex.check("x")  # a checker crash is reported, not raised
    assert ex.check(4)
    out = capsys.readouterr().out
    assert "Not tried yet" in out and "3 is odd" in out and "could not check" in out and "Done: even" in out
