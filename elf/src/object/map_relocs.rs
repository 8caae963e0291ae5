//! Relocations inside map sections: the initialised slots of BTF map definitions
//! (`.values = { ... }`) and the pointers in legacy definitions.

use super::*;

/// `.values = { [slot] = &target }` in BTF map definitions: each initialised slot is a
/// relocated pointer in `.maps` to another map (map of maps) or a program (prog array).
pub(super) fn add_initial_slots(
    file: &ElfFile64<'_, Endianness>,
    info: &SectionInfo,
    maps: &mut [MapSpec],
    symbols: &BTreeMap<usize, SymbolInfo>,
    kind_of: &dyn Fn(usize) -> Option<SectionKind>,
) -> Result<(), ParseError> {
    let section = file
        .section_by_index(object::SectionIndex(info.index))
        .map_err(elf_error)?;
    for (offset, relocation) in section.relocations() {
        let RelocationTarget::Symbol(symbol_index) = relocation.target() else {
            continue;
        };
        let symbol = symbols.get(&symbol_index.0);
        let symbol_name = symbol.map_or_else(|| format!("#{}", symbol_index.0), |s| s.name.clone());
        let error = |reason: String| ParseError::Relocation {
            section: info.name.clone(),
            offset,
            symbol: symbol_name.clone(),
            reason,
        };
        let map = maps
            .iter_mut()
            .find(|map| {
                offset >= map.section_offset
                    && offset < map.section_offset.saturating_add(map.def_size)
            })
            .ok_or_else(|| error("it is not inside any map definition".into()))?;
        let values_offset = map
            .values_offset
            .ok_or_else(|| error(format!("map {} has no `values` to initialise", map.name)))?;
        let slot = (offset - map.section_offset)
            .checked_sub(u64::from(values_offset))
            .filter(|delta| delta % 8 == 0)
            .and_then(|delta| u32::try_from(delta / 8).ok())
            .ok_or_else(|| error(format!("it is not a slot of map {}'s `values`", map.name)))?;
        let symbol =
            symbol.ok_or_else(|| error("its symbol is outside the symbol table".into()))?;
        let target = match symbol.section.and_then(kind_of) {
            Some(SectionKind::BtfMaps) => crate::map::InitialSlot::Map(symbol.name.clone()),
            Some(SectionKind::Program) => crate::map::InitialSlot::Program(symbol.name.clone()),
            _ => {
                return Err(error(
                    "a `values` slot must point at a map or a program".into(),
                ))
            }
        };
        map.initial_slots.push((slot, target));
    }
    Ok(())
}

/// Resolves the relocated pointers inside a legacy `maps` section (goebpf's `persistent_path`).
pub(super) fn map_section_pointers<'data>(
    file: &ElfFile64<'data, Endianness>,
    info: &SectionInfo,
    data: &[u8],
    symbols: &BTreeMap<usize, SymbolInfo>,
    section_data: &dyn Fn(usize) -> Result<&'data [u8], ParseError>,
) -> Result<BTreeMap<u64, PointerTarget>, ParseError> {
    let section = file
        .section_by_index(object::SectionIndex(info.index))
        .map_err(elf_error)?;
    let mut pointers = BTreeMap::new();
    for (offset, relocation) in section.relocations() {
        let RelocationTarget::Symbol(symbol_index) = relocation.target() else {
            continue;
        };
        let Some(symbol) = symbols.get(&symbol_index.0) else {
            return Err(ParseError::Relocation {
                section: info.name.clone(),
                offset,
                symbol: format!("#{}", symbol_index.0),
                reason: "its symbol index is outside the symbol table".into(),
            });
        };
        // REL relocations keep their addend in the bytes they patch.
        let implicit_addend = usize::try_from(offset)
            .ok()
            .and_then(|at| data.get(at..at.checked_add(8)?))
            .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .ok_or_else(|| ParseError::Relocation {
                section: info.name.clone(),
                offset,
                symbol: symbol.name.clone(),
                reason: "it patches bytes past the end of the section".into(),
            })?;
        let c_string = symbol.section.and_then(|target_section| {
            let bytes = section_data(target_section).ok()?;
            let start = usize::try_from(symbol.value.checked_add(implicit_addend)?).ok()?;
            c_string(bytes.get(start..)?)
        });
        pointers.insert(
            offset,
            PointerTarget {
                symbol: symbol.name.clone(),
                c_string,
            },
        );
    }
    Ok(pointers)
}
