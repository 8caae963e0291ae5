//! BTF type records (`struct btf_type` and the data that follows each kind).

use super::{BtfError, Reader};

// Kind numbers from include/uapi/linux/btf.h.
const BTF_KIND_INT: u32 = 1;
const BTF_KIND_PTR: u32 = 2;
const BTF_KIND_ARRAY: u32 = 3;
const BTF_KIND_STRUCT: u32 = 4;
const BTF_KIND_UNION: u32 = 5;
const BTF_KIND_ENUM: u32 = 6;
const BTF_KIND_FWD: u32 = 7;
const BTF_KIND_TYPEDEF: u32 = 8;
const BTF_KIND_VOLATILE: u32 = 9;
const BTF_KIND_CONST: u32 = 10;
const BTF_KIND_RESTRICT: u32 = 11;
const BTF_KIND_FUNC: u32 = 12;
const BTF_KIND_FUNC_PROTO: u32 = 13;
const BTF_KIND_VAR: u32 = 14;
const BTF_KIND_DATASEC: u32 = 15;
const BTF_KIND_FLOAT: u32 = 16;
const BTF_KIND_DECL_TAG: u32 = 17;
const BTF_KIND_TYPE_TAG: u32 = 18;
const BTF_KIND_ENUM64: u32 = 19;

/// `struct btf_member`: a field of a struct or union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfMember {
    pub name_off: u32,
    pub type_id: u32,
    /// Bit offset, or bitfield size and offset when the struct's kind_flag is set.
    pub offset: u32,
}

