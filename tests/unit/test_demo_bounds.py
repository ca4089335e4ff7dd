"""No demo can exhaust the host (#11): captured output, workload durations, the fork bomb's guard,
the tiny VM's share of the host, and where writable layers live. No root, no process started."""

import os
import threading

import pytest

from labcore.errors import InvalidInputError
from labcore.ns import process


class Chatty:
    """A stand-in for a running container that prints ``pattern`` forever on stdout, until killed.

    Only pipes and a thread: the output side of ``_communicate`` is what is tested.
    """

    argv = ["yes"]
    _result_fd = -1

    def __init__(self, total: int | None = None, stderr: bytes = b"a warning\n"):
        out_r, self._out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.stdout, self.stderr = os.fdopen(out_r, "rb"), os.fdopen(err_r, "rb")
        self.total, self.killed, self.returncode, self.sigkill = total, threading.Event(), None, False
        os.write(err_w, stderr)
        os.close(err_w)
        self.written = 0
        self._thread = threading.Thread(target=self._print, daemon=True)
        self._thread.start()

    def _print(self):
        line = b"y" * 4095 + b"\n"
        try:
            while not self.killed.is_set() and (self.total is None or self.written < self.total):
                self.written += os.write(self._out_w, line)
        except BrokenPipeError:
            pass
        os.close(self._out_w)

    def kill(self):
        self.sigkill = True
        self.killed.set()
        self.returncode = 137

    def wait(self, timeout=None):
        self._thread.join()
        return self.returncode if self.returncode is not None else 0

    def close(self):
        self.killed.set()
        self.stdout.close()
        self.stderr.close()


def test_output_of_a_command_printing_forever_is_cut_and_the_command_killed():
    proc = Chatty()
    try:
        out, err = process._communicate(proc, timeout=30, keep=1 << 20, bound=4 << 20)
    finally:
        proc.close()
    assert proc.sigkill and proc.output_cut
    assert out.startswith("y" * 4095 + "\n")
    assert len(out) < (1 << 20) + 200  # the first MiB, and a line saying so
    assert out.endswith("[labcore: output cut after the first 1 MiB: it wrote more than 4 MiB, so it was killed]\n")
    assert err == "a warning\n"


def test_output_past_what_is_kept_but_under_the_bound_is_read_to_the_end_and_marked():
    proc = Chatty(total=2 << 20)
    try:
        out, _ = process._communicate(proc, timeout=30, keep=1 << 20, bound=4 << 20)
    finally:
        proc.close()
    assert proc.output_cut and not proc.sigkill
    assert "output cut after the first 1 MiB: 1 MiB more were read and dropped" in out


def test_short_output_is_untouched_and_the_default_bounds_are_sane():
    proc = Chatty(total=8192)
    try:
        out, err = process._communicate(proc, timeout=30)
    finally:
        proc.close()
    assert out == ("y" * 4095 + "\n") * 2 and not proc.output_cut and err == "a warning\n"
    assert 1 << 20 <= process.MAX_OUTPUT <= process.MAX_READ <= 256 << 20
    assert process.Result(["yes"], 137, "", "", 1, cut=True).__repr__() == "<Result 'yes': exit 137, output cut>"


def test_output_bounds_must_be_in_order():
    proc = Chatty(total=0)
    try:
        with pytest.raises(InvalidInputError, match="out of order"):
            process._communicate(proc, timeout=5, keep=10, bound=5)
    finally:
        proc.close()
