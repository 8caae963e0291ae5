//! `.BTF` on its own: parse, resolve every type's size, sanitise for the oldest kernel
//! and serialise again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut btf) = elf::btf::Btf::parse(data) {
        for (type_id, _) in btf.types().collect::<Vec<_>>() {
            let _ = btf.resolve_size(type_id);
        }
        let _ = btf.fixup_datasecs(|_| Some(64), |_, _| Some(0));
        btf.sanitize(&elf::btf::BtfFeatures::NONE);
        let _ = elf::btf::Btf::parse(&btf.to_bytes());
    }
});
