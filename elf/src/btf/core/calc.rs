//! The value a relocated instruction gets, as libbpf's `bpf_core_calc_relo_insn`:
//! the local value (what clang wrote, checked before patching) and the target value
//! for each matching candidate, which must all agree. No candidate that matches
//! poisons the instruction (existence checks excepted: they become 0).

use super::matching::spec_match;
use super::spec::{members, parse_spec, resolved, Spec};
use super::{type_label, Candidate, CoreFailure, CoreKind};
use crate::btf::{Btf, BtfKind};

/// What a relocation resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub kind: CoreKind,
    /// The access in the object's BTF.
    pub local_spec: Spec,
    /// `struct task_struct.pid`: the local access as C spells it.
    pub local_description: String,
    /// The value the compiler put in the instruction (checked when `validate`).
    pub orig_value: u64,
    /// The value for the running kernel; meaningless when `poison` is set.
    pub new_value: u64,
    /// No candidate has it: the instruction becomes `call 0xbad2310`.
    pub poison: bool,
    /// Why it is poisoned, for `-dump` and the verifier's complaint.
    pub poison_reason: Option<String>,
    /// Whether the instruction must hold `orig_value` before it is patched.
    pub validate: bool,
    /// Memory access sizes of a FIELD_BYTE_OFFSET load or store, local and target.
    pub orig_size: u32,
    pub new_size: u32,
    /// The sizes differ and the types do not allow changing the load's size.
    pub fail_memsz_adjust: bool,
    /// The candidate that matched first: where it is and what it reached.
    pub target: Option<TargetMatch>,
}

/// The target a relocation resolved against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetMatch {
    /// `vmlinux` or the module's name.
    pub origin: String,
    pub type_id: u32,
    pub description: String,
}

/// One side's value: local or target.
enum Calc {
    Value {
        value: u64,
        validate: bool,
        size: u32,
        type_id: u32,
    },
    Poison,
}

fn value(value: u64, validate: bool) -> Calc {
    Calc::Value {
        value,
        validate,
        size: 0,
        type_id: 0,
    }
}

/// The size of the elements at the bottom of nested arrays of `type_id`.
fn element_size(btf: &Btf, type_id: u32) -> Result<(u32, u32), CoreFailure> {
    let (mut id, mut ty) = resolved(btf, type_id)?;
    for _ in 0..super::spec::MAX_SPEC_LEN {
        match ty.map(|ty| &ty.kind) {
            Some(BtfKind::Array { elem, .. }) => (id, ty) = resolved(btf, *elem)?,
            _ => return Ok((btf.resolve_size(id)?, id)),
        }
    }
    Err(CoreFailure::NotApplicable(
        "arrays nest too deep".to_string(),
    ))
}

