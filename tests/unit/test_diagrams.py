"""The whiteboard diagrams without root or dot: DOT and text from parsed inputs, the model timeline, errors."""

import pytest

from labcore import InvalidInputError, LabError
from labcore.proc import mountinfo
from labcore.teach.diagrams import cfs, cgroups, overlays, processes, render
from labcore.teach.diagrams.processes import Task

HOST = {"pid": 100, "mnt": 200, "uts": 300, "net": 400, "ipc": 500}
INSIDE = {"pid": 101, "mnt": 201, "uts": 301, "net": 400, "ipc": 501}


def tasks():
    return [Task(4000, 1, "bash", [4000], dict(HOST), [4242]),
            Task(4242, 4000, "sleep", [4242, 1], dict(INSIDE), [4250]),
            Task(4250, 4242, 'evil"<b>\\N', [4250, 2], dict(INSIDE), [])]


def test_process_tree_dot_nests_one_cluster_per_pid_namespace():
    dot = processes.tree_dot(tasks(), HOST, title="t")
    host, inner = dot.index("subgraph cluster_pidns_100"), dot.index("subgraph cluster_pidns_101")
    assert host < inner and dot.count("subgraph cluster_pidns_") == 2
    # the container's cluster is inside the host's: it closes before the host's does
    assert dot.index("p4242 [", inner) > inner and "pid namespace 100 (the host's)" in dot
    assert "host PID 4242, PID 1 inside" in dot and "new: pid mnt uts ipc" in dot
    assert "new: pid mnt uts ipc net" not in dot  # same net inode as the host: not new
    assert "p4000 -> p4242;" in dot and "p4242 -> p4250;" in dot


def test_labels_are_escaped():
    dot = processes.tree_dot(tasks(), HOST)
    assert "evil&quot;&lt;b&gt;\\N" in dot and '<b>' not in dot.replace("<B>", "")
    assert render.quote('a"b\\N') == '"a\\"b\\\\N"'


def test_process_tree_text_is_an_indented_tree():
    text = processes.tree_text(tasks(), HOST, title="title")
    lines = text.splitlines()
    assert lines[0] == "title"
    assert lines[1].startswith("bash  (PID 4000, pid ns 100)")
    assert lines[2].startswith("└─ sleep  (host PID 4242, PID 1 inside, pid ns 101, new: pid mnt uts ipc)")
    assert lines[3].startswith("   └─ evil")


def test_pid_map_nests_outermost_first():
    levels = [(4242, 100), (7, 101), (1, 102)]
    dot = processes.map_dot("sleep", levels, 100, "t")
    assert dot.index("cluster_level0") < dot.index("cluster_level1") < dot.index("cluster_level2")
    assert "PID <B>4242</B>" in dot and "PID <B>1</B>" in dot and "the host's pid namespace (inode 100)" in dot
    text = processes.map_text("sleep", levels, 100, "t").splitlines()
    assert text[1] == "pid namespace 100 (the host's): sleep is PID 4242"
    assert text[3] == "    pid namespace 102: sleep is PID 1"


LINE = ("90 30 0:55 / /run/lab/merged rw,relatime - overlay overlay "
        "rw,lowerdir=/l/top:/l/base,upperdir=/u/up,workdir=/u/work\n"
        "91 30 0:56 / /run/lab/m2 rw - overlay overlay rw,lowerdir+=/a\\054b,lowerdir+=/c,datadir+=/d\n"
        "92 30 0:57 / /run/lab/t rw - tmpfs tmpfs rw\n")


def test_overlay_layers_from_mountinfo():
    first, second, third = mountinfo.parse(LINE)
    lay = overlays.layers(first)
    assert lay.lower == ["/l/top", "/l/base"] and lay.upper == "/u/up" and lay.work == "/u/work"
    assert [r for r, _ in lay.stack()] == ["upperdir", "lowerdir 1", "lowerdir 2"]
    assert overlays.layers(second).lower == ["/a,b", "/c"] and overlays.layers(second).upper is None
    with pytest.raises(InvalidInputError, match="tmpfs mount, not an overlay"):
        overlays.layers(third)


