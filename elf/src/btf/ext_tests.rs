//! `.BTF.ext` parsing and encoding on hand-built sections.

use super::ext::{encode_func_info, encode_line_info, FUNC_INFO_REC_SIZE, LINE_INFO_REC_SIZE};
use super::tests::Builder;
use super::*;

/// BTF whose string table holds the section and file names the ext blobs use.
struct Names {
    btf: Btf,
    xdp: u32,
    text: u32,
    file: u32,
    line: u32,
    access: u32,
}

fn names() -> Names {
    let mut b = Builder::new();
    b.int("int", 4);
    let xdp = b.name("xdp");
    let text = b.name(".text");
    let file = b.name("kern/xdp.c");
    let line = b.name("    return XDP_PASS;");
    let access = b.name("0:1");
    Names {
        btf: b.parse().unwrap(),
        xdp,
        text,
        file,
        line,
        access,
    }
}

/// One info block: record size, then `(section name offset, records as words)`.
fn block(record_size: u32, sections: &[(u32, Vec<Vec<u32>>)]) -> Vec<u8> {
    let mut out = record_size.to_le_bytes().to_vec();
    for (name, records) in sections {
        out.extend_from_slice(&name.to_le_bytes());
        out.extend_from_slice(&(records.len() as u32).to_le_bytes());
        for record in records {
            assert_eq!(record.len() * 4, record_size as usize);
            for word in record {
                out.extend_from_slice(&word.to_le_bytes());
            }
        }
    }
    out
}

/// A `.BTF.ext` section with a `hdr_len`-byte header (24 or 32 and more) and the blocks
/// laid out one after the other.
fn ext(hdr_len: u32, func: &[u8], line: &[u8], core: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&BTF_MAGIC.to_le_bytes());
    out.extend_from_slice(&[BTF_VERSION, 0]);
    out.extend_from_slice(&hdr_len.to_le_bytes());
    let func_off = 0u32;
    let line_off = func.len() as u32;
    let core_off = line_off + line.len() as u32;
    let mut fields = vec![func_off, func.len() as u32, line_off, line.len() as u32];
    if hdr_len >= 32 {
        fields.extend([core_off, core.len() as u32]);
    }
    for field in fields {
        out.extend_from_slice(&field.to_le_bytes());
    }
    out.resize(hdr_len as usize, 0);
    out.extend_from_slice(func);
    out.extend_from_slice(line);
    if hdr_len >= 32 {
        out.extend_from_slice(core);
    }
    out
}

fn sample_blocks(n: &Names) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let func = block(
        8,
        &[
            (n.xdp, vec![vec![0, 5], vec![0x58, 6]]),
            (n.text, vec![vec![0, 7]]),
        ],
    );
    let line = block(
        16,
        &[(
            n.xdp,
            vec![
                vec![0, n.file, n.line, (42 << 10) | 5],
                vec![16, n.file, n.line, 43 << 10],
            ],
        )],
    );
    let core = block(16, &[(n.text, vec![vec![8, 1, n.access, 0]])]);
    (func, line, core)
}

#[test]
fn parses_func_line_and_core_info() {
    let n = names();
    let (func, line, core) = sample_blocks(&n);
    let data = ext(32, &func, &line, &core);
    let parsed = BtfExt::parse(&data, &n.btf).unwrap();
    assert_eq!(parsed.func_info_rec_size, 8);
    assert_eq!(parsed.line_info_rec_size, 16);
    assert_eq!(
        parsed.func_info,
        [
            ExtSection {
                section: "xdp".into(),
                records: vec![
                    FuncInfo {
                        insn_off: 0,
                        type_id: 5
                    },
                    FuncInfo {
                        insn_off: 0x58,
                        type_id: 6
                    }
                ]
            },
            ExtSection {
                section: ".text".into(),
                records: vec![FuncInfo {
                    insn_off: 0,
                    type_id: 7
                }]
            }
        ]
    );
    assert_eq!(
        parsed.line_info,
        [ExtSection {
            section: "xdp".into(),
            records: vec![
                LineInfo {
                    insn_off: 0,
                    file_name_off: n.file,
                    line_off: n.line,
                    line_col: (42 << 10) | 5
                },
                LineInfo {
                    insn_off: 16,
                    file_name_off: n.file,
                    line_off: n.line,
                    line_col: 43 << 10
                }
            ]
        }]
    );
    assert_eq!(
        parsed.core_relos,
        [ExtSection {
            section: ".text".into(),
            records: vec![CoreRelo {
                insn_off: 8,
                type_id: 1,
                access_str_off: n.access,
                kind: 0
            }]
        }]
    );
    // Lookups by section.
    let xdp: Vec<u32> = parsed.func_info_for("xdp").map(|f| f.type_id).collect();
    assert_eq!(xdp, [5, 6]);
    assert_eq!(parsed.line_info_for("xdp").count(), 2);
    assert_eq!(parsed.line_info_for(".text").count(), 0);
    assert_eq!(parsed.core_relos_for(".text").count(), 1);
    assert_eq!(parsed.func_info_for("tc").count(), 0);
    assert_eq!(
        n.btf.string(parsed.line_info[0].records[0].line_off),
        Ok("    return XDP_PASS;")
    );
}

