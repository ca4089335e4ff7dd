#!/usr/bin/env bash
# Install the system packages the course needs, on Debian or Ubuntu.
# Idempotent: it installs only what is missing, so `make` can call it every
# time. Used by the Makefile (and so by CI) and, later, by the Vagrantfile.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "provision: run as root (sudo make ...): it installs system packages" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "provision: apt-get not found: this script supports Debian and Ubuntu only" >&2
    exit 1
fi

# What each package is for:
#   python3 python3-venv python3-dev  the lab's virtualenv (system Python, readable by every user)
#   iproute2                          ip, ip netns: links and network namespaces
#   iptables nftables                 NAT and port mapping (chapter 09), leak check
#   iputils-ping                      ping between network namespaces
#   busybox-static                    a tiny static userland for container root filesystems
#   util-linux                        unshare, nsenter, setpriv, runuser (peers in benchmarks and tests)
#   procps psmisc                     ps, pstree: find containers from the host
#   git make                          the project's own commands
#   skopeo umoci oci-image-tool       independent OCI image tools that check labcore's images (06, 13)
#   strace tini                       namespace syscalls of real tools; docker run --init's init (chapter 04, deep dive A)
PACKAGES=(
    python3 python3-venv python3-dev
    iproute2 iptables nftables iputils-ping
    busybox-static util-linux procps psmisc
    git make
    skopeo umoci oci-image-tool
    strace tini
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "provision: all ${#PACKAGES[@]} system packages present"
    exit 0
fi

echo "provision: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "provision: done"
