//! Legacy `maps`-section objects (elf/tests/fixtures): the classic 20-byte
//! `struct bpf_map_def` and goebpf's 40-byte definition with `persistent_path`.

mod common;
use common::read_object;

use std::collections::BTreeSet;

use elf::{MapOrigin, MapSpec, Object, Pinning, RelocTarget, SectionKind};

const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_PROG_ARRAY: u32 = 3;
const BPF_MAP_TYPE_PERCPU_ARRAY: u32 = 6;
const BPF_F_NO_PREALLOC: u32 = 1;

fn parse_fixture(name: &str) -> Object {
    let data = read_object(&format!("elf/tests/fixtures/{name}"));
    Object::parse(&data).unwrap_or_else(|error| panic!("{name}: {error}"))
}

/// Checks the parts of a legacy map that the definition sets.
#[allow(clippy::too_many_arguments)]
fn check_map(
    map: &MapSpec,
    name: &str,
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    pinning: Pinning,
    def_size: u64,
) {
    assert_eq!(map.name, name);
    assert_eq!(map.map_type, map_type, "{name} type");
    assert_eq!(map.key_size, key_size, "{name} key size");
    assert_eq!(map.value_size, value_size, "{name} value size");
    assert_eq!(map.max_entries, max_entries, "{name} max entries");
    assert_eq!(map.map_flags, map_flags, "{name} flags");
    assert_eq!(map.pinning, pinning, "{name} pinning");
    assert_eq!(map.origin, MapOrigin::Legacy { def_size }, "{name} origin");
    assert_eq!(map.numa_node, None, "{name} numa node");
    assert_eq!(map.btf_key_type_id, None, "{name} BTF key");
    assert_eq!(map.btf_value_type_id, None, "{name} BTF value");
}

fn map_section_index(object: &Object) -> usize {
    let section = object
        .sections
        .iter()
        .find(|section| section.name == "maps")
        .expect("maps section");
    assert_eq!(section.kind, SectionKind::LegacyMaps);
    section.index
}

/// Each relocation of the program: the map it loads (all must be map loads).
fn relocated_maps(object: &Object, program: &str) -> Vec<String> {
    let program = object.program(program).expect("program");
    program
        .relocations
        .iter()
        .map(|relocation| {
            let RelocTarget::Map { map_index } = relocation.target else {
                panic!("{relocation:?} is not a map load");
            };
            assert!(program.insns[relocation.insn_index].is_ld_imm64());
            assert_eq!(relocation.symbol, object.maps[map_index].name);
            object.maps[map_index].name.clone()
        })
        .collect()
}

#[test]
fn classic_bpf_map_def() {
    let object = parse_fixture("legacy_maps.elf");
    assert_eq!(object.license.as_deref(), Some("GPL"));
    assert_eq!(object.maps.len(), 2);
    check_map(
        &object.maps[0],
        "counters",
        BPF_MAP_TYPE_ARRAY,
        4,
        8,
        4,
        0,
        Pinning::None,
        20,
    );
    check_map(
        &object.maps[1],
        "flows",
        BPF_MAP_TYPE_HASH,
        8,
        16,
        1024,
        BPF_F_NO_PREALLOC,
        Pinning::None,
        20,
    );
    let section = map_section_index(&object);
    assert!(object.maps.iter().all(|map| map.section_index == section));
    assert_eq!(object.maps[0].section_offset, 0);
    assert_eq!(object.maps[1].section_offset, 20);
}

#[test]
fn classic_program_relocates_both_maps() {
    let object = parse_fixture("legacy_maps.elf");
    let programs: Vec<&str> = object.programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(programs, ["legacy_count"]);
    let program = &object.programs[0];
    assert_eq!(program.section, "xdp");
    assert!(!program.insns.is_empty());
    assert_eq!(program.relocations.len(), 2);
    assert_eq!(
        relocated_maps(&object, "legacy_count"),
        ["counters", "flows"]
    );
}

#[test]
fn goebpf_definitions_with_persistent_path() {
    let object = parse_fixture("legacy_persistent.elf");
    assert_eq!(object.license.as_deref(), Some("GPL"));
    let found: Vec<&str> = object.maps.iter().map(|map| map.name.as_str()).collect();
    // The path strings live in .rodata.str1.1, which becomes a global-data map as
    // libbpf makes one; the three definitions come first.
    assert_eq!(
        found,
        [
            "legacy_stats",
            "legacy_jmp",
            "legacy_config",
            ".rodata.str1.1"
        ]
    );
    check_map(
        &object.maps[0],
        "legacy_stats",
        BPF_MAP_TYPE_PERCPU_ARRAY,
        4,
        16,
        5,
        0,
        Pinning::Path("/sys/fs/bpf/legacy_stats".into()),
        40,
    );
    check_map(
        &object.maps[1],
        "legacy_jmp",
        BPF_MAP_TYPE_PROG_ARRAY,
        4,
        4,
        8,
        0,
        Pinning::None,
        40,
    );
    check_map(
        &object.maps[2],
        "legacy_config",
        BPF_MAP_TYPE_ARRAY,
        4,
        4,
        1,
        0,
        Pinning::Path("/sys/fs/bpf/legacy_config".into()),
        40,
    );
    let section = map_section_index(&object);
    let definitions = &object.maps[..3];
    let offsets: Vec<u64> = definitions.iter().map(|map| map.section_offset).collect();
    assert_eq!(offsets, [0, 40, 80]);
    assert!(definitions.iter().all(|map| map.section_index == section));
}

#[test]
fn goebpf_program_relocates_all_three_maps() {
    let object = parse_fixture("legacy_persistent.elf");
    let programs: Vec<&str> = object.programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(programs, ["legacy_entry"]);
    let referenced: BTreeSet<String> = relocated_maps(&object, "legacy_entry")
        .into_iter()
        .collect();
    let expected: BTreeSet<String> = ["legacy_stats", "legacy_jmp", "legacy_config"]
        .iter()
        .map(|name| name.to_string())
        .collect();
    assert_eq!(referenced, expected);
    assert_eq!(object.programs[0].relocations.len(), 3);
}
