"""Every exercise's checker, run for real: it accepts the solution in
``solutions/chNN.py`` and refuses each typical mistake with a hint.

Exercises set up real objects (a container to find, a cgroup to read);
each is closed at the end of its test, and the leak check proves it.
"""

from __future__ import annotations

import pytest

from labcore import course, doctor
from labcore.teach.chapter import exercise

from coursework import READY, solutions  # noqa: E402  (tests/ is on sys.path: conftest)

CASES = [(c, e.id) for c in READY for e in course.content(c.id).EXERCISES]


@pytest.mark.parametrize("c,exercise_id", CASES, ids=[f"{c.id}-{e}" for c, e in CASES])
def test_the_checker_accepts_the_solution_and_refuses_mistakes(c, exercise_id, capsys, progress_file):
    missing = [need for need in c.needs if not doctor.has(need)]
    if missing:
        pytest.skip(f"chapter {c.id} needs {', '.join(missing)}: {doctor.why_not(missing[0])}")
    sol = solutions(c)
    ex = exercise(c.id, exercise_id)
    try:
        assert not ex.check(None)
        assert "Not tried yet" in capsys.readouterr().out
        for wrong in sol.WRONG[exercise_id](ex):
            assert not ex.check(wrong), f"{exercise_id} accepted a wrong answer: {wrong!r}"
            said = capsys.readouterr().out
            assert said.startswith("Not yet: ") and len(said) > 20, said
        assert ex.check(sol.SOLUTIONS[exercise_id](ex)), capsys.readouterr().out
        assert exercise_id in progress_file.read_text()
    finally:
        ex.close()
