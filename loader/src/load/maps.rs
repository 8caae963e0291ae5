//! Maps: each map of the object created (with its BTF types, a map of maps with its
//! inner-map template, global data written and `.rodata` frozen), or reused from its pin
//! when the pinned map matches; then the maps of maps filled.

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use elf::{DataKind, InitialSlot, MapOrigin, MapSpec, Object};
use sys::abi::*;
use sys::btf::BtfFd;
use sys::map::{map_create, map_info, map_update_elem, MapCreate};
use sys::MapFd;

use crate::error::LoadError;
use crate::load::btf::load_btf_or_warn;
use crate::load::kconfig::{kconfig_value, RunningKernel};
use crate::load::pins::pin_path;
use crate::timings;

/// A map in the kernel, created by us or reused from its pin.
#[derive(Debug)]
pub struct LiveMap {
    pub spec: MapSpec,
    /// The name the kernel knows it by (global-data maps get libbpf's prefixed names).
    pub kernel_name: String,
    pub fd: MapFd,
    /// Where the map is (or will be) pinned.
    pub pin: Option<PathBuf>,
    /// The map was already pinned and is shared with an earlier load.
    pub reused: bool,
}

/// Why a pinned map cannot stand in for `spec`, if it cannot.
fn pin_differences(spec: &MapSpec, info: &sys::MapInfo) -> Option<String> {
    let mut differences = Vec::new();
    let mut compare = |what: &str, pinned: String, wanted: String| {
        if pinned != wanted {
            differences.push(format!("{what} {pinned} there, {wanted} here"));
        }
    };
    compare(
        "type",
        crate::vocab::map_type_name(info.map_type),
        crate::vocab::map_type_name(spec.map_type),
    );
    compare(
        "key size",
        info.key_size.to_string(),
        spec.key_size.to_string(),
    );
    compare(
        "value size",
        info.value_size.to_string(),
        spec.value_size.to_string(),
    );
    compare(
        "max_entries",
        info.max_entries.to_string(),
        spec.max_entries.to_string(),
    );
    // The kernel adds BPF_F_RDONLY_PROG to every devmap it creates, so a devmap we
    // created ourselves reports it; it is not a difference.
    let kernel_added = match spec.map_type {
        BPF_MAP_TYPE_DEVMAP | BPF_MAP_TYPE_DEVMAP_HASH => BPF_F_RDONLY_PROG,
        _ => 0,
    };
    compare(
        "flags",
        format!("{:#x}", info.map_flags & !kernel_added),
        format!("{:#x}", spec.map_flags & !kernel_added),
    );
    (!differences.is_empty()).then(|| differences.join(", "))
}

/// Opens the map pinned at `path` if there is one and checks that it matches `spec`.
fn reuse_pinned(spec: &MapSpec, path: &Path) -> Result<Option<MapFd>, LoadError> {
    let fd = match sys::obj::map_from_pin(path) {
        Ok(fd) => fd,
        Err(sys::obj::PinnedMapError::Open(error)) if error.errno == nix::errno::Errno::ENOENT => {
            return Ok(None)
        }
        Err(error) => {
            return Err(LoadError::PinnedMapOpen {
                map: spec.name.clone(),
                path: path.to_path_buf(),
                reason: error.to_string(),
            })
        }
    };
    let info = map_info(fd.as_fd()).map_err(|error| LoadError::PinnedMapOpen {
        map: spec.name.clone(),
        path: path.to_path_buf(),
        reason: error.to_string(),
    })?;
    if let Some(differences) = pin_differences(spec, &info) {
        return Err(LoadError::PinConflict {
            map: spec.name.clone(),
            path: path.to_path_buf(),
            differences,
        });
    }
    Ok(Some(fd))
}

/// The object's name as libbpf derives it: the file name up to its first dot.
pub fn object_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.split('.').next().unwrap_or_default().to_string()
}

/// The name the kernel gets for a map. Global-data maps are named as libbpf names them:
/// up to 8 characters of the object name and the section name (`xdp_debu.rodata`), or
/// the section name alone for `.rodata.str1.1`-style names; characters the kernel
/// refuses become `_`.
pub fn kernel_map_name(spec: &MapSpec, object_name: &str) -> String {
    if !matches!(spec.origin, MapOrigin::GlobalData { .. }) {
        return spec.name.clone();
    }
    const MAX_NAME: usize = BPF_OBJ_NAME_LEN - 1;
    const SUFFIX_RESERVED: usize = 7;
    let suffix_len = spec.name.len().clamp(SUFFIX_RESERVED, MAX_NAME);
    let custom = spec.name.get(1..).is_some_and(|rest| rest.contains('.'));
    let prefix_len = if custom {
        0
    } else {
        (MAX_NAME - suffix_len).min(object_name.len())
    };
    let name: String = object_name
        .chars()
        .take(prefix_len)
        .chain(spec.name.chars().take(suffix_len))
        .take(MAX_NAME)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    name
}

