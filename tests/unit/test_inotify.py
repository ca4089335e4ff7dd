"""inotify(7) through labcore.kernel: events arrive, in order, labelled."""

import os

import pytest

from labcore import kernel
from labcore.fs.overlay import watch


def test_create_write_rename_are_reported_in_order(tmp_path):
    def act():
        (tmp_path / "a").write_text("x")
        os.rename(tmp_path / "a", tmp_path / "b")
        os.mkdir(tmp_path / "d")

    events = watch({"here": tmp_path}, act)
    seen = [(e.where, e.what[0], e.name, e.is_dir) for e in events if e.what[0] in ("CREATE", "MODIFY", "MOVED_FROM",
                                                                                   "MOVED_TO")]
    assert seen == [("here", "CREATE", "a", False), ("here", "MODIFY", "a", False),
                    ("here", "MOVED_FROM", "a", False), ("here", "MOVED_TO", "b", False),
                    ("here", "CREATE", "d", True)]


def test_watching_a_missing_directory_names_it(tmp_path):
    with kernel.Inotify() as ino, pytest.raises(FileNotFoundError, match="inotify_add_watch .*missing"):
        ino.watch(tmp_path / "missing", "x")
