"""Limits in human units: what is accepted, what it means in kernel units, and what is refused."""

import pytest

from labcore import InvalidInputError
from labcore.cgroups import limits as L


@pytest.fixture
def fake_disks(tmp_path, monkeypatch):
    """A /sys/dev/block with the disk vda (254:0) and its partition vda1 (254:1)."""
    disk = tmp_path / "devices" / "virtual" / "block" / "vda"
    (disk / "vda1").mkdir(parents=True)
    (disk / "dev").write_text("254:0\n")
    (disk / "vda1" / "dev").write_text("254:1\n")
    (disk / "vda1" / "partition").write_text("1\n")
    links = tmp_path / "dev-block"
    links.mkdir()
    (links / "254:0").symlink_to(disk)
    (links / "254:1").symlink_to(disk / "vda1")
    monkeypatch.setattr(L, "SYS_BLOCK", str(links))
    return links


@pytest.mark.parametrize("given, cpus", [(0.25, 0.25), ("0.25", 0.25), ("25%", 0.25), ("150%", 1.5),
                                         (1, 1.0), ("0.01", 0.01), ("max", None), (None, None)])
def test_cpus_in_every_spelling(given, cpus):
    assert L.parse_cpus(given, cpus_present=2) == cpus


@pytest.mark.parametrize("given, words", [(0, "more than zero"), ("-0.5", "more than zero"), ("0%", "more than zero"),
                                          ("3", "more than the 2 CPU(s)"), ("250%", "more than the 2 CPU(s)"),
                                          ("0.001", "minimum quota"), ("fast", "not a number"), (True, "not a number"),
                                          ("nan", "not a finite")])
def test_bad_cpus_are_named(given, words):
    with pytest.raises(InvalidInputError) as err:
        L.parse_cpus(given, cpus_present=2)
    assert words in str(err.value) and repr(given) in str(err.value)


@pytest.mark.parametrize("given, size", [("64M", 64 << 20), ("64MiB", 64 << 20), ("64mb", 64 << 20), ("1.5G", 3 << 29),
                                         ("512K", 512 << 10), (4096, 4096), ("4096", 4096), ("100B", 100),
                                         ("max", None)])
def test_sizes_are_binary(given, size):
    assert L.parse_bytes(given) == size


@pytest.mark.parametrize("given, words", [("64Q", "unknown unit 'Q'"), ("-5M", "more than zero"), ("0", "more than zero"),
                                          (0, "more than zero"), ("M64", "not a size"), ("", "not a size"),
                                          (False, "not a size")])
def test_bad_sizes_are_named(given, words):
    with pytest.raises(InvalidInputError) as err:
        L.parse_bytes(given)
    assert words in str(err.value) and repr(given) in str(err.value)


def test_memory_limits_have_a_floor_and_a_ceiling(monkeypatch):
    monkeypatch.setattr(L, "ram_bytes", lambda *a, **k: 1 << 30)
    assert L.parse_memory("64M") == 64 << 20
    with pytest.raises(InvalidInputError, match="below the minimum of 6M"):
        L.parse_memory("1M")
    with pytest.raises(InvalidInputError, match="more than this machine's 1024 MiB"):
        L.parse_memory("2G")


@pytest.mark.parametrize("given, ok", [(1, True), (100, True), ("10000", True), (0, False), (10001, False),
                                       (-3, False), ("1.5", False), ("heavy", False)])
def test_weight_range(given, ok):
    if ok:
        assert L.parse_weight(given) == int(given)
    else:
        with pytest.raises(InvalidInputError, match=repr(given).replace("(", r"\(")):
            L.parse_weight(given)


@pytest.mark.parametrize("given, ok", [(20, True), ("20", True), ("max", True), (0, False), (-1, False),
                                       ("lots", False), (10**9, False)])
def test_pids(given, ok):
    if ok:
        assert L.parse_pids(given) == (None if given == "max" else int(given))
    else:
        with pytest.raises(InvalidInputError):
            L.parse_pids(given)


