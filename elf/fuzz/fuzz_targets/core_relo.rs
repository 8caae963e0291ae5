//! CO-RE: arbitrary local and target BTF and `.BTF.ext` core_relo records through the
//! whole engine: candidates, resolution, patching. Input: a little-endian u32 length and
//! the local `.BTF`, a u32 length and the target `.BTF` (empty: the local one again, so
//! that candidates exist), then a `.BTF.ext` whose records are read against the local
//! BTF. `seed.sh` builds seeds from every object's own sections.
#![no_main]

use elf::btf::core::{find_candidates, patch_insn, resolve, Candidate};
use elf::btf::{Btf, BtfExt};
use elf::insn::Insn;
use libfuzzer_sys::fuzz_target;

/// The u32-length-prefixed piece at the start of `data` and what follows it.
fn split(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(data.get(..4)?.try_into().ok()?) as usize;
    let rest = data.get(4..)?;
    Some((rest.get(..len)?, rest.get(len..)?))
}

/// One instruction of each class a relocation can patch, and some it cannot.
fn insns() -> Vec<Insn> {
    let insn = |code, regs, off, imm| Insn { code, regs, off, imm };
    vec![
        insn(0xb7, 0x01, 0, 0),  // r1 = 0
        insn(0x07, 0x01, 0, 4),  // r1 += 4
        insn(0x61, 0x21, 8, 0),  // r1 = *(u32 *)(r2 + 8)
        insn(0x79, 0x21, 0, 0),  // r1 = *(u64 *)(r2 + 0)
        insn(0x63, 0x1a, -8, 0), // *(u32 *)(r10 - 8) = r1
        insn(0x18, 0x01, 0, 1),  // r1 = 1 ll
        insn(0x00, 0x00, 0, 0),
        insn(0xbf, 0x21, 0, 0), // r1 = r2
        insn(0x95, 0x00, 0, 0), // exit
    ]
}

fuzz_target!(|data: &[u8]| {
    let Some((local, rest)) = split(data) else {
        return;
    };
    let Some((target, ext)) = split(rest) else {
        return;
    };
    let Ok(local) = Btf::parse(local) else {
        return;
    };
    let target = if target.is_empty() {
        local.clone()
    } else {
        match Btf::parse(target) {
            Ok(target) => target,
            Err(_) => return,
        }
    };
    let Ok(ext) = BtfExt::parse(ext, &local) else {
        return;
    };
    let mut code = insns();
    for record in ext.core_relos.iter().flat_map(|section| &section.records) {
        let access = local.string(record.access_str_off).unwrap_or("");
        let ids = find_candidates(&local, record.type_id, &target, 1).unwrap_or_default();
        let candidates: Vec<Candidate<'_>> = ids
            .into_iter()
            .map(|type_id| Candidate {
                btf: &target,
                type_id,
                origin: "target",
            })
            .collect();
        if let Ok(resolution) = resolve(&local, record.type_id, access, record.kind, &candidates) {
            let index = (record.insn_off / 8) as usize % (code.len() + 1);
            let _ = patch_insn(&mut code, index, &resolution);
        }
    }
});
