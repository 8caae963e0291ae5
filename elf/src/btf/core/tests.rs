//! The engine on BTF built in the test: access strings, candidates, matching. The
//! values and the patching are in `tests_calc.rs` and `tests_patch.rs`.

use super::matching::{types_are_compat, types_match};
use super::*;
use crate::btf::{BtfKind, BtfMember, BtfType};

/// Builds a [`Btf`] type by type through its public API.
pub(super) struct B {
    pub btf: Btf,
}

impl B {
    pub fn new() -> B {
        B {
            btf: crate::btf::tests::Builder::new()
                .parse()
                .expect("empty BTF"),
        }
    }

    pub fn push(&mut self, name: &str, kind_flag: bool, kind: BtfKind) -> u32 {
        let name_off = self.btf.add_string(name).expect("string");
        self.btf
            .push_type(BtfType {
                name_off,
                kind_flag,
                kind,
            })
            .expect("type")
    }

    pub fn int(&mut self, name: &str, size: u32, signed: bool) -> u32 {
        let encoding = (u32::from(signed) << 24) | (size * 8);
        self.push(name, false, BtfKind::Int { size, encoding })
    }

    fn members(&mut self, members: &[(&str, u32, u32)]) -> Vec<BtfMember> {
        members
            .iter()
            .map(|&(name, type_id, offset)| BtfMember {
                name_off: self.btf.add_string(name).expect("string"),
                type_id,
                offset,
            })
            .collect()
    }

    /// `(name, type, bit offset)` members; a name of "" is an anonymous member.
    pub fn strukt(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        let members = self.members(members);
        self.push(name, false, BtfKind::Struct { size, members })
    }

    /// `(name, type, bit offset, bits)`: bitfield encoding (kind_flag set).
    pub fn bitstruct(&mut self, name: &str, size: u32, members: &[(&str, u32, u32, u32)]) -> u32 {
        let plain: Vec<(&str, u32, u32)> = members
            .iter()
            .map(|&(n, t, off, bits)| (n, t, (bits << 24) | off))
            .collect();
        let members = self.members(&plain);
        self.push(name, true, BtfKind::Struct { size, members })
    }

    pub fn union(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        let members = self.members(members);
        self.push(name, false, BtfKind::Union { size, members })
    }

    pub fn ptr(&mut self, target: u32) -> u32 {
        self.push("", false, BtfKind::Ptr { target })
    }

    pub fn array(&mut self, elem: u32, index: u32, nelems: u32) -> u32 {
        self.push(
            "",
            false,
            BtfKind::Array {
                elem,
                index,
                nelems,
            },
        )
    }

    pub fn typedef(&mut self, name: &str, target: u32) -> u32 {
        self.push(name, false, BtfKind::Typedef { target })
    }

    pub fn enumeration(&mut self, name: &str, size: u32, values: &[(&str, i32)]) -> u32 {
        let values = values
            .iter()
            .map(|&(n, v)| (self.btf.add_string(n).expect("string"), v))
            .collect();
        self.push(name, true, BtfKind::Enum { size, values })
    }

    pub fn enum64(&mut self, name: &str, values: &[(&str, u64)]) -> u32 {
        let values = values
            .iter()
            .map(|&(n, v)| (self.btf.add_string(n).expect("string"), v))
            .collect();
        self.push(name, false, BtfKind::Enum64 { size: 8, values })
    }

    pub fn fwd(&mut self, name: &str, is_union: bool) -> u32 {
        self.push(name, is_union, BtfKind::Fwd { is_union })
    }
}

/// A local `struct sample { int a; struct { int b; int c[4]; }; union { long d; } u; }`.
pub(super) fn sample() -> (B, u32) {
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let long = b.int("long", 8, true);
    let arr = b.array(int, int, 4);
    let anon = b.strukt("", 20, &[("b", int, 0), ("c", arr, 32)]);
    let u = b.union("", 8, &[("d", long, 0)]);
    let id = b.strukt(
        "sample",
        32,
        &[("a", int, 0), ("", anon, 32), ("u", u, 192)],
    );
    (b, id)
}

#[test]
fn parses_named_members_anonymous_members_and_arrays() {
    let (b, id) = sample();
    let spec = parse_spec(&b.btf, id, "0:1:1:3", CoreKind::FieldByteOffset).expect("parses");
    assert_eq!(spec.raw, vec![0, 1, 1, 3]);
    // The anonymous struct is no accessor: root, c, [3].
    assert_eq!(spec.accessors.len(), 3);
    assert_eq!(spec.accessors[1].name.as_deref(), Some("c"));
    assert_eq!(spec.bit_offset, 32 + 32 + 3 * 32);
    assert_eq!(spec.describe(&b.btf), "struct sample.c[3]");
    let root_index = parse_spec(&b.btf, id, "1:0", CoreKind::FieldByteOffset).expect("parses");
    assert_eq!(root_index.bit_offset, 32 * 8);
    assert_eq!(root_index.describe(&b.btf), "struct sample[1].a");
}