def test_locate_takes_the_first_layer_from_the_top(tmp_path):
    up, top, base = (tmp_path / n for n in ("up", "top", "base"))
    for d in (up / "etc", top / "etc", base / "etc", base / "opt"):
        d.mkdir(parents=True)
    (top / "etc" / "hostname").write_text("top")
    (base / "etc" / "hostname").write_text("base")
    (base / "etc" / "passwd").write_text("root")
    (up / "opt").write_text("a file where base has a directory")
    (base / "opt" / "x").write_text("x")
    stack = [("upperdir", str(up)), ("lowerdir 1", str(top)), ("lowerdir 2", str(base))]
    assert overlays.locate(stack, "/etc/hostname") == overlays.Found("etc/hostname", 1, "found")
    assert overlays.locate(stack, "etc/passwd").layer == 2
    assert overlays.locate(stack, "opt/x") == overlays.Found("opt/x", 0, "hidden")
    assert overlays.locate(stack, "nope").how == "absent"
    with pytest.raises(InvalidInputError):
        overlays.locate(stack, "../etc")
    lay = overlays.Layers("/m", [str(top), str(base)], str(up), str(tmp_path / "work"))
    found = [overlays.locate(stack, f) for f in ("etc/hostname", "nope")]
    dot = overlays.stack_dot(lay, found, "t")
    assert "etc/hostname: found here" in dot and "visible, from the lowerdir 1" in dot and "nope: in no layer" in dot
    assert dot.index("layer0 [label=<<B>upperdir") < dot.index("layer1 [label=<<B>lowerdir 1") \
        < dot.index("layer2 [label=<<B>lowerdir 2")
    text = overlays.stack_text(lay, found, "t").splitlines()
    assert text[3].startswith("lowerdir 1") and text[4] == "    etc/hostname: found here"


def fake_v2(root):
    """A cgroup v2 tree as plain files: root / labcore / web, web limited."""
    for rel, files in {"": {"cgroup.controllers": "cpu memory pids"},
                       "labcore": {"cgroup.controllers": "cpu memory pids", "cpu.max": "max 100000",
                                   "memory.max": "max", "memory.high": "max", "pids.max": "max",
                                   "memory.current": "1048576", "pids.current": "0",
                                   "cpu.stat": "usage_usec 0\n"},
                       "labcore/web": {"cgroup.controllers": "cpu memory pids", "cpu.max": "25000 100000",
                                       "memory.max": str(64 << 20), "memory.high": "max", "pids.max": "20",
                                       "memory.current": str(3 << 20), "pids.current": "2",
                                       "cpu.stat": "usage_usec 1500000\nnr_periods 4\n"}}.items():
        (root / rel).mkdir(parents=True, exist_ok=True)
        for name, value in files.items():
            (root / rel / name).write_text(value + "\n")


def test_cgroup_tree_reads_limits_and_usage(tmp_path):
    fake_v2(tmp_path)
    d = cgroups.cgroup_tree("/labcore", root=tmp_path)
    assert d.text.splitlines() == [
        "cgroup /labcore (v2): limits, and usage now",
        "labcore: cpu.max max, memory.max max, memory.high max, pids.max max; now memory.current 1 MiB, "
        "pids.current 0, cpu.stat usage_usec 0.00 s",
        "  web: cpu.max 25000 per 100000 µs = 0.25 CPU, memory.max 64 MiB, memory.high max, pids.max 20; "
        "now memory.current 3 MiB, pids.current 2, cpu.stat usage_usec 1.50 s"]
    assert "g0 -> g1;" in d.dot and "<B>64 MiB</B>" in d.dot and "#f6c6c6" in d.dot  # web is limited: red
    assert cgroups.cgroup_tree(str(tmp_path / "labcore" / "web"), root=tmp_path).text.count("\n") == 1
    with pytest.raises(InvalidInputError, match="no cgroup /nope"):
        cgroups.cgroup_tree("nope", root=tmp_path)
    with pytest.raises(InvalidInputError, match="leaves the cgroup tree"):
        cgroups.cgroup_tree("labcore/../..", root=tmp_path)