/// `struct btf_var_secinfo`: a variable placed in a data section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasecVar {
    pub type_id: u32,
    pub offset: u32,
    pub size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BtfKind {
    Int { size: u32, encoding: u32 },
    Ptr { target: u32 },
    Array { elem: u32, index: u32, nelems: u32 },
    Struct { size: u32, members: Vec<BtfMember> },
    Union { size: u32, members: Vec<BtfMember> },
    Enum { size: u32, values: Vec<(u32, i32)> },
    Fwd { is_union: bool },
    Typedef { target: u32 },
    Volatile { target: u32 },
    Const { target: u32 },
    Restrict { target: u32 },
    Func { proto: u32, linkage: u32 },
    FuncProto { ret: u32, params: Vec<(u32, u32)> },
    Var { target: u32, linkage: u32 },
    Datasec { size: u32, vars: Vec<DatasecVar> },
    Float { size: u32 },
    DeclTag { target: u32, component_idx: u32 },
    TypeTag { target: u32 },
    Enum64 { size: u32, values: Vec<(u32, u64)> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfType {
    pub name_off: u32,
    /// The `kind_flag` bit of `info`: bitfield member encoding for structs and unions,
    /// signedness for enums, "attribute" for decl and type tags. For `FWD` the bit is
    /// [`BtfKind::Fwd::is_union`], which wins when the type is encoded.
    pub kind_flag: bool,
    pub kind: BtfKind,
}

impl BtfType {
    pub(crate) fn parse(reader: &mut Reader<'_>, type_id: u32) -> Result<BtfType, BtfError> {
        let name_off = reader.u32("type name")?;
        let info = reader.u32("type info")?;
        let size_or_type = reader.u32("type size")?;
        let vlen = info & 0xffff;
        let kind_number = (info >> 24) & 0x1f;
        let kind_flag = info >> 31 == 1;
        let kind = match kind_number {
            BTF_KIND_INT => BtfKind::Int {
                size: size_or_type,
                encoding: reader.u32("int encoding")?,
            },
            BTF_KIND_PTR => BtfKind::Ptr {
                target: size_or_type,
            },
            BTF_KIND_ARRAY => BtfKind::Array {
                elem: reader.u32("array element type")?,
                index: reader.u32("array index type")?,
                nelems: reader.u32("array length")?,
            },
            BTF_KIND_STRUCT | BTF_KIND_UNION => {
                let members = (0..vlen)
                    .map(|_| {
                        Ok(BtfMember {
                            name_off: reader.u32("member name")?,
                            type_id: reader.u32("member type")?,
                            offset: reader.u32("member offset")?,
                        })
                    })
                    .collect_sized(vlen)?;
                if kind_number == BTF_KIND_STRUCT {
                    BtfKind::Struct {
                        size: size_or_type,
                        members,
                    }
                } else {
                    BtfKind::Union {
                        size: size_or_type,
                        members,
                    }
                }
            }
            BTF_KIND_ENUM => BtfKind::Enum {
                size: size_or_type,
                values: (0..vlen)
                    .map(|_| Ok((reader.u32("enum name")?, reader.u32("enum value")? as i32)))
                    .collect_sized(vlen)?,
            },
            BTF_KIND_FWD => BtfKind::Fwd {
                is_union: kind_flag,
            },
            BTF_KIND_TYPEDEF => BtfKind::Typedef {
                target: size_or_type,
            },
            BTF_KIND_VOLATILE => BtfKind::Volatile {
                target: size_or_type,
            },
            BTF_KIND_CONST => BtfKind::Const {
                target: size_or_type,
            },
            BTF_KIND_RESTRICT => BtfKind::Restrict {
                target: size_or_type,
            },
            BTF_KIND_FUNC => BtfKind::Func {
                proto: size_or_type,
                linkage: vlen,
            },
            BTF_KIND_FUNC_PROTO => BtfKind::FuncProto {
                ret: size_or_type,
                params: (0..vlen)
                    .map(|_| Ok((reader.u32("param name")?, reader.u32("param type")?)))
                    .collect_sized(vlen)?,
            },
            BTF_KIND_VAR => BtfKind::Var {
                target: size_or_type,
                linkage: reader.u32("var linkage")?,
            },
            BTF_KIND_DATASEC => BtfKind::Datasec {
                size: size_or_type,
                vars: (0..vlen)
                    .map(|_| {
                        Ok(DatasecVar {
                            type_id: reader.u32("datasec var type")?,
                            offset: reader.u32("datasec var offset")?,
                            size: reader.u32("datasec var size")?,
                        })
                    })
                    .collect_sized(vlen)?,
            },
            BTF_KIND_FLOAT => BtfKind::Float { size: size_or_type },
            BTF_KIND_DECL_TAG => BtfKind::DeclTag {
                target: size_or_type,
                component_idx: reader.u32("decl tag component")?,
            },
            BTF_KIND_TYPE_TAG => BtfKind::TypeTag {
                target: size_or_type,
            },
            BTF_KIND_ENUM64 => BtfKind::Enum64 {
                size: size_or_type,
                values: (0..vlen)
                    .map(|_| {
                        let name = reader.u32("enum64 name")?;
                        let lo = reader.u32("enum64 value")?;
                        let hi = reader.u32("enum64 value")?;
                        Ok((name, u64::from(hi) << 32 | u64::from(lo)))
                    })
                    .collect_sized(vlen)?,
            },
            kind => {
                return Err(BtfError::UnknownKind { type_id, kind });
            }
        };
        Ok(BtfType {
            name_off,
            kind_flag,
            kind,
        })
    }

    /// Appends the type as `struct btf_type` plus its kind-specific data, little-endian.
    ///
    /// Lists longer than `vlen` can express (65535 entries) are cut at 65535 so that
    /// the record stays self-consistent.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let mut words = |words: &[u32]| {
            for word in words {
                out.extend_from_slice(&word.to_le_bytes());
            }
        };
        let header = |kind: u32, vlen: usize, kind_flag: bool, size_or_type: u32| {
            let vlen = u32::try_from(vlen).unwrap_or(MAX_VLEN).min(MAX_VLEN);
            let info = (u32::from(kind_flag) << 31) | (kind << 24) | vlen;
            [self.name_off, info, size_or_type]
        };
        let flag = self.kind_flag;
        match &self.kind {
            BtfKind::Int { size, encoding } => {
                words(&header(BTF_KIND_INT, 0, flag, *size));
                words(&[*encoding]);
            }
            BtfKind::Ptr { target } => words(&header(BTF_KIND_PTR, 0, flag, *target)),
            BtfKind::Array {
                elem,
                index,
                nelems,
            } => {
                words(&header(BTF_KIND_ARRAY, 0, flag, 0));
                words(&[*elem, *index, *nelems]);
            }
            BtfKind::Struct { size, members } | BtfKind::Union { size, members } => {
                let kind = if matches!(self.kind, BtfKind::Struct { .. }) {
                    BTF_KIND_STRUCT
                } else {
                    BTF_KIND_UNION
                };
                let members = capped(members);
                words(&header(kind, members.len(), flag, *size));
                for member in members {
                    words(&[member.name_off, member.type_id, member.offset]);
                }
            }
            BtfKind::Enum { size, values } => {
                let values = capped(values);
                words(&header(BTF_KIND_ENUM, values.len(), flag, *size));
                for &(name, value) in values {
                    words(&[name, value as u32]);
                }
            }
            BtfKind::Fwd { is_union } => words(&header(BTF_KIND_FWD, 0, *is_union, 0)),
            BtfKind::Typedef { target } => words(&header(BTF_KIND_TYPEDEF, 0, flag, *target)),
            BtfKind::Volatile { target } => words(&header(BTF_KIND_VOLATILE, 0, flag, *target)),
            BtfKind::Const { target } => words(&header(BTF_KIND_CONST, 0, flag, *target)),
            BtfKind::Restrict { target } => words(&header(BTF_KIND_RESTRICT, 0, flag, *target)),
            BtfKind::Func { proto, linkage } => {
                // The linkage lives in vlen.
                let linkage = usize::try_from(*linkage).unwrap_or(usize::MAX);
                words(&header(BTF_KIND_FUNC, linkage, flag, *proto));
            }
            BtfKind::FuncProto { ret, params } => {
                let params = capped(params);
                words(&header(BTF_KIND_FUNC_PROTO, params.len(), flag, *ret));
                for &(name, type_id) in params {
                    words(&[name, type_id]);
                }
            }
            BtfKind::Var { target, linkage } => {
                words(&header(BTF_KIND_VAR, 0, flag, *target));
                words(&[*linkage]);
            }
            BtfKind::Datasec { size, vars } => {
                let vars = capped(vars);
                words(&header(BTF_KIND_DATASEC, vars.len(), flag, *size));
                for var in vars {
                    words(&[var.type_id, var.offset, var.size]);
                }
            }
            BtfKind::Float { size } => words(&header(BTF_KIND_FLOAT, 0, flag, *size)),
            BtfKind::DeclTag {
                target,
                component_idx,
            } => {
                words(&header(BTF_KIND_DECL_TAG, 0, flag, *target));
                words(&[*component_idx]);
            }
            BtfKind::TypeTag { target } => words(&header(BTF_KIND_TYPE_TAG, 0, flag, *target)),
            BtfKind::Enum64 { size, values } => {
                let values = capped(values);
                words(&header(BTF_KIND_ENUM64, values.len(), flag, *size));
                for &(name, value) in values {
                    words(&[name, value as u32, (value >> 32) as u32]);
                }
            }
        }
    }
}

