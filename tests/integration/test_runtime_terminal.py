"""process.terminal with --console-socket: the container's pty, its master received over a unix socket."""

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time

import pytest

from labcore import images, tracker

pytestmark = pytest.mark.needs("root")

RUNTIME = [sys.executable, "-m", "labcore", "runtime"]
# The shell is PID 1 of its pid namespace, which a signal from the terminal (sent by the kernel) would kill:
# it traps SIGINT to report it and carry on.
SCRIPT = ('trap "echo caught SIGINT" INT; tty; [ -t 0 ] && echo stdin-is-a-tty; read line; echo "got $line"; '
          'sleep 30; echo "sleep ended $?"')


@pytest.fixture
def bundle(tmp_path, state_dir):
    b = tmp_path / "bundle"
    b.mkdir()
    images.busybox_rootfs(b / "rootfs", applets=["sh", "echo", "sleep", "tty", "true"])
    subprocess.run(RUNTIME + ["spec", "--bundle", str(b)], check=True, capture_output=True)
    cfg = json.loads((b / "config.json").read_text())
    cfg["process"].update(terminal=True, args=["sh", "-c", SCRIPT], consoleSize={"height": 33, "width": 101})
    (b / "config.json").write_text(json.dumps(cfg))
    return b


class Receiver:
    """What containerd's shim or runc's recvtty does: listen, accept, take the fd out of SCM_RIGHTS."""

    def __init__(self, path):
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.name, self.master = None, None
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        conn, _ = self.listener.accept()
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 1024, 4)
            self.name, self.master = msg.decode(), fds[0] if fds else None

    def close(self):
        self.listener.close()
        if self.master is not None:
            os.close(self.master)


def read_until(fd, text, timeout=10.0):
    got, deadline = b"", time.monotonic() + timeout
    while text.encode() not in got and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the last holder of the slave has gone
                break
            if not chunk:
                break
            got += chunk
    return got.decode(errors="replace").replace("\r\n", "\n")