def test_cgroup_tree_is_bounded(tmp_path):
    fake_v2(tmp_path)
    for i in range(cgroups.MAX_GROUPS + 5):
        (tmp_path / "labcore" / f"g{i:02}").mkdir()
    d = cgroups.cgroup_tree("labcore", root=tmp_path)
    assert d.dot.count("[label=<<TABLE") == cgroups.MAX_GROUPS and "more groups not drawn" in d.text


def test_cfs_model_and_measured_periods():
    periods = cfs.model(25_000, 100_000, 100_000, 3)
    assert [(p.start, p.used, p.ran_until, p.throttled) for p in periods] == [
        (0, 25_000, 25_000, True), (100_000, 25_000, 125_000, True), (200_000, 25_000, 225_000, True)]
    assert not cfs.model(50_000, 100_000, 20_000, 1)[0].throttled
    assert cfs.model(50_000, 100_000, 200_000, 1)[0].ran_until == 25_000  # two threads spend it twice as fast
    # samples: (µs, usage, nr_periods, nr_throttled); a boundary where nr_periods grows
    samples = [(0, 0, 0, 0), (10_000, 10_000, 0, 0), (20_000, 20_000, 0, 0), (30_000, 20_000, 0, 0),
               (40_000, 20_000, 1, 1), (50_000, 30_000, 1, 1)]
    found, points = cfs.from_samples(samples, 20_000)
    assert len(found) == 1 and found[0].end == 35_000 and found[0].used == 20_000 and found[0].throttled
    assert found[0].ran_until == 20_000 and points[-1] == (50_000, 10_000)


def test_cfs_timeline_plot_and_its_input_checks():
    plot = cfs.cfs_timeline(25_000, demand_us=100_000, periods=3)
    assert repr(plot) == ("<Plot: CFS bandwidth: quota 25 ms every 100 ms (0.25 CPU), "
                          "100 ms of CPU wanted per period>")
    assert plot.png().startswith(b"\x89PNG")
    assert plot.figure.axes[0].get_title() == cfs.MODEL_CAVEAT
    with pytest.raises(InvalidInputError, match="at least 1000"):
        cfs.cfs_timeline(10)
    with pytest.raises(InvalidInputError, match="not both"):
        cfs.cfs_timeline(25_000, cgroup=object())
    with pytest.raises(InvalidInputError, match="between 1 and 50"):
        cfs.cfs_timeline(25_000, periods=0)


def test_missing_dot_says_run_make_provision(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    d = render.Diagram("digraph g { a -> b; }", "a\n  b", "ab")
    with pytest.raises(LabError, match="run make provision"):
        d.png()
    bundle = d._repr_mimebundle_()
    assert "image/png" not in bundle and bundle["text/plain"].startswith("a\n  b") and "make provision" in \
        bundle["text/plain"]
    assert repr(d) == "<Diagram: ab>" and str(d) == "a\n  b"


def test_dot_input_is_bounded():
    with pytest.raises(InvalidInputError, match="more than"):
        render.run_dot("digraph g {" + "a;" * render.MAX_DOT + "}", "png")


def test_input_checks():
    with pytest.raises(InvalidInputError, match="needs PIDs"):
        processes.process_tree("init")
    with pytest.raises(InvalidInputError, match="unknown namespace kind"):
        processes.process_tree(1, kinds=("pid", "nope"))
    with pytest.raises(InvalidInputError, match="no process"):
        processes.process_tree(2 ** 22 + 1)
