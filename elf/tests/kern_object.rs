//! Parses the sample program `kern/xdp.elf` (and its `-DDEBUG` build) and checks
//! every map, program and relocation against what `kern/xdp.c` declares.

mod common;
use common::read_object;

use std::collections::BTreeSet;

use elf::insn::BPF_FUNC_TAIL_CALL;
use elf::{MapOrigin, Object, Pinning, ProgramType, RelocTarget, SectionKind, XdpAttach};

const BPF_MAP_TYPE_PROG_ARRAY: u32 = 3;
const BPF_MAP_TYPE_PERCPU_ARRAY: u32 = 6;
const BPF_MAP_TYPE_DEVMAP: u32 = 14;

fn parse(relative: &str) -> Object {
    let data = read_object(relative);
    Object::parse(&data).unwrap_or_else(|error| panic!("{relative}: {error}"))
}

fn xdp_object() -> Object {
    parse("kern/xdp.elf")
}

/// The names of the maps a program's relocations point at.
fn referenced_maps(object: &Object, program: &str) -> BTreeSet<String> {
    let program = object.program(program).expect("program exists");
    program
        .relocations
        .iter()
        .filter_map(|relocation| match relocation.target {
            RelocTarget::Map { map_index } | RelocTarget::MapValue { map_index, .. } => {
                Some(object.maps[map_index].name.clone())
            }
            _ => None,
        })
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|name| name.to_string()).collect()
}

#[test]
fn license_is_gpl() {
    assert_eq!(xdp_object().license.as_deref(), Some("GPL"));
}

#[test]
fn has_btf() {
    let object = xdp_object();
    let btf = object.btf.as_ref().expect("xdp.elf is built with -g");
    assert!(btf.type_count() > 0);
    assert!(btf.find_datasec(".maps").is_some());
}

#[test]
fn exactly_four_maps_in_section_order() {
    let object = xdp_object();
    let found: Vec<&str> = object.maps.iter().map(|map| map.name.as_str()).collect();
    assert_eq!(found, ["tail_call", "jmp_map", "stats_map", "if_redirect"]);
    assert!(object
        .maps
        .windows(2)
        .all(|pair| pair[0].section_offset < pair[1].section_offset));
    let maps_section = object
        .sections
        .iter()
        .find(|section| section.name == ".maps")
        .expect(".maps section");
    assert_eq!(maps_section.kind, SectionKind::BtfMaps);
    for map in &object.maps {
        assert_eq!(map.section_index, maps_section.index, "{}", map.name);
        assert!(map.section_offset < maps_section.size, "{}", map.name);
        assert_eq!(map.origin, MapOrigin::BtfMaps, "{}", map.name);
        assert_eq!(map.numa_node, None, "{}", map.name);
    }
}

#[test]
fn map_attributes() {
    let object = xdp_object();
    // As kern/xdp.c declares them; `pinning` is LIBBPF_PIN_BY_NAME for the maps
    // that must outlive the loader (stats, the tail-call chain, the devmap).
    // (name, type, key size, value size, max entries, flags, pinning)
    let expected = [
        (
            "tail_call",
            BPF_MAP_TYPE_PERCPU_ARRAY,
            4,
            4,
            1,
            0,
            Pinning::None,
        ),
        (
            "jmp_map",
            BPF_MAP_TYPE_PROG_ARRAY,
            4,
            4,
            16,
            0,
            Pinning::ByName,
        ),
        (
            "stats_map",
            BPF_MAP_TYPE_PERCPU_ARRAY,
            4,
            16,
            5,
            0,
            Pinning::ByName,
        ),
        (
            "if_redirect",
            BPF_MAP_TYPE_DEVMAP,
            4,
            4,
            64,
            0,
            Pinning::ByName,
        ),
    ];
    for (name, map_type, key_size, value_size, max_entries, flags, pinning) in expected {
        let map = object.map(name).unwrap_or_else(|| panic!("map {name}"));
        assert_eq!(map.map_type, map_type, "{name} type");
        assert_eq!(map.key_size, key_size, "{name} key size");
        assert_eq!(map.value_size, value_size, "{name} value size");
        assert_eq!(map.max_entries, max_entries, "{name} max entries");
        assert_eq!(map.map_flags, flags, "{name} flags");
        assert_eq!(map.pinning, pinning, "{name} pinning");
    }
}

