//! Sanitising BTF for an older kernel: what libbpf's `bpf_object__sanitize_btf` does.
//!
//! Each BTF kind or feature the kernel lacks is rewritten into something an older
//! kernel accepts, keeping every type id where it is (the ids are referenced from
//! map definitions, `.BTF.ext` and instructions). Strings are only ever appended,
//! so every existing name offset keeps pointing at the same text.

use super::{Btf, BtfKind, BtfMember, BtfType};

/// What the running kernel's BTF verifier accepts. Probed by the caller (the
/// kernel boundary), passed in here as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BtfFeatures {
    /// `FUNC` and `FUNC_PROTO` (Linux 5.0).
    pub func: bool,
    /// `FUNC` with global linkage (Linux 5.6).
    pub func_global: bool,
    /// `VAR` and `DATASEC` (Linux 5.2).
    pub datasec: bool,
    /// `FLOAT` (Linux 5.13).
    pub float: bool,
    /// `DECL_TAG` (Linux 5.16).
    pub decl_tag: bool,
    /// `TYPE_TAG` (Linux 5.17).
    pub type_tag: bool,
    /// `ENUM64` and signed enums (Linux 6.0).
    pub enum64: bool,
    /// DATASEC names starting with `?` (recent kernels; libbpf probes it on its own).
    pub qmark_datasec: bool,
}

impl BtfFeatures {
    /// A kernel that supports everything: sanitising changes nothing.
    pub const ALL: BtfFeatures = BtfFeatures {
        func: true,
        func_global: true,
        datasec: true,
        float: true,
        decl_tag: true,
        type_tag: true,
        enum64: true,
        qmark_datasec: true,
    };

    /// A kernel with plain BTF only (Linux 4.18).
    pub const NONE: BtfFeatures = BtfFeatures {
        func: false,
        func_global: false,
        datasec: false,
        float: false,
        decl_tag: false,
        type_tag: false,
        enum64: false,
        qmark_datasec: false,
    };

    /// Whether [`Btf::sanitize`] has anything to do.
    pub fn is_all(&self) -> bool {
        *self == BtfFeatures::ALL
    }
}

/// `BTF_INT_ENC(0, 0, 8)`: an unsigned 8-bit integer at bit offset 0.
const INT_ENCODING_U8: u32 = 8;
/// `BTF_FUNC_STATIC`.
const FUNC_STATIC: u32 = 0;
/// Name of the 1-byte integer that sanitised ENUM64 members point to (libbpf's name).
const ENUM64_PLACEHOLDER: &str = "enum64_placeholder";

impl Btf {
    /// Rewrites what `features` says the kernel lacks, as libbpf does:
    ///
    /// - no `datasec`: `VAR` becomes a 1-byte `INT` (same name); `DATASEC` becomes a
    ///   `STRUCT` of the same size named with `.` and `?` turned into `_`, one member
    ///   per variable (the variable's name and type id, bit offset `offset * 8`);
    /// - no `qmark_datasec`: a leading `?` in a DATASEC name becomes `_`;
    /// - no `func`: `FUNC_PROTO` becomes a 4-byte `ENUM` with one enumerator per
    ///   parameter (its name, value 0) and `FUNC` a `TYPEDEF` of it;
    /// - no `func_global`: every `FUNC` becomes static;
    /// - no `float`: `FLOAT` becomes an anonymous empty `STRUCT` of the same size;
    /// - no `decl_tag`: `DECL_TAG` becomes a 1-byte `INT`;
    /// - no `type_tag`: `TYPE_TAG` becomes an anonymous `CONST`;
    /// - no `enum64`: enums lose their signedness flag, and `ENUM64` becomes a `UNION`
    ///   of the same size whose members (one per enumerator, at offset 0) have the
    ///   type of an appended 1-byte `INT` named `enum64_placeholder`.
    ///
    /// Renamed types get new strings appended; the old ones stay. Type ids do not
    /// change (the placeholder is appended after the last type).
    ///
    /// Beyond libbpf, names the old kernel's verifier would refuse in a rewritten
    /// type are made valid: enumerators and members that came from anonymous
    /// parameters or from variables like `func.____fmt` get an identifier (`_`
    /// for none, `.` replaced by `_`), since the kernel requires enumerators and
    /// members to be named with C identifiers.
    pub fn sanitize(&mut self, features: &BtfFeatures) {
        if features.is_all() {
            return;
        }
        let mut enum64_placeholder = None;
        for index in 0..self.types.len() {
            let Some(ty) = self.types.get(index).cloned() else {
                break;
            };
            let Some(new) = self.sanitized(ty, features, &mut enum64_placeholder) else {
                continue;
            };
            if let Some(slot) = self.types_mut().get_mut(index) {
                *slot = new;
            }
        }
    }

