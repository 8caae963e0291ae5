//! Does a target type match the local one? The rules of libbpf's
//! `bpf_core_types_are_compat` (type relocations), `bpf_core_fields_are_compat` and
//! `bpf_core_spec_match` (field and enum relocations) and `bpf_core_types_match`
//! (TYPE_MATCHES). Recursion is bounded: a type graph from a hostile object cannot
//! loop or blow the stack.

use super::candidates::{essential_name, kinds_compatible};
use super::spec::{
    add_elements, enum_entry, enum_len, is_flex_array, member_bit_offset, members, resolved,
    Accessor, Spec, MAX_SPEC_LEN,
};
use super::CoreFailure;
use crate::btf::{Btf, BtfKind, BtfType};

/// libbpf's recursion bound for type comparisons.
const MAX_DEPTH: u32 = 32;
/// `BTF_INT_SIGNED`.
const INT_SIGNED: u32 = 1;

fn int_offset(encoding: u32) -> u32 {
    (encoding >> 16) & 0xff
}

fn int_signed(encoding: u32) -> bool {
    (encoding >> 24) & 0x0f & INT_SIGNED != 0
}

fn too_deep() -> CoreFailure {
    CoreFailure::NotApplicable("the types nest deeper than 32 levels".to_string())
}

/// Type-relocation compatibility: same kinds all the way down, names ignored below the
/// root (which the candidate search matched), ints of any size, arrays of any length.
pub fn types_are_compat(
    local: &Btf,
    local_id: u32,
    target: &Btf,
    target_id: u32,
) -> Result<bool, CoreFailure> {
    types_are_compat_at(local, local_id, target, target_id, MAX_DEPTH)
}

fn types_are_compat_at(
    local: &Btf,
    mut local_id: u32,
    target: &Btf,
    mut target_id: u32,
    level: u32,
) -> Result<bool, CoreFailure> {
    if let (Some(l), Some(t)) = (local.get(local_id), target.get(target_id)) {
        if !kinds_compatible(l, t) {
            return Ok(false);
        }
    }
    for _ in 0..MAX_DEPTH {
        let (_, l) = resolved(local, local_id)?;
        let (_, t) = resolved(target, target_id)?;
        let (l, t) = match (l, t) {
            (None, None) => return Ok(true),
            (Some(l), Some(t)) if kinds_compatible(l, t) => (l, t),
            _ => return Ok(false),
        };
        match (&l.kind, &t.kind) {
            (
                BtfKind::Struct { .. }
                | BtfKind::Union { .. }
                | BtfKind::Enum { .. }
                | BtfKind::Enum64 { .. }
                | BtfKind::Fwd { .. },
                _,
            ) => return Ok(true),
            (BtfKind::Int { encoding: le, .. }, BtfKind::Int { encoding: te, .. }) => {
                return Ok(int_offset(*le) == 0 && int_offset(*te) == 0)
            }
            (BtfKind::Ptr { target: lt }, BtfKind::Ptr { target: tt }) => {
                local_id = *lt;
                target_id = *tt;
            }
            (BtfKind::Array { elem: le, .. }, BtfKind::Array { elem: te, .. }) => {
                local_id = *le;
                target_id = *te;
            }
            (
                BtfKind::FuncProto {
                    ret: lr,
                    params: lp,
                },
                BtfKind::FuncProto {
                    ret: tr,
                    params: tp,
                },
            ) => {
                if lp.len() != tp.len() {
                    return Ok(false);
                }
                for (&(_, lparam), &(_, tparam)) in lp.iter().zip(tp) {
                    if level == 0 {
                        return Err(too_deep());
                    }
                    if !types_are_compat_at(local, lparam, target, tparam, level - 1)? {
                        return Ok(false);
                    }
                }
                local_id = *lr;
                target_id = *tr;
            }
            _ => return Ok(false),
        }
    }
    Err(too_deep())
}

/// Whether a named enum/fwd pair may match: one is anonymous, or the essential names agree.
fn names_compatible(
    local: &Btf,
    l: &BtfType,
    target: &Btf,
    t: &BtfType,
) -> Result<bool, CoreFailure> {
    let ln = essential_name(local.string(l.name_off)?);
    let tn = essential_name(target.string(t.name_off)?);
    Ok(ln.is_empty() || tn.is_empty() || ln == tn)
}

