//! Where a uprobe goes in a binary: the file offset of a function, from the binary's ELF
//! symbol table (`.symtab`, else `.dynsym`) and the loadable segment that holds it, as
//! libbpf's `elf_find_func_offset` computes it. The uprobe PMU takes a path and a file
//! offset, not a symbol.

use std::fmt;

use object::{Object as _, ObjectSegment as _, ObjectSymbol as _, SymbolKind};

/// Why a function's file offset cannot be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UprobeError {
    /// The bytes are not an ELF file `object` can read.
    NotElf(String),
    /// No defined function of that name in the symbol tables.
    NoSuchFunction { function: String },
    /// Several functions of that name at different addresses.
    Ambiguous {
        function: String,
        addresses: Vec<u64>,
    },
    /// The symbol's address lies in no loadable segment of the file.
    NotInASegment { function: String, address: u64 },
}

impl fmt::Display for UprobeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UprobeError::NotElf(why) => write!(f, "it is not an ELF binary ({why})"),
            UprobeError::NoSuchFunction { function } => write!(
                f,
                "it defines no function {function} in its symbol tables (a stripped binary keeps only its dynamic symbols)"
            ),
            UprobeError::Ambiguous {
                function,
                addresses,
            } => {
                let addresses: Vec<String> =
                    addresses.iter().map(|at| format!("{at:#x}")).collect();
                write!(
                    f,
                    "it defines function {function} more than once, at {}",
                    addresses.join(", ")
                )
            }
            UprobeError::NotInASegment { function, address } => write!(
                f,
                "function {function} at {address:#x} lies in no loadable segment of the file"
            ),
        }
    }
}

impl std::error::Error for UprobeError {}