#[test]
fn map_btf_types_resolve_to_the_sizes() {
    let object = xdp_object();
    let btf = object.btf.as_ref().expect("BTF");
    for map in &object.maps {
        let key = map.btf_key_type_id.expect("__type(key, ...)");
        let value = map.btf_value_type_id.expect("__type(value, ...)");
        assert_eq!(btf.resolve_size(key), Ok(map.key_size), "{} key", map.name);
        assert_eq!(
            btf.resolve_size(value),
            Ok(map.value_size),
            "{} value",
            map.name
        );
        assert_eq!(btf.name(key), Ok("__u32"), "{} key type", map.name);
    }
    let stats = object.map("stats_map").expect("stats_map");
    let value = stats.btf_value_type_id.expect("value type");
    assert_eq!(btf.resolve_size(value), Ok(16));
    assert_eq!(btf.name(btf.skip_modifiers(value).unwrap()), Ok("datarec"));
    let key = stats.btf_key_type_id.expect("key type");
    assert_eq!(btf.resolve_size(key), Ok(4));
}

#[test]
fn three_xdp_programs_in_order() {
    let object = xdp_object();
    let found: Vec<&str> = object
        .programs
        .iter()
        .map(|program| program.name.as_str())
        .collect();
    assert_eq!(found, ["xdp_skeleton", "xdp_skeleton_1", "xdp_skeleton_2"]);
    for program in &object.programs {
        assert_eq!(program.section, "xdp", "{}", program.name);
        assert_eq!(
            program.program_type,
            ProgramType::Xdp {
                attach: XdpAttach::Interface,
                frags: false
            },
            "{}",
            program.name
        );
        assert_eq!(program.program_type.name(), "XDP");
        assert!(!program.insns.is_empty(), "{}", program.name);
    }
}

#[test]
fn programs_tile_the_xdp_section() {
    let object = xdp_object();
    let section = object
        .sections
        .iter()
        .find(|section| section.name == "xdp")
        .expect("xdp section");
    assert_eq!(section.kind, SectionKind::Program);
    let mut next = 0u64;
    for program in &object.programs {
        assert_eq!(program.section_offset, next, "{} starts", program.name);
        assert_eq!(program.section_offset % 8, 0);
        next += program.size_bytes() as u64;
    }
    let total: usize = object.programs.iter().map(|p| p.size_bytes()).sum();
    assert_eq!(total as u64, section.size);
    assert_eq!(next, section.size);
}

#[test]
fn every_relocation_loads_a_map() {
    let object = xdp_object();
    let mut count = 0;
    for program in &object.programs {
        assert!(!program.relocations.is_empty(), "{}", program.name);
        assert!(program
            .relocations
            .windows(2)
            .all(|pair| pair[0].insn_index < pair[1].insn_index));
        for relocation in &program.relocations {
            count += 1;
            let RelocTarget::Map { map_index } = relocation.target else {
                panic!("{}: {relocation:?} is not a map", program.name);
            };
            let map = &object.maps[map_index];
            assert_eq!(relocation.symbol, map.name);
            // The second half of the ld_imm64 pair must be there too.
            assert!(relocation.insn_index + 1 < program.insns.len());
            let insn = program.insns[relocation.insn_index];
            assert!(
                insn.is_ld_imm64(),
                "{} insn {} is {insn:?}",
                program.name,
                relocation.insn_index
            );
        }
    }
    assert!(count >= 5, "only {count} relocations");
}

