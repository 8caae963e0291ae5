//! The value of every relocation kind, against target BTF built in the test.

use super::tests::{sample, B};
use super::*;

fn cands(btf: &Btf, ids: &[u32]) -> Vec<Candidate<'static>> {
    // Tests leak the target BTF: candidates borrow it for the test's whole life.
    let btf: &'static Btf = Box::leak(Box::new(btf.clone()));
    ids.iter()
        .map(|&type_id| Candidate {
            btf,
            type_id,
            origin: "vmlinux",
        })
        .collect()
}

fn kind(kind: CoreKind) -> u32 {
    kind as u32
}

/// The kernel's `struct sample`: `a` moved behind a new field, `c` is no longer in an
/// anonymous struct, `u.d` is gone.
fn kernel() -> (B, u32) {
    let mut t = B::new();
    let int = t.int("int", 4, true);
    let long = t.int("long", 8, true);
    let arr = t.array(int, int, 8);
    let id = t.strukt(
        "sample",
        64,
        &[
            ("pad", long, 0),
            ("a", int, 64),
            ("b", int, 96),
            ("c", arr, 128),
        ],
    );
    (t, id)
}

#[test]
fn field_offsets_sizes_and_existence_follow_the_kernel() {
    let (l, lid) = sample();
    let (t, tid) = kernel();
    let c = cands(&t.btf, &[tid]);
    let offset = resolve(&l.btf, lid, "0:0", kind(CoreKind::FieldByteOffset), &c).expect("a");
    assert_eq!((offset.orig_value, offset.new_value), (0, 8));
    assert_eq!(offset.local_description, "struct sample.a");
    assert_eq!(
        offset.target.as_ref().map(|t| t.description.as_str()),
        Some("struct sample.a")
    );
    let elem = resolve(&l.btf, lid, "0:1:1:2", kind(CoreKind::FieldByteOffset), &c).expect("c[2]");
    assert_eq!((elem.orig_value, elem.new_value), (4 + 4 + 8, 16 + 8));
    assert_eq!((elem.orig_size, elem.new_size), (4, 4));
    let size = resolve(&l.btf, lid, "0:1:1", kind(CoreKind::FieldByteSize), &c).expect("size");
    assert_eq!((size.orig_value, size.new_value), (16, 32));
    let exists = resolve(&l.btf, lid, "0:2:0", kind(CoreKind::FieldExists), &c).expect("u.d");
    assert_eq!(
        (exists.orig_value, exists.new_value, exists.poison),
        (1, 0, false)
    );
    let signed = resolve(&l.btf, lid, "0:0", kind(CoreKind::FieldSigned), &c).expect("signed");
    assert_eq!(signed.new_value, 1);
}

#[test]
fn a_missing_field_is_poisoned_with_a_reason() {
    let (l, lid) = sample();
    let (t, tid) = kernel();
    let c = cands(&t.btf, &[tid]);
    let missing = resolve(&l.btf, lid, "0:2:0", kind(CoreKind::FieldByteOffset), &c).expect("u.d");
    assert!(missing.poison);
    assert_eq!(
        missing.poison_reason.as_deref(),
        Some("vmlinux's struct sample has no field u.d of a compatible type")
    );
    let none = resolve(&l.btf, lid, "0:0", kind(CoreKind::FieldByteOffset), &[]).expect("none");
    assert!(none.poison);
    assert_eq!(
        none.poison_reason.as_deref(),
        Some("the kernel's BTF has no struct sample")
    );
}

