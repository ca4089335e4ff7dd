"""The lab kernel: its kernelspec, and LabError shown as a notice instead of a traceback."""

import queue

import pytest
from jupyter_client.kernelspec import get_kernel_spec
from jupyter_client.manager import start_new_kernel

from labcore.teach.jupyter import kernelspec


def test_kernelspec_is_installed_with_the_extension():
    spec = get_kernel_spec("labcore")
    assert spec.display_name == "Docker Internals Lab"
    assert spec.argv[-2:] == ["--ext", "labcore.ipython"]
    assert kernelspec(sudo=True)["argv"][:3] == ["sudo", "-E", "--non-interactive"]


@pytest.fixture(scope="module")
def client():
    manager, kc = start_new_kernel(kernel_name="labcore")
    yield kc
    kc.stop_channels()
    manager.shutdown_kernel(now=True)


def run(kc, code):
    msg_id = kc.execute(code)
    outputs = []
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=30)
        except queue.Empty:
            raise AssertionError("no reply from the kernel")
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return outputs
        if msg["msg_type"] in ("error", "stream"):
            outputs.append(msg)


def test_lab_error_is_a_short_notice(client):
    outputs = run(client, "import labcore as lab\nlab.run(['true'], ns='bogus')")
    error = next(m["content"] for m in outputs if m["msg_type"] == "error")
    assert error["ename"] == "UnknownNamespaceError"
    assert len(error["traceback"]) == 2
    assert "unknown namespace kind 'bogus'" in error["traceback"][0]
    assert error["traceback"][1].strip().startswith("fix:")


def test_other_errors_keep_their_traceback(client):
    outputs = run(client, "def f():\n    return 1/0\nf()")
    error = next(m["content"] for m in outputs if m["msg_type"] == "error")
    assert error["ename"] == "ZeroDivisionError"
    assert any("f()" in line for line in error["traceback"])


def test_kernelspec_is_readable_by_every_user():
    import os
    import stat
    spec_dir = get_kernel_spec("labcore").resource_dir
    assert os.stat(spec_dir).st_mode & stat.S_IROTH and os.stat(spec_dir).st_mode & stat.S_IXOTH
    assert os.stat(os.path.join(spec_dir, "kernel.json")).st_mode & stat.S_IROTH


@pytest.mark.needs("root")
def test_shutting_the_kernel_down_undoes_what_it_left(state_dir):
    from labcore import tracker
    manager, kc = start_new_kernel(kernel_name="labcore")
    try:
        outputs = run(kc, "import labcore as lab\nbox = lab.spawn(['sleep', '600'])\nprint(box.pid)")
        pid = int(next(m["content"]["text"] for m in outputs if m["msg_type"] == "stream"))
        assert tracker.is_running(pid)
    finally:
        kc.stop_channels()
        manager.shutdown_kernel(now=False)  # a graceful shutdown, as JupyterLab's "Shut Down Kernel"
    assert not tracker.is_running(pid)
    assert tracker.Tracker().records() == []
