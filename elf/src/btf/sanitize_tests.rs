//! `Btf::sanitize` on hand-built BTF: one rule per missing feature.

use super::tests::{every_kind, EveryKind};
use super::*;

fn sanitized(features: BtfFeatures) -> (Btf, Btf, EveryKind) {
    let (b, ids) = every_kind();
    let original = b.parse().unwrap();
    let mut btf = original.clone();
    btf.sanitize(&features);
    // Whatever came out encodes, parses back and keeps every original name.
    let again = Btf::parse(&btf.to_bytes()).expect("sanitised BTF parses");
    assert_eq!(again, btf);
    for (id, ty) in original.types() {
        assert_eq!(
            btf.string(ty.name_off),
            original
                .name(id)
                .map(|_| original.string(ty.name_off).unwrap())
        );
    }
    (original, btf, ids)
}

fn without(change: impl FnOnce(&mut BtfFeatures)) -> BtfFeatures {
    let mut features = BtfFeatures::ALL;
    change(&mut features);
    features
}

/// Ids whose type changed.
fn changed(original: &Btf, btf: &Btf) -> Vec<u32> {
    original
        .types()
        .filter(|&(id, ty)| btf.get(id) != Some(ty))
        .map(|(id, _)| id)
        .collect()
}

#[test]
fn all_features_change_nothing() {
    let (original, btf, _) = sanitized(BtfFeatures::ALL);
    assert_eq!(btf, original);
    assert!(BtfFeatures::ALL.is_all());
    assert!(!BtfFeatures::NONE.is_all());
}

#[test]
fn no_datasec_makes_vars_ints_and_datasecs_structs() {
    let (original, btf, ids) = sanitized(without(|f| f.datasec = false));
    let mut expected = vec![ids.static_var, ids.global_var, ids.data, ids.qmark];
    expected.sort();
    assert_eq!(changed(&original, &btf), expected);

    let var = btf.get(ids.global_var).unwrap();
    assert_eq!(
        var.kind,
        BtfKind::Int {
            size: 1,
            encoding: 8
        }
    );
    assert_eq!(btf.string(var.name_off), Ok("counter"));
    assert!(!var.kind_flag);

    let data = btf.get(ids.data).unwrap();
    assert_eq!(btf.string(data.name_off), Ok("_data"));
    let BtfKind::Struct { size, members } = &data.kind else {
        panic!("not a struct: {:?}", data.kind);
    };
    assert_eq!(*size, 0);
    let members: Vec<(&str, u32, u32)> = members
        .iter()
        .map(|m| (btf.string(m.name_off).unwrap(), m.type_id, m.offset))
        .collect();
    // `prog.____fmt` is not an identifier: the member gets `prog_____fmt`.
    assert_eq!(
        members,
        [
            ("counter", ids.global_var, 0),
            ("prog_____fmt", ids.static_var, 0)
        ]
    );
    assert_eq!(btf.name(ids.qmark), Ok("__maps"));
}

#[test]
fn datasec_members_take_offsets_in_bits() {
    let (b, ids) = every_kind();
    let mut btf = b.parse().unwrap();
    btf.fixup_datasecs(
        |_| Some(8),
        |_, name| match name {
            "counter" => Some(4),
            _ => Some(0),
        },
    )
    .unwrap();
    btf.sanitize(&BtfFeatures::NONE);
    let BtfKind::Struct { size, members } = &btf.get(ids.data).unwrap().kind else {
        panic!("not a struct");
    };
    assert_eq!(*size, 8);
    let offsets: Vec<(u32, u32)> = members.iter().map(|m| (m.type_id, m.offset)).collect();
    assert_eq!(offsets, [(ids.static_var, 0), (ids.global_var, 32)]);
}

#[test]
fn no_qmark_datasec_renames_only_the_leading_question_mark() {
    let (original, btf, ids) = sanitized(without(|f| f.qmark_datasec = false));
    assert_eq!(changed(&original, &btf), [ids.qmark]);
    assert_eq!(btf.name(ids.qmark), Ok("_.maps"));
    assert_eq!(
        btf.get(ids.qmark).unwrap().kind,
        original.get(ids.qmark).unwrap().kind
    );
}

#[test]
fn no_func_makes_protos_enums_and_funcs_typedefs() {
    let (original, btf, ids) = sanitized(without(|f| f.func = false));
    assert_eq!(
        changed(&original, &btf),
        [ids.func_proto, ids.anonymous_proto, ids.func]
    );
    let proto = btf.get(ids.func_proto).unwrap();
    let BtfKind::Enum { size, values } = &proto.kind else {
        panic!("not an enum");
    };
    assert_eq!(*size, 4);
    let values: Vec<(&str, i32)> = values
        .iter()
        .map(|&(name, value)| (btf.string(name).unwrap(), value))
        .collect();
    assert_eq!(values, [("ctx", 0)]);
    // Anonymous parameters become enumerators named `_`: the kernel wants names.
    let BtfKind::Enum { values, .. } = &btf.get(ids.anonymous_proto).unwrap().kind else {
        panic!("not an enum");
    };
    let names: Vec<&str> = values
        .iter()
        .map(|&(n, _)| btf.string(n).unwrap())
        .collect();
    assert_eq!(names, ["_", "_"]);

    let func = btf.get(ids.func).unwrap();
    assert_eq!(
        func.kind,
        BtfKind::Typedef {
            target: ids.func_proto
        }
    );
    assert_eq!(btf.string(func.name_off), Ok("prog"));
}

