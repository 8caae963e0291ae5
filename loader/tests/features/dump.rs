//! Parse only (`-dump`): no root needed. Every fixture lists its programs, damaged copies
//! never panic, garbage exits 2.

use super::*;

/// Every fixture and the programs `-dump` must list for it, in section order.
const FIXTURES: &[(&str, &[&str])] = &[
    ("global_data", &["global_data"]),
    ("bpf_calls", &["calls_main", "calls_shared"]),
    ("samesec_call", &["samesec_prog"]),
    ("btf_maps_full", &["tail_target", "maps_user"]),
    ("legacy_defs", &["legacy_user"]),
    ("iproute2_maps", &["iproute2_user"]),
    (
        "xdp_variants",
        &[
            "xdp_plain",
            "xdp_frags",
            "xdp_devmap",
            "xdp_cpumap",
            "xdp_frags_dev",
            "xdp_frags_cpu",
        ],
    ),
    ("core_relocs", &["core_values"]),
    ("core_subprog", &["core_first", "core_second"]),
    ("core_local_id", &["core_local_id"]),
    ("ksym_kfuncs", &["ksym_prog"]),
    ("ksym_weak", &["ksym_weak"]),
    ("kconfig_values", &["kconfig_values"]),
    ("other_type", &["xdp_next", "tc_prog", "sock_prog"]),
];

/// The program names in the `Programs:` block of `-dump`.
fn dumped_programs(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|line| line.trim_end() != "Programs:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.trim().split(':').next().map(str::to_string))
        .collect()
}

fn assert_no_panic(output: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked"),
        "{what}: xdploader panicked: {}",
        describe(output)
    );
    assert!(
        matches!(output.status.code(), Some(0) | Some(2)),
        "{what}: -dump must exit 0 or 2 (bad object): {}",
        describe(output)
    );
}

#[test]
fn dump_lists_the_programs_of_every_fixture() {
    for (name, programs) in FIXTURES {
        let object = fixture(name);
        let output = dump(object.to_str().expect("utf-8"));
        assert_eq!(
            output.status.code(),
            Some(0),
            "-dump {name}.elf: {}",
            describe(&output)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            dumped_programs(&stdout),
            programs.to_vec(),
            "-dump {name}.elf lists these programs (times_three in samesec_call is a subprogram, not a program):\n{stdout}"
        );
    }
}

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// The section header table's offset (e_shoff of a 64-bit ELF), clamped to the file.
fn section_headers_offset(bytes: &[u8]) -> usize {
    bytes
        .get(0x28..0x30)
        .map(|field| le_u64(field) as usize)
        .filter(|offset| *offset < bytes.len())
        .unwrap_or(0)
}

#[test]
fn dump_never_panics_on_damaged_fixtures() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (name, _) in FIXTURES {
        let original = std::fs::read(fixture(name)).expect("read fixture");
        let headers = section_headers_offset(&original);
        // Truncated at 24 points, then 40 copies with 1 to 4 bytes changed: in the ELF
        // header, in the section header table, or anywhere.
        let mut damaged: Vec<(String, Vec<u8>)> = (0..24)
            .map(|step| {
                let len = original.len() * step / 24;
                (format!("{name} cut at {len}"), original[..len].to_vec())
            })
            .collect();
        for copy in 0..40 {
            let mut bytes = original.clone();
            let mut changes = Vec::new();
            for _ in 0..=copy % 4 {
                let at = match rng.below(10) {
                    0..=2 => rng.below(64),
                    3..=7 => headers + rng.below(original.len() - headers),
                    _ => rng.below(original.len()),
                };
                let value = [0x00, 0xff, 0x7f, 0x80, rng.next() as u8][rng.below(5)];
                bytes[at] = value;
                changes.push(format!("[{at}]={value:#04x}"));
            }
            damaged.push((format!("{name} with {}", changes.join(" ")), bytes));
        }
        for (what, bytes) in damaged {
            let file = TempFile::new("damaged.elf", &bytes);
            assert_no_panic(&dump(file.as_str()), &what);
        }
    }
}

#[test]
fn dump_refuses_garbage_with_exit_2() {
    let mut rng = Rng(42);
    let random: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
    let mut elf_magic_only = b"\x7fELF".to_vec();
    elf_magic_only.resize(64, 0);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("an empty file", Vec::new()),
        ("random bytes", random),
        (
            "text",
            b"SEC(\"xdp\") int prog(void) { return 2; }\n".to_vec(),
        ),
        ("the ELF magic and zeros", elf_magic_only),
        (
            "a host executable",
            std::fs::read(std::env::current_exe().expect("test binary")).expect("read"),
        ),
    ];
    for (what, bytes) in cases {
        let file = TempFile::new("garbage.elf", &bytes);
        let output = dump(file.as_str());
        assert_no_panic(&output, what);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{what}: a bad object: {}",
            describe(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{what}: one sentence: {stderr}");
    }
}
