"""The leak check's comparison: the lab's leftovers fail the run, a busy host's churn does not.

Pure: two hand-made snapshots, as leakcheck.snapshot() writes them."""

import copy

import pytest

import leakcheck

RUN = "0::/user.slice/user-0.slice/session-3.scope | 4:memory:/user.slice"
HOST = "0::/ | 4:memory:/"


def shot(**items):
    base = {name: [] for name in leakcheck.PROBES}
    base["cgroups"] = ["/sys/fs/cgroup/system.slice", "/sys/fs/cgroup/system.slice/ssh.service",
                       "/sys/fs/cgroup/user.slice"]
    base["mounts"] = ["/ ext4 /dev/vda", "/sys/fs/cgroup cgroup2 cgroup2"]
    base["links"] = ["eth0", "lo"]
    base["hostname"] = ["hostname vm", "domainname (none)"]
    base["cgroup v2 root controllers"] = ["/sys/fs/cgroup: cpu io memory pids"]
    base["new files in the lab's cache"] = ["vm/vmlinuz-6.1.0-50-cloud-amd64"]
    base[leakcheck.RUN_CGROUP] = [RUN]
    for key, value in items.items():
        base[key.replace("_", " ")] = value
    return base


def changed(before, **after):
    later = copy.deepcopy(before)
    for key, edit in after.items():
        name = {"cache": "new files in the lab's cache", "var_tmp": "files in /var/tmp",
                "processes": "processes in other namespaces", "controllers": "cgroup v2 root controllers",
                "firewall": "firewall rules"}.get(key, key.replace("_", " "))
        later[name] = edit(later[name])
    return leakcheck.compare(before, later)


def plus(*items):
    return lambda old: old + list(items)


def minus(*items):
    return lambda old: [i for i in old if i not in items]


def test_the_same_host_compares_equal():
    assert leakcheck.compare(shot(), shot()) == []


def test_a_leaked_lab_cgroup_is_caught():
    diff = changed(shot(), cgroups=plus("/sys/fs/cgroup/labcore", "/sys/fs/cgroup/labcore/box-1"))
    assert diff == ["cgroups: left behind: /sys/fs/cgroup/labcore",
                    "cgroups: left behind: /sys/fs/cgroup/labcore/box-1"]
    v1 = changed(shot(), cgroups=plus("/sys/fs/cgroup/memory/labcore/lab-x"))
    assert v1 == ["cgroups: left behind: /sys/fs/cgroup/memory/labcore/lab-x"]


def test_a_lab_cgroup_removed_is_caught():
    before = shot(cgroups=shot()["cgroups"] + ["/sys/fs/cgroup/labcore"])
    assert changed(before, cgroups=minus("/sys/fs/cgroup/labcore")) == [
        "cgroups: gone since before: /sys/fs/cgroup/labcore"]


def test_a_systemd_scope_coming_and_going_is_not_a_leak():
    before = shot(cgroups=shot()["cgroups"] + ["/sys/fs/cgroup/system.slice/run-r1a2.scope"])
    scope = "/sys/fs/cgroup/user.slice/user-1000.slice/session-7.scope"
    diff = changed(before, cgroups=lambda old: [c for c in old if "run-r1a2" not in c] + [scope])
    assert diff == []
    assert changed(shot(), cgroups=plus("/sys/fs/cgroup/memory/process_api/4800f4bc")) == []


def test_a_docker_container_starting_is_not_a_leak():
    container = "0::/system.slice/docker-5d1e.scope | 4:memory:/system.slice/docker-5d1e.scope"
    diff = changed(
        shot(),
        mounts=plus("/var/lib/docker/overlay2/ab12/merged overlay overlay", "/run/docker/netns/1f2e nsfs nsfs"),
        links=plus("veth3c2a1b0"),
        firewall=plus("iptables-nft-save: -A DOCKER -d 172.17.0.2/32 -p tcp -j ACCEPT"),
        processes=plus(f"pid 4242 (nginx) started at tick 99 in cgroup {container}"),
        cgroups=plus("/sys/fs/cgroup/system.slice/docker-5d1e.scope"))
    assert diff == []


def test_a_sandboxed_service_restarting_is_not_a_leak():
    service = "0::/system.slice/systemd-timesyncd.service | 4:memory:/system.slice"
    assert changed(shot(), processes=plus(f"pid 77 (systemd-timesyn) started at tick 5 in cgroup {service}")) == []