    /// The replacement for `ty`, or `None` when it stays as it is. Follows the order
    /// of libbpf's checks: the first rule that applies wins.
    fn sanitized(
        &mut self,
        ty: BtfType,
        features: &BtfFeatures,
        enum64_placeholder: &mut Option<u32>,
    ) -> Option<BtfType> {
        let replaced = |name_off, kind| {
            Some(BtfType {
                name_off,
                kind_flag: false,
                kind,
            })
        };
        match &ty.kind {
            BtfKind::Var { .. } if !features.datasec => replaced(
                ty.name_off,
                BtfKind::Int {
                    size: 1,
                    encoding: INT_ENCODING_U8,
                },
            ),
            BtfKind::DeclTag { .. } if !features.decl_tag => replaced(
                ty.name_off,
                BtfKind::Int {
                    size: 1,
                    encoding: INT_ENCODING_U8,
                },
            ),
            BtfKind::Datasec { size, vars } if !features.datasec => {
                let name = self
                    .string(ty.name_off)
                    .unwrap_or("")
                    .replace(['.', '?'], "_");
                let name_off = self.add_string(&name).unwrap_or(0);
                let members = vars
                    .iter()
                    .map(|var| {
                        let var_name = self
                            .get(var.type_id)
                            .map(|var_type| var_type.name_off)
                            .unwrap_or(0);
                        BtfMember {
                            name_off: self.identifier(var_name),
                            type_id: var.type_id,
                            offset: var.offset.wrapping_mul(8),
                        }
                    })
                    .collect();
                replaced(
                    name_off,
                    BtfKind::Struct {
                        size: *size,
                        members,
                    },
                )
            }
            BtfKind::Datasec { .. }
                if !features.qmark_datasec
                    && self
                        .string(ty.name_off)
                        .is_ok_and(|name| name.starts_with('?')) =>
            {
                let name = self.string(ty.name_off).unwrap_or("");
                let name = format!("_{}", name.get(1..).unwrap_or(""));
                let name_off = self.add_string(&name).unwrap_or(ty.name_off);
                Some(BtfType { name_off, ..ty })
            }
            BtfKind::FuncProto { params, .. } if !features.func => {
                let values = params
                    .iter()
                    .map(|&(name_off, _)| (self.identifier(name_off), 0))
                    .collect();
                replaced(ty.name_off, BtfKind::Enum { size: 4, values })
            }
            BtfKind::Func { proto, .. } if !features.func => {
                replaced(ty.name_off, BtfKind::Typedef { target: *proto })
            }
            BtfKind::Func { proto, .. } if !features.func_global => replaced(
                ty.name_off,
                BtfKind::Func {
                    proto: *proto,
                    linkage: FUNC_STATIC,
                },
            ),
            BtfKind::Float { size } if !features.float => replaced(
                0,
                BtfKind::Struct {
                    size: *size,
                    members: Vec::new(),
                },
            ),
            BtfKind::TypeTag { target } if !features.type_tag => {
                replaced(0, BtfKind::Const { target: *target })
            }
            BtfKind::Enum { .. } if !features.enum64 && ty.kind_flag => Some(BtfType {
                kind_flag: false,
                ..ty
            }),
            BtfKind::Enum64 { size, values } if !features.enum64 => {
                let placeholder = match *enum64_placeholder {
                    Some(id) => id,
                    None => {
                        let name_off = self.add_string(ENUM64_PLACEHOLDER).unwrap_or(0);
                        let id = self
                            .push_type(BtfType {
                                name_off,
                                kind_flag: false,
                                kind: BtfKind::Int {
                                    size: 1,
                                    encoding: INT_ENCODING_U8,
                                },
                            })
                            .ok()?;
                        *enum64_placeholder = Some(id);
                        id
                    }
                };
                let members = values
                    .iter()
                    .map(|&(name_off, _)| BtfMember {
                        name_off: self.identifier(name_off),
                        type_id: placeholder,
                        offset: 0,
                    })
                    .collect();
                replaced(
                    ty.name_off,
                    BtfKind::Union {
                        size: *size,
                        members,
                    },
                )
            }
            _ => None,
        }
    }

    /// A name offset whose string is a C identifier, for members and enumerators:
    /// `name_off` itself when it already is one, else an appended string with every
    /// other character turned into `_` (`_` for an empty name).
    fn identifier(&mut self, name_off: u32) -> u32 {
        let name = self.string(name_off).unwrap_or("");
        if is_identifier(name) {
            return name_off;
        }
        let mut fixed: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if !fixed.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            fixed.insert(0, '_');
        }
        self.add_string(&fixed).unwrap_or(name_off)
    }
}

/// What the kernel's `btf_name_valid_identifier` accepts: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
