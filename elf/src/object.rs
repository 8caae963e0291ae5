//! The parse driver: ELF bytes in, plain data out.

use std::collections::{BTreeMap, HashMap, HashSet};

use object::read::elf::{ElfFile64, FileHeader, SectionHeader};
use object::{
    Endianness, Object as _, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget,
};

use crate::btf::BtfKind;
use crate::btf::{Btf, BtfExt};
use crate::error::ParseError;
use crate::insn::{self, Insn, INSN_SIZE};
use crate::kconfig::{collect_kconfig, KconfigExtern, KCONFIG_SECTION};
use crate::ksym::{collect_ksyms, KsymExtern};
use crate::map::{self, DataKind, MapSpec, MapSymbol, PointerTarget};
use crate::program::{program_type_for_section, ProgramSpec, ProgramType};
use crate::reloc::{
    RelocTarget, Relocation, UnsupportedFeature, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, R_BPF_64_32,
    R_BPF_64_64,
};
use crate::section::{classify, SectionInfo, SectionKind};

mod functions;
mod map_relocs;
mod relocs;

use functions::{section_functions, section_programs};
use map_relocs::{add_initial_slots, map_section_pointers};
use relocs::{add_local_calls, classify_relocation, RelocContext};

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
const STB_WEAK: u8 = 2;

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
    /// `.BTF.ext`: func_info, line_info and CO-RE relocations, by section.
    pub btf_ext: Option<BtfExt>,
    /// The `.kconfig` externs, laid out in the `.kconfig` map (the last of `maps`), whose
    /// values the loader writes from the running kernel.
    pub kconfig: Vec<KconfigExtern>,
    /// The `__ksym` externs (kernel variables and kfuncs) that relocations name by index,
    /// in the `.ksyms` DATASEC's order; the loader finds each in the running kernel.
    pub ksyms: Vec<KsymExtern>,
    /// Every executable section (program sections and `.text`) with its functions and
    /// relocations: what programs are linked from.
    pub code: Vec<CodeSection>,
}

/// An executable section: instructions, the functions in it, and its relocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSection {
    pub index: usize,
    pub name: String,
    pub insns: Vec<Insn>,
    /// Function symbols (global and static), in offset order.
    pub functions: Vec<Function>,
    /// Relocations keyed by the section-relative index of the instruction they patch,
    /// including calls inside the section that need no ELF relocation.
    pub relocations: BTreeMap<usize, Relocation>,
}

