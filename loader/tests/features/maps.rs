//! Maps as the kernel holds them after `-load-only`: global data (names, flags, frozen,
//! initial values), BTF maps with every attribute and initialised slots, legacy and
//! iproute2 definitions, BTF reaching the kernel.

use super::*;

const XDP_ABORTED: u64 = 0;

const BPF_F_NO_PREALLOC: u64 = 0x1;
const BPF_F_NUMA_NODE: u64 = 0x4;
const BPF_F_RDONLY_PROG: u64 = 0x80;
const BPF_F_MMAPABLE: u64 = 0x400;

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
