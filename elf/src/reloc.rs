//! Relocations in program sections, classified once at parse time.

use crate::insn::Insn;

/// `BPF_PSEUDO_MAP_FD`: the `ld_imm64` immediate is a map fd.
pub const BPF_PSEUDO_MAP_FD: u8 = 1;
/// `BPF_PSEUDO_MAP_VALUE`: the `ld_imm64` is a map fd (first half) and an offset into
/// the map's value (second half).
pub const BPF_PSEUDO_MAP_VALUE: u8 = 2;
/// `BPF_PSEUDO_FUNC`: the `ld_imm64` immediate is the relative offset of a bpf function.
pub const BPF_PSEUDO_FUNC: u8 = 4;
/// `BPF_PSEUDO_CALL`: a call whose immediate is the relative offset of a bpf function.
pub const BPF_PSEUDO_CALL: u8 = 1;
/// `BPF_PSEUDO_KFUNC_CALL`: a call of a kernel function named by BTF id.
pub const BPF_PSEUDO_KFUNC_CALL: u8 = 2;
/// `BPF_PSEUDO_BTF_ID`: the `ld_imm64` immediate is a kernel variable's (or function's)
/// BTF id, the second half's the fd of the module BTF that has it (0: vmlinux).
pub const BPF_PSEUDO_BTF_ID: u8 = 3;

/// `R_BPF_64_64`: a 64-bit immediate in an `ld_imm64` pair.
pub(crate) const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_32`: the immediate of a call instruction (bpf-to-bpf call).
pub(crate) const R_BPF_64_32: u32 = 10;

/// A relocation inside one program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relocation {
    /// Index of the instruction to patch, relative to the program's (or section's)
    /// first instruction.
    pub insn_index: usize,
    /// The symbol the relocation names.
    pub symbol: String,
    pub target: RelocTarget,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelocTarget {
    /// `ld_imm64` of a map: index into `Object::maps`.
    Map { map_index: usize },
    /// `ld_imm64` of an address inside a global-data map's value.
    MapValue { map_index: usize, offset: u32 },
    /// A bpf-to-bpf call of the function at `target_insn` of code section `section_index`.
    Call {
        section_index: usize,
        target_insn: usize,
    },
    /// `ld_imm64` of a bpf function's address (a callback, e.g. for `bpf_loop`).
    FuncAddr {
        section_index: usize,
        target_insn: usize,
    },
    /// `ld_imm64` of a `__ksym` extern (`Object::ksyms[index]`): a kernel variable's BTF
    /// id or address, or a kfunc's BTF id.
    Ksym { index: usize },
    /// A call of the kfunc `Object::ksyms[index]`.
    KfuncCall { index: usize },
    /// Understood, but not loadable by this loader yet.
    Unsupported { feature: UnsupportedFeature },
}

/// Features an object can need that the loader does not implement yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnsupportedFeature {
    /// An `extern ... __kconfig`: a kernel configuration value.
    Kconfig,
    /// Another undefined symbol.
    Extern,
    /// A relocation type this loader does not know.
    RelocationType { r_type: u32 },
    /// A call or function address that does not land on a function.
    BadCallTarget,
}

impl std::fmt::Display for UnsupportedFeature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnsupportedFeature::Kconfig => write!(f, "a __kconfig extern (.kconfig)"),
            UnsupportedFeature::Extern => write!(f, "an undefined extern symbol"),
            UnsupportedFeature::RelocationType { r_type } => write!(f, "relocation type {r_type}"),
            UnsupportedFeature::BadCallTarget => {
                write!(
                    f,
                    "a call or function address that does not land on a function"
                )
            }
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

/// Points the `ld_imm64` at `insn_index` at byte `offset` of the value of the map with
/// file descriptor `fd` (global data). Returns `false` when it is not an `ld_imm64` pair.
pub fn patch_map_value(insns: &mut [Insn], insn_index: usize, fd: i32, offset: u32) -> bool {
    if !patch_map_fd(insns, insn_index, fd) {
        return false;
    }
    insns[insn_index].set_src_reg(BPF_PSEUDO_MAP_VALUE);
    insns[insn_index + 1].imm = offset as i32;
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