#[test]
fn no_global_func_makes_funcs_static() {
    let (original, btf, ids) = sanitized(without(|f| f.func_global = false));
    assert_eq!(changed(&original, &btf), [ids.func]);
    assert_eq!(
        btf.get(ids.func).unwrap().kind,
        BtfKind::Func {
            proto: ids.func_proto,
            linkage: 0
        }
    );
}

#[test]
fn no_float_makes_an_empty_anonymous_struct() {
    let (original, btf, ids) = sanitized(without(|f| f.float = false));
    assert_eq!(changed(&original, &btf), [ids.float]);
    let float = btf.get(ids.float).unwrap();
    assert_eq!(float.name_off, 0);
    assert_eq!(
        float.kind,
        BtfKind::Struct {
            size: 8,
            members: vec![]
        }
    );
}

#[test]
fn no_decl_tag_makes_an_int() {
    let (original, btf, ids) = sanitized(without(|f| f.decl_tag = false));
    assert_eq!(changed(&original, &btf), [ids.decl_tag]);
    let tag = btf.get(ids.decl_tag).unwrap();
    assert_eq!(
        tag.kind,
        BtfKind::Int {
            size: 1,
            encoding: 8
        }
    );
    assert_eq!(btf.string(tag.name_off), Ok("user"));
}

#[test]
fn no_type_tag_makes_an_anonymous_const() {
    let (original, btf, ids) = sanitized(without(|f| f.type_tag = false));
    assert_eq!(changed(&original, &btf), [ids.type_tag]);
    let tag = btf.get(ids.type_tag).unwrap();
    assert_eq!(tag.name_off, 0);
    assert_eq!(tag.kind, BtfKind::Const { target: ids.int });
}

#[test]
fn no_enum64_makes_a_union_and_unsigned_enums() {
    let (original, btf, ids) = sanitized(without(|f| f.enum64 = false));
    assert_eq!(changed(&original, &btf), [ids.signed_enum, ids.enum64]);
    let signed = btf.get(ids.signed_enum).unwrap();
    assert!(!signed.kind_flag);
    assert_eq!(signed.kind, original.get(ids.signed_enum).unwrap().kind);

    // The placeholder comes after every original type.
    let placeholder = original.type_count() as u32 + 1;
    assert_eq!(btf.type_count(), original.type_count() + 1);
    assert_eq!(btf.name(placeholder), Ok("enum64_placeholder"));
    assert_eq!(
        btf.get(placeholder).unwrap().kind,
        BtfKind::Int {
            size: 1,
            encoding: 8
        }
    );
    let enum64 = btf.get(ids.enum64).unwrap();
    assert!(!enum64.kind_flag);
    assert_eq!(btf.string(enum64.name_off), Ok("big"));
    let BtfKind::Union { size, members } = &enum64.kind else {
        panic!("not a union");
    };
    assert_eq!(*size, 8);
    let members: Vec<(&str, u32, u32)> = members
        .iter()
        .map(|m| (btf.string(m.name_off).unwrap(), m.type_id, m.offset))
        .collect();
    assert_eq!(
        members,
        [("SMALL", placeholder, 0), ("LARGE", placeholder, 0)]
    );
}

#[test]
fn one_placeholder_for_every_enum64() {
    let (mut b, _) = every_kind();
    let name = b.name("other");
    let value = b.name("V");
    b.ty(name, super::tests::ENUM64, 1, 8, &[value, 0, 0]);
    let original = b.parse().unwrap();
    let mut btf = original.clone();
    btf.sanitize(&without(|f| f.enum64 = false));
    assert_eq!(btf.type_count(), original.type_count() + 1);
    // Sanitising twice does not add another.
    btf.sanitize(&without(|f| f.enum64 = false));
    assert_eq!(btf.type_count(), original.type_count() + 1);
}

#[test]
fn nothing_supported_rewrites_everything_new() {
    let (original, btf, ids) = sanitized(BtfFeatures::NONE);
    let kinds: Vec<&str> = btf.types().map(|(_, ty)| ty.kind.name()).collect();
    for kind in [
        "FUNC",
        "FUNC_PROTO",
        "VAR",
        "DATASEC",
        "FLOAT",
        "DECL_TAG",
        "TYPE_TAG",
        "ENUM64",
    ] {
        assert!(!kinds.contains(&kind), "{kind} left in {kinds:?}");
    }
    // Old kinds are untouched, apart from the enum's sign.
    for id in [
        ids.int,
        ids.bitfields,
        ids.union,
        ids.fwd_union,
        ids.restrict,
    ] {
        assert_eq!(btf.get(id), original.get(id), "type {id}");
    }
    // No kind flag survives on anything an old kernel would read as a flag it lacks.
    assert!(!btf.get(ids.signed_enum).unwrap().kind_flag);
}
