//! What each ELF section of an eBPF object is for, decided by type, flags and exact names.

/// The role of a section in an eBPF object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    /// Executable code named after its program type (`xdp`, `kprobe/...`).
    Program,
    /// `.text`: bpf-to-bpf subprograms.
    Text,
    /// `.maps`: BTF-defined maps.
    BtfMaps,
    /// `maps`: legacy `struct bpf_map_def` definitions.
    LegacyMaps,
    /// `.data*`, `.rodata*`, `.bss*`: global variables.
    Data,
    License,
    Version,
    Btf,
    BtfExt,
    /// Relocations for another section.
    Relocations,
    /// Symbol and string tables, DWARF and other sections the loader does not use.
    Other,
}

impl SectionKind {
    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Program => "program",
            SectionKind::Text => "subprograms",
            SectionKind::BtfMaps => "BTF maps",
            SectionKind::LegacyMaps => "legacy maps",
            SectionKind::Data => "global data",
            SectionKind::License => "license",
            SectionKind::Version => "version",
            SectionKind::Btf => "BTF",
            SectionKind::BtfExt => "BTF.ext",
            SectionKind::Relocations => "relocations",
            SectionKind::Other => "other",
        }
    }
}

// ELF section types and flags (include/uapi/linux/elf.h).
const SHT_PROGBITS: u32 = 1;
const SHT_NOBITS: u32 = 8;
const SHT_REL: u32 = 9;
const SHF_EXECINSTR: u64 = 0x4;

fn is_data_name(name: &str) -> bool {
    [".data", ".rodata", ".bss"].iter().any(|prefix| {
        name == *prefix
            || name
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// Classifies a section from its name, `sh_type` and `sh_flags`.
pub fn classify(name: &str, sh_type: u32, sh_flags: u64) -> SectionKind {
    match (name, sh_type) {
        (_, SHT_REL) => SectionKind::Relocations,
        ("license", SHT_PROGBITS) => SectionKind::License,
        ("version", SHT_PROGBITS) => SectionKind::Version,
        (".BTF", _) => SectionKind::Btf,
        (".BTF.ext", _) => SectionKind::BtfExt,
        (".maps", SHT_PROGBITS) => SectionKind::BtfMaps,
        ("maps", SHT_PROGBITS) => SectionKind::LegacyMaps,
        (".text", SHT_PROGBITS) => SectionKind::Text,
        (_, SHT_PROGBITS) if sh_flags & SHF_EXECINSTR != 0 => SectionKind::Program,
        (_, SHT_PROGBITS | SHT_NOBITS) if is_data_name(name) => SectionKind::Data,
        _ => SectionKind::Other,
    }
}

/// One section as `-dump` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionInfo {
    pub index: usize,
    pub name: String,
    pub kind: SectionKind,
    pub size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_exact_names_and_flags() {
        assert_eq!(
            classify("xdp", SHT_PROGBITS, SHF_EXECINSTR),
            SectionKind::Program
        );
        assert_eq!(
            classify(".text", SHT_PROGBITS, SHF_EXECINSTR),
            SectionKind::Text
        );
        assert_eq!(classify("maps", SHT_PROGBITS, 0), SectionKind::LegacyMaps);
        assert_eq!(classify(".maps", SHT_PROGBITS, 0), SectionKind::BtfMaps);
        assert_eq!(classify(".mapsx", SHT_PROGBITS, 0), SectionKind::Other);
        assert_eq!(
            classify(".rodata.str1.1", SHT_PROGBITS, 0),
            SectionKind::Data
        );
        assert_eq!(classify(".bss", SHT_NOBITS, 0), SectionKind::Data);
        assert_eq!(classify(".database", SHT_PROGBITS, 0), SectionKind::Other);
        assert_eq!(classify(".relxdp", SHT_REL, 0), SectionKind::Relocations);
        assert_eq!(classify("xdp", SHT_PROGBITS, 0), SectionKind::Other);
    }
}
