//! `__ksym` externs found in the running kernel, as libbpf finds them
//! (`bpf_object__resolve_externs`): a typed variable or a kfunc by name in vmlinux's BTF,
//! then in each module's, its type checked against the object's declaration; a typeless
//! variable's address in /proc/kallsyms. A `__weak` one the kernel lacks is 0 (and a call
//! of it is left for the verifier to find unreachable); any other is refused before
//! anything is created. Then each program's instructions are patched to match.
//!
//! Objects without `__ksym` externs never read the kernel's BTF or /proc/kallsyms.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::path::Path;

use elf::btf::core::matching::types_are_compat;
use elf::btf::{Btf, BtfKind};
use elf::insn::Insn;
use elf::ksym::{KsymExtern, KsymKind};
use elf::reloc::{BPF_PSEUDO_BTF_ID, BPF_PSEUDO_KFUNC_CALL};
use elf::Object;
use sys::btf::BtfFd;

use crate::error::LoadError;
use crate::load::attach_btf::module_btf_fd;
use crate::load::kernel_btf::{FoundType, KernelBtf, NamedKind};

/// Where the kernel lists its symbols' addresses.
pub const KALLSYMS: &str = "/proc/kallsyms";

/// What one extern turned out to be in this kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KsymValue {
    /// A VAR or FUNC of the kernel's BTF: its id, and the module whose BTF has it.
    Btf {
        type_id: u32,
        module: Option<String>,
    },
    /// An address from /proc/kallsyms (typeless externs).
    Address(u64),
    /// A `__weak` extern the kernel lacks: address 0, calls left unreachable.
    Missing,
}

/// Every `__ksym` extern of an object, resolved, with the module BTF objects the
/// instructions name held open until the programs are loaded.
#[derive(Debug, Default)]
pub struct KsymTable {
    /// By `Object::ksyms` index.
    values: Vec<KsymValue>,
    /// Each module whose BTF a resolved extern is in: its name and BTF object.
    modules: Vec<(String, BtfFd)>,
    /// `fd_array` for `BPF_PROG_LOAD`: 0 at index 0 (which a kfunc call's `off` never
    /// names), then each module's BTF fd; empty when no kfunc lives in a module.
    fd_array: Vec<i32>,
}

impl KsymTable {
    /// The values, by `Object::ksyms` index (for `-dump` and tests).
    pub fn values(&self) -> &[KsymValue] {
        &self.values
    }

    /// What `BPF_PROG_LOAD` gets as `fd_array`.
    pub fn fd_array(&self) -> &[i32] {
        &self.fd_array
    }

    fn module_fd(&self, module: &str) -> i32 {
        self.modules
            .iter()
            .find(|(name, _)| name == module)
            .map_or(0, |(_, fd)| fd.as_raw_fd())
    }

    /// The `fd_array` index of `module`'s BTF (kfunc calls' `off`).
    fn fd_index(&self, module: &str) -> i16 {
        let fd = self.module_fd(module);
        self.fd_array
            .iter()
            .skip(1)
            .position(|&entry| entry == fd)
            .and_then(|index| i16::try_from(index + 1).ok())
            .unwrap_or(0)
    }
}

fn unresolved(ext: &KsymExtern, reason: impl Into<String>) -> LoadError {
    LoadError::KsymUnresolved {
        what: what(ext),
        name: ext.name.clone(),
        reason: reason.into(),
    }
}

fn lookup_failed(ext: &KsymExtern, reason: impl Into<String>) -> LoadError {
    LoadError::KsymLookup {
        what: what(ext),
        name: ext.name.clone(),
        reason: reason.into(),
    }
}

/// How an extern is named in a sentence.
fn what(ext: &KsymExtern) -> &'static str {
    match ext.kind {
        KsymKind::Typed { .. } => "kernel variable",
        KsymKind::Typeless => "kernel symbol",
        KsymKind::Func { .. } => "kfunc",
    }
}

