"""A mount of type ``cgroup`` (Docker's /sys/fs/cgroup): the container sees its own cgroups, read-only."""

import json
import subprocess
import sys

import pytest

from labcore import images, tracker
from labcore.runtime import cgroups

pytestmark = pytest.mark.needs("root")

RUNTIME = [sys.executable, "-m", "labcore", "runtime"]


def inside(controller: str) -> str:
    """Where ``controller``'s files are in the container: /sys/fs/cgroup on pure v2, /sys/fs/cgroup/NAME on v1."""
    found = cgroups.hierarchies()
    if list(found) == [""]:
        return "/sys/fs/cgroup"
    for controllers, mount in found.items():
        if controller in controllers.split(","):
            return f"/sys/fs/cgroup/{mount.name}"
    return f"/sys/fs/cgroup/{found[''].name}"  # hybrid, a controller only v2 has


@pytest.mark.parametrize("namespaces", [["pid", "mount", "ipc", "uts", "network"],
                                        ["pid", "mount", "ipc", "uts", "network", "cgroup"]])
def test_cgroup_mount_shows_the_containers_own_groups(tmp_path, state_dir, namespaces):
    b = tmp_path / "bundle"
    b.mkdir()
    images.busybox_rootfs(b / "rootfs", applets=["sh", "cat", "ls", "echo", "touch"])
    subprocess.run(RUNTIME + ["spec", "--bundle", str(b)], check=True, capture_output=True)
    cfg = json.loads((b / "config.json").read_text())
    pids = inside("pids")
    script = (f"exec 2>&1; cat {pids}/pids.max; cat {pids}/cgroup.procs; echo ---; ls /sys/fs/cgroup; echo ---; "
              f"touch /sys/fs/cgroup/new; echo 9 > {pids}/pids.max; echo end")
    cfg["process"]["args"] = ["sh", "-c", script]
    cfg["linux"]["namespaces"] = [{"type": t} for t in namespaces]
    cfg["linux"]["resources"]["pids"] = {"limit": 77}
    cfg["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                          "options": ["ro", "nosuid", "noexec", "nodev"]})
    (b / "config.json").write_text(json.dumps(cfg))
    with open(tmp_path / "out", "w+") as out, open(tmp_path / "err", "w+") as err:
        code = subprocess.run(RUNTIME + ["--root", str(tmp_path / "root"), "run", "--bundle", str(b), "cgm"],
                              stdout=out, stderr=err, stdin=subprocess.DEVNULL, timeout=60).returncode
        out.seek(0)
        err.seek(0)
        text, errors = out.read(), err.read()
    assert code == 0, errors + text
    limit, rest = text.split("\n", 1)
    procs, listing, writes = rest.split("---\n")
    assert limit == "77"                                  # its own group, with the limit create wrote
    assert "1" in procs.split() and len(procs.split()) == 2  # only its own: sh (PID 1 in its namespace) and cat
    if list(cgroups.hierarchies()) != [""]:               # v1 or hybrid: one directory per hierarchy, as on the host
        assert set(listing.split()) == {m.name for m in cgroups.hierarchies().values()}
    assert writes.count("Read-only file system") == 2 and writes.endswith("end\n"), writes
    assert not [r for r in tracker.default().records() if r.kind == "container"]


def test_warming_the_attach_lock_leaves_us_where_we_were():
    """warm_attach writes our own PID into our own cgroup, for real: a move to where we are already."""
    before = open("/proc/self/cgroup").read()
    thread = cgroups.warm_attach()
    assert thread is not None
    thread.join(30)
    assert not thread.is_alive()
    assert open("/proc/self/cgroup").read() == before
