//! Map definitions: BTF-defined maps in `.maps` and legacy `struct bpf_map_def` in `maps`.
//!
//! Map types and flags are kept as the plain integers found in the object; the
//! loader interprets them against the kernel's constants.

use std::collections::BTreeMap;

use crate::btf::{Btf, BtfKind};
use crate::error::ParseError;

/// Where a map is pinned in bpffs, if anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pinning {
    None,
    /// `LIBBPF_PIN_BY_NAME`: `<pin root>/<map name>`.
    ByName,
    /// The original project's `persistent_path`: an absolute path chosen by the object.
    Path(String),
}

/// Which kind of definition a map came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapOrigin {
    /// A variable in `SEC(".maps")` described by BTF.
    BtfMaps,
    /// A `struct bpf_map_def` (or a longer variant) in `SEC("maps")`.
    Legacy { def_size: u64 },
    /// Global variables: a `.data`, `.rodata*` or `.bss` section as a one-entry array.
    GlobalData { kind: DataKind },
}

/// Which kind of global-data section a map holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// `.data*`: initialised, writable.
    Data,
    /// `.rodata*`: constants; read-only for programs and frozen after loading.
    Rodata,
    /// `.bss*`: zero-initialised, writable.
    Bss,
    /// `.kconfig`: the values of `__kconfig` externs, written by the loader from the
    /// running kernel; read-only for programs and frozen, as `.rodata`.
    Kconfig,
}

/// One map as the object defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSpec {
    pub name: String,
    /// `enum bpf_map_type` value as written in the object.
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub numa_node: Option<u32>,
    /// `map_extra` (bloom filter hash count, arena address); 0 when unset.
    pub map_extra: u64,
    pub pinning: Pinning,
    /// BTF type ids of the key and value when the definition named types (`__type`).
    pub btf_key_type_id: Option<u32>,
    pub btf_value_type_id: Option<u32>,
    pub origin: MapOrigin,
    /// ELF section index and offset of the definition: what relocations point at.
    pub section_index: usize,
    pub section_offset: u64,
    /// Size of the definition in its section (the symbol's size).
    pub def_size: u64,
    /// The initial value of a global-data map (the section's bytes; zeros for `.bss`).
    pub initial_value: Vec<u8>,
    /// A map of maps: the definition of the maps it holds.
    pub inner: Option<Box<MapSpec>>,
    /// Byte offset of `values` inside a BTF definition that has `__array(values, ...)`.
    pub values_offset: Option<u32>,
    /// Slots filled at load time by `.values = { [slot] = &target }`.
    pub initial_slots: Vec<(u32, InitialSlot)>,
}

/// What a statically initialised slot of a map of maps or prog array holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitialSlot {
    /// Another map of the object, by name.
    Map(String),
    /// A program of the object, by name.
    Program(String),
}

/// `BPF_MAP_TYPE_ARRAY`: what global-data sections become, as libbpf makes them.
pub const BPF_MAP_TYPE_ARRAY: u32 = 2;