/// The address of each of `names` in kallsyms text (`address type name [module]` lines),
/// refusing one listed at two addresses as libbpf does.
pub fn kallsyms_addresses<'n>(
    text: &str,
    names: &[&'n str],
) -> Result<HashMap<&'n str, u64>, (&'n str, u64, u64)> {
    let mut found: HashMap<&'n str, u64> = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(address), Some(_), Some(symbol)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some(&name) = names.iter().find(|&&name| name == symbol) else {
            continue;
        };
        let Ok(address) = u64::from_str_radix(address, 16) else {
            continue;
        };
        match found.get(name) {
            Some(&first) if first != address => return Err((name, first, address)),
            Some(_) => {}
            None => {
                found.insert(name, address);
            }
        }
    }
    Ok(found)
}

/// The kernel's BTF that `found` is in: vmlinux, or the module's split BTF.
fn btf_of<'k>(kernel: &'k KernelBtf, found: &FoundType) -> Option<&'k Btf> {
    match &found.module {
        None => kernel.vmlinux().ok(),
        Some(module) => kernel
            .modules()
            .ok()?
            .iter()
            .find(|candidate| &candidate.name == module)
            .map(|candidate| &candidate.btf),
    }
}

/// One typed variable or kfunc, looked up by name and checked against its declaration.
fn resolve_in_btf(
    local: &Btf,
    ext: &KsymExtern,
    kernel: &KernelBtf,
) -> Result<KsymValue, LoadError> {
    let (kind, local_id) = match ext.kind {
        KsymKind::Typed { type_id } => (NamedKind::Var, type_id),
        KsymKind::Func { proto_id } => (NamedKind::Func, proto_id),
        // Not in BTF: resolve_each looks typeless ones up in kallsyms.
        KsymKind::Typeless => {
            return Err(lookup_failed(
                ext,
                "a typeless extern has no BTF type to look up",
            ))
        }
    };
    let found = kernel
        .find_named(ext.kernel_name(), kind)
        .map_err(|error| lookup_failed(ext, error.to_string()))?;
    let Some(found) = found else {
        if ext.weak {
            return Ok(KsymValue::Missing);
        }
        return Err(unresolved(
            ext,
            "is not in the kernel's BTF (vmlinux and every module): this kernel does not have it; declare it __weak to load without it (its address is then 0)",
        ));
    };
    let target = btf_of(kernel, &found)
        .ok_or_else(|| lookup_failed(ext, "its module's BTF went away meanwhile"))?;
    // The kernel's declared type: the VAR's type, or the FUNC's prototype.
    let target_id = match target.get(found.type_id).map(|ty| &ty.kind) {
        Some(BtfKind::Var { target: ty, .. }) => target.skip_modifiers(*ty).unwrap_or(*ty),
        Some(BtfKind::Func { proto, .. }) => *proto,
        _ => 0,
    };
    let compatible = types_are_compat(local, local_id, target, target_id).unwrap_or(false);
    if !compatible {
        if ext.weak && matches!(ext.kind, KsymKind::Func { .. }) {
            // libbpf: a __weak kfunc of another prototype is one the kernel lacks.
            return Ok(KsymValue::Missing);
        }
        let place = found.module.as_deref().unwrap_or("vmlinux");
        let declared = match ext.kind {
            KsymKind::Func { .. } => "prototype",
            _ => "type",
        };
        return Err(unresolved(
            ext,
            format!(
                "is declared with a {declared} that does not match the kernel's ({place} BTF id {}): declare it as the kernel does (`bpftool btf dump file /sys/kernel/btf/vmlinux format c` shows it)",
                found.type_id
            ),
        ));
    }
    Ok(KsymValue::Btf {
        type_id: found.type_id,
        module: found.module,
    })
}

