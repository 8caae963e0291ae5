//! What is on an interface now: the attached program, its mode and how it is attached
//! (netlink or a BPF link), the maps it reaches through its prog arrays, and the pins of
//! those maps and links; `-status` reports all of it.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sys::abi::*;
use sys::netlink::{self, LinkState, NetlinkError};

use crate::error::LoadError;
use crate::load::tail_calls::prog_array_slots;
use crate::vocab::{map_type_name, XdpMode};

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

/// The pins under `root` of the BPF link with this id.
pub fn link_pins(root: &Path, link_id: u32) -> Vec<PathBuf> {
    pins_of(root, |fd| {
        sys::obj::object_kind(fd) == sys::obj::ObjectKind::Link
            && sys::link::link_info(fd).is_ok_and(|info| info.id == link_id)
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

/// `-status`: per interface, what is attached and what it uses, one JSON value each (the
/// `-json` document's `interfaces`; [`status_lines`] is the text of it).
pub fn status_report(
    interfaces: &[(String, u32)],
    pin_root: &Path,
) -> Result<Vec<Value>, LoadError> {
    let mut report = Vec::new();
    for (name, ifindex) in interfaces.iter().cloned() {
        let current = attached(&name, ifindex)?;
        let entry = match &current {
            None => json!({ "interface": name, "ifindex": ifindex, "attached": null }),
            Some(current) => {
                let (map_ids, slots) = reachable_maps(current.prog_id);
                let (method, link_id, link_pins) = match current.method {
                    Method::Link { id } => {
                        let pins: Vec<String> = link_pins(pin_root, id)
                            .iter()
                            .map(|path| path.display().to_string())
                            .collect();
                        ("link", Some(id), pins)
                    }
                    Method::Netlink => ("netlink", None, Vec::new()),
                };
                json!({
                    "interface": name,
                    "ifindex": ifindex,
                    "attached": {
                        "id": current.prog_id,
                        "name": current.name,
                        "mode": current.mode.ip_link_keyword().trim_start_matches("xdp"),
                        "method": method,
                        "link_id": link_id,
                        "link_pins": link_pins,
                    },
                    "tail_calls": slots.iter().map(|(map_id, map, slot, prog_id)| json!({
                        "map": map, "map_id": map_id, "slot": slot, "program_id": prog_id, "program": prog_name(*prog_id),
                    })).collect::<Vec<_>>(),
                    "maps": map_ids.iter().map(|id| map_summary(*id, pin_root)).collect::<Vec<_>>(),
                })
            }
        };
        report.push(entry);
    }
    Ok(report)
}

fn map_summary(map_id: u32, pin_root: &Path) -> Value {
    let info = sys::map::map_fd_by_id(map_id).and_then(|fd| sys::map::map_info(fd.as_fd()));
    let pins: Vec<String> = map_pins(pin_root, &[map_id])
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    match info {
        Ok(info) => json!({
            "id": map_id,
            "name": info.name,
            "type": map_type_name(info.map_type),
            "pins": pins,
        }),
        Err(_) => json!({ "id": map_id, "pins": pins }),
    }
}

fn prog_name(id: u32) -> String {
    sys::prog::prog_fd_by_id(id)
        .and_then(|fd| sys::prog::prog_info(fd.as_fd()))
        .map(|info| info.name)
        .unwrap_or_default()
}

/// The `-json` document of a status report.
pub fn status_json(report: &[Value]) -> Value {
    json!({ "interfaces": report })
}

/// The text `-status` prints for a report: a line per interface, and under an attached
/// program its link pins, tail-call slots and maps.
pub fn status_lines(report: &[Value]) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in report {
        let name = entry["interface"].as_str().unwrap_or_default();
        let attached = &entry["attached"];
        if attached.is_null() {
            lines.push(format!(
                "{name} (ifindex {}): no XDP program",
                entry["ifindex"]
            ));
            continue;
        }
        let method = match attached["link_id"].as_u64() {
            Some(id) => format!("BPF link {id}"),
            None => "netlink".to_string(),
        };
        lines.push(format!(
            "{name} (ifindex {}): {} (id {}), {} mode, attached via {method}",
            entry["ifindex"],
            attached["name"].as_str().unwrap_or_default(),
            attached["id"],
            attached["mode"].as_str().unwrap_or_default()
        ));
        for pin in attached["link_pins"].as_array().into_iter().flatten() {
            lines.push(format!(
                "  link pinned at {}",
                pin.as_str().unwrap_or_default()
            ));
        }
        for slot in entry["tail_calls"].as_array().into_iter().flatten() {
            lines.push(format!(
                "  tail call: {}[{}] = {} (id {})",
                slot["map"].as_str().unwrap_or_default(),
                slot["slot"],
                slot["program"].as_str().unwrap_or_default(),
                slot["program_id"]
            ));
        }
        for map in entry["maps"].as_array().into_iter().flatten() {
            let pins: Vec<&str> = map["pins"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|pin| pin.as_str())
                .collect();
            let pinned = if pins.is_empty() {
                "not pinned".to_string()
            } else {
                format!("pinned at {}", pins.join(", "))
            };
            lines.push(format!(
                "  map: {} (id {}, {}) {pinned}",
                map["name"].as_str().unwrap_or_default(),
                map["id"],
                map["type"].as_str().unwrap_or_default()
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_is_read_from_the_report() {
        let report = [
            json!({ "interface": "lo", "ifindex": 1, "attached": null }),
            json!({
                "interface": "veth1",
                "ifindex": 7,
                "attached": {
                    "id": 42, "name": "xdp_skeleton", "mode": "generic", "method": "link",
                    "link_id": 5, "link_pins": ["/sys/fs/bpf/link_veth1"],
                },
                "tail_calls": [{
                    "map": "jmp_map", "map_id": 3, "slot": 1, "program_id": 43,
                    "program": "xdp_skeleton_1",
                }],
                "maps": [
                    { "id": 3, "name": "jmp_map", "type": "Array of programs", "pins": [] },
                    { "id": 4, "name": "stats_map", "type": "Per-CPU array",
                      "pins": ["/sys/fs/bpf/stats_map"] },
                ],
            }),
        ];
        assert_eq!(
            status_lines(&report),
            [
                "lo (ifindex 1): no XDP program",
                "veth1 (ifindex 7): xdp_skeleton (id 42), generic mode, attached via BPF link 5",
                "  link pinned at /sys/fs/bpf/link_veth1",
                "  tail call: jmp_map[1] = xdp_skeleton_1 (id 43)",
                "  map: jmp_map (id 3, Array of programs) not pinned",
                "  map: stats_map (id 4, Per-CPU array) pinned at /sys/fs/bpf/stats_map",
            ]
        );
        assert_eq!(status_json(&report[..1])["interfaces"][0]["ifindex"], 1);
    }
}
