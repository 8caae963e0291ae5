//! BTF (`.BTF`): header, string table and type table, parsed into plain data.
//!
//! Only little-endian BTF is accepted, matching the little-endian objects
//! `elf` accepts. Type ids start at 1; id 0 is `void`.

mod types;

pub use types::{BtfKind, BtfMember, BtfType, DatasecVar};

use std::fmt;

/// `BTF_MAGIC` from `include/uapi/linux/btf.h`.
pub const BTF_MAGIC: u16 = 0xeb9f;
/// The only BTF version the kernel knows (`BTF_VERSION`).
pub const BTF_VERSION: u8 = 1;
/// `sizeof(struct btf_header)` for version 1.
const BTF_HEADER_LEN: usize = 24;
/// How deep a chain of typedefs, modifiers and arrays may go before we call it a loop.
/// libbpf uses the same bound (`MAX_RESOLVE_DEPTH`).
const MAX_RESOLVE_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BtfError {
    /// Fewer bytes than the header says or needs.
    Truncated {
        what: &'static str,
        offset: usize,
    },
    BadMagic {
        found: u16,
    },
    UnsupportedVersion {
        version: u8,
    },
    /// `type_off`/`str_off` and lengths that do not fit the section.
    BadLayout {
        reason: &'static str,
    },
    UnknownKind {
        type_id: u32,
        kind: u32,
    },
    BadStringOffset {
        offset: u32,
    },
    /// A type id that refers past the end of the table.
    BadTypeId {
        type_id: u32,
        referenced_by: u32,
    },
    /// A chain of references that does not end (a loop) or is too deep.
    TooDeep {
        type_id: u32,
    },
    /// A size that does not fit in `u32` (e.g. a huge array).
    SizeOverflow {
        type_id: u32,
    },
}

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BtfError::Truncated { what, offset } => {
                write!(f, "BTF is truncated: {what} at byte {offset} runs past the end")
            }
            BtfError::BadMagic { found } => {
                if found.swap_bytes() == BTF_MAGIC {
                    write!(f, "BTF is big-endian; only little-endian BPF objects are supported")
                } else {
                    write!(f, "BTF magic is {found:#06x}, expected {BTF_MAGIC:#06x}")
                }
            }
            BtfError::UnsupportedVersion { version } => {
                write!(f, "BTF version {version} is not supported (expected {BTF_VERSION})")
            }
            BtfError::BadLayout { reason } => write!(f, "BTF header is inconsistent: {reason}"),
            BtfError::UnknownKind { type_id, kind } => {
                write!(f, "BTF type {type_id} has unknown kind {kind}")
            }
            BtfError::BadStringOffset { offset } => {
                write!(f, "BTF string offset {offset} is outside the string table")
            }
            BtfError::BadTypeId { type_id, referenced_by } => write!(
                f,
                "BTF type {referenced_by} refers to type {type_id}, which does not exist"
            ),
            BtfError::TooDeep { type_id } => write!(
                f,
                "BTF type {type_id} does not resolve: its references loop or nest deeper than {MAX_RESOLVE_DEPTH}"
            ),
            BtfError::SizeOverflow { type_id } => {
                write!(f, "BTF type {type_id} has a size that does not fit in 32 bits")
            }
        }
    }
}

impl std::error::Error for BtfError {}

/// Parsed `.BTF`: the raw bytes (kept so they can be handed to the kernel later),
/// the string table and the type table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Btf {
    raw: Vec<u8>,
    strings: std::ops::Range<usize>,
    /// `types[i]` is type id `i + 1`.
    types: Vec<BtfType>,
}

pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, BtfError> {
        let end = self
            .pos
            .checked_add(4)
            .filter(|&end| end <= self.data.len());
        let Some(end) = end else {
            return Err(BtfError::Truncated {
                what,
                offset: self.pos,
            });
        };
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(&self.data[self.pos..end]);
        self.pos = end;
        Ok(u32::from_le_bytes(bytes))
    }
}