/// What each `__ksym` extern of `object` is in the running kernel, or why it cannot be
/// found: `kernel`'s BTF for typed ones and kfuncs, `kallsyms` (read once, only when a
/// typeless extern needs it) for the others.
pub fn resolve_each(
    object: &Object,
    kernel: &KernelBtf,
    kallsyms: &Path,
) -> Vec<Result<KsymValue, LoadError>> {
    let Some(local) = object.btf.as_ref() else {
        // collect_ksyms finds them in the BTF; without it there are none.
        return Vec::new();
    };
    let typeless: Vec<&str> = object
        .ksyms
        .iter()
        .filter(|ext| ext.kind == KsymKind::Typeless)
        .map(|ext| ext.name.as_str())
        .collect();
    let addresses = (!typeless.is_empty()).then(|| match std::fs::read_to_string(kallsyms) {
        Err(error) => Kallsyms::Unreadable(format!("cannot read {}: {error}", kallsyms.display())),
        Ok(text) => match kallsyms_addresses(&text, &typeless) {
            Ok(found) => Kallsyms::Found(found),
            Err((name, first, second)) => Kallsyms::Ambiguous(name, first, second),
        },
    });
    object
        .ksyms
        .iter()
        .map(|ext| match (&ext.kind, &addresses) {
            (KsymKind::Typeless, Some(addresses)) => in_kallsyms(ext, addresses, kallsyms),
            _ => resolve_in_btf(local, ext, kernel),
        })
        .collect()
}