#[test]
fn maps_each_program_uses() {
    let object = xdp_object();
    assert_eq!(
        referenced_maps(&object, "xdp_skeleton"),
        names(&["stats_map", "tail_call", "jmp_map"])
    );
    assert_eq!(
        referenced_maps(&object, "xdp_skeleton_1"),
        names(&["stats_map", "tail_call", "jmp_map"])
    );
    assert_eq!(
        referenced_maps(&object, "xdp_skeleton_2"),
        names(&["stats_map"])
    );
    // if_redirect is filled by the loader and not used by the programs.
    assert!(object
        .programs
        .iter()
        .all(|program| !referenced_maps(&object, &program.name).contains("if_redirect")));
}

#[test]
fn tail_calls_only_in_the_first_two_programs() {
    let object = xdp_object();
    let tail_calls = |name: &str| {
        object
            .program(name)
            .expect("program")
            .insns
            .iter()
            .filter(|insn| insn.is_helper_call(BPF_FUNC_TAIL_CALL))
            .count()
    };
    assert_eq!(tail_calls("xdp_skeleton"), 1);
    assert_eq!(tail_calls("xdp_skeleton_1"), 1);
    assert_eq!(tail_calls("xdp_skeleton_2"), 0);
}

#[test]
fn parsing_is_deterministic() {
    let data = read_object("kern/xdp.elf");
    assert_eq!(Object::parse(&data), Object::parse(&data));
}

#[test]
fn only_the_debug_build_calls_bpf_printk() {
    assert!(parse("kern/xdp-debug.elf").calls_trace_printk());
    assert!(!parse("kern/xdp.elf").calls_trace_printk());
}

#[test]
fn debug_build_parses_with_global_data_relocations() {
    let object = parse("kern/xdp-debug.elf");
    let found: Vec<&str> = object.maps.iter().map(|map| map.name.as_str()).collect();
    assert_eq!(
        found,
        [
            "tail_call",
            "jmp_map",
            "stats_map",
            "if_redirect",
            ".rodata"
        ]
    );
    let rodata_index = 4;
    assert_eq!(
        object.maps[rodata_index].origin,
        elf::MapOrigin::GlobalData {
            kind: elf::DataKind::Rodata
        }
    );
    assert_eq!(
        object.maps[rodata_index].initial_value.len() as u32,
        object.maps[rodata_index].value_size
    );
    let programs: Vec<&str> = object.programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        programs,
        ["xdp_skeleton", "xdp_skeleton_1", "xdp_skeleton_2"]
    );
    let is_rodata = |target: &RelocTarget| matches!(target, RelocTarget::MapValue { map_index, .. } if *map_index == rodata_index);
    for program in &object.programs {
        // Every program prints with bpf_printk in the debug build.
        assert!(
            program.relocations.iter().any(|r| is_rodata(&r.target)),
            "{} has no .rodata relocation",
            program.name
        );
        for relocation in &program.relocations {
            assert!(
                matches!(relocation.target, RelocTarget::Map { .. })
                    || is_rodata(&relocation.target),
                "{}: {relocation:?}",
                program.name
            );
            assert!(program.insns[relocation.insn_index].is_ld_imm64());
        }
    }
    assert_eq!(
        referenced_maps(&object, "xdp_skeleton_2"),
        names(&["stats_map", ".rodata"])
    );
    let rodata_section = object
        .sections
        .iter()
        .find(|section| section.name == ".rodata")
        .expect(".rodata section");
    assert_eq!(rodata_section.kind, SectionKind::Data);
}

/// The Makefiles map the build folder to `.`: an object built in a clone at another
/// path is byte-for-byte the same, so the section sizes the docs show hold everywhere.
#[test]
fn objects_carry_no_path_of_the_machine_they_were_built_on() {
    let repository = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("elf/ sits in the repository")
        .to_string_lossy()
        .into_owned();
    for relative in ["kern/xdp.elf", "kern/xdp-debug.elf"] {
        let data = read_object(relative);
        let found = data
            .windows(repository.len())
            .any(|window| window == repository.as_bytes());
        assert!(
            !found,
            "{relative} holds the build path {repository}: build it with kern/Makefile, which passes -ffile-prefix-map"
        );
    }
}
