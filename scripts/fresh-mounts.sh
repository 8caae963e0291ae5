#!/usr/bin/env bash
# fresh-mounts.sh CMD [ARG...]: runs CMD in a private mount namespace where the
# kernel's special file systems are in the state a freshly booted Debian leaves
# them: no bpffs on /sys/fs/bpf, no tracefs on /sys/kernel/tracing, no debugfs on
# /sys/kernel/debug, nothing in /run/xdploader. A machine someone has worked on usually has them mounted
# (often more than once: every tool that finds bpffs missing mounts its own), and
# a suite that passes there can still fail where nobody has mounted anything.
# .ci/run runs the test command through this, so that cannot come back.
#
# Only this process and its children see the change: the machine's own mounts,
# pins and trace buffers are untouched, and the namespace goes away with CMD.
# Needs root (unshare --mount).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$#" -gt 0 ] || die "usage: $0 CMD [ARG...]" 1
require_root

if [ "${XDP_FRESH_MOUNTS:-}" != inside ]; then
    command -v unshare >/dev/null 2>&1 || die "unshare (util-linux) is needed for a private mount namespace." 4
    export XDP_FRESH_MOUNTS=inside
    exec unshare --mount --propagation private -- bash "${BASH_SOURCE[0]}" "$@"
fi

# unmount_all DIR: removes every mount stacked on DIR (and below it), so that
# DIR is the plain directory of the file system under it.
unmount_all() {
    local dir="$1" tries=0
    while mountpoint -q "$dir"; do
        umount -R "$dir" || die "cannot unmount $dir in the private mount namespace." 4
        tries=$((tries + 1))
        [ "$tries" -lt 64 ] || die "$dir is still a mount point after 64 unmounts." 4
    done
}

for dir in /sys/kernel/tracing /sys/kernel/debug /sys/fs/bpf; do
    [ -d "$dir" ] && unmount_all "$dir"
done
# xdploader's lock directory starts empty after a boot (/run is a tmpfs): an
# empty tmpfs of its own here, so lock files that earlier runs left on this
# machine are not seen (and none that this run makes are left behind).
mkdir -p /run/xdploader
mount -t tmpfs -o mode=0700 tmpfs /run/xdploader || die "cannot mount a tmpfs on /run/xdploader." 4
note "private mount namespace: bpffs, tracefs and debugfs are not mounted and /run/xdploader is empty, as on a freshly booted machine."
exec "$@"
