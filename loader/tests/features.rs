//! Feature tests: every object in loader/tests/fixtures loaded (or refused) by
//! `xdploader -load-only`, and what the kernel then holds checked through `bpftool -j`.
//! The behaviour each test expects is the one documented in loader/tests/fixtures/README.md
//! and at the top of each fixture's `.c` file.
//!
//! The kernel tests need root and are run by scripts/test.sh (`--include-ignored`). Each
//! uses its own pin directory under /sys/fs/bpf (removed on drop, even on failure) and its
//! own temporary frame files. The `-dump` tests need nothing special.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use support::*;

const XDP_ABORTED: u64 = 0;
const XDP_DROP: u64 = 1;
const XDP_PASS: u64 = 2;
const XDP_TX: u64 = 3;

const BPF_F_NO_PREALLOC: u64 = 0x1;
const BPF_F_NUMA_NODE: u64 = 0x4;
const BPF_F_RDONLY_PROG: u64 = 0x80;
const BPF_F_MMAPABLE: u64 = 0x400;

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
    ("unsupported_core", &["core_prog"]),
    ("unsupported_ksym", &["ksym_prog"]),
    ("unsupported_kconfig", &["kconfig_prog"]),
    ("other_type", &["xdp_next", "tc_prog", "sock_prog"]),
];

const XDP_VARIANTS: &[&str] = &[
    "xdp_plain",
    "xdp_frags",
    "xdp_devmap",
    "xdp_cpumap",
    "xdp_frags_dev",
    "xdp_frags_cpu",
];

// The kernel tests here compare kernel-wide lists of programs and maps by name, and
// several fixtures are loaded by more than one test: they run one at a time within
// this process (`kernel_lock`, each still with its own pin directory).

/// `xdploader -file FIXTURE -load-only -pin-path DIR`.
fn load_only(fixture_name: &str, pin_dir: &PinDir) -> Output {
    let object = fixture(fixture_name);
    run(
        xdploader(),
        &[
            "-file",
            object.to_str().expect("utf-8 path"),
            "-load-only",
            "-pin-path",
            pin_dir.as_str(),
        ],
    )
}

/// One `Map NAME (id N) pinned at PATH` / `Program NAME (id N) pinned at PATH` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pinned {
    kind: String,
    name: String,
    id: u64,
    path: String,
}

fn parse_pinned(stdout: &str) -> Vec<Pinned> {
    stdout
        .lines()
        .filter_map(|line| {
            let (kind, rest) = line.split_once(' ')?;
            if kind != "Map" && kind != "Program" {
                return None;
            }
            let (name, rest) = rest.split_once(" (id ")?;
            let (id, path) = rest.split_once(") pinned at ")?;
            Some(Pinned {
                kind: kind.to_string(),
                name: name.to_string(),
                id: id.parse().ok()?,
                path: path.to_string(),
            })
        })
        .collect()
}

