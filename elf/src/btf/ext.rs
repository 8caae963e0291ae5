//! `.BTF.ext`: per-instruction function, line and CO-RE relocation info, grouped by
//! the ELF section of the instructions it describes.
//!
//! Layout (`struct btf_ext_header` in libbpf's `libbpf_internal.h`): magic `0xeB9F`
//! (u16), version 1 (u8), flags (u8), `hdr_len` (u32), then offset and length (u32
//! each) of the `func_info` and `line_info` blocks and, when `hdr_len >= 32`, of
//! the `core_relo` block. Offsets count from the end of the header. Each block is
//! a u32 record size followed by `{ sec_name_off: u32, num_info: u32, records }`
//! repeated; records may be longer than the ones known here (a newer compiler):
//! the known prefix is read and the rest skipped.
//!
//! `insn_off` is kept as clang emits it: a byte offset from the start of the ELF
//! section named by [`ExtSection::section`]. The kernel wants instruction indexes
//! from the start of the loaded program: dividing by 8 and rebasing is the
//! loader's job, as is handing the kernel records of [`FUNC_INFO_REC_SIZE`] and
//! [`LINE_INFO_REC_SIZE`] bytes ([`encode_func_info`], [`encode_line_info`]).

use super::{Btf, BtfError, BTF_MAGIC, BTF_VERSION};

/// `sizeof(struct bpf_func_info)`: what [`encode_func_info`] emits per record.
pub const FUNC_INFO_REC_SIZE: u32 = 8;
/// `sizeof(struct bpf_line_info)`: what [`encode_line_info`] emits per record.
pub const LINE_INFO_REC_SIZE: u32 = 16;
/// `sizeof(struct bpf_core_relo)`.
pub const CORE_RELO_REC_SIZE: u32 = 16;

/// The header up to `line_info_len`.
const HEADER_LEN: usize = 24;
/// The header with `core_relo_off` and `core_relo_len`.
const HEADER_LEN_WITH_CORE: usize = 32;

/// Parsed `.BTF.ext`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BtfExt {
    /// Record size in the object (0 when there is no `func_info` block).
    pub func_info_rec_size: u32,
    /// Record size in the object (0 when there is no `line_info` block).
    pub line_info_rec_size: u32,
    pub func_info: Vec<ExtSection<FuncInfo>>,
    pub line_info: Vec<ExtSection<LineInfo>>,
    pub core_relos: Vec<ExtSection<CoreRelo>>,
}

/// The records that describe the instructions of one ELF section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtSection<T> {
    /// The ELF section name (`xdp`, `.text`, ...), from the BTF string table.
    pub section: String,
    pub records: Vec<T>,
}

/// `struct bpf_func_info`: the function starting at `insn_off` has BTF type `type_id`
/// (a `FUNC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuncInfo {
    /// Byte offset of the function's first instruction in its ELF section.
    pub insn_off: u32,
    pub type_id: u32,
}

/// `struct bpf_line_info`: the source line of the instruction at `insn_off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInfo {
    /// Byte offset of the instruction in its ELF section.
    pub insn_off: u32,
    /// BTF string offset of the source file name.
    pub file_name_off: u32,
    /// BTF string offset of the source line's text.
    pub line_off: u32,
    /// Line number in the upper 22 bits, column in the lower 10.
    pub line_col: u32,
}

/// `struct bpf_core_relo`: a CO-RE relocation of the instruction at `insn_off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreRelo {
    /// Byte offset of the instruction in its ELF section.
    pub insn_off: u32,
    /// The root type of the access, in the object's BTF.
    pub type_id: u32,
    /// BTF string offset of the access string (`0:1:2`).
    pub access_str_off: u32,
    /// `enum bpf_core_relo_kind`.
    pub kind: u32,
}

