//! Shared by the elf integration tests: reading the objects the build makes.

use std::path::PathBuf;

/// Reads a build output of the repository (relative to its root), or says how to build it.
#[allow(dead_code)] // not every test binary reads objects
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

/// A small deterministic generator (xorshift64*), so failures reproduce. Each test
/// binary compiles this module and uses part of it.
#[allow(dead_code)]
pub struct Rng(pub u64);

#[allow(dead_code)]
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
