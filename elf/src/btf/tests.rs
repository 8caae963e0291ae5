//! BTF parsing and serialisation tests on hand-built BTF blobs. The [`Builder`]
//! is shared with the other test modules of `btf`.

use super::*;

// Kind numbers (include/uapi/linux/btf.h).
pub(super) const INT: u32 = 1;
pub(super) const PTR: u32 = 2;
pub(super) const ARRAY: u32 = 3;
pub(super) const STRUCT: u32 = 4;
pub(super) const UNION: u32 = 5;
pub(super) const ENUM: u32 = 6;
pub(super) const FWD: u32 = 7;
pub(super) const TYPEDEF: u32 = 8;
pub(super) const VOLATILE: u32 = 9;
pub(super) const CONST: u32 = 10;
pub(super) const RESTRICT: u32 = 11;
pub(super) const FUNC: u32 = 12;
pub(super) const FUNC_PROTO: u32 = 13;
pub(super) const VAR: u32 = 14;
pub(super) const DATASEC: u32 = 15;
pub(super) const FLOAT: u32 = 16;
pub(super) const DECL_TAG: u32 = 17;
pub(super) const TYPE_TAG: u32 = 18;
pub(super) const ENUM64: u32 = 19;

/// `BTF_INT_SIGNED` in the encoding byte, and the bit count in the low byte.
pub(super) const fn int_encoding(signed: bool, bits: u32) -> u32 {
    (if signed { 1 << 24 } else { 0 }) | bits
}

/// Emits a version 1 `.BTF` section: header, type records, string table.
pub(super) struct Builder {
    pub(super) types: Vec<u8>,
    pub(super) strings: Vec<u8>,
    pub(super) count: u32,
    /// Where this table's strings start in the numbering: 0, or the base's string
    /// length for split BTF.
    pub(super) string_base: u32,
}

impl Builder {
    pub(super) fn new() -> Self {
        Builder {
            types: Vec::new(),
            // Offset 0 is the empty name.
            strings: vec![0],
            count: 0,
            string_base: 0,
        }
    }

    /// Split BTF on top of `base`: ids and string offsets continue `base`'s.
    pub(super) fn split_on(base: &Builder) -> Self {
        Builder {
            types: Vec::new(),
            strings: vec![0],
            count: base.count,
            string_base: base.string_base + base.strings.len() as u32,
        }
    }

    /// Adds a string and returns its offset.
    pub(super) fn name(&mut self, name: &str) -> u32 {
        let offset = self.string_base + self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        offset
    }

    pub(super) fn words(&mut self, words: &[u32]) {
        for word in words {
            self.types.extend_from_slice(&word.to_le_bytes());
        }
    }

    /// Adds a `struct btf_type` followed by `extra` words and returns the new id.
    pub(super) fn ty(
        &mut self,
        name_off: u32,
        kind: u32,
        vlen: u32,
        size_or_type: u32,
        extra: &[u32],
    ) -> u32 {
        self.words(&[name_off, (kind << 24) | vlen, size_or_type]);
        self.words(extra);
        self.count += 1;
        self.count
    }

    pub(super) fn int(&mut self, name: &str, size: u32) -> u32 {
        let name = self.name(name);
        self.ty(name, INT, 0, size, &[int_encoding(true, size * 8)])
    }

    pub(super) fn ptr(&mut self, target: u32) -> u32 {
        self.ty(0, PTR, 0, target, &[])
    }

    pub(super) fn array(&mut self, elem: u32, index: u32, nelems: u32) -> u32 {
        self.ty(0, ARRAY, 0, 0, &[elem, index, nelems])
    }

    /// A struct with `(name, type id, bit offset)` members.
    pub(super) fn structure(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        let name = self.name(name);
        let mut extra = Vec::new();
        for &(member, type_id, offset) in members {
            extra.extend([self.name(member), type_id, offset]);
        }
        self.ty(name, STRUCT, members.len() as u32, size, &extra)
    }

    pub(super) fn typedef(&mut self, name: &str, target: u32) -> u32 {
        let name = self.name(name);
        self.ty(name, TYPEDEF, 0, target, &[])
    }

    pub(super) fn constant(&mut self, target: u32) -> u32 {
        self.ty(0, CONST, 0, target, &[])
    }

    pub(super) fn var(&mut self, name: &str, target: u32) -> u32 {
        // BTF_VAR_GLOBAL_ALLOCATED
        self.var_linkage(name, target, 1)
    }

    /// A VAR with linkage 0 (static), 1 (global) or 2 (extern).
    pub(super) fn var_linkage(&mut self, name: &str, target: u32, linkage: u32) -> u32 {
        let name = self.name(name);
        self.ty(name, VAR, 0, target, &[linkage])
    }