/// Map flags the loader adds: libbpf 1.x makes global-data arrays mmap-able, and
/// `.rodata` read-only for programs.
fn extra_map_flags(spec: &MapSpec) -> u32 {
    match spec.origin {
        MapOrigin::GlobalData {
            kind: DataKind::Rodata | DataKind::Kconfig,
        } => BPF_F_RDONLY_PROG | BPF_F_MMAPABLE,
        MapOrigin::GlobalData { .. } => BPF_F_MMAPABLE,
        _ => 0,
    }
}

/// Writes a global-data map's initial value and freezes `.rodata`, so the verifier can
/// treat its contents as constants.
fn initialise_global_data(
    spec: &MapSpec,
    fd: &MapFd,
    kernel_name: &str,
    kconfig: Option<&[u8]>,
) -> Result<(), LoadError> {
    let MapOrigin::GlobalData { kind } = spec.origin else {
        return Ok(());
    };
    let update_error = |what: &str, error| LoadError::MapUpdate {
        map: kernel_name.to_string(),
        what: what.to_string(),
        error,
    };
    let initial = match kind {
        DataKind::Bss => None,
        DataKind::Kconfig => kconfig,
        DataKind::Data | DataKind::Rodata => Some(&spec.initial_value[..]),
    };
    if let Some(initial) = initial {
        map_update_elem(fd.as_fd(), &0u32.to_ne_bytes(), initial, BPF_ANY)
            .map_err(|error| update_error("write the initial value", error))?;
    }
    if matches!(kind, DataKind::Rodata | DataKind::Kconfig) {
        sys::map::map_freeze(fd.as_fd()).map_err(|error| update_error("freeze", error))?;
    }
    Ok(())
}

/// Map types whose values are kernel objects (fds, sockets, devices): the kernel refuses
/// BTF key/value types for them, and a refused create costs a `synchronize_rcu()`
/// (tens of milliseconds). libbpf leaves BTF off for the same list.
fn map_type_takes_btf(map_type: u32) -> bool {
    !matches!(
        map_type,
        BPF_MAP_TYPE_PERF_EVENT_ARRAY
            | BPF_MAP_TYPE_CGROUP_ARRAY
            | BPF_MAP_TYPE_STACK_TRACE
            | BPF_MAP_TYPE_ARRAY_OF_MAPS
            | BPF_MAP_TYPE_HASH_OF_MAPS
            | BPF_MAP_TYPE_DEVMAP
            | BPF_MAP_TYPE_DEVMAP_HASH
            | BPF_MAP_TYPE_CPUMAP
            | BPF_MAP_TYPE_XSKMAP
            | BPF_MAP_TYPE_SOCKMAP
            | BPF_MAP_TYPE_SOCKHASH
            | BPF_MAP_TYPE_QUEUE
            | BPF_MAP_TYPE_STACK
    )
}

/// The max_entries libbpf gives a map before creating it (`map_set_def_max_entries`,
/// also for an inner map's template): a perf event array that leaves it 0 gets one slot
/// per possible CPU, which is what `bpf_perf_event_output(..., BPF_F_CURRENT_CPU, ...)`
/// indexes; the kernel refuses 0. `cpus` is only asked when it is needed.
fn libbpf_max_entries(
    map_type: u32,
    max_entries: u32,
    cpus: impl FnOnce() -> std::io::Result<usize>,
) -> std::io::Result<u32> {
    if map_type != BPF_MAP_TYPE_PERF_EVENT_ARRAY || max_entries != 0 {
        return Ok(max_entries);
    }
    let cpus = cpus()?;
    u32::try_from(cpus).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{cpus} possible CPUs do not fit in max_entries"),
        )
    })
}

/// A ring buffer's max_entries as libbpf's `adjust_ringbuf_sz` gives it: the kernel wants
/// a power-of-two multiple of the page size, and libbpf rounds a size that is not one up
/// to the smallest such multiple above it, so objects written for libbpf state sizes like
/// `256 * 1024` or even `(1 << 20) + 1` and still load. 0 stays 0 (the kernel's error is the
/// clearer one), and a size no such multiple fits in u32 above is left for the kernel to
/// refuse, as libbpf leaves it.
fn ringbuf_max_entries(max_entries: u32, page_size: u32) -> u32 {
    if max_entries == 0 || page_size == 0 {
        return max_entries;
    }
    if max_entries.is_multiple_of(page_size) && (max_entries / page_size).is_power_of_two() {
        return max_entries;
    }
    let mut size = page_size;
    while size <= max_entries {
        match size.checked_mul(2) {
            Some(doubled) => size = doubled,
            None => return max_entries,
        }
    }
    size
}