/// Loads a fixture that must load; checks that every pin the loader printed exists and
/// holds the object with the printed id, and returns the printed pins.
fn load_only_ok(fixture_name: &str, pin_dir: &PinDir) -> Vec<Pinned> {
    let output = load_only(fixture_name, pin_dir);
    assert!(
        output.status.success(),
        "xdploader -load-only {fixture_name}.elf failed: {}",
        describe(&output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let pinned = parse_pinned(&stdout);
    for pin in &pinned {
        let shown = if pin.kind == "Map" {
            map_show(Path::new(&pin.path))
        } else {
            prog_show(Path::new(&pin.path))
        };
        assert_eq!(
            shown["id"].as_u64(),
            Some(pin.id),
            "bpftool disagrees about {pin:?}: {shown}"
        );
        assert_eq!(shown["name"].as_str(), Some(pin.name.as_str()), "{shown}");
    }
    pinned
}

fn bpftool_json(args: &[&str]) -> Value {
    let mut all = vec!["-j"];
    all.extend_from_slice(args);
    json(&run_ok("bpftool", &all))
}

fn map_show(pin: &Path) -> Value {
    bpftool_json(&["map", "show", "pinned", pin.to_str().expect("utf-8")])
}

fn prog_show(pin: &Path) -> Value {
    bpftool_json(&["prog", "show", "pinned", pin.to_str().expect("utf-8")])
}

/// Checks a pinned map's name, type, sizes, max_entries and flags as `bpftool -j map
/// show pinned` prints them (one map per query: see the bpftool 7.1 pitfall in the
/// fixtures README), and returns what bpftool printed.
#[allow(clippy::too_many_arguments)]
fn assert_map(
    pin: &Path,
    name: &str,
    map_type: &str,
    key: u64,
    value: u64,
    max_entries: u64,
    flags: u64,
    with_btf: bool,
) -> Value {
    let shown = map_show(pin);
    let context = format!("map pinned at {}: {shown}", pin.display());
    assert_eq!(shown["name"].as_str(), Some(name), "{context}");
    assert_eq!(shown["type"].as_str(), Some(map_type), "{context}");
    assert_eq!(shown["bytes_key"].as_u64(), Some(key), "{context}");
    assert_eq!(shown["bytes_value"].as_u64(), Some(value), "{context}");
    assert_eq!(
        shown["max_entries"].as_u64(),
        Some(max_entries),
        "{context}"
    );
    assert_eq!(shown["flags"].as_u64(), Some(flags), "{context}");
    assert_eq!(
        btf_id(&shown) != 0,
        with_btf,
        "btf_id should be {}: {context}",
        if with_btf { "non-zero" } else { "absent" }
    );
    shown
}

fn btf_id(shown: &Value) -> u64 {
    shown["btf_id"].as_u64().unwrap_or(0)
}

/// Bytes printed as `["0x01", "0x02", ...]`.
fn hex_bytes(value: &Value) -> Option<Vec<u8>> {
    value
        .as_array()?
        .iter()
        .map(|byte| u8::from_str_radix(byte.as_str()?.trim_start_matches("0x"), 16).ok())
        .collect()
}

fn le_u64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .enumerate()
        .fold(0, |total, (index, byte)| {
            total | u64::from(*byte) << (8 * index)
        })
}

/// The first number in a formatted (BTF) value, however deeply it is nested:
/// `{".data": [{"data_value": 2864434397}]}` gives 2864434397.
fn first_number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64(),
        Value::Array(items) => items.iter().find_map(first_number),
        Value::Object(fields) => fields.values().find_map(first_number),
        _ => None,
    }
}

/// One dumped entry as (key, value). Raw bytes are read little-endian (the first 8
/// bytes); without them, the formatted (BTF) form is used. Per-CPU values are summed.
/// `None` for entries bpftool could not read (empty map-in-map or prog-array slots).
fn entry_key_value(entry: &Value) -> Option<(u64, u64)> {
    let formatted = &entry["formatted"];
    let key = hex_bytes(&entry["key"])
        .map(|bytes| le_u64(&bytes))
        .or_else(|| first_number(&formatted["key"]))?;
    let per_cpu = |values: &Value, raw: bool| -> Option<u64> {
        values
            .as_array()?
            .iter()
            .map(|cpu| {
                if raw {
                    hex_bytes(&cpu["value"]).map(|bytes| le_u64(&bytes))
                } else {
                    first_number(&cpu["value"])
                }
            })
            .sum()
    };
    let value = hex_bytes(&entry["value"])
        .map(|bytes| le_u64(&bytes))
        .or_else(|| per_cpu(&entry["values"], true))
        .or_else(|| first_number(&formatted["value"]))
        .or_else(|| per_cpu(&formatted["values"], false))?;
    Some((key, value))
}

/// `bpftool -j map dump pinned PIN` as (key, value) pairs.
fn map_dump(pin: &Path) -> Vec<(u64, u64)> {
    let dumped = bpftool_json(&["map", "dump", "pinned", pin.to_str().expect("utf-8")]);
    dumped
        .as_array()
        .unwrap_or_else(|| panic!("map dump of {} is not a list: {dumped}", pin.display()))
        .iter()
        .filter_map(entry_key_value)
        .collect()
}

