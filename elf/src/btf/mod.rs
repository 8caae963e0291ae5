//! BTF (`.BTF`): header, string table and type table, parsed into plain data,
//! fixed up the way libbpf does before loading, sanitised for what a given kernel
//! supports, and encoded back to bytes. `.BTF.ext` is in [`ext`].
//!
//! Only little-endian BTF is accepted, matching the little-endian objects
//! `elf` accepts. Type ids start at 1; id 0 is `void`.

pub mod core;
pub mod ext;
mod fixup;
mod sanitize;
mod strings;
mod types;

pub use ext::{BtfExt, CoreRelo, ExtSection, FuncInfo, LineInfo};
pub use sanitize::BtfFeatures;
pub use types::{BtfKind, BtfMember, BtfType, DatasecVar};

use std::fmt;
use std::sync::Arc;

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
    /// A string that cannot be added: it holds a NUL byte, or the table would outgrow `u32`.
    BadNewString {
        string: String,
    },
    /// The type table is full (ids are `u32`).
    TooManyTypes,
    /// A DATASEC whose size has to come from its ELF section, but the object has no
    /// non-empty section of that name.
    DatasecWithoutSection {
        datasec: String,
    },
    /// A DATASEC entry that is not a `VAR`.
    DatasecEntryNotVar {
        datasec: String,
        type_id: u32,
    },
    /// A global variable of a DATASEC with no ELF symbol to take its offset from.
    DatasecVarWithoutSymbol {
        datasec: String,
        var: String,
    },
    /// A variable that does not fit inside its section.
    DatasecVarOutOfBounds {
        datasec: String,
        var: String,
        offset: u32,
        size: u32,
        section_size: u32,
    },
    /// `.BTF.ext` header that is short, has the wrong magic, version or flags, or a bad length.
    ExtHeader {
        reason: &'static str,
    },
    /// A `.BTF.ext` info block (`func_info`, `line_info`, `core_relo`) whose offset
    /// is not 4-byte aligned or whose range runs past the end of the section.
    ExtBadBlock {
        block: &'static str,
        offset: u32,
        len: u32,
    },
    /// A `.BTF.ext` record size smaller than the known record, or not a multiple of 4.
    ExtRecordSize {
        block: &'static str,
        record_size: u32,
        minimum: u32,
    },
    /// A `.BTF.ext` section header whose name is not in the BTF string table.
    ExtSectionName {
        block: &'static str,
        name_off: u32,
        offset: usize,
    },
    /// `.BTF.ext` records that run past the end of their block. `section` is empty
    /// when even the section header is cut short.
    ExtTruncated {
        block: &'static str,
        section: String,
        offset: usize,
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
            BtfError::BadNewString { string } => write!(
                f,
                "BTF string {string:?} cannot be added: it contains a NUL byte or the string table is full"
            ),
            BtfError::TooManyTypes => write!(f, "BTF type table is full"),
            BtfError::DatasecWithoutSection { datasec } => write!(
                f,
                "BTF DATASEC `{datasec}` has no size and the object has no non-empty ELF section `{datasec}` to take it from"
            ),
            BtfError::DatasecEntryNotVar { datasec, type_id } => write!(
                f,
                "BTF DATASEC `{datasec}` lists type {type_id}, which is not a variable"
            ),
            BtfError::DatasecVarWithoutSymbol { datasec, var } => write!(
                f,
                "BTF variable `{var}` in DATASEC `{datasec}` has no ELF symbol in section `{datasec}` to take its offset from"
            ),
            BtfError::DatasecVarOutOfBounds {
                datasec,
                var,
                offset,
                size,
                section_size,
            } => write!(
                f,
                "BTF variable `{var}` ({size} bytes at offset {offset}) does not fit in DATASEC `{datasec}` of {section_size} bytes"
            ),
            BtfError::ExtHeader { reason } => write!(f, "BTF.ext header is invalid: {reason}"),
            BtfError::ExtBadBlock { block, offset, len } => write!(
                f,
                "BTF.ext {block} block ({len} bytes at offset {offset}) is misaligned or runs past the end"
            ),
            BtfError::ExtRecordSize {
                block,
                record_size,
                minimum,
            } => write!(
                f,
                "BTF.ext {block} record size {record_size} is invalid (at least {minimum}, a multiple of 4)"
            ),
            BtfError::ExtSectionName {
                block,
                name_off,
                offset,
            } => write!(
                f,
                "BTF.ext {block} entry at byte {offset} names section at string offset {name_off}, outside the BTF string table"
            ),
            BtfError::ExtTruncated {
                block,
                section,
                offset,
            } => {
                if section.is_empty() {
                    write!(f, "BTF.ext {block} is truncated: a section header at byte {offset} runs past the end")
                } else {
                    write!(f, "BTF.ext {block} is truncated: the records of section `{section}` at byte {offset} run past the end")
                }
            }
        }
    }
}

