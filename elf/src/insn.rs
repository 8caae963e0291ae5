//! eBPF instructions as plain data (`struct bpf_insn`).

/// `sizeof(struct bpf_insn)`.
pub const INSN_SIZE: usize = 8;

// Opcode pieces from include/uapi/linux/bpf_common.h and bpf.h.
pub(crate) const BPF_LD: u8 = 0x00;
pub(crate) const BPF_LDX: u8 = 0x01;
pub(crate) const BPF_ST: u8 = 0x02;
pub(crate) const BPF_STX: u8 = 0x03;
pub(crate) const BPF_ALU: u8 = 0x04;
const BPF_JMP: u8 = 0x05;
pub(crate) const BPF_ALU64: u8 = 0x07;
/// `BPF_X`: the source operand is a register, not the immediate.
pub(crate) const BPF_X: u8 = 0x08;
/// The access size bits of a load or store (`BPF_SIZE`).
pub(crate) const SIZE_MASK: u8 = 0x18;
const BPF_IMM: u8 = 0x00;
const BPF_DW: u8 = 0x18;
const BPF_CALL: u8 = 0x80;
const BPF_K: u8 = 0x00;

/// `BPF_LD | BPF_IMM | BPF_DW`: the first half of a 16-byte 64-bit immediate load.
pub const LD_IMM64: u8 = BPF_LD | BPF_IMM | BPF_DW;
/// `BPF_JMP | BPF_CALL`: a helper call, or a bpf-to-bpf call when `src_reg` is `BPF_PSEUDO_CALL`.
pub const CALL: u8 = BPF_JMP | BPF_CALL | BPF_K;
/// `BPF_FUNC_tail_call` from include/uapi/linux/bpf.h.
pub const BPF_FUNC_TAIL_CALL: i32 = 12;
/// `BPF_FUNC_trace_printk` from include/uapi/linux/bpf.h: what `bpf_printk` calls.
pub const BPF_FUNC_TRACE_PRINTK: i32 = 6;
/// `BPF_FUNC_trace_vprintk`: `bpf_printk` with more than three arguments.
pub const BPF_FUNC_TRACE_VPRINTK: i32 = 177;

/// One 8-byte instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// `dst_reg` in the low nibble, `src_reg` in the high nibble (little-endian layout).
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub fn from_bytes(bytes: [u8; INSN_SIZE]) -> Insn {
        Insn {
            code: bytes[0],
            regs: bytes[1],
            off: i16::from_le_bytes([bytes[2], bytes[3]]),
            imm: i32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        }
    }

    pub fn to_bytes(self) -> [u8; INSN_SIZE] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.code, self.regs, off[0], off[1], imm[0], imm[1], imm[2], imm[3],
        ]
    }

    /// The instruction class (`BPF_CLASS`): the low three bits of the opcode.
    pub fn class(self) -> u8 {
        self.code & 0x07
    }

    pub fn dst_reg(self) -> u8 {
        self.regs & 0x0f
    }

    pub fn src_reg(self) -> u8 {
        self.regs >> 4
    }

    pub fn set_src_reg(&mut self, src: u8) {
        self.regs = (self.regs & 0x0f) | (src << 4);
    }

    /// The first half of an `ld_imm64` pair; the next instruction holds the upper 32 bits.
    pub fn is_ld_imm64(self) -> bool {
        self.code == LD_IMM64
    }

    pub fn is_helper_call(self, helper: i32) -> bool {
        self.code == CALL && self.src_reg() == 0 && self.imm == helper
    }
}

/// Splits section bytes into instructions. The caller checks that the length is a multiple of 8.
pub(crate) fn decode(bytes: &[u8]) -> Vec<Insn> {
    bytes
        .chunks_exact(INSN_SIZE)
        .map(|chunk| {
            let mut raw = [0u8; INSN_SIZE];
            raw.copy_from_slice(chunk);
            Insn::from_bytes(raw)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_splits_registers() {
        // r1 = map[fd 0] ll: 18 11 00 00 00 00 00 00
        let raw = [0x18, 0x21, 0xfe, 0xff, 0x78, 0x56, 0x34, 0x12];
        let insn = Insn::from_bytes(raw);
        assert!(insn.is_ld_imm64());
        assert_eq!(insn.dst_reg(), 1);
        assert_eq!(insn.src_reg(), 2);
        assert_eq!(insn.off, -2);
        assert_eq!(insn.imm, 0x1234_5678);
        assert_eq!(insn.to_bytes(), raw);
    }

    #[test]
    fn set_src_reg_keeps_dst() {
        let mut insn = Insn::from_bytes([0x18, 0x01, 0, 0, 0, 0, 0, 0]);
        insn.set_src_reg(1);
        assert_eq!(insn.regs, 0x11);
        assert_eq!(insn.dst_reg(), 1);
    }

    #[test]
    fn recognises_tail_call() {
        let call = Insn::from_bytes([0x85, 0, 0, 0, 12, 0, 0, 0]);
        assert!(call.is_helper_call(BPF_FUNC_TAIL_CALL));
        assert!(!call.is_ld_imm64());
    }
}