def test_a_process_the_run_left_in_its_own_namespaces_is_caught():
    mine = f"pid 900 (sleep) started at tick 12 in cgroup {RUN}"
    child = "pid 901 (sh) started at tick 13 in cgroup 0::/user.slice/user-0.slice/session-3.scope/x | 4:memory:/user.slice"
    moved = f"pid 902 (sleep) started at tick 14 in cgroup 0::/labcore/box | 4:memory:/labcore/box"
    assert changed(shot(), processes=plus(mine, child, moved)) == [
        f"processes in other namespaces: left behind: {p}" for p in sorted([mine, child, moved])]
    old_format = "pid 903 (sleep) started at tick 15"
    assert changed(shot(), processes=plus(old_format)) != []


def test_lab_mounts_are_caught_wherever_they_are():
    diff = changed(shot(), mounts=plus("/tmp/pytest-of-root/t0/merged overlay overlay",
                                       "/run/user/0/lab-box tmpfs lab-tmpfs"))
    assert diff == ["mounts: left behind: /run/user/0/lab-box tmpfs lab-tmpfs",
                    "mounts: left behind: /tmp/pytest-of-root/t0/merged overlay overlay"]
    assert changed(shot(), mounts=plus("/run/user/1000 tmpfs tmpfs")) == []   # a login


def test_lab_links_rules_and_netns_are_caught():
    diff = changed(shot(), links=plus("lab-br0", "lab-veth0"), network_namespaces=plus("lab-a"),
                   firewall=plus("nft: table ip lab-nat {"))
    assert len(diff) == 4


def test_controllers_hostname_var_tmp_and_cache_are_watched():
    assert changed(shot(), controllers=lambda old: ["/sys/fs/cgroup: cpu cpuset io memory pids"]) == [
        "cgroup v2 root controllers: left behind: /sys/fs/cgroup: cpu cpuset io memory pids",
        "cgroup v2 root controllers: gone since before: /sys/fs/cgroup: cpu io memory pids"]
    assert changed(shot(), hostname=lambda old: ["hostname box", old[1]])[0] == "hostname: left behind: hostname box"
    assert changed(shot(), var_tmp=plus("/var/tmp/lab-rootfs-1")) == [
        "files in /var/tmp: left behind: /var/tmp/lab-rootfs-1"]
    before = shot()
    before["files in /var/tmp"] = ["/var/tmp/labcore", "/var/tmp/labcore/layers"]
    assert changed(before, var_tmp=minus("/var/tmp/labcore/layers")) == [
        "files in /var/tmp: gone since before: /var/tmp/labcore/layers"]
    assert changed(shot(), cache=plus("test-vm/lab-test-vm-disk-7.img")) == [
        "new files in the lab's cache: left behind: test-vm/lab-test-vm-disk-7.img"]
    assert changed(shot(), cache=lambda old: []) == []   # a cache may be pruned


@pytest.mark.parametrize("item, lab", [("/sys/fs/cgroup/labcore/x", True), ("lab-br0", True),
                                       ("/tmp/pytest/lab-mnt tmpfs tmpfs", True),
                                       ("/sys/fs/cgroup/system.slice/flab-x.service", False),
                                       ("/sys/fs/cgroup/system.slice", False)])
def test_the_lab_names(item, lab):
    assert leakcheck.is_lab(item) is lab


def test_a_real_snapshot_has_every_probe_and_compares_equal_to_itself():
    now = leakcheck.snapshot()
    assert set(leakcheck.PROBES) <= set(now) and now[leakcheck.RUN_CGROUP][0]
    assert leakcheck.compare(now, now) == []


def test_the_data_directory_itself_may_appear_but_not_what_it_holds(tmp_path, monkeypatch):
    import leakcheck
    monkeypatch.setattr(leakcheck, "VAR_TMP", tmp_path)
    assert leakcheck.var_tmp_files() == []
    (tmp_path / "labcore").mkdir()  # made on first use, and kept, like /run/labcore
    assert leakcheck.var_tmp_files() == []
    (tmp_path / "labcore" / "lab-web-12345678").mkdir()
    assert leakcheck.var_tmp_files() == [str(tmp_path / "labcore" / "lab-web-12345678")]