    /// Like [`Builder::ty`] with the `kind_flag` bit set.
    pub(super) fn ty_flag(
        &mut self,
        name_off: u32,
        kind: u32,
        vlen: u32,
        size_or_type: u32,
        extra: &[u32],
    ) -> u32 {
        self.ty(name_off, kind | 0x80, vlen, size_or_type, extra)
    }

    /// A DATASEC with `(var id, offset, size)` entries.
    pub(super) fn datasec(&mut self, name: &str, size: u32, vars: &[(u32, u32, u32)]) -> u32 {
        let name = self.name(name);
        let extra: Vec<u32> = vars
            .iter()
            .flat_map(|&(id, off, sz)| [id, off, sz])
            .collect();
        self.ty(name, DATASEC, vars.len() as u32, size, &extra)
    }

    pub(super) fn build(&self) -> Vec<u8> {
        let type_len = self.types.len() as u32;
        let mut out = Vec::new();
        out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        out.push(BTF_VERSION);
        out.push(0); // flags
        for word in [
            BTF_HEADER_LEN as u32,
            0,
            type_len,
            type_len,
            self.strings.len() as u32,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }

    pub(super) fn parse(&self) -> Result<Btf, BtfError> {
        Btf::parse(&self.build())
    }
}

// Header field offsets.
const HDR_VERSION: usize = 2;
const HDR_LEN: usize = 4;
const HDR_TYPE_LEN: usize = 12;
const HDR_STR_OFF: usize = 16;
const HDR_STR_LEN: usize = 20;

fn set_u32(data: &mut [u8], at: usize, value: u32) {
    data[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn get_u32(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

/// A small program's worth of BTF: what `struct { ... } name SEC(".maps")` produces.
struct Sample {
    btf: Btf,
    int: u32,
    ptr: u32,
    array: u32,
    datarec: u32,
    typedef: u32,
    constant: u32,
    var: u32,
    datasec: u32,
}

fn sample() -> Sample {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let ptr = b.ptr(int);
    let array = b.array(int, int, 6);
    let datarec = b.structure(
        "datarec",
        16,
        &[("rx_packets", int, 0), ("rx_bytes", int, 64)],
    );
    let typedef = b.typedef("datarec_t", datarec);
    let constant = b.constant(typedef);
    let var = b.var("stats_map", constant);
    let datasec = b.datasec(".maps", 16, &[(var, 0, 16)]);
    Sample {
        btf: b.parse().expect("valid BTF"),
        int,
        ptr,
        array,
        datarec,
        typedef,
        constant,
        var,
        datasec,
    }
}

#[test]
fn parses_each_kind() {
    let s = sample();
    let btf = &s.btf;
    assert_eq!(btf.type_count(), 8);
    assert!(btf.get(0).is_none(), "id 0 is void");
    assert!(btf.get(9).is_none());

    let int = btf.get(s.int).unwrap();
    assert_eq!(
        int.kind,
        BtfKind::Int {
            size: 4,
            encoding: int_encoding(true, 32)
        }
    );
    assert_eq!(btf.string(int.name_off), Ok("int"));
    assert_eq!(btf.name(s.int), Ok("int"));
    assert_eq!(btf.get(s.ptr).unwrap().kind, BtfKind::Ptr { target: s.int });
    assert_eq!(
        btf.get(s.array).unwrap().kind,
        BtfKind::Array {
            elem: s.int,
            index: s.int,
            nelems: 6
        }
    );
    let BtfKind::Struct { size, members } = &btf.get(s.datarec).unwrap().kind else {
        panic!("not a struct");
    };
    assert_eq!(*size, 16);
    let fields: Vec<(&str, u32, u32)> = members
        .iter()
        .map(|m| (btf.string(m.name_off).unwrap(), m.type_id, m.offset))
        .collect();
    assert_eq!(fields, [("rx_packets", s.int, 0), ("rx_bytes", s.int, 64)]);
    assert_eq!(btf.name(s.datarec), Ok("datarec"));
    assert_eq!(
        btf.get(s.typedef).unwrap().kind,
        BtfKind::Typedef { target: s.datarec }
    );
    assert_eq!(btf.name(s.typedef), Ok("datarec_t"));
    assert_eq!(
        btf.get(s.constant).unwrap().kind,
        BtfKind::Const { target: s.typedef }
    );
    assert_eq!(btf.name(s.constant), Ok(""));
    assert_eq!(
        btf.get(s.var).unwrap().kind,
        BtfKind::Var {
            target: s.constant,
            linkage: 1
        }
    );
    assert_eq!(btf.name(s.var), Ok("stats_map"));
    assert_eq!(
        btf.get(s.datasec).unwrap().kind,
        BtfKind::Datasec {
            size: 16,
            vars: vec![DatasecVar {
                type_id: s.var,
                offset: 0,
                size: 16
            }]
        }
    );
    let kinds: Vec<&str> = btf.types().map(|(_, ty)| ty.kind.name()).collect();
    assert_eq!(
        kinds,
        ["INT", "PTR", "ARRAY", "STRUCT", "TYPEDEF", "CONST", "VAR", "DATASEC"]
    );
    let ids: Vec<u32> = btf.types().map(|(id, _)| id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7, 8]);
}

#[test]
fn to_bytes_gives_back_the_section() {
    let mut b = Builder::new();
    b.int("int", 4);
    let raw = b.build();
    assert_eq!(Btf::parse(&raw).unwrap().to_bytes(), raw);
    let raw = valid_blob();
    assert_eq!(Btf::parse(&raw).unwrap().to_bytes(), raw);
    let raw = Builder::new().build();
    assert_eq!(Btf::parse(&raw).unwrap().to_bytes(), raw);
}

#[test]
fn empty_type_table() {
    let btf = Builder::new().parse().unwrap();
    assert_eq!(btf.type_count(), 0);
    assert_eq!(btf.find_datasec(".maps"), None);
    assert_eq!(btf.resolve_size(0), Ok(0));
}

#[test]
fn resolve_sizes() {
    let s = sample();
    let btf = &s.btf;
    assert_eq!(btf.resolve_size(s.int), Ok(4));
    assert_eq!(btf.resolve_size(s.ptr), Ok(8));
    assert_eq!(btf.resolve_size(s.array), Ok(24));
    assert_eq!(btf.resolve_size(s.datarec), Ok(16));
    assert_eq!(btf.resolve_size(s.typedef), Ok(16));
    assert_eq!(btf.resolve_size(s.constant), Ok(16));
    assert_eq!(btf.resolve_size(s.var), Ok(16));
    assert_eq!(btf.resolve_size(s.datasec), Ok(16));
    assert_eq!(btf.resolve_size(0), Ok(0), "void");
}

#[test]
fn resolve_size_of_an_array_of_structs_through_typedef_and_const() {
    let mut b = Builder::new();
    let int = b.int("unsigned int", 4);
    let pair = b.structure("pair", 8, &[("a", int, 0), ("b", int, 32)]);
    let pair_t = b.typedef("pair_t", pair);
    let const_pair = b.constant(pair_t);
    let pairs = b.array(const_pair, int, 5);
    let pairs_t = b.typedef("pairs_t", pairs);
    let const_pairs = b.constant(pairs_t);
    let grid = b.array(const_pairs, int, 3);
    let btf = b.parse().unwrap();
    assert_eq!(btf.resolve_size(pairs), Ok(40));
    assert_eq!(btf.resolve_size(pairs_t), Ok(40));
    assert_eq!(btf.resolve_size(const_pairs), Ok(40));
    assert_eq!(btf.resolve_size(grid), Ok(120));
}

#[test]
fn skip_modifiers_follows_typedefs_and_qualifiers() {
    let s = sample();
    let btf = &s.btf;
    assert_eq!(btf.skip_modifiers(s.constant), Ok(s.datarec));
    assert_eq!(btf.skip_modifiers(s.typedef), Ok(s.datarec));
    assert_eq!(btf.skip_modifiers(s.datarec), Ok(s.datarec));
    // A pointer is not a modifier, and neither is a variable.
    assert_eq!(btf.skip_modifiers(s.ptr), Ok(s.ptr));
    assert_eq!(btf.skip_modifiers(s.var), Ok(s.var));
    assert_eq!(btf.skip_modifiers(0), Ok(0));
}

#[test]
fn long_modifier_chains_within_the_bound_resolve() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let mut top = int;
    for depth in 0..MAX_RESOLVE_DEPTH - 1 {
        top = if depth % 2 == 0 {
            b.typedef("t", top)
        } else {
            b.constant(top)
        };
    }
    let btf = b.parse().unwrap();
    assert_eq!(btf.skip_modifiers(top), Ok(int));
    assert_eq!(btf.resolve_size(top), Ok(4));
}

#[test]
fn split_btf_continues_the_base_ids_and_strings() {
    let mut base = Builder::new();
    let int = base.int("int", 4);
    let base_btf = base.parse().expect("base parses");
    let mut module = Builder::split_on(&base);
    let module_struct = module.structure("nf_conn", 4, &[("mark", int, 0)]);
    assert_eq!(module_struct, 2);
    let module_bytes = module.build();
    let merged =
        Btf::parse_split(&module_bytes, std::sync::Arc::new(base_btf)).expect("split BTF parses");
    assert_eq!(merged.type_count(), 2);
    // The ids run on from the base's, whole or from the first module id.
    let ids: Vec<u32> = merged.types().map(|(id, _)| id).collect();
    assert_eq!(ids, [1, 2]);
    let own: Vec<u32> = merged.types_from(2).map(|(id, _)| id).collect();
    assert_eq!(own, [2]);
    assert_eq!(merged.types_from(3).count(), 0);
    // Encoded, it is the module's own bytes again: the base is not repeated.
    assert_eq!(merged.to_bytes(), module_bytes);
    assert_eq!(merged.name(int), Ok("int"));
    assert_eq!(merged.name(module_struct), Ok("nf_conn"));
    let Some(BtfKind::Struct { members, .. }) = merged.get(module_struct).map(|ty| &ty.kind) else {
        panic!("type 2 is the module's struct");
    };
    assert_eq!(merged.string(members[0].name_off), Ok("mark"));
    assert_eq!(merged.resolve_size(members[0].type_id), Ok(4));
    // Without its base, the module's ids and names point nowhere.
    assert!(Btf::parse(&module.build()).is_err());
}

#[test]
fn find_datasec_by_name() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let counter = b.var("counter", int);
    let data = b.datasec(".data", 4, &[(counter, 0, 4)]);
    let map = b.var("map", int);
    let maps = b.datasec(".maps", 4, &[(map, 0, 4)]);
    // A struct named like a data section is not a DATASEC.
    b.structure(".rodata", 0, &[]);
    let btf = b.parse().unwrap();
    assert_eq!(btf.find_datasec(".maps"), Some(maps));
    assert_eq!(btf.find_datasec(".data"), Some(data));
    assert_eq!(btf.find_datasec(".rodata"), None);
    assert_eq!(btf.find_datasec(".bss"), None);
    assert_eq!(btf.find_datasec(""), None);
}

fn valid_blob() -> Vec<u8> {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    b.ptr(int);
    b.build()
}

#[test]
fn bad_magic() {
    let mut data = valid_blob();
    data[0..2].copy_from_slice(&0x1234u16.to_le_bytes());
    let error = Btf::parse(&data).unwrap_err();
    assert_eq!(error, BtfError::BadMagic { found: 0x1234 });
    let message = error.to_string();
    assert!(message.contains("0x1234"), "{message}");
    assert!(!message.contains("big-endian"), "{message}");
}

#[test]
fn byte_swapped_magic_says_big_endian() {
    let mut data = valid_blob();
    data[0..2].copy_from_slice(&BTF_MAGIC.to_be_bytes());
    let error = Btf::parse(&data).unwrap_err();
    assert_eq!(
        error,
        BtfError::BadMagic {
            found: BTF_MAGIC.swap_bytes()
        }
    );
    assert!(error.to_string().contains("big-endian"), "{error}");
}

#[test]
fn unsupported_version() {
    let mut data = valid_blob();
    data[HDR_VERSION] = 2;
    assert_eq!(
        Btf::parse(&data),
        Err(BtfError::UnsupportedVersion { version: 2 })
    );
}

#[test]
fn truncated_header() {
    let data = valid_blob();
    for len in 0..BTF_HEADER_LEN {
        assert!(
            matches!(Btf::parse(&data[..len]), Err(BtfError::Truncated { .. })),
            "{len} bytes: {:?}",
            Btf::parse(&data[..len])
        );
    }
}

#[test]
fn truncated_anywhere_is_an_error() {
    let data = valid_blob();
    for len in 0..data.len() {
        assert!(Btf::parse(&data[..len]).is_err(), "{len} bytes parsed");
    }
    assert!(Btf::parse(&data).is_ok());
}

#[test]
fn header_shorter_than_version_1() {
    let mut data = valid_blob();
    set_u32(&mut data, HDR_LEN, 16);
    assert!(matches!(Btf::parse(&data), Err(BtfError::BadLayout { .. })));
}

#[test]
fn header_length_past_the_end() {
    let mut data = valid_blob();
    let past = data.len() as u32 + 1;
    set_u32(&mut data, HDR_LEN, past);
    assert!(matches!(Btf::parse(&data), Err(BtfError::BadLayout { .. })));
    set_u32(&mut data, HDR_LEN, u32::MAX);
    assert!(matches!(Btf::parse(&data), Err(BtfError::BadLayout { .. })));
}

#[test]
fn type_section_past_the_end() {
    let mut data = valid_blob();
    let type_len = get_u32(&data, HDR_TYPE_LEN);
    let str_len = get_u32(&data, HDR_STR_LEN);
    set_u32(&mut data, HDR_TYPE_LEN, type_len + str_len + 4);
    assert_eq!(
        Btf::parse(&data),
        Err(BtfError::BadLayout {
            reason: "type section runs past the end"
        })
    );
    // Offsets and lengths that overflow when added.
    set_u32(&mut data, HDR_TYPE_LEN, u32::MAX);
    assert!(matches!(Btf::parse(&data), Err(BtfError::BadLayout { .. })));
}

#[test]
fn string_section_past_the_end() {
    let mut data = valid_blob();
    set_u32(&mut data, HDR_STR_OFF, u32::MAX);
    assert!(matches!(Btf::parse(&data), Err(BtfError::BadLayout { .. })));
}

#[test]
fn overlapping_sections() {
    let mut data = valid_blob();
    // Strings starting inside the type records.
    let str_len = get_u32(&data, HDR_STR_LEN);
    set_u32(&mut data, HDR_STR_OFF, 4);
    set_u32(&mut data, HDR_STR_LEN, str_len);
    assert!(matches!(Btf::parse(&data), Err(BtfError::BadLayout { .. })));
}

#[test]
fn string_section_not_nul_terminated() {
    let mut data = valid_blob();
    let last = data.len() - 1;
    assert_eq!(data[last], 0);
    data[last] = b'x';
    assert_eq!(
        Btf::parse(&data),
        Err(BtfError::BadLayout {
            reason: "string section does not end with a NUL byte"
        })
    );
}

#[test]
fn name_offset_outside_the_string_table() {
    let mut b = Builder::new();
    b.ty(1000, INT, 0, 4, &[int_encoding(false, 32)]);
    assert_eq!(b.parse(), Err(BtfError::BadStringOffset { offset: 1000 }));
}

#[test]
fn member_name_offset_outside_the_string_table() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let name = b.name("s");
    b.ty(name, STRUCT, 1, 4, &[500, int, 0]);
    assert_eq!(b.parse(), Err(BtfError::BadStringOffset { offset: 500 }));
}

