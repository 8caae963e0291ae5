//! An XDP program onto one interface: through netlink (atomic replace of our own program,
//! never someone else's unless forced) or a BPF link (created and pinned, or updated in
//! place), falling back from native to generic under `-mode auto`.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use sys::abi::*;
use sys::netlink::{self, NetlinkError};
use sys::ProgFd;

use crate::attach::modes::{native_mode_obstacle, ModeRequest};
use crate::attach::preflight::ensure_ours;
use crate::attach::rollback::{reattach_old, Undo};
use crate::attach::status::{attached, Attached, Method};
use crate::error::LoadError;
use crate::vocab::XdpMode;

/// Options for `attach`.
#[derive(Debug, Clone)]
pub struct AttachOptions<'a> {
    pub mode: ModeRequest,
    /// Replace a program that is not ours.
    pub force: bool,
    /// Attach through a BPF link pinned under `pin_root`.
    pub link: bool,
    pub pin_root: &'a Path,
    /// The program is `xdp.frags` (multi-buffer): MTU limits do not apply.
    pub frags: bool,
}

/// What `attach` did, and how to undo it.
#[derive(Debug)]
pub struct AttachOutcome {
    pub mode: XdpMode,
    /// Why native mode was not used under `-mode auto`.
    pub fallback: Option<String>,
    /// The program that was replaced.
    pub replaced: Option<Attached>,
    pub link_pin: Option<PathBuf>,
    pub undo: Undo,
}

/// Where the BPF link for an interface is pinned: bpffs refuses dots, which VLAN names have.
pub fn link_pin_path(pin_root: &Path, interface: &str) -> PathBuf {
    pin_root.join(format!("link_{}", interface.replace('.', "_")))
}

pub(crate) fn attach_error(interface: &str, mode: XdpMode, error: NetlinkError) -> LoadError {
    LoadError::Attach {
        interface: interface.to_string(),
        mode: mode.describe(),
        error,
    }
}

pub(crate) fn link_error(interface: &str, mode: XdpMode, error: sys::SysError) -> LoadError {
    attach_error(
        interface,
        mode,
        NetlinkError {
            op: error.op,
            ifindex: 0,
            errno: error.errno,
            extack: None,
        },
    )
}

