//! A reload joining the chain that runs: the maps the running programs share without a
//! pin are shared by the new programs too.

use std::os::fd::AsFd;

use elf::MapOrigin;
use sys::abi::BPF_MAP_TYPE_PROG_ARRAY;
use sys::map::MapInfo;
use sys::MapFd;

use crate::attach::status::{attached, reachable_maps};
use crate::load::maps::LiveMap;
use crate::load::tail_calls::prog_array_slots;
use crate::vocab::same_program_name;

/// A reload joins the chain that is running. Its prog array is pinned and reused, so the
/// programs already in its slots (and the entry programs on the interfaces) stay wired to
/// it until the new entry program replaces them; the maps those programs share without a
/// pin (kern/xdp.c's `tail_call` scratch map) must be the same for the old and the new
/// programs, or an old entry program tail-calling into a new program reads another map.
/// Replaces each such map of `maps` with the running one when its name and shape match.
/// Returns (index in `maps`, id of the running map) for each map shared.
pub fn share_running_chain_maps(
    maps: &mut [LiveMap],
    entry: &str,
    interfaces: &[(&str, u32)],
) -> Vec<(usize, u32)> {
    let mut programs: Vec<u32> = Vec::new();
    for map in maps
        .iter()
        .filter(|map| map.reused && map.spec.map_type == BPF_MAP_TYPE_PROG_ARRAY)
    {
        programs.extend(
            prog_array_slots(map.fd.as_fd(), map.spec.max_entries)
                .into_iter()
                .map(|(_, id)| id),
        );
    }
    if programs.is_empty() {
        // No live chain: this load's programs only ever see each other's maps.
        return Vec::new();
    }
    for (name, ifindex) in interfaces {
        if let Ok(Some(current)) = attached(name, *ifindex) {
            if same_program_name(&current.name, entry) {
                programs.push(current.prog_id);
            }
        }
    }
    let mut running: Vec<u32> = Vec::new();
    for program in programs {
        for id in reachable_maps(program).0 {
            if !running.contains(&id) {
                running.push(id);
            }
        }
    }
    let mut running: Vec<(u32, MapFd, MapInfo)> = running
        .into_iter()
        .filter_map(|id| {
            let fd = sys::map::map_fd_by_id(id).ok()?;
            let info = sys::map::map_info(fd.as_fd()).ok()?;
            Some((id, fd, info))
        })
        .collect();
    let mut shared = Vec::new();
    for (index, map) in maps.iter_mut().enumerate() {
        let spec = &map.spec;
        let shareable = !map.reused
            && map.pin.is_none()
            && spec.inner.is_none()
            && spec.initial_slots.is_empty()
            && spec.map_type != BPF_MAP_TYPE_PROG_ARRAY
            && !matches!(spec.origin, MapOrigin::GlobalData { .. });
        if !shareable {
            continue;
        }
        let found = running.iter().position(|(_, _, info)| {
            info.name == map.kernel_name
                && info.map_type == spec.map_type
                && info.key_size == spec.key_size
                && info.value_size == spec.value_size
                && info.max_entries == spec.max_entries
                && info.map_flags == spec.map_flags
        });
        if let Some(position) = found {
            let (id, fd, _) = running.swap_remove(position);
            // The map created for this load is closed (and freed) here.
            map.fd = fd;
            shared.push((index, id));
        }
    }
    shared
}
