//! `xdploader -dump`: what the parser found in an object, as text. Pure formatting.

use std::fmt::Write as _;

use elf::btf::core::{Patched, Resolution};
use elf::btf::BtfKind;
use elf::ksym::KsymKind;
use elf::{InitialSlot, LinkedCoreRelo, MapOrigin, Object, Pinning, RelocTarget};

use crate::vocab::map_type_name;

fn describe_target(object: &Object, target: &RelocTarget) -> String {
    let map_name = |index: usize| {
        object
            .maps
            .get(index)
            .map_or_else(|| format!("map #{index}"), |map| map.name.clone())
    };
    let code_name = |section: usize, insn: usize| {
        object.code_section(section).map_or_else(
            || format!("section #{section}"),
            |code| {
                code.functions
                    .iter()
                    .find(|function| function.start == insn)
                    .map_or_else(
                        || format!("{}+{insn}", code.name),
                        |function| function.name.clone(),
                    )
            },
        )
    };
    match target {
        RelocTarget::Map { map_index } => format!("map {}", map_name(*map_index)),
        RelocTarget::MapValue { map_index, offset } => {
            format!("value of {} + {offset}", map_name(*map_index))
        }
        RelocTarget::Call {
            section_index,
            target_insn,
        } => format!("call {}", code_name(*section_index, *target_insn)),
        RelocTarget::FuncAddr {
            section_index,
            target_insn,
        } => format!("address of {}", code_name(*section_index, *target_insn)),
        RelocTarget::Ksym { index } => match object.ksyms.get(*index) {
            Some(ext) => match ext.kind {
                KsymKind::Typed { .. } => format!("kernel variable {}", ext.name),
                KsymKind::Typeless => format!("address of kernel symbol {}", ext.name),
                KsymKind::Func { .. } => format!("address of kfunc {}", ext.name),
            },
            None => format!("__ksym #{index}"),
        },
        RelocTarget::KfuncCall { index } => match object.ksyms.get(*index) {
            Some(ext) => format!("kfunc {}", ext.name),
            None => format!("kfunc #{index}"),
        },
        RelocTarget::Unsupported { feature } => format!("UNSUPPORTED: {feature}"),
    }
}

/// The CO-RE relocations of an object as the load stage computed them (`dump` uses no
/// stage: the binary hands them in).
#[derive(Debug, Default)]
pub struct CoreReport {
    /// Why the kernel's BTF could not be read; the values are then the object's own.
    pub unavailable: Option<String>,
    /// Per program: each relocation and what it resolved to, or the error.
    pub programs: Vec<(String, Vec<CoreLine>)>,
    /// Each `__ksym` extern, with what it resolved to in the running kernel, said.
    pub ksyms: Vec<String>,
}

/// One relocation: the record, and its resolution with what patching does, or an error.
pub type CoreLine = (LinkedCoreRelo, Result<(Resolution, Patched), String>);

/// `insn 0 field_byte_offset struct sk_buff___local.len (0:0) -> 112 (...)`.
fn core_line(object: &Object, line: &CoreLine, resolved: bool) -> String {
    let (relo, outcome) = line;
    let access = object
        .btf
        .as_ref()
        .and_then(|btf| btf.string(relo.record.access_str_off).ok())
        .unwrap_or("?");
    match outcome {
        Err(error) => format!("insn {} ({access}) -> error: {error}", relo.insn_index),
        Ok((resolution, patched)) => {
            let head = format!(
                "insn {} {} {} ({access})",
                relo.insn_index, resolution.kind, resolution.local_description
            );
            let target = resolution
                .target
                .as_ref()
                .map(|target| format!("; {}: {}", target.origin, target.description))
                .unwrap_or_default();
            if !resolved {
                format!(
                    "{head} -> not resolved: the object's value is {}",
                    resolution.orig_value
                )
            } else if resolution.poison {
                let reason = resolution.poison_reason.as_deref().unwrap_or("no match");
                format!("{head} -> poisoned: {reason}")
            } else if *patched == Patched::Poisoned {
                format!(
                    "{head} -> poisoned: the kernel's field is {} bytes of another type, which this load ({} bytes) cannot read{target}",
                    resolution.new_size, resolution.orig_size
                )
            } else {
                format!(
                    "{head} -> {} (object: {}{target})",
                    resolution.new_value, resolution.orig_value
                )
            }
        }
    }
}

/// How `-dump` names a `.kconfig` extern's type.
fn kconfig_type_name(kind: elf::kconfig::KconfigType) -> &'static str {
    use elf::kconfig::KconfigType;
    match kind {
        KconfigType::Bool => "bool",
        KconfigType::Char => "char",
        KconfigType::Tristate => "tristate",
        KconfigType::Int { signed: true } => "signed integer",
        KconfigType::Int { signed: false } => "unsigned integer",
        KconfigType::CharArray => "string",
    }
}

