"""The lab in a real browser: `make lab`, headless Chromium, a learner's clicks.

The other tests talk to the kernel (nbval, nbclient) or to the server's REST
API; none of them would notice a widget that no longer renders, a plot shown
as a broken image, or a quiz whose Check button does nothing. This one starts
JupyterLab exactly as `make lab` does (the same make target, on a free port,
serving a temporary copy of notebooks/ so that autosave never writes the
checkout), then drives Debian's chromium through its chromedriver:

1. open chapter 01 from the file browser, clear the stored outputs, run all
   cells with the lab kernel and wait until every code cell has run;
2. no output is an error or a traceback, no widget failed to display, every
   image loaded (chapter 01's diagram; chapter 02's plot, from a live run);
3. answer the chapter 01 quiz in the page and press Check: feedback for every
   question and a score.

A screenshot of every step goes to test-output/browser/ (with the server's log
and the browser's console), which CI keeps when a run fails.

Teardown leaves the host as it was: kernels are shut down through the REST API
(so the kernel's own cleanup undoes its containers and VMs), the server is
stopped through its process group, the copy, the JupyterLab workspace and
Chromium's profile are removed; the test then compares the host with a leak
check snapshot taken before the server started.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import leakcheck  # tests/leakcheck.py (tests/conftest.py puts tests/ on sys.path)

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-output" / "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHAPTER = "01-what-docker-really-is.ipynb"   # its diagram, its quiz
PLOT_CHAPTER = "02-containers-vs-vms.ipynb"  # the fastest chapter with a plot (17 s on an idle machine)
KERNEL_DISPLAY_NAME = "Docker Internals Lab"
START_TIMEOUT = 300   # make lab may first build the venv
RUN_TIMEOUT = 300     # a whole chapter; CI's machine has 2 cores
UI_TIMEOUT = 60       # one click's effect

# `make lab` needs root (make provision checks the system packages as root).
pytestmark = pytest.mark.needs("root")


# ---------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (parent pid, session id, start time in clock ticks), from /proc/PID/stat."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue  # gone meanwhile
            fields = stat.rsplit(")", 1)[1].split()
            table[int(entry)] = (int(fields[1]), int(fields[3]), int(fields[19]))
    return table


def family(leader: int) -> dict[int, int]:
    """The session `make lab` leads (make, JupyterLab) and every descendant: the kernels, which
    jupyter_client starts in sessions of their own, and what they started. pid -> start time."""
    table = process_table()
    found = {pid for pid, (_, sid, _) in table.items() if sid == leader}
    while True:
        more = {pid for pid, (ppid, _, _) in table.items() if ppid in found} - found
        if not more:
            return {pid: table[pid][2] for pid in found}
        found |= more


def still_running(seen: dict[int, int]) -> list[int]:
    """Those of ``seen`` still alive (the same start time: not a new process that reuses the PID)."""
    table = process_table()
    return sorted(pid for pid, start in seen.items() if pid in table and table[pid][2] == start)


class Lab:
    """`make lab PORT=... NOTEBOOK_DIR=<a copy of notebooks/>`, and its REST API."""

    def __init__(self, base: Path):
        self.base = base
        self.notebooks = base / "notebooks"
        shutil.copytree(ROOT / "notebooks", self.notebooks, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        # No "get notified about Jupyter news?" toast over the outputs in the screenshots.
        news = base / "user-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        news.parent.mkdir(parents=True)
        news.write_text('{"fetchNews": "false"}\n')
        self.port = free_port()
        self.log_path = base / "make-lab.log"
        env = dict(os.environ,
                   # JupyterLab remembers open tabs and settings under ~/.jupyter/lab: keep the
                   # test's own, so it neither sees the user's nor leaves its tabs for the next `make lab`.
                   JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
                   JUPYTERLAB_SETTINGS_DIR=str(base / "user-settings"),
                   # The quiz records the learner's answers (labcore.teach.progress): not in root's home.
                   LABCORE_PROGRESS=str(base / "progress.json"))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(["make", "-s", "lab", f"PORT={self.port}", f"NOTEBOOK_DIR={self.notebooks}"],
                                         cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=env, start_new_session=True)
        self.url = self.token = None

    def log(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text.replace(self.token, "<token>") if self.token else text

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        pattern = re.compile(rf"http://127\.0\.0\.1:{self.port}/lab\?token=(\w+)")
        while self.url is None:
            found = pattern.search(self.log())
            if found:
                self.url, self.token = found.group(0), found.group(1)
                break
            if self.proc.poll() is not None:
                pytest.fail(f"make lab ended (status {self.proc.returncode}) before printing the URL:\n{self.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"make lab printed no URL in {START_TIMEOUT} s:\n{self.log()}")
            time.sleep(0.2)
        while True:
            try:
                self.api("GET", "status")
                return
            except (urllib.error.URLError, ConnectionError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer on port {self.port}:\n{self.log()}")
                time.sleep(0.3)

    def api(self, method: str, path: str):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def kernel_of(self, notebook: str) -> dict | None:
        for session in self.api("GET", "sessions"):
            if session.get("path") == notebook:
                return session["kernel"]
        return None

    def remember_pids(self) -> None:
        SEEN_PIDS.update(family(self.proc.pid))

    def shut_down_kernels(self) -> list[str]:
        """Every kernel, through the REST API: the kernel's own shutdown undoes what it created."""
        self.remember_pids()
        problems = []
        try:
            kernels = self.api("GET", "kernels")
        except (urllib.error.URLError, ConnectionError) as exc:
            return [f"could not list the kernels: {exc}"]
        for kernel in kernels:
            try:
                self.api("DELETE", f"kernels/{kernel['id']}")
            except (urllib.error.URLError, ConnectionError) as exc:
                problems.append(f"could not shut down kernel {kernel['id']}: {exc}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not self.api("GET", "kernels"):
                break
            time.sleep(0.5)
        else:
            problems.append(f"kernels still running after shutdown: {self.api('GET', 'kernels')}")
        return problems

    def stop(self) -> list[str]:
        """Stop make and JupyterLab through their process group; what was left, if anything."""
        problems = []
        self.remember_pids()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # JupyterLab stops its kernels and removes its runtime files
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                problems.append("make lab ignored SIGTERM for 30 s: killed")
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        deadline = time.monotonic() + 15
        while (left := still_running(SEEN_PIDS)) and time.monotonic() < deadline:
            time.sleep(0.3)
        if left:  # ours: seen under make lab, with the start time they had then
            problems.append(f"processes of make lab still running: {left}: killed")
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        runtime = subprocess.run([str(ROOT / ".venv/bin/jupyter"), "--runtime-dir"], capture_output=True,
                                 text=True).stdout.strip()
        stale = [str(f) for pid in SEEN_PIDS for f in Path(runtime or "/nonexistent").glob(f"jpserver-{pid}*")]
        if stale:
            problems.append(f"JupyterLab left its runtime files: {stale}")
        return problems


# ---------------------------------------------------------------- the browser


def browser_options(profile: Path):
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ["--headless=new", "--no-sandbox",  # root has no sandbox
                "--window-size=1400,1000", f"--user-data-dir={profile / 'data'}",
                f"--disk-cache-dir={profile / 'cache'}", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-sync", "--disable-extensions",
                "--lang=en-US"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


def require_browser() -> None:
    """Fail, never skip: both are provisioned, so their absence is a broken machine, not a limit of it."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: run make provision as root (it installs Debian's "
                    "chromium and chromium-driver)")
    if importlib.util.find_spec("selenium") is None:
        pytest.fail("selenium missing from the venv: run make setup (pyproject.toml's test extra has it)")


def start_browser(profile: Path):
    """Headless Chromium through Debian's chromedriver, its every file under ``profile``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # HOME and TMPDIR too: Chromium writes ~/.pki, ~/.cache and temporary files of its own.
    env = dict(os.environ, HOME=str(profile), TMPDIR=str(profile), XDG_CONFIG_HOME=str(profile / "config"),
               XDG_CACHE_HOME=str(profile / "cache"))
    service = Service(CHROMEDRIVER, env=env, log_output=str(profile / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=browser_options(profile))
    driver.set_window_size(1400, 1000)
    return driver


def processes_mentioning(word: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if word.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


# ---------------------------------------------------------------- fixtures


#: What Chromium, chromedriver, selenium or JupyterLab could leave in root's home or the temporary directory.
LEFTOVERS = [os.path.join(tempfile.gettempdir(), name) for name in
             (".org.chromium.*", ".com.google.Chrome.*", "scoped_dir*", "browser-lab-*", "browser-chromium-*")] + [
             "~/.cache/selenium", "~/.cache/chromium", "~/.config/chromium", "~/.pki",
             "~/.jupyter/lab/workspaces", "~/.jupyter/lab/user-settings"]


def leftovers() -> set[str]:
    from glob import glob
    return {path for pattern in LEFTOVERS for path in glob(os.path.expanduser(pattern))}


def learner_progress() -> bytes | None:
    """Root's own quiz and exercise record (labcore.teach.progress), which the test must not touch."""
    path = Path(os.path.expanduser("~/.local/share/docker-internals-lab/progress.json"))
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


#: Every process of `make lab` seen during the run (the server, its kernels, theirs): pid -> start time.
SEEN_PIDS: dict[int, int] = {}


def ours(line: str) -> bool:
    """Whether a leak check line names a process of this test: labcore names its tracker records
    (``<time>-<pid>-<kind>.json``) and its scratch cgroups (``lab-vm-<pid>-0``) after the creator."""
    return any(re.search(rf"-{pid}-|\bpid {pid}\b", line) for pid in SEEN_PIDS)


@pytest.fixture(scope="module")
def host():
    """Set up first, so torn down last: after the browser and the server, the host must be as before.

    Only what names this test's processes fails it here (other work may share a developer's
    machine); the suite's own leak check, around the whole run, still counts everything.
    """
    require_browser()  # before anything starts
    before, files, progress = leakcheck.snapshot(), leftovers(), learner_progress()
    yield
    diff = leakcheck.compare(before, leakcheck.snapshot())
    mine = [line for line in diff if ours(line)]
    if len(mine) < len(diff):
        print("host changes that name none of the test's processes (the suite's leak check judges them):\n  "
              + "\n  ".join(line for line in diff if not ours(line)))
    left = sorted(leftovers() - files)
    if learner_progress() != progress:
        left.append("root's progress file (~/.local/share/docker-internals-lab/progress.json) changed")
    assert not mine and not left, "the browser test changed the host:\n" + "\n".join(mine + left)


@pytest.fixture(scope="module")
def out_dir():
    if OUT.exists():
        shutil.rmtree(OUT)  # only this run's screenshots
    OUT.mkdir(parents=True)
    return OUT


@pytest.fixture(scope="module")
def lab(host, out_dir):
    base = Path(tempfile.mkdtemp(prefix="browser-lab-"))
    server = None
    try:
        server = Lab(base)
        server.wait_ready()
        yield server
    finally:
        problems = []
        if server is not None:
            if server.token:
                problems += server.shut_down_kernels()
            problems += server.stop()
            (out_dir / "jupyterlab.log").write_text(server.log())
        shutil.rmtree(base, ignore_errors=True)
        assert not problems, "; ".join(problems)


@pytest.fixture(scope="module")
def browser(lab, out_dir):
    profile = Path(tempfile.mkdtemp(prefix="browser-chromium-"))
    driver = None
    try:
        driver = start_browser(profile)
        yield driver
    finally:
        if driver is not None:
            try:
                console = driver.get_log("browser")
                (out_dir / "console.log").write_text(
                    "".join(f"{e['level']} {e['message']}\n" for e in console).replace(lab.token or "\0", "<token>"))
            except Exception as exc:  # a crashed browser has no log to give
                (out_dir / "console.log").write_text(f"no console log: {exc}\n")
            driver.quit()
        deadline = time.monotonic() + 15
        while (left := processes_mentioning(str(profile))) and time.monotonic() < deadline:
            time.sleep(0.3)
        for pid in left:  # ours: they name our own profile directory
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(profile, ignore_errors=True)
        assert not left, f"Chromium processes outlived driver.quit(): {left}"


# ---------------------------------------------------------------- page helpers


class Page:
    """The JupyterLab page, as a learner sees it; ``shot(name)`` saves a numbered screenshot."""

    def __init__(self, driver, lab: Lab, out: Path):
        self.driver, self.lab, self.out = driver, lab, out

    def wait(self, condition, timeout=UI_TIMEOUT, message=""):
        from selenium.webdriver.support.ui import WebDriverWait
        return WebDriverWait(self.driver, timeout, poll_frequency=0.3).until(condition, message)

    def css(self, selector: str, root=None):
        from selenium.webdriver.common.by import By
        return (root or self.driver).find_elements(By.CSS_SELECTOR, selector)

    def shot(self, name: str, element=None) -> None:
        count = len(list(self.out.glob("*.png"))) + 1
        path = self.out / f"{count:02d}-{name}.png"
        if element is not None:
            element.screenshot(str(path))
        else:
            self.driver.save_screenshot(str(path))

    def open_lab(self) -> None:
        self.driver.get(self.lab.url)
        self.wait(lambda d: self.css(".jp-DirListing-item"), message="the file browser never listed the notebooks")

    def open_notebook(self, name: str):
        """Double-click ``name`` in the file browser; the notebook's panel once its kernel is idle."""
        from selenium.webdriver.common.action_chains import ActionChains

        def item(_):
            for span in self.css(".jp-DirListing-itemText"):
                if span.text.strip() == name:
                    return span
            return False
        ActionChains(self.driver).double_click(self.wait(item, message=f"{name} not in the file browser")).perform()
        panel_id = self.wait(lambda d: d.execute_script("""
            for (const tab of document.querySelectorAll('#jp-main-dock-panel .lm-TabBar-tab')) {
                const label = tab.querySelector('.lm-TabBar-tabLabel');
                if (label && label.textContent.trim() === arguments[0]) return tab.dataset.id;
            }
            return null;""", name), message=f"no tab opened for {name}")
        panel = self.wait(lambda d: self.css(f"#{panel_id}.jp-NotebookPanel"), message="no notebook panel")[0]
        self.wait(lambda d: self.kernel_idle(name), message=f"{name}: its kernel never started")
        return panel

    def kernel_idle(self, name: str) -> bool:
        kernel = self.lab.kernel_of(name)
        return bool(kernel) and kernel["execution_state"] == "idle"

    def command_from_menu(self, menu: str, command: str, shot: str | None = None) -> None:
        """Click ``menu`` in the menu bar, then the entry that runs ``command``."""
        for label in self.css("#jp-menu-panel .lm-MenuBar-itemLabel"):
            if label.text.strip() == menu:
                label.click()
                break
        else:
            pytest.fail(f"no {menu} menu in the menu bar")
        entry = self.wait(lambda d: [e for e in self.css(f'.lm-Menu-item[data-command="{command}"]') if e.is_displayed()],
                          message=f"no {command} in the {menu} menu")[0]
        if shot:
            self.shot(shot)
        entry.click()

    def prompts(self, panel) -> list[str]:
        return self.driver.execute_script(
            "return [...arguments[0].querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
            ".map(p => p.textContent.trim());", panel)

    def run_all(self, panel, name: str, label: str) -> list[str]:
        """Clear every output, Run All Cells, wait until every code cell has its execution count."""
        self.command_from_menu("Edit", "editmenu:clear-all")
        self.wait(lambda d: all(p in ("[ ]:", "") for p in self.prompts(panel)),
                  message="the stored outputs were not cleared")
        self.command_from_menu("Run", "runmenu:run-all", shot=f"{label}-run-menu")
        start = time.monotonic()

        def done(_):
            prompts = self.prompts(panel)
            return prompts and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts) and self.kernel_idle(name)
        try:
            self.wait(done, timeout=RUN_TIMEOUT)
        except Exception:
            self.shot(f"{label}-timed-out")
            pytest.fail(f"{name}: not every cell ran in {RUN_TIMEOUT} s; prompts: {self.prompts(panel)}")
        print(f"{name}: all cells ran in {time.monotonic() - start:.1f} s")
        self.lab.remember_pids()
        return self.prompts(panel)

    def errors(self, panel) -> list[str]:
        """What the outputs show of errors: stderr and tracebacks, widgets that failed to display."""
        return self.driver.execute_script("""
            const panel = arguments[0], found = [];
            for (const out of panel.querySelectorAll(
                    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
                found.push('stderr: ' + out.textContent.slice(0, 2000));
            for (const out of panel.querySelectorAll('.jp-OutputArea-output'))
                if (out.textContent.includes('Error displaying widget'))
                    found.push('widget: ' + out.textContent.slice(0, 500));
            return found;""", panel)

    def images(self, panel, where: str):
        """Every <img> in ``where`` (a selector inside the panel), scrolled into view until it has loaded."""
        images = self.css(f"{where} img", root=panel)
        for img in images:
            self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", img)
            try:
                self.wait(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth;", img),
                          timeout=20)
            except Exception:
                pass  # reported by the caller with the image's size
        return images

    def natural_width(self, img) -> int:
        return self.driver.execute_script("return arguments[0].naturalWidth;", img)


@pytest.fixture(scope="module")
def page(browser, lab, out_dir):
    return Page(browser, lab, out_dir)


# ---------------------------------------------------------------- the tests


def check_ran_cleanly(page: Page, panel, name: str, prompts: list[str]) -> None:
    counts = [int(p[1:-2]) for p in prompts]
    assert len(set(counts)) == len(counts), f"{name}: execution counts repeat: {prompts}"
    errors = page.errors(panel)
    assert not errors, f"{name} shows errors in its outputs:\n" + "\n".join(errors)


def test_chapter_01_runs_shows_its_diagram_and_grades_its_quiz(page):
    page.open_lab()
    page.shot("lab")
    panel = page.open_notebook(CHAPTER)
    assert page.lab.kernel_of(CHAPTER)["name"] == "labcore"
    kernel_label = page.css('[data-jp-item-name="kernelName"]', root=panel)
    assert kernel_label and KERNEL_DISPLAY_NAME in kernel_label[0].text, "the toolbar does not name the lab kernel"
    page.shot("chapter01-opened")

    prompts = page.run_all(panel, CHAPTER, "chapter01")
    page.shot("chapter01-ran")
    check_ran_cleanly(page, panel, CHAPTER, prompts)

    images = page.images(panel, ".jp-Cell")
    assert images, f"{CHAPTER} shows no image: its diagram is missing"
    broken = [img.get_attribute("src")[:80] for img in images if not page.natural_width(img)]
    assert not broken, f"{CHAPTER}: images that did not load: {broken}"
    page.shot("chapter01-diagram", images[0])

    quiz = page.wait(lambda d: page.css(".lab-quiz", root=panel), message=f"{CHAPTER}: no .lab-quiz rendered")[0]
    questions = page.css(".lab-quiz-question", root=quiz)
    assert questions, "the quiz has no .lab-quiz-question"
    page.driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", quiz)
    option = page.css("input[type=radio]", root=questions[0])[0]
    option.click()
    page.wait(lambda d: option.is_selected(), message="the first option did not get selected")
    page.shot("quiz-answered", quiz)
    check = page.css(".lab-quiz-check", root=quiz)
    assert check and check[0].text.strip() == "Check", "no Check button (.lab-quiz-check) in the quiz"
    check[0].click()
    feedback = page.css(".lab-quiz-feedback", root=quiz)
    assert feedback, "no .lab-quiz-feedback in the quiz"
    score = re.compile(rf"\b\d+ of {len(questions)}\b")
    page.wait(lambda d: score.search(feedback[0].text), timeout=30,
              message=f"no score 'N of {len(questions)}' after Check; the feedback reads {feedback[0].text!r}")
    page.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", feedback[0])
    page.shot("quiz-feedback", quiz)
    # One numbered line per question; the one we answered says whether it was right.
    lines = {int(m.group(1)): m.group(2) for m in re.finditer(r"^(\d+)\. (.*)$", feedback[0].text, re.MULTILINE)}
    assert sorted(lines) == list(range(1, len(questions) + 1)), f"not one line per question:\n{feedback[0].text}"
    assert re.match(r"right|not quite", lines[1]), f"the answered question got no verdict:\n{feedback[0].text}"
    assert not page.errors(panel), page.errors(panel)


@pytest.mark.needs("vm", "make_namespaces")  # the plot compares a container with a VM
def test_a_plot_renders_from_a_live_run(page):
    if not page.css(".jp-DirListing-item"):
        page.open_lab()  # when the first test failed before
    panel = page.open_notebook(PLOT_CHAPTER)
    prompts = page.run_all(panel, PLOT_CHAPTER, "chapter02")
    check_ran_cleanly(page, panel, PLOT_CHAPTER, prompts)
    plots = page.images(panel, '.jp-OutputArea-output[data-mime-type="image/png"]')
    assert plots, f"{PLOT_CHAPTER} shows no plot"
    widths = [page.natural_width(img) for img in plots]
    assert all(widths), f"{PLOT_CHAPTER}: plots that did not load (naturalWidth {widths})"
    page.shot("chapter02-plot", plots[0])



INTERVIEW_CHAPTER = "15-interview-questions.ipynb"


def test_a_mock_interview_round_is_played_and_kept(page):
    """Chapter 15's mock interview: start a round, answer, open the model answer, grade each question."""
    if not page.css(".jp-DirListing-item"):
        page.open_lab()
    panel = page.open_notebook(INTERVIEW_CHAPTER)
    prompts = page.run_all(panel, INTERVIEW_CHAPTER, "chapter15")
    check_ran_cleanly(page, panel, INTERVIEW_CHAPTER, prompts)
    box = page.wait(lambda d: page.css(".lab-interview", root=panel), message="no .lab-interview rendered")[0]
    page.driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", box)
    page.css(".lab-interview-start button, button.lab-interview-start", root=box)[0].click()
    asked = []
    for n in range(1, 6):
        question = page.wait(lambda d: (q := page.css(".lab-interview-question", root=box)) and
                             f"Question {n} of 5" in q[0].text and q, message=f"question {n} did not appear")[0]
        asked.append(question.text)
        page.css("textarea", root=box)[0].send_keys("namespaces, cgroups and a root filesystem")
        page.css("button.lab-interview-show, .lab-interview-show button", root=box)[0].click()
        model = page.wait(lambda d: (m := page.css(".lab-interview-model", root=box)) and m[0].text.strip() and m,
                          message="the model answer did not appear")[0]
        link = page.css("a", root=model)
        assert link and ".ipynb#" in link[0].get_attribute("href"), "the model answer links no demo cell"
        if n == 1:
            page.shot("interview-model-answer", box)
        grades = page.css(".lab-interview-grade button", root=box)
        [b for b in grades if b.text.strip() == ("missed" if n == 1 else "got it")][0].click()
    report = page.wait(lambda d: (r := page.css(".lab-interview-report", root=box)) and "Round 1 done" in r[0].text
                       and r, message="no report after the fifth grade")[0]
    page.shot("interview-report", box)
    assert len(set(asked)) == 5, f"a question came twice in one round: {asked}"
    assert "missed" in report.text and "box 0" in report.text, report.text
    kept = json.loads((page.lab.base / "progress.json").read_text())["interview"]
    assert kept["round"] == 1 and len(kept["cards"]) == 5, kept
    assert sum(card["grades"][0].startswith("missed") for card in kept["cards"].values()) == 1, kept
