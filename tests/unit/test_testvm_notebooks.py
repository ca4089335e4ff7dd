"""make notebooks-vm: what comes back from the test VM may replace only the checkout's executed notebooks."""

import hashlib
import importlib.util
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def testvm():
    spec = importlib.util.spec_from_file_location("testvm", ROOT / "tools/test-vm/testvm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)   # pure at import: it boots nothing until main()
    return module


def notebook(text: str) -> bytes:
    return json.dumps({"cells": [{"cell_type": "code", "source": "1", "outputs": [{"text": text}]}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def checkout(tmp_path):
    (tmp_path / "notebooks/deep").mkdir(parents=True)
    (tmp_path / "README.md").write_text("readme\n")
    sent = {}
    for name in ("notebooks/a.ipynb", "notebooks/b.ipynb", "notebooks/deep/c.ipynb", "notebooks/d.ipynb"):
        data = notebook("old " + name)
        (tmp_path / name).write_bytes(data)
        (tmp_path / name).chmod(0o640)
        sent[name] = sha(data)
    return tmp_path, sent


def test_only_executed_valid_unedited_notebooks_are_written(testvm, checkout):
    root, sent = checkout
    (root / "notebooks/b.ipynb").write_bytes(notebook("edited by a colleague during the run"))
    files = {
        "executed": b"notebooks/a.ipynb\nnotebooks/b.ipynb\n./notebooks/deep/c.ipynb\nnotebooks/x.ipynb\n",
        "status": b"1\n",
        "notebooks/a.ipynb": notebook("new a"),
        "notebooks/b.ipynb": notebook("new b"),
        "notebooks/deep/c.ipynb": notebook("new c"),
        "notebooks/d.ipynb": notebook("new d, but it failed"),    # not in "executed"
        "notebooks/x.ipynb": notebook("not sent"),
        "README.md": b"overwritten?",                              # never: not a notebook
        "notebooks/../README.md": notebook("escape"),
    }
    written, skipped = testvm.bring_back_notebooks(files, sent, root)
    assert written == ["notebooks/a.ipynb", "notebooks/deep/c.ipynb"]
    assert (root / "notebooks/a.ipynb").read_bytes() == notebook("new a")
    assert (root / "notebooks/deep/c.ipynb").read_bytes() == notebook("new c")
    assert (root / "notebooks/a.ipynb").stat().st_mode & 0o777 == 0o640    # the mode of the file replaced
    assert (root / "notebooks/b.ipynb").read_bytes() == notebook("edited by a colleague during the run")
    assert (root / "notebooks/d.ipynb").read_bytes() == notebook("old notebooks/d.ipynb")
    assert not (root / "notebooks/x.ipynb").exists()
    assert (root / "README.md").read_text() == "readme\n"
    reasons = dict(skipped)
    assert reasons["notebooks/b.ipynb"].startswith("edited")
    assert reasons["notebooks/d.ipynb"] == "not executed to the end in the VM"
    assert reasons["notebooks/x.ipynb"] == "not a notebook of the checkout sent"
    assert sorted(p.name for p in (root / "notebooks").iterdir()) == ["a.ipynb", "b.ipynb", "d.ipynb", "deep"]


@pytest.mark.parametrize("data, why", [(b"{\"cells\": [", "not JSON"), (b"\xff\xfe", "not JSON"),
                                       (b"[1, 2]", "JSON, but not a notebook")])
def test_what_does_not_parse_as_a_notebook_is_not_written(testvm, checkout, data, why):
    root, sent = checkout
    before = (root / "notebooks/a.ipynb").read_bytes()
    written, skipped = testvm.bring_back_notebooks({"executed": b"notebooks/a.ipynb\n", "notebooks/a.ipynb": data},
                                                   sent, root)
    assert written == [] and skipped[0][1].startswith(why)
    assert (root / "notebooks/a.ipynb").read_bytes() == before


def test_is_notebook(testvm):
    assert testvm.is_notebook("notebooks/01-x.ipynb") and testvm.is_notebook("notebooks/deep-dives/A.ipynb")
    for name in ("README.md", "notebooks/x.py", "x.ipynb", "/notebooks/x.ipynb", "notebooks/../x.ipynb",
                 "notebooks/.ipynb_checkpoints/x-checkpoint.ipynb", "tests/notebooks/x.ipynb"):
        assert not testvm.is_notebook(name), name


def test_results_archive_round_trip(testvm, tmp_path):
    """The archive as inside.sh writes it (tar -C out -cf /dev/vdb .) onto the zeroed results disk."""
    disk = tmp_path / "results.tar"
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    payload = {"./status": b"0\n", "./summary": b"PASS  execute-notebooks\n", "./executed": b"notebooks/a.ipynb\n",
               "./notebooks/a.ipynb": notebook("new a")}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in payload.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with open(disk, "r+b") as f:
        f.write(buf.getvalue())
    status, files = testvm.read_results(disk)
    assert status == 0 and files["notebooks/a.ipynb"] == notebook("new a")
    with open(disk, "wb") as f:
        f.truncate(1 << 20)   # the VM never wrote: zeros
    assert testvm.read_results(disk) == (1, {})


def test_execute_notebooks_lists_only_those_that_ran_to_the_end(tmp_path):
    """--done is how inside.sh knows which notebooks to send back (the lab kernel starts; nothing runs in it)."""
    import nbformat
    good = tmp_path / "good.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("only text")]), good)
    bad = tmp_path / "bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise SystemError('no')")]), bad)
    before = bad.read_bytes()
    done = tmp_path / "executed"
    run = subprocess.run([sys.executable, str(ROOT / "tools/execute_notebooks.py"), "--inplace", "--done", str(done),
                          str(good), str(bad)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"FAIL {bad}" in run.stdout
    assert done.read_text() == f"{good}\n"
    assert bad.read_bytes() == before


def test_inside_sh_sends_back_only_the_executed_list():
    inside = (ROOT / "tools/test-vm/inside.sh").read_text()
    assert 'tools/execute_notebooks.py --inplace --done "$out/executed"' in inside
    assert 'cp --parents -- "$nb" "$out/"' in inside and '< "$out/executed"' in inside


def test_make_notebooks_vm_runs_the_test_vm_in_execute_mode():
    makefile = (ROOT / "Makefile").read_text()
    assert "\n## notebooks-vm: " in makefile
    recipe = makefile.split("\nnotebooks-vm:", 1)[1].split("\n\n", 1)[0]
    assert "tools/test-vm/testvm.py --execute-notebooks" in recipe