/// The whole `-dump` report; `core` holds the CO-RE relocations resolved against the
/// running kernel (listed only when the object has some).
pub fn dump(object: &Object, path: &str, core: &CoreReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Object {path}");
    let _ = writeln!(
        out,
        "License: {}",
        object.license.as_deref().unwrap_or("(none)")
    );
    let _ = writeln!(out, "\nSections:");
    for section in &object.sections {
        let _ = writeln!(
            out,
            "\t[{:>2}] {:<24} {:<12} {} bytes",
            section.index,
            section.name,
            section.kind.name(),
            section.size
        );
    }
    let _ = writeln!(out, "\nMaps:");
    for map in &object.maps {
        let origin = match map.origin {
            MapOrigin::BtfMaps => "BTF .maps".to_string(),
            MapOrigin::Legacy { def_size } => format!("legacy maps, {def_size}-byte definition"),
            MapOrigin::GlobalData { kind } => match kind {
                elf::DataKind::Data => "global data, writable".to_string(),
                elf::DataKind::Rodata => "global data, read-only".to_string(),
                elf::DataKind::Bss => "global data, zero-initialised".to_string(),
                elf::DataKind::Kconfig => "__kconfig externs, read-only".to_string(),
            },
        };
        let pinning = match &map.pinning {
            Pinning::None => String::new(),
            Pinning::ByName => ", pinned by name".to_string(),
            Pinning::Path(path) => format!(", pinned at {path}"),
        };
        let _ = writeln!(
            out,
            "\t{}: {}, key {}B, value {}B, max_entries {}, flags {:#x}{pinning} ({origin})",
            map.name,
            map_type_name(map.map_type),
            map.key_size,
            map.value_size,
            map.max_entries,
            map.map_flags
        );
        if let Some(inner) = &map.inner {
            let _ = writeln!(
                out,
                "\t\tholds maps like: {}, key {}B, value {}B, max_entries {}",
                map_type_name(inner.map_type),
                inner.key_size,
                inner.value_size,
                inner.max_entries
            );
        }
        for (slot, target) in &map.initial_slots {
            let target = match target {
                InitialSlot::Map(name) => format!("map {name}"),
                InitialSlot::Program(name) => format!("program {name}"),
            };
            let _ = writeln!(out, "\t\tslot {slot} = {target}");
        }
        if map.origin
            == (MapOrigin::GlobalData {
                kind: elf::DataKind::Kconfig,
            })
        {
            for ext in &object.kconfig {
                let _ = writeln!(
                    out,
                    "\t\t{} at byte {}, {}B, {}{}",
                    ext.name,
                    ext.offset,
                    ext.size,
                    kconfig_type_name(ext.kind),
                    if ext.weak { ", __weak" } else { "" }
                );
            }
        }
    }
    let _ = writeln!(out, "\nPrograms:");
    for program in &object.programs {
        let _ = writeln!(
            out,
            "\t{}: {}, {} instructions, section {}{}",
            program.name,
            program.program_type.name(),
            program.insns.len(),
            program.section,
            attach_target_line(program)
        );
    }
    if !core.ksyms.is_empty() {
        let _ = writeln!(out, "\nKernel symbols (__ksym):");
        for line in &core.ksyms {
            let _ = writeln!(out, "\t{line}");
        }
    }
    let _ = writeln!(out, "\nRelocations:");
    for code in &object.code {
        for relocation in code.relocations.values() {
            let function = code
                .functions
                .iter()
                .find(|function| {
                    relocation.insn_index >= function.start
                        && relocation.insn_index < function.start + function.len
                })
                .map_or_else(|| code.name.clone(), |function| function.name.clone());
            let _ = writeln!(
                out,
                "\t{}: insn {} ({}) -> {} (symbol `{}`)",
                code.name,
                relocation.insn_index,
                function,
                describe_target(object, &relocation.target),
                relocation.symbol
            );
        }
    }
    if !core.programs.is_empty() {
        let _ = writeln!(out, "\nCO-RE relocations:");
        if let Some(reason) = &core.unavailable {
            let _ = writeln!(
                out,
                "\tnot resolved, the values are the object's own: {reason}"
            );
        }
        for (program, lines) in &core.programs {
            for line in lines {
                let text = core_line(object, line, core.unavailable.is_none());
                let _ = writeln!(out, "\t{program}: {text}");
            }
        }
    }
    let _ = writeln!(out, "\nBTF:");
    match &object.btf {
        None => {
            let _ = writeln!(out, "\tnone");
        }
        Some(btf) => {
            let mut kinds: Vec<(&'static str, usize)> = Vec::new();
            for (_, ty) in btf.types() {
                let name = ty.kind.name();
                match kinds.iter_mut().find(|(kind, _)| *kind == name) {
                    Some((_, count)) => *count += 1,
                    None => kinds.push((name, 1)),
                }
            }
            let summary: Vec<String> = kinds
                .iter()
                .map(|(kind, count)| format!("{count} {kind}"))
                .collect();
            let _ = writeln!(out, "\t{} types: {}", btf.type_count(), summary.join(", "));
            for (_, ty) in btf.types() {
                if let BtfKind::Datasec { vars, .. } = &ty.kind {
                    let names: Vec<String> = vars
                        .iter()
                        .map(|var| btf.name(var.type_id).unwrap_or("?").to_string())
                        .collect();
                    let _ = writeln!(
                        out,
                        "\tDATASEC {}: {}",
                        btf.string(ty.name_off).unwrap_or("?"),
                        names.join(", ")
                    );
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "\t.BTF.ext: {}",
        object.btf_ext.as_ref().map_or_else(
            || "none".to_string(),
            |ext| format!(
                "{} sections with func_info, {} with line_info, {} CO-RE relocations",
                ext.func_info.len(),
                ext.line_info.len(),
                ext.core_relos
                    .iter()
                    .map(|section| section.records.len())
                    .sum::<usize>()
            )
        )
    );
    out
}

/// `, attaches to TYPEDEF btf_trace_sys_enter`: what a BTF-attach program's load looks
/// up (in the kernel's BTF, or with -attach-prog in that program's), as libbpf names it.
fn attach_target_line(program: &elf::ProgramSpec) -> String {
    let elf::ProgramType::AttachBtf { attach, .. } = program.program_type else {
        return String::new();
    };
    let kind = if attach.typedef { "TYPEDEF" } else { "FUNC" };
    match elf::attach_target_name(&program.section) {
        Some(suffix) => format!(", attaches to {kind} {}{suffix}", attach.prefix),
        None => ", names no attach target".to_string(),
    }
}
