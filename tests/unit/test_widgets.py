"""Quizzes and exercise checkers."""

import pytest

from labcore.teach.widgets import Exercise, Question, Quiz


def make_quiz():
    return Quiz("t", [Question("2+2?", ["3", "4"], 1, "arithmetic"),
                      Question("sky?", ["blue", "green", "red"], 0, "look up")])


def test_grade_counts_right_answers_and_explains_each():
    quiz = make_quiz()
    assert quiz.key() == {1: "b", 2: "a"}
    right, lines = quiz.grade({1: "b", 2: "c"})
    assert right == 1
    assert lines[0].startswith("1. right") and "answer: a" in lines[1]
    assert quiz.grade(quiz.key())[0] == 2


def test_answer_index_is_checked():
    with pytest.raises(ValueError):
        Quiz("bad", [Question("q", ["a"], 3, "")])


def test_quiz_renders_a_widget_with_a_stable_text_form():
    bundle = make_quiz()._repr_mimebundle_()
    assert bundle["text/plain"].startswith("Quiz: t (2 questions")
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_exercise_check(capsys):
    ex = Exercise("even", "give an even number", lambda v: None if v % 2 == 0 else f"{v} is odd")
    assert not ex.check(None)
    assert not ex.check(3)
    assert ex.check(4)
    assert not ex.check("x")  # a checker crash is reported, not raised
    out = capsys.readouterr().out
    assert "3 is odd" in out and "Correct: even" in out and "could not check" in out
