"""Both cgroup backends on fake trees: detection, the files they write, the stats they read, the records."""

import os

import pytest
from fakecgroup import FakeCgroupFS

from labcore import InvalidInputError, LabError, UnsupportedError, cgroups, tracker
from labcore.cgroups import base
from labcore.cgroups import limits as L
from labcore.cgroups.v1 import shares_to_weight, weight_to_shares

GB = 1 << 30


@pytest.fixture(autouse=True)
def plenty_of_ram(monkeypatch):
    monkeypatch.setattr(L, "ram_bytes", lambda *a, field="MemTotal", **k: 0 if field == "SwapTotal" else 8 * GB)


@pytest.fixture
def v1(tmp_path, monkeypatch, state_dir):
    return FakeCgroupFS(tmp_path / "cgroup", "v1", hybrid=True).install(monkeypatch)


@pytest.fixture
def v2(tmp_path, monkeypatch, state_dir):
    return FakeCgroupFS(tmp_path / "cgroup", "v2").install(monkeypatch)


@pytest.fixture
def disk(tmp_path, monkeypatch):
    block = tmp_path / "sys-block" / "vda"
    block.mkdir(parents=True)
    (block / "dev").write_text("254:0\n")
    monkeypatch.setattr(L, "SYS_BLOCK", str(tmp_path / "sys-block-links"))
    (tmp_path / "sys-block-links").mkdir()
    (tmp_path / "sys-block-links" / "254:0").symlink_to(block)


def records():
    return sorted((r.kind, r.target) for r in tracker.default().records())


# --- detection ----------------------------------------------------------------------

def test_detects_each_version_from_the_files(tmp_path):
    assert cgroups.version(FakeCgroupFS(tmp_path / "a", "v1").root) == "v1"
    assert cgroups.mode(FakeCgroupFS(tmp_path / "b", "v1", hybrid=True).root) == "hybrid"
    assert cgroups.version(FakeCgroupFS(tmp_path / "c", "v2").root) == "v2"
    assert cgroups.mode(tmp_path / "c") == "v2"
    assert cgroups.backend(tmp_path / "c") is cgroups.V2Cgroup
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnsupportedError, match="no cgroup filesystem"):
        cgroups.version(tmp_path / "empty")


def test_controllers_in_the_labs_vocabulary(tmp_path):
    assert cgroups.controllers(FakeCgroupFS(tmp_path / "a", "v1").root) == ["cpu", "cpuacct", "memory", "pids", "io"]
    assert cgroups.controllers(FakeCgroupFS(tmp_path / "b", "v2", controllers=("cpuset", "cpu", "memory")).root) \
        == ["cpu", "memory"]


# --- v1 ---------------------------------------------------------------------------------

def test_v1_writes_each_limit_in_its_hierarchy(v1, disk):
    cg = cgroups.create("lab-web", root=v1.root, cpus="25%", cpu_weight=300, memory="64M", memory_high="48M",
                        pids=20, io_read_bps="254:0:4M", io_write_bps="254:0:1M")
    assert isinstance(cg, cgroups.V1Cgroup) and cg.version == "v1"
    assert v1.get("cpu/labcore/lab-web/cpu.cfs_quota_us") == "25000"
    assert v1.get("cpu/labcore/lab-web/cpu.cfs_period_us") == "100000"
    assert v1.get("cpu/labcore/lab-web/cpu.shares") == "3072"
    assert v1.get("memory/labcore/lab-web/memory.limit_in_bytes") == str(64 << 20)
    assert v1.get("memory/labcore/lab-web/memory.soft_limit_in_bytes") == str(48 << 20)
    assert v1.get("pids/labcore/lab-web/pids.max") == "20"
    assert v1.get("blkio/labcore/lab-web/blkio.throttle.read_bps_device") == "254:0 4194304"
    assert v1.get("blkio/labcore/lab-web/blkio.throttle.write_bps_device") == "254:0 1048576"
    assert cg.read_limits() == L.Limits(cpus=0.25, cpu_weight=300, memory=64 << 20, memory_high=48 << 20, pids=20)
    assert cg.files()["cpu/labcore/lab-web/cpu.cfs_quota_us"] == "25000"


