//! `.BTF.ext` against a fixed, valid `.BTF` (section names resolve through its strings).
#![no_main]

use libfuzzer_sys::fuzz_target;

/// A minimal valid BTF whose string table holds the section names `xdp` and `.text`.
fn btf() -> elf::btf::Btf {
    let strings = b"\0xdp\0.text\0int\0";
    let types: [u32; 4] = [11, 1 << 24, 4, 32]; // int, 4 bytes, 32 bits
    let mut blob = Vec::new();
    blob.extend_from_slice(&0xeb9fu16.to_le_bytes());
    blob.extend_from_slice(&[1, 0]);
    for word in [24u32, 0, 16, 16, strings.len() as u32] {
        blob.extend_from_slice(&word.to_le_bytes());
    }
    for word in types {
        blob.extend_from_slice(&word.to_le_bytes());
    }
    blob.extend_from_slice(strings);
    elf::btf::Btf::parse(&blob).expect("the fixed BTF is valid")
}

fuzz_target!(|data: &[u8]| {
    let btf = btf();
    if let Ok(ext) = elf::btf::BtfExt::parse(data, &btf) {
        let _ = ext.func_info_for("xdp").count();
        let _ = ext.line_info_for(".text").count();
    }
});