/// A `.BTF.ext` record: its block's name, minimum size, and how to read it.
trait Record: Sized {
    const BLOCK: &'static str;
    const MIN_SIZE: u32;
    /// Reads the known prefix of `bytes`, which holds at least `MIN_SIZE` bytes.
    fn read(bytes: &[u8]) -> Self;
}

/// The little-endian u32 at `offset`, 0 past the end (callers check lengths first).
fn word(bytes: &[u8], offset: usize) -> u32 {
    offset
        .checked_add(4)
        .and_then(|end| bytes.get(offset..end))
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}

impl Record for FuncInfo {
    const BLOCK: &'static str = "func_info";
    const MIN_SIZE: u32 = FUNC_INFO_REC_SIZE;
    fn read(bytes: &[u8]) -> Self {
        FuncInfo {
            insn_off: word(bytes, 0),
            type_id: word(bytes, 4),
        }
    }
}

impl Record for LineInfo {
    const BLOCK: &'static str = "line_info";
    const MIN_SIZE: u32 = LINE_INFO_REC_SIZE;
    fn read(bytes: &[u8]) -> Self {
        LineInfo {
            insn_off: word(bytes, 0),
            file_name_off: word(bytes, 4),
            line_off: word(bytes, 8),
            line_col: word(bytes, 12),
        }
    }
}

impl Record for CoreRelo {
    const BLOCK: &'static str = "core_relo";
    const MIN_SIZE: u32 = CORE_RELO_REC_SIZE;
    fn read(bytes: &[u8]) -> Self {
        CoreRelo {
            insn_off: word(bytes, 0),
            type_id: word(bytes, 4),
            access_str_off: word(bytes, 8),
            kind: word(bytes, 12),
        }
    }
}

impl BtfExt {
    /// Parses the contents of a `.BTF.ext` section; section names resolve through
    /// `btf`'s string table.
    pub fn parse(data: &[u8], btf: &Btf) -> Result<BtfExt, BtfError> {
        let header = |reason| BtfError::ExtHeader { reason };
        if data.len() < 8 {
            return Err(header("the section is shorter than the header"));
        }
        let magic = u16::from_le_bytes([*data.first().unwrap_or(&0), *data.get(1).unwrap_or(&0)]);
        if magic != BTF_MAGIC {
            return Err(header(
                "the magic is not 0xeb9f (only little-endian objects are supported)",
            ));
        }
        if data.get(2) != Some(&BTF_VERSION) {
            return Err(header("the version is not 1"));
        }
        if data.get(3) != Some(&0) {
            return Err(header("flags are set, and none are defined"));
        }
        let hdr_len = usize::try_from(word(data, 4)).unwrap_or(usize::MAX);
        if hdr_len < HEADER_LEN {
            return Err(header("the header length is shorter than 24 bytes"));
        }
        if hdr_len > data.len() {
            return Err(header("the header length is past the end of the section"));
        }
        let (func_info_rec_size, func_info) =
            parse_block::<FuncInfo>(data, hdr_len, word(data, 8), word(data, 12), btf)?;
        let (line_info_rec_size, line_info) =
            parse_block::<LineInfo>(data, hdr_len, word(data, 16), word(data, 20), btf)?;
        let core_relos = if hdr_len >= HEADER_LEN_WITH_CORE {
            parse_block::<CoreRelo>(data, hdr_len, word(data, 24), word(data, 28), btf)?.1
        } else {
            Vec::new()
        };
        Ok(BtfExt {
            func_info_rec_size,
            line_info_rec_size,
            func_info,
            line_info,
            core_relos,
        })
    }

    /// The `func_info` records of ELF section `section`.
    pub fn func_info_for<'a>(&'a self, section: &'a str) -> impl Iterator<Item = &'a FuncInfo> {
        records_for(&self.func_info, section)
    }

    /// The `line_info` records of ELF section `section`.
    pub fn line_info_for<'a>(&'a self, section: &'a str) -> impl Iterator<Item = &'a LineInfo> {
        records_for(&self.line_info, section)
    }

