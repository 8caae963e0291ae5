//! Patching instructions: each class, the checks before patching, and poison.

use super::tests::sample;
use super::*;
use crate::insn::Insn;

fn insn(code: u8, regs: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs,
        off,
        imm,
    }
}

fn resolution(orig: u64, new: u64) -> Resolution {
    let (l, lid) = sample();
    let mut r = resolve(&l.btf, lid, "0", CoreKind::TypeSize as u32, &[]).expect("type size");
    r.orig_value = orig;
    r.new_value = new;
    r
}

#[test]
fn alu_immediates_are_checked_then_patched() {
    let mut insns = vec![insn(0xb7, 0x01, 0, 4)]; // r1 = 4
    assert_eq!(
        patch_insn(&mut insns, 0, &resolution(4, 16)),
        Ok(Patched::Value)
    );
    assert_eq!(insns[0], insn(0xb7, 0x01, 0, 16));
    let error = patch_insn(&mut insns, 0, &resolution(4, 16)).expect_err("holds 16 now");
    assert!(
        error.to_string().contains("not the compiler's value 4"),
        "{error}"
    );
    let mut by_register = vec![insn(0xbf, 0x21, 0, 0)]; // r1 = r2
    assert!(patch_insn(&mut by_register, 0, &resolution(0, 1)).is_err());
    assert!(patch_insn(&mut insns, 3, &resolution(4, 16)).is_err());
}

#[test]
fn loads_get_the_offset_and_the_new_size() {
    let mut r = resolution(8, 24);
    r.orig_size = 4;
    r.new_size = 8;
    let mut insns = vec![insn(0x61, 0x21, 8, 0)]; // r1 = *(u32 *)(r2 + 8)
    assert_eq!(patch_insn(&mut insns, 0, &r), Ok(Patched::Value));
    assert_eq!(insns[0], insn(0x79, 0x21, 24, 0)); // r1 = *(u64 *)(r2 + 24)
                                                   // A 2-byte load of a 4-byte field is not the load the record describes.
    let mut half = vec![insn(0x69, 0x21, 8, 0)];
    assert!(patch_insn(&mut half, 0, &r).is_err());
    // Offsets past what a load holds.
    let mut far = vec![insn(0x61, 0x21, 8, 0)];
    assert!(patch_insn(&mut far, 0, &resolution(8, 40000)).is_err());
    // A size change the types do not allow poisons the load.
    r.fail_memsz_adjust = true;
    let mut signed = vec![insn(0x61, 0x21, 8, 0)];
    assert_eq!(patch_insn(&mut signed, 0, &r), Ok(Patched::Poisoned));
    assert_eq!(signed[0], insn(0x85, 0, 0, BPF_CORE_POISON));
    // Stores too.
    let mut store = vec![insn(0x63, 0x1a, 8, 0)]; // *(u32 *)(r10 + 8) = r1
    assert_eq!(
        patch_insn(&mut store, 0, &resolution(8, 12)),
        Ok(Patched::Value)
    );
    assert_eq!(store[0].off, 12);
}

#[test]
fn ld_imm64_takes_both_halves() {
    let mut insns = vec![insn(0x18, 0x01, 0, 5), insn(0, 0, 0, 0)];
    let big = (7u64 << 32) | 9;
    assert_eq!(
        patch_insn(&mut insns, 0, &resolution(5, big)),
        Ok(Patched::Value)
    );
    assert_eq!((insns[0].imm, insns[1].imm), (9, 7));
    let mut lone = vec![insn(0x18, 0x01, 0, 5)];
    assert!(patch_insn(&mut lone, 0, &resolution(5, 1)).is_err());
    let mut map_ref = vec![insn(0x18, 0x11, 0, 5), insn(0, 0, 0, 0)];
    assert!(patch_insn(&mut map_ref, 0, &resolution(5, 1)).is_err());
}

#[test]
fn poison_is_call_0xbad2310_on_both_halves_of_ld_imm64() {
    let mut r = resolution(1, 0);
    r.poison = true;
    let mut insns = vec![
        insn(0x18, 0x01, 0, 5),
        insn(0, 0, 0, 0),
        insn(0x61, 0x21, 8, 0),
        insn(0x95, 0, 0, 0),
    ];
    assert_eq!(patch_insn(&mut insns, 0, &r), Ok(Patched::Poisoned));
    assert_eq!(patch_insn(&mut insns, 2, &r), Ok(Patched::Poisoned));
    let poison = insn(0x85, 0, 0, 195_896_080);
    assert_eq!(&insns[..3], &[poison, poison, poison]);
    assert_eq!(insns[3], insn(0x95, 0, 0, 0));
}

#[test]
fn other_instructions_are_refused() {
    let mut insns = vec![insn(0x95, 0, 0, 0), insn(0x05, 0, 1, 0)];
    assert!(patch_insn(&mut insns, 0, &resolution(0, 1)).is_err());
    assert!(patch_insn(&mut insns, 1, &resolution(0, 1)).is_err());
}
