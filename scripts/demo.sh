#!/usr/bin/env bash
# The whole demo on a fresh Debian machine with the Rust toolchain installed:
# installs the dependencies, builds, sets up the test namespace and loads the
# XDP program (scripts/start.sh), pings through it and shows the counters.
#
# Run it as your normal user (it uses sudo where root is needed) or as root.
# XDPLOADER, XDP_OBJECT and XDP_IFACE are passed on to start.sh; STATSWATCH
# overrides the counters tool (default: <repo>/target/release/statswatch).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

scripts="$XDP_REPO_ROOT/scripts"
pin="$XDP_BPFFS/stats_map"
statswatch="${STATSWATCH:-$XDP_REPO_ROOT/target/release/statswatch}"
can_become_root || die "the demo loads an XDP program and needs root: run it as root or install sudo." 4

step() {
    printf '\n==> %s\n' "$*"
}

step "Installing dependencies (scripts/install-deps.sh)"
as_root bash "$scripts/install-deps.sh"

# Built as the user who ran the demo, so target/ and kern/xdp.elf are not
# left owned by root when the demo itself was started with sudo.
step "Building (release, statically linked: build_release in scripts/lib.sh; make -C kern)"
# shellcheck disable=SC2016 # expanded by the inner bash, as that user
as_invoking_user bash -c '
    set -euo pipefail
    source "$1"
    find_cargo
    cd "$XDP_REPO_ROOT"
    set -x
    build_release
    make -C kern
' build "$scripts/lib.sh"

step "Creating the test namespace and loading the program (scripts/start.sh)"
overrides=()
for var in XDPLOADER XDP_OBJECT XDP_IFACE; do
    if [ -n "${!var:-}" ]; then
        overrides+=("$var=${!var}")
    fi
done
as_root env "${overrides[@]}" bash "$scripts/start.sh"

status=0
step "Pinging 10.2.2.2 (veth2, in netns xdp) through veth1"
if ! ping -c 5 -W 1 10.2.2.2; then
    note "ping 10.2.2.2 failed: the counters below show what the XDP program did with the packets."
    status=1
fi

step "Counters (statswatch -file $pin)"
as_root "$statswatch" -file "$pin" || status=1

step "The pinned map, as bpftool sees it"
as_root bpftool map show pinned "$pin" || status=1

step "Done"
echo "veth1 now runs the XDP program; look with: ip link show dev veth1"
echo "To remove everything (XDP program, veth pair, netns xdp, pins), run:"
if is_root && [ -z "${SUDO_USER:-}" ]; then
    echo "    $scripts/stop.sh"
else
    echo "    sudo $scripts/stop.sh"
fi
exit "$status"
