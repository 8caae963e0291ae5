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

/// Every interface of the calling thread's network namespace, as (name, index),
/// sorted by name. Asked of the kernel (if_nameindex(3) is a netlink dump), not read
/// from /sys/class/net, which shows the namespace sysfs was mounted in: under
/// `nsenter --net` or `ip netns exec` without a remount, another namespace's.
pub fn interfaces() -> Result<Vec<(String, u32)>, SysError> {
    let list = nix::net::if_::if_nameindex().map_err(|errno| SysError {
        op: "if_nameindex",
        subject: "the interfaces of this network namespace".to_string(),
        errno,
    })?;
    let mut all: Vec<(String, u32)> = list
        .iter()
        .map(|interface| {
            (
                interface.name().to_string_lossy().into_owned(),
                interface.index(),
            )
        })
        .collect();
    all.sort();
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loopback_interface_is_listed_with_its_index() {
        let all = interfaces().expect("if_nameindex");
        let lo = all
            .iter()
            .find(|(name, _)| name == "lo")
            .expect("lo is listed");
        assert_eq!(Some(lo.1), ifindex("lo").ok());
    }
}
