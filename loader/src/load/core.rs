//! CO-RE: each program's `.BTF.ext` core_relo records computed against the running
//! kernel's BTF and written into its instructions before `BPF_PROG_LOAD`, as libbpf
//! does. The algorithm is `elf::btf::core` (pure); this step finds the candidates:
//! vmlinux first, module BTF only when vmlinux has none, each root type searched once
//! per load. The kernel's BTF is read only when a relocation needs a target (a
//! TYPE_ID_LOCAL one does not), so objects without CO-RE never open /sys/kernel/btf.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::path::Path;

use elf::btf::core::{
    find_candidates, find_candidates_many, patch_insn, resolve, Candidate, CoreError, CoreFailure,
    CoreKind, Patched, Resolution,
};
use elf::btf::Btf;
use elf::{LinkedCoreRelo, LinkedProgram, Object, ProgramSpec};

use crate::error::LoadError;
use crate::load::attach_btf::AttachProg;
use crate::load::kernel_btf::KernelBtf;
use crate::load::ksym::{resolve_ksyms, KsymTable, KALLSYMS};
use crate::timings;

/// Where a candidate lives: vmlinux, or module `n` of [`KernelBtf::modules`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Vmlinux,
    Module(usize),
}

/// The kernel's BTF and the candidates found so far, shared by every program of a load;
/// also what attach targets are looked up in (the kernel's BTF, and `-attach-prog`'s
/// program when one is named).
#[derive(Debug, Default)]
pub struct CoreContext {
    kernel: KernelBtf,
    /// Local root type id -> candidates, so a type many relocations use is searched once.
    found: RefCell<HashMap<u32, Vec<(Source, u32)>>>,
    attach_prog: Option<AttachProg>,
    /// The object's `__ksym` externs, resolved on first use (one object per context).
    ksyms: OnceCell<KsymTable>,
}

/// One relocation, applied.
#[derive(Debug, Clone)]
pub struct CoreApplied {
    pub relo: LinkedCoreRelo,
    pub resolution: Resolution,
    pub patched: Patched,
}

impl CoreContext {
    /// CO-RE against the BTF under `kernel` (tests; a saved copy).
    pub fn new(kernel: KernelBtf) -> CoreContext {
        CoreContext {
            kernel,
            found: RefCell::new(HashMap::new()),
            attach_prog: None,
            ksyms: OnceCell::new(),
        }
    }

    /// The same, with fentry, fexit and freplace programs attaching to `attach_prog`.
    pub fn with_attach_prog(mut self, attach_prog: Option<AttachProg>) -> CoreContext {
        self.attach_prog = attach_prog;
        self
    }

    /// The kernel's BTF, read on first use.
    pub fn kernel(&self) -> &KernelBtf {
        &self.kernel
    }

    /// `object`'s `__ksym` externs, resolved against this context's kernel the first
    /// time they are asked for (before anything is created: `check_linkable` asks).
    pub fn ksyms(&self, object: &Object) -> Result<&KsymTable, LoadError> {
        if let Some(table) = self.ksyms.get() {
            return Ok(table);
        }
        let table = resolve_ksyms(object, &self.kernel, Path::new(KALLSYMS))?;
        Ok(self.ksyms.get_or_init(|| table))
    }

    /// The program `-attach-prog` named, if any.
    pub fn attach_prog(&self) -> Option<&AttachProg> {
        self.attach_prog.as_ref()
    }

    /// Finds the candidates of every root type in `type_ids` not searched yet, in one
    /// pass over vmlinux (and one per module for the types vmlinux lacks): each pass
    /// reads 6 MB of types, whatever the number of types looked for.
    fn prefetch(&self, program: &str, local: &Btf, type_ids: &[u32]) -> Result<(), LoadError> {
        let mut missing: Vec<u32> = {
            let found = self.found.borrow();
            type_ids
                .iter()
                .copied()
                .filter(|id| !found.contains_key(id))
                .collect()
        };
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        // The first search reads and parses vmlinux's BTF: its own phase.
        timings::phase("CO-RE");
        let kernel_error = |error: crate::load::kernel_btf::KernelBtfError| LoadError::KernelBtf {
            program: program.to_string(),
            reason: error.to_string(),
        };
        let vmlinux = self.kernel.vmlinux().map_err(kernel_error)?;
        let mut in_modules = Vec::new();
        let mut found = self.found.borrow_mut();
        for (&id, result) in missing
            .iter()
            .zip(find_candidates_many(local, &missing, vmlinux, 1))
        {
            // A root that cannot be searched (anonymous, a bad id) is left to
            // `candidates`, which says why.
            match result {
                Ok(ids) if !ids.is_empty() => {
                    found.insert(id, ids.into_iter().map(|t| (Source::Vmlinux, t)).collect());
                }
                Ok(_) => in_modules.push(id),
                Err(_) => {}
            }
        }
        if in_modules.is_empty() {
            return Ok(());
        }
        let modules = self.kernel.modules().map_err(kernel_error)?;
        let first_module_id = u32::try_from(vmlinux.type_count())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let mut per_type: Vec<Vec<(Source, u32)>> = vec![Vec::new(); in_modules.len()];
        for (index, module) in modules.iter().enumerate() {
            let results = find_candidates_many(local, &in_modules, &module.btf, first_module_id);
            for (ids, result) in per_type.iter_mut().zip(results) {
                ids.extend(
                    result
                        .unwrap_or_default()
                        .into_iter()
                        .map(|t| (Source::Module(index), t)),
                );
            }
        }
        for (id, ids) in in_modules.into_iter().zip(per_type) {
            found.insert(id, ids);
        }
        Ok(())
    }