@pytest.mark.parametrize("name", ["a/b", "..", "../x", "x/..", "a..b", "", "-lead", "sp ace", "x" * 65, 7])
def test_bad_cgroup_names(name):
    with pytest.raises(InvalidInputError) as err:
        L.check_name(name)
    assert repr(name) in str(err.value)


def test_good_cgroup_names():
    for name in ("lab-web", "web.1", "A_b-c", "x" * 64):
        assert L.check_name(name) == name


def test_devices_and_rates(fake_disks):
    device, rate = L.parse_rate("254:0:4M")
    assert (str(device), device.name, rate) == ("254:0", "vda", 4 << 20)
    device, rate = L.parse_rate("254:1:1M/s")  # a partition is throttled through its disk
    assert (str(device), device.name, rate) == ("254:0", "vda", 1 << 20)
    assert L.parse_rate("254:0:max")[1] is None
    assert L.parse_rate((device, "2M")) == (device, 2 << 20)


@pytest.mark.parametrize("spec, words", [("nodevice", "not DEVICE:RATE"), ("/dev/lab-nope:4M", "does not exist"),
                                         ("9:9:4M", "not a block device of this machine"),
                                         ("254:0:4Q", "'254:0:4Q': rate '4Q' has an unknown unit 'Q'"),
                                         ("254:0:-1M", "more than zero")])
def test_bad_rates(fake_disks, spec, words):
    with pytest.raises(InvalidInputError) as err:
        L.parse_rate(spec)
    assert words in str(err.value)


def test_parse_collects_every_limit(fake_disks):
    got = L.parse(cpus="25%", cpu_weight=300, memory="64M", memory_high="48M", pids=20, io_bps="254:0:4M")
    assert got.cpus == 0.25 and got.cpu_weight == 300 and got.memory == 64 << 20 and got.memory_high == 48 << 20
    assert got.pids == 20 and got.io_read_bps == got.io_write_bps == ((L.Device(254, 0, "vda"), 4 << 20),)
    assert str(got) == ("cpus 0.25, cpu weight 300, memory 64 MiB, memory high 48 MiB, pids 20, "
                        "io read vda 4 MiB/s, io write vda 4 MiB/s")
    assert str(L.parse()) == "no limits"


def test_parse_refuses_high_above_max_and_unknown_limits():
    with pytest.raises(InvalidInputError, match="above the memory limit"):
        L.parse(memory="32M", memory_high="64M")
    with pytest.raises(InvalidInputError, match="unknown limit 'cpu'"):
        L.parse(cpu=1)


def test_changes_keep_only_what_was_named():
    assert L.parse_changes(cpus="max") == {"cpus": None}
    assert L.parse_changes(pids=5, memory="max") == {"pids": 5, "memory": None}


def test_human_bytes():
    assert [L.human_bytes(n) for n in (100, 2048, 64 << 20, 3 << 29, None)] == \
        ["100 B", "2 KiB", "64 MiB", "1.5 GiB", "unlimited"]


@pytest.mark.parametrize("parser, given", [
    (L.parse_bytes, "1e400"), (L.parse_memory, "1e400"), (L.parse_bytes, "9" * 400 + "M"),
    (L.parse_bytes, float("inf")), (L.parse_bytes, float("nan")), (L.parse_bytes, 1e400),
    (L.parse_cpus, "nan"), (L.parse_cpus, "1e400"), (L.parse_cpus, float("nan")),
    (L.parse_pids, "1e9"), (L.parse_pids, "9" * 5000), (L.parse_pids, 1e9),
    (L.parse_weight, "9" * 5000), (L.parse_weight, "1e3"),
])
def test_absurd_numbers_are_named_with_a_fix(parser, given):
    """Overflowing, infinite, NaN and 5000-digit values: an InvalidInputError, never OverflowError or ValueError."""
    with pytest.raises(InvalidInputError) as err:
        parser(given)
    shown = repr(given) if len(repr(given)) <= 40 else repr(given)[:20]
    assert shown in err.value.what and err.value.fix


def test_an_absurd_rate_is_named(fake_disks):
    with pytest.raises(InvalidInputError, match="254:0:1e400") as err:
        L.parse_rate("254:0:1e400")
    assert err.value.fix
