#!/usr/bin/env bash
# Installs what a fresh Debian (12 or later) machine lacks to build kern/xdp.elf,
# run the loader against a test namespace and run the test suite.
# Used by the README, by .ci/run and by the Vagrantfile's provisioning.
set -euo pipefail

packages=(
    clang llvm            # clang -target bpf, llvm-objdump
    libbpf-dev            # <bpf/bpf_helpers.h> and friends, headers only
    linux-libc-dev        # <linux/bpf.h>, <asm/types.h>
    gcc libc6-dev make    # gcc -print-multiarch for the asm include path, cc/crt and libc.a for linking Rust (static: build_release); make -C kern
    bpftool               # cross-checks of what the kernel holds
    iproute2 ethtool iputils-ping procps   # ip netns, ethtool -K, ping, sysctl (start.sh)
    libxdp1               # real-world XDP objects under /usr/lib/<triplet>/bpf
    jq                    # scripts read bpftool -j and ip -j
    strace                # the statswatch tests count its bpf(2) calls
    xdp-tools             # xdp-loader: the operations tests attach with another tool
    ruby                  # ruby -c Vagrantfile (loader/tests/transcripts.rs)
    prometheus            # prometheus and promtool: the statswatch -prometheus tests scrape with them
    python3 python3-venv  # scripts/deploy-tools.sh: the checkers of deploy/ in a venv (loader/tests/deploy.rs)
    systemd               # systemd-analyze verify on deploy/systemd/*.service (loader/tests/deploy.rs)
)

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: run as root (sudo $0): it installs Debian packages" >&2
    exit 4
fi

export DEBIAN_FRONTEND=noninteractive
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done

# libbpf-tools is not installed, only downloaded by the parity test
# (scripts/libbpf-tools-objects.sh, with apt-get download and dpkg-deb, which
# apt and dpkg provide): apt only has to know the package, which a machine with
# empty package lists (a fresh container) does not.
known() {
    # Read it whole first: `grep -q` stopping early would fail the pipe (pipefail).
    local policy
    policy="$(apt-cache policy "$1" 2>/dev/null)"
    grep -q '^ *Candidate: [^(]' <<<"$policy"
}

if [ "${#missing[@]}" -gt 0 ] || ! known libbpf-tools; then
    apt-get update
fi
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The prometheus package starts its own server on :9090 at install. The tests
# start theirs inside their own namespaces and need none: keep it stopped.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ] \
    && systemctl list-unit-files prometheus.service >/dev/null 2>&1; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi

# The Rust toolchain is not a Debian package here: it comes from rustup, per
# user (the Vagrantfile installs it after this script). Only point it out:
# under sudo, PATH does not include ~/.cargo/bin, so cargo may well exist.
sudo_home=""
if [ -n "${SUDO_USER:-}" ]; then
    sudo_home="$(getent passwd "$SUDO_USER" | cut -d: -f6)"
fi
if ! command -v cargo >/dev/null 2>&1 \
    && [ ! -x "${HOME:-/nonexistent}/.cargo/bin/cargo" ] \
    && { [ -z "$sudo_home" ] || [ ! -x "$sudo_home/.cargo/bin/cargo" ]; }; then
    echo "install-deps.sh: note: cargo not found; install the Rust toolchain with rustup (https://rustup.rs) to build" >&2
fi
