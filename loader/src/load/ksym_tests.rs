use super::*;
use crate::load::kernel_btf::tests::{blob, synthetic_kernel_btf};

// `info` words: the kind in bits 24-28, vlen in the low bits.
const INT: u32 = 1 << 24;
const FUNC_PROTO_1: u32 = (13 << 24) | 1;
const FUNC_PROTO_0: u32 = 13 << 24;
const VAR: u32 = 14 << 24;

/// The object's side: [1] int, [2] int (void), [3] int (int).
fn local_btf() -> Btf {
    #[rustfmt::skip]
    let types = [
        1, INT, 4, 32,
        0, FUNC_PROTO_0, 1,
        0, FUNC_PROTO_1, 1, 0, 1,
    ];
    Btf::parse(&blob(&types, b"\0int\0")).expect("local BTF")
}

fn kfunc(name: &str, proto_id: u32, weak: bool) -> KsymExtern {
    KsymExtern {
        name: name.into(),
        kind: KsymKind::Func { proto_id },
        weak,
    }
}

#[test]
fn kfuncs_are_found_by_name_and_prototype_in_vmlinux_then_modules() {
    let dir = synthetic_kernel_btf("ksym-funcs");
    let kernel = KernelBtf::at(&dir);
    let local = local_btf();
    let resolve = |ext: &KsymExtern| resolve_in_btf(&local, ext, &kernel);
    let ok = |ext: &KsymExtern| resolve(ext).expect("resolved");
    let in_vmlinux = KsymValue::Btf {
        type_id: 3,
        module: None,
    };
    assert_eq!(ok(&kfunc("do_thing", 2, false)), in_vmlinux.clone());
    // A flavour is not part of the kernel's name.
    assert_eq!(ok(&kfunc("do_thing___v2", 2, false)), in_vmlinux);
    assert_eq!(
        ok(&kfunc("mod_thing", 2, false)),
        KsymValue::Btf {
            type_id: 6,
            module: Some("thing_mod".into())
        }
    );
    // Missing: 0 when __weak, refused (exit 3) otherwise.
    assert_eq!(ok(&kfunc("no_thing", 2, true)), KsymValue::Missing);
    let error = resolve(&kfunc("no_thing", 2, false)).expect_err("refused");
    assert!(
        matches!(error, LoadError::KsymUnresolved { .. }),
        "{error:?}"
    );
    assert_eq!(error.exit_kind(), crate::error::ExitKind::KernelRefused);
    assert!(error.to_string().contains("kfunc no_thing"), "{error}");
    assert!(error.to_string().contains("__weak"), "{error}");
    // Another prototype (one parameter where the kernel's has none).
    let error = resolve(&kfunc("do_thing", 3, false)).expect_err("refused");
    assert!(error.to_string().contains("does not match"), "{error}");
    assert!(error.to_string().contains("vmlinux BTF id 3"), "{error}");
    assert_eq!(ok(&kfunc("do_thing", 3, true)), KsymValue::Missing);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn typed_variables_are_found_and_their_type_checked() {
    let dir = std::env::temp_dir().join(format!("kernel-btf-ksym-vars-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // vmlinux: [1] int, [2] VAR thing_count (int), [3] int (void) proto.
    #[rustfmt::skip]
    let types = [
        1, INT, 4, 32,
        5, VAR, 1, 1,
        0, FUNC_PROTO_0, 1,
    ];
    std::fs::write(dir.join("vmlinux"), blob(&types, b"\0int\0thing_count\0")).expect("write");
    let kernel = KernelBtf::at(&dir);
    let local = local_btf();
    let var = |type_id, weak| KsymExtern {
        name: "thing_count".into(),
        kind: KsymKind::Typed { type_id },
        weak,
    };
    assert_eq!(
        resolve_in_btf(&local, &var(1, false), &kernel).expect("resolved"),
        KsymValue::Btf {
            type_id: 2,
            module: None
        }
    );
    // Declared with a function prototype where the kernel has an int: refused, even
    // __weak (libbpf forgives only kfuncs).
    assert!(resolve_in_btf(&local, &var(2, true), &kernel).is_err());
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn kallsyms_lines_give_addresses_and_two_addresses_are_ambiguous() {
    let text = "ffffffff81000000 T _stext\n\
                ffffffff814e6d30 T bpf_prog_put\n\
                ffffffffc0001000 t helper\t[veth]\n\
                ffffffffc0002000 t helper\t[bridge]\n\
                ffffffffc0003000 t once\t[veth]\n\
                ffffffffc0003000 t once\t[veth]\n\
                bad line\n";
    let found = kallsyms_addresses(text, &["bpf_prog_put", "once", "absent"]).expect("found");
    assert_eq!(found.get("bpf_prog_put"), Some(&0xffff_ffff_814e_6d30));
    // Listed twice at one address: no ambiguity.
    assert_eq!(found.get("once"), Some(&0xffff_ffff_c000_3000));
    assert_eq!(found.get("absent"), None);
    assert_eq!(
        kallsyms_addresses(text, &["helper"]),
        Err(("helper", 0xffff_ffff_c000_1000, 0xffff_ffff_c000_2000))
    );
}

fn ld_imm64() -> Vec<Insn> {
    vec![
        Insn::from_bytes([0x18, 0x01, 0, 0, 0, 0, 0, 0]),
        Insn::from_bytes([0, 0, 0, 0, 0, 0, 0, 0]),
    ]
}

#[test]
fn loads_and_calls_are_patched_as_libbpf_patches_them() {
    let table = KsymTable::default();
    let typed = KsymExtern {
        name: "runqueues".into(),
        kind: KsymKind::Typed { type_id: 1 },
        weak: false,
    };
    let in_vmlinux = KsymValue::Btf {
        type_id: 10671,
        module: None,
    };
    // A typed variable: BPF_PSEUDO_BTF_ID, its id, no module.
    let mut insns = ld_imm64();
    assert!(patch_ksym_load(&mut insns, 0, &typed, &in_vmlinux, &table));
    assert_eq!(
        (insns[0].src_reg(), insns[0].imm, insns[1].imm),
        (BPF_PSEUDO_BTF_ID, 10671, 0)
    );
    // A typeless one: its address in the two halves, src_reg 0.
    let typeless = KsymExtern {
        kind: KsymKind::Typeless,
        ..typed.clone()
    };
    let mut insns = ld_imm64();
    let address = KsymValue::Address(0xffff_ffff_814e_6d30);
    assert!(patch_ksym_load(&mut insns, 0, &typeless, &address, &table));
    assert_eq!(
        (insns[0].src_reg(), insns[0].imm as u32, insns[1].imm as u32),
        (0, 0x814e_6d30, 0xffff_ffff)
    );
    // A __weak one the kernel lacks: address 0.
    let mut insns = ld_imm64();
    assert!(patch_ksym_load(
        &mut insns,
        0,
        &typed,
        &KsymValue::Missing,
        &table
    ));
    assert_eq!((insns[0].src_reg(), insns[0].imm, insns[1].imm), (0, 0, 0));
    // Not an ld_imm64, or a lone half: refused.
    let mut exit = vec![Insn::from_bytes([0x95, 0, 0, 0, 0, 0, 0, 0])];
    assert!(!patch_ksym_load(&mut exit, 0, &typed, &in_vmlinux, &table));
    assert!(!patch_ksym_load(
        &mut ld_imm64()[..1].to_vec(),
        0,
        &typed,
        &in_vmlinux,
        &table
    ));

    // A kfunc call: BPF_PSEUDO_KFUNC_CALL with the FUNC's id; a missing __weak one 0.
    let mut call = vec![Insn::from_bytes([0x85, 0x10, 0, 0, 0xff, 0xff, 0xff, 0xff])];
    assert!(patch_kfunc_call(&mut call, 0, &in_vmlinux, &table));
    assert_eq!(
        (call[0].src_reg(), call[0].imm, call[0].off),
        (BPF_PSEUDO_KFUNC_CALL, 10671, 0)
    );
    assert!(patch_kfunc_call(&mut call, 0, &KsymValue::Missing, &table));
    assert_eq!((call[0].imm, call[0].off), (0, 0));
    assert!(!patch_kfunc_call(&mut exit, 0, &in_vmlinux, &table));
}
