"""labcore.security without root: the lab's default seccomp profile against Docker's, capability
sets and masks, profile parsing, the run options, and the order apply() makes its calls in."""

import argparse
import json
from pathlib import Path

import pytest

from labcore.errors import InvalidInputError
from labcore.kernel import caps as kcaps
from labcore.kernel.fake import RecordingKernel
from labcore.security import capabilities, command, policy, seccomp

DOCKER = Path(__file__).resolve().parents[3] / "shared" / "third-party" / "moby-profiles" / "seccomp-default.json"


def test_docker_default_capabilities_are_the_mask_docker_shows():
    assert len(capabilities.DOCKER_DEFAULT) == 14
    assert kcaps.mask(capabilities.DOCKER_DEFAULT) == 0xA80425FB  # CapEff of a `docker run` container
    assert kcaps.names(0xA80425FB) == set(capabilities.DOCKER_DEFAULT)


def test_capability_names_are_the_kernels_and_bad_ones_are_refused():
    assert capabilities.canonical("net_raw") == capabilities.canonical("CAP_NET_RAW") == "CAP_NET_RAW"
    assert kcaps.number("SYS_ADMIN") == 21
    with pytest.raises(InvalidInputError, match="NET_RAWR"):
        capabilities.canonical("NET_RAWR")


def test_cap_add_and_drop_change_the_default_set():
    base = capabilities.docker_default()
    dropped = capabilities.adjust(base, drop=["NET_RAW"])
    assert "CAP_NET_RAW" not in dropped.effective and len(dropped.effective) == 13
    assert dropped.bounding == dropped.effective == dropped.permitted
    added = capabilities.adjust(base, add=["sys_admin"])
    assert "CAP_SYS_ADMIN" in added.bounding
    assert capabilities.adjust(base, drop=["ALL"]).effective == frozenset()
    # a non-root --user keeps the bounding set and holds nothing, as in Docker
    user = base.for_user(1000)
    assert user.bounding == base.bounding and not user.effective and not user.permitted


def _verdicts(profile):
    return seccomp.verdicts(profile.resolve(set(capabilities.DOCKER_DEFAULT), "amd64", (6, 18)))


def _conditions(profile, name):
    rules = profile.resolve(set(capabilities.DOCKER_DEFAULT), "amd64", (6, 18))
    return sorted((r.action, r.errno_ret, r.args) for r in rules if name in r.names)


@pytest.mark.needs("docker_profile")  # ../shared/third-party: absent from a learner's clone
def test_the_labs_default_profile_matches_dockers_for_x86_64_and_the_default_capabilities():
    docker = seccomp.Profile.from_json(DOCKER)
    lab = seccomp.load_default()
    mine, theirs = _verdicts(lab), _verdicts(docker)
    differences = {n: (mine.get(n, "deny"), theirs.get(n, "deny")) for n in set(mine) | set(theirs)
                   if mine.get(n, "deny") != theirs.get(n, "deny")}
    assert differences == {}, f"the lab's verdict differs from Docker's (lab, docker): {differences}"
    assert "mount" not in theirs and theirs["read"] == "allow"  # the oracle says what we think it says
    # calls allowed only for some arguments: the same conditions and answers
    for name in [n for n, v in theirs.items() if v not in ("allow", "deny")]:
        assert _conditions(lab, name) == _conditions(docker, name), name


def test_with_cap_sys_admin_the_namespace_calls_open_up():
    lab = seccomp.load_default()
    with_admin = seccomp.verdicts(lab.resolve(set(capabilities.DOCKER_DEFAULT) | {"CAP_SYS_ADMIN"}, "amd64", (6, 18)))
    assert with_admin["mount"] == with_admin["unshare"] == with_admin["clone"] == "allow"
    default = _verdicts(lab)
    assert "mount" not in default and default["clone"] == "conditional" and default["clone3"] == "errno 38"


