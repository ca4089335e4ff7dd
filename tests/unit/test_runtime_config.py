"""labcore.runtime without root: config.json checks name the field, the default spec, state JSON, options."""

import json
import os
from pathlib import Path

import pytest

from labcore.errors import InvalidInputError
from labcore.runtime import cgroups, config, container, rootfs, spec, state
from labcore.kernel import flags as F


@pytest.fixture
def bundle(tmp_path):
    (tmp_path / "rootfs").mkdir()
    return tmp_path


def check(bundle, **changes):
    cfg = spec.default()
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        where = cfg
        for part in path:
            where = where[part]
        where[last] = value
    return config.check(json.loads(json.dumps(cfg)), str(bundle))


def test_default_spec_is_valid_and_root_is_made_absolute(bundle):
    cfg = check(bundle)
    assert cfg["root"]["path"] == str(bundle / "rootfs")
    assert [ns["type"] for ns in cfg["linux"]["namespaces"]] == ["pid", "network", "ipc", "uts", "mount"]


@pytest.mark.parametrize("change, field", [
    ({"process__args": "sh"}, "process.args"),
    ({"process__cwd": "relative"}, "process.cwd"),
    ({"process__user": {"uid": "0"}}, "process.user.uid"),
    ({"hostname": 5}, "hostname"),
    ({"root__readonly": "yes"}, "root.readonly"),
    ({"root__path": "missing"}, "root.path"),
    ({"linux__namespaces": [{"type": "pid"}, {"type": "bogus"}]}, "linux.namespaces[1].type"),
    ({"linux__namespaces": [{"type": "pid"}, {"type": "pid"}]}, "linux.namespaces[1].type"),
    ({"linux__namespaces": [{"type": "net"}]}, "linux.namespaces[0].type"),
    ({"linux__namespaces": [{"type": "network", "path": "/proc/none/ns/net"}]}, "linux.namespaces[0].path"),
    ({"linux__uidMappings": [{"containerID": 0, "hostID": 1000}]}, "linux.uidMappings[0].size"),
    ({"linux__sysctl": {"net.ipv4.ip_forward": 1}}, "linux.sysctl.net.ipv4.ip_forward"),
    ({"linux__devices": [{"path": "/dev/x", "type": "q"}]}, "linux.devices[0].type"),
    ({"mounts": [{"destination": "proc"}]}, "mounts[0].destination"),
    ({"process__rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1}]}, "process.rlimits[0].hard"),
    ({"hooks": {"prestart": [{"args": ["x"]}]}}, "hooks.prestart[0].path"),
    ({"linux__rootfsPropagation": "sideways"}, "linux.rootfsPropagation"),
])
def test_bad_field_is_named(bundle, change, field):
    with pytest.raises(InvalidInputError) as err:
        check(bundle, **change)
    assert f"config.json: {field} " in err.value.what
    assert err.value.fix


def test_uid_mappings_need_a_user_namespace(bundle):
    with pytest.raises(InvalidInputError, match="needs a user namespace"):
        check(bundle, linux__uidMappings=[{"containerID": 0, "hostID": 1000, "size": 10}])


def test_missing_config_and_bad_json(tmp_path):
    with pytest.raises(InvalidInputError, match="config.json.*does not exist"):
        config.load(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        config.load(str(tmp_path))
    (tmp_path / "config.json").write_text("[]")
    with pytest.raises(InvalidInputError, match="must be a JSON object"):
        config.load(str(tmp_path))


def test_spec_write_refuses_to_overwrite(tmp_path):
    path = spec.write(str(tmp_path))
    assert json.loads(open(path).read())["process"]["args"] == ["sh"]
    with pytest.raises(InvalidInputError, match="exists already"):
        spec.write(str(tmp_path))


def test_spec_in_a_missing_bundle_says_to_make_it(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist") as err:
        spec.write(str(tmp_path / "nope"))
    assert "mkdir -p" in err.value.fix and not (tmp_path / "nope").exists()


def test_state_json_follows_the_schema(tmp_path):
    c = state.Container(tmp_path, "box1")
    c.dir.mkdir()
    c.data = {"id": "box1", "bundle": "/b", "pid": os.getpid(), "start_time": state.process_start_time(os.getpid()),
              "status": "created", "annotations": {"a": "b"}}
    c.save()
    os.mkfifo(c.fifo)
    loaded = state.Container(tmp_path, "box1").load()
    assert loaded.state() == {"ociVersion": state.OCI_VERSION, "id": "box1", "status": "created", "pid": os.getpid(),
                              "bundle": "/b", "annotations": {"a": "b"}}
    c.fifo.unlink()
    assert loaded.status() == "running"  # alive, the fifo gone: start has let it exec
    loaded.data["start_time"] += 1        # the same PID but another process: ours has stopped
    assert loaded.state()["status"] == "stopped" and loaded.state()["pid"] == 0
    schema_file = Path(__file__).resolve().parents[3] / "shared/third-party/runtime-tools/schema/state-schema.json"
    if schema_file.exists():  # the runtime spec's own schema, where ../shared is there
        schema = json.loads(schema_file.read_text())
        assert set(schema["required"]) <= set(loaded.state())
        assert set(schema["properties"]["status"]["enum"]) == set(state.STATUSES)


@pytest.mark.parametrize("cid", ["", "../x", "a/b", ".hidden", "x" * 200])
def test_bad_container_id(tmp_path, cid):
    with pytest.raises(InvalidInputError, match="container id"):
        state.Container(tmp_path, cid)


def test_unknown_container(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        container.load(tmp_path, "nothere")


@pytest.mark.parametrize("text, number", [("TERM", 15), ("SIGKILL", 9), ("9", 9), ("usr1", 10)])
def test_signal_names_and_numbers(text, number):
    assert container._signal_number(text) == number


def test_unknown_signal():
    with pytest.raises(InvalidInputError, match="unknown signal"):
        container._signal_number("SIGNOPE")


def test_mount_options_split_into_flags_propagation_and_data():
    flags, prop, data = rootfs.parse_options(["nosuid", "ro", "rw", "noexec", "rslave", "mode=755", "size=64k"])
    assert flags == F.MS_NOSUID | F.MS_NOEXEC
    assert prop == [F.MS_SLAVE | F.MS_REC]
    assert data == "mode=755,size=64k"


def test_inside_never_leaves_the_root(tmp_path):
    (tmp_path / "etc").mkdir()
    os.symlink("/../../host", tmp_path / "etc" / "escape")
    os.symlink("../..", tmp_path / "up")
    assert rootfs.inside(str(tmp_path), "/../../x") == str(tmp_path / "x")
    assert rootfs.inside(str(tmp_path), "/etc/escape/y") == str(tmp_path / "host" / "y")
    assert rootfs.inside(str(tmp_path), "/up/z") == str(tmp_path / "z")


def test_resources_become_v1_and_v2_files(tmp_path):
    res = {"cpu": {"quota": 25000, "period": 100000, "shares": 512}, "memory": {"limit": 64 << 20},
           "pids": {"limit": 20}}
    cpu, mem, v2 = tmp_path / "cpu", tmp_path / "memory", tmp_path / "unified"
    for d, files in ((cpu, ["cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares"]),
                     (mem, ["memory.limit_in_bytes"]), (v2, ["cpu.max", "cpu.weight", "memory.max", "pids.max"])):
        d.mkdir()
        for f in files:
            (d / f).write_text("")
    cgroups.apply({"cpu,cpuacct": cpu, "memory": mem, "": v2}, res)
    assert (cpu / "cpu.cfs_quota_us").read_text() == "25000" and (cpu / "cpu.shares").read_text() == "512"
    assert (mem / "memory.limit_in_bytes").read_text() == str(64 << 20)
    assert (v2 / "cpu.max").read_text() == "25000 100000"
    assert (v2 / "memory.max").read_text() == str(64 << 20) and (v2 / "pids.max").read_text() == "20"
    assert 1 <= int((v2 / "cpu.weight").read_text()) <= 10000


def test_inside_refuses_a_symlink_loop(tmp_path):
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    with pytest.raises(OSError, match="symbolic links"):
        rootfs.inside(str(tmp_path), "/a/x")