/// What /proc/kallsyms gave for an object's typeless externs.
enum Kallsyms<'n> {
    Found(HashMap<&'n str, u64>),
    Unreadable(String),
    /// A name listed at two addresses (libbpf refuses those).
    Ambiguous(&'n str, u64, u64),
}

/// A typeless extern's address, from what /proc/kallsyms gave (or why not).
fn in_kallsyms(
    ext: &KsymExtern,
    addresses: &Kallsyms<'_>,
    kallsyms: &Path,
) -> Result<KsymValue, LoadError> {
    let found = match addresses {
        Kallsyms::Unreadable(reason) => return Err(lookup_failed(ext, reason.clone())),
        Kallsyms::Ambiguous(name, a, b) if *name == ext.name => {
            return Err(unresolved(
                ext,
                format!(
                    "is ambiguous: {} lists it at {a:#x} and at {b:#x}",
                    kallsyms.display()
                ),
            ))
        }
        Kallsyms::Ambiguous(..) => {
            return Err(unresolved(
                ext,
                format!(
                    "is not looked up: another symbol is ambiguous in {}",
                    kallsyms.display()
                ),
            ))
        }
        Kallsyms::Found(found) => found,
    };
    match found.get(ext.name.as_str()) {
        Some(&address) => Ok(KsymValue::Address(address)),
        None if ext.weak => Ok(KsymValue::Missing),
        None => Err(unresolved(
            ext,
            format!(
                "is not in {}: this kernel does not have it (data symbols are listed only with CONFIG_KALLSYMS_ALL); declare it __weak to load without it",
                kallsyms.display()
            ),
        )),
    }
}

/// Resolves every `__ksym` extern of `object` (the first that cannot be is the error),
/// then opens the module BTF objects the results name.
pub fn resolve_ksyms(
    object: &Object,
    kernel: &KernelBtf,
    kallsyms: &Path,
) -> Result<KsymTable, LoadError> {
    if object.ksyms.is_empty() {
        return Ok(KsymTable::default());
    }
    let values = resolve_each(object, kernel, kallsyms)
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let mut table = KsymTable {
        values,
        ..KsymTable::default()
    };
    open_modules(&mut table, &object.ksyms)?;
    Ok(table)
}

/// `-dump`'s line for each extern: what it is, and what it resolved to in this kernel.
pub fn dump_ksyms(object: &Object, kernel: &KernelBtf) -> Vec<String> {
    let values = resolve_each(object, kernel, Path::new(KALLSYMS));
    object
        .ksyms
        .iter()
        .zip(values)
        .map(|(ext, value)| {
            let weak = if ext.weak { ", __weak" } else { "" };
            let outcome = match value {
                Ok(KsymValue::Btf { type_id, module }) => format!(
                    "{} BTF id {type_id}",
                    module.as_deref().unwrap_or("vmlinux")
                ),
                Ok(KsymValue::Address(address)) => format!("address {address:#x} ({KALLSYMS})"),
                Ok(KsymValue::Missing) => "not in this kernel: 0".to_string(),
                Err(error) => format!("NOT RESOLVED: {error}"),
            };
            format!("{}: {}{weak} -> {outcome}", ext.name, what(ext))
        })
        .collect()
}

/// Opens the BTF object of every module a resolved extern is in, and numbers the ones
/// kfuncs are called from in `fd_array` (from 1, as libbpf numbers them).
fn open_modules(table: &mut KsymTable, ksyms: &[KsymExtern]) -> Result<(), LoadError> {
    for (ext, value) in ksyms.iter().zip(&table.values) {
        let KsymValue::Btf {
            module: Some(module),
            ..
        } = value
        else {
            continue;
        };
        if !table.modules.iter().any(|(name, _)| name == module) {
            let fd = module_btf_fd(module).map_err(|reason| lookup_failed(ext, reason))?;
            table.modules.push((module.clone(), fd));
        }
        if matches!(ext.kind, KsymKind::Func { .. }) {
            let fd = table.module_fd(module);
            if table.fd_array.is_empty() {
                table.fd_array.push(0);
            }
            if !table.fd_array[1..].contains(&fd) {
                if table.fd_array.len() > i16::MAX as usize {
                    return Err(unresolved(
                        ext,
                        "needs more module BTF objects than a kfunc call's 16-bit offset can number",
                    ));
                }
                table.fd_array.push(fd);
            }
        }
    }
    Ok(())
}

/// Writes `value` into the `ld_imm64` at `at` (a variable's or kfunc's address, or BTF
/// id), as libbpf's `bpf_object__relocate_data` does. `false` when it is not one.
pub fn patch_ksym_load(
    insns: &mut [Insn],
    at: usize,
    ext: &KsymExtern,
    value: &KsymValue,
    table: &KsymTable,
) -> bool {
    let Some(next) = at.checked_add(1).filter(|&next| next < insns.len()) else {
        return false;
    };
    if !insns[at].is_ld_imm64() {
        return false;
    }
    let (src_reg, low, high) = match (ext.kind, value) {
        (KsymKind::Typed { .. } | KsymKind::Func { .. }, KsymValue::Btf { type_id, module }) => (
            BPF_PSEUDO_BTF_ID,
            *type_id as i32,
            module
                .as_deref()
                .map_or(0, |module| table.module_fd(module)),
        ),
        (_, KsymValue::Address(address)) => (0, *address as u32 as i32, (*address >> 32) as i32),
        _ => (0, 0, 0),
    };
    insns[at].set_src_reg(src_reg);
    insns[at].imm = low;
    insns[next].imm = high;
    true
}

/// Makes the call at `at` a kfunc call of `value` (imm 0, off 0 for a `__weak` one the
/// kernel lacks, which the verifier accepts only where it never runs: libbpf 1.1's way).
pub fn patch_kfunc_call(
    insns: &mut [Insn],
    at: usize,
    value: &KsymValue,
    table: &KsymTable,
) -> bool {
    let Some(insn) = insns.get_mut(at) else {
        return false;
    };
    if insn.code != elf::insn::CALL {
        return false;
    }
    insn.set_src_reg(BPF_PSEUDO_KFUNC_CALL);
    match value {
        KsymValue::Btf { type_id, module } => {
            insn.imm = *type_id as i32;
            insn.off = module.as_deref().map_or(0, |module| table.fd_index(module));
        }
        _ => {
            insn.imm = 0;
            insn.off = 0;
        }
    }
    true
}

#[cfg(test)]
#[path = "ksym_tests.rs"]
mod tests;
