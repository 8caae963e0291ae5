//! Malformed input: clear errors, never a panic.

mod common;
use common::{read_object, Rng};

use std::panic::{catch_unwind, AssertUnwindSafe};

use elf::{Object, ParseError};

const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;
const E_MACHINE: usize = 18;

/// The sample program, the ELF test fixtures and a loader fixture with `.kconfig` externs.
const OBJECTS: [&str; 5] = [
    "kern/xdp.elf",
    "kern/xdp-debug.elf",
    "elf/tests/fixtures/legacy_maps.elf",
    "elf/tests/fixtures/legacy_persistent.elf",
    // `.kconfig` externs: their layout is computed from the BTF while parsing.
    "loader/tests/fixtures/kconfig_values.elf",
];

fn xdp_elf() -> Vec<u8> {
    read_object("kern/xdp.elf")
}

/// Parses, turning a panic into a test failure that names the input.
fn parse_without_panic(data: &[u8], what: &str) -> Result<Object, ParseError> {
    let result = catch_unwind(AssertUnwindSafe(|| Object::parse(data)));
    match result {
        Ok(parsed) => {
            if let Err(error) = &parsed {
                assert!(!error.to_string().is_empty(), "{what}: empty message");
            }
            parsed
        }
        Err(_) => panic!("Object::parse panicked on {what}"),
    }
}

fn assert_elf_error(result: Result<Object, ParseError>, what: &str) {
    match result {
        Err(ParseError::Elf { reason }) => assert!(!reason.is_empty(), "{what}"),
        other => panic!("{what}: expected ParseError::Elf, got {other:?}"),
    }
}

#[test]
fn empty_input() {
    assert_elf_error(Object::parse(&[]), "empty input");
}

#[test]
fn random_bytes() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for len in [1, 3, 4, 16, 63, 64, 65, 1000, 4096] {
        let data = rng.bytes(len);
        assert_elf_error(
            parse_without_panic(&data, &format!("{len} random bytes")),
            "random bytes",
        );
    }
}

#[test]
fn random_bytes_after_the_elf_magic() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for round in 0..200 {
        let len = 4 + (rng.next() % 512) as usize;
        let mut data = rng.bytes(len);
        data[..4].copy_from_slice(b"\x7fELF");
        if round % 2 == 0 && data.len() > E_MACHINE + 1 {
            // Get past the identification checks more often.
            data[EI_CLASS] = 2;
            data[EI_DATA] = 1;
            data[E_MACHINE..E_MACHINE + 2].copy_from_slice(&247u16.to_le_bytes());
        }
        assert!(
            parse_without_panic(&data, &format!("round {round}")).is_err(),
            "round {round}: random bytes parsed as an object"
        );
    }
}

#[test]
fn a_shell_script() {
    let script = b"#!/bin/sh\nset -e\necho 'not an ELF object'\n";
    assert_elf_error(Object::parse(script), "shell script");
}

#[test]
fn an_x86_64_executable() {
    let data = std::fs::read("/bin/true").expect("/bin/true");
    // EM_X86_64 = 62; on other hosts, whatever the machine is, it is not eBPF.
    let machine = u16::from_le_bytes([data[E_MACHINE], data[E_MACHINE + 1]]);
    assert_eq!(
        Object::parse(&data),
        Err(ParseError::WrongMachine { machine })
    );
    if cfg!(target_arch = "x86_64") {
        assert_eq!(machine, 62);
    }
    let message = ParseError::WrongMachine { machine }.to_string();
    assert!(message.contains("clang -target bpf"), "{message}");
}

#[test]
fn big_endian_object() {
    // What `clang -target bpfeb` writes: EI_DATA = ELFDATA2MSB and a big-endian e_machine.
    let mut data = xdp_elf();
    data[EI_DATA] = 2;
    data[E_MACHINE..E_MACHINE + 2].copy_from_slice(&247u16.to_be_bytes());
    assert_eq!(Object::parse(&data), Err(ParseError::BigEndian));
}

#[test]
fn only_the_data_encoding_byte_flipped() {
    // Read big-endian, the little-endian e_machine 247 is 0xf700: not eBPF.
    let mut data = xdp_elf();
    data[EI_DATA] = 2;
    assert_eq!(
        Object::parse(&data),
        Err(ParseError::WrongMachine { machine: 0xf700 })
    );
}

