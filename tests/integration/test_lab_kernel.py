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
    assert kernelspec(sudo=True)["argv"][:4] == ["sudo", "--non-interactive", "/usr/bin/env", "-i"]


@pytest.mark.needs("root", "tool:sudo")
def test_sudo_applies_the_course_vms_rule_to_the_kernel_command_only(tmp_path):
    """The real sudo reads the rule course-vm.sh writes (here for nobody), in a private mount namespace
    where it is /etc/sudoers: the kernel command with a connection file is allowed, nothing else."""
    import shlex
    import subprocess
    import sys

    from labcore.teach.jupyter import sudoers
    rule = tmp_path / "sudoers"
    rule.write_text(sudoers("nobody"))
    rule.chmod(0o440)
    argv = kernelspec(sudo=True)["argv"][2:]   # what follows sudo's own options
    connection = "/home/nobody/.local/share/jupyter/runtime/kernel-0b5e2c1a-1f.json"
    good = [connection if a == "{connection_file}" else a for a in argv]
    cases = {"kernel": (good, True),
             "extra argument": (good + ["--IPKernelApp.exec_lines=import os"], False),
             "two words for the file": (good[:good.index(connection)] + ["/a.json", "--x=1", "/b.json"]
                                        + good[good.index(connection) + 1:], False),
             "learner's HOME": ([a.replace("HOME=/root", "HOME=/home/nobody") for a in good], False),
             "other program": (["/usr/bin/env", "-i", sys.executable, "-c", "pass"], False),
             "a shell": (["/bin/sh"], False)}
    script = 'mount --bind "$0" /etc/sudoers && for c in "$@"; do ' \
             'eval "set -- $c"; sudo -l -U nobody "$@" >/dev/null 2>&1; echo $?; done'
    quoted = [shlex.join(words) for words, _ in cases.values()]
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(rule),
                           *quoted], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    got = dict(zip(cases, (line == "0" for line in done.stdout.split())))
    assert got == {name: allowed for name, (_, allowed) in cases.items()}


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
