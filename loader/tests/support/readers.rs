//! Readers for what the kernel holds, through statswatch and `bpftool -j`.

use super::*;

/// statswatch's five lines as (packets, bytes) per action.
pub fn statswatch_counts(pin: &Path) -> Vec<(u64, u64)> {
    statswatch_counts_with(statswatch(), pin)
}

/// The same, from the statswatch binary at `binary`.
pub fn statswatch_counts_with(binary: &str, pin: &Path) -> Vec<(u64, u64)> {
    let out = run_ok(binary, &["-file", pin.to_str().expect("utf-8 path")]);
    out.lines()
        .skip(1)
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            // "XDP_PASS:     7 packets / 574 bytes"
            let packets = words[1].parse().expect("packet count");
            let bytes = words[4].parse().expect("byte count");
            (packets, bytes)
        })
        .collect()
}

/// A little-endian number from `bpftool -j`'s hex byte strings ("0x2a", ...), at most
/// the first 8 bytes.
pub fn hex_u64(bytes: &[serde_json::Value]) -> u64 {
    bytes
        .iter()
        .take(8)
        .enumerate()
        .fold(0u64, |total, (index, byte)| {
            let text = byte.as_str().expect("hex byte");
            let value = u64::from_str_radix(text.trim_start_matches("0x"), 16).expect("hex byte");
            total | value << (8 * index)
        })
}

/// Whether the kernel still holds the program with this id.
pub fn prog_exists(id: u64) -> bool {
    run("bpftool", &["prog", "show", "id", &id.to_string()])
        .status
        .success()
}

/// Whether the kernel still holds the map with this id.
pub fn map_exists(id: u64) -> bool {
    run("bpftool", &["map", "show", "id", &id.to_string()])
        .status
        .success()
}

/// The names in `dir`, sorted; empty when it does not exist.
pub fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The same for a JSON array of such bytes (a key or a value of `bpftool -j map dump`).
pub fn hex_value(value: &serde_json::Value) -> u64 {
    hex_u64(value.as_array().expect("an array of hex bytes"))
}

/// (slot, program id) of every filled slot of a pinned prog array, per `bpftool map dump`.
pub fn prog_array_slots(pin: &Path) -> Vec<(u64, u64)> {
    let out = run_ok("bpftool", &["-j", "map", "dump", "pinned", path_str(pin)]);
    json(&out)
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| (hex_value(&entry["key"]), hex_value(&entry["value"])))
        .collect()
}

/// The same sums, read with `bpftool -j map dump` (per-CPU values added up here).
pub fn bpftool_counts(pin: &Path) -> Vec<(u64, u64)> {
    let out = run_ok(
        "bpftool",
        &[
            "-j",
            "map",
            "dump",
            "pinned",
            pin.to_str().expect("utf-8 path"),
        ],
    );
    let entries = json(&out);
    let mut counts = vec![(0u64, 0u64); entries.as_array().map_or(0, Vec::len)];
    for entry in entries.as_array().expect("array of entries") {
        let key = hex_u64(entry["key"].as_array().expect("key bytes")) as usize;
        for cpu in entry["values"].as_array().expect("per-CPU values") {
            let value = cpu["value"].as_array().expect("value bytes");
            counts[key].0 += hex_u64(&value[0..8]);
            counts[key].1 += hex_u64(&value[8..16]);
        }
    }
    counts
}
