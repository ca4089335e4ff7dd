#!/usr/bin/env bash
# Tools only the course's maintainers and CI need, not the learner's VM:
#   debootstrap e2fsprogs   make test-vm builds a Debian image (mkfs.ext4 -d fills it without a mount)
#   vagrant vagrant-libvirt make vagrant-validate checks the Vagrantfile, libvirt provider settings included
#                           (`vagrant up` needs a hypervisor; VirtualBox is not in Debian, so its block goes unchecked)
# Idempotent, like provision.sh, which it assumes has run (make runs both).
set -euo pipefail

source "$(dirname "$0")/lib.sh"
require_root
PACKAGES=(debootstrap e2fsprogs vagrant vagrant-libvirt)
install_missing "maintainer tools" "${PACKAGES[@]}"
