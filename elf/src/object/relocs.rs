//! Relocations classified once, at parse time: what each ELF relocation (and each call
//! inside one section, which needs none) points at.

use super::*;
use crate::ksym::KsymKind;

/// What relocation classification needs to know about the rest of the object.
pub(super) struct RelocContext<'a> {
    pub(super) kind_of: &'a dyn Fn(usize) -> Option<SectionKind>,
    pub(super) name_of: &'a dyn Fn(usize) -> String,
    pub(super) map_at: &'a HashMap<(usize, u64), usize>,
    pub(super) data_map_of: &'a HashMap<usize, usize>,
    pub(super) btf: Option<&'a Btf>,
    pub(super) kconfig: &'a [KconfigExtern],
    pub(super) kconfig_map: Option<usize>,
    pub(super) ksyms: &'a [KsymExtern],
}

/// Which kind of extern an undefined symbol is, from the BTF DATASEC that lists it.
fn extern_kind(symbol: &str, btf: Option<&Btf>) -> UnsupportedFeature {
    let in_datasec = |datasec: &str| -> bool {
        let Some(btf) = btf else { return false };
        let Some(BtfKind::Datasec { vars, .. }) = btf
            .find_datasec(datasec)
            .and_then(|id| btf.get(id))
            .map(|ty| &ty.kind)
        else {
            return false;
        };
        vars.iter().any(|var| btf.name(var.type_id) == Ok(symbol))
    };
    if in_datasec(".kconfig") {
        UnsupportedFeature::Kconfig
    } else {
        UnsupportedFeature::Extern
    }
}

pub(super) fn classify_relocation(
    r_type: u32,
    insn: Insn,
    symbol: &SymbolInfo,
    context: &RelocContext<'_>,
) -> Result<RelocTarget, String> {
    let unsupported = |feature| Ok(RelocTarget::Unsupported { feature });
    let code_target = |section: usize, byte_offset: i64| -> Result<usize, String> {
        if byte_offset < 0 || byte_offset % INSN_SIZE as i64 != 0 {
            return Err(format!(
                "it points at byte {byte_offset} of section `{}`, not at an instruction",
                (context.name_of)(section)
            ));
        }
        Ok((byte_offset / INSN_SIZE as i64) as usize)
    };
    match r_type {
        R_BPF_64_64 => {
            if !insn.is_ld_imm64() {
                return Err(format!(
                    "R_BPF_64_64 must patch an ld_imm64 instruction, found opcode {:#04x}",
                    insn.code
                ));
            }
            let Some(section) = symbol.section else {
                let kconfig = context.kconfig.iter().find(|ext| ext.name == symbol.name);
                if let (Some(ext), Some(map_index)) = (kconfig, context.kconfig_map) {
                    // libbpf: the extern's place in the map; clang's addend is not used.
                    return Ok(RelocTarget::MapValue {
                        map_index,
                        offset: ext.offset,
                    });
                }
                if let Some(index) = context.ksyms.iter().position(|ext| ext.name == symbol.name) {
                    // A kernel variable's address (or BTF id), or a kfunc's.
                    return Ok(RelocTarget::Ksym { index });
                }
                return unsupported(extern_kind(&symbol.name, context.btf));
            };
            match (context.kind_of)(section) {
                Some(SectionKind::BtfMaps | SectionKind::LegacyMaps) => {
                    // A section symbol carries the definition's offset in the immediate.
                    let offset = if symbol.st_type == STT_SECTION {
                        symbol.value.wrapping_add(insn.imm as u32 as u64)
                    } else {
                        symbol.value
                    };
                    context
                        .map_at
                        .get(&(section, offset))
                        .map(|&map_index| RelocTarget::Map { map_index })
                        .ok_or_else(|| {
                            format!(
                                "no map is defined at offset {offset} of section `{}`",
                                (context.name_of)(section)
                            )
                        })
                }
                Some(SectionKind::Data) => {
                    let map_index = *context.data_map_of.get(&section).ok_or_else(|| {
                        format!(
                            "it points into the empty data section `{}`",
                            (context.name_of)(section)
                        )
                    })?;
                    // libbpf: the variable's offset plus the addend clang left in the immediate.
                    let offset = symbol
                        .value
                        .checked_add(insn.imm as u32 as u64)
                        .and_then(|offset| u32::try_from(offset).ok())
                        .ok_or_else(|| "its offset does not fit in 32 bits".to_string())?;
                    Ok(RelocTarget::MapValue { map_index, offset })
                }
                Some(SectionKind::Program | SectionKind::Text) => {
                    let byte_offset = symbol.value as i64 + i64::from(insn.imm);
                    Ok(RelocTarget::FuncAddr {
                        section_index: section,
                        target_insn: code_target(section, byte_offset)?,
                    })
                }
                _ => Err(format!(
                    "it points into section `{}`, which holds no maps, data or code",
                    (context.name_of)(section)
                )),
            }
        }
        R_BPF_64_32 => {
            if insn.code != crate::insn::CALL {
                return Err(format!(
                    "R_BPF_64_32 must patch a call instruction, found opcode {:#04x}",
                    insn.code
                ));
            }
            let Some(section) = symbol.section else {
                let ksym = context
                    .ksyms
                    .iter()
                    .enumerate()
                    .find(|(_, ext)| ext.name == symbol.name);
                return match ksym {
                    Some((index, ext)) if matches!(ext.kind, KsymKind::Func { .. }) => {
                        Ok(RelocTarget::KfuncCall { index })
                    }
                    Some(_) => Err(format!(
                        "it calls `{}`, a __ksym variable, not a kfunc",
                        symbol.name
                    )),
                    None => unsupported(extern_kind(&symbol.name, context.btf)),
                };
            };
            match (context.kind_of)(section) {
                Some(SectionKind::Program | SectionKind::Text) => {
                    // The immediate counts instructions from the symbol, minus one.
                    let byte_offset =
                        symbol.value as i64 + (i64::from(insn.imm) + 1) * INSN_SIZE as i64;
                    Ok(RelocTarget::Call {
                        section_index: section,
                        target_insn: code_target(section, byte_offset)?,
                    })
                }
                _ => Err(format!(
                    "a call into section `{}`, which holds no code",
                    (context.name_of)(section)
                )),
            }
        }
        other => unsupported(UnsupportedFeature::RelocationType { r_type: other }),
    }
}