    /// The candidates for `type_id` of the object's BTF, reading the kernel's BTF on
    /// first use.
    fn candidates(
        &self,
        program: &str,
        local: &Btf,
        type_id: u32,
    ) -> Result<Result<Vec<Candidate<'_>>, CoreFailure>, LoadError> {
        let kernel_error = |error: crate::load::kernel_btf::KernelBtfError| LoadError::KernelBtf {
            program: program.to_string(),
            reason: error.to_string(),
        };
        let cached = self.found.borrow().get(&type_id).cloned();
        let vmlinux = self.kernel.vmlinux().map_err(kernel_error)?;
        let found = match cached {
            Some(found) => found,
            None => {
                let mut found: Vec<(Source, u32)> =
                    match find_candidates(local, type_id, vmlinux, 1) {
                        Ok(ids) => ids.into_iter().map(|id| (Source::Vmlinux, id)).collect(),
                        Err(failure) => return Ok(Err(failure)),
                    };
                if found.is_empty() {
                    let first_module_id = u32::try_from(vmlinux.type_count())
                        .unwrap_or(u32::MAX)
                        .saturating_add(1);
                    let modules = self.kernel.modules().map_err(kernel_error)?;
                    for (index, module) in modules.iter().enumerate() {
                        match find_candidates(local, type_id, &module.btf, first_module_id) {
                            Ok(ids) => {
                                found.extend(ids.into_iter().map(|id| (Source::Module(index), id)))
                            }
                            Err(failure) => return Ok(Err(failure)),
                        }
                    }
                }
                self.found.borrow_mut().insert(type_id, found.clone());
                found
            }
        };
        let modules = match found.iter().any(|(source, _)| *source != Source::Vmlinux) {
            true => self.kernel.modules().map_err(kernel_error)?,
            false => &[],
        };
        Ok(Ok(found
            .into_iter()
            .filter_map(|(source, type_id)| match source {
                Source::Vmlinux => Some(Candidate {
                    btf: vmlinux,
                    type_id,
                    origin: "vmlinux",
                }),
                Source::Module(index) => modules.get(index).map(|module| Candidate {
                    btf: &module.btf,
                    type_id,
                    origin: module.name.as_str(),
                }),
            })
            .collect()))
    }
}

/// `struct task_struct`, for errors about a record.
fn type_name(local: &Btf, type_id: u32) -> String {
    elf::btf::core::type_label(local, type_id)
}

/// Computes one record. `kernel` is `None` to compute it without the kernel's BTF
/// (`-dump` on a machine without it): every relocation then resolves as if the kernel
/// had no candidate, and the local values are what is worth showing.
pub fn resolve_record(
    program: &ProgramSpec,
    local: &Btf,
    relo: &LinkedCoreRelo,
    kernel: Option<&CoreContext>,
) -> Result<Resolution, LoadError> {
    let record = relo.record;
    let access = local.string(record.access_str_off).unwrap_or("");
    let error = |failure: CoreFailure| {
        LoadError::CoRe(Box::new(CoreError {
            program: program.name.clone(),
            section: relo.section.clone(),
            insn_index: relo.insn_index,
            kind: CoreKind::from_u32(record.kind).map_or_else(
                || format!("kind {}", record.kind),
                |kind| kind.name().to_string(),
            ),
            type_id: record.type_id,
            type_name: type_name(local, record.type_id),
            access: access.to_string(),
            failure,
        }))
    };
    if !record.insn_off.is_multiple_of(8) {
        return Err(error(CoreFailure::BadInstructionOffset(record.insn_off)));
    }
    if local.string(record.access_str_off).is_err() {
        return Err(error(CoreFailure::BadAccess(format!(
            "string offset {} is outside the BTF string table",
            record.access_str_off
        ))));
    }
    let kind = CoreKind::from_u32(record.kind)
        .ok_or_else(|| error(CoreFailure::UnknownKind(record.kind)))?;
    let candidates = match kernel {
        Some(context) if kind.needs_target() => context
            .candidates(&program.name, local, record.type_id)?
            .map_err(error)?,
        _ => Vec::new(),
    };
    resolve(local, record.type_id, access, record.kind, &candidates).map_err(error)
}

