//! Writing a [`Resolution`] into the instruction, as libbpf's `bpf_core_patch_insn`:
//! the immediate of an ALU/ALU64 instruction, the offset (and, for a field whose size
//! changed, the access size) of a load or store, or both halves of an `ld_imm64`. The
//! instruction must hold the local value first, so a record that points at the wrong
//! instruction is an error, not a silent change.
//!
//! A poisoned relocation turns the instruction into `call 0xbad2310`, an unknown
//! helper: the verifier removes it when the code cannot be reached (a field guarded by
//! `bpf_core_field_exists`) and reports `invalid func unknown#195896080` when it can.

use super::{CoreFailure, Resolution};
use crate::insn::{
    Insn, BPF_ALU, BPF_ALU64, BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_X, CALL, LD_IMM64, SIZE_MASK,
};

/// libbpf's `BPF_CORE_POISON` helper number: 0xbad2310, "bad relo".
pub const BPF_CORE_POISON: i32 = 0x0bad_2310;

/// What happened to the instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patched {
    /// It now holds the new value.
    Value,
    /// It became `call 0xbad2310` (also the second half of an `ld_imm64`).
    Poisoned,
}

fn poison(insn: &mut Insn) {
    *insn = Insn {
        code: CALL,
        regs: 0,
        off: 0,
        imm: BPF_CORE_POISON,
    };
}

fn poison_at(insns: &mut [Insn], index: usize) -> Patched {
    let is_pair = insns.get(index).is_some_and(|insn| insn.is_ld_imm64());
    if is_pair {
        // Both halves, or the verifier stumbles on the lone second half first.
        if let Some(second) = insns.get_mut(index + 1) {
            poison(second);
        }
    }
    if let Some(insn) = insns.get_mut(index) {
        poison(insn);
    }
    Patched::Poisoned
}

fn size_bytes(code: u8) -> u32 {
    match code & SIZE_MASK {
        0x18 => 8,
        0x00 => 4,
        0x08 => 2,
        _ => 1,
    }
}

fn size_code(bytes: u32) -> Option<u8> {
    match bytes {
        8 => Some(0x18),
        4 => Some(0x00),
        2 => Some(0x08),
        1 => Some(0x10),
        _ => None,
    }
}

/// Patches instruction `index` of `insns` with `resolution`.
pub fn patch_insn(
    insns: &mut [Insn],
    index: usize,
    resolution: &Resolution,
) -> Result<Patched, CoreFailure> {
    let bad = |reason: String| CoreFailure::BadInstruction(reason);
    let insn = *insns
        .get(index)
        .ok_or_else(|| bad(format!("instruction {index} is past the program's end")))?;
    if resolution.poison {
        return Ok(poison_at(insns, index));
    }
    let (orig, new) = (resolution.orig_value, resolution.new_value);
    let unexpected = |what: &str, found: i64| {
        bad(format!(
            "instruction {index} ({what}) holds {found}, not the compiler's value {orig}"
        ))
    };
    match insn.class() {
        BPF_ALU | BPF_ALU64 => {
            if insn.code & BPF_X != 0 {
                return Err(bad(format!(
                    "instruction {index} is an ALU instruction with a register operand, which has no immediate to patch"
                )));
            }
            if resolution.validate && i64::from(insn.imm) as u64 != orig {
                return Err(unexpected("ALU immediate", i64::from(insn.imm)));
            }
            // The immediate is 32 bits: libbpf truncates as well.
            insns[index].imm = new as i32;
        }
        BPF_LDX | BPF_ST | BPF_STX => {
            if resolution.validate && i64::from(insn.off) as u64 != orig {
                return Err(unexpected("load/store offset", i64::from(insn.off)));
            }
            if new > i16::MAX as u64 {
                return Err(bad(format!(
                    "instruction {index}: offset {new} does not fit a load or store"
                )));
            }
            if resolution.fail_memsz_adjust {
                // The field changed size and type: reading it with either size would
                // give a wrong value, so the access is made to fail if it runs.
                return Ok(poison_at(insns, index));
            }
            let mut patched = insn;
            patched.off = new as i16;
            if resolution.new_size != resolution.orig_size {
                if size_bytes(insn.code) != resolution.orig_size {
                    return Err(bad(format!(
                        "instruction {index} accesses {} bytes, not the field's {}",
                        size_bytes(insn.code),
                        resolution.orig_size
                    )));
                }
                let size = size_code(resolution.new_size).ok_or_else(|| {
                    bad(format!(
                        "instruction {index}: the kernel's field is {} bytes, which no load has",
                        resolution.new_size
                    ))
                })?;
                patched.code = (insn.code & !SIZE_MASK) | size;
            }
            insns[index] = patched;
        }
        BPF_LD => {
            let second = insns.get(index + 1).copied();
            let well_formed = insn.code == LD_IMM64
                && insn.src_reg() == 0
                && insn.off == 0
                && second.is_some_and(|s| s.code == 0 && s.regs == 0 && s.off == 0);
            let Some(second) = second.filter(|_| well_formed) else {
                return Err(bad(format!(
                    "instruction {index} is not a plain ld_imm64 pair"
                )));
            };
            let imm = u64::from(insn.imm as u32) | (u64::from(second.imm as u32) << 32);
            if resolution.validate && imm != orig {
                return Err(unexpected("ld_imm64", imm as i64));
            }
            insns[index].imm = new as u32 as i32;
            insns[index + 1].imm = (new >> 32) as u32 as i32;
        }
        _ => {
            return Err(bad(format!(
                "instruction {index} (opcode {:#04x}) is not one a CO-RE relocation can patch",
                insn.code
            )))
        }
    }
    Ok(Patched::Value)
}
