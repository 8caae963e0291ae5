//! The object loaded for a run as for an attach, with nothing attached; a pinned prog
//! array, which may feed a running chain, replaced by a private copy.

use std::path::{Path, PathBuf};

use elf::{Object, ProgramSpec};
use sys::abi::BPF_MAP_TYPE_PROG_ARRAY;
use sys::ProgFd;

use crate::error::LoadError;
use crate::load::maps::LiveMap;
use crate::load::{self};
use crate::run::{entry_program, RunError};
use crate::timings;

/// The object as a run needs it: the entry program with its tail calls wired and the
/// maps it uses (kept open for as long as this lives).
#[derive(Debug)]
pub struct LoadedRun {
    pub entry: ProgFd,
    pub maps: Vec<LiveMap>,
    /// The other programs loaded: tail calls and static prog-array entries.
    pub programs: Vec<(String, ProgFd)>,
    /// (prog array, slot, program) for each slot filled, in the order they were filled.
    pub wiring: Vec<(String, u32, String)>,
    /// (map, path) of each map this run pinned.
    pub pinned: Vec<(String, PathBuf)>,
    /// Things worth telling the user that are no errors (one line each).
    pub notes: Vec<String>,
    _btf: Option<sys::btf::BtfFd>,
}

/// Loads `program` of `object` as the attach flow does (BTF, maps reused from their pins
/// or created, the tail-call programs `<program>_<N>` in slot N of its prog array,
/// static prog-array initialisation, maps pinned as the object asks) and attaches
/// nothing.
///
/// A prog array reused from a pin may be wired into a running chain; putting this
/// run's programs into it would change what live traffic meets. The run uses a private
/// copy of it instead, so the only shared state is the data maps.
pub fn load_for_run(
    object: &Object,
    object_name: &str,
    pin_root: &Path,
    program: &str,
) -> Result<LoadedRun, RunError> {
    let entry = entry_program(object, program)?;
    load::programs::require_xdp(load::tail_calls::chain_programs(object, entry))?;
    // One kernel BTF for the checks and the loads: read at most once, and only for CO-RE.
    let core = load::core::CoreContext::default();
    load::programs::check_linkable(
        object,
        load::tail_calls::chain_programs(object, entry),
        &core,
    )?;
    let tail_calls = load::tail_calls::tail_call_plan(object, entry)?;
    let created = load::pins::prepare_pin_root_for(object, pin_root, false)?;
    created.remove_if_failed(load_prepared(
        object,
        object_name,
        pin_root,
        entry,
        tail_calls,
        &core,
    ))
}

fn load_prepared(
    object: &Object,
    object_name: &str,
    pin_root: &Path,
    entry: &ProgramSpec,
    tail_calls: Option<load::tail_calls::TailCallPlan<'_>>,
    core: &load::core::CoreContext,
) -> Result<LoadedRun, RunError> {
    let mut notes = Vec::new();
    let (btf, mut maps) =
        load::maps::btf_and_maps(object, object_name, pin_root, &mut |note| notes.push(note))?;
    for map in maps
        .iter_mut()
        .filter(|map| map.reused && map.spec.map_type == BPF_MAP_TYPE_PROG_ARRAY)
    {
        private_prog_array(map)?;
        notes.push(format!(
            "{} is pinned and may be wired into a running chain: this run uses a private copy of it",
            map.kernel_name
        ));
    }

    timings::phase("programs");
    let chain = load::programs::load_chain(
        object,
        entry,
        tail_calls.as_ref(),
        &maps,
        btf.as_ref(),
        core,
        |_| {},
    )?;
    timings::phase("tail calls");
    let mut wiring = load::tail_calls::fill_program_slots(&maps, &chain.all(&entry.name))?;
    if let Some((index, _)) = &tail_calls {
        for (slot, name, fd) in &chain.tail_calls {
            load::tail_calls::set_tail_call(&maps[*index], *slot, fd, name)?;
            wiring.push((maps[*index].kernel_name.clone(), *slot, name.to_string()));
        }
    }
    timings::phase("pin");
    let pinned = load::pins::pin_maps(&maps)?;
    let pinned = maps
        .iter()
        .filter_map(|map| {
            let path = map.pin.as_ref()?;
            pinned
                .contains(path)
                .then(|| (map.kernel_name.clone(), path.clone()))
        })
        .collect();
    let programs: Vec<(String, ProgFd)> = chain
        .tail_calls
        .into_iter()
        .map(|(_, name, fd)| (name.to_string(), fd))
        .chain(
            chain
                .static_slots
                .into_iter()
                .map(|(name, fd)| (name.to_string(), fd)),
        )
        .collect();
    Ok(LoadedRun {
        entry: chain.entry,
        maps,
        programs,
        wiring,
        pinned,
        notes,
        _btf: btf,
    })
}

/// Replaces a reused (pinned) prog array with a new, empty one of the same shape that
/// is neither pinned nor shared.
fn private_prog_array(map: &mut LiveMap) -> Result<(), RunError> {
    let spec = &map.spec;
    let fd = sys::map::map_create(&sys::map::MapCreate {
        name: &map.kernel_name,
        map_type: spec.map_type,
        key_size: spec.key_size,
        value_size: spec.value_size,
        max_entries: spec.max_entries,
        map_flags: spec.map_flags,
        numa_node: spec.numa_node,
        btf: None,
        inner_map_fd: None,
        map_extra: spec.map_extra,
    })
    .map_err(|error| LoadError::MapCreate {
        map: format!("{} (a private copy for the run)", map.kernel_name),
        error,
    })?;
    map.fd = fd;
    map.pin = None;
    map.reused = false;
    Ok(())
}
