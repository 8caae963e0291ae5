//! Programs: the program type the kernel gets, linking (`.text` functions appended),
//! map references pointed at the live maps, `BPF_PROG_LOAD` with the BTF line info, and
//! a chain of programs (entry, `<entry>_<N>` tail calls, statically referenced ones)
//! loaded in order.

use std::os::fd::{AsFd, AsRawFd};

use elf::btf::core::Patched;
use elf::btf::ext::{encode_func_info, encode_line_info, FUNC_INFO_REC_SIZE, LINE_INFO_REC_SIZE};
use elf::reloc::{patch_map_fd, patch_map_value};
use elf::{LinkedProgram, Object, ProgramSpec, ProgramType, RelocTarget, XdpAttach};
use sys::abi::*;
use sys::btf::BtfFd;
use sys::map::map_info;
use sys::prog::{prog_load, ProgBtf, ProgLoad};
use sys::ProgFd;

use crate::error::LoadError;
use crate::load::attach_btf::{attach_target, load_fields};
use crate::load::core::{apply_core, CoreApplied, CoreContext};
use crate::load::ksym::{patch_kfunc_call, patch_ksym_load, KsymTable};
use crate::load::maps::LiveMap;
use crate::load::tail_calls::{statically_referenced_programs, TailCallPlan};

/// The kernel's program type, attach type and flags for a parsed program type (also what
/// `-trace` decides by: `trace::plan`).
pub fn kernel_program_type(program: &ProgramSpec) -> Result<(u32, u32, u32), LoadError> {
    match program.program_type {
        ProgramType::Xdp { attach, frags } => {
            let expected_attach_type = match attach {
                XdpAttach::Interface => BPF_XDP,
                XdpAttach::Devmap => BPF_XDP_DEVMAP,
                XdpAttach::Cpumap => BPF_XDP_CPUMAP,
            };
            let flags = if frags { BPF_F_XDP_HAS_FRAGS } else { 0 };
            Ok((BPF_PROG_TYPE_XDP, expected_attach_type, flags))
        }
        ProgramType::Plain {
            prog_type,
            expected_attach_type,
            sleepable,
            ..
        }
        | ProgramType::AttachBtf {
            prog_type,
            expected_attach_type,
            sleepable,
            ..
        } => Ok((
            prog_type,
            expected_attach_type,
            if sleepable { BPF_F_SLEEPABLE } else { 0 },
        )),
        ProgramType::Unsupported { kind } => Err(LoadError::UnsupportedProgramType {
            program: program.name.clone(),
            section: program.section.clone(),
            kind,
        }),
        ProgramType::Unknown => Err(LoadError::UnknownSection {
            program: program.name.clone(),
            section: program.section.clone(),
        }),
    }
}

/// Refuses any of `programs` that is not XDP, for the commands that need XDP: attaching
/// to an interface and `-run` (whose context is an `xdp_md`). `-load-only` takes every
/// type `kernel_program_type` knows.
pub fn require_xdp<'a>(
    programs: impl IntoIterator<Item = &'a ProgramSpec>,
) -> Result<(), LoadError> {
    for program in programs {
        // A type this loader cannot load at all is said as such first.
        kernel_program_type(program)?;
        if !matches!(program.program_type, ProgramType::Xdp { .. }) {
            return Err(LoadError::NotXdp {
                program: program.name.clone(),
                section: program.section.clone(),
                kind: program.program_type.name(),
            });
        }
    }
    Ok(())
}

/// Links each program and computes its CO-RE relocations (nothing in the kernel yet) so
/// that a feature this loader does not support, a bad CO-RE record or a kernel without
/// BTF is reported before anything is created.
pub fn check_linkable<'a>(
    object: &Object,
    programs: impl IntoIterator<Item = &'a ProgramSpec>,
    core: &CoreContext,
) -> Result<(), LoadError> {
    // Every __ksym extern is found in the kernel (or refused) before anything exists.
    core.ksyms(object)?;
    for program in programs {
        kernel_program_type(program)?;
        let mut linked = object.link(program).map_err(LoadError::Unsupported)?;
        apply_core(core, object, program, &mut linked)?;
        attach_target(program, core.kernel(), core.attach_prog())?;
    }
    Ok(())
}