def test_v1_records_every_directory_before_making_it_and_removes_deepest_first(v1):
    cg = cgroups.create("lab-web", root=v1.root, pids=5)
    made = {str(p.relative_to(v1.root)) for p in cg.directories()}
    assert made == {f"{h}/labcore/lab-web" for h in ("cpu", "cpuacct", "memory", "pids", "blkio")}
    assert records() == sorted([("cgroup", str(v1.root / h / "labcore")) for h in made for h in [h.split("/")[0]]] +
                               [("cgroup", str(v1.root / h)) for h in made])
    cg.remove()
    assert records() == []
    leaves = [r for r in v1.removed if r.endswith("lab-web")]
    assert len(leaves) == 5 and v1.removed.index(leaves[-1]) < len(v1.removed) - 5  # leaves before parents
    assert not any((v1.root / h / "labcore").exists() for h in ("cpu", "memory", "pids"))


def test_v1_shared_parent_stays_while_another_group_uses_it(v1):
    a = cgroups.create("lab-a", root=v1.root)
    b = cgroups.create("lab-b", root=v1.root)
    a.remove()
    assert (v1.root / "memory" / "labcore" / "lab-b").is_dir()
    b.remove()
    assert not (v1.root / "memory" / "labcore").exists()


def test_v1_combined_cpu_cpuacct_is_one_directory(tmp_path, monkeypatch, state_dir):
    fs = FakeCgroupFS(tmp_path / "cg", "v1", controllers=("memory", "pids"))
    (fs.root / "cpu,cpuacct").mkdir()
    (fs.root / "cpu,cpuacct" / "cgroup.procs").write_text("")
    (fs.root / "cpu").symlink_to("cpu,cpuacct")      # as Debian's systemd mounts v1
    (fs.root / "cpuacct").symlink_to("cpu,cpuacct")
    fs.install(monkeypatch)
    cg = cgroups.create("lab-x", root=fs.root, cpus=0.5)
    assert cg.paths["cpu"] == cg.paths["cpuacct"] == (fs.root / "cpu,cpuacct" / "labcore" / "lab-x")
    assert len(cg.directories()) == 3
    assert fs.get("cpu,cpuacct/labcore/lab-x/cpu.cfs_quota_us") == "50000"
    cg.attach(7)
    assert fs.get("cpu,cpuacct/labcore/lab-x/cgroup.procs") == "7"


def test_v1_attach_writes_the_pid_into_every_hierarchy(v1):
    cg = cgroups.create("lab-web", root=v1.root)
    cg.attach(4242)
    for directory in cg.directories():
        assert (directory / "cgroup.procs").read_text() == "4242"
    assert cg.procs() == [4242]


def test_v1_stats_in_the_common_vocabulary(v1):
    cg = cgroups.create("lab-web", root=v1.root)
    v1.set("cpuacct/labcore/lab-web/cpuacct.usage", "2500000000\n")
    v1.set("cpu/labcore/lab-web/cpu.stat", "nr_periods 40\nnr_throttled 30\nthrottled_time 2000000000\n")
    v1.set("memory/labcore/lab-web/memory.usage_in_bytes", "1048576\n")
    v1.set("memory/labcore/lab-web/memory.max_usage_in_bytes", "67108864\n")
    v1.set("memory/labcore/lab-web/memory.failcnt", "115\n")
    v1.set("memory/labcore/lab-web/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    v1.set("pids/labcore/lab-web/pids.current", "20\n")
    v1.set("pids/labcore/lab-web/pids.peak", "20\n")
    v1.set("pids/labcore/lab-web/pids.events", "max 2096\n")
    v1.set("blkio/labcore/lab-web/blkio.throttle.io_service_bytes",
           "254:0 Read 13631488\n254:0 Write 4096\n254:0 Sync 0\n254:0 Async 0\n254:0 Total 13635584\nTotal 13635584\n")
    s = cg.stats()
    assert (s.cpu_usage_usec, s.cpu_periods, s.cpu_throttled_periods, s.cpu_throttled_usec) == \
        (2_500_000, 40, 30, 2_000_000)
    assert (s.memory_current, s.memory_peak, s.memory_failcnt, s.oom_kills) == (1 << 20, 64 << 20, 115, 1)
    assert s.memory_high_events is None and s.oom_events is None  # v1 has no such counters
    assert (s.pids_current, s.pids_peak, s.pids_max_events) == (20, 20, 2096)
    assert (s.io_read_bytes, s.io_write_bytes) == (13631488, 4096)
    assert "cpu throttled periods      30" in str(s)


def test_v1_live_changes_and_lifting_limits(v1):
    cg = cgroups.create("lab-web", root=v1.root, cpus=0.25, memory="64M", pids=20)
    cg.set(cpus=0.6)
    assert v1.get("cpu/labcore/lab-web/cpu.cfs_quota_us") == "60000"
    cg.set(cpus="max", memory="max", pids="max")
    assert v1.get("cpu/labcore/lab-web/cpu.cfs_quota_us") == "-1"
    assert v1.get("memory/labcore/lab-web/memory.limit_in_bytes") == "-1"
    assert v1.get("pids/labcore/lab-web/pids.max") == "max"
    assert cg.limits == L.Limits()


def test_v1_memory_and_swap_limits_move_in_a_safe_order(v1, monkeypatch):
    monkeypatch.setattr(L, "ram_bytes", lambda *a, field="MemTotal", **k: 8 * GB)  # with swap this time
    writes = []
    real_write = base.write
    monkeypatch.setattr("labcore.cgroups.v1.write", lambda path, value: (writes.append(path.name), real_write(path, value)))
    cg = cgroups.create("lab-web", root=v1.root, memory="64M")
    assert v1.get("memory/labcore/lab-web/memory.memsw.limit_in_bytes") == str(64 << 20)
    writes.clear()
    cg.set(memory="32M")   # down: memory first, then memory+swap (memsw >= limit at every moment)
    assert writes == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
    writes.clear()
    cg.set(memory="128M")  # up: memory+swap first
    assert writes == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]


