//! Kernel features, probed once by loading tiny BTF blobs, the way libbpf does.

use std::sync::OnceLock;

use crate::btf::btf_load;

/// Which BTF kinds and flavours the running kernel accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelBtfFeatures {
    pub btf: bool,
    pub func: bool,
    pub func_global: bool,
    pub datasec: bool,
    pub float: bool,
    pub decl_tag: bool,
    pub type_tag: bool,
    pub enum64: bool,
    pub qmark_datasec: bool,
}

// BTF kinds (include/uapi/linux/btf.h).
const BTF_KIND_INT: u32 = 1;
const BTF_KIND_PTR: u32 = 2;
const BTF_KIND_FUNC: u32 = 12;
const BTF_KIND_FUNC_PROTO: u32 = 13;
const BTF_KIND_VAR: u32 = 14;
const BTF_KIND_DATASEC: u32 = 15;
const BTF_KIND_FLOAT: u32 = 16;
const BTF_KIND_DECL_TAG: u32 = 17;
const BTF_KIND_TYPE_TAG: u32 = 18;
const BTF_KIND_ENUM64: u32 = 19;
const BTF_INT_SIGNED: u32 = 1 << 24;
const BTF_VAR_GLOBAL_ALLOCATED: u32 = 1;
const BTF_FUNC_GLOBAL: u32 = 1;
const BTF_MAGIC: u16 = 0xeb9f;
const BTF_HEADER_LEN: u32 = 24;

const fn info(kind: u32, vlen: u32) -> u32 {
    kind << 24 | vlen
}

/// A BTF blob from raw type words and a string table.
fn blob(types: &[u32], strings: &[u8]) -> Vec<u8> {
    let type_len = (types.len() * 4) as u32;
    let mut out = Vec::with_capacity(24 + types.len() * 4 + strings.len());
    out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
    out.push(1); // version
    out.push(0); // flags
    for word in [BTF_HEADER_LEN, 0, type_len, type_len, strings.len() as u32] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for word in types {
        out.extend_from_slice(&word.to_le_bytes());
    }
    out.extend_from_slice(strings);
    out
}

/// String offsets in the probes' shared string table.
const STRINGS: &[u8] = b"\0int\0x\0.data\0tag\0a\0?.data\0";
const S_INT: u32 = 1;
const S_X: u32 = 5;
const S_DATA: u32 = 7;
const S_TAG: u32 = 13;
const S_A: u32 = 17;
const S_QDATA: u32 = 19;

/// `[1] int` (4 bytes, signed, 32 bits): the start of most probes.
const INT: [u32; 4] = [S_INT, info(BTF_KIND_INT, 0), 4, BTF_INT_SIGNED | 32];

fn accepts(types: &[u32]) -> bool {
    btf_load(&blob(types, STRINGS)).is_ok()
}

fn with_int(rest: &[u32]) -> Vec<u32> {
    INT.iter().chain(rest).copied().collect()
}

#[rustfmt::skip]
fn probe() -> KernelBtfFeatures {
    let func_probe = |linkage: u32| {
        with_int(&[
            0, info(BTF_KIND_FUNC_PROTO, 1), 1, S_A, 1, // [2] int (*)(int a)
            S_X, info(BTF_KIND_FUNC, linkage), 2,     // [3] x
        ])
    };
    let datasec_probe = |name: u32| {
        with_int(&[
            S_X, info(BTF_KIND_VAR, 0), 1, BTF_VAR_GLOBAL_ALLOCATED, // [2] int x
            name, info(BTF_KIND_DATASEC, 1), 4, 2, 0, 4,           // [3] .data { x }
        ])
    };
    KernelBtfFeatures {
        btf: accepts(&INT),
        func: accepts(&func_probe(0)),
        func_global: accepts(&func_probe(BTF_FUNC_GLOBAL)),
        datasec: accepts(&datasec_probe(S_DATA)),
        qmark_datasec: accepts(&datasec_probe(S_QDATA)),
        float: accepts(&[S_INT, info(BTF_KIND_FLOAT, 0), 4]),
        decl_tag: accepts(&with_int(&[
            S_X, info(BTF_KIND_VAR, 0), 1, BTF_VAR_GLOBAL_ALLOCATED, // [2] int x
            S_TAG, info(BTF_KIND_DECL_TAG, 0), 2, u32::MAX,          // [3] tag on x
        ])),
        type_tag: accepts(&with_int(&[
            S_TAG, info(BTF_KIND_TYPE_TAG, 0), 1, // [2] tag int
            0, info(BTF_KIND_PTR, 0), 2,          // [3] tag int *
        ])),
        enum64: accepts(&[S_X, info(BTF_KIND_ENUM64, 1), 8, S_A, 1, 0]),
    }
}

/// The running kernel's BTF features, probed on first use.
pub fn kernel_btf_features() -> KernelBtfFeatures {
    static FEATURES: OnceLock<KernelBtfFeatures> = OnceLock::new();
    *FEATURES.get_or_init(probe)
}

/// `BPF_FUNC_get_attach_cookie` (include/uapi/linux/bpf.h, `enum bpf_func_id`).
pub const BPF_FUNC_GET_ATTACH_COOKIE: i32 = 174;

// The instructions of a probe program: `call helper; r0 = 0; exit`.
const BPF_JMP_CALL: u8 = 0x85;
const BPF_ALU64_MOV_K: u8 = 0xb7;
const BPF_JMP_EXIT: u8 = 0x95;

fn insn(code: u8, imm: i32) -> [u8; 8] {
    let mut bytes = [0u8; 8];
    bytes[0] = code;
    bytes[4..].copy_from_slice(&imm.to_le_bytes());
    bytes
}

/// Whether a program of `prog_type` may call helper `helper` on this kernel: the verifier
/// accepts `call helper; r0 = 0; exit` (libbpf probes `LINUX_HAS_BPF_COOKIE` so).
pub fn prog_can_call_helper(prog_type: u32, helper: i32) -> bool {
    let insns = [
        insn(BPF_JMP_CALL, helper),
        insn(BPF_ALU64_MOV_K, 0),
        insn(BPF_JMP_EXIT, 0),
    ];
    crate::prog::prog_load(&crate::prog::ProgLoad {
        name: "probe_helper",
        prog_type,
        expected_attach_type: 0,
        prog_flags: 0,
        insns: &insns,
        license: "GPL",
        kern_version: 0,
        btf: None,
        attach_btf_id: 0,
        attach_fd: None,
        fd_array: &[],
    })
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_blobs_are_well_formed() {
        let bytes = blob(&INT, STRINGS);
        assert_eq!(&bytes[..2], &BTF_MAGIC.to_le_bytes());
        assert_eq!(bytes.len(), 24 + 16 + STRINGS.len());
        assert_eq!(&STRINGS[S_INT as usize..S_INT as usize + 4], b"int\0");
        assert_eq!(
            &STRINGS[S_QDATA as usize..S_QDATA as usize + 7],
            b"?.data\0"
        );
        assert_eq!(&STRINGS[S_A as usize..S_A as usize + 2], b"a\0");
    }
}
