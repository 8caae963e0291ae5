//! Faults in the object file (issue 6): each malformed input gets the precise
//! `ParseError` that names what is wrong, and never a panic.
//!
//! Most cases patch a copy of kern/xdp.elf at a place found with the `object` crate (a
//! relocation's `r_offset`/`r_info`, a symbol's `st_value`, a section header, the bytes
//! of `.BTF` and `.BTF.ext`); the rest are the `bad_*` objects in elf/tests/fixtures
//! (`make -C elf/tests/fixtures`). The command-line side of the same faults (exit codes,
//! one sentence on stderr) is in loader/tests/faults.rs; random damage is in
//! bad_input.rs and the fuzz targets.

mod common;
use common::read_object;

use std::panic::{catch_unwind, AssertUnwindSafe};

use elf::btf::BtfError;
use elf::{Object, ParseError};
use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

/// Sizes of the ELF64 records patched here.
const SYM_SIZE: usize = 24;
const REL_SIZE: usize = 16;
const SHDR_SIZE: usize = 64;
/// Offsets inside a section header (`Elf64_Shdr`).
const SH_OFFSET: usize = 0x18;
const SH_SIZE: usize = 0x20;
/// Offsets inside a symbol (`Elf64_Sym`).
const ST_VALUE: usize = 8;
const ST_SIZE: usize = 16;
/// `R_BPF_64_64`, the ld_imm64 relocation kern/xdp.elf uses for its maps.
const R_BPF_64_64: u64 = 1;

fn xdp_elf() -> Vec<u8> {
    read_object("kern/xdp.elf")
}

/// Parses, turning a panic into a test failure that names the input.
fn parse(data: &[u8], what: &str) -> Result<Object, ParseError> {
    match catch_unwind(AssertUnwindSafe(|| Object::parse(data))) {
        Ok(result) => {
            if let Err(error) = &result {
                let message = error.to_string();
                assert!(
                    !message.is_empty() && !message.contains('\n'),
                    "{what}: one sentence: {message:?}"
                );
            }
            result
        }
        Err(_) => panic!("Object::parse panicked on {what}"),
    }
}

/// Where things are in an ELF object, found with the `object` crate.
struct Layout {
    /// (file offset, size) of a section, by name.
    sections: Vec<(String, usize, usize)>,
    /// e_shoff and the index of each section, for patching section headers.
    shoff: usize,
    indexes: Vec<(String, usize)>,
    /// Symbol table index of each named symbol.
    symbols: Vec<(String, usize)>,
}

impl Layout {
    fn of(data: &[u8]) -> Layout {
        let file = object::File::parse(data).expect("kern/xdp.elf parses");
        let sections = file
            .sections()
            .filter_map(|section| {
                let name = section.name().ok()?.to_string();
                let (offset, size) = section.file_range()?;
                Some((name, offset as usize, size as usize))
            })
            .collect();
        let indexes = file
            .sections()
            .filter_map(|section| Some((section.name().ok()?.to_string(), section.index().0)))
            .collect();
        let symbols = file
            .symbols()
            .filter_map(|symbol| {
                let name = symbol.name().ok()?;
                (!name.is_empty()).then(|| (name.to_string(), symbol.index().0))
            })
            .collect();
        let shoff = u64_at(data, 0x28) as usize;
        Layout {
            sections,
            shoff,
            indexes,
            symbols,
        }
    }

    /// (file offset, size) of section `name`.
    fn section(&self, name: &str) -> (usize, usize) {
        self.sections
            .iter()
            .find(|(found, _, _)| found == name)
            .map(|(_, offset, size)| (*offset, *size))
            .unwrap_or_else(|| panic!("kern/xdp.elf has no section {name}"))
    }

    /// File offset of section `name`'s header.
    fn header(&self, name: &str) -> usize {
        let index = self
            .indexes
            .iter()
            .find(|(found, _)| found == name)
            .map(|(_, index)| *index)
            .unwrap_or_else(|| panic!("kern/xdp.elf has no section {name}"));
        self.shoff + index * SHDR_SIZE
    }