fn calc_field(kind: CoreKind, side: Option<(&Btf, &Spec)>) -> Result<Calc, CoreFailure> {
    if kind == CoreKind::FieldExists {
        return Ok(value(u64::from(side.is_some()), true));
    }
    let Some((btf, spec)) = side else {
        return Ok(Calc::Poison);
    };
    let last = spec
        .accessors
        .last()
        .ok_or_else(|| CoreFailure::BadAccess("empty spec".to_string()))?;
    if last.name.is_none() {
        // The access ends on an array element (or the root): offset and size only.
        let calc = match kind {
            CoreKind::FieldByteOffset => {
                let (size, _) = element_size(btf, last.type_id)?;
                Calc::Value {
                    value: spec.bit_offset / 8,
                    validate: true,
                    size,
                    type_id: last.type_id,
                }
            }
            CoreKind::FieldByteSize => value(u64::from(btf.resolve_size(last.type_id)?), true),
            _ => {
                return Err(CoreFailure::NotApplicable(format!(
                    "{kind} cannot apply to an array element"
                )))
            }
        };
        return Ok(calc);
    }
    let parent = btf
        .get(last.type_id)
        .ok_or(CoreFailure::BadTypeId(last.type_id))?;
    let member = members(parent)
        .and_then(|m| m.get(last.index as usize))
        .ok_or(CoreFailure::BadTypeId(last.type_id))?;
    let (field_type_id, field_type) = resolved(btf, member.type_id)?;
    let bit_off = spec.bit_offset;
    let mut bit_sz = u64::from(super::spec::member_bitfield_size(parent, member));
    let bitfield = bit_sz > 0;
    let (byte_off, byte_sz) = if bitfield {
        let mut byte_sz = match field_type.map(|ty| &ty.kind) {
            Some(BtfKind::Int { size, .. })
            | Some(BtfKind::Enum { size, .. })
            | Some(BtfKind::Enum64 { size, .. }) => u64::from(*size),
            _ => 0,
        };
        if byte_sz == 0 {
            return Err(CoreFailure::NotApplicable(
                "a bitfield whose type is not an integer".to_string(),
            ));
        }
        let mut byte_off = bit_off / 8 / byte_sz * byte_sz;
        // The smallest load that holds the whole bitfield.
        while bit_off.saturating_add(bit_sz) - byte_off * 8 > byte_sz * 8 {
            if byte_sz >= 8 {
                return Err(CoreFailure::NotApplicable(
                    "the bitfield cannot be read with one 64-bit load".to_string(),
                ));
            }
            byte_sz *= 2;
            byte_off = bit_off / 8 / byte_sz * byte_sz;
        }
        (byte_off, byte_sz)
    } else {
        let byte_sz = u64::from(btf.resolve_size(field_type_id)?);
        bit_sz = byte_sz * 8;
        (bit_off / 8, byte_sz)
    };
    // For bitfields the compiler's choice of load may differ from ours: only
    // signedness and the right shift are certain enough to check.
    let validate = !bitfield;
    Ok(match kind {
        CoreKind::FieldByteOffset => {
            let (size, type_id) = if bitfield {
                (0, 0)
            } else {
                let (size, _) = element_size(btf, field_type_id)?;
                (size, field_type_id)
            };
            Calc::Value {
                value: byte_off,
                validate,
                size,
                type_id,
            }
        }
        CoreKind::FieldByteSize => value(byte_sz, validate),
        CoreKind::FieldSigned => {
            let signed = match field_type {
                Some(ty) => match ty.kind {
                    BtfKind::Enum { .. } | BtfKind::Enum64 { .. } => ty.kind_flag,
                    BtfKind::Int { encoding, .. } => (encoding >> 24) & 1 == 1,
                    _ => false,
                },
                None => false,
            };
            value(u64::from(signed), true)
        }
        // Little-endian: shift the field's top bit up to bit 63.
        CoreKind::FieldLshiftU64 => value(
            64u64.wrapping_sub(bit_off.wrapping_add(bit_sz).wrapping_sub(byte_off * 8)),
            validate,
        ),
        CoreKind::FieldRshiftU64 => value(64u64.wrapping_sub(bit_sz), true),
        _ => return Err(CoreFailure::UnknownKind(kind as u32)),
    })
}

fn calc_type(kind: CoreKind, side: Option<(&Btf, &Spec)>) -> Result<Calc, CoreFailure> {
    let Some((btf, spec)) = side else {
        return Ok(value(0, true));
    };
    Ok(match kind {
        // Type ids change when objects are linked: checking them is pointless.
        CoreKind::TypeIdTarget => value(u64::from(spec.root_type_id), false),
        CoreKind::TypeExists | CoreKind::TypeMatches => value(1, true),
        CoreKind::TypeSize => value(u64::from(btf.resolve_size(spec.root_type_id)?), true),
        _ => return Err(CoreFailure::UnknownKind(kind as u32)),
    })
}

