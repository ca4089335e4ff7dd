#!/usr/bin/env bash
# The guest kernel of notebook 02's tiny VM: Debian's *cloud* kernel flavour
# (small, made for VMs), unpacked into the lab's cache, not installed: the
# host's /boot, initramfs and boot loader stay untouched. Only the kernel
# image is kept (14 MB): the tiny VM loads no modules. Idempotent.
# Called by provision.sh; LABCORE_CACHE moves the cache (default /var/cache/labcore).
set -euo pipefail

dest="${LABCORE_CACHE:-/var/cache/labcore}/vm"
if compgen -G "$dest/vmlinuz-*" >/dev/null; then
    echo "provision: guest kernel present: $(cd "$dest" && ls vmlinuz-*)"
    exit 0
fi
if [ "$(dpkg --print-architecture)" != amd64 ]; then
    echo "provision: no guest kernel: the tiny VM of notebook 02 is x86_64 only (this is $(dpkg --print-architecture))"
    exit 0
fi

# A small kernel flavour made for VMs: Debian's cloud kernel, or Ubuntu's kvm (then
# virtual) one. Each name is a metapackage depending on the current versioned package.
FLAVOURS=(linux-image-cloud-amd64 linux-image-kvm linux-image-virtual)
versioned() {
    local meta
    for meta in "${FLAVOURS[@]}"; do
        apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; found=1; exit} END {exit !found}' && return 0
    done
    return 0
}
pkg=$(versioned)
if [ -z "$pkg" ]; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    pkg=$(versioned)
fi
if [ -z "$pkg" ]; then
    # Not fatal: notebook 02 and labcore doctor say the tiny VM is unavailable and why.
    echo "provision: no guest kernel for the tiny VM: none of ${FLAVOURS[*]} is in apt's lists" >&2
    exit 0
fi

tmp=$(mktemp -d /tmp/lab-guest-kernel.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chown _apt "$tmp" 2>/dev/null || true    # apt downloads as the unprivileged _apt user
(cd "$tmp" && apt-get -o DPkg::Lock::Timeout=600 download -qq "$pkg")
dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*'
install -d -m 0755 "$dest"
install -m 0644 "$tmp"/boot/vmlinuz-* "$dest/"    # readable by all: any user may boot the VM
echo "provision: guest kernel $(cd "$dest" && ls vmlinuz-*) in $dest"
