//! The original project's redirect map: each attached interface's index written into it,
//! so programs can redirect to every interface they are attached to.

use std::os::fd::AsFd;

use sys::abi::*;

use crate::error::LoadError;
use crate::load::maps::LiveMap;

/// The map the original project writes each attached interface into.
pub const REDIRECT_MAP: &str = "if_redirect";

/// The object's redirect map, when it has one of a devmap type.
pub fn redirect_map(maps: &[LiveMap]) -> Option<&LiveMap> {
    maps.iter().find(|map| {
        map.spec.name == REDIRECT_MAP
            && matches!(
                map.spec.map_type,
                BPF_MAP_TYPE_DEVMAP | BPF_MAP_TYPE_DEVMAP_HASH
            )
    })
}

/// What happened when writing an interface into the redirect devmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectEntry {
    Inserted,
    /// A plain devmap is indexed by slot; this ifindex is beyond its size.
    DoesNotFit {
        max_entries: u32,
    },
}

/// `if_redirect[ifindex] = ifindex`, as the original did, so programs can redirect to
/// every interface they are attached to.
pub fn add_redirect(devmap: &LiveMap, ifindex: u32) -> Result<RedirectEntry, LoadError> {
    if devmap.spec.map_type == BPF_MAP_TYPE_DEVMAP && ifindex >= devmap.spec.max_entries {
        return Ok(RedirectEntry::DoesNotFit {
            max_entries: devmap.spec.max_entries,
        });
    }
    sys::map::map_update_elem(
        devmap.fd.as_fd(),
        &ifindex.to_ne_bytes(),
        &ifindex.to_ne_bytes(),
        BPF_ANY,
    )
    .map_err(|error| LoadError::MapUpdate {
        map: devmap.spec.name.clone(),
        what: format!("insert ifindex {ifindex}"),
        error,
    })?;
    Ok(RedirectEntry::Inserted)
}
