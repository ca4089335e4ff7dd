"""rootfs.mount_cgroups on the recording kernel: which mounts a ``cgroup`` mount becomes (no root needed)."""

from labcore.kernel import RecordingKernel
from labcore.kernel import flags as F
from labcore.runtime import rootfs

MOUNT = {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]}
FLAGS = F.MS_RDONLY | F.MS_NOSUID | F.MS_NOEXEC | F.MS_NODEV


def test_v1_and_hybrid_a_tmpfs_of_binds_read_only_at_the_end(tmp_path):
    k = RecordingKernel()
    view = {"dirs": {"cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct/labcore/c1", "unified": "/sys/fs/cgroup/unified/labcore/c1"},
            "links": {"cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct"}}
    rootfs.mount_cgroups(k, str(tmp_path), MOUNT, view)
    target = str(tmp_path / "sys/fs/cgroup")
    mounts = k.args("mount")
    assert mounts[0] == ("tmpfs", target, "tmpfs", FLAGS & ~F.MS_RDONLY, "mode=755")  # writable while filled
    assert mounts[1] == ("/sys/fs/cgroup/cpu,cpuacct/labcore/c1", target + "/cpu,cpuacct", None, F.MS_BIND | F.MS_REC, None)
    assert mounts[2] == (None, target + "/cpu,cpuacct", None, F.MS_REMOUNT | F.MS_BIND | FLAGS, None)
    assert mounts[3][:2] == ("/sys/fs/cgroup/unified/labcore/c1", target + "/unified")
    assert mounts[-1] == (None, target, None, F.MS_REMOUNT | FLAGS, None)                    # then read-only
    assert k.args("symlink") == [("cpu,cpuacct", target + "/cpu"), ("cpu,cpuacct", target + "/cpuacct")]
    assert "cgroup" not in [m[2] for m in mounts]  # never the cgroup filesystem itself: EBUSY on v1


def test_pure_v2_one_bind_of_the_containers_group(tmp_path):
    k = RecordingKernel()
    rootfs.mount_cgroups(k, str(tmp_path), MOUNT, {"dirs": {"": "/sys/fs/cgroup/labcore/c1"}, "links": {}})
    target = str(tmp_path / "sys/fs/cgroup")
    assert k.args("mount") == [("/sys/fs/cgroup/labcore/c1", target, None, F.MS_BIND | F.MS_REC, None),
                               (None, target, None, F.MS_REMOUNT | F.MS_BIND | FLAGS, None)]