#[test]
fn refuses_bad_access_strings_with_a_reason() {
    let (b, id) = sample();
    for access in [
        "",
        ":0",
        "0::1",
        "x",
        "0:9",
        "0:1:1:4",
        "0:0:0",
        "4294967295",
        "0:-1",
    ] {
        let error = parse_spec(&b.btf, id, access, CoreKind::FieldByteOffset).expect_err(access);
        assert!(
            matches!(error, CoreFailure::BadAccess(_)),
            "{access}: {error:?}"
        );
    }
    let deep = vec!["0"; MAX_LEN + 1].join(":");
    assert!(parse_spec(&b.btf, id, &deep, CoreKind::FieldByteOffset).is_err());
    // Type relocations take only "0".
    assert!(parse_spec(&b.btf, id, "0", CoreKind::TypeSize).is_ok());
    assert!(parse_spec(&b.btf, id, "0:1", CoreKind::TypeSize).is_err());
    assert_eq!(
        parse_spec(&b.btf, 999, "0", CoreKind::TypeSize),
        Err(CoreFailure::BadTypeId(999))
    );
    // A trailing ':' ends the string, as libbpf reads it.
    assert!(parse_spec(&b.btf, id, "0:", CoreKind::FieldByteOffset).is_ok());
}

const MAX_LEN: usize = spec::MAX_SPEC_LEN;

#[test]
fn flexible_array_members_take_any_index() {
    let mut b = B::new();
    let int = b.int("int", 4, true);
    let flex = b.array(int, int, 0);
    let id = b.strukt("flex", 4, &[("n", int, 0), ("data", flex, 32)]);
    let spec = parse_spec(&b.btf, id, "0:1:7", CoreKind::FieldByteOffset).expect("flexible");
    assert_eq!(spec.bit_offset, 32 + 7 * 32);
}

#[test]
fn enum_accesses_name_the_enumerator() {
    let mut b = B::new();
    let e = b.enumeration("xdp_action", 4, &[("XDP_ABORTED", 0), ("XDP_DROP", 1)]);
    let spec = parse_spec(&b.btf, e, "1", CoreKind::EnumvalValue).expect("parses");
    assert_eq!(spec.describe(&b.btf), "enum xdp_action::XDP_DROP");
    assert!(parse_spec(&b.btf, e, "2", CoreKind::EnumvalValue).is_err());
    assert!(parse_spec(&b.btf, e, "0:0", CoreKind::EnumvalExists).is_err());
}

#[test]
fn essential_names_drop_the_flavour() {
    assert_eq!(essential_name("task_struct___old"), "task_struct");
    assert_eq!(essential_name("task_struct___a___b"), "task_struct___a");
    assert_eq!(essential_name("a___b"), "a");
    assert_eq!(essential_name("a____b"), "a____b");
    assert_eq!(essential_name("___b"), "___b");
    assert_eq!(essential_name("a___"), "a___");
    assert_eq!(essential_name("abc"), "abc");
    assert_eq!(essential_name(""), "");
}

#[test]
fn candidates_share_kind_and_essential_name() {
    let mut local = B::new();
    let int = local.int("int", 4, true);
    let want = local.strukt("thing___mine", 4, &[("x", int, 0)]);
    let e = local.enumeration("mode", 4, &[("A", 0)]);
    let mut target = B::new();
    let tint = target.int("int", 4, true);
    let u = target.union("thing", 4, &[("x", tint, 0)]);
    let s1 = target.strukt("thing", 4, &[("x", tint, 0)]);
    let s2 = target.strukt("thing___v2", 4, &[("x", tint, 0)]);
    let _other = target.strukt("things", 4, &[("x", tint, 0)]);
    let e64 = target.enum64("mode", &[("A", 0)]);
    let found = find_candidates(&local.btf, want, &target.btf, 1).expect("search");
    assert_eq!(found, vec![s1, s2]);
    assert!(!found.contains(&u));
    assert_eq!(
        find_candidates(&local.btf, e, &target.btf, 1).expect("enum"),
        vec![e64]
    );
    assert_eq!(
        find_candidates_many(&local.btf, &[want, e, 999], &target.btf, 1),
        vec![
            Ok(vec![s1, s2]),
            Ok(vec![e64]),
            Err(CoreFailure::BadTypeId(999))
        ]
    );
    let anon = local.strukt("", 4, &[]);
    assert_eq!(
        find_candidates(&local.btf, anon, &target.btf, 1),
        Err(CoreFailure::AnonymousType)
    );
}