    fn symbol_index(&self, name: &str) -> usize {
        self.symbols
            .iter()
            .find(|(found, _)| found == name)
            .map(|(_, index)| *index)
            .unwrap_or_else(|| panic!("kern/xdp.elf has no symbol {name}"))
    }

    /// File offset of symbol `name`'s `Elf64_Sym`.
    fn symbol(&self, name: &str) -> usize {
        self.section(".symtab").0 + self.symbol_index(name) * SYM_SIZE
    }

    /// File offset of the `index`th relocation of `.relxdp`.
    fn relocation(&self, index: usize) -> usize {
        let (offset, size) = self.section(".relxdp");
        assert!((index + 1) * REL_SIZE <= size, "relocation {index}");
        offset + index * REL_SIZE
    }
}

fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"))
}

fn put_u32(data: &mut [u8], at: usize, value: u32) {
    data[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(data: &mut [u8], at: usize, value: u64) {
    data[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// A copy of kern/xdp.elf with `patch` applied, and its parse.
fn patched(what: &str, patch: impl FnOnce(&mut Vec<u8>, &Layout)) -> Result<Object, ParseError> {
    let mut data = xdp_elf();
    let layout = Layout::of(&data);
    patch(&mut data, &layout);
    parse(&data, what)
}

// ---------------------------------------------------------------------------------------
// Files that are not eBPF objects at all.
// ---------------------------------------------------------------------------------------

#[test]
fn an_empty_file_is_not_an_elf_object() {
    match parse(&[], "an empty file") {
        Err(ParseError::Elf { reason }) => assert!(!reason.is_empty()),
        other => panic!("expected ParseError::Elf, got {other:?}"),
    }
}

#[test]
fn text_is_not_an_elf_object() {
    let text = b"SEC(\"xdp\") int prog(struct xdp_md *ctx) { return XDP_PASS; }\n";
    match parse(text, "C source") {
        Err(ParseError::Elf { reason }) => assert!(reason.contains("magic"), "{reason}"),
        other => panic!("expected ParseError::Elf, got {other:?}"),
    }
}

#[test]
fn a_host_executable_is_for_another_machine() {
    let data = std::fs::read("/bin/true").expect("/bin/true");
    let error = parse(&data, "/bin/true").expect_err("/bin/true is no eBPF object");
    assert!(
        matches!(error, ParseError::WrongMachine { .. }),
        "{error:?}"
    );
    if cfg!(target_arch = "x86_64") {
        assert_eq!(error, ParseError::WrongMachine { machine: 62 });
    }
    assert!(error.to_string().contains("not eBPF"), "{error}");
}

#[test]
fn big_endian_ebpf_built_by_clang_is_refused() {
    // Built with `clang -target bpfeb` (elf/tests/fixtures/Makefile), not patched.
    let data = read_object("elf/tests/fixtures/bad_bigendian.elf");
    assert_eq!(data[5], 2, "EI_DATA is ELFDATA2MSB");
    let error = parse(&data, "bad_bigendian.elf").expect_err("big-endian is refused");
    assert_eq!(error, ParseError::BigEndian);
    assert!(error.to_string().contains("big-endian"), "{error}");
}

#[test]
fn truncated_at_every_section_boundary() {
    // The section header table is at the end of the file, so every cut loses part of it.
    let data = xdp_elf();
    let layout = Layout::of(&data);
    let mut cuts: Vec<usize> = vec![0, 1, 4, 16, 63, 64, 65, layout.shoff, data.len() - 1];
    for (_, offset, size) in &layout.sections {
        cuts.extend([*offset, offset + size / 2, offset + size]);
    }
    cuts.sort_unstable();
    cuts.dedup();
    for cut in cuts.into_iter().filter(|&cut| cut < data.len()) {
        let error = parse(&data[..cut], &format!("the first {cut} bytes"))
            .expect_err("a truncated object never parses");
        assert!(
            matches!(error, ParseError::Elf { .. }),
            "cut at {cut}: the container is unreadable: {error:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Offsets out of range: sections, symbols, relocations.
// ---------------------------------------------------------------------------------------

#[test]
fn a_section_past_the_end_of_the_file() {
    // `xdp`'s contents start beyond the file: the code cannot be read.
    let result = patched("xdp at offset 1 MiB", |data, layout| {
        put_u64(data, layout.header("xdp") + SH_OFFSET, 1 << 20);
    });
    match result {
        Err(ParseError::Section { section, reason }) => {
            assert_eq!(section, "xdp");
            assert!(reason.contains("cannot be read"), "{reason}");
        }
        other => panic!("expected ParseError::Section for xdp, got {other:?}"),
    }
    // `.maps` claims far more bytes than the file holds.
    let result = patched(".maps of 2^40 bytes", |data, layout| {
        put_u64(data, layout.header(".maps") + SH_SIZE, 1 << 40);
    });
    // Only its size is used (for the DATASEC), and still it must lie inside the file.
    match result {
        Err(ParseError::Section { section, reason }) => {
            assert_eq!(section, ".maps");
            assert!(reason.contains("cannot be read"), "{reason}");
        }
        other => panic!("expected ParseError::Section for .maps, got {other:?}"),
    }
}

#[test]
fn the_section_header_table_past_the_end_of_the_file() {
    let mut data = xdp_elf();
    put_u64(&mut data, 0x28, 0xffff_ff00);
    assert!(
        matches!(
            parse(&data, "e_shoff past the end"),
            Err(ParseError::Elf { .. })
        ),
        "e_shoff past the end is an unreadable container"
    );
}

#[test]
fn a_symbol_table_past_the_end_of_the_file() {
    let result = patched(".symtab at 4 GiB", |data, layout| {
        put_u64(data, layout.header(".symtab") + SH_OFFSET, 0xffff_0000);
    });
    assert!(
        matches!(result, Err(ParseError::Elf { .. })),
        "an unreadable symbol table: {result:?}"
    );
}

#[test]
fn a_function_symbol_outside_its_section() {
    let result = patched("xdp_skeleton_2 at 64 KiB", |data, layout| {
        put_u64(data, layout.symbol("xdp_skeleton_2") + ST_VALUE, 0x10000);
    });
    match result {
        Err(ParseError::Symbol {
            section,
            symbol,
            reason,
        }) => {
            assert_eq!(
                (section.as_str(), symbol.as_str()),
                ("xdp", "xdp_skeleton_2")
            );
            assert!(reason.contains("spans bytes 65536.."), "{reason}");
        }
        other => panic!("expected ParseError::Symbol, got {other:?}"),
    }
    // The last function running one instruction past the end of the section.
    let result = patched("xdp_skeleton_2 one instruction too long", |data, layout| {
        let at = layout.symbol("xdp_skeleton_2") + ST_SIZE;
        let size = u64_at(data, at);
        put_u64(data, at, size + 8);
    });
    assert!(
        matches!(result, Err(ParseError::Symbol { ref symbol, .. }) if symbol == "xdp_skeleton_2"),
        "{result:?}"
    );
}

#[test]
fn a_map_symbol_outside_its_section() {
    let result = patched("stats_map at 4 KiB", |data, layout| {
        put_u64(data, layout.symbol("stats_map") + ST_VALUE, 0x1000);
    });
    // BTF maps: the DATASEC `.maps` takes its variables' offsets from their symbols.
    match result {
        Err(ParseError::Btf(BtfError::DatasecVarOutOfBounds {
            datasec,
            var,
            offset,
            section_size,
            ..
        })) => {
            assert_eq!((datasec.as_str(), var.as_str()), (".maps", "stats_map"));
            assert_eq!((offset, section_size), (0x1000, 152));
        }
        other => panic!("expected ParseError::Btf(DatasecVarOutOfBounds), got {other:?}"),
    }
    // Legacy maps (their DATASEC `maps` is checked the same way): a definition whose
    // symbol size runs past the section.
    let mut data = read_object("elf/tests/fixtures/legacy_maps.elf");
    let layout = Layout::of(&data);
    put_u64(&mut data, layout.symbol("flows") + ST_SIZE, 0x1000);
    match parse(&data, "legacy map flows of 4 KiB") {
        Err(ParseError::LegacyMap { map, reason }) => {
            assert_eq!(map, "flows");
            assert!(reason.contains("runs past the end"), "{reason}");
        }
        other => panic!("expected ParseError::LegacyMap, got {other:?}"),
    }
}

#[test]
fn a_relocation_past_the_end_of_its_section() {
    for r_offset in [0x7a8u64, 0x10_0000, 0xffff_ffff_ffff_fff8] {
        let result = patched(&format!("r_offset {r_offset:#x}"), |data, layout| {
            let (_, xdp_size) = layout.section("xdp");
            assert!(r_offset >= xdp_size as u64, "past the end of xdp");
            put_u64(data, layout.relocation(0), r_offset);
        });
        match result {
            Err(ParseError::Relocation {
                section,
                offset,
                symbol,
                reason,
            }) => {
                assert_eq!(section, "xdp");
                assert_eq!(offset, r_offset);
                assert_eq!(symbol, "stats_map");
                assert!(reason.contains("past the end of the section"), "{reason}");
            }
            other => {
                panic!("r_offset {r_offset:#x}: expected ParseError::Relocation, got {other:?}")
            }
        }
    }
}

#[test]
fn a_relocation_between_instructions() {
    let result = patched("r_offset not on an instruction", |data, layout| {
        let at = layout.relocation(0);
        let r_offset = u64_at(data, at);
        put_u64(data, at, r_offset + 4);
    });
    match result {
        Err(ParseError::Relocation { reason, .. }) => {
            assert!(reason.contains("instruction boundary"), "{reason}")
        }
        other => panic!("expected ParseError::Relocation, got {other:?}"),
    }
}

#[test]
fn a_relocation_against_an_unknown_symbol_index() {
    for symbol_index in [44u64, 0xffff, 0xffff_ffff] {
        let result = patched(&format!("symbol #{symbol_index}"), |data, layout| {
            let at = layout.relocation(0) + 8;
            let symbols = layout.section(".symtab").1 / SYM_SIZE;
            assert!(symbol_index >= symbols as u64, "outside the symbol table");
            put_u64(data, at, symbol_index << 32 | R_BPF_64_64);
        });
        match result {
            Err(ParseError::Relocation {
                section,
                symbol,
                reason,
                ..
            }) => {
                assert_eq!(section, "xdp");
                assert_eq!(symbol, format!("#{symbol_index}"));
                assert!(reason.contains("outside the symbol table"), "{reason}");
            }
            other => {
                panic!("symbol #{symbol_index}: expected ParseError::Relocation, got {other:?}")
            }
        }
    }
}

#[test]
fn a_relocation_against_a_symbol_that_is_no_map() {
    // Against `_license` (in `license`): not a map, not code, not global data.
    let result = patched("relocation against _license", |data, layout| {
        let index = layout.symbol_index("_license") as u64;
        put_u64(data, layout.relocation(0) + 8, index << 32 | R_BPF_64_64);
    });
    match result {
        Err(ParseError::Relocation { symbol, .. }) => assert_eq!(symbol, "_license"),
        other => panic!("expected ParseError::Relocation, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Legacy map definitions out of range (the bad_* fixtures).
// ---------------------------------------------------------------------------------------

fn legacy_map_error(fixture: &str) -> (String, String) {
    let data = read_object(&format!("elf/tests/fixtures/{fixture}.elf"));
    match parse(&data, fixture) {
        Err(ParseError::LegacyMap { map, reason }) => (map, reason),
        other => panic!("{fixture}: expected ParseError::LegacyMap, got {other:?}"),
    }
}

#[test]
fn a_legacy_map_definition_of_12_bytes() {
    let (map, reason) = legacy_map_error("bad_legacy_short");
    assert_eq!(map, "short_def");
    assert!(
        reason.contains("12 bytes") && reason.contains("16 bytes"),
        "{reason}"
    );
}

#[test]
fn a_legacy_map_of_an_unknown_type() {
    let (map, reason) = legacy_map_error("bad_legacy_type");
    assert_eq!(map, "odd_type");
    assert!(reason.contains("type 99"), "{reason}");
}

#[test]
fn an_iproute2_map_pinned_in_the_global_namespace() {
    let (map, reason) = legacy_map_error("bad_iproute2_global");
    assert_eq!(map, "global_pin");
    assert!(
        reason.contains("pinning 2") && reason.contains("PIN_GLOBAL_NS"),
        "{reason}"
    );
}

// ---------------------------------------------------------------------------------------
// .BTF and .BTF.ext, patched inside a copy of kern/xdp.elf.
// ---------------------------------------------------------------------------------------

/// `.BTF`'s header fields (relative to the section).
const BTF_HDR_LEN: usize = 4;
const BTF_TYPE_LEN: usize = 12;
const BTF_STR_OFF: usize = 16;
const BTF_STR_LEN: usize = 20;
/// `.BTF.ext`'s header: func_info_off/len, line_info_off/len.
const EXT_FUNC_OFF: usize = 8;
const EXT_LINE_OFF: usize = 16;
const EXT_LINE_LEN: usize = 20;

/// File offsets of each BTF type's 12-byte header in `.BTF`, by type id - 1.
fn btf_type_offsets(data: &[u8], btf: usize) -> Vec<usize> {
    let hdr_len = u32_at(data, btf + BTF_HDR_LEN) as usize;
    let type_off = u32_at(data, btf + 8) as usize;
    let type_len = u32_at(data, btf + BTF_TYPE_LEN) as usize;
    let start = btf + hdr_len + type_off;
    let end = start + type_len;
    let mut offsets = Vec::new();
    let mut at = start;
    while at < end {
        offsets.push(at);
        let info = u32_at(data, at + 4);
        let vlen = (info & 0xffff) as usize;
        let extra = match (info >> 24) & 0x1f {
            1 | 14 | 17 => 4,             // INT, VAR, DECL_TAG
            3 => 12,                      // ARRAY
            4 | 5 | 15 | 19 => 12 * vlen, // STRUCT, UNION, DATASEC, ENUM64
            6 | 13 => 8 * vlen,           // ENUM, FUNC_PROTO
            _ => 0,
        };
        at += 12 + extra;
    }
    assert_eq!(at, end, "the walk ends where the type section does");
    offsets
}

/// kern/xdp.elf with `.BTF` patched by `patch(data, start of .BTF, type offsets)`.
fn patched_btf(
    what: &str,
    patch: impl FnOnce(&mut Vec<u8>, usize, &[usize]),
) -> Result<Object, ParseError> {
    patched(what, |data, layout| {
        let (btf, _) = layout.section(".BTF");
        let types = btf_type_offsets(data, btf);
        patch(data, btf, &types);
    })
}

fn expect_btf(result: Result<Object, ParseError>, what: &str) -> BtfError {
    match result {
        Err(ParseError::Btf(error)) => {
            assert!(
                ParseError::Btf(error.clone())
                    .to_string()
                    .starts_with("section `.BTF`: "),
                "{what}"
            );
            error
        }
        other => panic!("{what}: expected ParseError::Btf, got {other:?}"),
    }
}

fn expect_btf_ext(result: Result<Object, ParseError>, what: &str) -> BtfError {
    match result {
        Err(ParseError::BtfExt(error)) => error,
        other => panic!("{what}: expected ParseError::BtfExt, got {other:?}"),
    }
}

#[test]
fn btf_with_a_bad_magic() {
    let error = expect_btf(
        patched_btf("BTF magic 0x0000", |data, btf, _| {
            data[btf] = 0;
            data[btf + 1] = 0;
        }),
        "bad magic",
    );
    assert_eq!(error, BtfError::BadMagic { found: 0 });
}

#[test]
fn btf_truncated_inside_its_header() {
    // The section header says `.BTF` is 20 bytes: not even the 24-byte header fits.
    let result = patched("BTF of 20 bytes", |data, layout| {
        put_u64(data, layout.header(".BTF") + SH_SIZE, 20);
    });
    let error = expect_btf(result, "20-byte BTF");
    assert!(matches!(error, BtfError::Truncated { .. }), "{error:?}");
}

#[test]
fn btf_whose_type_section_runs_past_the_end() {
    let error = expect_btf(
        patched_btf("type_len + 1 MiB", |data, btf, _| {
            let len = u32_at(data, btf + BTF_TYPE_LEN);
            put_u32(data, btf + BTF_TYPE_LEN, len + (1 << 20));
        }),
        "type_len too large",
    );
    assert!(matches!(error, BtfError::BadLayout { .. }), "{error:?}");
}

#[test]
fn btf_whose_types_stop_in_the_middle_of_a_type() {
    // type_len cut by 4 bytes: the last type (DATASEC `license`) loses its last entry
    // field, and the string section no longer follows the types.
    let error = expect_btf(
        patched_btf("type_len - 4", |data, btf, _| {
            let len = u32_at(data, btf + BTF_TYPE_LEN);
            put_u32(data, btf + BTF_TYPE_LEN, len - 4);
        }),
        "type_len cut short",
    );
    assert!(
        matches!(
            error,
            BtfError::Truncated { .. } | BtfError::BadLayout { .. }
        ),
        "{error:?}"
    );
}

#[test]
fn btf_string_offsets_past_the_string_table() {
    // Type 6 (TYPEDEF __u32) named by an offset just past the strings.
    let error = expect_btf(
        patched_btf("name_off past the strings", |data, btf, types| {
            let str_len = u32_at(data, btf + BTF_STR_LEN);
            put_u32(data, types[5], str_len);
        }),
        "name_off = str_len",
    );
    assert!(
        matches!(error, BtfError::BadStringOffset { .. }),
        "{error:?}"
    );
    // A struct member name (the first member of type 10, `type`) far past the strings.
    let error = expect_btf(
        patched_btf("member name_off past the strings", |data, _, types| {
            put_u32(data, types[9] + 12, 0x7fff_0000);
        }),
        "member name_off",
    );
    assert_eq!(
        error,
        BtfError::BadStringOffset {
            offset: 0x7fff_0000
        }
    );
    // The string section's length cut so that its last string has no NUL.
    let error = expect_btf(
        patched_btf("str_len - 1", |data, btf, _| {
            let len = u32_at(data, btf + BTF_STR_LEN);
            put_u32(data, btf + BTF_STR_LEN, len - 1);
        }),
        "strings without a final NUL",
    );
    assert!(matches!(error, BtfError::BadLayout { .. }), "{error:?}");
    // The string section moved past the end of `.BTF`.
    let error = expect_btf(
        patched_btf("str_off past the end", |data, btf, _| {
            put_u32(data, btf + BTF_STR_OFF, 0x00ff_0000);
        }),
        "str_off",
    );
    assert!(matches!(error, BtfError::BadLayout { .. }), "{error:?}");
}

#[test]
fn btf_referring_to_a_type_that_does_not_exist() {
    // Type 1 (PTR) pointing at type 0xffff.
    let error = expect_btf(
        patched_btf("PTR to type 0xffff", |data, _, types| {
            put_u32(data, types[0] + 8, 0xffff);
        }),
        "dangling type id",
    );
    assert_eq!(
        error,
        BtfError::BadTypeId {
            type_id: 0xffff,
            referenced_by: 1
        }
    );
}

#[test]
fn btf_types_that_refer_to_themselves() {
    // TYPEDEF __u32 (type 6) -> itself: every map's key size goes round in circles.
    let result = patched_btf("__u32 -> __u32", |data, _, types| {
        put_u32(data, types[5] + 8, 6);
    });
    assert_eq!(
        result.err(),
        Some(ParseError::Btf(BtfError::TooDeep { type_id: 6 }))
    );
    // TYPEDEF __u32 (6) -> TYPEDEF __u64 (20) -> TYPEDEF __u32 (6).
    let result = patched_btf("__u32 -> __u64 -> __u32", |data, _, types| {
        put_u32(data, types[5] + 8, 20);
        put_u32(data, types[19] + 8, 6);
    });
    assert_eq!(
        result.err(),
        Some(ParseError::Btf(BtfError::TooDeep { type_id: 6 }))
    );
    // A loop that nothing in the object needs resolved (PTR 32, xdp_md *ctx -> itself)
    // is left for the kernel to judge when the BTF is loaded; parsing it terminates.
    let result = patched_btf("PTR 32 -> 32", |data, _, types| {
        put_u32(data, types[31] + 8, 32);
    });
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn btf_ext_with_a_bad_magic() {
    let result = patched("BTF.ext magic 0x0000", |data, layout| {
        let (ext, _) = layout.section(".BTF.ext");
        data[ext] = 0;
        data[ext + 1] = 0;
    });
    let error = expect_btf_ext(result, "bad magic");
    assert!(matches!(error, BtfError::ExtHeader { .. }), "{error:?}");
}

#[test]
fn btf_ext_truncated() {
    // Cut at several points: inside the header, inside func_info, inside line_info.
    let data = xdp_elf();
    let layout = Layout::of(&data);
    let (_, ext_size) = layout.section(".BTF.ext");
    for size in [0usize, 4, 7, 12, 31, 40, 64, ext_size / 2, ext_size - 4] {
        let result = patched(&format!("BTF.ext of {size} bytes"), |data, layout| {
            put_u64(data, layout.header(".BTF.ext") + SH_SIZE, size as u64);
        });
        let error = expect_btf_ext(result, &format!("BTF.ext cut to {size} bytes"));
        assert!(
            matches!(
                error,
                BtfError::ExtHeader { .. }
                    | BtfError::ExtBadBlock { .. }
                    | BtfError::ExtTruncated { .. }
            ),
            "cut to {size}: {error:?}"
        );
    }
}

#[test]
fn btf_ext_blocks_out_of_range() {
    let ext_patch = |what: &str, field: usize, value: u32| {
        patched(what, |data, layout| {
            let (ext, _) = layout.section(".BTF.ext");
            put_u32(data, ext + field, value);
        })
    };
    let error = expect_btf_ext(
        ext_patch("line_info_len 16 MiB", EXT_LINE_LEN, 1 << 24),
        "line_info_len",
    );
    assert!(
        matches!(
            error,
            BtfError::ExtBadBlock {
                block: "line_info",
                ..
            }
        ),
        "{error:?}"
    );
    let error = expect_btf_ext(
        ext_patch("func_info_off misaligned", EXT_FUNC_OFF, 2),
        "func_info_off",
    );
    assert!(
        matches!(
            error,
            BtfError::ExtBadBlock {
                block: "func_info",
                ..
            }
        ),
        "{error:?}"
    );
    let error = expect_btf_ext(
        ext_patch("line_info_off past the end", EXT_LINE_OFF, 0x00ff_fff0),
        "line_info_off",
    );
    assert!(
        matches!(
            error,
            BtfError::ExtBadBlock {
                block: "line_info",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn btf_ext_section_names_past_the_string_table() {
    let result = patched("func_info sec_name_off past the strings", |data, layout| {
        let (ext, _) = layout.section(".BTF.ext");
        let hdr_len = u32_at(data, ext + 4) as usize;
        let func_off = u32_at(data, ext + EXT_FUNC_OFF) as usize;
        // The block: rec_size, then the first section's sec_name_off.
        put_u32(data, ext + hdr_len + func_off + 4, 0x7fff_fff0);
    });
    let error = expect_btf_ext(result, "sec_name_off");
    assert!(
        matches!(
            error,
            BtfError::ExtSectionName {
                block: "func_info",
                name_off: 0x7fff_fff0,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn btf_ext_record_counts_past_the_block() {
    let result = patched("line_info num_info 2^31", |data, layout| {
        let (ext, _) = layout.section(".BTF.ext");
        let hdr_len = u32_at(data, ext + 4) as usize;
        let line_off = u32_at(data, ext + EXT_LINE_OFF) as usize;
        // rec_size, sec_name_off, then num_info.
        put_u32(data, ext + hdr_len + line_off + 8, 0x8000_0000);
    });
    let error = expect_btf_ext(result, "num_info");
    assert!(
        matches!(
            error,
            BtfError::ExtTruncated {
                block: "line_info",
                ..
            }
        ),
        "{error:?}"
    );
}
