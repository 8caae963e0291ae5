//! The parse driver: ELF bytes in, plain data out.

use std::collections::{BTreeMap, HashMap, HashSet};

use object::read::elf::{ElfFile64, FileHeader, SectionHeader};
use object::{
    Endianness, Object as _, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget,
};

use crate::btf::Btf;
use crate::error::ParseError;
use crate::insn::{self, Insn, INSN_SIZE};
use crate::map::{self, MapSpec, MapSymbol, PointerTarget};
use crate::program::{program_type_for_section, ProgramSpec, ProgramType};
use crate::reloc::{RelocTarget, Relocation, UnsupportedFeature, R_BPF_64_32, R_BPF_64_64};
use crate::section::{classify, SectionInfo, SectionKind};

/// `EM_BPF` from include/uapi/linux/elf-em.h.
pub const EM_BPF: u16 = 247;
const ELFCLASS32: u8 = 1;
const ELFDATA2MSB: u8 = 2;
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;
/// Offset of `e_machine` in the ELF header (same for 32- and 64-bit).
const E_MACHINE: usize = 18;

// Symbol types and bindings (include/uapi/linux/elf.h).
const STT_FUNC: u8 = 2;
const STT_SECTION: u8 = 3;
const STB_LOCAL: u8 = 0;

/// An eBPF object as plain data: everything the loader needs, nothing live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The `license` section's string, if the object has one.
    pub license: Option<String>,
    /// The `version` section, if any (only very old kernels looked at it).
    pub kernel_version: Option<u32>,
    pub sections: Vec<SectionInfo>,
    /// Programs in section order, then in offset order within a section.
    pub programs: Vec<ProgramSpec>,
    /// Maps in section order, then in offset order within a section.
    pub maps: Vec<MapSpec>,
    pub btf: Option<Btf>,
}

#[derive(Debug, Clone)]
struct SymbolInfo {
    name: String,
    section: Option<usize>,
    value: u64,
    size: u64,
    st_type: u8,
    st_bind: u8,
}

fn elf_error(error: object::Error) -> ParseError {
    ParseError::Elf {
        reason: error.to_string(),
    }
}

fn c_string(bytes: &[u8]) -> Option<String> {
    let len = bytes.iter().position(|&b| b == 0)?;
    String::from_utf8(bytes[..len].to_vec()).ok()
}

/// Rejects what is plainly not little-endian 64-bit eBPF before the generic ELF reader runs,
/// so the error says what the file is.
fn check_ident(data: &[u8]) -> Result<(), ParseError> {
    if data.len() < 4 || &data[..4] != b"\x7fELF" {
        return Err(ParseError::Elf {
            reason: "the file does not start with the ELF magic bytes".into(),
        });
    }
    let (Some(&class), Some(&encoding), Some(machine)) = (
        data.get(EI_CLASS),
        data.get(EI_DATA),
        data.get(E_MACHINE..E_MACHINE + 2),
    ) else {
        return Err(ParseError::Elf {
            reason: "the ELF header is truncated".into(),
        });
    };
    let machine = if encoding == ELFDATA2MSB {
        u16::from_be_bytes([machine[0], machine[1]])
    } else {
        u16::from_le_bytes([machine[0], machine[1]])
    };
    if machine != EM_BPF {
        return Err(ParseError::WrongMachine { machine });
    }
    if encoding == ELFDATA2MSB {
        return Err(ParseError::BigEndian);
    }
    if class == ELFCLASS32 {
        return Err(ParseError::NotElf64);
    }
    Ok(())
}

