//! Putting interfaces back as they were: what undoes each kind of attach, run on the way
//! out of a failed run.

use std::os::fd::AsFd;
use std::path::PathBuf;

use sys::abi::*;
use sys::link::LinkFd;
use sys::netlink;
use sys::ProgFd;

use crate::vocab::XdpMode;

/// How to put an interface back as it was before `attach`.
#[derive(Debug)]
pub enum Undo {
    Detach {
        ifindex: u32,
        mode: XdpMode,
    },
    Restore {
        ifindex: u32,
        mode: XdpMode,
        old: ProgFd,
    },
    RemoveLink {
        link: LinkFd,
        pin: PathBuf,
    },
    RestoreLink {
        link: LinkFd,
        old: ProgFd,
    },
    /// `first` undone, then `old` attached again in `mode`: it had been detached to
    /// switch the mode or to move to a BPF link.
    Reattach {
        first: Box<Undo>,
        ifindex: u32,
        mode: XdpMode,
        old: ProgFd,
    },
}

/// Attaches `old` again in `mode` (best effort: it runs on failure paths).
pub(crate) fn reattach_old(ifindex: u32, mode: XdpMode, old: &ProgFd) -> bool {
    netlink::xdp_attach(
        ifindex,
        old.as_fd(),
        mode.flags() | XDP_FLAGS_UPDATE_IF_NOEXIST,
        None,
    )
    .is_ok()
}

/// Puts an interface back as it was before `attach` (best effort: it runs on failure paths).
pub fn undo(undo: Undo) {
    match undo {
        Undo::Detach { ifindex, mode } => {
            let _ = netlink::xdp_detach(ifindex, mode.flags());
        }
        Undo::Restore { ifindex, mode, old } => {
            let _ = netlink::xdp_attach(ifindex, old.as_fd(), mode.flags(), None);
        }
        Undo::RemoveLink { link, pin } => {
            let _ = sys::link::link_detach(link.as_fd());
            let _ = std::fs::remove_file(pin);
        }
        Undo::RestoreLink { link, old } => {
            let _ = sys::link::link_update(link.as_fd(), old.as_fd(), None);
        }
        Undo::Reattach {
            first,
            ifindex,
            mode,
            old,
        } => {
            self::undo(*first);
            reattach_old(ifindex, mode, &old);
        }
    }
}