#[test]
fn string_lookups() {
    let s = sample();
    assert_eq!(s.btf.string(0), Ok(""));
    assert_eq!(
        s.btf.string(100_000),
        Err(BtfError::BadStringOffset { offset: 100_000 })
    );
    assert_eq!(s.btf.name(0), Ok(""), "void has no name");
}

#[test]
fn reference_past_the_type_table() {
    let mut b = Builder::new();
    b.ptr(5);
    assert_eq!(
        b.parse(),
        Err(BtfError::BadTypeId {
            type_id: 5,
            referenced_by: 1
        })
    );

    let mut b = Builder::new();
    let int = b.int("int", 4);
    b.structure("s", 8, &[("a", int, 0), ("b", 3, 32)]);
    assert_eq!(
        b.parse(),
        Err(BtfError::BadTypeId {
            type_id: 3,
            referenced_by: 2
        })
    );
}

#[test]
fn typedef_loop_is_too_deep() {
    let mut b = Builder::new();
    let first = b.typedef("a", 2);
    let second = b.typedef("b", first);
    assert_eq!(second, 2);
    let btf = b.parse().expect("a loop is well-formed until resolved");
    assert_eq!(
        btf.resolve_size(first),
        Err(BtfError::TooDeep { type_id: first })
    );
    assert_eq!(
        btf.skip_modifiers(second),
        Err(BtfError::TooDeep { type_id: second })
    );
}

