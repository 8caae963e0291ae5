//! Tail calls by the naming convention: program `<entry>_<N>` goes into slot N of the prog
//! array the entry program uses. The plan (pure, checked before any kernel work), the
//! slots filled, emptied and read back, and a live prog array's slots put back when a run
//! that changed them fails.

use std::os::fd::{AsFd, AsRawFd};

use elf::{InitialSlot, Object, ProgramSpec, RelocTarget};
use sys::abi::*;
use sys::map::map_update_elem;
use sys::ProgFd;

use crate::error::LoadError;
use crate::load::maps::LiveMap;

/// The programs that go into the prog array by the naming convention: `<entry>_<N>` -> slot N,
/// in slot order.
pub fn tail_call_programs<'a>(object: &'a Object, entry: &str) -> Vec<(u32, &'a ProgramSpec)> {
    let prefix = format!("{entry}_");
    let mut found: Vec<(u32, &ProgramSpec)> = object
        .programs
        .iter()
        .filter_map(|program| {
            let suffix = program.name.strip_prefix(&prefix)?;
            // Only plain decimal numbers: `xdp_skeleton_1`, not `xdp_skeleton_x` or `_+1`.
            if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((suffix.parse().ok()?, program))
        })
        .collect();
    found.sort_by_key(|(slot, _)| *slot);
    found
}

/// The prog array the tail calls go into: the one the entry program uses, or the
/// object's only one.
pub fn find_prog_array(object: &Object, entry: &ProgramSpec) -> Result<usize, LoadError> {
    let prog_arrays: Vec<usize> = object
        .maps
        .iter()
        .enumerate()
        .filter(|(_, map)| map.map_type == BPF_MAP_TYPE_PROG_ARRAY)
        .map(|(index, _)| index)
        .collect();
    let used_by_entry: Vec<usize> = prog_arrays
        .iter()
        .copied()
        .filter(|index| {
            entry
                .relocations
                .iter()
                .any(|relocation| relocation.target == RelocTarget::Map { map_index: *index })
        })
        .collect();
    match (used_by_entry.as_slice(), prog_arrays.as_slice()) {
        ([only], _) | ([], [only]) => Ok(*only),
        _ => Err(LoadError::NoProgArray {
            entry: entry.name.clone(),
            found: prog_arrays.len(),
        }),
    }
}

/// The prog array (index into `Object::maps`) and the programs with their slots.
pub type TailCallPlan<'a> = (usize, Vec<(u32, &'a ProgramSpec)>);

/// The tail-call convention for `entry`: the prog array and the programs `<entry>_<N>`
/// with their slots, checked to fit the array. `None` when the object has no such programs.
pub fn tail_call_plan<'a>(
    object: &'a Object,
    entry: &ProgramSpec,
) -> Result<Option<TailCallPlan<'a>>, LoadError> {
    let programs = tail_call_programs(object, &entry.name);
    if programs.is_empty() {
        return Ok(None);
    }
    let index = find_prog_array(object, entry)?;
    let prog_array = &object.maps[index];
    if let Some((slot, program)) = programs
        .iter()
        .find(|(slot, _)| *slot >= prog_array.max_entries)
    {
        return Err(LoadError::TailCallSlotOutOfRange {
            program: program.name.clone(),
            slot: *slot,
            map: prog_array.name.clone(),
            max_entries: prog_array.max_entries,
        });
    }
    Ok(Some((index, programs)))
}

/// The programs loading `entry` brings: itself, its `<entry>_<N>` tail calls and the
/// programs a prog array is statically initialised with. `check_linkable` takes them
/// before anything is created.
pub fn chain_programs<'a>(object: &'a Object, entry: &'a ProgramSpec) -> Vec<&'a ProgramSpec> {
    let mut programs = vec![entry];
    programs.extend(
        tail_call_programs(object, &entry.name)
            .into_iter()
            .map(|(_, program)| program),
    );
    programs.extend(
        statically_referenced_programs(object)
            .into_iter()
            .filter_map(|name| object.program(name)),
    );
    programs
}

/// Programs that a prog array's static initialisation names.
pub fn statically_referenced_programs(object: &Object) -> Vec<&str> {
    object
        .maps
        .iter()
        .flat_map(|map| map.initial_slots.iter())
        .filter_map(|(_, target)| match target {
            InitialSlot::Program(name) => Some(name.as_str()),
            InitialSlot::Map(_) => None,
        })
        .collect()
}

