//! Parse errors that name the section, symbol or offset they are about.

use std::fmt;

use crate::btf::BtfError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The ELF container itself could not be read.
    Elf { reason: String },
    /// An ELF file, but not for eBPF (`EM_BPF`).
    WrongMachine { machine: u16 },
    /// eBPF, but big-endian (`-target bpfeb`); the kernels we load into are little-endian.
    BigEndian,
    /// eBPF objects are 64-bit ELF; this one is 32-bit.
    NotElf64,
    /// A section whose contents are not what its name promises.
    Section { section: String, reason: String },
    /// A symbol that does not fit the section it points into.
    Symbol {
        section: String,
        symbol: String,
        reason: String,
    },
    /// A relocation that cannot be understood.
    Relocation {
        section: String,
        offset: u64,
        symbol: String,
        reason: String,
    },
    /// A definition in the legacy `maps` section.
    LegacyMap { map: String, reason: String },
    /// A BTF-defined map in `.maps`.
    BtfMap { map: String, reason: String },
    /// `.BTF` itself is malformed.
    Btf(BtfError),
    /// `.BTF.ext` is malformed.
    BtfExt(BtfError),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Elf { reason } => write!(f, "not a readable ELF object: {reason}"),
            ParseError::WrongMachine { machine } => write!(
                f,
                "the ELF object is for machine {machine}, not eBPF (EM_BPF = 247); build it with `clang -target bpf`"
            ),
            ParseError::BigEndian => write!(
                f,
                "the object is big-endian eBPF (bpfeb); build it with `clang -target bpf` (or bpfel) for this little-endian kernel"
            ),
            ParseError::NotElf64 => write!(f, "the object is 32-bit ELF; eBPF objects are 64-bit"),
            ParseError::Section { section, reason } => write!(f, "section `{section}`: {reason}"),
            ParseError::Symbol {
                section,
                symbol,
                reason,
            } => write!(f, "symbol `{symbol}` in section `{section}`: {reason}"),
            ParseError::Relocation {
                section,
                offset,
                symbol,
                reason,
            } => write!(
                f,
                "relocation at offset {offset} of section `{section}` against `{symbol}`: {reason}"
            ),
            ParseError::LegacyMap { map, reason } => {
                write!(f, "map `{map}` in section `maps`: {reason}")
            }
            ParseError::BtfMap { map, reason } => write!(f, "map `{map}` in section `.maps`: {reason}"),
            ParseError::Btf(error) => write!(f, "section `.BTF`: {error}"),
            ParseError::BtfExt(error) => write!(f, "section `.BTF.ext`: {error}"),
        }
    }
}

impl std::error::Error for ParseError {}

impl From<BtfError> for ParseError {
    fn from(error: BtfError) -> Self {
        ParseError::Btf(error)
    }
}