#[test]
fn module_candidates_are_searched_from_the_first_module_id() {
    use crate::btf::tests::Builder;
    let mut base = Builder::new();
    let int = base.int("int", 4);
    base.structure("in_vmlinux", 4, &[("x", int, 0)]);
    let vmlinux = std::sync::Arc::new(base.parse().expect("base"));
    let mut module = Builder::split_on(&base);
    let module_id = module.structure("only_in_module", 4, &[("x", int, 0)]);
    let split = Btf::parse_split(&module.build(), vmlinux.clone()).expect("split");
    let mut local = B::new();
    let lint = local.int("int", 4, true);
    let want = local.strukt("only_in_module", 4, &[("x", lint, 0)]);
    let first_module_id = vmlinux.type_count() as u32 + 1;
    assert!(find_candidates(&local.btf, want, &vmlinux, 1)
        .expect("vmlinux")
        .is_empty());
    assert_eq!(
        find_candidates(&local.btf, want, &split, first_module_id).expect("module"),
        vec![module_id]
    );
}

#[test]
fn type_compatibility_follows_libbpf() {
    let mut l = B::new();
    let lint = l.int("int", 4, true);
    let lptr = l.ptr(lint);
    let larr = l.array(lint, lint, 3);
    let ls = l.strukt("s", 4, &[]);
    let lt = l.typedef("t", lptr);
    let mut t = B::new();
    let tint = t.int("unsigned long", 8, false);
    let tptr = t.ptr(tint);
    let tarr = t.array(tint, tint, 9);
    let tu = t.union("s", 4, &[]);
    let tt = t.typedef("t", tptr);
    let tvoid_ptr = t.ptr(0);
    assert!(types_are_compat(&l.btf, lptr, &t.btf, tptr).expect("ptr"));
    assert!(types_are_compat(&l.btf, larr, &t.btf, tarr).expect("array"));
    assert!(types_are_compat(&l.btf, lt, &t.btf, tt).expect("typedef"));
    assert!(!types_are_compat(&l.btf, ls, &t.btf, tu).expect("struct vs union"));
    assert!(!types_are_compat(&l.btf, lptr, &t.btf, tvoid_ptr).expect("int* vs void*"));
}

#[test]
fn type_matches_is_structural() {
    let mut l = B::new();
    let lu32 = l.int("u32", 4, false);
    let ls = l.strukt("pair", 8, &[("b", lu32, 32)]);
    let le = l.enumeration("e", 4, &[("ONE", 1)]);
    let lfwd_ptr_target = l.strukt("opaque", 4, &[]);
    let lp = l.ptr(lfwd_ptr_target);
    let mut t = B::new();
    let tu32 = t.int("u32", 4, false);
    let ts32 = t.int("u32", 4, true);
    let ts = t.strukt("pair", 8, &[("a", tu32, 0), ("b", tu32, 32)]);
    let ts_signed = t.strukt("pair", 8, &[("b", ts32, 0)]);
    let te = t.enumeration("e", 4, &[("ZERO", 0), ("ONE", 7)]);
    let te_missing = t.enumeration("e", 4, &[("ZERO", 0)]);
    let tfwd = t.fwd("opaque", false);
    let tp = t.ptr(tfwd);
    assert!(types_match(&l.btf, ls, &t.btf, ts).expect("subset of members"));
    assert!(!types_match(&l.btf, ls, &t.btf, ts_signed).expect("signedness"));
    assert!(types_match(&l.btf, le, &t.btf, te).expect("enum names"));
    assert!(!types_match(&l.btf, le, &t.btf, te_missing).expect("missing enumerator"));
    assert!(types_match(&l.btf, lp, &t.btf, tp).expect("struct behind a pointer matches a fwd"));
}

#[test]
fn reference_loops_are_errors_not_hangs() {
    let mut b = B::new();
    // A typedef naming itself, and a pointer loop through a struct.
    let id = b.typedef("loop", 1);
    assert_eq!(id, 1);
    let s = b.strukt("s", 8, &[("next", 3, 0)]);
    let p = b.ptr(s);
    assert_eq!(p, 3);
    assert!(parse_spec(&b.btf, id, "0", CoreKind::FieldByteOffset).is_err());
    assert!(types_are_compat(&b.btf, p, &b.btf, p).is_ok());
    assert!(types_match(&b.btf, s, &b.btf, s).is_ok());
}