/// Applies every CO-RE relocation of `linked` (a link of `program`) in place.
pub fn apply_core(
    context: &CoreContext,
    object: &Object,
    program: &ProgramSpec,
    linked: &mut LinkedProgram,
) -> Result<Vec<CoreApplied>, LoadError> {
    if linked.core_relos.is_empty() {
        return Ok(Vec::new());
    }
    // Records come only with the object's BTF (link keeps them only then).
    let Some(local) = object.btf.as_ref() else {
        return Ok(Vec::new());
    };
    let roots: Vec<u32> = linked
        .core_relos
        .iter()
        .filter(|relo| CoreKind::from_u32(relo.record.kind).is_some_and(CoreKind::needs_target))
        .map(|relo| relo.record.type_id)
        .collect();
    context.prefetch(&program.name, local, &roots)?;
    let mut applied = Vec::with_capacity(linked.core_relos.len());
    for relo in &linked.core_relos {
        let resolution = resolve_record(program, local, relo, Some(context))?;
        let patched =
            patch_insn(&mut linked.insns, relo.insn_index, &resolution).map_err(|failure| {
                LoadError::CoRe(Box::new(CoreError {
                    program: program.name.clone(),
                    section: relo.section.clone(),
                    insn_index: relo.insn_index,
                    kind: resolution.kind.name().to_string(),
                    type_id: relo.record.type_id,
                    type_name: type_name(local, relo.record.type_id),
                    access: local
                        .string(relo.record.access_str_off)
                        .unwrap_or("")
                        .to_string(),
                    failure,
                }))
            })?;
        applied.push(CoreApplied {
            relo: relo.clone(),
            resolution,
            patched,
        });
    }
    Ok(applied)
}

/// What one relocation resolved to for `-dump`: the resolution and what patching would
/// do, or the sentence of the error a load would stop with.
pub type DumpedRelo = (LinkedCoreRelo, Result<(Resolution, Patched), String>);

/// Every CO-RE relocation of every program, for `-dump`, computed as a load would (on
/// copies; nothing is loaded). When the kernel's BTF cannot be read, they are computed
/// without it: the first value is why, and the resolutions hold the object's own
/// (local) values. Programs that do not link are left out (`-dump` shows why elsewhere).
pub fn dump_core(
    context: &CoreContext,
    object: &Object,
) -> (Option<String>, Vec<(String, Vec<DumpedRelo>)>) {
    let mut unavailable: Option<String> = None;
    let mut programs = Vec::new();
    let Some(local) = object.btf.as_ref() else {
        return (None, programs);
    };
    for program in &object.programs {
        let Ok(mut linked) = object.link(program) else {
            continue;
        };
        if linked.core_relos.is_empty() {
            continue;
        }
        if unavailable.is_none() {
            let roots: Vec<u32> = linked
                .core_relos
                .iter()
                .map(|relo| relo.record.type_id)
                .collect();
            // A kernel without BTF is found (and said) by the first record below.
            let _ = context.prefetch(&program.name, local, &roots);
        }
        let mut lines = Vec::new();
        for relo in linked.core_relos.clone() {
            let kernel = if unavailable.is_none() {
                Some(context)
            } else {
                None
            };
            let resolution = match resolve_record(program, local, &relo, kernel) {
                Err(LoadError::KernelBtf { reason, .. }) => {
                    unavailable = Some(reason);
                    resolve_record(program, local, &relo, None)
                }
                other => other,
            };
            let outcome = resolution
                .map_err(|error| error.to_string())
                .and_then(|resolution| {
                    let patched = if unavailable.is_some() {
                        Ok(Patched::Value)
                    } else {
                        patch_insn(&mut linked.insns, relo.insn_index, &resolution)
                            .map_err(|failure| failure.to_string())
                    };
                    patched.map(|patched| (resolution, patched))
                });
            lines.push((relo, outcome));
        }
        programs.push((program.name.clone(), lines));
    }
    (unavailable, programs)
}
