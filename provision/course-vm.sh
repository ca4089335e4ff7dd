#!/usr/bin/env bash
# The course VM's own provisioning, run by the Vagrantfile as root after
# provision.sh (the system packages every machine gets):
#   * the Docker engine and the optional tools later chapters compare with;
#   * the lab's venv and kernelspec (make setup), the kernel started through sudo:
#     JupyterLab runs as the vagrant user, the demos need root. One sudoers rule
#     (/etc/sudoers.d/labcore) allows exactly the kernel command, with its small
#     explicit environment (env -i): the learner's HOME and token stay out of root;
#   * the learner's own copy of the notebooks, ~vagrant/docker-internals-lab:
#     /vagrant is the course's source, rsynced from the host and overwritten by
#     every `vagrant rsync`, `vagrant reload` and `vagrant up`, so the learner
#     never works there. Each run copies in only the files the learner does not
#     have yet (new chapters arrive; a changed notebook is never overwritten);
#   * JupyterLab as a systemd service under the vagrant user, with a token,
#     serving the learner's copy, listening on the VM's 127.0.0.1:8888 only
#     (not reachable from containers); Vagrant forwards the host's 127.0.0.1 to it;
#   * the learner's progress in ~vagrant/.local/share/docker-internals-lab/progress.json
#     (LABCORE_PROGRESS in the root kernel's environment): on the VM's disk, kept
#     across `vagrant halt` and `vagrant reload`, gone with `vagrant destroy`.
# Idempotent: `vagrant provision` may run it again.
set -euo pipefail
LAB=/vagrant                                 # the course's source: read-only to the learner
[ "$(id -u)" -eq 0 ] || { echo "course-vm: run as root" >&2; exit 1; }
id vagrant >/dev/null 2>&1 || { echo "course-vm: no vagrant user: this script is for the Vagrant VM" >&2; exit 1; }
LEARNER_HOME=$(getent passwd vagrant | cut -d: -f6)
WORK=$LEARNER_HOME/docker-internals-lab     # the learner's notebooks: JupyterLab serves this

# What each is for:
#   docker.io containerd runc   the real Docker engine: chapters 07, 08 and 14 watch it work
#   crun                        a second OCI runtime (chapters 08 and 13)
#   docker-registry             a registry on loopback (chapter 12)
#   rsync                       seeds the learner's notebooks (--ignore-existing); Vagrant's rsync folder uses it too
#   (skopeo, umoci, oci-image-tool, strace and sudo, the lab kernel's way to root, come with provision.sh)
TOOLS=(docker.io containerd runc crun docker-registry rsync)
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${TOOLS[@]}" >/dev/null
# The packaged registry would listen on every interface; the chapters start their own on 127.0.0.1.
systemctl disable --now docker-registry >/dev/null 2>&1 || true
modprobe overlay

# labcore, its venv and the kernelspec, exactly as `make setup` does anywhere; then the
# kernelspec again, started through sudo, and the one sudoers rule that allows it. Both
# come from labcore.teach.jupyter, with the same learner's home (where the root kernel
# keeps the learner's progress), so the rule matches the command the kernelspec runs.
make -C "$LAB" setup
"$LAB/.venv/bin/python" -c 'import sys; from labcore.teach.jupyter import install_kernel
print("installed the lab kernel, through sudo, in", install_kernel(sudo=True, learner_home=sys.argv[1]))' "$LEARNER_HOME"
rule=$(mktemp)
"$LAB/.venv/bin/python" -c 'import sys; from labcore.teach.jupyter import sudoers
sys.stdout.write(sudoers("vagrant", learner_home=sys.argv[1]))' "$LEARNER_HOME" > "$rule"
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

# The learner's notebooks: a copy of the course's, theirs to change. rsync --ignore-existing
# copies only what the learner does not have (a chapter new since the last provision, or one
# they deleted to get a fresh copy); it never overwrites a file there, and never deletes one.
# It runs as vagrant, so every file is the learner's. Their progress file's directory, too.
runuser -u vagrant -- mkdir -p "$WORK"
runuser -u vagrant -- mkdir -p -m 0700 "$LEARNER_HOME/.local/share/docker-internals-lab"
runuser -u vagrant -- rsync --recursive --times --ignore-existing --chmod=u+w --exclude=.ipynb_checkpoints/ \
    --itemize-changes "$LAB/notebooks/" "$WORK/" | sed -n 's/^>f[^ ]* /course-vm: new in the learner'"'"'s notebooks: /p'

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
WorkingDirectory=$WORK
ExecStart=$LAB/.venv/bin/jupyter lab --no-browser --ip=$JUPYTER_IP --port=8888 --ServerApp.port_retries=0 \\
    --ServerApp.root_dir=$WORK --MultiKernelManager.default_kernel_name=labcore
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable labcore-jupyter >/dev/null
systemctl restart labcore-jupyter
echo "course-vm: JupyterLab runs as vagrant on $JUPYTER_IP:8888 (labcore-jupyter.service), serving $WORK"