#[test]
fn bitfields_get_shifts_and_the_smallest_load() {
    let mut l = B::new();
    let u32_ = l.int("u32", 4, false);
    let i32_ = l.int("s32", 4, true);
    let lid = l.bitstruct(
        "flags",
        8,
        &[("a", u32_, 0, 3), ("b", i32_, 3, 5), ("c", u32_, 30, 4)],
    );
    let mut t = B::new();
    let tu32 = t.int("u32", 4, false);
    let ts32 = t.int("s32", 4, true);
    // In the kernel b sits at bit 11 and c straddles the first 32 bits.
    let tid = t.bitstruct("flags", 8, &[("b", ts32, 11, 5), ("c", tu32, 30, 4)]);
    let c = cands(&t.btf, &[tid]);
    let get = |access: &str, k: CoreKind| {
        resolve(&l.btf, lid, access, kind(k), &c)
            .expect(access)
            .new_value
    };
    assert_eq!(get("0:1", CoreKind::FieldLshiftU64), 64 - 16);
    assert_eq!(get("0:1", CoreKind::FieldRshiftU64), 64 - 5);
    assert_eq!(get("0:1", CoreKind::FieldByteOffset), 0);
    assert_eq!(get("0:1", CoreKind::FieldByteSize), 4);
    assert_eq!(get("0:1", CoreKind::FieldSigned), 1);
    // c needs an 8-byte load: bits 30..34.
    assert_eq!(get("0:2", CoreKind::FieldByteSize), 8);
    assert_eq!(get("0:2", CoreKind::FieldLshiftU64), 64 - 34);
    assert_eq!(get("0:2", CoreKind::FieldSigned), 0);
    let local = resolve(&l.btf, lid, "0:1", kind(CoreKind::FieldLshiftU64), &c).expect("b");
    assert_eq!(local.orig_value, 64 - 8);
    assert!(
        !local.validate,
        "bitfield offsets and shifts are not checked"
    );
}

#[test]
fn flavours_match_and_ambiguity_is_refused() {
    let mut l = B::new();
    let int = l.int("int", 4, true);
    let lid = l.strukt("sample___old", 8, &[("a", int, 32)]);
    let mut t = B::new();
    let tint = t.int("int", 4, true);
    let one = t.strukt("sample", 8, &[("a", tint, 0)]);
    let same = t.strukt("sample___x", 8, &[("a", tint, 0)]);
    let other = t.strukt("sample___y", 8, &[("a", tint, 32)]);
    let agree = cands(&t.btf, &[one, same]);
    let r = resolve(&l.btf, lid, "0:0", kind(CoreKind::FieldByteOffset), &agree).expect("agree");
    assert_eq!((r.orig_value, r.new_value), (4, 0));
    let disagree = cands(&t.btf, &[one, other]);
    assert!(matches!(
        resolve(
            &l.btf,
            lid,
            "0:0",
            kind(CoreKind::FieldByteOffset),
            &disagree
        ),
        Err(CoreFailure::Ambiguous { .. })
    ));
    // A candidate without the field does not count against the others.
    let without = t.strukt("sample___z", 8, &[("zz", tint, 0)]);
    let mixed = cands(&t.btf, &[without, one]);
    let r = resolve(&l.btf, lid, "0:0", kind(CoreKind::FieldByteOffset), &mixed).expect("mixed");
    assert_eq!(r.new_value, 0);
}

