//! `-load-only`: every map and every program of an object into the kernel, the tail calls
//! of the entry program (when it has them) wired, everything pinned under the pin
//! directory, nothing attached. It verifies an object without touching an interface.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use elf::{Object, ProgramSpec};
use sys::ProgFd;

use crate::error::LoadError;
use crate::load::attach_btf::AttachProg;
use crate::load::core::CoreContext;
use crate::load::maps::{btf_and_maps, object_name, LiveMap};
use crate::load::pins::{pin_name, pin_object, prepare_pin_root, unpin};
use crate::load::programs::{check_linkable, load_program};
use crate::load::tail_calls::{fill_program_slots, set_tail_call, tail_call_plan};
use crate::load::tracefs::printk_note;
use crate::timings;
use crate::vocab::DEFAULT_PROG;

/// What `-load-only` loads and where it pins.
#[derive(Debug, Clone, Copy)]
pub struct LoadOnly<'a> {
    /// The object file (its name prefixes global-data map names).
    pub file: &'a Path,
    /// The entry program whose `<entry>_<N>` programs fill its prog array. Any object can
    /// be verified without naming one, but one named with -prog must exist.
    pub entry: &'a str,
    pub pin_root: &'a Path,
    /// `-attach-prog`: the program fentry, fexit and freplace programs attach to.
    pub attach_prog: Option<&'a str>,
}

/// `-load-only`: every map and every program into the kernel, pinned under the pin
/// directory, nothing attached; each step told to `say`. On failure, the pins made so far
/// are removed.
pub fn load_only(
    object: &Object,
    request: &LoadOnly<'_>,
    say: &mut dyn FnMut(String),
) -> Result<(), LoadError> {
    let core = check_object(object, request.entry, request.attach_prog)?;
    let created = prepare_pin_root(request.pin_root)?;
    created.remove_if_failed((|| {
        let loaded = load_all(object, request, &core, say)?;
        pin_all(&loaded, request.pin_root, say)?;
        for line in printk_note(object) {
            say(line);
        }
        Ok(())
    })())
}

/// The checks before any kernel work: an entry program named with -prog exists, the
/// program -attach-prog names exists, every program links (its CO-RE relocations and
/// attach target resolve), and the entry's tail-call slots fit its prog array. The
/// kernel BTF it read, if any, is returned for the loads.
pub fn check_object(
    object: &Object,
    entry: &str,
    attach_prog: Option<&str>,
) -> Result<CoreContext, LoadError> {
    // Any object can be verified without naming an entry program, but one named with
    // -prog must exist (its tail calls are wired by its name).
    if entry != DEFAULT_PROG && object.program(entry).is_none() {
        return Err(LoadError::NoSuchProgram {
            name: entry.to_string(),
            available: object.programs.iter().map(|p| p.name.clone()).collect(),
        });
    }
    // One kernel BTF for the checks and the loads: read at most once, and only for CO-RE
    // or attach targets.
    let attach_prog = attach_prog.map(AttachProg::open).transpose()?;
    let core = CoreContext::default().with_attach_prog(attach_prog);
    check_linkable(object, &object.programs, &core)?;
    // A tail-call slot beyond the prog array is known before any verifier run.
    if let Some(entry) = object.program(entry) {
        tail_call_plan(object, entry)?;
    }
    Ok(core)
}

/// Every map and program of an object in the kernel, tail calls wired; nothing pinned
/// yet. Dropping it closes the descriptors (what nothing else holds goes away).
pub struct Loaded<'o> {
    pub maps: Vec<LiveMap>,
    /// In the object's order.
    pub programs: Vec<(&'o ProgramSpec, ProgFd)>,
}

/// Creates (or reuses from their pins) the maps, loads every program and fills the
/// prog arrays' slots: `-load-only` without the pins.
pub fn load_all<'o>(
    object: &'o Object,
    request: &LoadOnly<'_>,
    core: &CoreContext,
    say: &mut dyn FnMut(String),
) -> Result<Loaded<'o>, LoadError> {
    let (btf, maps) = btf_and_maps(object, &object_name(request.file), request.pin_root, say)?;
    timings::phase("programs");
    let mut programs = Vec::with_capacity(object.programs.len());
    for program in &object.programs {
        let fd = load_program(object, program, &maps, btf.as_ref(), core)?;
        programs.push((program, fd));
    }
    timings::phase("tail calls");
    let loaded: Vec<(&str, &ProgFd)> = programs
        .iter()
        .map(|(program, fd)| (program.name.as_str(), fd))
        .collect();
    for (map, slot, name) in fill_program_slots(&maps, &loaded)? {
        say(format!("Inserted program {name} into slot {slot} of {map}"));
    }
    if let Some((index, slots)) = object
        .program(request.entry)
        .map(|entry| tail_call_plan(object, entry))
        .transpose()?
        .flatten()
    {
        let prog_array = &maps[index];
        for (slot, program) in slots {
            if let Some((_, fd)) = programs
                .iter()
                .find(|(loaded, _)| loaded.name == program.name)
            {
                set_tail_call(prog_array, slot, fd, &program.name)?;
                say(format!(
                    "Inserted program {} into slot {slot} of {}",
                    program.name, prog_array.kernel_name
                ));
            }
        }
    }
    Ok(Loaded { maps, programs })
}

/// Pins every map (those not reused from a pin) and every program under `pin_root`, as
/// `-load-only` does, and returns the pins made. On failure, removes them again.
pub fn pin_all(
    loaded: &Loaded<'_>,
    pin_root: &Path,
    say: &mut dyn FnMut(String),
) -> Result<Vec<PathBuf>, LoadError> {
    timings::phase("pin");
    let mut pinned: Vec<PathBuf> = Vec::new();
    let result = (|| {
        for map in &loaded.maps {
            let path = match &map.pin {
                Some(path) => path.clone(),
                None => pin_root.join(pin_name(&map.kernel_name)),
            };
            if !map.reused {
                pin_object(map.fd.as_fd(), &path, &map.kernel_name)?;
                pinned.push(path.clone());
            }
            let id = sys::map::map_info(map.fd.as_fd())
                .map(|info| info.id)
                .unwrap_or(0);
            say(format!(
                "Map {} (id {id}) pinned at {}",
                map.kernel_name,
                path.display()
            ));
        }
        for (program, fd) in &loaded.programs {
            let path = pin_root.join(&program.name);
            pin_object(fd.as_fd(), &path, &program.name)?;
            pinned.push(path.clone());
            let id = sys::prog::prog_info(fd.as_fd())
                .map(|info| info.id)
                .unwrap_or(0);
            say(format!(
                "Program {} (id {id}) pinned at {}",
                program.name,
                path.display()
            ));
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(pinned),
        Err(error) => {
            unpin(&pinned);
            Err(error)
        }
    }
}
