//! Interface names and indexes.

use crate::error::SysError;

/// The index of the interface called `name`.
pub fn ifindex(name: &str) -> Result<u32, SysError> {
    nix::net::if_::if_nametoindex(name).map_err(|errno| SysError {
        op: "if_nametoindex",
        subject: format!("interface {name}"),
        errno,
    })
}