/// `spec` with libbpf's sizes (`libbpf_max_entries`, `ringbuf_max_entries`) filled in for
/// it and its inner map.
fn with_libbpf_sizes(spec: &MapSpec, kernel_name: &str) -> Result<MapSpec, LoadError> {
    let sized = |map: &MapSpec| {
        libbpf_max_entries(map.map_type, map.max_entries, sys::cpus::possible_cpus).map_err(
            |error| LoadError::PossibleCpus {
                map: kernel_name.to_string(),
                error,
            },
        )
    };
    // Without a page size (never on Linux) the size goes to the kernel as the object gives it.
    let ringbuf_sized = |map: &MapSpec| match (map.map_type, sys::process::page_size()) {
        (BPF_MAP_TYPE_RINGBUF | BPF_MAP_TYPE_USER_RINGBUF, Some(page_size)) => {
            ringbuf_max_entries(map.max_entries, page_size)
        }
        _ => map.max_entries,
    };
    let mut spec = spec.clone();
    spec.max_entries = sized(&spec)?;
    spec.max_entries = ringbuf_sized(&spec);
    if let Some(inner) = spec.inner.as_mut() {
        inner.max_entries = sized(inner)?;
        inner.max_entries = ringbuf_sized(inner);
    }
    Ok(spec)
}

/// Creates every map of the object, or reuses its pin when one exists and matches.
/// With `btf_fd`, maps that name BTF types get them (so bpftool prints field names).
pub fn create_maps(
    object: &Object,
    object_name: &str,
    pin_root: &Path,
    btf_fd: Option<i32>,
) -> Result<Vec<LiveMap>, LoadError> {
    // The externs' values first: one the kernel lacks is refused before any map exists.
    let kconfig = match object.maps.iter().find(|spec| {
        spec.origin
            == MapOrigin::GlobalData {
                kind: DataKind::Kconfig,
            }
    }) {
        Some(spec) => Some(
            kconfig_value(&object.kconfig, spec.initial_value.len(), &RunningKernel).map_err(
                |error| LoadError::Kconfig {
                    name: error.name,
                    reason: error.reason,
                },
            )?,
        ),
        None => None,
    };
    let mut maps = Vec::with_capacity(object.maps.len());
    for spec in &object.maps {
        let kernel_name = kernel_map_name(spec, object_name);
        // Sized first, as libbpf does: a reused pin must match the sized map.
        let spec = with_libbpf_sizes(spec, &kernel_name)?;
        let pin = pin_path(&spec, pin_root);
        if let Some(path) = &pin {
            if let Some(fd) = reuse_pinned(&spec, path)? {
                maps.push(LiveMap {
                    spec,
                    kernel_name,
                    fd,
                    pin,
                    reused: true,
                });
                continue;
            }
        }
        let btf = btf_fd
            .filter(|_| map_type_takes_btf(spec.map_type))
            .and_then(|btf_fd| {
                spec.btf_value_type_id
                    .map(|value_type_id| sys::map::MapBtf {
                        btf_fd,
                        key_type_id: spec.btf_key_type_id.unwrap_or(0),
                        value_type_id,
                    })
            });
        // A map of maps is created with a template of the maps it will hold.
        let inner_template = match &spec.inner {
            Some(inner) => Some(
                map_create(&MapCreate {
                    name: &kernel_map_name(inner, object_name),
                    map_type: inner.map_type,
                    key_size: inner.key_size,
                    value_size: inner.value_size,
                    max_entries: inner.max_entries,
                    map_flags: inner.map_flags,
                    numa_node: inner.numa_node,
                    btf: None,
                    inner_map_fd: None,
                    map_extra: inner.map_extra,
                })
                .map_err(|error| LoadError::MapCreate {
                    map: format!("{} (the template of its inner maps)", kernel_name),
                    error,
                })?,
            ),
            None => None,
        };
        let mut request = MapCreate {
            name: &kernel_name,
            map_type: spec.map_type,
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            map_flags: spec.map_flags | extra_map_flags(&spec),
            numa_node: spec.numa_node,
            btf,
            inner_map_fd: inner_template.as_ref().map(|fd| fd.as_raw_fd()),
            map_extra: spec.map_extra,
        };
        // Some map types (prog arrays, map-in-map) refuse BTF for their values; libbpf
        // retries without it, and so do we.
        let created = map_create(&request).or_else(|error| {
            if request.btf.take().is_some() {
                map_create(&request)
            } else {
                Err(error)
            }
        });
        let fd = created.map_err(|error| LoadError::MapCreate {
            map: kernel_name.clone(),
            error,
        })?;
        initialise_global_data(&spec, &fd, &kernel_name, kconfig.as_deref())?;
        maps.push(LiveMap {
            spec,
            kernel_name,
            fd,
            pin,
            reused: false,
        });
    }
    fill_map_slots(&maps)?;
    Ok(maps)
}