fn calc_enumval(kind: CoreKind, side: Option<(&Btf, &Spec)>) -> Result<Calc, CoreFailure> {
    match kind {
        CoreKind::EnumvalExists => Ok(value(u64::from(side.is_some()), true)),
        CoreKind::EnumvalValue => {
            let Some((btf, spec)) = side else {
                return Ok(Calc::Poison);
            };
            let accessor = spec
                .accessors
                .first()
                .ok_or_else(|| CoreFailure::BadAccess("empty spec".to_string()))?;
            let ty = btf
                .get(accessor.type_id)
                .ok_or(CoreFailure::BadTypeId(accessor.type_id))?;
            let index = accessor.index as usize;
            let found = match &ty.kind {
                // A 32-bit enumerator widens as libbpf's s32 -> u64 does: sign-extended.
                BtfKind::Enum { values, .. } => values.get(index).map(|(_, v)| *v as i64 as u64),
                BtfKind::Enum64 { values, .. } => values.get(index).map(|(_, v)| *v),
                _ => None,
            };
            found
                .map(|v| value(v, true))
                .ok_or_else(|| CoreFailure::BadAccess("no such enumerator".to_string()))
        }
        _ => Err(CoreFailure::UnknownKind(kind as u32)),
    }
}

/// Whether a load of `orig` may be resized to one of `new` (`bpf_core_calc_relo`): two
/// pointers (a 32-bit kernel's), or two unsigned ints (zero extension keeps the value).
fn resize_allowed(local: &Btf, orig: u32, target: &Btf, new: u32) -> bool {
    let unsigned_int = |ty: Option<&crate::btf::BtfType>| matches!(ty.map(|t| &t.kind), Some(BtfKind::Int { encoding, .. }) if (encoding >> 24) & 0x0f != 1);
    let pointer =
        |ty: Option<&crate::btf::BtfType>| matches!(ty.map(|t| &t.kind), Some(BtfKind::Ptr { .. }));
    let (o, n) = (local.get(orig), target.get(new));
    (pointer(o) && pointer(n)) || (unsigned_int(o) && unsigned_int(n))
}

/// One candidate's (or no candidate's) result.
struct Outcome {
    orig: u64,
    new: u64,
    poison: bool,
    validate: bool,
    orig_size: u32,
    new_size: u32,
    fail_memsz_adjust: bool,
}

fn calc_relo(
    kind: CoreKind,
    local: &Btf,
    local_spec: &Spec,
    target: Option<(&Btf, &Spec)>,
) -> Result<Outcome, CoreFailure> {
    let calc = if kind.is_field() {
        calc_field
    } else if kind.is_type() {
        calc_type
    } else {
        calc_enumval
    };
    let Calc::Value {
        value: orig,
        validate,
        size: orig_size,
        type_id: orig_type,
    } = calc(kind, Some((local, local_spec)))?
    else {
        return Err(CoreFailure::NotApplicable(
            "the local access does not resolve".to_string(),
        ));
    };
    let mut outcome = Outcome {
        orig,
        new: 0,
        poison: false,
        validate,
        orig_size,
        new_size: 0,
        fail_memsz_adjust: false,
    };
    match calc(kind, target)? {
        Calc::Poison => outcome.poison = true,
        Calc::Value {
            value,
            size,
            type_id,
            ..
        } => {
            outcome.new = value;
            outcome.new_size = size;
            if kind.is_field() && orig_size != size {
                let target_btf = target.map_or(local, |(btf, _)| btf);
                outcome.fail_memsz_adjust = !resize_allowed(local, orig_type, target_btf, type_id);
            }
        }
    }
    Ok(outcome)
}

fn describe_outcome(outcome: &Outcome) -> String {
    if outcome.poison {
        "poisoned".to_string()
    } else {
        outcome.new.to_string()
    }
}