impl Object {
    /// Parses the bytes of an eBPF ELF object. Never panics, whatever the input.
    pub fn parse(data: &[u8]) -> Result<Object, ParseError> {
        check_ident(data)?;
        let file = ElfFile64::<Endianness>::parse(data).map_err(elf_error)?;
        let endian = file.endian();
        if file.elf_header().e_machine(endian) != EM_BPF {
            return Err(ParseError::WrongMachine {
                machine: file.elf_header().e_machine(endian),
            });
        }

        let mut sections = Vec::new();
        for section in file.sections() {
            let header = section.elf_section_header();
            let name = section.name().map_err(elf_error)?.to_string();
            sections.push(SectionInfo {
                index: section.index().0,
                kind: classify(&name, header.sh_type(endian), header.sh_flags(endian)),
                size: section.size(),
                name,
            });
        }
        let kind_of = |index: usize| sections.iter().find(|s| s.index == index).map(|s| s.kind);
        let name_of = |index: usize| {
            sections
                .iter()
                .find(|s| s.index == index)
                .map(|s| s.name.clone())
                .unwrap_or_else(|| format!("#{index}"))
        };

        let mut symbols: BTreeMap<usize, SymbolInfo> = BTreeMap::new();
        for symbol in file.symbols() {
            let raw = symbol.elf_symbol();
            let mut name = symbol.name().map_err(elf_error)?.to_string();
            // Section symbols are nameless; errors should name the section instead.
            if name.is_empty() && raw.st_type() == STT_SECTION {
                if let Some(index) = symbol.section_index() {
                    name = name_of(index.0);
                }
            }
            symbols.insert(
                symbol.index().0,
                SymbolInfo {
                    name,
                    section: symbol.section_index().map(|index| index.0),
                    value: symbol.address(),
                    size: symbol.size(),
                    st_type: raw.st_type(),
                    st_bind: raw.st_bind(),
                },
            );
        }

        let section_data = |index: usize| -> Result<&[u8], ParseError> {
            let section = file
                .section_by_index(object::SectionIndex(index))
                .map_err(elf_error)?;
            section.data().map_err(|error| ParseError::Section {
                section: name_of(index),
                reason: format!("its contents cannot be read: {error}"),
            })
        };

        let mut license = None;
        let mut kernel_version = None;
        let mut btf = None;
        for info in &sections {
            match info.kind {
                SectionKind::License => {
                    license = Some(c_string(section_data(info.index)?).ok_or_else(|| {
                        ParseError::Section {
                            section: info.name.clone(),
                            reason: "the license is not a NUL-terminated UTF-8 string".into(),
                        }
                    })?);
                }
                SectionKind::Version => {
                    let bytes = section_data(info.index)?;
                    kernel_version = bytes
                        .get(..4)
                        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                }
                SectionKind::Btf => btf = Some(Btf::parse(section_data(info.index)?)?),
                _ => {}
            }
        }

        // Maps, from every map section in section order.
        let mut maps = Vec::new();
        for info in &sections {
            if !matches!(info.kind, SectionKind::LegacyMaps | SectionKind::BtfMaps) {
                continue;
            }
            let map_symbols: Vec<MapSymbol> = symbols
                .values()
                .filter(|symbol| {
                    symbol.section == Some(info.index)
                        && symbol.st_type != STT_SECTION
                        && !symbol.name.is_empty()
                })
                .map(|symbol| MapSymbol {
                    name: symbol.name.clone(),
                    offset: symbol.value,
                    size: symbol.size,
                })
                .collect();
            let mut found = if info.kind == SectionKind::LegacyMaps {
                let data = section_data(info.index)?;
                let pointers = map_section_pointers(&file, info, data, &symbols, &section_data)?;
                map::parse_legacy_maps(info.index, data, &map_symbols, &pointers)?
            } else {
                let btf = btf.as_ref().ok_or_else(|| ParseError::Section {
                    section: info.name.clone(),
                    reason: "BTF-defined maps need a `.BTF` section, and the object has none (build with -g)"
                        .into(),
                })?;
                map::parse_btf_maps(info.index, btf, &map_symbols)?
            };
            found.sort_by_key(|map| map.section_offset);
            maps.extend(found);
        }
        let mut seen = HashSet::new();
        if let Some(duplicate) = maps.iter().find(|map| !seen.insert(map.name.as_str())) {
            return Err(ParseError::Symbol {
                section: name_of(duplicate.section_index),
                symbol: duplicate.name.clone(),
                reason: "two maps have this name".into(),
            });
        }
        let map_at: HashMap<(usize, u64), usize> = maps
            .iter()
            .enumerate()
            .map(|(index, map)| ((map.section_index, map.section_offset), index))
            .collect();

        // Programs: each global function in an executable section.
        let mut programs = Vec::new();
        for info in &sections {
            if info.kind != SectionKind::Program {
                continue;
            }
            let Some(program_type) = program_type_for_section(&info.name) else {
                continue;
            };
            let data = section_data(info.index)?;
            if data.len() % INSN_SIZE != 0 {
                return Err(ParseError::Section {
                    section: info.name.clone(),
                    reason: format!(
                        "its size {} is not a multiple of the {INSN_SIZE}-byte instruction",
                        data.len()
                    ),
                });
            }
            let insns = insn::decode(data);
            let mut found = section_programs(info, &insns, &symbols, program_type)?;
            let section = file
                .section_by_index(object::SectionIndex(info.index))
                .map_err(elf_error)?;
            for (offset, relocation) in section.relocations() {
                let RelocationTarget::Symbol(symbol_index) = relocation.target() else {
                    return Err(ParseError::Relocation {
                        section: info.name.clone(),
                        offset,
                        symbol: String::new(),
                        reason: "it does not name a symbol".into(),
                    });
                };
                let r_type = match relocation.flags() {
                    RelocationFlags::Elf { r_type } => r_type,
                    _ => 0,
                };
                let symbol = symbols.get(&symbol_index.0).ok_or(ParseError::Relocation {
                    section: info.name.clone(),
                    offset,
                    symbol: format!("#{}", symbol_index.0),
                    reason: "its symbol index is outside the symbol table".into(),
                })?;
                let relocation_error = |reason: String| ParseError::Relocation {
                    section: info.name.clone(),
                    offset,
                    symbol: symbol.name.clone(),
                    reason,
                };
                let Some(program) = found.iter_mut().find(|program| {
                    offset >= program.section_offset
                        && offset < program.section_offset + program.size_bytes() as u64
                }) else {
                    return Err(relocation_error(
                        "its offset is not inside any program of the section".into(),
                    ));
                };
                if (offset - program.section_offset) % INSN_SIZE as u64 != 0 {
                    return Err(relocation_error(
                        "its offset is not on an instruction boundary".into(),
                    ));
                }
                let insn_index = ((offset - program.section_offset) / INSN_SIZE as u64) as usize;
                let insn = program.insns[insn_index];
                let target = classify_relocation(
                    r_type,
                    insn,
                    symbol,
                    &|index| kind_of(index),
                    &|index| name_of(index),
                    &map_at,
                )
                .map_err(relocation_error)?;
                program.relocations.push(Relocation {
                    insn_index,
                    symbol: symbol.name.clone(),
                    target,
                });
            }
            for program in &mut found {
                program
                    .relocations
                    .sort_by_key(|relocation| relocation.insn_index);
            }
            programs.extend(found);
        }

        Ok(Object {
            license,
            kernel_version,
            sections,
            programs,
            maps,
            btf,
        })
    }

