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

#[path = "features/btf_attach.rs"]
mod btf_attach;
#[path = "features/co_re.rs"]
mod co_re;
#[path = "features/dump.rs"]
mod dump;
#[path = "features/kconfig.rs"]
mod kconfig;
#[path = "features/ksym.rs"]
mod ksym;
#[path = "features/maps.rs"]
mod maps;
#[path = "features/program_types.rs"]
mod program_types;
#[path = "features/programs.rs"]
mod programs;
#[path = "features/refused.rs"]
mod refused;
#[path = "features/tracing.rs"]
mod tracing;
#[path = "features/tracing_refused.rs"]
mod tracing_refused;

const XDP_DROP: u64 = 1;
const XDP_PASS: u64 = 2;
const XDP_TX: u64 = 3;

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

fn le_u64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .enumerate()
        .fold(0, |total, (index, byte)| {
            total | u64::from(*byte) << (8 * index)
        })
}

/// Runs a pinned program on a frame and returns its retval, failing on errors.
fn run_ok_retval(pin: &Path, frame: &TempFile) -> u64 {
    prog_run(pin, &frame.path)
        .unwrap_or_else(|error| panic!("test run of {} failed: {error}", pin.display()))
}

fn frame_64() -> TempFile {
    TempFile::new("frame64", &test_frame(64))
}

// Parse only: no root needed.

fn dump(path: &str) -> Output {
    run(xdploader(), &["-file", path, "-dump"])
}

// Kernel tests.
