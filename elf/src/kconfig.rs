//! `.kconfig` externs (`extern int LINUX_KERNEL_VERSION __kconfig;`): where each lives
//! in the `.kconfig` map and what type of value it takes, as libbpf lays them out
//! (`bpf_object__collect_externs`). The values come from the running kernel, so the
//! loader writes them; this module only says where and how.

use crate::btf::{Btf, BtfError, BtfKind};
use crate::error::ParseError;

/// The DATASEC clang puts `__kconfig` externs in.
pub const KCONFIG_SECTION: &str = ".kconfig";

/// `BTF_VAR_GLOBAL_ALLOCATED`: what an extern becomes once the loader gives it a place.
const VAR_GLOBAL_ALLOCATED: u32 = 1;
/// `BTF_INT_ENCODING` bits of an INT's encoding word (include/uapi/linux/btf.h).
const BTF_INT_SIGNED: u32 = 1 << 0;
const BTF_INT_BOOL: u32 = 1 << 2;

/// The type of value a `.kconfig` extern takes (libbpf's `enum kcfg_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KconfigType {
    /// `bool`: `y` is 1, `n` is 0.
    Bool,
    /// `char`: the option's letter.
    Char,
    /// `enum libbpf_tristate`: `y` 1, `m` 2, `n` 0.
    Tristate,
    /// An integer of the extern's size.
    Int { signed: bool },
    /// `char[N]`: a string option, NUL-terminated, cut to fit.
    CharArray,
}

/// One `.kconfig` extern: its name, its place in the map's value, and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KconfigExtern {
    pub name: String,
    pub offset: u32,
    pub size: u32,
    pub kind: KconfigType,
    /// `__weak`: a value the kernel lacks is 0 instead of an error.
    pub weak: bool,
}

fn refused(name: &str, reason: impl Into<String>) -> ParseError {
    ParseError::Symbol {
        section: KCONFIG_SECTION.to_string(),
        symbol: name.to_string(),
        reason: reason.into(),
    }
}

/// The type and alignment of a value of BTF type `type_id`, as libbpf's `find_kcfg_type`
/// and `btf__align_of` see them; `None` for a type a config value cannot have.
fn kconfig_type(btf: &Btf, type_id: u32) -> Result<Option<(KconfigType, u32)>, BtfError> {
    let id = btf.skip_modifiers(type_id)?;
    let Some(ty) = btf.get(id) else {
        return Ok(None);
    };
    Ok(match &ty.kind {
        BtfKind::Int { size, encoding } => {
            let bits = encoding >> 24;
            // As libbpf's find_kcfg_type: any other one-byte integer is a char.
            let kind = match (*size, bits) {
                (1, bits) if bits & BTF_INT_BOOL != 0 => KconfigType::Bool,
                (1, _) => KconfigType::Char,
                (2 | 4 | 8, bits) if bits & BTF_INT_BOOL == 0 => KconfigType::Int {
                    signed: bits & BTF_INT_SIGNED != 0,
                },
                _ => return Ok(None),
            };
            Some((kind, *size))
        }
        BtfKind::Enum { size: 4, .. } if btf.string(ty.name_off)? == "libbpf_tristate" => {
            Some((KconfigType::Tristate, 4))
        }
        BtfKind::Array { elem, .. } => {
            let elem = btf.skip_modifiers(*elem)?;
            match btf.get(elem).map(|ty| &ty.kind) {
                Some(BtfKind::Int { size: 1, encoding })
                    if (encoding >> 24) & BTF_INT_BOOL == 0 =>
                {
                    Some((KconfigType::CharArray, 1))
                }
                _ => None,
            }
        }
        _ => None,
    })
}

/// Lays out the `.kconfig` externs of `btf` as libbpf does (sorted by alignment, largest
/// first, then size, then name; each at the next offset its alignment allows) and writes
/// the layout into the DATASEC, whose variables become allocated ones, as the kernel
/// wants them. `is_weak(name)` says whether the ELF symbol is `__weak`. Returns the
/// externs and the map value's size; none when the object has no `.kconfig`.
pub fn collect_kconfig(
    btf: &mut Btf,
    is_weak: impl Fn(&str) -> bool,
) -> Result<(Vec<KconfigExtern>, u32), ParseError> {
    let Some(datasec_id) = btf.find_datasec(KCONFIG_SECTION) else {
        return Ok((Vec::new(), 0));
    };
    let Some(BtfKind::Datasec { vars, .. }) = btf.get(datasec_id).map(|ty| ty.kind.clone()) else {
        return Ok((Vec::new(), 0));
    };
    // Each extern with its alignment, which orders and places it but is not kept.
    let mut aligned = Vec::with_capacity(vars.len());
    for var in &vars {
        let Some(var_ty) = btf.get(var.type_id) else {
            return Err(ParseError::Btf(BtfError::BadTypeId {
                type_id: var.type_id,
                referenced_by: datasec_id,
            }));
        };
        let name = btf.string(var_ty.name_off)?.to_string();
        let BtfKind::Var { target, .. } = var_ty.kind else {
            return Err(refused(
                &name,
                "a __kconfig extern must be a variable, not a function",
            ));
        };
        let size = btf.resolve_size(target)?;
        let Some((kind, align)) = kconfig_type(btf, target)? else {
            return Err(refused(
                &name,
                "a __kconfig extern must be a bool, char, enum libbpf_tristate, integer or char array",
            ));
        };
        if size == 0 {
            return Err(refused(&name, "a __kconfig extern cannot have size 0"));
        }
        let ext = KconfigExtern {
            weak: is_weak(&name),
            name,
            offset: 0,
            size,
            kind,
        };
        aligned.push((ext, align));
    }
    aligned.sort_by(|(a, a_align), (b, b_align)| {
        b_align
            .cmp(a_align)
            .then(a.size.cmp(&b.size))
            .then_with(|| a.name.cmp(&b.name))
    });
    let mut end = 0u32;
    let mut externs = Vec::with_capacity(aligned.len());
    for (mut ext, align) in aligned {
        let offset = end.div_ceil(align).checked_mul(align);
        let next = offset.and_then(|offset| offset.checked_add(ext.size));
        let (Some(offset), Some(next)) = (offset, next) else {
            return Err(refused(
                &ext.name,
                "the .kconfig externs do not fit in 4 GiB",
            ));
        };
        ext.offset = offset;
        end = next;
        externs.push(ext);
    }
    // The DATASEC and its variables, as libbpf rewrites them before loading the BTF.
    let mut placed = vars.clone();
    for var in &mut placed {
        let name = btf.name(var.type_id)?.to_string();
        if let Some(ext) = externs.iter().find(|ext| ext.name == name) {
            var.offset = ext.offset;
            var.size = ext.size;
        }
        if let Some(ty) = btf.get_mut(var.type_id) {
            if let BtfKind::Var { linkage, .. } = &mut ty.kind {
                *linkage = VAR_GLOBAL_ALLOCATED;
            }
        }
    }
    placed.sort_by_key(|var| var.offset);
    if let Some(ty) = btf.get_mut(datasec_id) {
        ty.kind = BtfKind::Datasec {
            size: end,
            vars: placed,
        };
    }
    Ok((externs, end))
}
