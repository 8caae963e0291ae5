//! The functions of a code section (from its function symbols) and the programs among
//! them: every global function of a program section.

use super::*;

/// The function symbols of a code section, checked to lie inside it, in offset order.
pub(super) fn section_functions(
    info: &SectionInfo,
    insn_count: usize,
    symbols: &BTreeMap<usize, SymbolInfo>,
) -> Result<Vec<Function>, ParseError> {
    let mut found: Vec<&SymbolInfo> = symbols
        .values()
        .filter(|symbol| symbol.section == Some(info.index) && symbol.st_type == STT_FUNC)
        .collect();
    found.sort_by_key(|symbol| symbol.value);
    let section_size = (insn_count * INSN_SIZE) as u64;
    let mut functions: Vec<Function> = Vec::with_capacity(found.len());
    let mut previous_end = 0u64;
    for symbol in found {
        let bad = |reason: String| ParseError::Symbol {
            section: info.name.clone(),
            symbol: symbol.name.clone(),
            reason,
        };
        let end = symbol
            .value
            .checked_add(symbol.size)
            .filter(|&end| end <= section_size)
            .ok_or_else(|| {
                bad(format!(
                    "it spans bytes {}..{} of a {section_size}-byte section",
                    symbol.value,
                    symbol.value.saturating_add(symbol.size)
                ))
            })?;
        if symbol.size == 0
            || symbol.value % INSN_SIZE as u64 != 0
            || symbol.size % INSN_SIZE as u64 != 0
        {
            return Err(bad(format!(
                "offset {} and size {} are not whole, non-empty instructions",
                symbol.value, symbol.size
            )));
        }
        if symbol.value < previous_end {
            return Err(bad("it overlaps the previous function".into()));
        }
        previous_end = end;
        functions.push(Function {
            name: symbol.name.clone(),
            start: (symbol.value / INSN_SIZE as u64) as usize,
            len: (symbol.size / INSN_SIZE as u64) as usize,
            global: symbol.st_bind != STB_LOCAL,
        });
    }
    Ok(functions)
}

/// The programs of a program section: its global functions, or the whole section when
/// it has no function symbols at all (objects from old compilers).
pub(super) fn section_programs(
    section: &CodeSection,
    program_type: ProgramType,
) -> Vec<ProgramSpec> {
    let program = |name: String, start: usize, len: usize| {
        let relocations = section
            .relocations
            .range(start..start + len)
            .map(|(&index, relocation)| Relocation {
                insn_index: index - start,
                ..relocation.clone()
            })
            .collect();
        ProgramSpec {
            name,
            section: section.name.clone(),
            section_index: section.index,
            program_type,
            section_offset: (start * INSN_SIZE) as u64,
            insns: section.insns[start..start + len].to_vec(),
            relocations,
        }
    };
    if section.functions.is_empty() {
        if section.insns.is_empty() {
            return Vec::new();
        }
        return vec![program(
            section.name.replace(['/', '.'], "_"),
            0,
            section.insns.len(),
        )];
    }
    section
        .functions
        .iter()
        .filter(|function| function.global)
        .map(|function| program(function.name.clone(), function.start, function.len))
        .collect()
}
