//! CO-RE ("compile once, run everywhere") relocations: the `.BTF.ext` core_relo
//! records of a program, computed against a target BTF (the running kernel's) and
//! applied to the program's instructions, as libbpf's `relo_core.c` does.
//!
//! Pure, like the rest of `elf`: the caller finds the target BTFs (vmlinux, then
//! module BTF) and hands in the candidates; nothing here reads a file.
//!
//! - [`spec`]: the access string (`0:1:2`) read against the local BTF into a [`Spec`].
//! - [`candidates`]: target types of the same kind and essential name (`___flavour`
//!   suffixes ignored).
//! - [`matching`]: whether a candidate matches the local spec or type.
//! - [`calc`]: the value the instruction gets, over all candidates ([`resolve`]).
//! - [`patch`]: writing that value into the instruction, or poisoning it.

pub mod calc;
pub mod candidates;
pub mod matching;
pub mod patch;
pub mod spec;

pub use calc::{resolve, Resolution, TargetMatch};
pub use candidates::{essential_name, find_candidates, find_candidates_many};
pub use patch::{patch_insn, Patched, BPF_CORE_POISON};
pub use spec::{parse_spec, Accessor, Spec};

use std::fmt;

use super::{Btf, BtfError};

/// `enum bpf_core_relo_kind` from include/uapi/linux/bpf.h.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoreKind {
    FieldByteOffset,
    FieldByteSize,
    FieldExists,
    FieldSigned,
    FieldLshiftU64,
    FieldRshiftU64,
    TypeIdLocal,
    TypeIdTarget,
    TypeExists,
    TypeSize,
    EnumvalExists,
    EnumvalValue,
    TypeMatches,
}

impl CoreKind {
    /// The kind of a record's `kind` word; `None` for a number the kernel does not define.
    pub fn from_u32(kind: u32) -> Option<CoreKind> {
        Some(match kind {
            0 => CoreKind::FieldByteOffset,
            1 => CoreKind::FieldByteSize,
            2 => CoreKind::FieldExists,
            3 => CoreKind::FieldSigned,
            4 => CoreKind::FieldLshiftU64,
            5 => CoreKind::FieldRshiftU64,
            6 => CoreKind::TypeIdLocal,
            7 => CoreKind::TypeIdTarget,
            8 => CoreKind::TypeExists,
            9 => CoreKind::TypeSize,
            10 => CoreKind::EnumvalExists,
            11 => CoreKind::EnumvalValue,
            12 => CoreKind::TypeMatches,
            _ => return None,
        })
    }

    /// The name `-dump` and errors use (the uapi name, lower case, without `BPF_CORE_`).
    pub fn name(self) -> &'static str {
        match self {
            CoreKind::FieldByteOffset => "field_byte_offset",
            CoreKind::FieldByteSize => "field_byte_size",
            CoreKind::FieldExists => "field_exists",
            CoreKind::FieldSigned => "field_signed",
            CoreKind::FieldLshiftU64 => "field_lshift_u64",
            CoreKind::FieldRshiftU64 => "field_rshift_u64",
            CoreKind::TypeIdLocal => "type_id_local",
            CoreKind::TypeIdTarget => "type_id_target",
            CoreKind::TypeExists => "type_exists",
            CoreKind::TypeSize => "type_size",
            CoreKind::EnumvalExists => "enumval_exists",
            CoreKind::EnumvalValue => "enumval_value",
            CoreKind::TypeMatches => "type_matches",
        }
    }

    pub fn is_field(self) -> bool {
        matches!(
            self,
            CoreKind::FieldByteOffset
                | CoreKind::FieldByteSize
                | CoreKind::FieldExists
                | CoreKind::FieldSigned
                | CoreKind::FieldLshiftU64
                | CoreKind::FieldRshiftU64
        )
    }

    pub fn is_type(self) -> bool {
        matches!(
            self,
            CoreKind::TypeIdLocal
                | CoreKind::TypeIdTarget
                | CoreKind::TypeExists
                | CoreKind::TypeSize
                | CoreKind::TypeMatches
        )
    }

    pub fn is_enumval(self) -> bool {
        matches!(self, CoreKind::EnumvalExists | CoreKind::EnumvalValue)
    }

    /// Whether the relocation needs target candidates at all: TYPE_ID_LOCAL is the
    /// local id whatever the kernel has, so it needs no kernel BTF.
    pub fn needs_target(self) -> bool {
        self != CoreKind::TypeIdLocal
    }
}