def wait_for_child(pid, comm, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in open(f"/proc/{pid}/task/{pid}/children").read().split():
            try:
                if open(f"/proc/{child}/comm").read().strip() == comm:
                    return
            except FileNotFoundError:
                pass
        time.sleep(0.02)
    raise AssertionError(f"no {comm} under {pid}")


def rt(root, *args):
    return subprocess.run(RUNTIME + ["--root", str(root), *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_the_container_gets_a_pty_whose_master_arrives_over_the_socket(bundle, tmp_path, state_dir):
    root, sock = tmp_path / "root", tmp_path / "console.sock"
    receiver = Receiver(sock)
    try:
        done = rt(root, "create", "--bundle", str(bundle), "--console-socket", str(sock), "tty1")
        assert done.returncode == 0, done.stderr
        receiver.thread.join(5)
        assert receiver.master is not None, "no descriptor came over the console socket"
        assert receiver.name == "/dev/pts/0"  # the container's own devpts instance, not a host terminal
        assert os.isatty(receiver.master)
        pid = json.loads(rt(root, "state", "tty1").stdout)["pid"]
        # The init is a session leader whose controlling terminal is that pty (field 7 of stat: tty_nr).
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        assert int(fields[3]) == pid and int(fields[4]) != 0  # session id, tty_nr
        assert os.readlink(f"/proc/{pid}/fd/0") == os.readlink(f"/proc/{pid}/fd/1")
        assert rt(root, "start", "tty1").returncode == 0
        out = read_until(receiver.master, "stdin-is-a-tty")
        assert "/dev/pts/0\nstdin-is-a-tty" in out, out
        os.write(receiver.master, b"hello through the master\n")
        out = read_until(receiver.master, "got hello")
        assert "got hello through the master" in out, out
        # ^C typed on the master: the line discipline sends SIGINT to the foreground process group,
        # which exists only because the pty is the session's controlling terminal. sleep dies of it.
        wait_for_child(pid, "sleep")  # ^C before sleep has started would only reach the shell
        started = time.monotonic()
        os.write(receiver.master, b"\x03")
        out = read_until(receiver.master, "sleep ended")
        assert "caught SIGINT" in out and "sleep ended 130" in out and time.monotonic() - started < 10, out
    finally:
        rt(root, "delete", "--force", "tty1")
        receiver.close()
    assert not (root / "tty1").exists()
    assert not [r for r in tracker.default().records() if r.kind == "container"]


def test_console_size_is_set(bundle, tmp_path, state_dir):
    root, sock = tmp_path / "root", tmp_path / "console.sock"
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["args"] = ["sh", "-c", "read line"]
    (bundle / "config.json").write_text(json.dumps(cfg))
    receiver = Receiver(sock)
    try:
        assert rt(root, "create", "--bundle", str(bundle), "--console-socket", str(sock), "tty2").returncode == 0
        receiver.thread.join(5)
        import fcntl
        import struct
        import termios
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(receiver.master, termios.TIOCGWINSZ, b"\0" * 8))
        assert (rows, cols) == (33, 101)
    finally:
        rt(root, "delete", "--force", "tty2")
        receiver.close()


@pytest.mark.parametrize("verb", ["create", "run"])
def test_terminal_without_console_socket_is_refused(bundle, tmp_path, state_dir, verb):
    root = tmp_path / "root"
    done = rt(root, verb, "--bundle", str(bundle), "notty")
    assert done.returncode == 125
    assert "process.terminal" in done.stderr and "--console-socket" in done.stderr, done.stderr
    assert not (root / "notty").exists()
    assert not tracker.default().records()


def test_console_socket_without_terminal_is_refused(bundle, tmp_path, state_dir):
    root = tmp_path / "root"
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(cfg))
    done = rt(root, "create", "--bundle", str(bundle), "--console-socket", str(tmp_path / "s"), "notty")
    assert done.returncode == 125 and "process.terminal is off" in done.stderr, done.stderr
    assert not (root / "notty").exists()


def test_an_absent_console_socket_leaves_nothing(bundle, tmp_path, state_dir):
    root = tmp_path / "root"
    done = rt(root, "create", "--bundle", str(bundle), "--console-socket", str(tmp_path / "nobody"), "notty")
    assert done.returncode == 125 and "cannot connect to the console socket" in done.stderr, done.stderr
    assert not (root / "notty").exists()
    assert not tracker.default().records()


def test_exec_tty_gives_the_process_a_pty_of_the_container(bundle, tmp_path, state_dir):
    """docker exec -it: a running container without a terminal, a process exec'd into it with one."""
    root, sock = tmp_path / "root", tmp_path / "exec.sock"
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"].update(terminal=False, args=["sleep", "30"])
    (bundle / "config.json").write_text(json.dumps(cfg))
    with open(tmp_path / "create.err", "w") as err:  # the created container keeps create's stdio: no pipe
        assert subprocess.run(RUNTIME + ["--root", str(root), "create", "--bundle", str(bundle), "ex1"],
                              stdin=subprocess.DEVNULL, stdout=err, stderr=err, timeout=60).returncode == 0
    receiver = Receiver(sock)
    try:
        assert rt(root, "start", "ex1").returncode == 0
        done = rt(root, "exec", "--tty", "--console-socket", str(sock), "ex1",
                  "sh", "-c", "tty; [ -t 0 ] && [ -t 1 ] && echo both-ttys")
        assert done.returncode == 0, done.stderr
        receiver.thread.join(5)
        assert receiver.name == "/dev/pts/0"
        out = read_until(receiver.master, "both-ttys")  # the output waits in the pty after the process exits
        assert "/dev/pts/0\nboth-ttys" in out, out
        refused = rt(root, "exec", "--tty", "ex1", "true")
        assert refused.returncode == 125 and "--console-socket" in refused.stderr
    finally:
        rt(root, "delete", "--force", "ex1")
        receiver.close()
