//! The whole parse driver, then linking every program: what -dump and the loader do
//! with a file before any kernel call.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(object) = elf::Object::parse(data) {
        for program in &object.programs {
            let _ = object.link(program);
        }
    }
});