/// A function symbol inside a code section, in instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    pub start: usize,
    pub len: usize,
    pub global: bool,
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
            let kind = classify(&name, header.sh_type(endian), header.sh_flags(endian));
            // A section the loader uses must lie inside the file even when only its size
            // matters (`.maps` sizes its DATASEC), or later errors would blame the wrong thing.
            if kind != SectionKind::Other {
                section.data().map_err(|error| ParseError::Section {
                    section: name.clone(),
                    reason: format!("its contents cannot be read: {error}"),
                })?;
            }
            sections.push(SectionInfo {
                index: section.index().0,
                kind,
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
        // clang leaves DATASEC sizes and variable offsets for the loader to fill in.
        if let Some(btf) = btf.as_mut() {
            btf.fixup_datasecs(
                |section| {
                    sections
                        .iter()
                        .find(|info| info.name == section)
                        .and_then(|info| u32::try_from(info.size).ok())
                },
                |section, var| {
                    symbols
                        .values()
                        .find(|symbol| {
                            symbol.name == var
                                && symbol
                                    .section
                                    .is_some_and(|index| name_of(index) == section)
                        })
                        .and_then(|symbol| u32::try_from(symbol.value).ok())
                },
            )?;
        }

        // `.kconfig` externs get their places in a map of their own, as libbpf gives them.
        let is_weak_extern = |name: &str| {
            symbols.values().any(|symbol| {
                symbol.name == name && symbol.section.is_none() && symbol.st_bind == STB_WEAK
            })
        };
        let (kconfig, kconfig_size) = match btf.as_mut() {
            Some(btf) => collect_kconfig(btf, is_weak_extern)?,
            None => (Vec::new(), 0),
        };
        // `__ksym` externs: resolved by the loader; their DATASEC rewritten for the kernel.
        let ksyms = match btf.as_mut() {
            Some(btf) => collect_ksyms(btf, is_weak_extern)?,
            None => Vec::new(),
        };
        if kconfig_size as usize > MAX_DATA_SECTION {
            return Err(ParseError::Section {
                section: KCONFIG_SECTION.into(),
                reason: format!(
                    "its externs take {kconfig_size} bytes, more than a map value can be"
                ),
            });
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
                let mut found = map::parse_btf_maps(info.index, btf, &map_symbols)?;
                add_initial_slots(&file, info, &mut found, &symbols, &kind_of)?;
                found
            };
            found.sort_by_key(|map| map.section_offset);
            for map in &found {
                map::check_map_type(map, info.kind == SectionKind::LegacyMaps)?;
            }
            maps.extend(found);
        }
        // Global data: one array map per non-empty data section, after the declared maps.
        for info in &sections {
            if info.kind != SectionKind::Data || info.size == 0 {
                continue;
            }
            let kind = data_kind(&info.name);
            let contents = if kind == DataKind::Bss {
                let size = usize::try_from(info.size)
                    .ok()
                    .filter(|&size| size <= MAX_DATA_SECTION);
                let size = size.ok_or_else(|| ParseError::Section {
                    section: info.name.clone(),
                    reason: format!("{} bytes is larger than a map value can be", info.size),
                })?;
                vec![0u8; size]
            } else {
                section_data(info.index)?.to_vec()
            };
            maps.push(map::global_data_map(
                info.index,
                &info.name,
                kind,
                contents,
                btf.as_ref(),
            ));
        }
        let kconfig_map = (!kconfig.is_empty()).then(|| {
            // No ELF section holds it: the null section (index 0) stands for "none".
            maps.push(map::global_data_map(
                0,
                KCONFIG_SECTION,
                DataKind::Kconfig,
                vec![0; kconfig_size as usize],
                btf.as_ref(),
            ));
            maps.len() - 1
        });
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
        let data_map_of: HashMap<usize, usize> = maps
            .iter()
            .enumerate()
            .filter(|(_, map)| matches!(map.origin, crate::map::MapOrigin::GlobalData { .. }))
            .map(|(index, map)| (map.section_index, index))
            .collect();
        let context = RelocContext {
            kind_of: &kind_of,
            name_of: &name_of,
            map_at: &map_at,
            data_map_of: &data_map_of,
            btf: btf.as_ref(),
            kconfig: &kconfig,
            kconfig_map,
            ksyms: &ksyms,
        };

        // Code: every executable section, with its functions and relocations.
        let mut code = Vec::new();
        for info in &sections {
            if !matches!(info.kind, SectionKind::Program | SectionKind::Text) {
                continue;
            }
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
            let functions = section_functions(info, insns.len(), &symbols)?;
            let section = file
                .section_by_index(object::SectionIndex(info.index))
                .map_err(elf_error)?;
            let mut relocations = BTreeMap::new();
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
                if offset % INSN_SIZE as u64 != 0 {
                    return Err(relocation_error(
                        "its offset is not on an instruction boundary".into(),
                    ));
                }
                let insn_index = usize::try_from(offset / INSN_SIZE as u64)
                    .ok()
                    .filter(|&index| index < insns.len())
                    .ok_or_else(|| {
                        relocation_error("its offset is past the end of the section".into())
                    })?;
                let target = classify_relocation(r_type, insns[insn_index], symbol, &context)
                    .map_err(relocation_error)?;
                relocations.insert(
                    insn_index,
                    Relocation {
                        insn_index,
                        symbol: symbol.name.clone(),
                        target,
                    },
                );
            }
            add_local_calls(info, &insns, &functions, &mut relocations)?;
            code.push(CodeSection {
                index: info.index,
                name: info.name.clone(),
                insns,
                functions,
                relocations,
            });
        }

        // Programs: each global function in a program section.
        let mut programs = Vec::new();
        for section in &code {
            if section.name == ".text" {
                continue;
            }
            // A name no row knows is kept, as a program of no type, so that loading it
            // says so instead of leaving its programs out without a word.
            let program_type =
                program_type_for_section(&section.name).unwrap_or(ProgramType::Unknown);
            programs.extend(section_programs(section, program_type));
        }

        let btf_ext = match (
            sections
                .iter()
                .find(|info| info.kind == SectionKind::BtfExt),
            btf.as_ref(),
        ) {
            (Some(info), Some(btf)) => {
                Some(BtfExt::parse(section_data(info.index)?, btf).map_err(ParseError::BtfExt)?)
            }
            _ => None,
        };

        Ok(Object {
            license,
            kernel_version,
            sections,
            programs,
            maps,
            btf,
            btf_ext,
            code,
            kconfig,
            ksyms,
        })
    }

    /// The code section with ELF index `index`.
    pub fn code_section(&self, index: usize) -> Option<&CodeSection> {
        self.code.iter().find(|section| section.index == index)
    }

    /// The program called `name`.
    pub fn program(&self, name: &str) -> Option<&ProgramSpec> {
        self.programs.iter().find(|program| program.name == name)
    }

    /// The map called `name`.
    pub fn map(&self, name: &str) -> Option<&MapSpec> {
        self.maps.iter().find(|map| map.name == name)
    }

    /// Whether any code in the object calls `bpf_printk` (`bpf_trace_printk` or
    /// `bpf_trace_vprintk`), whose lines the kernel writes to the trace buffer.
    pub fn calls_trace_printk(&self) -> bool {
        self.code
            .iter()
            .flat_map(|section| &section.insns)
            .any(|insn| {
                insn.is_helper_call(crate::insn::BPF_FUNC_TRACE_PRINTK)
                    || insn.is_helper_call(crate::insn::BPF_FUNC_TRACE_VPRINTK)
            })
    }
}

/// The largest global-data section we turn into a map value (the kernel's own limit for
/// an array value is `KMALLOC_MAX_SIZE`; this keeps a hostile `.bss` size from allocating).
const MAX_DATA_SECTION: usize = 1 << 26;

fn data_kind(section: &str) -> DataKind {
    if section.starts_with(".rodata") {
        DataKind::Rodata
    } else if section.starts_with(".bss") {
        DataKind::Bss
    } else {
        DataKind::Data
    }
}