fn read_u16(data: &[u8], offset: usize) -> Option<u16> {
    let bytes = data.get(offset..offset.checked_add(2)?)?;
    Some(u16::from_le_bytes([bytes[0], bytes[1]]))
}

fn read_u32(data: &[u8], offset: usize) -> Option<u32> {
    let bytes = data.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

impl Btf {
    /// Parses the contents of a `.BTF` section.
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        let truncated = |what| BtfError::Truncated { what, offset: 0 };
        let magic = read_u16(data, 0).ok_or(truncated("header"))?;
        if magic != BTF_MAGIC {
            return Err(BtfError::BadMagic { found: magic });
        }
        let version = *data.get(2).ok_or(truncated("header"))?;
        if version != BTF_VERSION {
            return Err(BtfError::UnsupportedVersion { version });
        }
        let field = |offset| read_u32(data, offset).ok_or(truncated("header"));
        let hdr_len = field(4)? as usize;
        let type_off = field(8)? as usize;
        let type_len = field(12)? as usize;
        let str_off = field(16)? as usize;
        let str_len = field(20)? as usize;
        if hdr_len < BTF_HEADER_LEN {
            return Err(BtfError::BadLayout {
                reason: "header length is shorter than the version 1 header",
            });
        }
        let body = data.get(hdr_len..).ok_or(BtfError::BadLayout {
            reason: "header length is past the end of the section",
        })?;
        let section = |off: usize, len: usize, reason| {
            off.checked_add(len)
                .filter(|&end| end <= body.len())
                .map(|end| off..end)
                .ok_or(BtfError::BadLayout { reason })
        };
        let type_range = section(type_off, type_len, "type section runs past the end")?;
        let str_range = section(str_off, str_len, "string section runs past the end")?;
        if type_range.start < str_range.end && str_range.start < type_range.end {
            return Err(BtfError::BadLayout {
                reason: "type and string sections overlap",
            });
        }
        if str_len > 0 && body[str_range.end - 1] != 0 {
            return Err(BtfError::BadLayout {
                reason: "string section does not end with a NUL byte",
            });
        }
        let strings = hdr_len + str_range.start..hdr_len + str_range.end;

        let mut reader = Reader::new(&body[type_range.clone()]);
        let mut types = Vec::new();
        while !reader.is_empty() {
            let type_id = u32::try_from(types.len() + 1).map_err(|_| BtfError::BadLayout {
                reason: "more types than type ids",
            })?;
            types.push(BtfType::parse(&mut reader, type_id)?);
        }
        let btf = Btf {
            raw: data.to_vec(),
            strings,
            types,
        };
        btf.validate()?;
        Ok(btf)
    }

    /// Every name offset inside the string table, every referenced id inside the type table.
    fn validate(&self) -> Result<(), BtfError> {
        for (index, ty) in self.types.iter().enumerate() {
            let type_id = index as u32 + 1;
            self.string(ty.name_off)?;
            for name_off in ty.kind.member_name_offsets() {
                self.string(name_off)?;
            }
            for referenced in ty.kind.referenced_ids() {
                if referenced as usize > self.types.len() {
                    return Err(BtfError::BadTypeId {
                        type_id: referenced,
                        referenced_by: type_id,
                    });
                }
            }
        }
        Ok(())
    }

    /// The bytes of the whole `.BTF` section as found in the object.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Number of types, not counting `void`.
    pub fn type_count(&self) -> usize {
        self.types.len()
    }

    /// Type `type_id`; `None` for `void` (0) and ids past the table.
    pub fn get(&self, type_id: u32) -> Option<&BtfType> {
        let index = usize::try_from(type_id).ok()?.checked_sub(1)?;
        self.types.get(index)
    }

    fn get_checked(&self, type_id: u32, referenced_by: u32) -> Result<&BtfType, BtfError> {
        self.get(type_id).ok_or(BtfError::BadTypeId {
            type_id,
            referenced_by,
        })
    }

    /// The NUL-terminated string at `offset` in the string table.
    pub fn string(&self, offset: u32) -> Result<&str, BtfError> {
        let table = &self.raw[self.strings.clone()];
        let start = offset as usize;
        if start >= table.len() {
            if start == 0 {
                return Ok("");
            }
            return Err(BtfError::BadStringOffset { offset });
        }
        let rest = &table[start..];
        let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..len]).map_err(|_| BtfError::BadStringOffset { offset })
    }

    /// The name of type `type_id` (empty for anonymous types and `void`).
    pub fn name(&self, type_id: u32) -> Result<&str, BtfError> {
        match self.get(type_id) {
            Some(ty) => self.string(ty.name_off),
            None => Ok(""),
        }
    }

    /// Iterates `(type_id, type)` in id order.
    pub fn types(&self) -> impl Iterator<Item = (u32, &BtfType)> {
        self.types
            .iter()
            .enumerate()
            .map(|(index, ty)| (index as u32 + 1, ty))
    }

    /// Follows typedefs and `const`/`volatile`/`restrict`/type tags to the type underneath.
    pub fn skip_modifiers(&self, type_id: u32) -> Result<u32, BtfError> {
        let mut current = type_id;
        for _ in 0..MAX_RESOLVE_DEPTH {
            let Some(ty) = self.get(current) else {
                return Ok(current);
            };
            match ty.kind {
                BtfKind::Typedef { target }
                | BtfKind::Volatile { target }
                | BtfKind::Const { target }
                | BtfKind::Restrict { target }
                | BtfKind::TypeTag { target } => {
                    self.get_checked(target, current)?;
                    current = target;
                }
                _ => return Ok(current),
            }
        }
        Err(BtfError::TooDeep { type_id })
    }

    /// The size in bytes of a value of type `type_id`, as the kernel computes it.
    pub fn resolve_size(&self, type_id: u32) -> Result<u32, BtfError> {
        self.resolve_size_at_depth(type_id, 0)
    }

    fn resolve_size_at_depth(&self, type_id: u32, depth: usize) -> Result<u32, BtfError> {
        if depth >= MAX_RESOLVE_DEPTH {
            return Err(BtfError::TooDeep { type_id });
        }
        let resolved = self.skip_modifiers(type_id)?;
        let Some(ty) = self.get(resolved) else {
            return Ok(0);
        };
        match &ty.kind {
            BtfKind::Int { size, .. }
            | BtfKind::Struct { size, .. }
            | BtfKind::Union { size, .. }
            | BtfKind::Enum { size, .. }
            | BtfKind::Enum64 { size, .. }
            | BtfKind::Float { size }
            | BtfKind::Datasec { size, .. } => Ok(*size),
            BtfKind::Ptr { .. } => Ok(8),
            BtfKind::Array { elem, nelems, .. } => {
                let elem_size = self.resolve_size_at_depth(*elem, depth + 1)?;
                elem_size
                    .checked_mul(*nelems)
                    .ok_or(BtfError::SizeOverflow { type_id })
            }
            BtfKind::Var { target, .. } => self.resolve_size_at_depth(*target, depth + 1),
            BtfKind::Fwd { .. }
            | BtfKind::Func { .. }
            | BtfKind::FuncProto { .. }
            | BtfKind::DeclTag { .. }
            | BtfKind::Typedef { .. }
            | BtfKind::Volatile { .. }
            | BtfKind::Const { .. }
            | BtfKind::Restrict { .. }
            | BtfKind::TypeTag { .. } => Ok(0),
        }
    }

    /// The id of the `DATASEC` named `name` (e.g. `.maps`).
    pub fn find_datasec(&self, name: &str) -> Option<u32> {
        self.types().find_map(|(type_id, ty)| {
            matches!(ty.kind, BtfKind::Datasec { .. })
                .then(|| self.string(ty.name_off).ok())
                .flatten()
                .filter(|&found| found == name)
                .map(|_| type_id)
        })
    }
}

#[cfg(test)]
mod tests;
