//! `.ksyms` externs (`extern const struct rq runqueues __ksym;`, `extern int
//! bpf_dynptr_size(...) __ksym;`): kernel variables and kfuncs, which the loader finds in
//! the running kernel (BTF ids, or a /proc/kallsyms address for a typeless one). This
//! module says what each extern is and rewrites the `.ksyms` DATASEC as libbpf does
//! (`bpf_object__collect_externs`), so that the kernel accepts the object's BTF.

use crate::btf::core::essential_name;
use crate::btf::{Btf, BtfError, BtfKind, BtfType};
use crate::error::ParseError;

/// The DATASEC clang puts `__ksym` externs in.
pub const KSYMS_SECTION: &str = ".ksyms";

/// `BTF_VAR_GLOBAL_ALLOCATED`: what a ksym variable becomes in the rewritten DATASEC.
const VAR_GLOBAL_ALLOCATED: u32 = 1;
/// `BTF_FUNC_GLOBAL`: the linkage a kfunc's FUNC gets (clang says `BTF_FUNC_EXTERN`).
const FUNC_GLOBAL: u32 = 1;
/// The name of the variable that stands for every kfunc in the rewritten DATASEC
/// (libbpf's, so that `bpftool btf dump` shows the same).
const DUMMY_KSYM: &str = "dummy_ksym";

/// What a `__ksym` extern is, and what the kernel's has to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KsymKind {
    /// A kernel variable of a known type (`type_id`: the object's type, modifiers and
    /// typedefs skipped): its vmlinux or module VAR, by BTF id.
    Typed { type_id: u32 },
    /// `extern const void name __ksym;`: an address, from /proc/kallsyms.
    Typeless,
    /// A kfunc (`proto_id`: the object's FUNC_PROTO): its FUNC, by BTF id.
    Func { proto_id: u32 },
}

/// One `__ksym` extern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KsymExtern {
    pub name: String,
    pub kind: KsymKind,
    /// `__weak`: one the kernel lacks is address 0 (and its calls are left unreachable)
    /// instead of an error.
    pub weak: bool,
}

impl KsymExtern {
    /// The name the kernel's symbol has: a `___suffix` (a flavour, as in CO-RE) is not
    /// part of a kfunc's name. Variables keep theirs, as libbpf keeps them.
    pub fn kernel_name(&self) -> &str {
        match self.kind {
            KsymKind::Func { .. } => essential_name(&self.name),
            _ => &self.name,
        }
    }
}

fn refused(name: &str, reason: impl Into<String>) -> ParseError {
    ParseError::Symbol {
        section: KSYMS_SECTION.to_string(),
        symbol: name.to_string(),
        reason: reason.into(),
    }
}

/// The first 32-bit INT, which libbpf gives the rewritten variables as their type; one
/// is added when the object has none.
fn int_type(btf: &mut Btf) -> Result<u32, ParseError> {
    let found = btf.types().find(|(_, ty)| {
        // BTF_INT_BITS: the low byte of the encoding word.
        matches!(ty.kind, BtfKind::Int { encoding, .. } if encoding & 0xff == 32)
    });
    if let Some((type_id, _)) = found {
        return Ok(type_id);
    }
    let name_off = btf.add_string("int")?;
    Ok(btf.push_type(BtfType {
        name_off,
        kind_flag: false,
        kind: BtfKind::Int {
            size: 4,
            // BTF_INT_SIGNED in the encoding bits, 32 bits wide.
            encoding: (1 << 24) | 32,
        },
    })?)
}

/// The `.ksyms` externs of `btf`, and the DATASEC rewritten as libbpf rewrites it: each
/// entry 4 bytes at `4 * i`, variables allocated and typed `int`, kfuncs replaced by
/// one `dummy_ksym` variable, their FUNC linkage global and their unnamed parameters
/// named. `is_weak(name)` says whether the ELF symbol is `__weak`. None without `.ksyms`.
pub fn collect_ksyms(
    btf: &mut Btf,
    is_weak: impl Fn(&str) -> bool,
) -> Result<Vec<KsymExtern>, ParseError> {
    let Some(datasec_id) = btf.find_datasec(KSYMS_SECTION) else {
        return Ok(Vec::new());
    };
    let Some(BtfKind::Datasec { vars, .. }) = btf.get(datasec_id).map(|ty| ty.kind.clone()) else {
        return Ok(Vec::new());
    };
    let mut externs = Vec::with_capacity(vars.len());
    for var in &vars {
        let Some(ty) = btf.get(var.type_id) else {
            return Err(ParseError::Btf(BtfError::BadTypeId {
                type_id: var.type_id,
                referenced_by: datasec_id,
            }));
        };
        let name = btf.string(ty.name_off)?.to_string();
        let kind = match ty.kind {
            BtfKind::Var { target, .. } => match btf.skip_modifiers(target)? {
                0 => KsymKind::Typeless,
                type_id => KsymKind::Typed { type_id },
            },
            BtfKind::Func { proto, .. } => match btf.get(proto).map(|ty| &ty.kind) {
                Some(BtfKind::FuncProto { .. }) => KsymKind::Func { proto_id: proto },
                _ => return Err(refused(&name, "its FUNC has no FUNC_PROTO")),
            },
            _ => {
                return Err(refused(
                    &name,
                    "a __ksym extern must be a variable or a function",
                ))
            }
        };
        if name.is_empty() {
            return Err(refused(&name, "a __ksym extern must have a name"));
        }
        externs.push(KsymExtern {
            weak: is_weak(&name),
            name,
            kind,
        });
    }

    let int_id = int_type(btf)?;
    let has_func = externs
        .iter()
        .any(|ext| matches!(ext.kind, KsymKind::Func { .. }));
    let dummy = if has_func {
        let name_off = btf.add_string(DUMMY_KSYM)?;
        let type_id = btf.push_type(BtfType {
            name_off,
            kind_flag: false,
            kind: BtfKind::Var {
                target: int_id,
                linkage: VAR_GLOBAL_ALLOCATED,
            },
        })?;
        Some((type_id, name_off))
    } else {
        None
    };
    let mut placed = vars;
    let mut offset = 0u32;
    for var in &mut placed {
        let mut proto_to_name = None;
        if let Some(ty) = btf.get_mut(var.type_id) {
            match &mut ty.kind {
                BtfKind::Var { target, linkage } => {
                    *target = int_id;
                    *linkage = VAR_GLOBAL_ALLOCATED;
                }
                BtfKind::Func { proto, linkage } => {
                    *linkage = FUNC_GLOBAL;
                    proto_to_name = Some(*proto);
                }
                _ => {}
            }
        }
        if let (Some(proto), Some((dummy_id, dummy_name))) = (proto_to_name, dummy) {
            // The kernel wants every parameter of a global function named.
            if let Some(BtfKind::FuncProto { params, .. }) =
                btf.get_mut(proto).map(|ty| &mut ty.kind)
            {
                for (name_off, type_id) in params.iter_mut() {
                    if *type_id != 0 && *name_off == 0 {
                        *name_off = dummy_name;
                    }
                }
            }
            var.type_id = dummy_id;
        }
        var.offset = offset;
        var.size = 4;
        offset = offset
            .checked_add(4)
            .ok_or_else(|| refused(KSYMS_SECTION, "too many __ksym externs"))?;
    }
    if let Some(ty) = btf.get_mut(datasec_id) {
        ty.kind = BtfKind::Datasec {
            size: offset,
            vars: placed,
        };
    }
    Ok(externs)
}

#[cfg(test)]
#[path = "ksym_tests.rs"]
mod tests;