#[test]
fn self_referencing_array_is_too_deep() {
    let mut b = Builder::new();
    let array = b.array(1, 1, 2);
    assert_eq!(array, 1);
    let btf = b.parse().unwrap();
    assert!(matches!(
        btf.resolve_size(array),
        Err(BtfError::TooDeep { .. })
    ));
}

#[test]
fn array_and_typedef_cycle_is_too_deep() {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let array = b.array(3, int, 1);
    let typedef = b.typedef("t", array);
    assert_eq!(typedef, 3);
    let btf = b.parse().unwrap();
    assert!(matches!(
        btf.resolve_size(typedef),
        Err(BtfError::TooDeep { .. })
    ));
}

#[test]
fn huge_array_overflows() {
    let mut b = Builder::new();
    let long = b.int("long", 8);
    let array = b.array(long, long, u32::MAX);
    let btf = b.parse().unwrap();
    assert_eq!(
        btf.resolve_size(array),
        Err(BtfError::SizeOverflow { type_id: array })
    );
    // The largest array that fits still resolves.
    let mut b = Builder::new();
    let byte = b.int("char", 1);
    let array = b.array(byte, byte, u32::MAX);
    assert_eq!(b.parse().unwrap().resolve_size(array), Ok(u32::MAX));
}

#[test]
fn unknown_kind() {
    let mut b = Builder::new();
    b.int("int", 4);
    b.ty(0, 31, 0, 0, &[]);
    assert_eq!(
        b.parse(),
        Err(BtfError::UnknownKind {
            type_id: 2,
            kind: 31
        })
    );
}

