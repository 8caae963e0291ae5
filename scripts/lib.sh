# shellcheck shell=bash
# Shared helpers for the scripts in this directory. Source it, do not run it:
#   # shellcheck source-path=SCRIPTDIR
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Defines XDP_REPO_ROOT (the repository root, found from this file's own path,
# so the scripts work from any working directory) and the functions below.

XDP_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
export XDP_REPO_ROOT

# ip, ethtool, sysctl and bpftool live in /usr/sbin, which a user's PATH
# (kept by `sudo env PATH=...` or `su`) often lacks.
for dir in /usr/local/sbin /usr/sbin /sbin; do
    case ":$PATH:" in
    *":$dir:"*) ;;
    *) PATH="$PATH:$dir" ;;
    esac
done
unset dir
export PATH

# The test namespace and interfaces, as in the original start.sh
# (used by the scripts that source this file). Each can be overridden from the
# environment (the tests run start.sh and stop.sh with names of their own);
# the defaults are the ones the docs show.
# shellcheck disable=SC2034
XDP_NETNS="${XDP_NETNS:-xdp}"
# shellcheck disable=SC2034
XDP_HOST_VETH="${XDP_HOST_VETH:-veth1}"
# shellcheck disable=SC2034
XDP_NS_VETH="${XDP_NS_VETH:-veth2}"
XDP_BPFFS=/sys/fs/bpf
# Where the loader pins its maps: empty means its default, $XDP_BPFFS; when
# set, start.sh passes it to the loader as -pin-path and stop.sh removes the
# pins from there.
# shellcheck disable=SC2034
XDP_PIN_PATH="${XDP_PIN_PATH:-}"
# The maps the loader pins under $XDP_BPFFS (stop.sh removes them).
# shellcheck disable=SC2034
XDP_PINS=(stats_map jmp_map if_redirect link_veth1 proto_count)

# die MESSAGE [EXIT_CODE]: one sentence to stderr, then exit (default 1).
die() {
    echo "$(basename "$0"): $1" >&2
    exit "${2:-1}"
}

# note MESSAGE: progress or warning to stderr.
note() {
    echo "$(basename "$0"): $1" >&2
}

is_root() {
    [ "$(id -u)" -eq 0 ]
}

# require_root: exit 4 with one sentence unless running as root.
require_root() {
    is_root || die "this script configures the kernel and must run as root (try: sudo $0)." 4
}

# can_become_root: true when root already or sudo is installed.
can_become_root() {
    is_root || command -v sudo >/dev/null 2>&1
}

# as_root CMD...: run CMD as root, directly when already root, else via sudo.
as_root() {
    if is_root; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "'$*' needs root: run this script as root or install sudo." 4
    fi
}

# as_invoking_user CMD...: run CMD as the user who ran the script. When the
# script was started with sudo, that is $SUDO_USER (so target/ and kern/xdp.elf
# are not left owned by root); otherwise the current user.
as_invoking_user() {
    if is_root && [ -n "${SUDO_USER:-}" ] && [ "${SUDO_USER}" != root ]; then
        sudo -u "$SUDO_USER" -H -- env "PATH=$PATH" "$@"
    else
        "$@"
    fi
}

# ensure_bpffs: mount bpffs on /sys/fs/bpf unless it is already mounted there.
ensure_bpffs() {
    if awk -v dir="$XDP_BPFFS" '$2 == dir && $3 == "bpf" { found = 1 } END { exit !found }' /proc/mounts; then
        return 0
    fi
    as_root mkdir -p "$XDP_BPFFS"
    as_root mount -t bpf bpf "$XDP_BPFFS"
}

# netns_exists NAME: true when `ip netns list` shows the named namespace.
netns_exists() {
    local names
    names="$(ip netns list | awk '{ print $1 }')"
    grep -qxF -- "$1" <<<"$names"
}

# detach_xdp IFACE: remove any XDP program (generic or native) from IFACE.
# "Not attached" is not an error; a missing interface is skipped.
detach_xdp() {
    local iface="$1"
    ip link show dev "$iface" >/dev/null 2>&1 || return 0
    ip link set dev "$iface" xdpgeneric off 2>/dev/null || true
    ip link set dev "$iface" xdpdrv off 2>/dev/null || true
}

# find_cargo: set CARGO to the cargo binary and put its directory first on
# PATH (so rustc is the same toolchain). Looks on PATH, then ~/.cargo/bin, then
# the sudo-invoking user's ~/.cargo/bin (sudo resets PATH).
find_cargo() {
    local candidate home
    CARGO=""
    if candidate="$(command -v cargo 2>/dev/null)"; then
        CARGO="$candidate"
    elif [ -x "${HOME:-/nonexistent}/.cargo/bin/cargo" ]; then
        CARGO="$HOME/.cargo/bin/cargo"
    elif [ -n "${SUDO_USER:-}" ]; then
        home="$(getent passwd "$SUDO_USER" | cut -d: -f6)"
        if [ -n "$home" ] && [ -x "$home/.cargo/bin/cargo" ]; then
            CARGO="$home/.cargo/bin/cargo"
            # rustup's proxies find their toolchains through these.
            export CARGO_HOME="${CARGO_HOME:-$home/.cargo}"
            export RUSTUP_HOME="${RUSTUP_HOME:-$home/.rustup}"
        fi
    fi
    if [ -z "$CARGO" ]; then
        die "cargo was not found on PATH or in ~/.cargo/bin: install Rust with rustup (https://rustup.rs), then run this again."
    fi
    PATH="$(dirname "$CARGO"):$PATH"
    export PATH CARGO
}

# build_release [CARGO OPTION...]: target/release/xdploader and statswatch,
# linked statically (glibc's static-pie, `-C target-feature=+crt-static`).
# Every run of a static binary skips ld.so loading libgcc_s and libc and
# resolving their symbols: about 0.25 ms of a 2 ms load here, more than all
# of the loader's own work (docs/benchmarks.md). The flag goes to each binary
# alone through `cargo rustc`: given in RUSTFLAGS it would reach the
# proc-macro crates too (clap's derive), which cannot be built static. Where
# the C library has no static archive (libc.a), the binary is built the usual
# way instead, with a note. Needs CARGO (find_cargo).
build_release() {
    local bin
    for bin in xdploader statswatch; do
        if ! "$CARGO" rustc --release "$@" -p loader --bin "$bin" \
            -- -C target-feature=+crt-static; then
            note "linking $bin statically failed (is libc.a installed? Debian: libc6-dev); building it dynamically linked."
            "$CARGO" build --release "$@" -p loader --bin "$bin"
        fi
    done
}