/// The object's BTF (a refusal told to `say`) and then its maps, in the kernel: what
/// every flow that loads an object starts with.
pub fn btf_and_maps(
    object: &Object,
    object_name: &str,
    pin_root: &Path,
    say: &mut dyn FnMut(String),
) -> Result<(Option<BtfFd>, Vec<LiveMap>), LoadError> {
    timings::phase("BTF");
    let btf = load_btf_or_warn(object, say);
    timings::phase("maps");
    let maps = create_maps(
        object,
        object_name,
        pin_root,
        btf.as_ref().map(|fd| fd.as_raw_fd()),
    )?;
    Ok((btf, maps))
}

/// `.values = { [slot] = &other_map }`: puts each named map into its slot of a newly
/// created map of maps.
fn fill_map_slots(maps: &[LiveMap]) -> Result<(), LoadError> {
    for outer in maps.iter().filter(|map| !map.reused) {
        for (slot, target) in &outer.spec.initial_slots {
            let InitialSlot::Map(name) = target else {
                continue;
            };
            let inner = maps
                .iter()
                .find(|map| &map.spec.name == name)
                .ok_or_else(|| {
                    LoadError::Usage(format!(
                "map {} initialises slot {slot} with map {name}, which the object does not define",
                outer.kernel_name
            ))
                })?;
            let fd = inner.fd.as_raw_fd() as u32;
            map_update_elem(
                outer.fd.as_fd(),
                &slot.to_ne_bytes(),
                &fd.to_ne_bytes(),
                BPF_ANY,
            )
            .map_err(|error| LoadError::MapUpdate {
                map: outer.kernel_name.clone(),
                what: format!("put map {name} into slot {slot}"),
                error,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::test_specs::spec;
    use elf::Pinning;

    #[test]
    fn pinned_map_must_match_type_sizes_and_flags() {
        let wanted = spec("stats_map", Pinning::ByName);
        let mut info = sys::MapInfo {
            id: 1,
            name: "stats_map".into(),
            map_type: BPF_MAP_TYPE_PERCPU_ARRAY,
            key_size: 4,
            value_size: 16,
            max_entries: 5,
            map_flags: 0,
            btf_id: 0,
        };
        assert_eq!(pin_differences(&wanted, &info), None);
        let mut devmap = wanted.clone();
        devmap.map_type = BPF_MAP_TYPE_DEVMAP;
        let mut devmap_info = info.clone();
        devmap_info.map_type = BPF_MAP_TYPE_DEVMAP;
        devmap_info.map_flags = BPF_F_RDONLY_PROG;
        assert_eq!(pin_differences(&devmap, &devmap_info), None);
        info.map_flags = BPF_F_RDONLY_PROG;
        assert!(pin_differences(&wanted, &info).is_some());
        info.map_flags = 0;
        info.value_size = 8;
        info.map_type = BPF_MAP_TYPE_ARRAY;
        assert_eq!(
            pin_differences(&wanted, &info).as_deref(),
            Some("type Array there, Per-CPU array here, value size 8 there, 16 here")
        );
    }

    #[test]
    fn a_perf_event_array_without_max_entries_gets_one_slot_per_possible_cpu() {
        let unasked = || -> std::io::Result<usize> { panic!("possible CPUs read needlessly") };
        let cpus = || Ok(6);
        assert_eq!(
            libbpf_max_entries(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 0, cpus).ok(),
            Some(6)
        );
        // A size the object gives, and other map types, are left as they are.
        assert_eq!(
            libbpf_max_entries(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 128, unasked).ok(),
            Some(128)
        );
        assert_eq!(
            libbpf_max_entries(BPF_MAP_TYPE_ARRAY, 0, unasked).ok(),
            Some(0)
        );
        let unreadable = || Err(std::io::Error::other("no /sys"));
        assert!(libbpf_max_entries(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 0, unreadable).is_err());
    }

    #[test]
    fn a_ring_buffer_is_rounded_up_to_a_power_of_two_multiple_of_the_page_size() {
        assert_eq!(ringbuf_max_entries(256 * 1024, 4096), 256 * 1024);
        assert_eq!(ringbuf_max_entries(4096, 4096), 4096);
        assert_eq!(ringbuf_max_entries(1, 4096), 4096);
        assert_eq!(ringbuf_max_entries(3 * 4096, 4096), 4 * 4096);
        assert_eq!(ringbuf_max_entries((1 << 20) + 1, 4096), 1 << 21);
        assert_eq!(ringbuf_max_entries(0, 4096), 0);
        // Nothing above fits in u32: left for the kernel to refuse.
        assert_eq!(ringbuf_max_entries(u32::MAX - 1, 4096), u32::MAX - 1);
    }
}