#[test]
fn truncated_type_record() {
    // An INT without its encoding word.
    let mut b = Builder::new();
    b.words(&[0, INT << 24, 4]);
    assert!(matches!(
        b.parse(),
        Err(BtfError::Truncated {
            what: "int encoding",
            ..
        })
    ));

    // A struct that promises two members and has one.
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let name = b.name("s");
    b.words(&[name, (STRUCT << 24) | 2, 8, 0, int, 0]);
    assert!(matches!(b.parse(), Err(BtfError::Truncated { .. })));

    // Half a record header.
    let mut b = Builder::new();
    b.words(&[0, INT << 24]);
    assert!(matches!(b.parse(), Err(BtfError::Truncated { .. })));

    // Type length that is not a multiple of 4.
    let mut b = Builder::new();
    b.int("int", 4);
    b.types.push(0);
    assert!(matches!(b.parse(), Err(BtfError::Truncated { .. })));
}

#[test]
fn every_error_displays_a_sentence() {
    let errors = [
        BtfError::Truncated {
            what: "type info",
            offset: 12,
        },
        BtfError::BadMagic { found: 0x1234 },
        BtfError::BadMagic {
            found: BTF_MAGIC.swap_bytes(),
        },
        BtfError::UnsupportedVersion { version: 2 },
        BtfError::BadLayout {
            reason: "type section runs past the end",
        },
        BtfError::UnknownKind {
            type_id: 1,
            kind: 31,
        },
        BtfError::BadStringOffset { offset: 1000 },
        BtfError::BadTypeId {
            type_id: 5,
            referenced_by: 1,
        },
        BtfError::TooDeep { type_id: 1 },
        BtfError::SizeOverflow { type_id: 2 },
        BtfError::BadNewString {
            string: "a\0b".into(),
        },
        BtfError::TooManyTypes,
        BtfError::DatasecWithoutSection {
            datasec: ".bss".into(),
        },
        BtfError::DatasecEntryNotVar {
            datasec: ".data".into(),
            type_id: 3,
        },
        BtfError::DatasecVarWithoutSymbol {
            datasec: ".data".into(),
            var: "counter".into(),
        },
        BtfError::DatasecVarOutOfBounds {
            datasec: ".data".into(),
            var: "counter".into(),
            offset: 6,
            size: 4,
            section_size: 8,
        },
        BtfError::ExtHeader {
            reason: "the version is not 1",
        },
        BtfError::ExtBadBlock {
            block: "func_info",
            offset: 2,
            len: 8,
        },
        BtfError::ExtRecordSize {
            block: "line_info",
            record_size: 12,
            minimum: 16,
        },
        BtfError::ExtSectionName {
            block: "func_info",
            name_off: 9999,
            offset: 36,
        },
        BtfError::ExtTruncated {
            block: "func_info",
            section: "xdp".into(),
            offset: 36,
        },
        BtfError::ExtTruncated {
            block: "func_info",
            section: String::new(),
            offset: 52,
        },
    ];
    for error in errors {
        let message = error.to_string();
        assert!(
            message.starts_with("BTF") && message.split(' ').count() >= 4,
            "{error:?}: {message:?}"
        );
    }
}