/// Field compatibility: any two structs/unions, pointers, floats; enums and fwds by
/// name; ints except the old bitfield-like ones; arrays by element.
pub fn fields_are_compat(
    local: &Btf,
    mut local_id: u32,
    target: &Btf,
    mut target_id: u32,
) -> Result<bool, CoreFailure> {
    for _ in 0..MAX_DEPTH {
        let (_, l) = resolved(local, local_id)?;
        let (_, t) = resolved(target, target_id)?;
        let (Some(l), Some(t)) = (l, t) else {
            return Ok(false);
        };
        let composite = |ty: &BtfType| members(ty).is_some();
        if composite(l) && composite(t) {
            return Ok(true);
        }
        if !kinds_compatible(l, t) {
            return Ok(false);
        }
        match (&l.kind, &t.kind) {
            (BtfKind::Ptr { .. }, _) | (BtfKind::Float { .. }, _) => return Ok(true),
            (BtfKind::Fwd { .. } | BtfKind::Enum { .. } | BtfKind::Enum64 { .. }, _) => {
                return names_compatible(local, l, target, t)
            }
            (BtfKind::Int { encoding: le, .. }, BtfKind::Int { encoding: te, .. }) => {
                return Ok(int_offset(*le) == 0 && int_offset(*te) == 0)
            }
            (BtfKind::Array { elem: le, .. }, BtfKind::Array { elem: te, .. }) => {
                local_id = *le;
                target_id = *te;
            }
            _ => return Ok(false),
        }
    }
    Err(too_deep())
}

/// Finds the member `local_acc` names inside `target_id`, looking through anonymous
/// members, extending `spec` on the way. `Ok(Some(member type))` when found and
/// compatible.
fn match_member(
    local: &Btf,
    local_acc: &Accessor,
    target: &Btf,
    target_id: u32,
    spec: &mut Spec,
) -> Result<Option<u32>, CoreFailure> {
    let (target_id, t) = resolved(target, target_id)?;
    let Some(t) = t else {
        return Ok(None);
    };
    let Some(target_members) = members(t) else {
        return Ok(None);
    };
    let local_member = local
        .get(local_acc.type_id)
        .and_then(members)
        .and_then(|m| m.get(local_acc.index as usize))
        .ok_or(CoreFailure::BadTypeId(local_acc.type_id))?;
    let local_name = local_acc.name.as_deref().unwrap_or("");
    for (index, member) in target_members.iter().enumerate() {
        if spec.raw.len() >= MAX_SPEC_LEN {
            return Err(CoreFailure::NotApplicable(
                "the kernel's type nests deeper than 64 levels".to_string(),
            ));
        }
        let bit_offset = u64::from(member_bit_offset(t, member));
        let saved = spec.bit_offset;
        spec.bit_offset = spec.bit_offset.saturating_add(bit_offset);
        spec.raw.push(index as u32);
        let name = target.string(member.name_off)?;
        if name.is_empty() {
            if let Some(found) = match_member(local, local_acc, target, member.type_id, spec)? {
                return Ok(Some(found));
            }
        } else if name == local_name {
            if !fields_are_compat(local, local_member.type_id, target, member.type_id)? {
                return Ok(None);
            }
            spec.accessors.push(Accessor {
                type_id: target_id,
                index: index as u32,
                name: Some(name.to_string()),
            });
            return Ok(Some(member.type_id));
        }
        spec.bit_offset = saved;
        spec.raw.pop();
    }
    Ok(None)
}

