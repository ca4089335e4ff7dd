# Shared by the provision scripts (sourced, not run): root check and apt.

require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "provision: run as root (sudo make ...): it installs system packages" >&2
        exit 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "provision: apt-get not found: this script supports Debian and Ubuntu only" >&2
        exit 1
    fi
}

# install_missing WHAT PKG...: install those of PKG... that dpkg does not have,
# so calling it every time costs one dpkg-query per package. WHAT names the
# set in the one line it prints. The lock timeout waits for a booting
# machine's unattended apt instead of failing.
install_missing() {
    local what=$1; shift
    local pkg status missing=()
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = "install ok installed" ] || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "provision: $what present ($#)"
        return 0
    fi
    echo "provision: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    echo "provision: $what installed"
}
