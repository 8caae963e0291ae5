//! The access string of a CO-RE record, read against a BTF into a [`Spec`]: which
//! named members and array elements it goes through and the bit offset it ends at,
//! as libbpf's `bpf_core_parse_spec`.
//!
//! `0:1:2` on `struct s` means `&s[0]`, then member 1, then member 2 of that. The
//! high-level accessors keep only what matters for matching against another BTF:
//! named members and array indexes (anonymous struct/union members are steps of the
//! raw spec only, since the kernel may nest the same field differently).

use super::{CoreFailure, CoreKind};
use crate::btf::{Btf, BtfKind, BtfMember, BtfType};

/// libbpf's `BPF_CORE_SPEC_MAX_LEN`: how deep an access may nest.
pub const MAX_SPEC_LEN: usize = 64;

/// One high-level step of an access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accessor {
    /// The struct, union or enum the step indexes, or the array's element type.
    pub type_id: u32,
    /// Member, enumerator or array index.
    pub index: u32,
    /// The member's or enumerator's name; `None` for an array index.
    pub name: Option<String>,
}

/// A parsed access: local (from the object) or target (matched in the kernel's BTF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub root_type_id: u32,
    pub kind: CoreKind,
    /// Every index of the access, anonymous members included.
    pub raw: Vec<u32>,
    pub accessors: Vec<Accessor>,
    /// Where the access ends, in bits from the start of the root type.
    pub bit_offset: u64,
}

impl Spec {
    pub(crate) fn empty(root_type_id: u32, kind: CoreKind) -> Spec {
        Spec {
            root_type_id,
            kind,
            raw: Vec::new(),
            accessors: Vec::new(),
            bit_offset: 0,
        }
    }

    /// `struct task_struct.pid`, `struct s[1].a[3]`, `enum e::VALUE`: the access as C
    /// spells it, for `-dump` and errors.
    pub fn describe(&self, btf: &Btf) -> String {
        let mut text = super::type_label(btf, self.root_type_id);
        for (position, accessor) in self.accessors.iter().enumerate() {
            match (&accessor.name, position) {
                (Some(name), 0) => text.push_str(&format!("::{name}")),
                (Some(name), _) => text.push_str(&format!(".{name}")),
                (None, 0) if accessor.index == 0 => {}
                (None, _) => text.push_str(&format!("[{}]", accessor.index)),
            }
        }
        text
    }
}

/// Skips typedefs and modifiers: `(id, Some(type))`, or `(0, None)` for `void`. An id
/// past the table is an error, not `void`.
pub(crate) fn resolved(btf: &Btf, type_id: u32) -> Result<(u32, Option<&BtfType>), CoreFailure> {
    let id = btf.skip_modifiers(type_id)?;
    if id == 0 {
        return Ok((0, None));
    }
    match btf.get(id) {
        Some(ty) => Ok((id, Some(ty))),
        None => Err(CoreFailure::BadTypeId(id)),
    }
}

/// The members of a struct or union.
pub(crate) fn members(ty: &BtfType) -> Option<&[BtfMember]> {
    match &ty.kind {
        BtfKind::Struct { members, .. } | BtfKind::Union { members, .. } => Some(members),
        _ => None,
    }
}

/// A member's bit offset: with `kind_flag` set the low 24 bits, the bitfield size above.
pub(crate) fn member_bit_offset(ty: &BtfType, member: &BtfMember) -> u32 {
    if ty.kind_flag {
        member.offset & 0x00ff_ffff
    } else {
        member.offset
    }
}

/// A member's bitfield size in bits, 0 for an ordinary member.
pub(crate) fn member_bitfield_size(ty: &BtfType, member: &BtfMember) -> u32 {
    if ty.kind_flag {
        member.offset >> 24
    } else {
        0
    }
}

/// The number of entries of an enum or enum64, and the name offset of entry `index`.
pub(crate) fn enum_entry(ty: &BtfType, index: u32) -> Option<u32> {
    let index = usize::try_from(index).ok()?;
    match &ty.kind {
        BtfKind::Enum { values, .. } => values.get(index).map(|(name, _)| *name),
        BtfKind::Enum64 { values, .. } => values.get(index).map(|(name, _)| *name),
        _ => None,
    }
}

pub(crate) fn enum_len(ty: &BtfType) -> Option<usize> {
    match &ty.kind {
        BtfKind::Enum { values, .. } => Some(values.len()),
        BtfKind::Enum64 { values, .. } => Some(values.len()),
        _ => None,
    }
}

/// `bits += index * size * 8`, refusing overflow.
pub(crate) fn add_elements(bits: u64, index: u32, size: u32) -> Result<u64, CoreFailure> {
    u64::from(index)
        .checked_mul(u64::from(size))
        .and_then(|bytes| bytes.checked_mul(8))
        .and_then(|add| bits.checked_add(add))
        .ok_or_else(|| CoreFailure::BadAccess("the offset overflows".to_string()))
}

