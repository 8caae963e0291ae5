#!/usr/bin/env bash
# Undoes scripts/start.sh: detaches XDP, deletes the veth pair and the "xdp"
# namespace, and removes the pinned maps. Safe to run again, and when nothing
# exists. Run as root.
#
# The sysctls start.sh set (rp_filter, socket buffer sizes) are left as they
# are: their previous values are not recorded, and a reboot restores them.
#
# Environment: XDP_IFACE, as for start.sh (interfaces to detach, comma-separated);
# XDP_NETNS, XDP_HOST_VETH and XDP_PIN_PATH, as for start.sh (what to delete).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_root

ifaces="${XDP_IFACE:-$XDP_HOST_VETH}"
IFS=, read -ra attached <<<"$ifaces"
pins="${XDP_PIN_PATH:-$XDP_BPFFS}"

set -x

for iface in "${attached[@]}"; do
    detach_xdp "$iface"
done

# Deleting one end of a veth pair deletes both.
if ip link show dev "$XDP_HOST_VETH" >/dev/null 2>&1; then
    ip link del dev "$XDP_HOST_VETH"
fi
if netns_exists "$XDP_NETNS"; then
    ip netns del "$XDP_NETNS"
fi

for pin in "${XDP_PINS[@]}"; do
    rm -f "$pins/$pin"
done
