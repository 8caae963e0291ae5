//! Before an interface is touched: it exists, this run holds its lock, and what runs on it
//! now is ours (or `-force` was given).

use crate::attach::status::{attached, Attached, Method};
use crate::error::LoadError;
use crate::vocab::same_program_name;

/// Looks up an interface's index.
pub fn interface_index(name: &str) -> Result<u32, LoadError> {
    sys::iface::ifindex(name).map_err(|error| LoadError::Interface {
        name: name.to_string(),
        error,
    })
}

/// The interfaces `names` (`-i`) names with their indexes, or all of them when it names none.
pub fn interfaces_of(names: &[String]) -> Result<Vec<(String, u32)>, LoadError> {
    if names.is_empty() {
        return sys::iface::interfaces().map_err(LoadError::ListInterfaces);
    }
    names
        .iter()
        .map(|name| interface_index(name).map(|index| (name.clone(), index)))
        .collect()
}

/// Held while a run changes an interface: a second run on the same interface fails at
/// once instead of racing the first.
#[derive(Debug)]
pub struct InterfaceLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// Locks `interface` for this run, or says who holds it.
pub fn lock_interface(interface: &str) -> Result<InterfaceLock, LoadError> {
    // Interface names repeat across network namespaces; the namespace's inode tells them apart.
    let netns = std::fs::metadata("/proc/self/ns/net")
        .map(|meta| std::os::unix::fs::MetadataExt::ino(&meta))
        .unwrap_or(0);
    let file = crate::lock::lock_file(&format!(
        "xdploader-{netns}-{}.lock",
        interface.replace('/', "_")
    ))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map(|lock| InterfaceLock { _lock: lock })
        .map_err(|_| LoadError::Busy {
            interface: interface.to_string(),
        })
}

/// Refuses to touch `current` on `interface` unless it is `entry` or `force` is given;
/// `detaching` picks the sentence for `-detach`.
pub fn ensure_ours(
    interface: &str,
    current: &Attached,
    entry: &str,
    force: bool,
    detaching: bool,
) -> Result<(), LoadError> {
    if force || same_program_name(&current.name, entry) {
        return Ok(());
    }
    Err(LoadError::NotOurs {
        interface: interface.to_string(),
        name: current.name.clone(),
        id: current.prog_id,
        mode: current.mode.describe(),
        via_link: matches!(current.method, Method::Link { .. }),
        detaching: detaching.then(|| entry.to_string()),
    })
}

/// Refuses, before loading anything, to replace a program on any of `interfaces` that is
/// not `entry` (unless forced).
pub fn check_not_ours(
    interfaces: &[(&str, u32)],
    entry: &str,
    force: bool,
) -> Result<(), LoadError> {
    for (interface, ifindex) in interfaces {
        if let Some(current) = attached(interface, *ifindex)? {
            ensure_ours(interface, &current, entry, force, false)?;
        }
    }
    Ok(())
}
