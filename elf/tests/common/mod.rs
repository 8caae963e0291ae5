//! Shared by the elf integration tests: reading the objects the build makes.

use std::path::PathBuf;

/// Reads a build output of the repository (relative to its root), or says how to build it.
pub fn read_object(relative: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; build it first: make -C kern all debug && make -C elf/tests/fixtures (scripts/test.sh does this)",
            path.display()
        )
    })
}