    /// The program called `name`.
    pub fn program(&self, name: &str) -> Option<&ProgramSpec> {
        self.programs.iter().find(|program| program.name == name)
    }

    /// The map called `name`.
    pub fn map(&self, name: &str) -> Option<&MapSpec> {
        self.maps.iter().find(|map| map.name == name)
    }
}

/// Splits an executable section into programs by its global function symbols.
fn section_programs(
    info: &SectionInfo,
    insns: &[Insn],
    symbols: &BTreeMap<usize, SymbolInfo>,
    program_type: ProgramType,
) -> Result<Vec<ProgramSpec>, ParseError> {
    let mut functions: Vec<&SymbolInfo> = symbols
        .values()
        .filter(|symbol| {
            symbol.section == Some(info.index)
                && symbol.st_type == STT_FUNC
                && symbol.st_bind != STB_LOCAL
        })
        .collect();
    functions.sort_by_key(|symbol| symbol.value);
    let section_size = (insns.len() * INSN_SIZE) as u64;
    if functions.is_empty() {
        // Objects built without function symbols: the whole section is one program.
        if insns.is_empty() {
            return Ok(Vec::new());
        }
        return Ok(vec![ProgramSpec {
            name: info.name.replace(['/', '.'], "_"),
            section: info.name.clone(),
            program_type,
            section_offset: 0,
            insns: insns.to_vec(),
            relocations: Vec::new(),
        }]);
    }
    let mut programs = Vec::with_capacity(functions.len());
    let mut previous_end = 0u64;
    for symbol in functions {
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
        let first = (symbol.value / INSN_SIZE as u64) as usize;
        let last = (end / INSN_SIZE as u64) as usize;
        programs.push(ProgramSpec {
            name: symbol.name.clone(),
            section: info.name.clone(),
            program_type,
            section_offset: symbol.value,
            insns: insns[first..last].to_vec(),
            relocations: Vec::new(),
        });
    }
    Ok(programs)
}

fn classify_relocation(
    r_type: u32,
    insn: Insn,
    symbol: &SymbolInfo,
    kind_of: &dyn Fn(usize) -> Option<SectionKind>,
    name_of: &dyn Fn(usize) -> String,
    map_at: &HashMap<(usize, u64), usize>,
) -> Result<RelocTarget, String> {
    let unsupported = |feature| Ok(RelocTarget::Unsupported { feature });
    match r_type {
        R_BPF_64_64 => {
            if !insn.is_ld_imm64() {
                return Err(format!(
                    "R_BPF_64_64 must patch an ld_imm64 instruction, found opcode {:#04x}",
                    insn.code
                ));
            }
            let Some(section) = symbol.section else {
                return unsupported(UnsupportedFeature::Extern);
            };
            match kind_of(section) {
                Some(SectionKind::BtfMaps | SectionKind::LegacyMaps) => {
                    // A section symbol carries the definition's offset in the immediate.
                    let offset = if symbol.st_type == STT_SECTION {
                        symbol.value.wrapping_add(insn.imm as u32 as u64)
                    } else {
                        symbol.value
                    };
                    map_at
                        .get(&(section, offset))
                        .map(|&map_index| RelocTarget::Map { map_index })
                        .ok_or_else(|| {
                            format!(
                                "no map is defined at offset {offset} of section `{}`",
                                name_of(section)
                            )
                        })
                }
                Some(SectionKind::Data) => unsupported(UnsupportedFeature::GlobalData {
                    section: name_of(section),
                }),
                Some(SectionKind::Program | SectionKind::Text) => {
                    unsupported(UnsupportedFeature::FunctionPointer)
                }
                _ => Err(format!(
                    "it points into section `{}`, which holds no maps, data or code",
                    name_of(section)
                )),
            }
        }
        R_BPF_64_32 => unsupported(UnsupportedFeature::BpfToBpfCall),
        other => unsupported(UnsupportedFeature::RelocationType { r_type: other }),
    }
}

/// Resolves the relocated pointers inside a legacy `maps` section (goebpf's `persistent_path`).
fn map_section_pointers<'data>(
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