/// Collecting records read one by one: `collect::<Result<Vec<_>, _>>` cannot know the
/// length (its size hint is 0) and grows the vector by doubling; `vlen` is the length.
trait CollectSized<T> {
    fn collect_sized(self, vlen: u32) -> Result<Vec<T>, BtfError>;
}

impl<T, I: Iterator<Item = Result<T, BtfError>>> CollectSized<T> for I {
    fn collect_sized(self, vlen: u32) -> Result<Vec<T>, BtfError> {
        let mut items = Vec::with_capacity(vlen as usize);
        for item in self {
            items.push(item?);
        }
        Ok(items)
    }
}

/// The largest `vlen` the 16-bit field holds.
const MAX_VLEN: u32 = 0xffff;

/// The first 65535 entries: all that `vlen` can count.
fn capped<T>(items: &[T]) -> &[T] {
    items.get(..MAX_VLEN as usize).unwrap_or(items)
}

impl BtfKind {
    /// Type ids this type refers to (0, `void`, included where it appears).
    pub fn referenced_ids(&self) -> Vec<u32> {
        let mut ids = Vec::new();
        let _ = self.check_each(
            |_| Ok(()),
            |id| {
                ids.push(id);
                Ok(())
            },
        );
        ids
    }

    /// Checks each member, enumerator and parameter name offset with `name` and each
    /// referenced type id with `id`, allocating nothing: validating the kernel's
    /// 100,000-odd types this way costs a fraction of building the lists.
    pub(crate) fn check_each(
        &self,
        mut name: impl FnMut(u32) -> Result<(), BtfError>,
        mut id: impl FnMut(u32) -> Result<(), BtfError>,
    ) -> Result<(), BtfError> {
        match self {
            BtfKind::Int { .. } | BtfKind::Fwd { .. } | BtfKind::Float { .. } => Ok(()),
            BtfKind::Enum { values, .. } => values.iter().try_for_each(|(n, _)| name(*n)),
            BtfKind::Enum64 { values, .. } => values.iter().try_for_each(|(n, _)| name(*n)),
            BtfKind::Ptr { target }
            | BtfKind::Typedef { target }
            | BtfKind::Volatile { target }
            | BtfKind::Const { target }
            | BtfKind::Restrict { target }
            | BtfKind::Var { target, .. }
            | BtfKind::DeclTag { target, .. }
            | BtfKind::TypeTag { target } => id(*target),
            BtfKind::Func { proto, .. } => id(*proto),
            BtfKind::Array { elem, index, .. } => id(*elem).and_then(|()| id(*index)),
            BtfKind::Struct { members, .. } | BtfKind::Union { members, .. } => {
                members.iter().try_for_each(|member| {
                    name(member.name_off)?;
                    id(member.type_id)
                })
            }
            BtfKind::FuncProto { ret, params } => {
                id(*ret)?;
                params.iter().try_for_each(|(n, type_id)| {
                    name(*n)?;
                    id(*type_id)
                })
            }
            BtfKind::Datasec { vars, .. } => vars.iter().try_for_each(|var| id(var.type_id)),
        }
    }