fn map_value(pin: &Path, key: u64) -> Option<u64> {
    map_dump(pin)
        .into_iter()
        .find(|(found, _)| *found == key)
        .map(|(_, value)| value)
}

/// Runs a pinned program on a frame and returns its retval, failing on errors.
fn run_ok_retval(pin: &Path, frame: &TempFile) -> u64 {
    prog_run(pin, &frame.path)
        .unwrap_or_else(|error| panic!("test run of {} failed: {error}", pin.display()))
}

fn frame_64() -> TempFile {
    TempFile::new("frame64", &test_frame(64))
}

/// The ids (and names) of the kernel's programs or maps (`kind` "prog" or "map") whose
/// name `belongs` says is this fixture's.
fn kernel_objects(kind: &str, belongs: &dyn Fn(&str) -> bool) -> BTreeSet<(u64, String)> {
    let listed = bpftool_json(&[kind, "show"]);
    listed
        .as_array()
        .map(|objects| {
            objects
                .iter()
                .filter_map(|object| {
                    let name = object["name"].as_str()?;
                    let id = object["id"].as_u64()?;
                    belongs(name).then(|| (id, name.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What the kernel holds of one fixture: its programs and maps by name.
struct Snapshot<'a> {
    programs: &'a [&'a str],
    belongs_map: &'a dyn Fn(&str) -> bool,
    before_programs: BTreeSet<(u64, String)>,
    before_maps: BTreeSet<(u64, String)>,
}

impl<'a> Snapshot<'a> {
    fn take(programs: &'a [&'a str], belongs_map: &'a dyn Fn(&str) -> bool) -> Snapshot<'a> {
        Snapshot {
            programs,
            belongs_map,
            before_programs: kernel_objects("prog", &|name| programs.contains(&name)),
            before_maps: kernel_objects("map", belongs_map),
        }
    }

    fn programs_now(&self) -> BTreeSet<(u64, String)> {
        kernel_objects("prog", &|name| self.programs.contains(&name))
    }

    fn maps_now(&self) -> BTreeSet<(u64, String)> {
        kernel_objects("map", self.belongs_map)
    }

    /// Waits (objects are freed after an RCU grace period) until the kernel holds the
    /// same programs and maps of this fixture as before.
    fn assert_unchanged(&self, what: &str) {
        let same = wait_for(Duration::from_secs(10), || {
            self.programs_now() == self.before_programs && self.maps_now() == self.before_maps
        });
        assert!(
            same,
            "{what}: the kernel still holds objects from this run:\nprograms before {:?}, now {:?}\nmaps before {:?}, now {:?}",
            self.before_programs,
            self.programs_now(),
            self.before_maps,
            self.maps_now()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Parse only: no root needed.
// ---------------------------------------------------------------------------------------

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

fn dump(path: &str) -> Output {
    run(xdploader(), &["-file", path, "-dump"])
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

// ---------------------------------------------------------------------------------------
// Kernel tests.
// ---------------------------------------------------------------------------------------

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn global_data_maps_are_named_flagged_frozen_and_initialised() {
    let _lock = kernel_lock();
    let pins = PinDir::new("global_data");
    let pinned = load_only_ok("global_data", &pins);
    let mut map_names: Vec<&str> = pinned
        .iter()
        .filter(|pin| pin.kind == "Map")
        .map(|pin| pin.name.as_str())
        .collect();
    map_names.sort();
    assert_eq!(
        map_names,
        [
            ".rodata.str1.1",
            "global_d.bss",
            "global_d.data",
            "global_d.rodata"
        ],
        "libbpf's names for the internal maps"
    );

    let data = pins.join("global_d_data");
    let rodata = pins.join("global_d_rodata");
    let bss = pins.join("global_d_bss");
    let strings = pins.join("_rodata_str1_1");
    let shown = assert_map(
        &data,
        "global_d.data",
        "array",
        4,
        4,
        1,
        BPF_F_MMAPABLE,
        true,
    );
    assert_eq!(shown["frozen"].as_u64(), Some(0), "{shown}");
    let shown = assert_map(
        &rodata,
        "global_d.rodata",
        "array",
        4,
        4,
        1,
        BPF_F_MMAPABLE | BPF_F_RDONLY_PROG,
        true,
    );
    assert_eq!(
        shown["frozen"].as_u64(),
        Some(1),
        ".rodata is frozen: {shown}"
    );
    let shown = assert_map(&bss, "global_d.bss", "array", 4, 4, 1, BPF_F_MMAPABLE, true);
    assert_eq!(shown["frozen"].as_u64(), Some(0), "{shown}");
    // .rodata.str1.1: no DATASEC, so no BTF; 0x480 (bpftool's libbpf) or 0x80 (libbpf 1.1.2).
    let shown = map_show(&strings);
    assert_eq!(shown["name"].as_str(), Some(".rodata.str1.1"), "{shown}");
    assert_eq!(shown["type"].as_str(), Some("array"), "{shown}");
    assert_eq!(shown["bytes_key"].as_u64(), Some(4), "{shown}");
    assert_eq!(shown["bytes_value"].as_u64(), Some(12), "{shown}");
    assert_eq!(shown["max_entries"].as_u64(), Some(1), "{shown}");
    assert!(
        [BPF_F_RDONLY_PROG, BPF_F_RDONLY_PROG | BPF_F_MMAPABLE]
            .map(Some)
            .contains(&shown["flags"].as_u64()),
        "{shown}"
    );
    assert_eq!(shown["frozen"].as_u64(), Some(1), "{shown}");
    assert_eq!(btf_id(&shown), 0, "no BTF for .rodata.str1.1: {shown}");
    let string = bpftool_json(&["map", "dump", "pinned", strings.to_str().expect("utf-8")]);
    assert_eq!(
        hex_bytes(&string[0]["value"]),
        Some(b"fixture-str\0".to_vec()),
        "{string}"
    );

    // Initial values, before any run.
    assert_eq!(map_value(&data, 0), Some(0x1122_3344));
    assert_eq!(map_value(&rodata, 0), Some(0x5566_7788));
    assert_eq!(map_value(&bss, 0), Some(0));

    let frame = frame_64();
    let program = pins.join("global_data");
    assert_eq!(
        run_ok_retval(&program, &frame),
        XDP_PASS,
        "the first run read the initial .data, .rodata, .bss and string values"
    );
    const RUNS: u64 = 4;
    for _ in 1..RUNS {
        assert_eq!(
            run_ok_retval(&program, &frame),
            XDP_ABORTED,
            "later runs see bss_counter != 0"
        );
    }
    assert_eq!(
        map_value(&bss, 0),
        Some(RUNS),
        "bss_counter counts the runs"
    );
    assert_eq!(
        map_value(&data, 0),
        Some(0xAABB_CCDD),
        "data_value was rewritten"
    );
    assert_eq!(
        map_value(&rodata, 0),
        Some(0x5566_7788),
        ".rodata unchanged"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn bpf_calls_link_subprograms_and_carry_line_info() {
    let _lock = kernel_lock();
    let pins = PinDir::new("bpf_calls");
    let pinned = load_only_ok("bpf_calls", &pins);
    let frame = frame_64();
    let listed = bpftool_json(&["prog", "show"]);
    for program in ["calls_main", "calls_shared"] {
        let pin = pins.join(program);
        let shown = prog_show(&pin);
        assert_eq!(shown["type"].as_str(), Some("xdp"), "{shown}");
        let id = shown["id"].as_u64().expect("id");
        assert!(
            pinned.iter().any(|pin| pin.name == program && pin.id == id),
            "{program} printed with its id: {pinned:?}"
        );
        assert!(
            listed.as_array().expect("list").iter().any(|listed| {
                listed["id"].as_u64() == Some(id) && listed["name"].as_str() == Some(program)
            }),
            "bpftool prog show lists {program} (id {id})"
        );
        assert_eq!(run_ok_retval(&pin, &frame), XDP_PASS, "{program}");

        let xlated = run_ok(
            "bpftool",
            &[
                "prog",
                "dump",
                "xlated",
                "pinned",
                pin.to_str().expect("utf-8"),
            ],
        );
        assert!(
            xlated.lines().any(|line| line.starts_with("; ")),
            "line_info reached the kernel: source lines in the xlated dump of {program}:\n{xlated}"
        );
        assert!(
            xlated.contains("int add_one(int x):"),
            "func_info names the appended subprogram add_one in {program}:\n{xlated}"
        );
        if program == "calls_main" {
            for function in ["int sub_a(int x):", "int sub_b(int x):", "int loop_cb("] {
                assert!(
                    xlated.contains(function),
                    "{function} appended to calls_main:\n{xlated}"
                );
            }
        }
    }
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn samesec_call_links_the_static_function_of_its_own_section() {
    let _lock = kernel_lock();
    let pins = PinDir::new("samesec_call");
    let pinned = load_only_ok("samesec_call", &pins);
    let programs: Vec<&str> = pinned
        .iter()
        .filter(|pin| pin.kind == "Program")
        .map(|pin| pin.name.as_str())
        .collect();
    assert_eq!(programs, ["samesec_prog"], "times_three is not a program");
    assert_eq!(pins.entries(), ["samesec_prog"]);
    assert_eq!(
        run_ok_retval(&pins.join("samesec_prog"), &frame_64()),
        XDP_PASS,
        "times_three(7) == 21"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn btf_reaches_the_kernel_for_maps_and_programs() {
    let _lock = kernel_lock();
    let pins = PinDir::new("btf");
    load_only_ok("global_data", &pins);
    let program = prog_show(&pins.join("global_data"));
    let program_btf = btf_id(&program);
    assert_ne!(
        program_btf, 0,
        "the program has the object's BTF: {program}"
    );
    for (pin, section, field) in [
        ("global_d_rodata", ".rodata", "rodata_value"),
        ("global_d_data", ".data", "data_value"),
        ("global_d_bss", ".bss", "bss_counter"),
    ] {
        let path = pins.join(pin);
        let shown = map_show(&path);
        assert_ne!(btf_id(&shown), 0, "{pin} has BTF: {shown}");
        assert_eq!(
            btf_id(&shown),
            program_btf,
            "maps and programs share the object's BTF"
        );
        let text = run_ok(
            "bpftool",
            &["map", "dump", "pinned", path.to_str().expect("utf-8")],
        );
        assert!(
            text.contains(field) && text.contains(section),
            "bpftool prints the {section} DATASEC with field {field}:\n{text}"
        );
        let dumped = bpftool_json(&["map", "dump", "pinned", path.to_str().expect("utf-8")]);
        assert!(
            dumped[0]["formatted"].to_string().contains(field),
            "formatted JSON value: {dumped}"
        );
    }
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn btf_maps_full_every_attribute_and_initialised_slots() {
    let _lock = kernel_lock();
    let pins = PinDir::new("btf_maps_full");
    load_only_ok("btf_maps_full", &pins);

    assert_map(
        &pins.join("hash_nopre"),
        "hash_nopre",
        "hash",
        4,
        8,
        16,
        BPF_F_NO_PREALLOC,
        true,
    );
    assert_map(
        &pins.join("sized_arr"),
        "sized_arr",
        "array",
        4,
        8,
        4,
        0,
        false,
    );
    assert_map(
        &pins.join("numa_hash"),
        "numa_hash",
        "hash",
        4,
        4,
        8,
        BPF_F_NUMA_NODE,
        true,
    );
    // Pinned by name under the pin directory (libbpf: /sys/fs/bpf/pinned_arr).
    assert_map(
        &pins.join("pinned_arr"),
        "pinned_arr",
        "array",
        4,
        8,
        2,
        0,
        true,
    );
    assert_map(
        &pins.join("bloom"),
        "bloom",
        "bloom_filter",
        0,
        4,
        16,
        0,
        true,
    );
    let inner_a = assert_map(&pins.join("inner_a"), "inner_a", "array", 4, 4, 1, 0, true);
    assert_map(&pins.join("inner_b"), "inner_b", "array", 4, 4, 1, 0, true);
    let outer = pins.join("outer");
    assert_map(&outer, "outer", "array_of_maps", 4, 4, 2, 0, false);
    let jmp_table = pins.join("jmp_table");
    let shown = assert_map(&jmp_table, "jmp_table", "prog_array", 4, 4, 2, 0, false);
    assert_eq!(shown["owner_prog_type"].as_str(), Some("xdp"), "{shown}");

    let inner_a_id = inner_a["id"].as_u64().expect("id");
    assert_eq!(
        map_dump(&outer),
        [(0, inner_a_id)],
        "outer: slot 0 holds inner_a (id {inner_a_id}), slot 1 is empty"
    );
    let tail_target = pins.join("tail_target");
    let tail_target_id = prog_show(&tail_target)["id"].as_u64().expect("id");
    assert_eq!(
        map_dump(&jmp_table),
        [(1, tail_target_id)],
        "jmp_table: slot 1 holds tail_target (id {tail_target_id}), slot 0 is empty"
    );

    let frame = frame_64();
    assert_eq!(run_ok_retval(&tail_target, &frame), XDP_TX);
    const RUNS: u64 = 3;
    for run in 0..RUNS {
        let retval = run_ok_retval(&pins.join("maps_user"), &frame);
        assert_eq!(
            retval, XDP_TX,
            "run {run}: maps_user gives 3 when the tail call ran ({XDP_DROP}: a map step failed, {XDP_ABORTED}: jmp_table slot 1 empty)"
        );
    }
    assert_eq!(
        map_value(&pins.join("inner_a"), 0),
        Some(RUNS),
        "outer[0] is inner_a"
    );
    assert_eq!(map_value(&pins.join("inner_b"), 0), Some(0));
    assert_eq!(map_value(&pins.join("pinned_arr"), 0), Some(RUNS));
    assert_eq!(
        map_value(&pins.join("hash_nopre"), 1),
        Some(0x0102_0304_0506_0708)
    );
    assert_eq!(map_value(&pins.join("numa_hash"), 0), Some(7));
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn legacy_definitions_of_16_20_and_28_bytes() {
    let _lock = kernel_lock();
    let pins = PinDir::new("legacy_defs");
    load_only_ok("legacy_defs", &pins);
    let legacy16 = pins.join("legacy16");
    let legacy20 = pins.join("legacy20");
    let legacy28 = pins.join("legacy28");
    assert_map(&legacy16, "legacy16", "array", 4, 4, 4, 0, false);
    assert_map(
        &legacy20,
        "legacy20",
        "hash",
        4,
        8,
        8,
        BPF_F_NO_PREALLOC,
        false,
    );
    assert_map(&legacy28, "legacy28", "percpu_array", 4, 16, 2, 0, false);

    assert_eq!(
        run_ok_retval(&pins.join("legacy_user"), &frame_64()),
        XDP_PASS
    );
    assert_eq!(map_value(&legacy16, 3), Some(0x16));
    assert_eq!(map_dump(&legacy20), [(1, 0x2020_2020_2020_2020)]);
    assert_eq!(
        map_value(&legacy28, 1),
        Some(1),
        "one run incremented one CPU's value"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn iproute2_bpf_elf_map_definitions() {
    let _lock = kernel_lock();
    let pins = PinDir::new("iproute2_maps");
    load_only_ok("iproute2_maps", &pins);
    let plain = pins.join("ip_plain");
    // PIN_OBJECT_NS: pinned by name under the pin directory.
    let objns = pins.join("ip_objns");
    assert_map(&plain, "ip_plain", "array", 4, 8, 4, 0, false);
    assert_map(&objns, "ip_objns", "hash", 4, 4, 8, 0, false);

    let frame = frame_64();
    const RUNS: u64 = 2;
    for _ in 0..RUNS {
        assert_eq!(run_ok_retval(&pins.join("iproute2_user"), &frame), XDP_PASS);
    }
    assert_eq!(map_value(&plain, 2), Some(RUNS));
    assert_eq!(map_dump(&objns), [(5, 0x55)]);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn xdp_variants_all_load_as_xdp_and_frags_sees_the_whole_frame() {
    let _lock = kernel_lock();
    let pins = PinDir::new("xdp_variants");
    load_only_ok("xdp_variants", &pins);
    let mut expected: Vec<&str> = XDP_VARIANTS.to_vec();
    expected.sort();
    assert_eq!(pins.entries(), expected, "one pin per program");
    let listed = bpftool_json(&["prog", "show"]);
    for program in XDP_VARIANTS {
        let shown = prog_show(&pins.join(program));
        assert_eq!(shown["name"].as_str(), Some(*program), "{shown}");
        assert_eq!(shown["type"].as_str(), Some("xdp"), "{shown}");
        assert!(
            listed
                .as_array()
                .expect("list")
                .iter()
                .any(|listed| listed["id"] == shown["id"]
                    && listed["type"].as_str() == Some("xdp")),
            "bpftool prog show lists {program} as xdp"
        );
    }
    let small = frame_64();
    let big = TempFile::new("frame9000", &test_frame(9000));
    assert_eq!(run_ok_retval(&pins.join("xdp_plain"), &small), XDP_PASS);
    assert_eq!(run_ok_retval(&pins.join("xdp_plain"), &big), XDP_PASS);
    assert_eq!(
        run_ok_retval(&pins.join("xdp_frags"), &small),
        XDP_DROP,
        "64 bytes are not more than 4096"
    );
    assert_eq!(
        run_ok_retval(&pins.join("xdp_frags"), &big),
        XDP_TX,
        "bpf_xdp_get_buff_len sees all 9000 bytes"
    );
}

/// The kernel refuses test runs of programs loaded with expected_attach_type
/// BPF_XDP_DEVMAP or BPF_XDP_CPUMAP: EINVAL proves the attach type was passed at load.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn xdp_variants_devmap_and_cpumap_programs_carry_their_attach_type() {
    let _lock = kernel_lock();
    let pins = PinDir::new("xdp_attach_types");
    load_only_ok("xdp_variants", &pins);
    let frame = frame_64();
    for program in ["xdp_devmap", "xdp_cpumap", "xdp_frags_dev", "xdp_frags_cpu"] {
        match prog_run(&pins.join(program), &frame.path) {
            Err(error) => assert!(
                error.contains("Invalid argument"),
                "{program}: EINVAL expected, got: {error}"
            ),
            Ok(retval) => panic!(
                "{program} ran (retval {retval}): the kernel refuses test runs only for \
                 programs loaded with expected_attach_type BPF_XDP_DEVMAP/BPF_XDP_CPUMAP, \
                 so it was loaded with another attach type"
            ),
        }
    }
}

/// `-load-only` refuses `fixture_name` with exit 2 and one line on stderr that contains,
/// for each group of `mentions`, one of its words; nothing of the fixture stays in the
/// kernel and the pin directory stays empty.
fn assert_refused(fixture_name: &str, programs: &[&str], map_prefix: &str, mentions: &[&[&str]]) {
    let _lock = kernel_lock();
    let pins = PinDir::new(fixture_name);
    let belongs_map = |name: &str| name.starts_with(map_prefix);
    let snapshot = Snapshot::take(programs, &belongs_map);
    let output = load_only(fixture_name, &pins);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{fixture_name}: refused as unsupported: {}",
        describe(&output)
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "{fixture_name}: exactly one line on stderr:\n{stderr}"
    );
    for group in mentions {
        assert!(
            group.iter().any(|word| stderr.contains(word)),
            "{fixture_name}: the error names one of {group:?}:\n{stderr}"
        );
    }
    snapshot.assert_unchanged(fixture_name);
    assert!(
        pins.entries().is_empty(),
        "{fixture_name}: no pins: {:?}",
        pins.entries()
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn unsupported_core_is_refused_and_leaves_nothing() {
    assert_refused(
        "unsupported_core",
        &["core_prog"],
        "unsuppo",
        &[&["core_prog"], &["task_struct"], &["CO-RE"]],
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn unsupported_ksym_is_refused_and_leaves_nothing() {
    assert_refused(
        "unsupported_ksym",
        &["ksym_prog"],
        "unsuppo",
        &[
            &["ksym_prog"],
            &["bpf_prog_put", "bpf_dynptr_from_xdp", "bpf_dynptr_size"],
            &["__ksym"],
        ],
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn unsupported_kconfig_is_refused_and_leaves_nothing() {
    // libbpf would create `unsuppo.kconfig`; nothing of the kind may stay.
    assert_refused(
        "unsupported_kconfig",
        &["kconfig_prog"],
        "unsuppo",
        &[&["kconfig_prog"], &["LINUX_KERNEL_VERSION"], &["__kconfig"]],
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn other_program_types_are_refused_and_nothing_is_loaded_as_xdp() {
    assert_refused(
        "other_type",
        &["xdp_next", "tc_prog", "sock_prog"],
        "other_t",
        &[
            &["tc_prog", "sock_prog"],
            &["sched_cls", "socket"],
            &["loads only XDP programs"],
        ],
    );
}

/// Puts a map pinned by bpftool at `path`, where the loader wants to pin something, and
/// returns its id.
fn block_pin(path: &Path) -> u64 {
    run_ok(
        "bpftool",
        &[
            "map",
            "create",
            path.to_str().expect("utf-8"),
            "type",
            "array",
            "key",
            "4",
            "value",
            "4",
            "entries",
            "1",
            "name",
            "xdpf_blocker",
        ],
    );
    map_show(path)["id"].as_u64().expect("blocker id")
}

/// Runs `-load-only` into a pin directory where `blocked` is already taken (bpffs holds
/// no regular files, so by a map bpftool pinned there): the load fails late, while
/// pinning. The blocker must be untouched, and nothing the loader made may remain.
fn assert_late_failure_leaves_nothing(
    fixture_name: &str,
    blocked: &str,
    programs: &[&str],
    maps: &[&str],
) {
    let _lock = kernel_lock();
    let pins = PinDir::new(&format!("{fixture_name}_late"));
    std::fs::create_dir_all(&pins.path).expect("create the pin dir");
    let blocker = pins.join(blocked);
    let blocker_id = block_pin(&blocker);
    let belongs_map = |name: &str| maps.contains(&name);
    let snapshot = Snapshot::take(programs, &belongs_map);

    let output = load_only(fixture_name, &pins);
    assert!(
        !output.status.success() && output.status.code() != Some(101),
        "the pin at {} is taken, so the load must fail cleanly: {}",
        blocker.display(),
        describe(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(blocked),
        "the error names {blocked}: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");

    assert_eq!(
        pins.entries(),
        [blocked],
        "only the pre-existing pin remains"
    );
    let shown = map_show(&blocker);
    assert_eq!(
        (shown["id"].as_u64(), shown["name"].as_str()),
        (Some(blocker_id), Some("xdpf_blocker")),
        "the pre-existing pin is untouched: {shown}"
    );
    snapshot.assert_unchanged(&format!("{fixture_name} after a failed pin"));
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_late_pin_failure_leaves_no_pins_and_no_programs() {
    // xdp_plain is pinned before xdp_frags fails.
    assert_late_failure_leaves_nothing("xdp_variants", "xdp_frags", XDP_VARIANTS, &[]);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_late_pin_failure_after_the_maps_were_pinned_leaves_no_maps() {
    // The four global-data maps are pinned before the program's pin fails.
    assert_late_failure_leaves_nothing(
        "global_data",
        "global_data",
        &["global_data"],
        &[
            "global_d.data",
            "global_d.rodata",
            "global_d.bss",
            ".rodata.str1.1",
        ],
    );
}