def test_weight_and_shares_convert_both_ways():
    assert [weight_to_shares(w) for w in (None, 1, 100, 300, 10000)] == [1024, 10, 1024, 3072, 102400]
    assert [shares_to_weight(s) for s in (2, 1024, 3072, 262144)] == [1, 100, 300, 10000]


# --- v2 ---------------------------------------------------------------------------------

def test_v2_delegates_controllers_and_writes_one_directory(v2, disk):
    cg = cgroups.create("lab-web", root=v2.root, cpus=0.25, cpu_weight=300, memory="64M", memory_high="48M",
                        pids=20, io_bps="254:0:4M")
    assert isinstance(cg, cgroups.V2Cgroup) and cg.directories() == [v2.root / "labcore" / "lab-web"]
    assert v2.get("labcore/cgroup.subtree_control") == "cpu memory pids io"
    assert v2.get("labcore/lab-web/cgroup.controllers").split() == ["cpu", "memory", "pids", "io"]
    assert v2.get("labcore/lab-web/cpu.max") == "25000 100000"
    assert v2.get("labcore/lab-web/cpu.weight") == "300"
    assert v2.get("labcore/lab-web/memory.max") == str(64 << 20)
    assert v2.get("labcore/lab-web/memory.swap.max") == "0"
    assert v2.get("labcore/lab-web/memory.high") == str(48 << 20)
    assert v2.get("labcore/lab-web/pids.max") == "20"
    assert v2.get("labcore/lab-web/io.max") == "254:0 rbps=4194304 wbps=4194304"
    assert cg.read_limits() == L.Limits(cpus=0.25, cpu_weight=300, memory=64 << 20, memory_high=48 << 20, pids=20)
    assert records() == [("cgroup", str(v2.root / "labcore")), ("cgroup", str(v2.root / "labcore" / "lab-web"))]
    cg.remove()
    assert records() == [] and not (v2.root / "labcore").exists()


def test_v2_enables_a_missing_controller_at_the_root_and_takes_it_back(tmp_path, monkeypatch, state_dir):
    fs = FakeCgroupFS(tmp_path / "cg", "v2", enabled_at_root=("cpu", "memory", "pids")).install(monkeypatch)
    monkeypatch.setattr("labcore.cgroups.v2.CGROUP_ROOT", str(fs.root))
    cg = cgroups.create("lab-web", root=fs.root)
    assert fs.get("cgroup.subtree_control").split() == ["cpu", "memory", "pids", "io"]
    assert fs.get("labcore/cgroup.subtree_control").split() == ["cpu", "memory", "pids", "io"]
    rec = next(r for r in tracker.default().records() if r.kind == "cgroup-controller")
    assert rec.target == str(fs.root / "cgroup.subtree_control") and rec.extra == {"controller": "io"}
    cg.remove()
    assert fs.get("cgroup.subtree_control") == "-io" and records() == []  # what was written to disable it