/// Matches the local spec of a field or enum relocation against candidate `target_id`:
/// the target spec, or `None` when the candidate does not have the access.
pub fn spec_match(
    local_spec: &Spec,
    local: &Btf,
    target: &Btf,
    target_id: u32,
) -> Result<Option<Spec>, CoreFailure> {
    let mut spec = Spec::empty(target_id, local_spec.kind);
    if local_spec.kind.is_type() {
        let matched = if local_spec.kind == super::CoreKind::TypeMatches {
            types_match(local, local_spec.root_type_id, target, target_id)?
        } else {
            types_are_compat(local, local_spec.root_type_id, target, target_id)?
        };
        return Ok(matched.then_some(spec));
    }
    let first = local_spec
        .accessors
        .first()
        .ok_or_else(|| CoreFailure::BadAccess("empty spec".to_string()))?;
    if local_spec.kind.is_enumval() {
        let (id, t) = resolved(target, target_id)?;
        let Some(t) = t else {
            return Ok(None);
        };
        let want = essential_name(first.name.as_deref().unwrap_or(""));
        for index in 0..enum_len(t).unwrap_or(0) as u32 {
            let Some(name_off) = enum_entry(t, index) else {
                continue;
            };
            let name = target.string(name_off)?;
            if essential_name(name) == want {
                spec.accessors.push(Accessor {
                    type_id: id,
                    index,
                    name: Some(name.to_string()),
                });
                spec.raw.push(index);
                return Ok(Some(spec));
            }
        }
        return Ok(None);
    }
    let mut id = target_id;
    for (position, local_acc) in local_spec.accessors.iter().enumerate() {
        let (current, t) = resolved(target, id)?;
        if local_acc.name.is_some() {
            match match_member(local, local_acc, target, current, &mut spec)? {
                Some(next) => id = next,
                None => return Ok(None),
            }
            continue;
        }
        let mut elem_id = current;
        if position > 0 {
            let Some(BtfKind::Array { elem, nelems, .. }) = t.map(|t| &t.kind) else {
                return Ok(None);
            };
            if !is_flex_array(target, spec.accessors.last(), *nelems) && local_acc.index >= *nelems
            {
                return Ok(None);
            }
            elem_id = resolved(target, *elem)?.0;
        }
        if spec.raw.len() >= MAX_SPEC_LEN {
            return Err(CoreFailure::NotApplicable(
                "the kernel's type nests deeper than 64 levels".to_string(),
            ));
        }
        spec.accessors.push(Accessor {
            type_id: elem_id,
            index: local_acc.index,
            name: None,
        });
        spec.raw.push(local_acc.index);
        spec.bit_offset = add_elements(
            spec.bit_offset,
            local_acc.index,
            target.resolve_size(elem_id)?,
        )?;
        id = elem_id;
    }
    Ok(Some(spec))
}

/// Names match for TYPE_MATCHES: an anonymous target matches only an anonymous local.
fn names_match(
    local: &Btf,
    local_off: u32,
    target: &Btf,
    target_off: u32,
) -> Result<bool, CoreFailure> {
    let ln = local.string(local_off)?;
    let tn = target.string(target_off)?;
    if tn.is_empty() {
        return Ok(ln.is_empty());
    }
    Ok(essential_name(ln) == essential_name(tn))
}

/// TYPE_MATCHES (`bpf_core_type_matches`): a stricter, structural match. Members by
/// name and recursively by type (only by kind behind a pointer), enums by enumerator
/// names and size, ints by size and signedness, arrays by length.
pub fn types_match(
    local: &Btf,
    local_id: u32,
    target: &Btf,
    target_id: u32,
) -> Result<bool, CoreFailure> {
    types_match_at(local, local_id, target, target_id, false, MAX_DEPTH)
}

