//! Carving the BPF objects out of a program that embeds them: a bpftool-gen skeleton
//! holds its object as one byte array in the binary's read-only data, a whole ELF
//! file from its `\x7fELF` to the end of its section header table (clang writes that
//! table last). Found by its header alone, so it works on stripped binaries: ELFCLASS64,
//! e_machine EM_BPF (247), and e_shoff + e_shnum * e_shentsize inside the binary.
//! Plain byte parsing with checked arithmetic: no input makes it panic.

use std::ops::Range;

const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const ELFDATA2MSB: u8 = 2;
const EM_BPF: u16 = 247;
/// The size of an ELF64 header and of one ELF64 section header.
const EHDR64_SIZE: usize = 64;
const SHDR64_SIZE: u16 = 64;

fn read_u16(bytes: &[u8], at: usize, little: bool) -> Option<u16> {
    let raw: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if little {
        u16::from_le_bytes(raw)
    } else {
        u16::from_be_bytes(raw)
    })
}

fn read_u64(bytes: &[u8], at: usize, little: bool) -> Option<u64> {
    let raw: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(if little {
        u64::from_le_bytes(raw)
    } else {
        u64::from_be_bytes(raw)
    })
}

/// The length of the BPF object whose header starts at `bytes[0]`, if it is one and
/// it fits in `bytes`.
fn object_len(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < EHDR64_SIZE || !bytes.starts_with(ELF_MAGIC) || bytes[4] != ELFCLASS64 {
        return None;
    }
    let little = match bytes[5] {
        ELFDATA2LSB => true,
        ELFDATA2MSB => false,
        _ => return None,
    };
    if read_u16(bytes, 18, little)? != EM_BPF {
        return None;
    }
    let shoff = usize::try_from(read_u64(bytes, 0x28, little)?).ok()?;
    let shentsize = read_u16(bytes, 0x3a, little)?;
    let shnum = read_u16(bytes, 0x3c, little)?;
    // shnum 0 means "more than 0xff00 sections, count in section 0": never a skeleton.
    if shentsize != SHDR64_SIZE || shnum == 0 || shoff < EHDR64_SIZE {
        return None;
    }
    let end = shoff.checked_add(usize::from(shnum) * usize::from(shentsize))?;
    (end <= bytes.len()).then_some(end)
}

/// The byte ranges of every BPF object embedded in `binary`, in file order.
pub(super) fn carve(binary: &[u8]) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(offset) = binary
        .get(at..)
        .and_then(|rest| rest.windows(ELF_MAGIC.len()).position(|w| w == ELF_MAGIC))
    {
        let start = at + offset;
        match object_len(&binary[start..]) {
            Some(len) => {
                found.push(start..start + len);
                at = start + len;
            }
            None => at = start + 1,
        }
    }
    found
}

/// The file names for the objects carved out of `tool`: `tool.bpf.o` for one,
/// `tool-1.bpf.o`, `tool-2.bpf.o`, ... for several.
pub(super) fn object_names(tool: &str, count: usize) -> Vec<String> {
    match count {
        1 => vec![format!("{tool}.bpf.o")],
        _ => (1..=count).map(|n| format!("{tool}-{n}.bpf.o")).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 little-endian header for `machine`, with `shnum` section
    /// headers at `shoff`, padded to the end of its section header table.
    fn object(machine: u16, shoff: u64, shnum: u16) -> Vec<u8> {
        let mut bytes = vec![0u8; EHDR64_SIZE];
        bytes[..4].copy_from_slice(ELF_MAGIC);
        bytes[4] = ELFCLASS64;
        bytes[5] = ELFDATA2LSB;
        bytes[18..20].copy_from_slice(&machine.to_le_bytes());
        bytes[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        bytes[0x3a..0x3c].copy_from_slice(&SHDR64_SIZE.to_le_bytes());
        bytes[0x3c..0x3e].copy_from_slice(&shnum.to_le_bytes());
        let end = usize::try_from(shoff).expect("small") + usize::from(shnum) * 64;
        bytes.resize(end.max(EHDR64_SIZE), 0xaa);
        bytes
    }

    #[test]
    fn finds_each_bpf_object_between_other_bytes() {
        let first = object(EM_BPF, 128, 3);
        let second = object(EM_BPF, 64, 1);
        let mut binary = b"host code \x7fELF not a header".to_vec();
        let at_first = binary.len();
        binary.extend_from_slice(&first);
        binary.extend_from_slice(b"between");
        let at_second = binary.len();
        binary.extend_from_slice(&second);
        binary.extend_from_slice(b"tail");
        assert_eq!(
            carve(&binary),
            vec![
                at_first..at_first + first.len(),
                at_second..at_second + second.len()
            ]
        );
    }

    #[test]
    fn skips_other_machines_truncated_and_absurd_headers() {
        // An x86-64 ELF (the host binary's own header) is not a BPF object.
        assert!(carve(&object(62, 64, 2)).is_empty());
        // Its section headers would end past the end of the binary.
        let mut truncated = object(EM_BPF, 128, 3);
        truncated.truncate(truncated.len() - 1);
        assert!(carve(&truncated).is_empty());
        // e_shoff near u64::MAX must not overflow.
        let mut absurd = object(EM_BPF, 64, 1);
        absurd[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(carve(&absurd).is_empty());
        // No section headers, or a header cut short.
        assert!(carve(&object(EM_BPF, 64, 0)).is_empty());
        assert!(carve(&object(EM_BPF, 64, 1)[..40]).is_empty());
        assert!(carve(b"\x7fEL").is_empty());
    }

    #[test]
    fn names_one_object_after_its_tool_and_several_with_a_suffix() {
        assert_eq!(object_names("biolatency", 1), ["biolatency.bpf.o"]);
        assert_eq!(
            object_names("klockstat", 2),
            ["klockstat-1.bpf.o", "klockstat-2.bpf.o"]
        );
    }
}
