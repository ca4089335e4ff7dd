#!/usr/bin/env bash
# Install the system packages the course needs, on Debian or Ubuntu.
# Idempotent: it installs only what is missing, so `make` can call it every
# time. Used by the Makefile (and so by CI) and, later, by the Vagrantfile.
set -euo pipefail

source "$(dirname "$0")/lib.sh"
require_root

# What each package is for:
#   python3 python3-venv python3-dev  the lab's virtualenv (system Python, readable by every user)
#   iproute2                          ip, ip netns: links and network namespaces
#   iptables nftables                 NAT and port mapping (chapter 09), leak check
#   iputils-ping                      ping between network namespaces
#   busybox-static                    a tiny static userland for container root filesystems
#   util-linux                        unshare, nsenter, setpriv, runuser (peers in benchmarks and tests)
#   procps psmisc                     ps, pstree: find containers from the host
#   git make                          the project's own commands
#   gcc libc6-dev                     builds labcore's spawn helper (labcore/kernel/nsexec.c)
#   skopeo umoci oci-image-tool       independent OCI image tools that check labcore's images (06, 13)
#   docker-registry apache2-utils     the distribution registry the lab starts on 127.0.0.1; htpasswd for its auth (12)
#   strace tini                       namespace syscalls of real tools; docker run --init's init (chapter 04, deep dive A)
#   qemu-system-x86 e2fsprogs         notebook 02's tiny VM (software emulation, no KVM needed); mkfs.ext4 -d: deep dive D's host disk
#   apparmor                          apparmor_parser: deep dive D loads a profile into its throwaway VM's kernel
#   graphviz                          dot: draws lab.diagrams' pictures of processes, layers and cgroups
#   sudo                              the course VM's root kernel; the tests check its sudoers rule with visudo
#   chromium chromium-driver          the browser test drives JupyterLab in headless Chromium (tests/browser)
#   runc crun                         real OCI runtimes: peers of labcore's runtime in conformance and bench (08, 13)
#   docker.io                         the Docker CLI that drives labcore's daemon, and the real engine (never started here: 07, 08)
#   uidmap libseccomp2                newuidmap/newgidmap (/etc/subuid ranges, rootless); seccomp filters (chapter 10)
#   iperf3 tcpdump libnftables1       throughput over veth/bridge (09, make bench); VXLAN seen on the underlay; nft's JSON API
#   rsync                             the course VM seeds the learner's notebooks with it: a unit test runs that command
#   curl                              the Engine API by hand, HTTP over the engine's unix socket (07)
PACKAGES=(
    python3 python3-venv python3-dev
    iproute2 iptables nftables iputils-ping
    busybox-static util-linux procps psmisc
    git make gcc libc6-dev
    skopeo umoci oci-image-tool
    docker-registry apache2-utils
    strace tini
    qemu-system-x86 e2fsprogs apparmor
    graphviz
    sudo
    chromium chromium-driver
    uidmap libseccomp2
    iperf3 tcpdump libnftables1
    runc crun
    docker.io
    rsync
    curl
)

# The tiny VM's guest kernel, unpacked into /var/cache/labcore/vm (not installed).
bash "$(dirname "$0")/guest-kernel.sh"

# docker.io starts dockerd (and containerd) on install where systemd runs: a policy-rc.d that
# denies every start (honoured by invoke-rc.d and deb-systemd-invoke) keeps the engine stopped
# while apt runs; the chapters start the real engine themselves, with their own data-root.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT  # even if apt fails: never leave every service start denied
fi
install_missing "system packages" "${PACKAGES[@]}"

# docker-registry's package enables its own service on :5000, every interface: the lab starts
# its registries itself, on loopback, so the packaged one must neither run nor start at boot.
# (systemctl disable works without a running systemd too: in the test VM's chroot, say.)
if command -v systemctl >/dev/null; then
    systemctl disable docker-registry.service >/dev/null 2>&1 || true
    systemctl disable docker.service docker.socket containerd.service >/dev/null 2>&1 || true
fi
if [ -d /run/systemd/system ]; then
    systemctl stop docker-registry.service >/dev/null 2>&1 || true
elif [ -x /etc/init.d/docker-registry ]; then
    /etc/init.d/docker-registry stop >/dev/null 2>&1 || true
    update-rc.d docker-registry disable >/dev/null 2>&1 || true
fi