    /// The CO-RE relocations of ELF section `section`.
    pub fn core_relos_for<'a>(&'a self, section: &'a str) -> impl Iterator<Item = &'a CoreRelo> {
        records_for(&self.core_relos, section)
    }
}

fn records_for<'a, T>(sections: &'a [ExtSection<T>], name: &'a str) -> impl Iterator<Item = &'a T> {
    sections
        .iter()
        .filter(move |section| section.section == name)
        .flat_map(|section| section.records.iter())
}

/// One info block: its record size (0 when the block is empty) and its sections.
fn parse_block<T: Record>(
    data: &[u8],
    hdr_len: usize,
    off: u32,
    len: u32,
    btf: &Btf,
) -> Result<(u32, Vec<ExtSection<T>>), BtfError> {
    if len == 0 {
        return Ok((0, Vec::new()));
    }
    let bad_block = BtfError::ExtBadBlock {
        block: T::BLOCK,
        offset: off,
        len,
    };
    if off & 3 != 0 {
        return Err(bad_block);
    }
    let start = usize::try_from(off)
        .ok()
        .and_then(|off| hdr_len.checked_add(off))
        .ok_or(bad_block.clone())?;
    let end = usize::try_from(len)
        .ok()
        .and_then(|len| start.checked_add(len))
        .ok_or(bad_block.clone())?;
    let block = data.get(start..end).ok_or(bad_block)?;
    let truncated = |section: &str, at: usize| BtfError::ExtTruncated {
        block: T::BLOCK,
        section: section.to_owned(),
        offset: start.saturating_add(at),
    };

    if block.len() < 4 {
        return Err(truncated("", 0));
    }
    let record_size = word(block, 0);
    if record_size < T::MIN_SIZE || record_size & 3 != 0 {
        return Err(BtfError::ExtRecordSize {
            block: T::BLOCK,
            record_size,
            minimum: T::MIN_SIZE,
        });
    }
    let record_len = usize::try_from(record_size).map_err(|_| truncated("", 0))?;

    let mut sections = Vec::new();
    let mut pos = 4usize;
    while pos < block.len() {
        let header_end = pos.checked_add(8).filter(|&end| end <= block.len());
        let Some(header_end) = header_end else {
            return Err(truncated("", pos));
        };
        let name_off = word(block, pos);
        let count = word(block, pos.saturating_add(4));
        let section = btf
            .string(name_off)
            .map_err(|_| BtfError::ExtSectionName {
                block: T::BLOCK,
                name_off,
                offset: start.saturating_add(pos),
            })?
            .to_owned();
        let records_end = usize::try_from(count)
            .ok()
            .and_then(|count| count.checked_mul(record_len))
            .and_then(|bytes| header_end.checked_add(bytes));
        let Some(records) = records_end.and_then(|end| block.get(header_end..end)) else {
            return Err(truncated(&section, pos));
        };
        sections.push(ExtSection {
            section,
            records: records.chunks_exact(record_len).map(T::read).collect(),
        });
        pos = header_end.saturating_add(records.len());
    }
    Ok((record_size, sections))
}

/// `func_info` for `BPF_PROG_LOAD`: [`FUNC_INFO_REC_SIZE`]-byte records, as given
/// (the caller converts `insn_off` to instruction indexes first).
pub fn encode_func_info(records: &[FuncInfo]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len().saturating_mul(8));
    for record in records {
        for word in [record.insn_off, record.type_id] {
            out.extend_from_slice(&word.to_le_bytes());
        }
    }
    out
}

/// `line_info` for `BPF_PROG_LOAD`: [`LINE_INFO_REC_SIZE`]-byte records, as given
/// (the caller converts `insn_off` to instruction indexes first).
pub fn encode_line_info(records: &[LineInfo]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len().saturating_mul(16));
    for record in records {
        for word in [
            record.insn_off,
            record.file_name_off,
            record.line_off,
            record.line_col,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
    }
    out
}