#[test]
fn a_24_byte_header_has_no_core_relos() {
    let n = names();
    let (func, line, core) = sample_blocks(&n);
    let parsed = BtfExt::parse(&ext(24, &func, &line, &core), &n.btf).unwrap();
    assert_eq!(parsed.func_info.len(), 2);
    assert_eq!(parsed.line_info.len(), 1);
    assert!(parsed.core_relos.is_empty());
}

#[test]
fn empty_blocks_are_absent() {
    let n = names();
    let parsed = BtfExt::parse(&ext(32, &[], &[], &[]), &n.btf).unwrap();
    assert_eq!(parsed, BtfExt::default());
    // A longer header from a newer compiler: unknown fields are skipped.
    let (func, _, _) = sample_blocks(&n);
    let parsed = BtfExt::parse(&ext(40, &func, &[], &[]), &n.btf).unwrap();
    assert_eq!(parsed.func_info.len(), 2);
    assert_eq!(parsed.line_info_rec_size, 0);
}

#[test]
fn larger_records_keep_the_known_prefix() {
    let n = names();
    let func = block(
        12,
        &[(n.xdp, vec![vec![8, 5, 0xdead], vec![16, 6, 0xbeef]])],
    );
    let line = block(20, &[(n.xdp, vec![vec![8, n.file, n.line, 7 << 10, 99]])]);
    let core = block(24, &[(n.text, vec![vec![0, 1, n.access, 2, 3, 4]])]);
    let parsed = BtfExt::parse(&ext(32, &func, &line, &core), &n.btf).unwrap();
    assert_eq!(parsed.func_info_rec_size, 12);
    assert_eq!(parsed.line_info_rec_size, 20);
    let funcs: Vec<FuncInfo> = parsed.func_info_for("xdp").copied().collect();
    assert_eq!(
        funcs,
        [
            FuncInfo {
                insn_off: 8,
                type_id: 5
            },
            FuncInfo {
                insn_off: 16,
                type_id: 6
            }
        ]
    );
    assert_eq!(parsed.line_info[0].records[0].line_col, 7 << 10);
    assert_eq!(parsed.core_relos[0].records[0].kind, 2);
}

#[test]
fn records_smaller_than_known_or_unaligned_are_errors() {
    let n = names();
    for (size, words) in [(4u32, 1usize), (0, 0)] {
        let func = block(size, &[(n.xdp, vec![vec![0; words]])]);
        assert_eq!(
            BtfExt::parse(&ext(32, &func, &[], &[]), &n.btf),
            Err(BtfError::ExtRecordSize {
                block: "func_info",
                record_size: size,
                minimum: 8
            })
        );
    }
    let line = block(12, &[(n.xdp, vec![vec![0, 0, 0]])]);
    assert_eq!(
        BtfExt::parse(&ext(32, &[], &line, &[]), &n.btf),
        Err(BtfError::ExtRecordSize {
            block: "line_info",
            record_size: 12,
            minimum: 16
        })
    );
    // 18 bytes: not a multiple of 4.
    let mut core = 18u32.to_le_bytes().to_vec();
    core.extend_from_slice(&[0; 28]);
    assert!(matches!(
        BtfExt::parse(&ext(32, &[], &[], &core), &n.btf),
        Err(BtfError::ExtRecordSize {
            block: "core_relo",
            record_size: 18,
            ..
        })
    ));
}