/// Relocates (CO-RE first, against `core`'s kernel BTF) and loads one program; with
/// `btf`, it carries func_info and line_info so verifier logs and `bpftool prog dump
/// xlated` show source lines.
pub fn load_program(
    object: &Object,
    program: &ProgramSpec,
    maps: &[LiveMap],
    btf: Option<&BtfFd>,
    core: &CoreContext,
) -> Result<ProgFd, LoadError> {
    let (prog_type, expected_attach_type, prog_flags) = kernel_program_type(program)?;
    let mut linked = object.link(program).map_err(LoadError::Unsupported)?;
    let applied = apply_core(core, object, program, &mut linked)?;
    let func_info = encode_func_info(&linked.func_info);
    let line_info = encode_line_info(&linked.line_info);
    let ksyms = core.ksyms(object)?;
    let insns = relocate(object, program, linked, maps, ksyms)?;
    // `_module_btf` holds a module's BTF object open until the load is done.
    let (attach_btf_id, attach_fd, _module_btf) =
        match attach_target(program, core.kernel(), core.attach_prog())? {
            Some(target) => load_fields(program, &target)?,
            None => (0, None, None),
        };
    let prog_btf = btf.map(|btf| ProgBtf {
        btf_fd: btf.as_raw_fd(),
        func_info_rec_size: FUNC_INFO_REC_SIZE,
        func_info: &func_info,
        line_info_rec_size: LINE_INFO_REC_SIZE,
        line_info: &line_info,
    });
    let fd = prog_load(&ProgLoad {
        name: &program.name,
        prog_type,
        expected_attach_type,
        prog_flags,
        insns: &insns,
        license: object.license.as_deref().unwrap_or(""),
        kern_version: object.kernel_version.unwrap_or(0),
        btf: prog_btf,
        attach_btf_id,
        attach_fd,
        fd_array: ksyms.fd_array(),
    })
    .map_err(|error| match trampoline_refused(program, &error) {
        true => LoadError::TrampolineRefused {
            program: program.name.clone(),
            section: program.section.clone(),
            error,
        },
        false => poison_reached(error, &applied),
    })?;
    // libbpf binds the object's `.rodata` to every program it loads, used or not, so the
    // constants (and bpftool's view of them as program metadata) live as long as any
    // program of the object. Kernels before 5.10 lack the command; that is no error.
    if let Some(rodata) = maps.iter().find(|map| map.spec.name == ".rodata") {
        let _ = sys::prog::prog_bind_map(fd.as_fd(), rodata.fd.as_fd());
    }
    Ok(fd)
}

/// EPERM without a verifier log for a program that runs through a BPF trampoline
/// (fentry, fexit, fmod_ret, lsm, freplace; not tp_btf or iter): this process passed
/// `may_load_bpf`, so the kernel refused the trampoline, not the caller.
fn trampoline_refused(program: &ProgramSpec, error: &sys::ProgLoadError) -> bool {
    let ProgramType::AttachBtf {
        prog_type,
        expected_attach_type,
        ..
    } = program.program_type
    else {
        return false;
    };
    let trampoline = !(prog_type == BPF_PROG_TYPE_TRACING
        && (expected_attach_type == BPF_TRACE_RAW_TP || expected_attach_type == BPF_TRACE_ITER));
    trampoline && error.errno == nix::errno::Errno::EPERM && error.log.trim().is_empty()
}

/// A verifier rejection at an instruction a CO-RE relocation poisoned says which
/// relocation and why, instead of only `invalid func unknown#195896080`.
fn poison_reached(error: sys::ProgLoadError, applied: &[CoreApplied]) -> LoadError {
    let Some(insn_index) = crate::explain::core_poison_reached(&error.log) else {
        return LoadError::ProgLoad(error);
    };
    let poisoned = applied.iter().find(|applied| {
        applied.patched == Patched::Poisoned
            && (applied.relo.insn_index == insn_index || applied.relo.insn_index + 1 == insn_index)
    });
    let Some(applied) = poisoned else {
        return LoadError::ProgLoad(error);
    };
    let resolution = &applied.resolution;
    let reason = match &resolution.poison_reason {
        Some(reason) => reason.clone(),
        None => format!(
            "the kernel's field is {} bytes of a type this {}-byte access cannot read",
            resolution.new_size, resolution.orig_size
        ),
    };
    LoadError::CoRePoisonReached {
        insn_index,
        relocation: format!("{} {}", resolution.kind, resolution.local_description),
        reason,
        error,
    }
}

