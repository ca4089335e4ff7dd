"""Docker's stream framing and the json-file log lines, byte for byte (no root, no daemon)."""

import json

import pytest

from labcore.daemon import frames, logs


def test_a_frame_is_an_8_byte_header_then_the_payload():
    assert frames.frame("stdout", b"hi\n") == bytes([1, 0, 0, 0, 0, 0, 0, 3]) + b"hi\n"
    assert frames.frame(2, b"x" * 300)[:8] == bytes([2, 0, 0, 0, 0, 0, 1, 44])  # 300 = 0x012c, big-endian
    with pytest.raises(ValueError, match="not stdin, stdout, stderr"):
        frames.frame(7, b"")


def test_deframer_reassembles_frames_fed_one_byte_at_a_time():
    stream = frames.frame("stdout", b"out\n") + frames.frame("stderr", b"err\n") + frames.frame("stdout", b"")
    d, got = frames.Deframer(), []
    for i in range(len(stream)):
        got += d.feed(stream[i:i + 1])
    assert got == [(1, b"out\n"), (2, b"err\n"), (1, b"")] and d.pending == 0


def test_demux_refuses_a_stream_cut_inside_a_frame_or_one_that_is_not_framed():
    whole = frames.frame("stdout", b"a") + frames.frame("stderr", b"b") + frames.frame("stdout", b"c")
    assert frames.demux(whole) == {1: b"ac", 2: b"b"}
    with pytest.raises(ValueError, match="ends inside a frame"):
        frames.demux(whole[:-1])
    with pytest.raises(ValueError, match="not a multiplexed stream"):
        frames.demux(b"hello world, raw")


def test_log_lines_are_docker_json_file_lines(tmp_path):
    raw = logs.line("stderr", b"caf\xc3\xa9 \xff\n", t=1.5)
    entry = json.loads(raw)
    assert raw.endswith(b"\n") and entry == {"log": "café \ufffd\n", "stream": "stderr",
                                              "time": "1970-01-01T00:00:01.500000000Z"}
    path = tmp_path / "c.log"
    path.write_bytes(logs.line("stdout", b"one\n") + b'{"log":"half')  # the writer is mid-line
    entries, offset = logs.read_from(path, 0)
    assert [e["log"] for e in entries] == ["one\n"] and offset == len(logs.line("stdout", b"one\n"))
    with open(path, "ab") as f:
        f.write(b'","stream":"stdout","time":"x"}\n')
    entries, offset = logs.read_from(path, offset)  # the unfinished line was kept for this call
    assert [e["log"] for e in entries] == ["half"] and offset == path.stat().st_size
    assert logs.read_from(tmp_path / "missing.log", 0) == ([], 0)
