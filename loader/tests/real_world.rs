//! The real-world comparison: every XDP object that Debian's libxdp1 installs under
//! /usr/lib/<multiarch>/bpf/ is loaded twice, once by libbpf (`bpftool prog loadall`)
//! and once by our loader (`xdploader -load-only`), and what the kernel holds after
//! each is compared: the programs (name, type, tag) and, for each program, the maps
//! it uses (name, type, key and value size, max_entries, flags, frozen).
//! Where libbpf refuses an object, our loader must refuse it too, with exit code 2 or 3
//! and one sentence naming the program.
//!
//! Needs root; run by scripts/test.sh (`--include-ignored`). The table is printed
//! with `println!`: `cargo test -p loader --test real_world -- --include-ignored --nocapture`.
//!
//! `libbpf_tools` does the same over the objects embedded in Debian's libbpf-tools
//! binaries (carved out by `carve`), where most of what bpftool loads needs CO-RE.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;
use support::*;

#[path = "real_world/carve.rs"]
mod carve;
#[path = "real_world/compare.rs"]
mod compare;
#[path = "real_world/libbpf_tools.rs"]
mod libbpf_tools;

use compare::{compare_object, real_world_objects};

/// Maps that the xdp-filter objects mark `LIBBPF_PIN_BY_NAME`: libbpf pins them at
/// /sys/fs/bpf/<name>, outside any directory we choose.
const KNOWN_BY_NAME_PINS: [&str; 5] = [
    "xdp_stats_map",
    "filter_ports",
    "filter_ipv4",
    "filter_ipv6",
    "filter_ethernet",
];
const BPFFS: &str = "/sys/fs/bpf";

static NEXT_RUN: AtomicU32 = AtomicU32::new(0);

/// What the kernel reports for one map, in the fields both loaders decide.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct MapShape {
    name: String,
    kind: String,
    key: u64,
    value: u64,
    max_entries: u64,
    flags: u64,
    frozen: u64,
}

impl std::fmt::Display for MapShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, key {}, value {}, max_entries {}, flags {:#x}, frozen {})",
            self.name, self.kind, self.key, self.value, self.max_entries, self.flags, self.frozen
        )
    }
}

/// What the kernel reports for one pinned program.
#[derive(Debug, Clone)]
struct ProgShape {
    id: u64,
    kind: String,
    tag: String,
    /// The maps it uses, by id, in the kernel's order.
    maps: Vec<(u64, MapShape)>,
}

impl ProgShape {
    /// Its maps as a multiset (sorted, ids left out).
    fn map_multiset(&self) -> Vec<MapShape> {
        let mut maps: Vec<MapShape> = self.maps.iter().map(|(_, map)| map.clone()).collect();
        maps.sort();
        maps
    }
}

/// One object's load by one loader: program name -> shape.
type Loaded = BTreeMap<String, ProgShape>;

/// Removes the pin directories and the global by-name pins of one object's run,
/// whatever happens.
struct Cleanup {
    dirs: Vec<PathBuf>,
    global_pins: BTreeSet<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
        for pin in &self.global_pins {
            let _ = std::fs::remove_file(pin);
        }
    }
}

