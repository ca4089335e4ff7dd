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


class ParsingGroup:
    """A cgroup whose ``set`` checks every value with the real limit parser, as Cgroup.set does."""

    name = "lab-parse"

    def __init__(self, **limits):
        from labcore.cgroups import limits as L
        self.limits = L.Limits(**limits)
        self.sent = []

    def set(self, **human):
        from dataclasses import replace

        from labcore.cgroups import limits as L
        self.sent.append(human)
        self.limits = replace(self.limits, **L.parse_changes(**human))  # raises on a value the parser refuses
        return self.limits


class Clock:
    running = False

    def __init__(self):
        self.events = []

    def mark(self, text):
        self.events.append(text)
        return float(len(self.events))


@pytest.mark.parametrize("limit, current", [("cpus", 0.5), ("memory", 64 << 20), ("memory_high", 48 << 20),
                                            ("pids", 20)])
def test_every_slider_position_is_a_value_the_limit_parser_accepts(limit, current):
    from labcore.cgroups import limits as L
    from labcore.teach.widgets import LiveLimit
    group = ParsingGroup(**{limit: current})
    control = LiveLimit(group, Clock(), limit)
    control.refresh = lambda: None  # no plot here: the parser is the point
    slider = control.slider
    positions = [slider.min, slider.max, slider.min + slider.step, slider.value]
    for position in positions:
        L.PARSERS[limit](control.value(position))  # raises InvalidInputError if refused
    target = slider.min + 2 * slider.step
    control.set(target)
    assert getattr(group.limits, limit) == L.PARSERS[limit](control.value(target))
    assert control.changes[-1][1] == getattr(group.limits, limit)  # the plot gets the parsed number


def test_a_pids_slider_sends_a_whole_count_and_a_memory_slider_a_size():
    from labcore.teach.widgets import LiveLimit
    pids = LiveLimit(ParsingGroup(pids=20), Clock(), "pids")
    assert pids.value(20.0) == 20 and isinstance(pids.value(20.0), int)
    memory = LiveLimit(ParsingGroup(memory=64 << 20), Clock(), "memory")
    assert memory.value(64) == "64M" and memory.slider.value == 64
    assert LiveLimit(ParsingGroup(cpus=0.5), Clock(), "cpus").value(0.15000000000000002) == 0.15
