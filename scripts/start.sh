#!/usr/bin/env bash
# Builds the test network of the original start.sh and loads the XDP program:
#   host: veth1 10.2.2.1/24 52:54:27:27:27:25  <->  netns "xdp": veth2 10.2.2.2/24 52:54:27:27:27:26
# then runs: target/release/xdploader -file kern/xdp.elf -i veth1
#
# Run as root. It builds nothing (scripts/demo.sh does). Safe to run again: an
# existing namespace and veth pair are reused, their settings re-applied, and
# the loader replaces the attached program in place. Undo everything with scripts/stop.sh.
#
# Environment overrides:
#   XDPLOADER   loader binary   (default: <repo>/target/release/xdploader)
#   XDP_OBJECT  eBPF object     (default: <repo>/kern/xdp.elf)
#   XDP_IFACE   interface(s) to attach to, comma-separated (default: veth1)
#   XDP_NETNS, XDP_HOST_VETH, XDP_NS_VETH
#               the namespace and the veth pair (default: xdp, veth1, veth2)
#   XDP_PIN_PATH pin directory, passed to the loader as -pin-path (default:
#               the loader's, /sys/fs/bpf)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_root

loader="${XDPLOADER:-$XDP_REPO_ROOT/target/release/xdploader}"
object="${XDP_OBJECT:-$XDP_REPO_ROOT/kern/xdp.elf}"
ifaces="${XDP_IFACE:-$XDP_HOST_VETH}"
pin_args=()
if [ -n "$XDP_PIN_PATH" ]; then
    pin_args=(-pin-path "$XDP_PIN_PATH")
fi

[ -x "$loader" ] || die "loader '$loader' is missing or not executable: build it with 'cargo build --release' (or run scripts/demo.sh)." 1
[ -r "$object" ] || die "eBPF object '$object' is missing: build it with 'make -C kern' (or run scripts/demo.sh)." 1
for tool in ip ethtool sysctl; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is not installed: run scripts/install-deps.sh as root." 1
done

# What already exists from an earlier run (checked quietly, before the trace).
have_netns=no
if netns_exists "$XDP_NETNS"; then
    have_netns=yes
fi
have_veth=no
peer_in_netns=no
if ip link show dev "$XDP_HOST_VETH" >/dev/null 2>&1; then
    [[ "$(ip -d -o link show dev "$XDP_HOST_VETH")" == *" veth "* ]] \
        || die "'$XDP_HOST_VETH' exists but is not a veth: remove it (ip link del $XDP_HOST_VETH) and run this again." 1
    have_veth=yes
    if [ "$have_netns" = yes ] && ip netns exec "$XDP_NETNS" ip link show dev "$XDP_NS_VETH" >/dev/null 2>&1; then
        peer_in_netns=yes
    elif ! ip link show dev "$XDP_NS_VETH" >/dev/null 2>&1; then
        die "'$XDP_HOST_VETH' exists but its peer '$XDP_NS_VETH' is neither here nor in netns $XDP_NETNS: run scripts/stop.sh, then this again." 1
    fi
elif ip link show dev "$XDP_NS_VETH" >/dev/null 2>&1; then
    die "'$XDP_NS_VETH' exists without '$XDP_HOST_VETH': remove it (ip link del $XDP_NS_VETH) and run this again." 1
fi

set -x

for i in /proc/sys/net/ipv4/conf/*/rp_filter; do
    echo 0 >"$i"
done

# Namespace and veth pair: created once, reused when they already exist.
[ "$have_netns" = yes ] || ip netns add "$XDP_NETNS"
[ "$have_veth" = yes ] || ip link add "$XDP_HOST_VETH" type veth peer name "$XDP_NS_VETH"
[ "$peer_in_netns" = yes ] || ip link set "$XDP_NS_VETH" netns "$XDP_NETNS"

# Settings: re-applied on every run (all of these are idempotent).
ip addr replace 10.2.2.1/24 dev "$XDP_HOST_VETH"
ip link set dev "$XDP_HOST_VETH" up addr 52:54:27:27:27:25
ip netns exec "$XDP_NETNS" ip addr replace 10.2.2.2/24 dev "$XDP_NS_VETH"
ip netns exec "$XDP_NETNS" ip link set dev "$XDP_NS_VETH" up addr 52:54:27:27:27:26
ip link set dev "$XDP_HOST_VETH" mtu 9000
ip netns exec "$XDP_NETNS" ip link set dev "$XDP_NS_VETH" mtu 9000

sysctl -w net.core.rmem_default=134217728
sysctl -w net.core.rmem_max=268435456
sysctl -w net.core.wmem_default=134217728
sysctl -w net.core.wmem_max=268435456
sysctl -w 'net.ipv4.tcp_rmem=134217728 134217728 134217728'
sysctl -w 'net.ipv4.tcp_wmem=134217728 134217728 134217728'
sysctl -w 'net.ipv4.tcp_mem=134217728 134217728 134217728'
sysctl -w 'net.ipv4.udp_mem=134217728 134217728 134217728'
sysctl -w net.ipv4.udp_rmem_min=134217728
sysctl -w 'net.ipv4.udp_wmem_min=134217728 134217728 134217728'
ip netns exec "$XDP_NETNS" sysctl -w 'net.ipv4.tcp_rmem=134217728 134217728 134217728'
ip netns exec "$XDP_NETNS" sysctl -w 'net.ipv4.tcp_wmem=134217728 134217728 134217728'
ip netns exec "$XDP_NETNS" sysctl -w net.ipv4.udp_rmem_min=134217728
ip netns exec "$XDP_NETNS" sysctl -w 'net.ipv4.udp_wmem_min=134217728 134217728 134217728'

ethtool -K "$XDP_HOST_VETH" tso off
ip netns exec "$XDP_NETNS" ethtool -K "$XDP_NS_VETH" tso off

# Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; later ones ignore it,
# so where the limit cannot be raised (some containers) carry on.
ulimit -l unlimited || note "could not raise the locked-memory limit; only kernels before 5.11 need it."
ensure_bpffs

# A second run reloads: the loader swaps the attached program in place and
# reuses the pinned maps, so the counters go on.
"$loader" -file "$object" -i "$ifaces" "${pin_args[@]}"