#[test]
fn thirty_two_bit_class() {
    let mut data = xdp_elf();
    data[EI_CLASS] = 1;
    assert_eq!(Object::parse(&data), Err(ParseError::NotElf64));
}

#[test]
fn every_error_has_a_message() {
    let errors = [
        ParseError::Elf { reason: "x".into() },
        ParseError::WrongMachine { machine: 62 },
        ParseError::BigEndian,
        ParseError::NotElf64,
    ];
    for error in errors {
        let message = error.to_string();
        assert!(message.len() > 10 && message.contains(' '), "{message}");
    }
}

#[test]
fn truncated_at_any_length() {
    let data = xdp_elf();
    let lengths = (0..data.len()).step_by(7).chain(0..128.min(data.len()));
    for len in lengths {
        let result = parse_without_panic(&data[..len], &format!("the first {len} bytes"));
        if len < 64 {
            assert!(result.is_err(), "{len} bytes cannot hold an ELF header");
        }
    }
    assert!(parse_without_panic(&data, "the whole file").is_ok());
}

#[test]
fn every_byte_flipped() {
    for name in OBJECTS {
        let original = read_object(name);
        assert!(Object::parse(&original).is_ok(), "{name} itself parses");
        let mut data = original.clone();
        let mut panicked = Vec::new();
        for offset in 0..data.len() {
            data[offset] ^= 0xff;
            if catch_unwind(AssertUnwindSafe(|| Object::parse(&data))).is_err() {
                panicked.push(offset);
            }
            data[offset] = original[offset];
        }
        assert!(
            panicked.is_empty(),
            "Object::parse panicked on {name} with the byte at these offsets flipped: {panicked:?}"
        );
    }
}

/// The ELF header, the section header table and each section's contents, as
/// `(offset, len)`: mutations land in the small sections that matter (maps,
/// relocations, symbols, BTF) as often as in the large DWARF ones.
fn regions(data: &[u8]) -> Vec<(usize, usize)> {
    let u64_at = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&data[at..at + 8]);
        u64::from_le_bytes(bytes) as usize
    };
    let shoff = u64_at(0x28);
    let shnum = usize::from(u16::from_le_bytes([data[0x3c], data[0x3d]]));
    let mut regions = vec![(0, 64), (shoff, shnum * 64)];
    for index in 0..shnum {
        let header = shoff + index * 64;
        let (offset, size) = (u64_at(header + 0x18), u64_at(header + 0x20));
        if size > 0 && offset + size <= data.len() {
            regions.push((offset, size));
        }
    }
    regions
}

#[test]
fn random_field_overwrites() {
    const ROUNDS: u64 = 3000;
    // Values that tend to sit on boundaries: sizes, counts, offsets, indexes.
    const INTERESTING: [u32; 17] = [
        0,
        1,
        2,
        7,
        8,
        16,
        20,
        24,
        40,
        0x7f,
        0x80,
        0xff,
        0xffff,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_fff0,
        0xffff_ffff,
    ];
    let mut rng = Rng(0x5eed_0fe1_f0b7_f00d);
    for name in OBJECTS {
        let original = read_object(name);
        let regions = regions(&original);
        for round in 0..ROUNDS {
            let mut data = original.clone();
            for _ in 0..1 + rng.next() % 4 {
                let (start, len) = regions[rng.next() as usize % regions.len()];
                let at = start + rng.next() as usize % len;
                let value = INTERESTING[rng.next() as usize % INTERESTING.len()];
                match rng.next() % 3 {
                    0 => data[at] = rng.next() as u8,
                    1 => {
                        let at = at & !3;
                        if at + 4 <= data.len() {
                            data[at..at + 4].copy_from_slice(&value.to_le_bytes());
                        }
                    }
                    _ => {
                        let at = at & !7;
                        let value = u64::from(value) | (rng.next() & 1) << 63;
                        if at + 8 <= data.len() {
                            data[at..at + 8].copy_from_slice(&value.to_le_bytes());
                        }
                    }
                }
            }
            // Ok or Err are both fine; a panic is not.
            let _ = parse_without_panic(&data, &format!("{name}, round {round}"));
        }
    }
}