/// Calls and function addresses inside one section need no ELF relocation: their
/// immediates are already relative. Record them like relocated ones.
pub(super) fn add_local_calls(
    info: &SectionInfo,
    insns: &[Insn],
    functions: &[Function],
    relocations: &mut BTreeMap<usize, Relocation>,
) -> Result<(), ParseError> {
    let mut index = 0;
    while index < insns.len() {
        let insn = insns[index];
        let step = if insn.is_ld_imm64() { 2 } else { 1 };
        let is_call = insn.code == crate::insn::CALL && insn.src_reg() == BPF_PSEUDO_CALL;
        let is_func = insn.is_ld_imm64() && insn.src_reg() == BPF_PSEUDO_FUNC;
        if (is_call || is_func) && !relocations.contains_key(&index) {
            let target = index as i64 + i64::from(insn.imm) + 1;
            let target = usize::try_from(target)
                .ok()
                .filter(|&target| target < insns.len())
                .ok_or_else(|| ParseError::Relocation {
                    section: info.name.clone(),
                    offset: (index * INSN_SIZE) as u64,
                    symbol: String::new(),
                    reason: format!("its call target {target} is outside the section"),
                })?;
            let symbol = functions
                .iter()
                .find(|function| function.start == target)
                .map_or_else(
                    || format!("{}+{}", info.name, target * INSN_SIZE),
                    |f| f.name.clone(),
                );
            let target = if is_call {
                RelocTarget::Call {
                    section_index: info.index,
                    target_insn: target,
                }
            } else {
                RelocTarget::FuncAddr {
                    section_index: info.index,
                    target_insn: target,
                }
            };
            relocations.insert(
                index,
                Relocation {
                    insn_index: index,
                    symbol,
                    target,
                },
            );
        }
        index += step;
    }
    Ok(())
}
