"""docker run -i and -t through labcore's daemon: stdin through the shim, a pty whose master the shim relays.

The docker CLI runs here on a pseudo-terminal of the test's own (``os.openpty``, made its controlling
terminal), as in a terminal window: the test types on the master and reads what the CLI shows.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import struct
import subprocess
import termios
import time

import pytest

import daemonstack
from daemonstack import docker, kill_daemon, start_daemon

pytestmark = pytest.mark.needs("root", "overlayfs", "tool:docker", "tool:busybox")

IMAGE = "lab/tty:1"
APPLETS = ["sh", "cat", "echo", "tty", "stty", "test", "[", "wc", "head", "sleep", "true"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with daemonstack.daemon(tmp_path_factory.mktemp("t"), IMAGE, 'FROM scratch\nCOPY rootfs/ /\nCMD ["sh"]\n',
                            applets=APPLETS) as st:
        yield st


@pytest.fixture
def sdk(stack):
    docker_sdk = pytest.importorskip("docker")
    client = docker_sdk.DockerClient(base_url=stack["host"])
    yield client
    client.close()


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _controlling_terminal():
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # in the child, a session leader: the pty becomes its terminal


class Terminal:
    """A command (the docker CLI) on a pty of ours: what it shows is read from the master, what we type written."""

    def __init__(self, args: list[str], rows: int = 24, cols: int = 80):
        self.master, slave = os.openpty()
        set_size(self.master, rows, cols)
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                                     preexec_fn=_controlling_terminal)
        os.close(slave)
        self.seen = b""

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def read_until(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.seen and time.monotonic() < deadline:
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: the command has exited, nobody holds the slave
                    break
                if not chunk:
                    break
                self.seen += chunk
        out = self.seen.decode(errors="replace")
        assert text in out, f"{text!r} did not appear; the terminal showed {out!r}"
        return out

    def resize(self, rows: int, cols: int) -> None:
        set_size(self.master, rows, cols)  # the kernel sends SIGWINCH to the CLI, which calls /resize

    def close(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.master)


def test_stdin_reaches_the_container_and_its_end_ends_cat(stack):
    done = subprocess.run(["docker", "-H", stack["host"], "run", "-i", "--rm", IMAGE, "cat"], input="hi\n",
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "hi\n", "")
    big = subprocess.run(["docker", "-H", stack["host"], "run", "-i", "--rm", IMAGE, "wc", "-c"], input=b"x" * 300_000,
                         capture_output=True, timeout=60)  # more than a pipe holds: the relay waits for the reader
    assert (big.returncode, big.stdout.strip()) == (0, b"300000")
    # Without -i the container's stdin is /dev/null, whatever the client has to give.
    done = subprocess.run(["docker", "-H", stack["host"], "run", "--rm", IMAGE, "cat"], input="hi\n",
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "")
    assert docker(stack, "ps", "-aq").stdout == ""


def test_inspect_shows_tty_and_open_stdin(stack):
    cid = docker(stack, "create", "-it", IMAGE, "sh").stdout.strip()
    plain = docker(stack, "create", IMAGE, "true").stdout.strip()
    config = json.loads(docker(stack, "inspect", cid).stdout)[0]["Config"]
    # what the CLI asked for: create -i attaches stdin (once) unless -d, as docker run -i does
    assert (config["Tty"], config["OpenStdin"], config["StdinOnce"], config["AttachStdin"]) == (True, True, True, True)
    config = json.loads(docker(stack, "inspect", plain).stdout)[0]["Config"]
    assert (config["Tty"], config["OpenStdin"], config["StdinOnce"]) == (False, False, False)
    docker(stack, "rm", cid, plain)


def test_with_tty_the_container_has_a_terminal_and_without_it_not(sdk):
    got = sdk.containers.run(IMAGE, ["sh", "-c", "tty; test -t 0 && test -t 1 && echo both; echo $TERM"],
                             tty=True, remove=True)
    assert got == b"/dev/pts/0\r\nboth\r\nxterm\r\n"  # raw, one stream, the terminal's \r\n
    got = sdk.containers.run(IMAGE, ["sh", "-c", "tty; echo $?"], remove=True)
    assert got == b"not a tty\n1\n"
    # docker logs of a terminal's container: raw too (the SDK reads Config.Tty and expects no frames)
    c = sdk.containers.run(IMAGE, ["sh", "-c", "echo out; echo err >&2"], tty=True, detach=True)
    assert c.wait()["StatusCode"] == 0
    assert c.logs() == b"out\r\nerr\r\n"
    c.remove()


def test_docker_run_it_a_shell_on_a_real_terminal(stack):
    term = Terminal(["docker", "-H", stack["host"], "run", "-it", "--rm", IMAGE, "sh"])
    try:
        term.read_until("# ")  # the shell's prompt: it runs on a terminal, so it is interactive
        term.type("echo $((6*7)); exit 4\n")
        out = term.read_until("42")
        assert "\x01\x00\x00\x00" not in out  # no multiplexing header: a terminal's stream is raw
    finally:
        code = term.close()
    assert code == 4
    assert docker(stack, "ps", "-aq").stdout == ""


def test_the_terminal_follows_the_clients_window(stack):
    term = Terminal(["docker", "-H", stack["host"], "run", "-it", "--rm", IMAGE, "sh"], rows=30, cols=100)
    try:
        term.read_until("# ")
        term.type("stty size\n")
        term.read_until("30 100")  # the CLI sent its size at start (POST /containers/ID/resize)
        term.resize(41, 123)
        deadline = time.monotonic() + 10
        while "41 123" not in term.seen.decode(errors="replace") and time.monotonic() < deadline:
            term.type("stty size\n")  # the CLI resizes on SIGWINCH; the shell may ask before it has
            time.sleep(0.2)
            term.read_until("# ", timeout=2)
        term.read_until("41 123", timeout=1)
        term.type("exit\n")
    finally:
        assert term.close() == 0


def test_start_ai_gives_the_same_container_a_terminal_again(stack):
    cid = docker(stack, "create", "-it", IMAGE, "sh").stdout.strip()
    for n in (1, 2):  # two runs, two exit codes: the CLI must get this run's, not the last one's
        term = Terminal(["docker", "-H", stack["host"], "start", "-ai", cid], rows=25, cols=90)
        try:
            term.read_until("# ")
            term.type(f"echo run$((10*{n})); stty size; exit {n}\n")
            term.read_until(f"run{n}0\r\n25 90")
        finally:
            assert term.close() == n
    docker(stack, "rm", cid)


def test_bad_resize_values_get_an_api_error(stack, sdk):
    docker_sdk = pytest.importorskip("docker")
    c = sdk.containers.run(IMAGE, "sh", tty=True, stdin_open=True, detach=True)
    try:
        for h, w, word in (("abc", "80", "height"), ("24", "-1", "width"), ("70000", "80", "height")):
            with pytest.raises(docker_sdk.errors.APIError) as refused:
                sdk.api.resize(c.id, h, w)
            assert refused.value.response.status_code == 400
            message = refused.value.response.json()["message"]
            assert f"invalid resize {word}" in message, message
        sdk.api.resize(c.id, 12, 34)
    finally:
        c.stop(timeout=1)
    with pytest.raises(docker_sdk.errors.APIError) as stopped:
        sdk.api.resize(c.id, 24, 80)
    assert stopped.value.response.status_code == 409 and "is not running" in stopped.value.response.json()["message"]
    c.remove()


def test_live_restore_keeps_the_terminal(stack):
    cid = docker(stack, "run", "-dit", "--name", "keeper", IMAGE, "sh").stdout.strip()
    kill_daemon(stack)  # the shim holds the pty's master: the shell goes on
    start_daemon(stack)
    term = Terminal(["docker", "-H", stack["host"], "attach", "keeper"], rows=22, cols=77)
    try:
        time.sleep(0.5)  # attached: the shell waits for a line, its prompt was printed before
        term.type("echo $((6*7)); stty size\n")
        term.read_until("42")
        term.read_until("22 77")  # a new daemon resized through the same shim
        term.type("exit 7\n")
    finally:
        term.close()
    assert docker(stack, "wait", cid).stdout == "7\n"
    docker(stack, "rm", cid)


def test_ctrl_p_ctrl_q_detaches_and_the_container_runs_on(stack):
    term = Terminal(["docker", "-H", stack["host"], "run", "-it", "--name", "detached", IMAGE, "sh"])
    try:
        term.read_until("# ")
        term.type("echo before\n")
        term.read_until("before")
        term.type("\x10\x11")  # Docker's detach keys: ctrl-p, ctrl-q
        code = term.close()
    finally:
        if term.proc.poll() is None:
            term.close()
    assert code == 0, term.seen
    state = json.loads(docker(stack, "inspect", "detached").stdout)[0]["State"]
    assert state["Running"], state  # only the client went
    docker(stack, "rm", "-f", "detached")


def test_the_daemon_itself_detaches_an_api_client_that_types_its_keys(stack, sdk):
    # The docker CLI watches for the keys itself; a client of the API relies on the daemon.
    c = sdk.containers.run(IMAGE, "sh", stdin_open=True, tty=True, detach=True, name="api-detached")
    try:
        sock = sdk.api.attach_socket(c.id, params={"stdin": 1, "stdout": 1, "stream": 1, "detachKeys": "ctrl-x,x"})
        raw = sock._sock
        raw.settimeout(10)
        raw.sendall(b"echo $((6*7))\n")
        seen = b""
        while b"42" not in seen:
            seen += raw.recv(4096)
        raw.sendall(b"\x18x")
        while chunk := raw.recv(4096):  # the daemon ends the attach: the connection closes
            seen += chunk
        raw.close()
        c.reload()
        assert c.status == "running"  # only the client went; the shell still has its terminal
        again = sdk.api.attach_socket(c.id, params={"stdin": 1, "stdout": 1, "stream": 1})._sock
        again.settimeout(10)
        again.sendall(b"echo still $((1+1))\n")
        seen = b""
        while b"still 2" not in seen:
            seen += again.recv(4096)
        again.close()
    finally:
        c.remove(force=True)