def test_v2_controller_undo_refuses_anything_but_the_roots_four(state_dir):
    rec = tracker.default().add("cgroup-controller", "/sys/fs/cgroup/system.slice/cgroup.subtree_control",
                                controller="cpu")
    with pytest.raises(LabError, match="refusing to undo"):
        tracker.default().undo(rec)
    rec2 = tracker.default().add("cgroup-controller", "/sys/fs/cgroup/cgroup.subtree_control", controller="cpuset")
    with pytest.raises(LabError, match="refusing to undo"):
        tracker.default().undo(rec2)
    for r in (rec, rec2):
        tracker.default().forget(r)


def test_v2_stats_in_the_common_vocabulary(v2):
    cg = cgroups.create("lab-web", root=v2.root)
    v2.set("labcore/lab-web/cpu.stat", "usage_usec 2500000\nuser_usec 2400000\nsystem_usec 100000\n"
                                       "nr_periods 40\nnr_throttled 30\nthrottled_usec 2000000\n")
    v2.set("labcore/lab-web/memory.current", "1048576\n")
    v2.set("labcore/lab-web/memory.peak", "67108864\n")
    v2.set("labcore/lab-web/memory.events", "low 0\nhigh 12\nmax 115\noom 1\noom_kill 1\noom_group_kill 0\n")
    v2.set("labcore/lab-web/pids.current", "20\n")
    v2.set("labcore/lab-web/pids.events", "max 2096\n")
    v2.set("labcore/lab-web/io.stat", "254:0 rbytes=13631488 wbytes=4096 rios=52 wios=1 dbytes=0 dios=0\n"
                                      "7:0 rbytes=1000 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n")
    s = cg.stats()
    assert (s.cpu_usage_usec, s.cpu_periods, s.cpu_throttled_periods, s.cpu_throttled_usec) == \
        (2_500_000, 40, 30, 2_000_000)
    assert (s.memory_current, s.memory_peak, s.memory_failcnt, s.memory_high_events, s.oom_events, s.oom_kills) == \
        (1 << 20, 64 << 20, 115, 12, 1, 1)
    assert (s.pids_current, s.pids_max_events, s.io_read_bytes, s.io_write_bytes) == (20, 2096, 13632488, 4096)
    assert s.pids_peak == 0  # the fake has the file; a kernel without pids.peak gives None


def test_v2_live_changes_and_lifting_limits(v2):
    cg = cgroups.create("lab-web", root=v2.root, cpus=0.25, memory="64M", memory_high="48M", pids=20)
    cg.set(cpus="60%")
    assert v2.get("labcore/lab-web/cpu.max") == "60000 100000"
    cg.set(cpus="max", memory="max", memory_high="max", pids="max")
    assert [v2.get(f"labcore/lab-web/{f}") for f in ("cpu.max", "memory.max", "memory.swap.max", "memory.high",
                                                     "pids.max")] == ["max 100000", "max", "0", "max", "max"]


def test_v2_attach_and_kill_use_the_group_files(v2):
    cg = cgroups.create("lab-web", root=v2.root)
    cg.attach(4242)
    assert v2.get("labcore/lab-web/cgroup.procs") == "4242"
    v2.set("labcore/lab-web/cgroup.procs", "")
    cg.kill()
    assert v2.get("labcore/lab-web/cgroup.kill") == "1"


def test_a_limit_without_its_controller_is_refused_before_anything_is_made(tmp_path, monkeypatch, state_dir):
    fs = FakeCgroupFS(tmp_path / "cg", "v2", controllers=("cpu", "memory")).install(monkeypatch)
    with pytest.raises(UnsupportedError, match="'pids' needs the pids controller"):
        cgroups.create("lab-web", root=fs.root, pids=20)
    assert not (fs.root / "labcore").exists() and records() == []


# --- refusals: nothing made -------------------------------------------------------------------

@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("limits, words", [
    ({"memory": "64Q"}, "'64Q'"), ({"memory": "-5M"}, "'-5M'"), ({"pids": 0}, "pids 0"),
    ({"cpus": 0}, "cpus 0"), ({"cpus": os.cpu_count() + 1}, "CPU(s) present"), ({"cpu_weight": -1}, "weight -1"),
    ({"name": "a/b"}, "'a/b'"), ({"name": ".."}, "'..'"), ({"name": "x/../y"}, "'x/../y'")])
