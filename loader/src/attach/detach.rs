//! Taking a program off an interface, however it was attached, with the link pins.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use sys::netlink;

use crate::attach::status::{attached, pins_of, Attached, Method};
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
            for pin in pins_of(pin_root, |fd| {
                sys::obj::object_kind(fd) == sys::obj::ObjectKind::Link
                    && sys::link::link_info(fd).is_ok_and(|info| info.id == id)
            }) {
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