fn types_match_at(
    local: &Btf,
    mut local_id: u32,
    target: &Btf,
    mut target_id: u32,
    mut behind_ptr: bool,
    level: u32,
) -> Result<bool, CoreFailure> {
    if level == 0 {
        return Err(too_deep());
    }
    for _ in 0..MAX_DEPTH {
        let (_, l) = resolved(local, local_id)?;
        let (_, t) = resolved(target, target_id)?;
        let (l, t) = match (l, t) {
            (None, None) => return Ok(true),
            (Some(l), Some(t)) => (l, t),
            _ => return Ok(false),
        };
        if !names_match(local, l.name_off, target, t.name_off)? {
            return Ok(false);
        }
        let same_kind = std::mem::discriminant(&l.kind) == std::mem::discriminant(&t.kind);
        match (&l.kind, &t.kind) {
            (BtfKind::Fwd { is_union: lu }, _) => {
                return Ok(match &t.kind {
                    BtfKind::Fwd { is_union: tu } => lu == tu,
                    BtfKind::Struct { .. } if behind_ptr => !lu,
                    BtfKind::Union { .. } if behind_ptr => *lu,
                    _ => false,
                })
            }
            (BtfKind::Enum { size: ls, .. } | BtfKind::Enum64 { size: ls, .. }, _) => {
                let (BtfKind::Enum { size: ts, .. } | BtfKind::Enum64 { size: ts, .. }) = &t.kind
                else {
                    return Ok(false);
                };
                return enums_match(local, l, *ls, target, t, *ts);
            }
            (BtfKind::Struct { .. } | BtfKind::Union { .. }, _) => {
                if behind_ptr {
                    return Ok(match &t.kind {
                        _ if same_kind => true,
                        BtfKind::Fwd { is_union } => {
                            matches!(l.kind, BtfKind::Union { .. }) == *is_union
                        }
                        _ => false,
                    });
                }
                if !same_kind {
                    return Ok(false);
                }
                return composites_match(local, l, target, t, behind_ptr, level);
            }
            (
                BtfKind::Int {
                    size: ls,
                    encoding: le,
                },
                BtfKind::Int {
                    size: ts,
                    encoding: te,
                },
            ) => return Ok(ls == ts && int_signed(*le) == int_signed(*te)),
            (BtfKind::Ptr { target: lt }, BtfKind::Ptr { target: tt }) => {
                behind_ptr = true;
                local_id = *lt;
                target_id = *tt;
            }
            (
                BtfKind::Array {
                    elem: le,
                    nelems: ln,
                    ..
                },
                BtfKind::Array {
                    elem: te,
                    nelems: tn,
                    ..
                },
            ) => {
                if ln != tn {
                    return Ok(false);
                }
                local_id = *le;
                target_id = *te;
            }
            (
                BtfKind::FuncProto {
                    ret: lr,
                    params: lp,
                },
                BtfKind::FuncProto {
                    ret: tr,
                    params: tp,
                },
            ) => {
                if lp.len() != tp.len() {
                    return Ok(false);
                }
                for (&(_, lparam), &(_, tparam)) in lp.iter().zip(tp) {
                    if !types_match_at(local, lparam, target, tparam, behind_ptr, level - 1)? {
                        return Ok(false);
                    }
                }
                local_id = *lr;
                target_id = *tr;
            }
            _ => return Ok(false),
        }
    }
    Err(too_deep())
}

fn enum_names(ty: &BtfType) -> Vec<u32> {
    match &ty.kind {
        BtfKind::Enum { values, .. } => values.iter().map(|(name, _)| *name).collect(),
        BtfKind::Enum64 { values, .. } => values.iter().map(|(name, _)| *name).collect(),
        _ => Vec::new(),
    }
}

fn enums_match(
    local: &Btf,
    l: &BtfType,
    local_size: u32,
    target: &Btf,
    t: &BtfType,
    target_size: u32,
) -> Result<bool, CoreFailure> {
    let (ln, tn) = (enum_names(l), enum_names(t));
    if local_size != target_size || ln.len() > tn.len() {
        return Ok(false);
    }
    for local_name in ln {
        let mut matched = false;
        for &target_name in &tn {
            if names_match(local, local_name, target, target_name)? {
                matched = true;
                break;
            }
        }
        if !matched {
            return Ok(false);
        }
    }
    Ok(true)
}

fn composites_match(
    local: &Btf,
    l: &BtfType,
    target: &Btf,
    t: &BtfType,
    behind_ptr: bool,
    level: u32,
) -> Result<bool, CoreFailure> {
    let (Some(lm), Some(tm)) = (members(l), members(t)) else {
        return Ok(false);
    };
    if lm.len() > tm.len() {
        return Ok(false);
    }
    for local_member in lm {
        let mut matched = false;
        for target_member in tm {
            if !names_match(local, local_member.name_off, target, target_member.name_off)? {
                continue;
            }
            if types_match_at(
                local,
                local_member.type_id,
                target,
                target_member.type_id,
                behind_ptr,
                level - 1,
            )? {
                matched = true;
                break;
            }
        }
        if !matched {
            return Ok(false);
        }
    }
    Ok(true)
}
