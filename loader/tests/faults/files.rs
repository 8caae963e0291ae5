//! Bad files: no root needed, each fails before anything reaches the kernel. Missing,
//! empty, not ELF, not eBPF, truncated, malformed (patched copies of kern/xdp.elf), and
//! map definitions the kernel would refuse.

use super::*;

/// A parser fixture (`make -C elf/tests/fixtures`).
fn elf_fixture(name: &str) -> String {
    let path = repo_root()
        .join("elf/tests/fixtures")
        .join(format!("{name}.elf"));
    assert!(
        path.exists(),
        "{} is missing: build it with `make -C elf/tests/fixtures` (scripts/test.sh does this)",
        path.display()
    );
    path.display().to_string()
}

fn le_u16(data: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([data[at], data[at + 1]]))
}

fn le_u32(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"))
}

fn le_u64(data: &[u8], at: usize) -> usize {
    u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes")) as usize
}

/// (header offset, contents offset, size) of section `name`.
fn elf_section(data: &[u8], name: &str) -> (usize, usize, usize) {
    let (shoff, shnum, shstrndx) = (le_u64(data, 0x28), le_u16(data, 0x3c), le_u16(data, 0x3e));
    let header = |index: usize| shoff + index * 64;
    let strtab = le_u64(data, header(shstrndx) + 0x18);
    (0..shnum)
        .map(|index| {
            let at = header(index);
            let name_at = strtab + le_u32(data, at) as usize;
            let end = data[name_at..]
                .iter()
                .position(|&byte| byte == 0)
                .expect("NUL");
            (
                &data[name_at..name_at + end],
                at,
                le_u64(data, at + 0x18),
                le_u64(data, at + 0x20),
            )
        })
        .find(|(found, ..)| *found == name.as_bytes())
        .map(|(_, at, offset, size)| (at, offset, size))
        .unwrap_or_else(|| panic!("kern/xdp.elf has no section {name}"))
}

/// A temporary copy of kern/xdp.elf with `patch` applied.
fn patched_kern(tag: &str, patch: impl FnOnce(&mut Vec<u8>)) -> TempFile {
    let mut data = std::fs::read(xdp_object()).expect("read kern/xdp.elf");
    patch(&mut data);
    TempFile::new(tag, &data)
}

/// The same file through `-dump`, `-load-only` and an attach: each fails with `code`.
fn assert_every_mode_fails(file: &str, code: ExitKind, words: &[&str], what: &str) {
    let pin_dir = format!("/sys/fs/bpf/xdpf-{}-never-made", std::process::id());
    let modes: [&[&str]; 3] = [
        &["-file", file, "-dump"],
        &["-file", file, "-load-only", "-pin-path", &pin_dir],
        &["-file", file, "-i", "nosuchif0", "-pin-path", &pin_dir],
    ];
    for args in modes {
        let what = format!("{what} ({})", args[2]);
        let line = assert_fails(&xdploader_with(args), code, &what);
        assert_mentions(&line, words, &what);
    }
    assert!(
        !Path::new(&pin_dir).exists(),
        "{what}: no pin directory made"
    );
}

#[test]
fn a_missing_file_is_an_environment_error() {
    let missing = std::env::temp_dir().join(format!("xdpf-{}-missing.elf", std::process::id()));
    assert_every_mode_fails(
        path_str(&missing),
        ExitKind::Environment,
        &[path_str(&missing), "No such file", "-file"],
        "a missing file",
    );
}

#[test]
fn an_empty_file_is_a_bad_object() {
    let file = TempFile::new("empty.elf", b"");
    assert_every_mode_fails(
        file.as_str(),
        ExitKind::BadObject,
        &["not a readable ELF object"],
        "an empty file",
    );
}

#[test]
fn a_file_that_is_not_elf_is_a_bad_object() {
    let file = TempFile::new(
        "text.elf",
        b"SEC(\"xdp\") int prog(struct xdp_md *ctx) { return XDP_PASS; }\n",
    );
    assert_every_mode_fails(
        file.as_str(),
        ExitKind::BadObject,
        &["ELF magic"],
        "C source",
    );
}

#[test]
fn an_x86_64_executable_is_not_ebpf() {
    assert_every_mode_fails(
        "/bin/true",
        ExitKind::BadObject,
        &["not eBPF", "clang -target bpf"],
        "/bin/true",
    );
}

#[test]
fn big_endian_ebpf_is_refused() {
    assert_every_mode_fails(
        &elf_fixture("bad_bigendian"),
        ExitKind::BadObject,
        &["big-endian"],
        "bad_bigendian.elf (clang -target bpfeb)",
    );
}

