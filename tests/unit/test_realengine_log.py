"""A real dockerd that fails to start: the error carries its log's reason (the log goes with its directory)."""

from labcore.teach.realengine import Engine


def test_the_error_lines_come_first_then_the_end_of_the_log(tmp_path):
    engine = object.__new__(Engine)  # no dockerd needed: only the log is read
    engine.work = tmp_path
    lines = [f'time="t{i}" level=info msg="step {i}"' for i in range(20)]
    lines[5] = 'time="t5" level=error msg="AppArmor profile could not be loaded"'
    lines[15] = 'failed to start daemon: cgroup-parent for systemd cgroup should be a valid slice'
    (tmp_path / "dockerd.log").write_text("\n".join(lines) + "\n")
    tail = engine._log_tail(lines=6).splitlines()
    assert tail[0] == lines[5] and tail[1:] == lines[14:]
    assert "valid slice" in "\n".join(tail)


def test_a_missing_log_is_said_so(tmp_path):
    engine = object.__new__(Engine)
    engine.work = tmp_path / "gone"
    assert engine._log_tail() == "(no log)"
