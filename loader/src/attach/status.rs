//! What is on an interface now: the attached program, its mode and how it is attached
//! (netlink or a BPF link), the maps it reaches through its prog arrays, and the pins of
//! those maps and links.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use sys::abi::*;
use sys::netlink::{self, LinkState, NetlinkError};

use crate::error::LoadError;
use crate::load::tail_calls::prog_array_slots;
use crate::vocab::XdpMode;

/// How a program is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Netlink,
    Link { id: u32 },
}

/// The XDP program on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    pub prog_id: u32,
    pub name: String,
    pub mode: XdpMode,
    pub method: Method,
}

fn attached_mode(state: &LinkState) -> Option<(u32, XdpMode)> {
    let xdp = &state.xdp;
    match xdp.attached {
        XDP_ATTACHED_SKB => Some((xdp.prog_id, XdpMode::Skb)),
        XDP_ATTACHED_DRV => Some((xdp.prog_id, XdpMode::Drv)),
        XDP_ATTACHED_HW => Some((xdp.prog_id, XdpMode::Hw)),
        // Several at once: report the first the kernel lists.
        XDP_ATTACHED_MULTI => [
            (xdp.drv_prog_id, XdpMode::Drv),
            (xdp.skb_prog_id, XdpMode::Skb),
            (xdp.hw_prog_id, XdpMode::Hw),
        ]
        .into_iter()
        .find(|(id, _)| *id != 0),
        _ => None,
    }
}

pub(crate) fn query_error(interface: &str, error: NetlinkError) -> LoadError {
    LoadError::Attach {
        interface: interface.to_string(),
        mode: "any",
        error,
    }
}

/// The program attached to `ifindex`, if any, and through what.
pub fn attached(interface: &str, ifindex: u32) -> Result<Option<Attached>, LoadError> {
    let state = netlink::link_query(ifindex).map_err(|error| query_error(interface, error))?;
    let Some((prog_id, mode)) = attached_mode(&state) else {
        return Ok(None);
    };
    let name = sys::prog::prog_fd_by_id(prog_id)
        .and_then(|fd| sys::prog::prog_info(fd.as_fd()))
        .map(|info| info.name)
        .unwrap_or_else(|_| format!("program {prog_id}"));
    let method = match sys::link::xdp_link_on(ifindex) {
        Ok(Some((_, info))) if info.prog_id == prog_id => Method::Link { id: info.id },
        _ => Method::Netlink,
    };
    Ok(Some(Attached {
        prog_id,
        name,
        mode,
        method,
    }))
}

/// The pins under `root` (and one level of sub-directories) whose object satisfies `matches`.
pub fn pins_of(root: &Path, matches: impl Fn(std::os::fd::BorrowedFd<'_>) -> bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut directories = vec![(root.to_path_buf(), 0)];
    while let Some((directory, depth)) = directories.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            continue;
        };
        let mut entries: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                if depth < 1 {
                    directories.push((path, depth + 1));
                }
                continue;
            }
            if let Ok(fd) = sys::obj::obj_get(&path) {
                if matches(fd.as_fd()) {
                    found.push(path);
                }
            }
        }
    }
    found
}

/// The pins under `root` of the maps with these ids.
pub fn map_pins(root: &Path, map_ids: &[u32]) -> Vec<PathBuf> {
    pins_of(root, |fd| {
        sys::obj::object_kind(fd) == sys::obj::ObjectKind::Map
            && sys::map::map_info(fd).is_ok_and(|info| map_ids.contains(&info.id))
    })
}

/// A filled tail-call slot: (prog array id, prog array name, slot, program id).
pub type FilledSlot = (u32, String, u32, u32);

/// Every map a program reaches: its own, and those of the programs in the slots of the
/// prog arrays it uses, transitively. Also returns the tail-call slots found on the way.
pub fn reachable_maps(prog_id: u32) -> (Vec<u32>, Vec<FilledSlot>) {
    let mut maps: Vec<u32> = Vec::new();
    let mut slots = Vec::new();
    let mut programs = vec![prog_id];
    let mut seen_programs = Vec::new();
    while let Some(id) = programs.pop() {
        if seen_programs.contains(&id) {
            continue;
        }
        seen_programs.push(id);
        let Ok(info) = sys::prog::prog_fd_by_id(id).and_then(|fd| sys::prog::prog_info(fd.as_fd()))
        else {
            continue;
        };
        for map_id in info.map_ids {
            if maps.contains(&map_id) {
                continue;
            }
            maps.push(map_id);
            let Ok(map) = sys::map::map_fd_by_id(map_id) else {
                continue;
            };
            let Ok(map_info) = sys::map::map_info(map.as_fd()) else {
                continue;
            };
            if map_info.map_type == BPF_MAP_TYPE_PROG_ARRAY {
                for (slot, target) in prog_array_slots(map.as_fd(), map_info.max_entries) {
                    slots.push((map_id, map_info.name.clone(), slot, target));
                    programs.push(target);
                }
            }
        }
    }
    (maps, slots)
}
