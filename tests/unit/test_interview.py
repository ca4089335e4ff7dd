"""Chapter 15's machinery: links to demo cells, spaced repetition, the mock interview widget."""

from __future__ import annotations

import json

import pytest

from labcore.course import NOTEBOOKS, ch15
from labcore.teach import interview
from labcore.teach.interview import Deck, MockInterview, Question, anchor, broken_links


def test_anchors_are_the_ids_jupyterlab_gives_headings():
    assert anchor("## 2. PID 1 and signals") == "2.-PID-1-and-signals"
    assert anchor("## 4. Putting the machine back: `labcore cleanup`") == "4.-Putting-the-machine-back:-labcore-cleanup"
    assert anchor("### The two roads, call by call") == "The-two-roads,-call-by-call"
    assert anchor("## 1. See [the map](00-start-here.ipynb) *first*") == "1.-See-the-map-first"


def test_every_question_of_the_source_text_is_in_the_bank_and_every_link_lands_on_a_heading():
    parts = {q.asked_in for q in ch15.BANK}
    assert {"PART 4", "PART 5", "PART 6", "PART 9", "PART 10", "PART 11", "PART 14", "PART 15"} <= parts
    assert len([q for q in ch15.BANK if q.asked_in == "PART 15"]) == 10
    assert len({q.id for q in ch15.BANK}) == len(ch15.BANK)
    ready = ch15.ready(ch15.BANK + ch15.from_chapters())
    assert len(ready) >= 30
    assert broken_links(ready, NOTEBOOKS) == []
    # A question is only left out while its chapter's notebook does not exist.
    for q in ch15.waiting(ch15.BANK):
        assert not (NOTEBOOKS / q.demo.partition("#")[0]).exists(), q.id


def test_a_broken_link_is_named():
    bad = [Question("x", "?", "!", "01-what-docker-really-is.ipynb#No-such-heading", "PART 1"),
           Question("y", "?", "!", "99-nothing.ipynb#1.-Start", "PART 1")]
    found = broken_links(bad, NOTEBOOKS)
    assert "no heading with the anchor #No-such-heading" in found[0] and "does not exist" in found[1]


def _deck(tmp_path, n=4):
    questions = [Question(f"q{i}", f"question {i}?", "answer", "x.ipynb#y", "PART 1") for i in range(n)]
    return Deck(questions, where=tmp_path / "progress.json")


def test_leitner_boxes_move_up_stay_or_fall_back(tmp_path):
    deck = _deck(tmp_path)
    assert deck.grade("q0", "got it", 1)["box"] == 1
    assert deck.grade("q0", "got it", 2)["box"] == 2
    assert deck.grade("q0", "partly", 3)["box"] == 2
    assert deck.grade("q0", "missed", 4)["box"] == 0
    for r in range(5, 12):
        deck.grade("q1", "got it", r)
    assert deck.summary()[interview.BOXES - 1] == 1, "the top box holds"
    with pytest.raises(ValueError):
        deck.grade("q0", "perfect", 5)


def test_missed_questions_come_back_first_and_known_ones_wait(tmp_path):
    deck = _deck(tmp_path)
    grades = {"q0": "missed", "q1": "got it", "q2": "got it", "q3": "partly"}
    for _ in range(3):
        round_no, asked = deck.pick(4, seed=7)
        for q in asked:
            deck.grade(q.id, grades[q.id], round_no)
    state = deck.state()
    assert state["round"] == 3
    assert deck.due(state, 4) == ["q0", "q3"], "q1 and q2 sit in box 3: not due for 8 rounds"
    _, asked = deck.pick(2, seed=7)
    assert {q.id for q in asked} == {"q0", "q3"}
    saved = json.loads((tmp_path / "progress.json").read_text())["interview"]
    assert saved["cards"]["q0"]["grades"] == ["missed"] * 3


def test_a_round_in_the_widget_records_every_grade(progress_file):
    questions = [Question(f"q{i}", f"question {i}?", f"model {i}", "01-what-docker-really-is.ipynb#1.-Start-a-container",
                          "PART 1") for i in range(3)]
    mock = MockInterview(questions, n=2, seconds=60)
    assert repr(mock) == "Mock interview: 2 questions a round, 60 s each; press Start"
    box = mock.widget()
    title, start, asking, report = box.children
    start.click()
    question, _clock, notes, show, model, grade = asking.children
    assert "Question 1 of 2" in question.value
    show.click()
    assert "model " in model.value and "01-what-docker-really-is.ipynb#1.-Start-a-container" in model.value
    grade.value = "missed"
    assert "Question 2 of 2" in question.value
    show.click()
    grade.value = "got it"
    assert "Round 1 done" in report.value and "missed" in report.value
    kept = json.loads(progress_file.read_text())["interview"]
    assert kept["round"] == 1 and sorted(c["box"] for c in kept["cards"].values()) == [0, 1]