/// Why nothing matched, in words: `vmlinux's struct task_struct has no field pid`.
fn poison_reason(local: &Btf, spec: &Spec, candidates: &[Candidate<'_>]) -> String {
    let label = type_label(local, spec.root_type_id);
    let Some(first) = candidates.first() else {
        return format!("the kernel's BTF has no {label}");
    };
    let theirs = format!(
        "{}'s {}",
        first.origin,
        type_label(first.btf, first.type_id)
    );
    let path: Vec<String> = spec
        .accessors
        .iter()
        .skip(usize::from(spec.kind.is_field()))
        .map(|acc| match &acc.name {
            Some(name) => super::essential_name(name).to_string(),
            None => format!("[{}]", acc.index),
        })
        .collect();
    if spec.kind.is_enumval() {
        format!("{theirs} has no value {}", path.join(""))
    } else {
        format!(
            "{theirs} has no field {} of a compatible type",
            path.join(".")
        )
    }
}

/// Resolves relocation `kind` of `type_id` with `access` (a `.BTF.ext` record) of the
/// object's BTF `local` against `candidates` (from [`super::find_candidates`]; none is
/// fine for TYPE_ID_LOCAL).
pub fn resolve(
    local: &Btf,
    type_id: u32,
    access: &str,
    kind: u32,
    candidates: &[Candidate<'_>],
) -> Result<Resolution, CoreFailure> {
    let kind = CoreKind::from_u32(kind).ok_or(CoreFailure::UnknownKind(kind))?;
    let local_spec = parse_spec(local, type_id, access, kind)?;
    let local_description = local_spec.describe(local);
    let mut resolution = Resolution {
        kind,
        local_description,
        orig_value: 0,
        new_value: 0,
        poison: false,
        poison_reason: None,
        validate: true,
        orig_size: 0,
        new_size: 0,
        fail_memsz_adjust: false,
        target: None,
        local_spec,
    };
    if kind == CoreKind::TypeIdLocal {
        // The object's own id, which its BTF keeps when loaded; linking may have changed
        // the immediate, so it is not checked.
        resolution.orig_value = u64::from(type_id);
        resolution.new_value = u64::from(type_id);
        resolution.validate = false;
        return Ok(resolution);
    }
    if local.name(type_id)?.is_empty() {
        return Err(CoreFailure::AnonymousType);
    }
    let spec = &resolution.local_spec;
    let mut chosen: Option<(Outcome, Spec)> = None;
    for candidate in candidates {
        let Some(target_spec) = spec_match(spec, local, candidate.btf, candidate.type_id)? else {
            continue;
        };
        let outcome = calc_relo(kind, local, spec, Some((candidate.btf, &target_spec)))?;
        match &chosen {
            None => {
                resolution.target = Some(TargetMatch {
                    origin: candidate.origin.to_string(),
                    type_id: candidate.type_id,
                    description: target_spec.describe(candidate.btf),
                });
                chosen = Some((outcome, target_spec));
            }
            Some((first, first_spec)) => {
                if first_spec.bit_offset != target_spec.bit_offset {
                    return Err(CoreFailure::Ambiguous {
                        first: format!("bit offset {}", first_spec.bit_offset),
                        second: format!("bit offset {}", target_spec.bit_offset),
                    });
                }
                if first.poison != outcome.poison || first.new != outcome.new {
                    return Err(CoreFailure::Ambiguous {
                        first: describe_outcome(first),
                        second: describe_outcome(&outcome),
                    });
                }
            }
        }
    }
    let outcome = match chosen {
        Some((outcome, _)) => outcome,
        None => {
            let outcome = calc_relo(kind, local, spec, None)?;
            if outcome.poison {
                resolution.poison_reason = Some(poison_reason(local, spec, candidates));
            }
            outcome
        }
    };
    resolution.orig_value = outcome.orig;
    resolution.new_value = outcome.new;
    resolution.poison = outcome.poison;
    resolution.validate = outcome.validate;
    resolution.orig_size = outcome.orig_size;
    resolution.new_size = outcome.new_size;
    resolution.fail_memsz_adjust = outcome.fail_memsz_adjust;
    Ok(resolution)
}