/// `bpftool -j ARGS`: the JSON on success, the stderr (or JSON error) otherwise.
fn bpftool_json(args: &[&str]) -> Result<Value, String> {
    let mut all = vec!["-j"];
    all.extend_from_slice(args);
    let output = run("bpftool", &all);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let parsed: Option<Value> = serde_json::from_str(&stdout).ok();
    match parsed {
        Some(value) if output.status.success() && value.get("error").is_none() => Ok(value),
        Some(value) if value.get("error").is_some() => Err(value["error"].to_string()),
        _ => Err(format!(
            "bpftool {} failed ({}): {}{}",
            args.join(" "),
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

fn field_u64(value: &Value, key: &str) -> u64 {
    value[key]
        .as_u64()
        .unwrap_or_else(|| panic!("bpftool JSON without a numeric `{key}`: {value}"))
}

fn field_str(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("bpftool JSON without a string `{key}`: {value}"))
        .to_string()
}

/// One map, queried alone by id (bpftool 7.1's full `map show` list misprints btf_id).
fn map_shape(id: u64) -> MapShape {
    let map = bpftool_json(&["map", "show", "id", &id.to_string()])
        .unwrap_or_else(|error| panic!("map id {id}: {error}"));
    MapShape {
        name: field_str(&map, "name"),
        kind: field_str(&map, "type"),
        key: field_u64(&map, "bytes_key"),
        value: field_u64(&map, "bytes_value"),
        max_entries: field_u64(&map, "max_entries"),
        flags: field_u64(&map, "flags"),
        frozen: map["frozen"].as_u64().unwrap_or(0),
    }
}

fn prog_shape(program: &Value) -> ProgShape {
    let map_ids: Vec<u64> = program["map_ids"]
        .as_array()
        .map(|ids| ids.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    ProgShape {
        id: field_u64(program, "id"),
        kind: field_str(program, "type"),
        tag: field_str(program, "tag"),
        maps: map_ids.iter().map(|&id| (id, map_shape(id))).collect(),
    }
}

/// Every program pinned directly in `dir` (map pins are skipped), by kernel name.
fn pinned_programs(dir: &Path) -> Loaded {
    let mut loaded = Loaded::new();
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|error| panic!("{}: {error}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        let pin = path.to_str().expect("utf-8 path");
        match bpftool_json(&["prog", "show", "pinned", pin]) {
            Ok(program) => {
                loaded.insert(field_str(&program, "name"), prog_shape(&program));
            }
            Err(prog_error) => {
                // Not a program: it must be a map pin.
                if let Err(map_error) = bpftool_json(&["map", "show", "pinned", pin]) {
                    panic!("{pin} is neither a program ({prog_error}) nor a map ({map_error})");
                }
            }
        }
    }
    loaded
}

/// The names directly under /sys/fs/bpf.
fn bpffs_top_level() -> BTreeSet<String> {
    std::fs::read_dir(BPFFS)
        .expect("read /sys/fs/bpf")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

/// The map id pinned at `path`, if a map is pinned there.
fn pinned_map_id(path: &Path) -> Option<u64> {
    bpftool_json(&["map", "show", "pinned", path.to_str()?])
        .ok()?
        .get("id")?
        .as_u64()
}

fn program_name(loaded: &Loaded, id: u64) -> &str {
    loaded
        .iter()
        .find(|(_, program)| program.id == id)
        .map_or("?", |(name, _)| name.as_str())
}

/// One line of the table, and what (if anything) went wrong.
struct Row {
    object: String,
    programs: String,
    maps_compared: String,
    bpftool: String,
    ours: String,
    verdict: &'static str,
    /// What each loader said when it refused the object.
    notes: Vec<String>,
    problems: Vec<String>,
}

fn print_table(rows: &[Row]) {
    let header = [
        "object",
        "programs",
        "maps compared",
        "bpftool (libbpf 1.1)",
        "xdploader",
        "verdict",
    ];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|row| {
            [
                row.object.clone(),
                row.programs.clone(),
                row.maps_compared.clone(),
                row.bpftool.clone(),
                row.ours.clone(),
                row.verdict.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        format!("| {} |", padded.join(" | "))
    };
    println!();
    println!("{}", line(&header.map(String::from)));
    println!(
        "|{}|",
        widths
            .iter()
            .map(|width| "-".repeat(width + 2))
            .collect::<Vec<_>>()
            .join("|")
    );
    for row in &cells {
        println!("{}", line(row));
    }
    for row in rows
        .iter()
        .filter(|row| !row.notes.is_empty() || !row.problems.is_empty())
    {
        println!("\n{}:", row.object);
        for note in &row.notes {
            println!("  {note}");
        }
        for problem in &row.problems {
            println!("  - DIFFERENCE: {problem}");
        }
    }
    println!();
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn libxdp_objects_load_as_libbpf_loads_them() {
    // One object at a time across this binary: the libbpf-tools test also makes and
    // removes pins directly under /sys/fs/bpf, which this test's by-name pin checks read.
    let _lock = kernel_lock();
    ensure_bpffs();
    let objects = real_world_objects();
    for name in KNOWN_BY_NAME_PINS {
        let pin = Path::new(BPFFS).join(name);
        assert!(
            !pin.exists(),
            "{} exists and was not made by this test: bpftool (libbpf) would reuse it and \
             this test would remove it; remove it (or move it away) and run the test again",
            pin.display()
        );
    }
    let rows: Vec<Row> = objects
        .iter()
        .map(|object| compare_object(object))
        .collect();
    print_table(&rows);
    let failed: Vec<String> = rows
        .iter()
        .filter(|row| !row.problems.is_empty())
        .map(|row| format!("{}:\n  - {}", row.object, row.problems.join("\n  - ")))
        .collect();
    assert!(
        failed.is_empty(),
        "the kernel holds something different after our loader than after libbpf:\n{}",
        failed.join("\n")
    );
}