/// `.values = { [slot] = &program }`: puts each loaded program into its slot of a newly
/// created prog array. Returns the (map, slot, program) triples filled.
pub fn fill_program_slots(
    maps: &[LiveMap],
    programs: &[(&str, &ProgFd)],
) -> Result<Vec<(String, u32, String)>, LoadError> {
    let mut filled = Vec::new();
    for map in maps.iter().filter(|map| !map.reused) {
        for (slot, target) in &map.spec.initial_slots {
            let InitialSlot::Program(name) = target else {
                continue;
            };
            let Some((_, fd)) = programs.iter().find(|(loaded, _)| loaded == name) else {
                continue;
            };
            set_tail_call(map, *slot, fd, name)?;
            filled.push((map.kernel_name.clone(), *slot, name.clone()));
        }
    }
    Ok(filled)
}

/// Puts `program` into `slot` of the prog array.
pub fn set_tail_call(
    prog_array: &LiveMap,
    slot: u32,
    program: &ProgFd,
    program_name: &str,
) -> Result<(), LoadError> {
    let fd = program.as_raw_fd() as u32;
    map_update_elem(
        prog_array.fd.as_fd(),
        &slot.to_ne_bytes(),
        &fd.to_ne_bytes(),
        BPF_ANY,
    )
    .map_err(|error| LoadError::MapUpdate {
        map: prog_array.spec.name.clone(),
        what: format!("put program {program_name} into slot {slot}"),
        error,
    })
}

/// Empties the slots of a reused prog array that this load does not fill, so programs
/// from an earlier load do not linger in the chain.
pub fn clear_other_slots(prog_array: &LiveMap, filled: &[u32]) -> Result<Vec<u32>, LoadError> {
    let mut cleared = Vec::new();
    for slot in (0..prog_array.spec.max_entries).filter(|slot| !filled.contains(slot)) {
        let deleted = sys::map::map_delete_elem(prog_array.fd.as_fd(), &slot.to_ne_bytes())
            .map_err(|error| LoadError::MapUpdate {
                map: prog_array.spec.name.clone(),
                what: format!("empty slot {slot}"),
                error,
            })?;
        if deleted {
            cleared.push(slot);
        }
    }
    Ok(cleared)
}

/// A prog array's filled slots: (slot, program id).
pub fn prog_array_slots(map: std::os::fd::BorrowedFd<'_>, max_entries: u32) -> Vec<(u32, u32)> {
    (0..max_entries)
        .filter_map(|slot| {
            let mut value = [0u8; 4];
            match sys::map::map_lookup_elem(map, &slot.to_ne_bytes(), &mut value) {
                Ok(true) => Some((slot, u32::from_ne_bytes(value))),
                _ => None,
            }
        })
        .collect()
}

/// What a reused (live) prog array held before this run changed it; `Drop` puts it back
/// unless the run succeeded (`keep`).
pub struct SlotGuard<'a> {
    prog_array: &'a LiveMap,
    /// Every slot, with the program it held (kept open so it cannot go away).
    slots: Vec<(u32, Option<sys::ProgFd>)>,
    restore: bool,
}

impl<'a> SlotGuard<'a> {
    pub fn save(prog_array: &'a LiveMap) -> SlotGuard<'a> {
        let filled = prog_array_slots(prog_array.fd.as_fd(), prog_array.spec.max_entries);
        let slots = (0..prog_array.spec.max_entries)
            .map(|slot| {
                let program = filled
                    .iter()
                    .find(|(filled, _)| *filled == slot)
                    .and_then(|(_, id)| sys::prog::prog_fd_by_id(*id).ok());
                (slot, program)
            })
            .collect();
        SlotGuard {
            prog_array,
            slots,
            restore: true,
        }
    }

    pub fn keep(&mut self) {
        self.restore = false;
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        if !self.restore {
            return;
        }
        let map = self.prog_array.fd.as_fd();
        for (slot, program) in &self.slots {
            let key = slot.to_ne_bytes();
            // Best effort: this runs on the way out of a failed run.
            let _ = match program {
                Some(fd) => {
                    let value = (fd.as_raw_fd() as u32).to_ne_bytes();
                    map_update_elem(map, &key, &value, BPF_ANY)
                }
                None => sys::map::map_delete_elem(map, &key).map(drop),
            };
        }
    }
}
