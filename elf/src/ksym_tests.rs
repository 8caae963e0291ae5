use super::*;
use crate::btf::DatasecVar;

/// BTF with no types and only the empty string, to build on with `push_type`.
fn empty_btf() -> Btf {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0xeb9f_u16.to_le_bytes());
    bytes.extend_from_slice(&[1, 0]); // version 1, no flags
    for word in [24u32, 0, 0, 0, 1] {
        // hdr_len, type_off, type_len, str_off, str_len
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    bytes.push(0);
    Btf::parse(&bytes).expect("empty BTF")
}

fn push(btf: &mut Btf, name: &str, kind: BtfKind) -> u32 {
    let name_off = if name.is_empty() {
        0
    } else {
        btf.add_string(name).expect("string")
    };
    btf.push_type(BtfType {
        name_off,
        kind_flag: false,
        kind,
    })
    .expect("type")
}

/// An object's BTF as clang writes it: a `.ksyms` DATASEC with a typed variable, a
/// typeless one (`const void`) and a kfunc with an unnamed parameter, all at offset 0.
fn object_btf() -> (Btf, [u32; 6]) {
    let mut btf = empty_btf();
    let long = push(
        &mut btf,
        "long",
        BtfKind::Int {
            size: 8,
            encoding: (1 << 24) | 64,
        },
    );
    let rq = push(
        &mut btf,
        "rq",
        BtfKind::Struct {
            size: 4,
            members: Vec::new(),
        },
    );
    let const_rq = push(&mut btf, "", BtfKind::Const { target: rq });
    let typed = push(
        &mut btf,
        "runqueues",
        BtfKind::Var {
            target: const_rq,
            linkage: 2,
        },
    );
    let const_void = push(&mut btf, "", BtfKind::Const { target: 0 });
    let typeless = push(
        &mut btf,
        "bpf_prog_put",
        BtfKind::Var {
            target: const_void,
            linkage: 2,
        },
    );
    let proto = push(
        &mut btf,
        "",
        BtfKind::FuncProto {
            ret: long,
            params: vec![(0, long)],
        },
    );
    let func = push(
        &mut btf,
        "bpf_thing___v2",
        BtfKind::Func {
            proto,
            linkage: 2, // BTF_FUNC_EXTERN
        },
    );
    let vars = [typed, typeless, func]
        .iter()
        .map(|&type_id| DatasecVar {
            type_id,
            offset: 0,
            size: 0,
        })
        .collect();
    let datasec = push(&mut btf, KSYMS_SECTION, BtfKind::Datasec { size: 0, vars });
    (btf, [rq, typed, typeless, proto, func, datasec])
}

#[test]
fn externs_are_told_apart_as_libbpf_tells_them() {
    let (mut btf, [rq, _, _, proto, _, _]) = object_btf();
    let externs = collect_ksyms(&mut btf, |name| name == "bpf_prog_put").expect("collected");
    assert_eq!(
        externs,
        vec![
            KsymExtern {
                name: "runqueues".into(),
                kind: KsymKind::Typed { type_id: rq },
                weak: false,
            },
            KsymExtern {
                name: "bpf_prog_put".into(),
                kind: KsymKind::Typeless,
                weak: true,
            },
            KsymExtern {
                name: "bpf_thing___v2".into(),
                kind: KsymKind::Func { proto_id: proto },
                weak: false,
            },
        ]
    );
    // A kfunc's flavour is not part of the kernel's name; a variable keeps its name.
    assert_eq!(externs[2].kernel_name(), "bpf_thing");
    assert_eq!(externs[0].kernel_name(), "runqueues");
}

#[test]
fn the_datasec_is_rewritten_as_libbpf_rewrites_it() {
    let (mut btf, [_, typed, typeless, proto, func, datasec]) = object_btf();
    collect_ksyms(&mut btf, |_| false).expect("collected");
    // No 32-bit INT in the object: one was added, and the variables take it.
    let int = btf
        .types()
        .find(|(_, ty)| matches!(ty.kind, BtfKind::Int { size: 4, .. }))
        .map(|(id, _)| id)
        .expect("an int was added");
    assert_eq!(btf.name(int), Ok("int"));
    for var in [typed, typeless] {
        assert_eq!(
            btf.get(var).map(|ty| &ty.kind),
            Some(&BtfKind::Var {
                target: int,
                linkage: VAR_GLOBAL_ALLOCATED
            })
        );
    }
    assert_eq!(
        btf.get(func).map(|ty| &ty.kind),
        Some(&BtfKind::Func {
            proto,
            linkage: FUNC_GLOBAL
        })
    );
    let dummy = btf
        .types()
        .find(|(id, _)| btf.name(*id) == Ok(DUMMY_KSYM))
        .map(|(id, _)| id)
        .expect("dummy_ksym");
    let Some(BtfKind::FuncProto { params, .. }) = btf.get(proto).map(|ty| &ty.kind) else {
        panic!("proto");
    };
    assert_eq!(btf.string(params[0].0), Ok(DUMMY_KSYM));
    let Some(BtfKind::Datasec { size, vars }) = btf.get(datasec).map(|ty| &ty.kind) else {
        panic!("datasec");
    };
    assert_eq!(*size, 12);
    let placed: Vec<(u32, u32, u32)> = vars
        .iter()
        .map(|var| (var.type_id, var.offset, var.size))
        .collect();
    assert_eq!(placed, vec![(typed, 0, 4), (typeless, 4, 4), (dummy, 8, 4)]);
    // The rewritten BTF still encodes and parses.
    assert!(Btf::parse(&btf.to_bytes()).is_ok());
}

#[test]
fn an_object_without_ksyms_is_left_alone() {
    let mut btf = empty_btf();
    push(
        &mut btf,
        "int",
        BtfKind::Int {
            size: 4,
            encoding: (1 << 24) | 32,
        },
    );
    let before = btf.clone();
    assert!(collect_ksyms(&mut btf, |_| false)
        .expect("nothing to do")
        .is_empty());
    assert_eq!(btf, before);
}

#[test]
fn a_ksyms_entry_that_is_neither_var_nor_func_is_refused() {
    let mut btf = empty_btf();
    let int = push(
        &mut btf,
        "int",
        BtfKind::Int {
            size: 4,
            encoding: (1 << 24) | 32,
        },
    );
    push(
        &mut btf,
        KSYMS_SECTION,
        BtfKind::Datasec {
            size: 0,
            vars: vec![DatasecVar {
                type_id: int,
                offset: 0,
                size: 4,
            }],
        },
    );
    assert!(matches!(
        collect_ksyms(&mut btf, |_| false),
        Err(ParseError::Symbol { .. })
    ));
}
