"""notebooks/README.md lists every chapter of the course map, with its title and time.

The README is written by hand for readers outside Jupyter; the map in
labcore/course/__init__.py is what the notebooks show. This keeps the two
from drifting apart.
"""

from __future__ import annotations

import re

import pytest

from labcore import course

README = course.NOTEBOOKS / "README.md"


def rows() -> dict[str, list[str]]:
    """chapter id -> the cells of its row in the README's table."""
    found = {}
    for line in README.read_text().splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            found[cells[0]] = cells
    return found


@pytest.mark.parametrize("c", course.CHAPTERS, ids=lambda c: c.id)
def test_the_readme_lists_every_chapter_with_its_title_and_time(c):
    row = rows().get(c.id)
    assert row is not None, f"notebooks/README.md does not list chapter {c.id}"
    assert row[1] == c.title, f"chapter {c.id}: the README says {row[1]!r}, the course map {c.title!r}"
    assert row[2] == f"{c.minutes} min", f"chapter {c.id}: the README says {row[2]!r}, the map {c.minutes} min"
    assert row[3] == (", ".join(c.after) or "-"), f"chapter {c.id}: prerequisites differ"


@pytest.mark.parametrize("c", course.CHAPTERS, ids=lambda c: c.id)
def test_the_readme_links_each_ready_chapter(c):
    row = rows()[c.id]
    if c.ready:
        assert f"]({c.notebook})" in row[4], f"chapter {c.id} exists but the README does not link {c.notebook}"
    else:
        assert row[4] == "coming", f"chapter {c.id} has no notebook yet: the README must say coming"


def test_the_readme_lists_no_chapter_the_map_lacks():
    listed = set(rows()) - {"chapter"}
    assert listed == set(course.BY_ID), sorted(listed ^ set(course.BY_ID))


def test_the_readme_links_resolve():
    for target in re.findall(r"\]\(([^)#]+)\)", README.read_text()):
        assert (course.NOTEBOOKS / target).exists(), f"notebooks/README.md links {target}, which does not exist"