#[test]
fn type_relocations() {
    let mut l = B::new();
    let int = l.int("int", 4, true);
    let lid = l.strukt("thing", 4, &[("x", int, 0)]);
    let mut t = B::new();
    let tint = t.int("int", 4, true);
    let tlong = t.int("long", 8, true);
    let _pad = t.strukt("pad", 0, &[]);
    let tid = t.strukt("thing", 16, &[("y", tlong, 0), ("x", tint, 64)]);
    let c = cands(&t.btf, &[tid]);
    let get =
        |k: CoreKind, c: &[Candidate<'_>]| resolve(&l.btf, lid, "0", kind(k), c).expect("type");
    assert_eq!(get(CoreKind::TypeExists, &c).new_value, 1);
    assert_eq!(get(CoreKind::TypeExists, &[]).new_value, 0);
    assert_eq!(get(CoreKind::TypeSize, &c).new_value, 16);
    assert_eq!(get(CoreKind::TypeSize, &c).orig_value, 4);
    assert_eq!(get(CoreKind::TypeIdTarget, &c).new_value, u64::from(tid));
    assert_eq!(get(CoreKind::TypeIdTarget, &[]).new_value, 0);
    let local = get(CoreKind::TypeIdLocal, &[]);
    assert_eq!(
        (local.orig_value, local.new_value, local.validate),
        (u64::from(lid), u64::from(lid), false)
    );
    assert_eq!(get(CoreKind::TypeMatches, &c).new_value, 1);
    // TYPE_MATCHES is stricter: `x` must be there with the same signedness.
    let mut t2 = B::new();
    let tu = t2.int("int", 4, false);
    let tid2 = t2.strukt("thing", 4, &[("x", tu, 0)]);
    let c2 = cands(&t2.btf, &[tid2]);
    assert_eq!(get(CoreKind::TypeMatches, &c2).new_value, 0);
    assert_eq!(get(CoreKind::TypeExists, &c2).new_value, 1);
}

#[test]
fn enum_values_by_name_enum_and_enum64() {
    let mut l = B::new();
    let lid = l.enumeration("mode___local", 4, &[("M_A", 0), ("M_B", 1), ("M_GONE", 2)]);
    let mut t = B::new();
    let tid = t.enumeration("mode", 4, &[("M_B", -5), ("M_A", 9)]);
    let t64 = t.enum64("mode___wide", &[("M_B", -5i64 as u64)]);
    let c = cands(&t.btf, &[tid]);
    let get = |access: &str, k: CoreKind, c: &[Candidate<'_>]| {
        resolve(&l.btf, lid, access, kind(k), c).expect(access)
    };
    assert_eq!(get("0", CoreKind::EnumvalValue, &c).new_value, 9);
    // A negative 32-bit enumerator widens sign-extended, as libbpf's.
    assert_eq!(get("1", CoreKind::EnumvalValue, &c).new_value, -5i64 as u64);
    assert_eq!(get("1", CoreKind::EnumvalExists, &c).new_value, 1);
    assert_eq!(get("2", CoreKind::EnumvalExists, &c).new_value, 0);
    let gone = get("2", CoreKind::EnumvalValue, &c);
    assert!(gone.poison);
    assert_eq!(
        gone.poison_reason.as_deref(),
        Some("vmlinux's enum mode has no value M_GONE")
    );
    // enum and enum64 candidates agree on M_B.
    let both = cands(&t.btf, &[tid, t64]);
    assert_eq!(
        get("1", CoreKind::EnumvalValue, &both).new_value,
        -5i64 as u64
    );
    let mut big = B::new();
    let wide = big.enum64("mode", &[("M_A", 1 << 40)]);
    let c64 = cands(&big.btf, &[wide]);
    assert_eq!(get("0", CoreKind::EnumvalValue, &c64).new_value, 1 << 40);
}

#[test]
fn bad_records_are_errors() {
    let (l, lid) = sample();
    assert_eq!(
        resolve(&l.btf, lid, "0:0", 13, &[]),
        Err(CoreFailure::UnknownKind(13))
    );
    assert_eq!(
        resolve(&l.btf, 4242, "0", kind(CoreKind::TypeSize), &[]),
        Err(CoreFailure::BadTypeId(4242))
    );
    assert!(matches!(
        resolve(&l.btf, lid, "0:7", kind(CoreKind::FieldByteOffset), &[]),
        Err(CoreFailure::BadAccess(_))
    ));
    // Signedness of an array element is not a question CO-RE answers.
    assert!(matches!(
        resolve(&l.btf, lid, "0:1:1:0", kind(CoreKind::FieldSigned), &[]),
        Err(CoreFailure::NotApplicable(_))
    ));
    let mut anon = B::new();
    let int = anon.int("int", 4, true);
    let id = anon.strukt("", 4, &[("x", int, 0)]);
    assert_eq!(
        resolve(&anon.btf, id, "0:0", kind(CoreKind::FieldByteOffset), &[]),
        Err(CoreFailure::AnonymousType)
    );
}

#[test]
fn load_sizes_change_only_for_unsigned_ints_and_pointers() {
    let mut l = B::new();
    let u32_ = l.int("u32", 4, false);
    let lid = l.strukt("sized", 8, &[("n", u32_, 0)]);
    let target = |signed: bool| {
        let mut t = B::new();
        let wide = t.int("u64", 8, signed);
        let tid = t.strukt("sized", 16, &[("n", wide, 64)]);
        (t, tid)
    };
    let (unsigned, uid) = target(false);
    let c = cands(&unsigned.btf, &[uid]);
    let r = resolve(&l.btf, lid, "0:0", kind(CoreKind::FieldByteOffset), &c).expect("n");
    assert_eq!((r.new_value, r.orig_size, r.new_size), (8, 4, 8));
    assert!(
        !r.fail_memsz_adjust,
        "a wider unsigned field may be read wider"
    );
    let (signed, sid) = target(true);
    let c = cands(&signed.btf, &[sid]);
    let r = resolve(&l.btf, lid, "0:0", kind(CoreKind::FieldByteOffset), &c).expect("n");
    assert!(
        r.fail_memsz_adjust,
        "a signed field may not: the load is poisoned"
    );
}