    /// String offsets used by members, enumerators and parameters.
    pub fn member_name_offsets(&self) -> Vec<u32> {
        let mut names = Vec::new();
        let _ = self.check_each(
            |name| {
                names.push(name);
                Ok(())
            },
            |_| Ok(()),
        );
        names
    }

    /// The kind's name as `bpftool btf dump` prints it.
    pub fn name(&self) -> &'static str {
        match self {
            BtfKind::Int { .. } => "INT",
            BtfKind::Ptr { .. } => "PTR",
            BtfKind::Array { .. } => "ARRAY",
            BtfKind::Struct { .. } => "STRUCT",
            BtfKind::Union { .. } => "UNION",
            BtfKind::Enum { .. } => "ENUM",
            BtfKind::Fwd { .. } => "FWD",
            BtfKind::Typedef { .. } => "TYPEDEF",
            BtfKind::Volatile { .. } => "VOLATILE",
            BtfKind::Const { .. } => "CONST",
            BtfKind::Restrict { .. } => "RESTRICT",
            BtfKind::Func { .. } => "FUNC",
            BtfKind::FuncProto { .. } => "FUNC_PROTO",
            BtfKind::Var { .. } => "VAR",
            BtfKind::Datasec { .. } => "DATASEC",
            BtfKind::Float { .. } => "FLOAT",
            BtfKind::DeclTag { .. } => "DECL_TAG",
            BtfKind::TypeTag { .. } => "TYPE_TAG",
            BtfKind::Enum64 { .. } => "ENUM64",
        }
    }
}