impl fmt::Display for CoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A target type that may be what a local type stands for: a type of the same kind
/// and essential name in one of the target BTFs.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub btf: &'a Btf,
    pub type_id: u32,
    /// Where it comes from: `vmlinux` or a module's name (for messages).
    pub origin: &'a str,
}

/// Why a relocation cannot be computed or applied. The loader refuses the object:
/// unlike a poisoned relocation, these mean the object or its BTF is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreFailure {
    /// A `kind` number outside `enum bpf_core_relo_kind`.
    UnknownKind(u32),
    /// The record's type id is not in the object's BTF.
    BadTypeId(u32),
    /// The access string does not parse, or does not fit the type.
    BadAccess(String),
    /// Candidates are looked up by name; an anonymous root type has none.
    AnonymousType,
    /// The relocation kind cannot apply to what the access string reaches.
    NotApplicable(String),
    /// The BTF itself is inconsistent (a reference loop, a size overflow).
    Btf(BtfError),
    /// Two candidates resolve to different results (libbpf: "relocation decision ambiguity").
    Ambiguous { first: String, second: String },
    /// `insn_off` is not on an instruction of the program.
    BadInstructionOffset(u32),
    /// The instruction is not one a CO-RE relocation can patch, or holds an unexpected value.
    BadInstruction(String),
}

impl fmt::Display for CoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreFailure::UnknownKind(kind) => write!(f, "relocation kind {kind} is unknown"),
            CoreFailure::BadTypeId(id) => write!(f, "type id {id} is not in the object's BTF"),
            CoreFailure::BadAccess(reason) => write!(f, "bad access string: {reason}"),
            CoreFailure::AnonymousType => {
                write!(
                    f,
                    "the root type is anonymous, so no kernel type can be matched to it"
                )
            }
            CoreFailure::NotApplicable(reason) => f.write_str(reason),
            CoreFailure::Btf(error) => error.fmt(f),
            CoreFailure::Ambiguous { first, second } => write!(
                f,
                "candidates disagree ({first} != {second}), so the relocation is ambiguous"
            ),
            CoreFailure::BadInstructionOffset(off) => {
                write!(f, "insn_off {off} is not on an instruction of the program")
            }
            CoreFailure::BadInstruction(reason) => f.write_str(reason),
        }
    }
}

impl From<BtfError> for CoreFailure {
    fn from(error: BtfError) -> Self {
        CoreFailure::Btf(error)
    }
}

/// A relocation that failed, with everything a user needs to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreError {
    pub program: String,
    /// The ELF section whose `.BTF.ext` record it is.
    pub section: String,
    /// Instruction index in the linked program.
    pub insn_index: usize,
    /// The relocation kind's name, or `kind N` for an unknown number.
    pub kind: String,
    pub type_id: u32,
    /// `struct task_struct`, or `type N` when it cannot be named.
    pub type_name: String,
    pub access: String,
    pub failure: CoreFailure,
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "program {}: the CO-RE relocation {} of {} (type {}, access \"{}\") at instruction {} (section `{}`) cannot be applied: {}",
            self.program,
            self.kind,
            self.type_name,
            self.type_id,
            self.access,
            self.insn_index,
            self.section,
            self.failure
        )
    }
}

impl std::error::Error for CoreError {}

/// `struct task_struct`, `union u`, `enum e`, `typedef t`, `int`: a type as C names it,
/// `<anon>` for a nameless one; `type N` when the id is not there.
pub fn type_label(btf: &Btf, type_id: u32) -> String {
    if type_id == 0 {
        return "void".to_string();
    }
    let Some(ty) = btf.get(type_id) else {
        return format!("type {type_id}");
    };
    let name = btf.string(ty.name_off).unwrap_or("?");
    let name = if name.is_empty() { "<anon>" } else { name };
    let prefix = match ty.kind {
        super::BtfKind::Struct { .. } => "struct ",
        super::BtfKind::Union { .. } => "union ",
        super::BtfKind::Enum { .. } | super::BtfKind::Enum64 { .. } => "enum ",
        super::BtfKind::Typedef { .. } => "typedef ",
        super::BtfKind::Fwd { is_union: true } => "union ",
        super::BtfKind::Fwd { is_union: false } => "struct ",
        _ => "",
    };
    format!("{prefix}{name}")
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_calc;
#[cfg(test)]
mod tests_patch;
