"""`make lab`: JupyterLab on 127.0.0.1 with token authentication and the lab kernel listed."""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.needs("root")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cmdlines() -> dict[int, bytes]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                found[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                pass  # gone meanwhile
    return found


def session_pids(sid: int) -> list[int]:
    pids = []
    for pid in cmdlines():
        try:
            if os.getsid(pid) == sid:
                pids.append(pid)
        except OSError:
            pass
    return pids


def environ(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def test_make_lab_serves_the_lab_kernel_with_a_token():
    port = free_port()
    lab = subprocess.Popen(["make", "-s", "lab", f"PORT={port}"], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = lab.stdout.readline()
            assert line, "make lab ended before printing the URL"
            found = re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)", line)
            url, token = (found.group(0), found.group(1)) if found else (None, None)
        assert url, "no URL printed"
        api = f"http://127.0.0.1:{port}/api/kernelspecs"
        while time.monotonic() < deadline:
            try:
                specs = json.load(urllib.request.urlopen(f"{api}?token={token}", timeout=5))
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        assert specs["kernelspecs"]["labcore"]["spec"]["display_name"] == "Docker Internals Lab"
        assert specs["default"] == "labcore"
        with pytest.raises(urllib.error.HTTPError) as refused:  # token authentication is on
            urllib.request.urlopen(api, timeout=5)
        assert refused.value.code in (401, 403)
        status = f"http://127.0.0.1:{port}/api/status"
        assert urllib.request.urlopen(f"{status}?token={token}", timeout=5).status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(status, timeout=5)
        assert refused.value.code == 403

        # The token is on no command line (any user reads them), only in the server's
        # environment, which the kernel lets its owner read and nobody else.
        on_cmdline = [pid for pid, cmdline in cmdlines().items() if token.encode() in cmdline]
        assert on_cmdline == [], f"the token is on the command line of {on_cmdline}"
        server = [pid for pid in session_pids(lab.pid) if token.encode() in environ(pid)]
        assert server, "no process of make lab has the token in its environment"
        for pid in server:
            peek = subprocess.run(["runuser", "-u", "nobody", "--", "cat", f"/proc/{pid}/environ"],
                                  capture_output=True)
            assert peek.returncode != 0 and token.encode() not in peek.stdout, f"nobody read /proc/{pid}/environ"

        # A second `make lab` on the same port fails clearly instead of moving elsewhere.
        busy = subprocess.run(["make", "-s", "lab", f"PORT={port}"], cwd=ROOT, capture_output=True, text=True)
        assert busy.returncode != 0 and f"port {port}" in busy.stderr and "taken" in busy.stderr
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
            lab.wait()