/// Attaches `prog` (named `entry`) to `interface`: replaces our own program atomically,
/// refuses someone else's unless forced, falls back from native under `-mode auto`.
pub fn attach(
    interface: &str,
    ifindex: u32,
    prog: &ProgFd,
    entry: &str,
    options: &AttachOptions<'_>,
    say: &mut dyn FnMut(String),
) -> Result<AttachOutcome, LoadError> {
    let current = attached(interface, ifindex)?;
    if let Some(current) = &current {
        ensure_ours(interface, current, entry, options.force, false)?;
    }

    // A program attached through a link is swapped inside the link, whatever was asked.
    if let Some(
        current @ Attached {
            method: Method::Link { id },
            ..
        },
    ) = &current
    {
        let link = sys::link::link_fd_by_id(*id)
            .map_err(|error| link_error(interface, current.mode, error))?;
        let old = sys::prog::prog_fd_by_id(current.prog_id)
            .map_err(|error| link_error(interface, current.mode, error))?;
        sys::link::link_update(link.as_fd(), prog.as_fd(), Some(old.as_fd()))
            .map_err(|error| link_error(interface, current.mode, error))?;
        say(format!(
            "Replaced {} (id {}) in the BPF link on {interface}",
            current.name, current.prog_id
        ));
        return Ok(AttachOutcome {
            mode: current.mode,
            fallback: None,
            replaced: Some(current.clone()),
            link_pin: Some(link_pin_path(options.pin_root, interface)),
            undo: Undo::RestoreLink { link, old },
        });
    }

    let (mode, fallback) = match options.mode {
        ModeRequest::Exactly(mode) => (mode, None),
        ModeRequest::Auto => match native_mode_obstacle(interface, ifindex, options.frags)? {
            Some(reason) => (XdpMode::Skb, Some(reason)),
            None => (XdpMode::Drv, None),
        },
    };
    if let Some(reason) = &fallback {
        say(format!(
            "Native mode is not possible: {reason}; using generic (skb) mode"
        ));
    }

    // Our program in another mode, or a switch to a link: the old one must go first. It is
    // held, so that a failure or a rollback can put it back.
    let mut detached_first: Option<(XdpMode, ProgFd)> = None;
    if let Some(current) = &current {
        if current.mode != mode || options.link {
            let old = sys::prog::prog_fd_by_id(current.prog_id)
                .map_err(|error| link_error(interface, current.mode, error))?;
            say(format!(
                "Detaching {} (id {}) from {interface} ({} mode) first: the kernel allows one mode at a time, and a link only on a free interface",
                current.name,
                current.prog_id,
                current.mode.describe()
            ));
            netlink::xdp_detach(ifindex, current.mode.flags())
                .map_err(|error| attach_error(interface, current.mode, error))?;
            detached_first = Some((current.mode, old));
        }
    }
    // After a failure: the program detached above goes back, and the user is told.
    let put_back = |detached: Option<(XdpMode, ProgFd)>, say: &mut dyn FnMut(String)| {
        if let (Some((old_mode, old)), Some(current)) = (detached, &current) {
            if reattach_old(ifindex, old_mode, &old) {
                say(format!(
                    "Put {} (id {}) back on {interface} ({} mode)",
                    current.name,
                    current.prog_id,
                    old_mode.describe()
                ));
            }
        }
    };
    let replacing = current
        .clone()
        .filter(|current| current.mode == mode && !options.link);

    let attempt = |mode: XdpMode| -> Result<Undo, LoadError> {
        if options.link {
            let link = sys::link::xdp_link_create(prog.as_fd(), ifindex, mode.flags())
                .map_err(|error| link_error(interface, mode, error))?;
            let pin = link_pin_path(options.pin_root, interface);
            let _ = std::fs::remove_file(&pin);
            sys::obj::obj_pin(link.as_fd(), &pin).map_err(|error| LoadError::Pin {
                map: format!("the BPF link of {interface}"),
                path: pin.clone(),
                error,
            })?;
            return Ok(Undo::RemoveLink { link, pin });
        }
        match &replacing {
            Some(current) => {
                // Atomic: the kernel swaps only if `current` is still the one attached.
                let old = sys::prog::prog_fd_by_id(current.prog_id)
                    .map_err(|error| link_error(interface, mode, error))?;
                netlink::xdp_attach(
                    ifindex,
                    prog.as_fd(),
                    mode.flags() | XDP_FLAGS_REPLACE,
                    Some(old.as_fd()),
                )
                .map_err(|error| attach_error(interface, mode, error))?;
                Ok(Undo::Restore { ifindex, mode, old })
            }
            None => {
                netlink::xdp_attach(
                    ifindex,
                    prog.as_fd(),
                    mode.flags() | XDP_FLAGS_UPDATE_IF_NOEXIST,
                    None,
                )
                .map_err(|error| attach_error(interface, mode, error))?;
                Ok(Undo::Detach { ifindex, mode })
            }
        }
    };

    let (mode, fallback, undo) = match (attempt(mode), options.mode) {
        (Ok(undo), _) => (mode, fallback, undo),
        (Err(LoadError::Attach { error, .. }), ModeRequest::Auto) if mode == XdpMode::Drv => {
            let mut reason = format!("the kernel refused native mode ({}", error.errno.desc());
            if let Some(message) = &error.extack {
                reason.push_str(&format!(": {message}"));
            }
            reason.push(')');
            say(format!(
                "Native mode is not possible: {reason}; using generic (skb) mode"
            ));
            match attempt(XdpMode::Skb) {
                Ok(undo) => (XdpMode::Skb, Some(reason), undo),
                Err(error) => {
                    put_back(detached_first, say);
                    return Err(error);
                }
            }
        }
        (Err(error), _) => {
            put_back(detached_first, say);
            return Err(error);
        }
    };
    if let Some(replaced) = &replacing {
        say(format!(
            "Replaced {} (id {}) on {interface} atomically",
            replaced.name, replaced.prog_id
        ));
    }
    let link_pin = match &undo {
        Undo::RemoveLink { pin, .. } => Some(pin.clone()),
        _ => None,
    };
    let undo = match detached_first {
        Some((old_mode, old)) => Undo::Reattach {
            first: Box::new(undo),
            ifindex,
            mode: old_mode,
            old,
        },
        None => undo,
    };
    Ok(AttachOutcome {
        mode,
        fallback,
        replaced: replacing,
        link_pin,
        undo,
    })
}