/// A symbol that names a definition inside a map section.
#[derive(Debug, Clone)]
pub(crate) struct MapSymbol {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// What a relocated pointer inside a map section points at, resolved by the parse driver.
#[derive(Debug, Clone)]
pub(crate) struct PointerTarget {
    pub symbol: String,
    /// The NUL-terminated string at the target, when the target lies in a data section.
    pub c_string: Option<String>,
}

// Field offsets of the legacy definitions (`struct bpf_map_def` and goebpf's variant).
const LEGACY_TYPE: usize = 0;
const LEGACY_KEY_SIZE: usize = 4;
const LEGACY_VALUE_SIZE: usize = 8;
const LEGACY_MAX_ENTRIES: usize = 12;
const LEGACY_MAP_FLAGS: usize = 16;
/// The shortest definition libbpf accepted: type, key size, value size, max entries.
const LEGACY_MIN_SIZE: u64 = 16;
/// `sizeof(struct bpf_map_def)` with `map_flags`.
const LEGACY_BPF_MAP_DEF_SIZE: u64 = 20;
/// goebpf's definition: the five fields, 4 bytes of padding, then two pointers.
const GOEBPF_MAP_DEF_SIZE: u64 = 40;
const GOEBPF_INNER_MAP_DEF: u64 = 24;
const GOEBPF_PERSISTENT_PATH: u64 = 32;
/// iproute2's `struct bpf_elf_map`: the five fields, then id, pinning, inner_id, inner_idx.
const IPROUTE2_BPF_ELF_MAP_SIZE: u64 = 36;
const IPROUTE2_PINNING: usize = 24;
const IPROUTE2_INNER_ID: usize = 28;
const IPROUTE2_INNER_IDX: usize = 32;
// iproute2's pinning values (include/bpf_elf.h).
const PIN_NONE: u32 = 0;
const PIN_OBJECT_NS: u32 = 1;
const PIN_GLOBAL_NS: u32 = 2;

/// The fields iproute2's definition adds: pinning, and inner-map references.
fn apply_iproute2_fields(spec: &mut MapSpec, def: &[u8]) -> Result<(), String> {
    spec.pinning = match le_u32(def, IPROUTE2_PINNING) {
        PIN_NONE => Pinning::None,
        // The object's own namespace: our pin directory.
        PIN_OBJECT_NS => Pinning::ByName,
        PIN_GLOBAL_NS => {
            return Err(
                "pinning 2 (iproute2's PIN_GLOBAL_NS, /sys/fs/bpf/tc/globals) is not supported; use PIN_OBJECT_NS (1) to pin under the pin directory"
                    .into(),
            )
        }
        other => return Err(format!("pinning {other} is not one of iproute2's PIN_NONE (0), PIN_OBJECT_NS (1), PIN_GLOBAL_NS (2)")),
    };
    if le_u32(def, IPROUTE2_INNER_ID) != 0 || le_u32(def, IPROUTE2_INNER_IDX) != 0 {
        return Err("its inner_id/inner_idx make it a map of maps, which iproute2 definitions cannot express here yet".into());
    }
    Ok(())
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(0)
}

/// Parses the legacy `maps` section: one definition per symbol, each sized by its symbol.
pub(crate) fn parse_legacy_maps(
    section_index: usize,
    data: &[u8],
    symbols: &[MapSymbol],
    pointers: &BTreeMap<u64, PointerTarget>,
) -> Result<Vec<MapSpec>, ParseError> {
    let mut sorted: Vec<&MapSymbol> = symbols.iter().collect();
    sorted.sort_by_key(|symbol| symbol.offset);
    // Old compilers emit size-0 symbols; like libbpf, split the section evenly then.
    let even_size = if sorted.is_empty() {
        0
    } else {
        data.len() as u64 / sorted.len() as u64
    };
    sorted
        .into_iter()
        .map(|symbol| {
            let def_size = if symbol.size == 0 {
                even_size
            } else {
                symbol.size
            };
            let bad = |reason: String| ParseError::LegacyMap {
                map: symbol.name.clone(),
                reason,
            };
            if def_size < LEGACY_MIN_SIZE {
                return Err(bad(format!(
                    "its definition is {def_size} bytes, shorter than the {LEGACY_MIN_SIZE} bytes of type, key size, value size and max entries"
                )));
            }
            let end = symbol
                .offset
                .checked_add(def_size)
                .filter(|&end| end <= data.len() as u64)
                .ok_or_else(|| {
                    bad(format!(
                        "its definition at offset {} ({def_size} bytes) runs past the end of the {}-byte section",
                        symbol.offset,
                        data.len()
                    ))
                })?;
            let def = &data[symbol.offset as usize..end as usize];
            let mut spec = MapSpec {
                name: symbol.name.clone(),
                map_type: le_u32(def, LEGACY_TYPE),
                key_size: le_u32(def, LEGACY_KEY_SIZE),
                value_size: le_u32(def, LEGACY_VALUE_SIZE),
                max_entries: le_u32(def, LEGACY_MAX_ENTRIES),
                map_flags: le_u32(def, LEGACY_MAP_FLAGS),
                numa_node: None,
                pinning: Pinning::None,
                btf_key_type_id: None,
                btf_value_type_id: None,
                origin: MapOrigin::Legacy { def_size },
                section_index,
                section_offset: symbol.offset,
                def_size,
                initial_value: Vec::new(),
                inner: None,
                values_offset: None,
                initial_slots: Vec::new(),
                map_extra: 0,
            };
            if def_size == IPROUTE2_BPF_ELF_MAP_SIZE {
                apply_iproute2_fields(&mut spec, def).map_err(bad)?;
            } else if def_size == GOEBPF_MAP_DEF_SIZE {
                let inner = symbol.offset + GOEBPF_INNER_MAP_DEF;
                if let Some(target) = pointers.get(&inner) {
                    return Err(bad(format!(
                        "its inner_map_def points at `{}`: map-in-map definitions are not supported yet",
                        target.symbol
                    )));
                }
                let path_at = symbol.offset + GOEBPF_PERSISTENT_PATH;
                if let Some(target) = pointers.get(&path_at) {
                    let path = target.c_string.clone().ok_or_else(|| {
                        bad(format!(
                            "its persistent_path points at `{}`, which is not a string in a data section",
                            target.symbol
                        ))
                    })?;
                    if !path.is_empty() {
                        spec.pinning = Pinning::Path(path);
                    }
                }
                let padding = &def[LEGACY_BPF_MAP_DEF_SIZE as usize..GOEBPF_INNER_MAP_DEF as usize];
                if padding.iter().any(|&b| b != 0) {
                    return Err(bad(
                        "the padding after map_flags is not zero: this is not goebpf's 40-byte definition"
                            .to_string(),
                    ));
                }
            } else if def_size > LEGACY_BPF_MAP_DEF_SIZE
                && def[LEGACY_BPF_MAP_DEF_SIZE as usize..].iter().any(|&b| b != 0)
            {
                return Err(bad(format!(
                    "its {def_size}-byte definition has non-zero fields after map_flags that this loader does not know"
                )));
            }
            Ok(spec)
        })
        .collect()
}

/// A BTF map definition's `__uint(name, value)`: `int (*name)[value]`.
fn btf_uint(btf: &Btf, type_id: u32) -> Option<u32> {
    let ptr = btf.get(btf.skip_modifiers(type_id).ok()?)?;
    let BtfKind::Ptr { target } = ptr.kind else {
        return None;
    };
    match btf.get(btf.skip_modifiers(target).ok()?)?.kind {
        BtfKind::Array { nelems, .. } => Some(nelems),
        _ => None,
    }
}

/// A BTF map definition's `__type(name, T)`: `T *name`; returns T's id.
fn btf_pointee(btf: &Btf, type_id: u32) -> Option<u32> {
    match btf.get(btf.skip_modifiers(type_id).ok()?)?.kind {
        BtfKind::Ptr { target } => Some(target),
        _ => None,
    }
}

// libbpf's `enum libbpf_pin_type`.
const LIBBPF_PIN_NONE: u32 = 0;
const LIBBPF_PIN_BY_NAME: u32 = 1;

/// Parses the maps that `.maps` defines, described by the `.maps` DATASEC in BTF.
pub(crate) fn parse_btf_maps(
    section_index: usize,
    btf: &Btf,
    symbols: &[MapSymbol],
) -> Result<Vec<MapSpec>, ParseError> {
    let Some(datasec_id) = btf.find_datasec(".maps") else {
        return Err(ParseError::Section {
            section: ".maps".into(),
            reason: "the object's BTF has no `.maps` DATASEC describing it".into(),
        });
    };
    let Some(BtfKind::Datasec { vars, .. }) = btf.get(datasec_id).map(|ty| &ty.kind) else {
        return Ok(Vec::new());
    };
    let mut maps = Vec::with_capacity(vars.len());
    for var in vars {
        let var_type = btf.get(var.type_id);
        let (name, def_type) = match var_type.map(|ty| (&ty.kind, ty.name_off)) {
            Some((BtfKind::Var { target, .. }, name_off)) => (btf.string(name_off)?, *target),
            _ => {
                return Err(ParseError::Section {
                    section: ".maps".into(),
                    reason: format!("DATASEC entry {} is not a variable", var.type_id),
                })
            }
        };
        let symbol = symbols
            .iter()
            .find(|symbol| symbol.name == name)
            .ok_or_else(|| ParseError::BtfMap {
                map: name.to_string(),
                reason: "no ELF symbol in `.maps` has this name".into(),
            })?;
        let mut spec = parse_btf_map_def(btf, name, def_type, true)?;
        spec.section_index = section_index;
        spec.section_offset = symbol.offset;
        spec.def_size = symbol.size;
        maps.push(spec);
    }
    Ok(maps)
}

/// One BTF map definition (a struct of `__uint`/`__type`/`__array` members). `outer`
/// allows `values`; an inner map's definition may not have its own.
fn parse_btf_map_def(
    btf: &Btf,
    name: &str,
    def_type: u32,
    outer: bool,
) -> Result<MapSpec, ParseError> {
    let bad = |reason: String| ParseError::BtfMap {
        map: name.to_string(),
        reason,
    };
    let def_id = btf.skip_modifiers(def_type)?;
    let members = match btf.get(def_id).map(|ty| &ty.kind) {
        Some(BtfKind::Struct { members, .. }) => members,
        _ => return Err(bad("its definition is not a struct".into())),
    };
    let mut spec = MapSpec {
        name: name.to_string(),
        map_type: 0,
        key_size: 0,
        value_size: 0,
        max_entries: 0,
        map_flags: 0,
        numa_node: None,
        map_extra: 0,
        pinning: Pinning::None,
        btf_key_type_id: None,
        btf_value_type_id: None,
        origin: MapOrigin::BtfMaps,
        section_index: 0,
        section_offset: 0,
        def_size: 0,
        initial_value: Vec::new(),
        inner: None,
        values_offset: None,
        initial_slots: Vec::new(),
    };
    let mut key_size = None;
    let mut value_size = None;
    let mut has_type = false;
    let mut values_len = 0;
    for member in members {
        let field = btf.string(member.name_off)?;
        let uint = || {
            btf_uint(btf, member.type_id)
                .ok_or_else(|| bad(format!("field `{field}` is not an __uint(...)")))
        };
        let sized_type = || -> Result<(u32, u32), ParseError> {
            let pointee = btf_pointee(btf, member.type_id)
                .ok_or_else(|| bad(format!("field `{field}` is not a __type(...)")))?;
            Ok((pointee, btf.resolve_size(pointee)?))
        };
        match field {
            "type" => {
                spec.map_type = uint()?;
                has_type = true;
            }
            "max_entries" => spec.max_entries = uint()?,
            "map_flags" => spec.map_flags = uint()?,
            "numa_node" => spec.numa_node = Some(uint()?),
            "map_extra" => spec.map_extra = u64::from(uint()?),
            "key_size" => key_size = Some(uint()?),
            "value_size" => value_size = Some(uint()?),
            "key" => {
                let (type_id, size) = sized_type()?;
                spec.btf_key_type_id = Some(type_id);
                key_size = match key_size {
                    Some(explicit) if explicit != size => {
                        return Err(bad(format!(
                            "key_size {explicit} disagrees with the {size}-byte key type"
                        )))
                    }
                    _ => Some(size),
                };
            }
            "value" => {
                let (type_id, size) = sized_type()?;
                spec.btf_value_type_id = Some(type_id);
                value_size = match value_size {
                    Some(explicit) if explicit != size => {
                        return Err(bad(format!(
                            "value_size {explicit} disagrees with the {size}-byte value type"
                        )))
                    }
                    _ => Some(size),
                };
            }
            "pinning" => {
                spec.pinning = match uint()? {
                    LIBBPF_PIN_NONE => Pinning::None,
                    LIBBPF_PIN_BY_NAME => Pinning::ByName,
                    other => {
                        return Err(bad(format!(
                            "pinning {other} is not supported (only LIBBPF_PIN_NONE and LIBBPF_PIN_BY_NAME)"
                        )))
                    }
                }
            }
            "values" if outer => {
                // `__array(values, T)`: a zero-or-more element array of pointers to T, where T
                // is an inner map's definition (map-in-map) or a function type (prog array).
                let array = btf.get(btf.skip_modifiers(member.type_id)?).map(|ty| &ty.kind);
                let Some(BtfKind::Array { elem, nelems, .. }) = array else {
                    return Err(bad("field `values` is not an __array(...)".into()));
                };
                values_len = *nelems;
                spec.values_offset = Some(member.offset / 8);
                let pointee = btf_pointee(btf, *elem)
                    .ok_or_else(|| bad("field `values` is not an array of pointers".into()))?;
                let pointee = btf.skip_modifiers(pointee)?;
                match btf.get(pointee).map(|ty| &ty.kind) {
                    Some(BtfKind::Struct { .. }) => {
                        let inner_name = format!("{name}.inner");
                        spec.inner = Some(Box::new(parse_btf_map_def(btf, &inner_name, pointee, false)?));
                    }
                    Some(BtfKind::FuncProto { .. }) => {}
                    _ => {
                        return Err(bad(
                            "field `values` points at neither a map definition nor a function".into(),
                        ))
                    }
                }
            }
            other => return Err(bad(format!("unknown field `{other}` in its definition"))),
        }
    }
    if !has_type {
        return Err(bad("its definition has no `type`".into()));
    }
    if let Some(size) = key_size {
        spec.key_size = size;
    }
    if let Some(size) = value_size {
        spec.value_size = size;
    }
    // Maps of maps and prog arrays hold 4-byte fds; libbpf fills sizes left unsaid.
    if spec.values_offset.is_some() || spec.inner.is_some() {
        if spec.key_size == 0 {
            spec.key_size = 4;
        }
        if spec.value_size == 0 {
            spec.value_size = 4;
        }
    }
    if spec.max_entries == 0 {
        spec.max_entries = values_len;
    }
    Ok(spec)
}

/// The map that holds a global-data section: one entry whose value is the section.
pub(crate) fn global_data_map(
    section_index: usize,
    section: &str,
    kind: DataKind,
    contents: Vec<u8>,
    btf: Option<&Btf>,
) -> MapSpec {
    MapSpec {
        name: section.to_string(),
        map_type: BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: contents.len() as u32,
        max_entries: 1,
        map_flags: 0,
        numa_node: None,
        pinning: Pinning::None,
        btf_key_type_id: None,
        // The section's DATASEC describes the value, as libbpf does it.
        btf_value_type_id: btf.and_then(|btf| btf.find_datasec(section)),
        origin: MapOrigin::GlobalData { kind },
        section_index,
        section_offset: 0,
        def_size: 0,
        initial_value: contents,
        inner: None,
        values_offset: None,
        initial_slots: Vec::new(),
        map_extra: 0,
    }
}

/// `BPF_MAP_TYPE_ARENA`, the highest map type of the kernels this loader knows; a type
/// above it is far more likely a corrupt definition than a map from the future.
pub const HIGHEST_KNOWN_MAP_TYPE: u32 = 33;

/// Refuses map types no kernel defines (0 is `BPF_MAP_TYPE_UNSPEC`).
pub(crate) fn check_map_type(map: &MapSpec, legacy: bool) -> Result<(), ParseError> {
    if (1..=HIGHEST_KNOWN_MAP_TYPE).contains(&map.map_type) {
        return Ok(());
    }
    let reason = format!(
        "its type {} is not a map type the kernel defines (1 to {HIGHEST_KNOWN_MAP_TYPE}); the definition is corrupt or from an unknown tool",
        map.map_type
    );
    Err(if legacy {
        ParseError::LegacyMap {
            map: map.name.clone(),
            reason,
        }
    } else {
        ParseError::BtfMap {
            map: map.name.clone(),
            reason,
        }
    })
}