def test_bad_input_is_named_and_nothing_is_created(tmp_path, monkeypatch, state_dir, version, limits, words):
    fs = FakeCgroupFS(tmp_path / "cg", version).install(monkeypatch)
    before = sorted(str(p) for p in fs.root.rglob("*"))
    limits = dict(limits)
    name = limits.pop("name", "lab-web")
    with pytest.raises(InvalidInputError) as err:
        cgroups.create(name, root=fs.root, **limits)
    assert words in str(err.value)
    assert sorted(str(p) for p in fs.root.rglob("*")) == before and records() == []


def test_an_existing_group_is_refused_and_left_alone(v1):
    cg = cgroups.create("lab-web", root=v1.root)
    with pytest.raises(InvalidInputError, match="already exists"):
        cgroups.create("lab-web", root=v1.root)
    assert all(d.is_dir() for d in cg.directories())
    cg.remove()


def test_a_write_the_kernel_refuses_undoes_the_group(v2, monkeypatch):
    def refuse(path, value):
        raise LabError(f"cannot write {value!r} to {path}: Invalid argument")
    monkeypatch.setattr("labcore.cgroups.v2.write", refuse)
    with pytest.raises(LabError, match="Invalid argument"):
        cgroups.create("lab-web", root=v2.root, cpus=0.5)
    assert not (v2.root / "labcore").exists() and records() == []


def test_write_names_the_file_and_value(tmp_path):
    with pytest.raises(UnsupportedError, match="no such control file"):
        base.write(tmp_path / "cpu.max", "1 2")


# --- someone else's group: a view -------------------------------------------------------------

def test_proc_cgroup_is_parsed_for_both_versions():
    text = "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/x\n0::/user.slice\n"
    assert base.parse_proc_cgroup(text) == {"name=systemd": "/", "memory": "/process_api/abc", "cpu": "/x",
                                            "cpuacct": "/x", "": "/user.slice"}


def test_a_view_of_a_group_we_did_not_make_cannot_be_changed(v2):
    view = cgroups.V2Cgroup("/", v2.root, {"cpu": v2.root}, owned=False)
    with pytest.raises(LabError, match="not made by the lab"):
        view.set(cpus=0.5)
    # Even holding the records of a real group, a view removes nothing: removal is the owner's.
    cg = cgroups.create("lab-viewed", root=v2.root, pids=5)
    other = cgroups.V2Cgroup(cg.name, v2.root, dict(cg.paths), owned=False)
    other._records = list(cg._records)
    other.remove()
    assert all(p.is_dir() for p in cg.paths.values()) and v2.root.is_dir()
    cg.remove()
    assert not any(p.exists() for p in cg.paths.values())


# --- the doctor's cgroup features -------------------------------------------------------------

@pytest.fixture
def as_root(monkeypatch):
    from labcore import check as host
    monkeypatch.setattr(host, "check_root", lambda: host.Check("root", True, "uid 0"))


def test_cgroup_limits_feature_names_what_is_missing(tmp_path, as_root):
    from labcore.cgroups import checks
    ok = checks.check_limits(FakeCgroupFS(tmp_path / "a", "v2").root)
    assert ok.ok and ok.detail == "cgroup v2 with cpu, memory, pids, io"
    partial = checks.check_limits(FakeCgroupFS(tmp_path / "b", "v2", controllers=("cpu",)).root)
    assert not partial.ok and "lacks the memory, pids controller(s)" in partial.detail and partial.fix
    (tmp_path / "none").mkdir()
    assert "no cgroup filesystem" in checks.check_limits(tmp_path / "none").detail


def test_cgroup_features_need_root(tmp_path, monkeypatch):
    from labcore import doctor
    from labcore.cgroups import checks
    from labcore import check as host
    monkeypatch.setattr(host, "check_root", lambda: host.Check("root", False, "uid 65534", "run as root"))
    check = checks.check_io(FakeCgroupFS(tmp_path / "a", "v2").root)
    assert not check.ok and "needs root" in check.detail and check.fix == "run as root"
    doctor._feature.cache_clear()
    try:  # the doctor answers for both names, with the cgroups package's reason
        assert not doctor.has("cgroup_limits") and "needs root" in doctor.why_not("cgroup_limits")
        assert not doctor.has("cgroup_io")
    finally:
        doctor._feature.cache_clear()