/// Points every map reference of a linked program at its live map, and every `__ksym`
/// reference at what the kernel has.
pub fn relocate(
    object: &Object,
    program: &ProgramSpec,
    linked: LinkedProgram,
    maps: &[LiveMap],
    ksyms: &KsymTable,
) -> Result<Vec<[u8; 8]>, LoadError> {
    let mut insns = linked.insns;
    for relocation in &linked.relocations {
        let bad = || LoadError::BadRelocation {
            program: program.name.clone(),
            insn_index: relocation.insn_index,
            symbol: relocation.symbol.clone(),
        };
        let patched = match relocation.target {
            RelocTarget::Map { map_index } => {
                let fd = maps.get(map_index).ok_or_else(bad)?.fd.as_raw_fd();
                patch_map_fd(&mut insns, relocation.insn_index, fd)
            }
            RelocTarget::MapValue { map_index, offset } => {
                let fd = maps.get(map_index).ok_or_else(bad)?.fd.as_raw_fd();
                patch_map_value(&mut insns, relocation.insn_index, fd, offset)
            }
            RelocTarget::Ksym { index } => {
                let ext = object.ksyms.get(index).ok_or_else(bad)?;
                let value = ksyms.values().get(index).ok_or_else(bad)?;
                patch_ksym_load(&mut insns, relocation.insn_index, ext, value, ksyms)
            }
            RelocTarget::KfuncCall { index } => {
                let value = ksyms.values().get(index).ok_or_else(bad)?;
                patch_kfunc_call(&mut insns, relocation.insn_index, value, ksyms)
            }
            _ => false,
        };
        if !patched {
            return Err(bad());
        }
    }
    Ok(insns.into_iter().map(|insn| insn.to_bytes()).collect())
}

/// Ties the object's pinned maps that no loaded program uses (the original's
/// `if_redirect`) to the entry program, so they belong to it: `-status` lists them and
/// `-detach` finds their pins from the program's own maps.
pub fn bind_unused_maps(entry: &ProgFd, maps: &[LiveMap], used: &[u32]) {
    for map in maps.iter().filter(|map| map.pin.is_some()) {
        let Ok(info) = map_info(map.fd.as_fd()) else {
            continue;
        };
        if !used.contains(&info.id) {
            let _ = sys::prog::prog_bind_map(entry.as_fd(), map.fd.as_fd());
        }
    }
}

/// A step of `load_chain`, for callers that say what they do.
pub enum ChainStep<'a> {
    /// The tail-call programs come next.
    TailCalls,
    /// This program is about to be loaded.
    Program(&'a str),
}

/// The programs of a chain, loaded, nothing wired yet.
pub struct LoadedChain<'a> {
    pub entry: ProgFd,
    /// `(slot, name, fd)` of the `<entry>_<N>` programs.
    pub tail_calls: Vec<(u32, &'a str, ProgFd)>,
    /// Programs a prog array's static initialisation names, not already loaded above.
    pub static_slots: Vec<(&'a str, ProgFd)>,
}

impl<'a> LoadedChain<'a> {
    /// Every program, entry first, by name.
    pub fn all(&self, entry: &'a str) -> Vec<(&'a str, &ProgFd)> {
        let mut all = vec![(entry, &self.entry)];
        all.extend(self.tail_calls.iter().map(|(_, name, fd)| (*name, fd)));
        all.extend(self.static_slots.iter().map(|(name, fd)| (*name, fd)));
        all
    }
}

/// Loads the tail-call programs of `plan`, then `entry`, then the programs prog arrays
/// are initialised with (each once), telling `progress` before each.
pub fn load_chain<'a>(
    object: &'a Object,
    entry: &'a ProgramSpec,
    plan: Option<&TailCallPlan<'a>>,
    maps: &[LiveMap],
    btf: Option<&BtfFd>,
    core: &CoreContext,
    mut progress: impl FnMut(ChainStep<'a>),
) -> Result<LoadedChain<'a>, LoadError> {
    let mut tail_calls = Vec::new();
    if let Some((_, programs)) = plan {
        progress(ChainStep::TailCalls);
        for (slot, program) in programs {
            progress(ChainStep::Program(&program.name));
            let fd = load_program(object, program, maps, btf, core)?;
            tail_calls.push((*slot, program.name.as_str(), fd));
        }
    }
    progress(ChainStep::Program(&entry.name));
    let entry_fd = load_program(object, entry, maps, btf, core)?;
    let mut static_slots = Vec::new();
    for name in statically_referenced_programs(object) {
        let already = name == entry.name
            || tail_calls.iter().any(|(_, loaded, _)| *loaded == name)
            || static_slots.iter().any(|(loaded, _)| *loaded == name);
        if let (false, Some(program)) = (already, object.program(name)) {
            progress(ChainStep::Program(&program.name));
            static_slots.push((
                program.name.as_str(),
                load_program(object, program, maps, btf, core)?,
            ));
        }
    }
    Ok(LoadedChain {
        entry: entry_fd,
        tail_calls,
        static_slots,
    })
}