def test_unknown_syscall_names_are_skipped_and_reported():
    profile = seccomp.Profile.from_json({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getpid", "no_such_call_xyz"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]})
    compiled = seccomp.compile(profile, set())
    assert compiled.skipped == ["no_such_call_xyz"] and compiled.rules == 1
    assert len(compiled.bpf) % 8 == 0 and compiled.bpf == compiled.filter.bpf()  # one BPF program, 8 bytes an instruction


def test_a_profile_is_compiled_once_per_capability_set_and_the_init_loads_its_program():
    rules = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["reboot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_BOOT"]}}]}
    first = seccomp.compile(seccomp.Profile.from_json(rules, "one file"), set())
    again = seccomp.compile(seccomp.Profile.from_json(rules, "another file"), set())
    assert again.bpf is first.bpf and again.profile.source == "another file"  # not generated a second time
    booting = seccomp.compile(seccomp.Profile.from_json(rules), {"CAP_SYS_BOOT"})
    assert booting.rules == 0 and booting.bpf != first.bpf  # other capabilities, other rules, another program
    k = RecordingKernel()
    k.caps = (0, (1 << 41) - 1, 0)
    pol = policy.Policy(capabilities.docker_default(), False, seccomp.Profile.from_json(rules), (), ())
    policy.apply(policy.prepare(pol, mounts=False), k)
    assert k.args("load_seccomp") == [(len(first.bpf) // 8,)]


@pytest.fixture
def programs(tmp_path, monkeypatch):
    """A directory of shared programs, and this process's own cache emptied (another process, in effect)."""
    d = tmp_path / "programs"
    d.mkdir(mode=0o700)
    monkeypatch.setattr(seccomp, "_compiled", {})
    seccomp.keep_programs_in(d)
    yield d
    seccomp.keep_programs_in(None)


def test_programs_kept_in_a_directory_are_loaded_by_the_next_process_without_compiling(programs, monkeypatch):
    rules = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getpid", "no_such_call_xyz"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {"names": ["reboot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_BOOT"]}}]}
    first = seccomp.compile(seccomp.Profile.from_json(rules, "one file"), set())
    assert len(list(programs.iterdir())) == 1  # written as it was compiled
    monkeypatch.setattr(seccomp, "_compiled", {})  # a new process...

    def no(*a):
        raise AssertionError("compiled again")
    monkeypatch.setattr(seccomp, "_compile", no)  # ...that must not compile
    again = seccomp.compile(seccomp.Profile.from_json(rules, "another file"), set())
    assert (again.bpf, again.rules, again.skipped) == (first.bpf, 2, ["no_such_call_xyz"])
    assert again.filter is None and again.profile.source == "another file"
    with pytest.raises(AssertionError, match="compiled again"):  # other rules resolved: another program
        seccomp.compile(seccomp.Profile.from_json(rules), {"CAP_SYS_BOOT"})


def test_kept_programs_are_ignored_where_others_could_have_written_them(programs, monkeypatch):
    rules = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_KILL"}]}
    first = seccomp.compile(seccomp.Profile.from_json(rules), set())
    (kept,) = programs.iterdir()
    compiled = []
    real = seccomp._compile
    monkeypatch.setattr(seccomp, "_compile", lambda *a: compiled.append(1) or real(*a))
    for spoil in (lambda: programs.chmod(0o777), lambda: kept.write_text("{not json")):
        monkeypatch.setattr(seccomp, "_compiled", {})
        spoil()
        assert seccomp.compile(seccomp.Profile.from_json(rules), set()).bpf == first.bpf
        programs.chmod(0o700)
    assert len(compiled) == 2  # compiled each time, and written again
    assert json.loads(kept.read_text())["rules"] == 1


@pytest.mark.parametrize("bad, what", [
    ({"defaultAction": "SCMP_ACT_MAYBE"}, "defaultAction"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}, "no names"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "ALLOW"}]}, "action"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "argument condition"),
])
def test_bad_profiles_are_refused_with_what_is_wrong(bad, what):
    with pytest.raises(InvalidInputError, match=what):
        seccomp.Profile.from_json(bad)


def test_an_unreadable_profile_file_names_the_file(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("{not json")
    with pytest.raises(InvalidInputError, match="p.json"):
        seccomp.Profile.from_json(str(path))


def test_policy_maps_an_oci_config_field_by_field():
    config = {"process": {"capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                                           "permitted": ["CAP_KILL"]},
                          "noNewPrivileges": True, "user": {"uid": 5, "gid": 6, "additionalGids": [7]}},
              "root": {"readonly": True},
              "linux": {"maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"],
                        "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                                    "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO"}]}}}
    pol = policy.Policy.from_oci(config)
    assert pol.capabilities.effective == {"CAP_KILL"} and pol.capabilities.ambient == frozenset()
    assert pol.no_new_privileges and pol.readonly_rootfs and pol.user == (5, 6, (7,))
    assert pol.masked_paths == ("/proc/kcore",) and pol.readonly_paths == ("/proc/sys",)
    assert pol.seccomp.rules[0].names == ("mount",) and pol.seccomp.default_action == "SCMP_ACT_ALLOW"
    assert policy.Policy.from_oci({}).seccomp is None


def _options(*argv):
    p = argparse.ArgumentParser()
    command.add_arguments(p)
    return command.policy(p.parse_args(list(argv)))


def test_run_options_build_the_policy_docker_would():
    default = _options()
    assert default.capabilities.effective == set(capabilities.DOCKER_DEFAULT) and default.seccomp is not None
    assert "/proc/kcore" in default.masked_paths and "/proc/sys" in default.readonly_paths
    priv = _options("--privileged")
    assert priv.seccomp is None and not priv.masked_paths and "CAP_SYS_ADMIN" in priv.capabilities.effective
    assert _options("--security-opt", "seccomp=unconfined").seccomp is None
    assert _options("--security-opt", "no-new-privileges").no_new_privileges
    assert _options("--user", "1000:50").user == (1000, 50, ())
    assert "CAP_NET_RAW" not in _options("--cap-drop", "NET_RAW").capabilities.bounding


@pytest.mark.parametrize("argv, what", [(["--user", "bob"], "bob"), (["--security-opt", "apparmor=x"], "apparmor"),
                                        (["--cap-add", "FLY"], "FLY"),
                                        (["--security-opt", "seccomp=/nonexistent.json"], "nonexistent")])
def test_bad_run_options_are_refused(argv, what):
    with pytest.raises(InvalidInputError, match=what):
        _options(*argv)


def test_apply_drops_capabilities_after_the_mounts_and_before_no_new_privs():
    k = RecordingKernel()
    k.caps = (0, (1 << 41) - 1, 0)  # what capget answers: every capability permitted
    pol = policy.Policy(capabilities.docker_default(), True, None, ("/proc/kcore",), ("/proc/sys",))
    prep = policy.prepare(pol, mounts=True)
    policy.apply(prep, k)
    names = k.names()
    assert names.index("mount") < names.index("capset") < max(i for i, n in enumerate(names) if n == "prctl")
    assert k.caps[0] == 0xA80425FB  # effective, after capset
    assert ("prctl", 38, 1, 0, 0, 0) in [("prctl", *a) for a in k.args("prctl")]  # PR_SET_NO_NEW_PRIVS
    # without a mount namespace of its own, nothing is mounted (it would be the host's)
    k2 = RecordingKernel()
    policy.apply(policy.prepare(pol, mounts=False), k2)
    assert "mount" not in k2.names()