impl std::error::Error for BtfError {}

/// Parsed `.BTF`: the string table and the type table. [`Btf::to_bytes`] encodes
/// them back into a `.BTF` blob for the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Btf {
    /// For split BTF (a kernel module's), the BTF it extends: its ids and string
    /// offsets come first, shared instead of copied, so a hundred modules cost their
    /// own bytes and not a hundred copies of vmlinux. The base is never split itself.
    base: Option<Arc<Btf>>,
    /// This BTF's own string table, byte for byte: a name offset minus the base's
    /// string table length is an offset into it.
    strings: Vec<u8>,
    /// This BTF's own types: `types[i]` is type id `i + 1 +` the base's type count.
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
        Btf::parse_on(data, None)
    }

    /// Parses split BTF (a kernel module's `/sys/kernel/btf/<module>`), whose type ids
    /// and string offsets continue those of `base` (vmlinux). The result reads `base`'s
    /// types and strings followed by the module's, so ids and offsets are the kernel's;
    /// `base` is shared, not copied.
    pub fn parse_split(data: &[u8], base: Arc<Btf>) -> Result<Btf, BtfError> {
        if base.base.is_some() {
            return Err(BtfError::BadLayout {
                reason: "the base of split BTF is itself split BTF",
            });
        }
        Btf::parse_on(data, Some(base))
    }

    fn parse_on(data: &[u8], base: Option<Arc<Btf>>) -> Result<Btf, BtfError> {
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
        let strings = body[str_range].to_vec();
        let base_count = base.as_ref().map_or(0, |base| base.types.len());

        // Most types take 12 to 40 bytes: reserving for one per 24 saves the kernel's
        // 126,000-odd types several copies of a growing table.
        let mut types = Vec::with_capacity(type_range.len() / 24);
        let mut reader = Reader::new(&body[type_range.clone()]);
        while !reader.is_empty() {
            let type_id = base_count
                .checked_add(types.len() + 1)
                .and_then(|id| u32::try_from(id).ok())
                .ok_or(BtfError::BadLayout {
                    reason: "more types than type ids",
                })?;
            types.push(BtfType::parse(&mut reader, type_id)?);
        }
        let btf = Btf {
            base,
            strings,
            types,
        };
        btf.validate()?;
        Ok(btf)
    }

    /// Every name offset inside the string table, every referenced id inside the type
    /// table. Names are only bounds-checked here: [`Btf::string`] checks UTF-8 when a
    /// name is read, so parsing the kernel's BTF does not decode its 100,000-odd names.
    fn validate(&self) -> Result<(), BtfError> {
        let strings = self.base_strings_len() + self.strings.len();
        let name = |offset: u32| {
            if offset == 0 || (offset as usize) < strings {
                Ok(())
            } else {
                Err(BtfError::BadStringOffset { offset })
            }
        };
        let count = self.type_count();
        let first_own = self.first_own_id();
        for (index, ty) in self.types.iter().enumerate() {
            let type_id = first_own + index as u32;
            name(ty.name_off)?;
            ty.kind.check_each(name, |referenced| {
                if referenced as usize > count {
                    Err(BtfError::BadTypeId {
                        type_id: referenced,
                        referenced_by: type_id,
                    })
                } else {
                    Ok(())
                }
            })?;
        }
        Ok(())
    }

    /// The id of this BTF's first own type: 1, or the one after its base's last.
    fn first_own_id(&self) -> u32 {
        let base = self.base.as_ref().map_or(0, |base| base.types.len());
        u32::try_from(base).unwrap_or(u32::MAX).saturating_add(1)
    }

    /// The length of the base's string table (0 without a base): where this BTF's own
    /// string offsets start.
    pub(crate) fn base_strings_len(&self) -> usize {
        self.base.as_ref().map_or(0, |base| base.strings.len())
    }

    /// Encodes the types and strings as a version 1 little-endian `.BTF` blob: the
    /// 24-byte header, the type section, then the string section right after it.
    ///
    /// For an unmodified `Btf` parsed from a section with that layout (what clang
    /// emits) the bytes are the section's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut type_bytes = Vec::new();
        for ty in &self.types {
            ty.encode(&mut type_bytes);
        }
        // Lengths past u32 cannot come from parsing a section and are refused by
        // the kernel anyway; saturate instead of panicking.
        let type_len = u32::try_from(type_bytes.len()).unwrap_or(u32::MAX);
        let str_len = u32::try_from(self.strings.len()).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(BTF_HEADER_LEN + type_bytes.len() + self.strings.len());
        out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        out.push(BTF_VERSION);
        out.push(0); // flags
        for word in [BTF_HEADER_LEN as u32, 0, type_len, type_len, str_len] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&type_bytes);
        out.extend_from_slice(&self.strings);
        out
    }

    /// Appends a type and returns its id.
    pub fn push_type(&mut self, ty: BtfType) -> Result<u32, BtfError> {
        let type_id = self
            .type_count()
            .checked_add(1)
            .and_then(|id| u32::try_from(id).ok())
            .ok_or(BtfError::TooManyTypes)?;
        self.types.push(ty);
        Ok(type_id)
    }

    /// Type `type_id` for changing in place; `None` for `void` and ids past the table.
    pub fn get_mut(&mut self, type_id: u32) -> Option<&mut BtfType> {
        let index = type_id.checked_sub(self.first_own_id())?;
        self.types.get_mut(usize::try_from(index).ok()?)
    }

    /// This BTF's own types, `[i]` being type id `i + 1` when it has no base (the
    /// object's BTF, which the fixups in this module change).
    pub(crate) fn types_mut(&mut self) -> &mut [BtfType] {
        &mut self.types
    }

    /// Number of types, not counting `void`.
    pub fn type_count(&self) -> usize {
        self.base.as_ref().map_or(0, |base| base.types.len()) + self.types.len()
    }

    /// Type `type_id`; `None` for `void` (0) and ids past the table.
    pub fn get(&self, type_id: u32) -> Option<&BtfType> {
        let index = usize::try_from(type_id).ok()?.checked_sub(1)?;
        match &self.base {
            Some(base) if index < base.types.len() => base.types.get(index),
            Some(base) => self.types.get(index - base.types.len()),
            None => self.types.get(index),
        }
    }

    fn get_checked(&self, type_id: u32, referenced_by: u32) -> Result<&BtfType, BtfError> {
        self.get(type_id).ok_or(BtfError::BadTypeId {
            type_id,
            referenced_by,
        })
    }

    /// Iterates `(type_id, type)` in id order.
    pub fn types(&self) -> impl Iterator<Item = (u32, &BtfType)> {
        self.types_from(1)
    }

    /// Iterates `(type_id, type)` in id order from `first_id` on (a module's own types
    /// start after vmlinux's), without walking the ids before it.
    pub fn types_from(&self, first_id: u32) -> impl Iterator<Item = (u32, &BtfType)> {
        let base: &[BtfType] = self.base.as_deref().map_or(&[], |base| &base.types);
        let skip = usize::try_from(first_id.max(1) - 1).unwrap_or(usize::MAX);
        let base_part = base.get(skip..).unwrap_or(&[]);
        let own_part = self
            .types
            .get(skip.saturating_sub(base.len())..)
            .unwrap_or(&[]);
        let start = u32::try_from(skip).unwrap_or(u32::MAX).saturating_add(1);
        base_part
            .iter()
            .chain(own_part)
            .enumerate()
            .map(move |(index, ty)| (start + index as u32, ty))
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
                    // `const void` is void: 0 is no bad id here.
                    if target != 0 {
                        self.get_checked(target, current)?;
                    }
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
mod ext_tests;
#[cfg(test)]
mod fixup_tests;
#[cfg(test)]
mod object_tests;
#[cfg(test)]
mod sanitize_tests;
#[cfg(test)]
mod tests;