/// The file offset of `function` in the ELF binary `bytes`: its symbol's value mapped
/// through the loadable segment that holds it (`value - p_vaddr + p_offset`). Never
/// panics, whatever the bytes.
pub fn function_file_offset(bytes: &[u8], function: &str) -> Result<u64, UprobeError> {
    let file =
        object::File::parse(bytes).map_err(|error| UprobeError::NotElf(error.to_string()))?;
    let mut addresses: Vec<u64> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|symbol| {
            symbol.kind() == SymbolKind::Text
                && symbol.is_definition()
                && symbol.name_bytes().ok() == Some(function.as_bytes())
        })
        .map(|symbol| symbol.address())
        .collect();
    addresses.sort_unstable();
    addresses.dedup();
    let address = match addresses.as_slice() {
        [] => {
            return Err(UprobeError::NoSuchFunction {
                function: function.to_string(),
            })
        }
        [address] => *address,
        _ => {
            return Err(UprobeError::Ambiguous {
                function: function.to_string(),
                addresses,
            })
        }
    };
    file.segments()
        .find_map(|segment| {
            let start = segment.address();
            let (file_offset, file_size) = segment.file_range();
            let end = start.checked_add(file_size)?;
            (start <= address && address < end).then(|| address - start + file_offset)
        })
        .ok_or_else(|| UprobeError::NotInASegment {
            function: function.to_string(),
            address,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal little-endian ELF64 executable: one PT_LOAD segment (vaddr 0x401000,
    /// file offset 0x1000, 0x100 bytes) and a `.symtab` with `probed` (FUNC at 0x401020),
    /// `data` (OBJECT at 0x401040) and `twice` (FUNC, at two addresses).
    fn tiny_elf() -> Vec<u8> {
        let mut elf = vec![0u8; 0x1100];
        let put = |elf: &mut Vec<u8>, at: usize, bytes: &[u8]| {
            elf[at..at + bytes.len()].copy_from_slice(bytes);
        };
        // Header.
        put(&mut elf, 0, b"\x7fELF\x02\x01\x01");
        put(&mut elf, 16, &2u16.to_le_bytes()); // ET_EXEC
        put(&mut elf, 18, &62u16.to_le_bytes()); // EM_X86_64
        put(&mut elf, 20, &1u32.to_le_bytes());
        put(&mut elf, 32, &64u64.to_le_bytes()); // e_phoff
        put(&mut elf, 40, &0x200u64.to_le_bytes()); // e_shoff
        put(&mut elf, 52, &64u16.to_le_bytes()); // e_ehsize
        put(&mut elf, 54, &56u16.to_le_bytes()); // e_phentsize
        put(&mut elf, 56, &1u16.to_le_bytes()); // e_phnum
        put(&mut elf, 58, &64u16.to_le_bytes()); // e_shentsize
        put(&mut elf, 60, &4u16.to_le_bytes()); // e_shnum: null, .symtab, .strtab, .shstrtab
        put(&mut elf, 62, &3u16.to_le_bytes()); // e_shstrndx
                                                // PT_LOAD, R+X.
        let ph = 64;
        put(&mut elf, ph, &1u32.to_le_bytes());
        put(&mut elf, ph + 4, &5u32.to_le_bytes());
        put(&mut elf, ph + 8, &0x1000u64.to_le_bytes()); // p_offset
        put(&mut elf, ph + 16, &0x401000u64.to_le_bytes()); // p_vaddr
        put(&mut elf, ph + 24, &0x401000u64.to_le_bytes()); // p_paddr
        put(&mut elf, ph + 32, &0x100u64.to_le_bytes()); // p_filesz
        put(&mut elf, ph + 40, &0x100u64.to_le_bytes()); // p_memsz
                                                         // .strtab at 0x400, .shstrtab at 0x480, .symtab at 0x500.
        let strtab = b"\0probed\0data\0twice\0";
        put(&mut elf, 0x400, strtab);
        let shstrtab = b"\0.symtab\0.strtab\0.shstrtab\0";
        put(&mut elf, 0x480, shstrtab);
        let symbol = |elf: &mut Vec<u8>, index: usize, name: u32, info: u8, value: u64| {
            let at = 0x500 + index * 24;
            elf[at..at + 4].copy_from_slice(&name.to_le_bytes());
            elf[at + 4] = info;
            elf[at + 6..at + 8].copy_from_slice(&1u16.to_le_bytes()); // st_shndx: defined
            elf[at + 8..at + 16].copy_from_slice(&value.to_le_bytes());
            elf[at + 16..at + 24].copy_from_slice(&8u64.to_le_bytes());
        };
        // STB_GLOBAL << 4 | STT_FUNC = 0x12; STT_OBJECT = 0x11.
        symbol(&mut elf, 1, 1, 0x12, 0x401020);
        symbol(&mut elf, 2, 8, 0x11, 0x401040);
        symbol(&mut elf, 3, 13, 0x12, 0x401050);
        symbol(&mut elf, 4, 13, 0x12, 0x401060);
        let section =
            |elf: &mut Vec<u8>, index: usize, fields: [u64; 6], link: u32, entsize: u64| {
                let at = 0x200 + index * 64;
                let [name, kind, offset, size, flags, addr] = fields;
                elf[at..at + 4].copy_from_slice(&(name as u32).to_le_bytes());
                elf[at + 4..at + 8].copy_from_slice(&(kind as u32).to_le_bytes());
                elf[at + 8..at + 16].copy_from_slice(&flags.to_le_bytes());
                elf[at + 16..at + 24].copy_from_slice(&addr.to_le_bytes());
                elf[at + 24..at + 32].copy_from_slice(&offset.to_le_bytes());
                elf[at + 32..at + 40].copy_from_slice(&size.to_le_bytes());
                elf[at + 40..at + 44].copy_from_slice(&link.to_le_bytes());
                elf[at + 44..at + 48].copy_from_slice(&1u32.to_le_bytes()); // sh_info
                elf[at + 48..at + 56].copy_from_slice(&8u64.to_le_bytes());
                elf[at + 56..at + 64].copy_from_slice(&entsize.to_le_bytes());
            };
        section(&mut elf, 1, [1, 2, 0x500, 5 * 24, 0, 0], 2, 24); // SHT_SYMTAB
        section(&mut elf, 2, [9, 3, 0x400, strtab.len() as u64, 0, 0], 0, 0); // SHT_STRTAB
        section(
            &mut elf,
            3,
            [17, 3, 0x480, shstrtab.len() as u64, 0, 0],
            0,
            0,
        );
        elf
    }

    #[test]
    fn a_function_maps_through_its_segment_to_a_file_offset() {
        assert_eq!(function_file_offset(&tiny_elf(), "probed"), Ok(0x1020));
    }

    #[test]
    fn data_symbols_and_missing_names_are_no_function() {
        for name in ["data", "missing", ""] {
            assert_eq!(
                function_file_offset(&tiny_elf(), name),
                Err(UprobeError::NoSuchFunction {
                    function: name.into()
                })
            );
        }
    }

    #[test]
    fn a_name_at_two_addresses_is_ambiguous() {
        let error = function_file_offset(&tiny_elf(), "twice").expect_err("ambiguous");
        assert_eq!(
            error.to_string(),
            "it defines function twice more than once, at 0x401050, 0x401060"
        );
    }

    #[test]
    fn an_address_outside_every_segment_is_said() {
        let mut elf = tiny_elf();
        // Move the load segment's file size below probed's offset into it.
        elf[64 + 32..64 + 40].copy_from_slice(&0x10u64.to_le_bytes());
        assert_eq!(
            function_file_offset(&elf, "probed"),
            Err(UprobeError::NotInASegment {
                function: "probed".into(),
                address: 0x401020
            })
        );
    }

    #[test]
    fn no_input_panics() {
        let elf = tiny_elf();
        assert!(matches!(
            function_file_offset(b"", "f"),
            Err(UprobeError::NotElf(_))
        ));
        for len in (0..elf.len()).step_by(7) {
            let _ = function_file_offset(&elf[..len], "probed");
        }
        for at in (0..0x600).step_by(3) {
            let mut flipped = elf.clone();
            flipped[at] ^= 0xff;
            let _ = function_file_offset(&flipped, "probed");
        }
    }

    /// The test binary itself: a real executable whose own `main` has a file offset.
    #[test]
    fn a_real_binary_is_read() {
        let Ok(bytes) = std::fs::read("/proc/self/exe") else {
            return;
        };
        if let Err(error) = function_file_offset(&bytes, "main") {
            panic!("main in the test binary: {error}");
        }
    }
}
