#!/usr/bin/env bash
# Fetches Debian's libbpf-tools package and unpacks it, for the parity test in
# loader/tests/real_world/libbpf_tools.rs, which carves the BPF objects out of
# the binaries (in Rust: reading ELF headers is plain byte parsing there, with
# unit tests, and needs no od/xxd arithmetic here).
#
#   scripts/libbpf-tools-objects.sh [CACHE_DIR]     (default: target/libbpf-tools)
#
# Prints the directory holding the unpacked tools (CACHE_DIR/root/usr/sbin) on
# stdout. Idempotent and offline-safe: a .deb already in CACHE_DIR is reused
# (apt-get is not asked again) and is unpacked only once. Needs no root.
# Exit codes: 0 done; 5 the mirror cannot be reached (apt-get download failed);
# 6 this Debian release has no libbpf-tools package; 1 anything else.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cache="${1:-$XDP_REPO_ROOT/target/libbpf-tools}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd -P)"

for tool in apt-get apt-cache dpkg-deb; do
    command -v "$tool" >/dev/null 2>&1 \
        || die "$tool is missing: this script needs a Debian system (apt and dpkg)." 1
done

find_deb() {
    find "$cache" -maxdepth 1 -name 'libbpf-tools_*.deb' -print | sort | tail -n 1
}

deb="$(find_deb)"
if [ -z "$deb" ]; then
    candidate="$(apt-cache policy libbpf-tools 2>/dev/null | sed -n 's/^ *Candidate: *//p')"
    if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
        die "libbpf-tools has no installation candidate on this Debian release (apt-cache policy libbpf-tools); run apt-get update, or use Debian 12 or later." 6
    fi
    # Download into a private directory first, so an interrupted download never
    # leaves a partial .deb that the next run would take for the cached one.
    partial="$(mktemp -d "$cache/download.XXXXXX")"
    trap 'rm -rf "$partial"' EXIT
    # _apt cannot write into a root-owned private directory; download as the
    # caller instead of printing apt's sandbox warning.
    if ! (cd "$partial" && apt-get download -q -o APT::Sandbox::User="$(id -un)" \
        "libbpf-tools=$candidate" >&2); then
        die "cannot download libbpf-tools $candidate: apt-get download failed (is the Debian mirror reachable?)." 5
    fi
    mv "$partial"/libbpf-tools_*.deb "$cache"/
    deb="$(find_deb)"
    [ -n "$deb" ] || die "apt-get download succeeded but left no libbpf-tools_*.deb in $cache." 1
fi

# Unpack once per .deb: the stamp names the package that root/ holds.
root="$cache/root"
stamp="$cache/unpacked-from"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$(basename "$deb")" ] || [ ! -d "$root/usr/sbin" ]; then
    rm -rf "$root" "$stamp"
    dpkg-deb -x "$deb" "$root"
    basename "$deb" >"$stamp"
fi
echo "$root/usr/sbin"
