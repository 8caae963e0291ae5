//! Every interface or none: attaching to each interface in turn (with its redirect-map
//! entry), and when one fails, the ones already done put back as they were, in reverse.

use std::os::fd::AsFd;
use std::path::PathBuf;

use sys::abi::*;
use sys::link::LinkFd;
use sys::netlink;
use sys::ProgFd;

use crate::attach::redirect::{add_redirect, redirect_map, RedirectEntry};
use crate::attach::xdp::{attach, AttachOptions, AttachOutcome};
use crate::error::LoadError;
use crate::load::maps::LiveMap;
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

/// Attaches to every interface, telling `say` each step; if one fails, the ones already
/// done are put back as they were.
pub fn attach_all<'a>(
    interfaces: &[(&'a str, u32)],
    entry_fd: &ProgFd,
    entry: &str,
    options: &AttachOptions<'_>,
    maps: &[LiveMap],
    say: &mut dyn FnMut(String),
) -> Result<Vec<(&'a str, AttachOutcome)>, LoadError> {
    let redirect = redirect_map(maps);
    let mut done: Vec<(&str, AttachOutcome)> = Vec::new();
    for (name, ifindex) in interfaces {
        say(format!("Looking for interface {name}"));
        let outcome = match attach(name, *ifindex, entry_fd, entry, options, say) {
            Ok(outcome) => outcome,
            Err(error) => {
                roll_back(done, say);
                return Err(error);
            }
        };
        if let Some(devmap) = redirect {
            // A failed insert (the interface went away meanwhile) fails the run: every
            // interface, this one included, goes back as it was.
            let entry = match add_redirect(devmap, *ifindex) {
                Ok(entry) => entry,
                Err(error) => {
                    done.push((name, outcome));
                    roll_back(done, say);
                    return Err(error);
                }
            };
            match entry {
                RedirectEntry::Inserted => {
                    say(format!("Inserting ifIndex {ifindex} into {}", devmap.spec.name))
                }
                RedirectEntry::DoesNotFit { max_entries } => say(format!(
                    "Warning: ifIndex {ifindex} does not fit {} ({max_entries} entries): redirecting to {name} through it is not possible",
                    devmap.spec.name
                )),
            }
        }
        done.push((name, outcome));
    }
    Ok(done)
}

/// Undoes the attachments of `done`, the last one first.
fn roll_back(done: Vec<(&str, AttachOutcome)>, say: &mut dyn FnMut(String)) {
    for (name, outcome) in done.into_iter().rev() {
        say(format!("Rolling back {name}"));
        undo(outcome.undo);
    }
}