/// A flexible array member (`int a[];`): zero elements and the last member of the
/// struct the previous accessor named, so any index is allowed.
pub(crate) fn is_flex_array(btf: &Btf, previous: Option<&Accessor>, nelems: u32) -> bool {
    let Some(previous) = previous else {
        return false;
    };
    if previous.name.is_none() || nelems > 0 {
        return false;
    }
    btf.get(previous.type_id)
        .and_then(members)
        .is_some_and(|members| previous.index as usize + 1 == members.len())
}

/// The indexes of an access string: `0:1:2` -> `[0, 1, 2]`.
fn parse_indexes(access: &str) -> Result<Vec<u32>, CoreFailure> {
    let bad = |reason: &str| CoreFailure::BadAccess(format!("\"{access}\": {reason}"));
    if access.is_empty() || access.starts_with(':') {
        return Err(bad("empty, or starts with ':'"));
    }
    let mut raw = Vec::new();
    let mut rest = access;
    while !rest.is_empty() {
        rest = rest.strip_prefix(':').unwrap_or(rest);
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            if rest.is_empty() {
                break; // a trailing ':' ends the string, as libbpf reads it
            }
            return Err(bad("expected a number"));
        }
        let (number, after) = rest.split_at(digits);
        let index: u32 = number
            .parse()
            .ok()
            .filter(|&index| i32::try_from(index).is_ok())
            .ok_or_else(|| bad("index out of range"))?;
        if raw.len() == MAX_SPEC_LEN {
            return Err(bad("nests deeper than 64"));
        }
        raw.push(index);
        rest = after;
    }
    if raw.is_empty() {
        return Err(bad("no index"));
    }
    Ok(raw)
}

/// Reads `access` for a relocation of `kind` on `type_id` of `btf`.
pub fn parse_spec(
    btf: &Btf,
    type_id: u32,
    access: &str,
    kind: CoreKind,
) -> Result<Spec, CoreFailure> {
    if btf.get(type_id).is_none() {
        return Err(CoreFailure::BadTypeId(type_id));
    }
    let bad = |reason: String| CoreFailure::BadAccess(format!("\"{access}\": {reason}"));
    if kind.is_type() {
        // Type-based relocations have no access; clang writes "0".
        if access != "0" {
            return Err(bad(
                "a type relocation's access string must be \"0\"".to_string()
            ));
        }
        return Ok(Spec::empty(type_id, kind));
    }
    let raw = parse_indexes(access)?;
    let first = *raw.first().ok_or_else(|| bad("no index".to_string()))?;
    let (mut id, root) = resolved(btf, type_id)?;
    let Some(root) = root else {
        return Err(bad("the root type is void".to_string()));
    };
    let mut spec = Spec::empty(type_id, kind);
    spec.raw = raw.clone();
    if kind.is_enumval() {
        let name_off = enum_entry(root, first)
            .filter(|_| raw.len() == 1)
            .ok_or_else(|| bad("not an enumerator of an enum".to_string()))?;
        spec.accessors.push(Accessor {
            type_id: id,
            index: first,
            name: Some(btf.string(name_off)?.to_string()),
        });
        return Ok(spec);
    }
    spec.accessors.push(Accessor {
        type_id: id,
        index: first,
        name: None,
    });
    spec.bit_offset = add_elements(0, first, btf.resolve_size(id)?)?;
    for (step, &index) in raw.iter().enumerate().skip(1) {
        let (current, ty) = resolved(btf, id)?;
        let ty = ty.ok_or_else(|| bad(format!("step {step} reaches void")))?;
        if let Some(fields) = members(ty) {
            let member = fields.get(index as usize).ok_or_else(|| {
                bad(format!(
                    "{} has no member {index}",
                    super::type_label(btf, current)
                ))
            })?;
            spec.bit_offset = spec
                .bit_offset
                .checked_add(u64::from(member_bit_offset(ty, member)))
                .ok_or_else(|| bad("the offset overflows".to_string()))?;
            if member.name_off != 0 {
                let name = btf.string(member.name_off)?;
                if name.is_empty() {
                    return Err(bad(format!("member {index} has an empty name")));
                }
                spec.accessors.push(Accessor {
                    type_id: current,
                    index,
                    name: Some(name.to_string()),
                });
            }
            id = member.type_id;
        } else if let BtfKind::Array { elem, nelems, .. } = ty.kind {
            let (elem_id, _) = resolved(btf, elem)?;
            if !is_flex_array(btf, spec.accessors.last(), nelems) && index >= nelems {
                return Err(bad(format!(
                    "index {index} is past the array's {nelems} elements"
                )));
            }
            spec.accessors.push(Accessor {
                type_id: elem_id,
                index,
                name: None,
            });
            spec.bit_offset = add_elements(spec.bit_offset, index, btf.resolve_size(elem_id)?)?;
            id = elem_id;
        } else {
            return Err(bad(format!(
                "step {step} indexes {}, which is neither a struct, a union nor an array",
                super::type_label(btf, current)
            )));
        }
    }
    Ok(spec)
}
