#!/usr/bin/env bash
# Tools only the course's maintainers and CI need, not the learner's VM:
#   debootstrap e2fsprogs   make test-vm builds a Debian image (mkfs.ext4 -d fills it without a mount)
#   vagrant vagrant-libvirt make vagrant-validate checks the Vagrantfile, libvirt provider settings included
#                           (`vagrant up` needs a hypervisor; VirtualBox is not in Debian, so its block goes unchecked)
# Idempotent, like provision.sh, which it assumes has run (make runs both).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "provision: run as root (sudo make ...): it installs system packages" >&2
    exit 1
fi
PACKAGES=(debootstrap e2fsprogs vagrant vagrant-libvirt)
missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "provision: maintainer tools present (${PACKAGES[*]})"
    exit 0
fi
echo "provision: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "provision: done"