#[test]
fn a_truncated_object_is_a_bad_object_wherever_it_is_cut() {
    let data = std::fs::read(xdp_object()).expect("read kern/xdp.elf");
    let pin_dir = format!("/sys/fs/bpf/xdpf-{}-never-made", std::process::id());
    // 40 evenly spread cuts, plus inside the ELF header and the section header table.
    let mut cuts: Vec<usize> = (0..40).map(|step| data.len() * step / 40).collect();
    cuts.extend([1, 4, 5, 17, 52, 63, 64, data.len() - 64, data.len() - 1]);
    for cut in cuts {
        let file = TempFile::new("cut.elf", &data[..cut]);
        for mode in [&["-dump"][..], &["-load-only", "-pin-path", &pin_dir][..]] {
            let mut args = vec!["-file", file.as_str()];
            args.extend_from_slice(mode);
            let what = format!("kern/xdp.elf cut at {cut} bytes ({})", mode[0]);
            let line = assert_fails(&xdploader_with(&args), ExitKind::BadObject, &what);
            assert_mentions(&line, &["cannot load", file.as_str()], &what);
        }
    }
    assert!(!Path::new(&pin_dir).exists(), "no pin directory made");
}

#[test]
fn malformed_objects_name_what_is_wrong() {
    let cases: Vec<(&str, TempFile, &[&str])> = vec![
        (
            "a relocation past the end of its section",
            patched_kern("reloc.elf", |data| {
                let (_, relxdp, _) = elf_section(data, ".relxdp");
                data[relxdp..relxdp + 8].copy_from_slice(&0x10_0000u64.to_le_bytes());
            }),
            &["relocation at offset 1048576", "`xdp`", "past the end"],
        ),
        (
            "a relocation against symbol #65535",
            patched_kern("symidx.elf", |data| {
                let (_, relxdp, _) = elf_section(data, ".relxdp");
                let info = (0xffffu64 << 32) | 1;
                data[relxdp + 8..relxdp + 16].copy_from_slice(&info.to_le_bytes());
            }),
            &["#65535", "outside the symbol table"],
        ),
        (
            "a section past the end of the file",
            patched_kern("section.elf", |data| {
                let (header, _, _) = elf_section(data, "xdp");
                data[header + 0x18..header + 0x20].copy_from_slice(&(1u64 << 20).to_le_bytes());
            }),
            &["section `xdp`", "cannot be read"],
        ),
        (
            "a BTF with a bad magic",
            patched_kern("btfmagic.elf", |data| {
                let (_, btf, _) = elf_section(data, ".BTF");
                data[btf..btf + 2].copy_from_slice(&[0, 0]);
            }),
            &["section `.BTF`", "magic"],
        ),
        (
            "a BTF whose string offsets are past the table",
            patched_kern("btfstr.elf", |data| {
                // Type 1's name_off: the first word after the 24-byte header (type_off 0).
                let (_, btf, _) = elf_section(data, ".BTF");
                data[btf + 24..btf + 28].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
            }),
            &["section `.BTF`", "2147418112"],
        ),
        (
            "a BTF.ext cut short",
            patched_kern("btfext.elf", |data| {
                let (header, _, _) = elf_section(data, ".BTF.ext");
                data[header + 0x20..header + 0x28].copy_from_slice(&40u64.to_le_bytes());
            }),
            &["section `.BTF.ext`"],
        ),
    ];
    for (what, file, words) in cases {
        assert_every_mode_fails(file.as_str(), ExitKind::BadObject, words, what);
    }
}

#[test]
fn legacy_map_definitions_out_of_range_name_the_map() {
    for (name, words) in [
        (
            "bad_legacy_short",
            &["map `short_def`", "12 bytes"] as &[&str],
        ),
        ("bad_legacy_type", &["map `odd_type`", "type 99"]),
        (
            "bad_iproute2_global",
            &["map `global_pin`", "pinning 2", "PIN_GLOBAL_NS"],
        ),
    ] {
        assert_every_mode_fails(&elf_fixture(name), ExitKind::BadObject, words, name);
    }
}

#[test]
fn map_limits_the_kernel_reports_are_explained() {
    // ENOSPC (a kernel-wide limit on maps) cannot be hit cheaply or safely on a shared
    // machine, so its sentence is checked here; E2BIG and ENOMEM also happen for real in
    // `max_entries_no_kernel_will_allocate` below.
    use nix::errno::Errno;
    for (errno, advice) in [
        (Errno::ENOSPC, "a kernel limit on maps was hit"),
        (Errno::E2BIG, "beyond what the kernel allows"),
        (Errno::ENOMEM, "could not allocate that much memory"),
    ] {
        let error = LoadError::MapCreate {
            map: "huge_hash".into(),
            error: sys::SysError {
                op: "BPF_MAP_CREATE",
                subject: "huge_hash".into(),
                errno,
            },
        };
        assert_eq!(error.exit_kind(), ExitKind::KernelRefused, "{errno:?}");
        let sentence = error.to_string();
        assert_eq!(sentence.lines().count(), 1, "{sentence}");
        assert_mentions(
            &sentence,
            &["map huge_hash", &format!("{errno:?}"), advice],
            &format!("{errno:?}"),
        );
    }
}