#[test]
fn bad_headers() {
    let n = names();
    let (func, line, core) = sample_blocks(&n);
    let good = ext(32, &func, &line, &core);
    let header_error =
        |data: &[u8]| matches!(BtfExt::parse(data, &n.btf), Err(BtfError::ExtHeader { .. }));
    for len in 0..32 {
        assert!(header_error(&good[..len]), "{len} bytes");
    }
    let mut data = good.clone();
    data[0..2].copy_from_slice(&BTF_MAGIC.to_be_bytes());
    assert!(header_error(&data));
    let mut data = good.clone();
    data[2] = 2;
    assert!(header_error(&data));
    let mut data = good.clone();
    data[3] = 1;
    assert!(header_error(&data));
    let mut data = good.clone();
    data[4..8].copy_from_slice(&16u32.to_le_bytes());
    assert!(header_error(&data));
    let mut data = good.clone();
    data[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(header_error(&data));
    let error = BtfExt::parse(&good[..4], &n.btf).unwrap_err();
    assert!(error.to_string().starts_with("BTF.ext header"), "{error}");
}

#[test]
fn blocks_past_the_end_or_misaligned() {
    let n = names();
    let (func, line, core) = sample_blocks(&n);
    let good = ext(32, &func, &line, &core);
    // func_info_len reaching past the end.
    let mut data = good.clone();
    let len = data.len() as u32;
    data[12..16].copy_from_slice(&len.to_le_bytes());
    assert_eq!(
        BtfExt::parse(&data, &n.btf),
        Err(BtfError::ExtBadBlock {
            block: "func_info",
            offset: 0,
            len
        })
    );
    // line_info_off not a multiple of 4.
    let mut data = good.clone();
    data[16..20].copy_from_slice(&2u32.to_le_bytes());
    assert!(matches!(
        BtfExt::parse(&data, &n.btf),
        Err(BtfError::ExtBadBlock {
            block: "line_info",
            offset: 2,
            ..
        })
    ));
    // Offsets that overflow.
    let mut data = good.clone();
    data[24..28].copy_from_slice(&(u32::MAX - 3).to_le_bytes());
    assert!(matches!(
        BtfExt::parse(&data, &n.btf),
        Err(BtfError::ExtBadBlock {
            block: "core_relo",
            ..
        })
    ));
}

#[test]
fn truncated_records_name_the_section_and_offset() {
    let n = names();
    // Claims three records, holds two.
    let mut func = block(8, &[(n.xdp, vec![vec![0, 5], vec![8, 6]])]);
    func[8..12].copy_from_slice(&3u32.to_le_bytes());
    let error = BtfExt::parse(&ext(32, &func, &[], &[]), &n.btf).unwrap_err();
    assert_eq!(
        error,
        BtfError::ExtTruncated {
            block: "func_info",
            section: "xdp".into(),
            offset: 32 + 4
        }
    );
    assert!(error.to_string().contains("`xdp`"), "{error}");
    // A huge count does not overflow.
    func[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        BtfExt::parse(&ext(32, &func, &[], &[]), &n.btf),
        Err(BtfError::ExtTruncated { .. })
    ));
    // Half a section header after the records.
    let mut func = block(8, &[(n.xdp, vec![vec![0, 5]])]);
    func.extend_from_slice(&n.text.to_le_bytes());
    let error = BtfExt::parse(&ext(32, &func, &[], &[]), &n.btf).unwrap_err();
    assert_eq!(
        error,
        BtfError::ExtTruncated {
            block: "func_info",
            section: String::new(),
            offset: 32 + 4 + 8 + 8
        }
    );
    // A block with only part of its record size.
    let data = ext(32, &[8, 0], &[], &[]);
    assert!(BtfExt::parse(&data, &n.btf).is_err());
}

#[test]
fn section_names_outside_the_string_table() {
    let n = names();
    let func = block(8, &[(9999, vec![vec![0, 5]])]);
    assert_eq!(
        BtfExt::parse(&ext(32, &func, &[], &[]), &n.btf),
        Err(BtfError::ExtSectionName {
            block: "func_info",
            name_off: 9999,
            offset: 32 + 4
        })
    );
}

#[test]
fn a_section_with_no_records_is_kept_empty() {
    let n = names();
    let func = block(8, &[(n.text, vec![]), (n.xdp, vec![vec![0, 5]])]);
    let parsed = BtfExt::parse(&ext(32, &func, &[], &[]), &n.btf).unwrap();
    assert_eq!(parsed.func_info.len(), 2);
    assert!(parsed.func_info[0].records.is_empty());
}

#[test]
fn truncated_anywhere_never_panics() {
    let n = names();
    let (func, line, core) = sample_blocks(&n);
    let data = ext(32, &func, &line, &core);
    for len in 0..data.len() {
        let _ = BtfExt::parse(&data[..len], &n.btf);
    }
    // Every byte flipped, one at a time.
    for at in 0..data.len() {
        let mut bad = data.clone();
        bad[at] ^= 0xff;
        let _ = BtfExt::parse(&bad, &n.btf);
    }
    assert!(BtfExt::parse(&data, &n.btf).is_ok());
}

#[test]
fn encodes_kernel_records() {
    let funcs = [
        FuncInfo {
            insn_off: 0,
            type_id: 5,
        },
        FuncInfo {
            insn_off: 11,
            type_id: 0x0102_0304,
        },
    ];
    let bytes = encode_func_info(&funcs);
    assert_eq!(bytes.len(), 2 * FUNC_INFO_REC_SIZE as usize);
    assert_eq!(bytes, [0, 0, 0, 0, 5, 0, 0, 0, 11, 0, 0, 0, 4, 3, 2, 1]);
    let lines = [LineInfo {
        insn_off: 3,
        file_name_off: 0x10,
        line_off: 0x20,
        line_col: (42 << 10) | 5,
    }];
    let bytes = encode_line_info(&lines);
    assert_eq!(bytes.len(), LINE_INFO_REC_SIZE as usize);
    assert_eq!(
        bytes,
        [3, 0, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0, 0, 5, 0xa8, 0, 0]
    );
    assert!(encode_func_info(&[]).is_empty());
    assert!(encode_line_info(&[]).is_empty());
}
