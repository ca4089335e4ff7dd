#!/usr/bin/env bash
# The course VM's own provisioning, run by the Vagrantfile as root after
# provision.sh (the system packages every machine gets):
#   * the Docker engine and the optional tools later chapters compare with;
#   * the lab's venv and kernelspec (make setup), the kernel started through sudo:
#     JupyterLab runs as the vagrant user, the demos need root. One sudoers rule
#     (/etc/sudoers.d/labcore) allows exactly the kernel command, with its small
#     explicit environment (env -i): the learner's HOME and token stay out of root;
#   * JupyterLab as a systemd service under the vagrant user, with a token,
#     listening on the VM's 127.0.0.1:8888 only (not reachable from containers);
#     Vagrant forwards the host's 127.0.0.1 to it.
# Idempotent: `vagrant provision` may run it again.
set -euo pipefail
LAB=/vagrant
[ "$(id -u)" -eq 0 ] || { echo "course-vm: run as root" >&2; exit 1; }
id vagrant >/dev/null 2>&1 || { echo "course-vm: no vagrant user: this script is for the Vagrant VM" >&2; exit 1; }

# What each is for:
#   docker.io containerd runc   the real Docker engine: chapters 07, 08 and 14 watch it work
#   crun                        a second OCI runtime (chapters 08 and 13)
#   docker-registry             a registry on loopback (chapter 12)
#   (skopeo, umoci, oci-image-tool, strace and sudo, the lab kernel's way to root, come with provision.sh)
TOOLS=(docker.io containerd runc crun docker-registry)
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${TOOLS[@]}" >/dev/null
# The packaged registry would listen on every interface; the chapters start their own on 127.0.0.1.
systemctl disable --now docker-registry >/dev/null 2>&1 || true
modprobe overlay

# labcore, its venv and the kernelspec, exactly as `make setup` does anywhere; then the
# kernelspec again, started through sudo, and the one sudoers rule that allows it. Both
# come from labcore.teach.jupyter, so the rule matches the command the kernelspec runs.
make -C "$LAB" setup
"$LAB/.venv/bin/python" -m labcore install-kernel --sudo
rule=$(mktemp)
"$LAB/.venv/bin/python" -c 'import sys; from labcore.teach.jupyter import sudoers; sys.stdout.write(sudoers("vagrant"))' > "$rule"
visudo -cqf "$rule" || { echo "course-vm: the lab kernel's sudoers rule does not parse" >&2; rm -f "$rule"; exit 1; }
install -m 0440 -o root -g root "$rule" /etc/sudoers.d/labcore
rm -f "$rule"

# JupyterLab's token: made once, kept across `vagrant provision`.
install -d -m 0750 -o root -g vagrant /etc/labcore
if [ ! -s /etc/labcore/jupyter.env ]; then
    echo "JUPYTER_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(24))')" > /etc/labcore/jupyter.env
fi
chown root:vagrant /etc/labcore/jupyter.env
chmod 0640 /etc/labcore/jupyter.env
install -d -m 0700 /var/lib/labcore   # the root kernel's IPython and matplotlib settings (HOME=/root), not vagrant's

# Where JupyterLab listens. libvirt's forward arrives through the VM's sshd, on 127.0.0.1.
# VirtualBox's NAT forward arrives on the NAT interface's address (the default route's):
# JupyterLab listens there, and an nftables table of its own drops port 8888 arriving on
# any other interface (docker0, the course's bridges and veths), so containers cannot
# reach it. `ip route get` only asks the routing table: it sends nothing.
JUPYTER_IP=127.0.0.1
nft delete table inet labcore_vm 2>/dev/null || true
if [ "$(systemd-detect-virt 2>/dev/null)" = oracle ]; then
    read -r NAT_IF JUPYTER_IP < <(ip -4 -o route get 192.0.2.1 | sed -E 's/.* dev ([^ ]+).* src ([^ ]+).*/\1 \2/')
    nft -f - <<NFT
table inet labcore_vm {
    chain input {
        type filter hook input priority 0; policy accept;
        tcp dport 8888 iifname != { "lo", "$NAT_IF" } drop
    }
}
NFT
    cat > /etc/systemd/system/labcore-vm-firewall.service <<UNIT
[Unit]
Description=Docker Internals Lab: JupyterLab's port only through VirtualBox's NAT
Before=labcore-jupyter.service
[Service]
Type=oneshot
ExecStart=/usr/sbin/nft -f /etc/labcore/firewall.nft
RemainAfterExit=yes
[Install]
WantedBy=multi-user.target
UNIT
    nft list table inet labcore_vm > /etc/labcore/firewall.nft
    systemctl enable labcore-vm-firewall >/dev/null
fi

cat > /etc/systemd/system/labcore-jupyter.service <<UNIT
[Unit]
Description=Docker Internals Lab: JupyterLab for the vagrant user
After=network-online.target docker.service

[Service]
User=vagrant
Group=vagrant
EnvironmentFile=/etc/labcore/jupyter.env
WorkingDirectory=$LAB/notebooks
ExecStart=$LAB/.venv/bin/jupyter lab --no-browser --ip=$JUPYTER_IP --port=8888 --ServerApp.port_retries=0 \\
    --ServerApp.root_dir=$LAB/notebooks --MultiKernelManager.default_kernel_name=labcore
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable labcore-jupyter >/dev/null
systemctl restart labcore-jupyter
echo "course-vm: JupyterLab runs as vagrant on $JUPYTER_IP:8888 (labcore-jupyter.service)"
