//! Candidate target types for a local type: same kind (enum and enum64 mix) and same
//! essential name, as libbpf's `bpf_core_add_cands`. The caller searches vmlinux
//! first and module BTF only when vmlinux has no candidate (`bpf_core_find_cands`).

use super::CoreFailure;
use crate::btf::{Btf, BtfKind, BtfType};

/// The name without its flavour: `task_struct___old` -> `task_struct`. The flavour is
/// what follows the last `___` that has a non-underscore on each side, so a local
/// struct can stand for one of several shapes of the same kernel type.
pub fn essential_name(name: &str) -> &str {
    name.get(..essential_len(name.as_bytes())).unwrap_or(name)
}

/// The length of [`essential_name`], on bytes.
fn essential_len(bytes: &[u8]) -> usize {
    let Some(last) = bytes.len().checked_sub(5) else {
        return bytes.len();
    };
    // `X___Y` with X and Y not underscores, the last one in the name.
    (0..=last)
        .rev()
        .find(|&i| {
            matches!(bytes.get(i..i + 5), Some([x, b'_', b'_', b'_', y]) if *x != b'_' && *y != b'_')
        })
        .map_or(bytes.len(), |i| i + 1)
}

/// Whether the name at the start of `tail` (a string table from a name's offset on) has
/// `want` as its essential name. The first byte is compared inline and the name's end is
/// looked for only after a prefix match: over the kernel's 100,000 names, the first
/// byte alone settles almost all.
fn names_match(tail: &[u8], want: &[u8]) -> bool {
    if tail.first() != want.first() || !tail.starts_with(want) {
        return false;
    }
    let name = tail.split(|&b| b == 0).next().unwrap_or(tail);
    essential_len(name) == want.len()
}

/// Whether two types are of kinds CO-RE may match: the same kind, or any two enums.
pub(crate) fn kinds_compatible(a: &BtfType, b: &BtfType) -> bool {
    let any_enum = |ty: &BtfType| matches!(ty.kind, BtfKind::Enum { .. } | BtfKind::Enum64 { .. });
    std::mem::discriminant(&a.kind) == std::mem::discriminant(&b.kind)
        || (any_enum(a) && any_enum(b))
}

/// The local type of a relocation and its essential name; anonymous types have none.
fn local_root(local: &Btf, local_id: u32) -> Result<(&BtfType, &str), CoreFailure> {
    let ty = local
        .get(local_id)
        .ok_or(CoreFailure::BadTypeId(local_id))?;
    let name = essential_name(local.string(ty.name_off)?);
    if name.is_empty() {
        return Err(CoreFailure::AnonymousType);
    }
    Ok((ty, name))
}

/// [`find_candidates`] for several local types in one pass over `target`: the kernel's
/// table is 6 MB of types, so one scan for all the root types of an object costs what
/// one scan for a single type does. The results are in the order of `local_ids`.
pub fn find_candidates_many(
    local: &Btf,
    local_ids: &[u32],
    target: &Btf,
    first_id: u32,
) -> Vec<Result<Vec<u32>, CoreFailure>> {
    let roots: Vec<Result<(&BtfType, &str), CoreFailure>> =
        local_ids.iter().map(|&id| local_root(local, id)).collect();
    let mut found: Vec<Vec<u32>> = vec![Vec::new(); local_ids.len()];
    for (id, ty) in target.types_from(first_id) {
        if ty.name_off == 0 {
            continue;
        }
        // Most of the kernel's types are functions and prototypes no root asks for:
        // the kind test first spares looking up their names at all.
        if !roots.iter().any(|root| {
            root.as_ref()
                .is_ok_and(|(local_ty, _)| kinds_compatible(ty, local_ty))
        }) {
            continue;
        }
        let Some(name) = target.string_tail(ty.name_off) else {
            continue;
        };
        for (index, root) in roots.iter().enumerate() {
            let Ok((local_ty, want)) = root else {
                continue;
            };
            if names_match(name, want.as_bytes()) && kinds_compatible(ty, local_ty) {
                found[index].push(id);
            }
        }
    }
    roots
        .into_iter()
        .zip(found)
        .map(|(root, ids)| root.map(|_| ids))
        .collect()
}

/// The ids from `first_id` on in `target` that are candidates for `local_id` of `local`,
/// in id order. `first_id` is 1 for vmlinux and the first module id for split BTF (the
/// base's types are searched as vmlinux).
pub fn find_candidates(
    local: &Btf,
    local_id: u32,
    target: &Btf,
    first_id: u32,
) -> Result<Vec<u32>, CoreFailure> {
    let (local_ty, name) = local_root(local, local_id)?;
    Ok(target
        .types_from(first_id)
        .filter(|(_, ty)| ty.name_off != 0 && kinds_compatible(ty, local_ty))
        .filter(|(_, ty)| {
            // Bytes, not `str`: this runs over every type of the kernel's BTF, and a
            // prefix test first skips almost all of them.
            target
                .string_tail(ty.name_off)
                .is_some_and(|found| names_match(found, name.as_bytes()))
        })
        .map(|(id, _)| id)
        .collect())
}
