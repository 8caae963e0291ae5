//! `-detach`: taking a program off an interface, however it was attached, with its link
//! pins and the pins of the maps it used.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use sys::netlink;

use crate::attach::preflight::{ensure_ours, lock_interface};
use crate::attach::status::{attached, link_pins, map_pins, reachable_maps, Attached, Method};
use crate::attach::xdp::{attach_error, link_error};
use crate::error::LoadError;

/// Removes the program from `interface`, however it was attached. Returns what was there
/// and the link pins it removed.
pub fn detach(
    interface: &str,
    ifindex: u32,
    pin_root: &Path,
) -> Result<Option<(Attached, Vec<PathBuf>)>, LoadError> {
    let Some(current) = attached(interface, ifindex)? else {
        return Ok(None);
    };
    let mut removed = Vec::new();
    match current.method {
        Method::Link { id } => {
            let link = sys::link::link_fd_by_id(id)
                .map_err(|error| link_error(interface, current.mode, error))?;
            sys::link::link_detach(link.as_fd())
                .map_err(|error| link_error(interface, current.mode, error))?;
            for pin in link_pins(pin_root, id) {
                if std::fs::remove_file(&pin).is_ok() {
                    removed.push(pin);
                }
            }
        }
        Method::Netlink => {
            netlink::xdp_detach(ifindex, current.mode.flags())
                .map_err(|error| attach_error(interface, current.mode, error))?;
        }
    }
    Ok(Some((current, removed)))
}

/// `-detach`: takes the program off each interface (refusing one that is not `entry`
/// unless `force`) and removes the pins of what it used, the maps' too unless
/// `keep_maps`, telling `say` each.
pub fn detach_all(
    interfaces: &[(String, u32)],
    entry: &str,
    force: bool,
    keep_maps: bool,
    pin_root: &Path,
    say: &mut dyn FnMut(String),
) -> Result<(), LoadError> {
    for (name, ifindex) in interfaces.iter().cloned() {
        let _lock = lock_interface(&name)?;
        let Some(current) = attached(&name, ifindex)? else {
            say(format!("Nothing attached to {name}"));
            continue;
        };
        ensure_ours(&name, &current, entry, force, true)?;
        // The maps it reaches, read while it is still attached (it may go right after).
        let (map_ids, _) = reachable_maps(current.prog_id);
        let pins = if keep_maps {
            Vec::new()
        } else {
            map_pins(pin_root, &map_ids)
        };
        let removed_links = detach(&name, ifindex, pin_root)?
            .map(|(_, pins)| pins)
            .unwrap_or_default();
        let how = match current.method {
            Method::Link { id } => format!("BPF link {id}"),
            Method::Netlink => "netlink".to_string(),
        };
        say(format!(
            "Detached {} (id {}, {} mode, {how}) from {name}",
            current.name,
            current.prog_id,
            current.mode.describe()
        ));
        for pin in removed_links {
            say(format!("Removed pin {}", pin.display()));
        }
        for pin in pins {
            if std::fs::remove_file(&pin).is_ok() {
                say(format!("Removed pin {}", pin.display()));
            }
        }
    }
    Ok(())
}
