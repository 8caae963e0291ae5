//! Relocations in program sections, classified once at parse time.

use crate::insn::Insn;

/// `BPF_PSEUDO_MAP_FD`: the `ld_imm64` immediate is a map fd.
pub const BPF_PSEUDO_MAP_FD: u8 = 1;
/// `BPF_PSEUDO_CALL`: a call whose immediate is the relative offset of a bpf function.
pub const BPF_PSEUDO_CALL: u8 = 1;

/// `R_BPF_64_64`: a 64-bit immediate in an `ld_imm64` pair.
pub(crate) const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_32`: the immediate of a call instruction (bpf-to-bpf call).
pub(crate) const R_BPF_64_32: u32 = 10;

/// A relocation inside one program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relocation {
    /// Index of the instruction to patch, relative to the program's first instruction.
    pub insn_index: usize,
    /// The symbol the relocation names.
    pub symbol: String,
    pub target: RelocTarget,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelocTarget {
    /// `ld_imm64` of a map: index into `Object::maps`.
    Map { map_index: usize },
    /// Understood, but not loadable by this loader yet.
    Unsupported { feature: UnsupportedFeature },
}

/// Features a relocation can need that the loader does not implement yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnsupportedFeature {
    /// A reference to `.data`, `.rodata` or `.bss` (global variables).
    GlobalData { section: String },
    /// A call into another bpf function (`.text` or a static function).
    BpfToBpfCall,
    /// The address of a bpf function (callbacks such as `bpf_loop`).
    FunctionPointer,
    /// An undefined symbol: `__ksym` or `.kconfig` externs.
    Extern,
    /// A relocation type this loader does not know.
    RelocationType { r_type: u32 },
}

impl std::fmt::Display for UnsupportedFeature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnsupportedFeature::GlobalData { section } => {
                write!(f, "global data (a variable in `{section}`)")
            }
            UnsupportedFeature::BpfToBpfCall => write!(f, "bpf-to-bpf function calls"),
            UnsupportedFeature::FunctionPointer => write!(f, "bpf function pointers (callbacks)"),
            UnsupportedFeature::Extern => write!(f, "extern symbols (__ksym / .kconfig)"),
            UnsupportedFeature::RelocationType { r_type } => write!(f, "relocation type {r_type}"),
        }
    }
}

/// Points the `ld_imm64` at `insn_index` at the map with file descriptor `fd`.
///
/// Returns `false` (and changes nothing) when the instruction is not the first half
/// of an `ld_imm64` pair.
pub fn patch_map_fd(insns: &mut [Insn], insn_index: usize, fd: i32) -> bool {
    let pair_complete = insn_index
        .checked_add(1)
        .is_some_and(|next| next < insns.len());
    let Some(insn) = insns.get_mut(insn_index) else {
        return false;
    };
    if !insn.is_ld_imm64() || !pair_complete {
        return false;
    }
    insn.set_src_reg(BPF_PSEUDO_MAP_FD);
    insn.imm = fd;
    insns[insn_index + 1].imm = 0;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_ld_imm64_pair() {
        let mut insns = vec![
            Insn::from_bytes([0x18, 0x01, 0, 0, 0, 0, 0, 0]),
            Insn::from_bytes([0, 0, 0, 0, 0x10, 0, 0, 0]),
            Insn::from_bytes([0x95, 0, 0, 0, 0, 0, 0, 0]),
        ];
        assert!(patch_map_fd(&mut insns, 0, 7));
        assert_eq!(insns[0].src_reg(), BPF_PSEUDO_MAP_FD);
        assert_eq!(insns[0].dst_reg(), 1);
        assert_eq!(insns[0].imm, 7);
        assert_eq!(insns[1].imm, 0);
    }

    #[test]
    fn refuses_other_instructions_and_a_lone_half() {
        let mut insns = vec![
            Insn::from_bytes([0x95, 0, 0, 0, 0, 0, 0, 0]),
            Insn::from_bytes([0x18, 0x01, 0, 0, 0, 0, 0, 0]),
        ];
        assert!(!patch_map_fd(&mut insns, 0, 7));
        assert!(!patch_map_fd(&mut insns, 1, 7));
        assert!(!patch_map_fd(&mut insns, 5, 7));
    }
}