/// Ids in [`every_kind`].
pub(super) struct EveryKind {
    pub(super) int: u32,
    pub(super) bitfields: u32,
    pub(super) union: u32,
    pub(super) signed_enum: u32,
    pub(super) fwd_union: u32,
    pub(super) func_proto: u32,
    pub(super) anonymous_proto: u32,
    pub(super) func: u32,
    pub(super) static_var: u32,
    pub(super) global_var: u32,
    pub(super) data: u32,
    pub(super) qmark: u32,
    pub(super) float: u32,
    pub(super) decl_tag: u32,
    pub(super) type_tag: u32,
    pub(super) enum64: u32,
    pub(super) restrict: u32,
}

/// One of every kind, with kind flags where clang sets them.
pub(super) fn every_kind() -> (Builder, EveryKind) {
    let mut b = Builder::new();
    let int = b.int("int", 4);
    let ptr = b.ptr(int);
    b.array(int, int, 4);
    // struct { int a:3; int b:5; } with kind_flag: offsets carry the bitfield size.
    let name = b.name("bits");
    let (a, bb) = (b.name("a"), b.name("b"));
    let bitfields = b.ty_flag(
        name,
        STRUCT,
        2,
        4,
        &[a, int, 3 << 24, bb, int, (5 << 24) | 3],
    );
    let name = b.name("either");
    let union = b.ty(name, UNION, 2, 8, &[a, int, 0, bb, ptr, 0]);
    let name = b.name("sign");
    let (minus, plus) = (b.name("MINUS"), b.name("PLUS"));
    let signed_enum = b.ty_flag(name, ENUM, 2, 4, &[minus, (-1i32) as u32, plus, 1]);
    let name = b.name("later");
    let fwd_union = b.ty_flag(name, FWD, 0, 0, &[]);
    b.typedef("int_t", int);
    b.ty(0, VOLATILE, 0, int, &[]);
    b.constant(int);
    let restrict = b.ty(0, RESTRICT, 0, ptr, &[]);
    let ctx = b.name("ctx");
    let func_proto = b.ty(0, FUNC_PROTO, 1, int, &[ctx, ptr]);
    let anonymous_proto = b.ty(0, FUNC_PROTO, 2, int, &[0, ptr, 0, int]);
    let name = b.name("prog");
    let func = b.ty(name, FUNC, 1, func_proto, &[]); // global
    let static_var = b.var_linkage("prog.____fmt", int, 0);
    let global_var = b.var("counter", int);
    let data = b.datasec(".data", 0, &[(global_var, 0, 4), (static_var, 0, 4)]);
    let qmark = b.datasec("?.maps", 4, &[]);
    let name = b.name("double");
    let float = b.ty(name, FLOAT, 0, 8, &[]);
    let name = b.name("user");
    let decl_tag = b.ty(name, DECL_TAG, 0, global_var, &[u32::MAX]);
    let name = b.name("rcu");
    let type_tag = b.ty(name, TYPE_TAG, 0, int, &[]);
    let name = b.name("big");
    let (small, large) = (b.name("SMALL"), b.name("LARGE"));
    let enum64 = b.ty_flag(name, ENUM64, 2, 8, &[small, 1, 0, large, 0, 1]);
    let ids = EveryKind {
        int,
        bitfields,
        union,
        signed_enum,
        fwd_union,
        func_proto,
        anonymous_proto,
        func,
        static_var,
        global_var,
        data,
        qmark,
        float,
        decl_tag,
        type_tag,
        enum64,
        restrict,
    };
    (b, ids)
}

