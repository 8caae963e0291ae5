//! The attach mode: what the command line asks for, and whether native mode can work on
//! an interface before the kernel is asked (veth's peer and MTU).

use sys::netlink;

use crate::attach::status::query_error;
use crate::error::LoadError;
use crate::vocab::XdpMode;

/// The mode asked for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeRequest {
    /// Native if the interface can take it, else generic (saying why).
    Auto,
    Exactly(XdpMode),
}

/// Roughly `SKB_WITH_OVERHEAD(PAGE_SIZE - VETH_XDP_HEADROOM) - ETH_HLEN` on x86-64: the
/// largest peer MTU veth accepts for native XDP without multi-buffer support.
const VETH_NATIVE_XDP_MAX_MTU: u32 = 3506;

/// Why native XDP would fail on this interface, judged before asking the kernel.
pub fn native_mode_obstacle(
    interface: &str,
    ifindex: u32,
    frags: bool,
) -> Result<Option<String>, LoadError> {
    let state = netlink::link_query(ifindex).map_err(|error| query_error(interface, error))?;
    if state.kind != "veth" {
        return Ok(None);
    }
    if state.peer_in_other_netns || state.peer_ifindex == 0 {
        // The peer is out of sight; veth pairs normally share one MTU.
        if !frags && state.mtu > VETH_NATIVE_XDP_MAX_MTU {
            return Ok(Some(format!(
                "{interface} is a veth with MTU {} (its peer, in another namespace, likely the same), more than the {VETH_NATIVE_XDP_MAX_MTU} bytes one page holds for native XDP; lower the MTU of both ends or build the program as xdp.frags",
                state.mtu
            )));
        }
        return Ok(None);
    }
    let peer =
        netlink::link_query(state.peer_ifindex).map_err(|error| query_error(interface, error))?;
    if !peer.up {
        return Ok(Some(format!(
            "the veth peer of {interface}, {}, is down: native XDP on veth needs the peer up (ip link set dev {} up)",
            peer.name, peer.name
        )));
    }
    if !frags && peer.mtu > VETH_NATIVE_XDP_MAX_MTU {
        return Ok(Some(format!(
            "the veth peer of {interface}, {}, has MTU {}, more than the {VETH_NATIVE_XDP_MAX_MTU} bytes one page holds for native XDP; lower it (ip link set dev {} mtu 1500) or build the program as xdp.frags",
            peer.name, peer.mtu, peer.name
        )));
    }
    Ok(None)
}