#[test]
fn every_kind_round_trips_byte_for_byte() {
    let (b, ids) = every_kind();
    let raw = b.build();
    let btf = Btf::parse(&raw).unwrap();
    let kinds: Vec<&str> = btf.types().map(|(_, ty)| ty.kind.name()).collect();
    for kind in [
        "INT",
        "PTR",
        "ARRAY",
        "STRUCT",
        "UNION",
        "ENUM",
        "FWD",
        "TYPEDEF",
        "VOLATILE",
        "CONST",
        "RESTRICT",
        "FUNC",
        "FUNC_PROTO",
        "VAR",
        "DATASEC",
        "FLOAT",
        "DECL_TAG",
        "TYPE_TAG",
        "ENUM64",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert_eq!(btf.to_bytes(), raw);
    assert_eq!(Btf::parse(&btf.to_bytes()).unwrap(), btf);

    // The flags that carry meaning were read.
    assert!(btf.get(ids.bitfields).unwrap().kind_flag);
    assert!(btf.get(ids.signed_enum).unwrap().kind_flag);
    assert!(btf.get(ids.enum64).unwrap().kind_flag);
    assert!(!btf.get(ids.union).unwrap().kind_flag);
    assert_eq!(
        btf.get(ids.fwd_union).unwrap().kind,
        BtfKind::Fwd { is_union: true }
    );
    assert_eq!(
        btf.get(ids.func).unwrap().kind,
        BtfKind::Func {
            proto: ids.func_proto,
            linkage: 1
        }
    );
    assert_eq!(
        btf.get(ids.enum64).unwrap().kind,
        BtfKind::Enum64 {
            size: 8,
            values: vec![
                (btf.find_string("SMALL").unwrap(), 1),
                (btf.find_string("LARGE").unwrap(), 1 << 32)
            ]
        }
    );
    assert_eq!(
        btf.get(ids.decl_tag).unwrap().kind,
        BtfKind::DeclTag {
            target: ids.global_var,
            component_idx: u32::MAX
        }
    );
    assert_eq!(
        btf.get(ids.restrict).unwrap().kind,
        BtfKind::Restrict { target: 2 }
    );
    let _ = (
        ids.int,
        ids.anonymous_proto,
        ids.static_var,
        ids.data,
        ids.qmark,
        ids.float,
        ids.type_tag,
    );
}

#[test]
fn modified_types_encode_their_new_kind() {
    let s = sample();
    let mut btf = s.btf.clone();
    let ty = btf.get_mut(s.var).unwrap();
    ty.kind = BtfKind::Int {
        size: 1,
        encoding: 8,
    };
    btf.get_mut(s.datasec).unwrap().kind = BtfKind::Struct {
        size: 16,
        members: vec![BtfMember {
            name_off: 0,
            type_id: s.var,
            offset: 0,
        }],
    };
    let bytes = btf.to_bytes();
    // The VAR record had one extra word, like INT: the table keeps its length.
    assert_eq!(bytes.len(), s.btf.to_bytes().len());
    let again = Btf::parse(&bytes).unwrap();
    assert_eq!(again, btf);
    assert_eq!(again.get(s.var).unwrap().kind.name(), "INT");
    assert_eq!(again.get(s.datasec).unwrap().kind.name(), "STRUCT");
    assert!(btf.get_mut(0).is_none());
    assert!(btf.get_mut(100).is_none());
}

#[test]
fn other_layouts_reencode_to_the_canonical_one() {
    // Strings first, then types, after a 32-byte header: the kernel's header may grow.
    let mut b = Builder::new();
    let int = b.int("int", 4);
    b.ptr(int);
    let strings = b.strings.clone();
    let types = b.types.clone();
    let mut data = Vec::new();
    data.extend_from_slice(&BTF_MAGIC.to_le_bytes());
    data.extend_from_slice(&[BTF_VERSION, 0]);
    for word in [
        32,
        strings.len() as u32,
        types.len() as u32,
        0,
        strings.len() as u32,
        0,
        0,
    ] {
        data.extend_from_slice(&word.to_le_bytes());
    }
    data.extend_from_slice(&strings);
    data.extend_from_slice(&types);
    let btf = Btf::parse(&data).unwrap();
    assert_eq!(btf, b.parse().unwrap());
    assert_ne!(btf.to_bytes(), data);
    assert_eq!(btf.to_bytes(), b.build());
}

#[test]
fn add_string_appends_or_reuses() {
    let s = sample();
    let mut btf = s.btf.clone();
    let before = btf.to_bytes().len();
    assert_eq!(btf.add_string(""), Ok(0));
    let int = btf.get(s.int).unwrap().name_off;
    assert_eq!(btf.add_string("int"), Ok(int), "whole strings are reused");
    let new = btf.add_string("nt").unwrap();
    assert_ne!(new, int + 1, "only whole strings are reused");
    assert_eq!(btf.string(new), Ok("nt"));
    assert_eq!(btf.add_string("nt"), Ok(new));
    let other = btf.add_string("_rodata").unwrap();
    assert_eq!(btf.string(other), Ok("_rodata"));
    assert_eq!(btf.to_bytes().len(), before + 3 + 8);
    // Old offsets still mean the same.
    assert_eq!(btf.name(s.int), Ok("int"));
    assert_eq!(btf.name(s.var), Ok("stats_map"));
    assert_eq!(
        btf.add_string("a\0b"),
        Err(BtfError::BadNewString {
            string: "a\0b".into()
        })
    );
    let again = Btf::parse(&btf.to_bytes()).unwrap();
    assert_eq!(again, btf);
}

#[test]
fn add_string_to_an_empty_table_keeps_offset_0_empty() {
    let mut data = Builder::new().build();
    // No string section at all.
    set_u32(&mut data, HDR_STR_LEN, 0);
    data.pop();
    let mut btf = Btf::parse(&data).unwrap();
    assert_eq!(btf.to_bytes(), data);
    assert_eq!(btf.string(0), Ok(""));
    let name = btf.add_string("x").unwrap();
    assert_eq!(name, 1);
    assert_eq!(btf.string(0), Ok(""));
    assert_eq!(btf.string(1), Ok("x"));

    let mut btf = Btf::parse(&data).unwrap();
    assert_eq!(btf.add_string(""), Ok(0));
    assert_eq!(Btf::parse(&btf.to_bytes()).unwrap().string(0), Ok(""));
}

#[test]
fn push_type_appends_with_the_next_id() {
    let s = sample();
    let mut btf = s.btf.clone();
    let name_off = btf.add_string("char").unwrap();
    let id = btf
        .push_type(BtfType {
            name_off,
            kind_flag: false,
            kind: BtfKind::Int {
                size: 1,
                encoding: int_encoding(true, 8),
            },
        })
        .unwrap();
    assert_eq!(id, 9);
    assert_eq!(btf.name(id), Ok("char"));
    let again = Btf::parse(&btf.to_bytes()).unwrap();
    assert_eq!(again, btf);
    assert_eq!(again.resolve_size(id), Ok(1));
}

#[test]
fn lists_longer_than_vlen_are_cut_at_65535() {
    let s = sample();
    let mut btf = s.btf.clone();
    let member = BtfMember {
        name_off: 0,
        type_id: s.int,
        offset: 0,
    };
    btf.get_mut(s.datarec).unwrap().kind = BtfKind::Struct {
        size: 4,
        members: vec![member.clone(); 70_000],
    };
    let again = Btf::parse(&btf.to_bytes()).unwrap();
    let BtfKind::Struct { members, .. } = &again.get(s.datarec).unwrap().kind else {
        panic!("not a struct");
    };
    assert_eq!(members.len(), 65_535);
    // The types after it are still where they were.
    assert_eq!(again.get(s.datasec), btf.get(s.datasec));
}
