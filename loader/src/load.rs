//! The load pipeline, one function per step: spec -> kernel objects -> attach.
//!
//! Nothing here prints; the binaries report each step as they call it.

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use elf::btf::ext::{encode_func_info, encode_line_info, FUNC_INFO_REC_SIZE, LINE_INFO_REC_SIZE};
use elf::btf::BtfFeatures;
use elf::reloc::{patch_map_fd, patch_map_value};
use elf::LinkedProgram;
use elf::{
    DataKind, InitialSlot, MapOrigin, MapSpec, Object, Pinning, ProgramSpec, ProgramType,
    RelocTarget, XdpAttach,
};
use sys::abi::*;
use sys::btf::BtfFd;
use sys::map::{map_create, map_info, map_update_elem, MapCreate};
use sys::prog::ProgBtf;
use sys::prog::{prog_load, ProgLoad};
use sys::{MapFd, ProgFd};

use crate::error::LoadError;
use crate::vocab::DEFAULT_PIN_ROOT;

/// Reads and parses an object file.
pub fn read_object(path: &Path) -> Result<Object, LoadError> {
    let bytes = std::fs::read(path).map_err(|error| LoadError::ReadObject {
        path: path.to_path_buf(),
        error,
    })?;
    Object::parse(&bytes).map_err(|error| LoadError::Parse {
        path: path.to_path_buf(),
        error,
    })
}

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

/// The pin path a map asks for under `pin_root`.
pub fn pin_path(spec: &MapSpec, pin_root: &Path) -> Option<PathBuf> {
    match &spec.pinning {
        Pinning::None => None,
        Pinning::ByName => Some(pin_root.join(&spec.name)),
        Pinning::Path(path) => Some(PathBuf::from(path)),
    }
}

/// Directories `prepare_pin_root` created, so a failed run can remove them again.
#[derive(Debug, Default)]
#[must_use]
pub struct CreatedDirs(Vec<PathBuf>);

impl CreatedDirs {
    /// Removes the directories again, deepest first, as long as they are empty.
    pub fn remove_if_empty(self) {
        for directory in self.0.iter().rev() {
            let _ = std::fs::remove_dir(directory);
        }
    }
}

/// Makes sure `pin_root` is a directory on bpffs, mounting bpffs at the default root
/// and creating sub-directories of a bpffs mount when needed.
pub fn prepare_pin_root(pin_root: &Path) -> Result<CreatedDirs, LoadError> {
    let bpffs_error = |reason: String| LoadError::Bpffs {
        path: pin_root.to_path_buf(),
        reason,
    };
    if !pin_root.exists() {
        let parent = pin_root
            .parent()
            .ok_or_else(|| bpffs_error("it has no parent directory".into()))?;
        let mut created = prepare_pin_root(parent)?;
        std::fs::create_dir(pin_root).map_err(|error| {
            let dotted = pin_root
                .file_name()
                .is_some_and(|name| name.to_string_lossy().contains('.'));
            if dotted {
                bpffs_error("bpffs refuses names with a dot; choose a name without one".into())
            } else {
                bpffs_error(format!("cannot create it: {error}"))
            }
        })?;
        created.0.push(pin_root.to_path_buf());
        return Ok(created);
    }
    let on_bpffs =
        sys::bpffs::is_bpffs(pin_root).map_err(|error| bpffs_error(error.to_string()))?;
    if on_bpffs {
        return Ok(CreatedDirs::default());
    }
    if pin_root == Path::new(DEFAULT_PIN_ROOT) {
        crate::lock::with_mount_lock(|| {
            // Another run may have mounted it while this one waited for the lock.
            if sys::bpffs::is_bpffs(pin_root).unwrap_or(false) {
                return Ok(());
            }
            sys::bpffs::mount_bpffs(pin_root)
        })
        .map_err(|error| {
            bpffs_error(format!(
                "it is not bpffs and mounting bpffs there failed: {error}"
            ))
        })?;
        return Ok(CreatedDirs::default());
    }
    Err(bpffs_error(
        "it is not on a bpffs mount; mount bpffs there or pick a directory under /sys/fs/bpf"
            .into(),
    ))
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

/// A name bpffs accepts for a pin: bpffs refuses dots, which global-data map names have.
pub fn pin_name(name: &str) -> String {
    name.replace('.', "_")
}

/// Map flags the loader adds: libbpf 1.x makes global-data arrays mmap-able, and
/// `.rodata` read-only for programs.
fn extra_map_flags(spec: &MapSpec) -> u32 {
    match spec.origin {
        MapOrigin::GlobalData {
            kind: DataKind::Rodata,
        } => BPF_F_RDONLY_PROG | BPF_F_MMAPABLE,
        MapOrigin::GlobalData { .. } => BPF_F_MMAPABLE,
        _ => 0,
    }
}

/// Writes a global-data map's initial value and freezes `.rodata`, so the verifier can
/// treat its contents as constants.
fn initialise_global_data(spec: &MapSpec, fd: &MapFd, kernel_name: &str) -> Result<(), LoadError> {
    let MapOrigin::GlobalData { kind } = spec.origin else {
        return Ok(());
    };
    let update_error = |what: &str, error| LoadError::MapUpdate {
        map: kernel_name.to_string(),
        what: what.to_string(),
        error,
    };
    if kind != DataKind::Bss {
        map_update_elem(
            fd.as_fd(),
            &0u32.to_ne_bytes(),
            &spec.initial_value,
            BPF_ANY,
        )
        .map_err(|error| update_error("write the initial value", error))?;
    }
    if kind == DataKind::Rodata {
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

/// Creates every map of the object, or reuses its pin when one exists and matches.
/// With `btf_fd`, maps that name BTF types get them (so bpftool prints field names).
pub fn create_maps(
    object: &Object,
    object_name: &str,
    pin_root: &Path,
    btf_fd: Option<i32>,
) -> Result<Vec<LiveMap>, LoadError> {
    let mut maps = Vec::with_capacity(object.maps.len());
    for spec in &object.maps {
        let kernel_name = kernel_map_name(spec, object_name);
        let pin = pin_path(spec, pin_root);
        if let Some(path) = &pin {
            if let Some(fd) = reuse_pinned(spec, path)? {
                maps.push(LiveMap {
                    spec: spec.clone(),
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
            map_flags: spec.map_flags | extra_map_flags(spec),
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
        initialise_global_data(spec, &fd, &kernel_name)?;
        maps.push(LiveMap {
            spec: spec.clone(),
            kernel_name,
            fd,
            pin,
            reused: false,
        });
    }
    fill_map_slots(&maps)?;
    Ok(maps)
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

/// `.values = { [slot] = &program }`: puts each loaded program into its slot of a newly
/// created prog array. Returns the (map, slot, program) triples filled.
pub fn fill_program_slots(
    maps: &[LiveMap],
    programs: &[(&str, &ProgFd)],
) -> Result<Vec<(String, u32, String)>, LoadError> {
    let mut filled = Vec::new();
    for map in maps.iter().filter(|map| !map.reused) {
        for (slot, target) in &map.spec.initial_slots {
            let InitialSlot::Program(name) = target else {
                continue;
            };
            let Some((_, fd)) = programs.iter().find(|(loaded, _)| loaded == name) else {
                continue;
            };
            set_tail_call(map, *slot, fd, name)?;
            filled.push((map.kernel_name.clone(), *slot, name.clone()));
        }
    }
    Ok(filled)
}

/// Ties the object's pinned maps that no loaded program uses (the original's
/// `if_redirect`) to the entry program, so they belong to it: `-status` lists them and
/// `-detach` finds their pins from the program's own maps.
pub fn bind_unused_maps(entry: &ProgFd, maps: &[LiveMap], used: &[u32]) {
    for map in maps.iter().filter(|map| map.pin.is_some()) {
        let Ok(info) = map_info(map.fd.as_fd()) else {
            continue;
        };
        if !used.contains(&info.id) {
            let _ = sys::prog::prog_bind_map(entry.as_fd(), map.fd.as_fd());
        }
    }
}

/// Programs that a prog array's static initialisation names.
pub fn statically_referenced_programs(object: &Object) -> Vec<&str> {
    object
        .maps
        .iter()
        .flat_map(|map| map.initial_slots.iter())
        .filter_map(|(_, target)| match target {
            InitialSlot::Program(name) => Some(name.as_str()),
            InitialSlot::Map(_) => None,
        })
        .collect()
}

/// The kernel's program type, attach type and flags for a parsed program type.
fn kernel_program_type(program: &ProgramSpec) -> Result<(u32, u32, u32), LoadError> {
    match program.program_type {
        ProgramType::Xdp { attach, frags } => {
            let expected_attach_type = match attach {
                XdpAttach::Interface => BPF_XDP,
                XdpAttach::Devmap => BPF_XDP_DEVMAP,
                XdpAttach::Cpumap => BPF_XDP_CPUMAP,
            };
            let flags = if frags { BPF_F_XDP_HAS_FRAGS } else { 0 };
            Ok((BPF_PROG_TYPE_XDP, expected_attach_type, flags))
        }
        ProgramType::Unsupported { kind } => Err(LoadError::UnsupportedProgramType {
            program: program.name.clone(),
            section: program.section.clone(),
            kind,
        }),
    }
}

/// Points every map reference of a linked program at its live map.
pub fn relocate(
    program: &ProgramSpec,
    linked: LinkedProgram,
    maps: &[LiveMap],
) -> Result<Vec<[u8; 8]>, LoadError> {
    let mut insns = linked.insns;
    for relocation in &linked.relocations {
        let bad = || LoadError::BadRelocation {
            program: program.name.clone(),
            insn_index: relocation.insn_index,
            symbol: relocation.symbol.clone(),
        };
        let patched = match relocation.target {
            RelocTarget::Map { map_index } => {
                let fd = maps.get(map_index).ok_or_else(bad)?.fd.as_raw_fd();
                patch_map_fd(&mut insns, relocation.insn_index, fd)
            }
            RelocTarget::MapValue { map_index, offset } => {
                let fd = maps.get(map_index).ok_or_else(bad)?.fd.as_raw_fd();
                patch_map_value(&mut insns, relocation.insn_index, fd, offset)
            }
            _ => false,
        };
        if !patched {
            return Err(bad());
        }
    }
    Ok(insns.into_iter().map(|insn| insn.to_bytes()).collect())
}

/// Links each program (pure work, nothing in the kernel yet) so that a feature this loader
/// does not support is reported before anything is created.
pub fn check_linkable<'a>(
    object: &Object,
    programs: impl IntoIterator<Item = &'a ProgramSpec>,
) -> Result<(), LoadError> {
    for program in programs {
        kernel_program_type(program)?;
        object.link(program).map_err(LoadError::Unsupported)?;
    }
    Ok(())
}

/// The object's BTF, fixed up at parse time, loaded with `BPF_BTF_LOAD`: as it is first,
/// and only when the kernel refuses that, sanitised for what the kernel supports (probed
/// then, with a handful of tiny BTF loads). A kernel that takes every kind the object
/// uses would get the same bytes from the sanitiser, so a current kernel is asked once
/// and never probed. `Ok(None)` when the object has no BTF; `Err` when the kernel
/// refused it sanitised too (the caller loads without BTF and says so once).
pub fn load_btf(object: &Object) -> Result<Option<BtfFd>, sys::btf::BtfLoadError> {
    let Some(btf) = &object.btf else {
        return Ok(None);
    };
    if let Ok(fd) = sys::btf::btf_try_load(&btf.to_bytes()) {
        return Ok(Some(fd));
    }
    let kernel = sys::probe::kernel_btf_features();
    let features = BtfFeatures {
        func: kernel.func,
        func_global: kernel.func_global,
        datasec: kernel.datasec,
        float: kernel.float,
        decl_tag: kernel.decl_tag,
        type_tag: kernel.type_tag,
        enum64: kernel.enum64,
        qmark_datasec: kernel.qmark_datasec,
    };
    let mut btf = btf.clone();
    btf.sanitize(&features);
    sys::btf::btf_load(&btf.to_bytes()).map(Some)
}

/// Relocates and loads one program; with `btf`, it carries func_info and line_info so
/// verifier logs and `bpftool prog dump xlated` show source lines.
pub fn load_program(
    object: &Object,
    program: &ProgramSpec,
    maps: &[LiveMap],
    btf: Option<&BtfFd>,
) -> Result<ProgFd, LoadError> {
    let (prog_type, expected_attach_type, prog_flags) = kernel_program_type(program)?;
    let linked = object.link(program).map_err(LoadError::Unsupported)?;
    let func_info = encode_func_info(&linked.func_info);
    let line_info = encode_line_info(&linked.line_info);
    let insns = relocate(program, linked, maps)?;
    let prog_btf = btf.map(|btf| ProgBtf {
        btf_fd: btf.as_raw_fd(),
        func_info_rec_size: FUNC_INFO_REC_SIZE,
        func_info: &func_info,
        line_info_rec_size: LINE_INFO_REC_SIZE,
        line_info: &line_info,
    });
    let fd = prog_load(&ProgLoad {
        name: &program.name,
        prog_type,
        expected_attach_type,
        prog_flags,
        insns: &insns,
        license: object.license.as_deref().unwrap_or(""),
        kern_version: object.kernel_version.unwrap_or(0),
        btf: prog_btf,
    })
    .map_err(LoadError::ProgLoad)?;
    // libbpf binds the object's `.rodata` to every program it loads, used or not, so the
    // constants (and bpftool's view of them as program metadata) live as long as any
    // program of the object. Kernels before 5.10 lack the command; that is no error.
    if let Some(rodata) = maps.iter().find(|map| map.spec.name == ".rodata") {
        let _ = sys::prog::prog_bind_map(fd.as_fd(), rodata.fd.as_fd());
    }
    Ok(fd)
}

/// The programs that go into the prog array by the naming convention: `<entry>_<N>` -> slot N,
/// in slot order.
pub fn tail_call_programs<'a>(object: &'a Object, entry: &str) -> Vec<(u32, &'a ProgramSpec)> {
    let prefix = format!("{entry}_");
    let mut found: Vec<(u32, &ProgramSpec)> = object
        .programs
        .iter()
        .filter_map(|program| {
            let suffix = program.name.strip_prefix(&prefix)?;
            // Only plain decimal numbers: `xdp_skeleton_1`, not `xdp_skeleton_x` or `_+1`.
            if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((suffix.parse().ok()?, program))
        })
        .collect();
    found.sort_by_key(|(slot, _)| *slot);
    found
}

/// The prog array the tail calls go into: the one the entry program uses, or the
/// object's only one.
pub fn find_prog_array(object: &Object, entry: &ProgramSpec) -> Result<usize, LoadError> {
    let prog_arrays: Vec<usize> = object
        .maps
        .iter()
        .enumerate()
        .filter(|(_, map)| map.map_type == BPF_MAP_TYPE_PROG_ARRAY)
        .map(|(index, _)| index)
        .collect();
    let used_by_entry: Vec<usize> = prog_arrays
        .iter()
        .copied()
        .filter(|index| {
            entry
                .relocations
                .iter()
                .any(|relocation| relocation.target == RelocTarget::Map { map_index: *index })
        })
        .collect();
    match (used_by_entry.as_slice(), prog_arrays.as_slice()) {
        ([only], _) | ([], [only]) => Ok(*only),
        _ => Err(LoadError::NoProgArray {
            entry: entry.name.clone(),
            found: prog_arrays.len(),
        }),
    }
}

/// The prog array (index into `Object::maps`) and the programs with their slots.
pub type TailCallPlan<'a> = (usize, Vec<(u32, &'a ProgramSpec)>);

/// The tail-call convention for `entry`: the prog array and the programs `<entry>_<N>`
/// with their slots, checked to fit the array. `None` when the object has no such programs.
pub fn tail_call_plan<'a>(
    object: &'a Object,
    entry: &ProgramSpec,
) -> Result<Option<TailCallPlan<'a>>, LoadError> {
    let programs = tail_call_programs(object, &entry.name);
    if programs.is_empty() {
        return Ok(None);
    }
    let index = find_prog_array(object, entry)?;
    let prog_array = &object.maps[index];
    if let Some((slot, program)) = programs
        .iter()
        .find(|(slot, _)| *slot >= prog_array.max_entries)
    {
        return Err(LoadError::TailCallSlotOutOfRange {
            program: program.name.clone(),
            slot: *slot,
            map: prog_array.name.clone(),
            max_entries: prog_array.max_entries,
        });
    }
    Ok(Some((index, programs)))
}

/// The programs loading `entry` brings: itself, its `<entry>_<N>` tail calls and the
/// programs a prog array is statically initialised with. `check_linkable` takes them
/// before anything is created.
pub fn chain_programs<'a>(object: &'a Object, entry: &'a ProgramSpec) -> Vec<&'a ProgramSpec> {
    let mut programs = vec![entry];
    programs.extend(
        tail_call_programs(object, &entry.name)
            .into_iter()
            .map(|(_, program)| program),
    );
    programs.extend(
        statically_referenced_programs(object)
            .into_iter()
            .filter_map(|name| object.program(name)),
    );
    programs
}

/// A step of `load_chain`, for callers that say what they do.
pub enum ChainStep<'a> {
    /// The tail-call programs come next.
    TailCalls,
    /// This program is about to be loaded.
    Program(&'a str),
}

/// The programs of a chain, loaded, nothing wired yet.
pub struct LoadedChain<'a> {
    pub entry: ProgFd,
    /// `(slot, name, fd)` of the `<entry>_<N>` programs.
    pub tail_calls: Vec<(u32, &'a str, ProgFd)>,
    /// Programs a prog array's static initialisation names, not already loaded above.
    pub static_slots: Vec<(&'a str, ProgFd)>,
}

impl<'a> LoadedChain<'a> {
    /// Every program, entry first, by name.
    pub fn all(&self, entry: &'a str) -> Vec<(&'a str, &ProgFd)> {
        let mut all = vec![(entry, &self.entry)];
        all.extend(self.tail_calls.iter().map(|(_, name, fd)| (*name, fd)));
        all.extend(self.static_slots.iter().map(|(name, fd)| (*name, fd)));
        all
    }
}

/// Loads the tail-call programs of `plan`, then `entry`, then the programs prog arrays
/// are initialised with (each once), telling `progress` before each.
pub fn load_chain<'a>(
    object: &'a Object,
    entry: &'a ProgramSpec,
    plan: Option<&TailCallPlan<'a>>,
    maps: &[LiveMap],
    btf: Option<&BtfFd>,
    mut progress: impl FnMut(ChainStep<'a>),
) -> Result<LoadedChain<'a>, LoadError> {
    let mut tail_calls = Vec::new();
    if let Some((_, programs)) = plan {
        progress(ChainStep::TailCalls);
        for (slot, program) in programs {
            progress(ChainStep::Program(&program.name));
            let fd = load_program(object, program, maps, btf)?;
            tail_calls.push((*slot, program.name.as_str(), fd));
        }
    }
    progress(ChainStep::Program(&entry.name));
    let entry_fd = load_program(object, entry, maps, btf)?;
    let mut static_slots = Vec::new();
    for name in statically_referenced_programs(object) {
        let already = name == entry.name
            || tail_calls.iter().any(|(_, loaded, _)| *loaded == name)
            || static_slots.iter().any(|(loaded, _)| *loaded == name);
        if let (false, Some(program)) = (already, object.program(name)) {
            progress(ChainStep::Program(&program.name));
            static_slots.push((
                program.name.as_str(),
                load_program(object, program, maps, btf)?,
            ));
        }
    }
    Ok(LoadedChain {
        entry: entry_fd,
        tail_calls,
        static_slots,
    })
}

/// Puts `program` into `slot` of the prog array.
pub fn set_tail_call(
    prog_array: &LiveMap,
    slot: u32,
    program: &ProgFd,
    program_name: &str,
) -> Result<(), LoadError> {
    let fd = program.as_raw_fd() as u32;
    map_update_elem(
        prog_array.fd.as_fd(),
        &slot.to_ne_bytes(),
        &fd.to_ne_bytes(),
        BPF_ANY,
    )
    .map_err(|error| LoadError::MapUpdate {
        map: prog_array.spec.name.clone(),
        what: format!("put program {program_name} into slot {slot}"),
        error,
    })
}

/// Empties the slots of a reused prog array that this load does not fill, so programs
/// from an earlier load do not linger in the chain.
pub fn clear_other_slots(prog_array: &LiveMap, filled: &[u32]) -> Result<Vec<u32>, LoadError> {
    let mut cleared = Vec::new();
    for slot in (0..prog_array.spec.max_entries).filter(|slot| !filled.contains(slot)) {
        let deleted = sys::map::map_delete_elem(prog_array.fd.as_fd(), &slot.to_ne_bytes())
            .map_err(|error| LoadError::MapUpdate {
                map: prog_array.spec.name.clone(),
                what: format!("empty slot {slot}"),
                error,
            })?;
        if deleted {
            cleared.push(slot);
        }
    }
    Ok(cleared)
}

/// Pins every map that asks for a pin and is not pinned yet. On failure, removes the
/// pins made here and returns the error.
pub fn pin_maps(maps: &[LiveMap]) -> Result<Vec<PathBuf>, LoadError> {
    let mut pinned = Vec::new();
    for map in maps.iter().filter(|map| !map.reused) {
        let Some(path) = &map.pin else { continue };
        if let Err(error) = sys::obj::obj_pin(map.fd.as_fd(), path) {
            unpin(&pinned);
            return Err(LoadError::Pin {
                map: map.spec.name.clone(),
                path: path.clone(),
                error,
            });
        }
        pinned.push(path.clone());
    }
    Ok(pinned)
}

/// Pins any bpf object at `path`.
pub fn pin_object(
    fd: std::os::fd::BorrowedFd<'_>,
    path: &Path,
    name: &str,
) -> Result<(), LoadError> {
    sys::obj::obj_pin(fd, path).map_err(|error| LoadError::Pin {
        map: name.to_string(),
        path: path.to_path_buf(),
        error,
    })
}

/// Removes pins, ignoring ones already gone.
pub fn unpin(paths: &[PathBuf]) {
    for path in paths {
        let _ = std::fs::remove_file(path);
    }
}

/// Looks up an interface's index.
pub fn interface_index(name: &str) -> Result<u32, LoadError> {
    sys::iface::ifindex(name).map_err(|error| LoadError::Interface {
        name: name.to_string(),
        error,
    })
}

/// What happened when writing an interface into the redirect devmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectEntry {
    Inserted,
    /// A plain devmap is indexed by slot; this ifindex is beyond its size.
    DoesNotFit {
        max_entries: u32,
    },
}

/// `if_redirect[ifindex] = ifindex`, as the original did, so programs can redirect to
/// every interface they are attached to.
pub fn add_redirect(devmap: &LiveMap, ifindex: u32) -> Result<RedirectEntry, LoadError> {
    if devmap.spec.map_type == BPF_MAP_TYPE_DEVMAP && ifindex >= devmap.spec.max_entries {
        return Ok(RedirectEntry::DoesNotFit {
            max_entries: devmap.spec.max_entries,
        });
    }
    map_update_elem(
        devmap.fd.as_fd(),
        &ifindex.to_ne_bytes(),
        &ifindex.to_ne_bytes(),
        BPF_ANY,
    )
    .map_err(|error| LoadError::MapUpdate {
        map: devmap.spec.name.clone(),
        what: format!("insert ifindex {ifindex}"),
        error,
    })?;
    Ok(RedirectEntry::Inserted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use elf::MapOrigin;

    fn spec(name: &str, pinning: Pinning) -> MapSpec {
        MapSpec {
            name: name.into(),
            map_type: BPF_MAP_TYPE_PERCPU_ARRAY,
            key_size: 4,
            value_size: 16,
            max_entries: 5,
            map_flags: 0,
            numa_node: None,
            pinning,
            btf_key_type_id: None,
            btf_value_type_id: None,
            origin: MapOrigin::BtfMaps,
            section_index: 1,
            section_offset: 0,
            initial_value: Vec::new(),
            def_size: 0,
            inner: None,
            values_offset: None,
            initial_slots: Vec::new(),
            map_extra: 0,
        }
    }

    #[test]
    fn pin_paths_follow_the_pinning_kind() {
        let root = Path::new("/sys/fs/bpf/test");
        assert_eq!(pin_path(&spec("a", Pinning::None), root), None);
        assert_eq!(
            pin_path(&spec("stats_map", Pinning::ByName), root),
            Some(PathBuf::from("/sys/fs/bpf/test/stats_map"))
        );
        assert_eq!(
            pin_path(&spec("x", Pinning::Path("/sys/fs/bpf/legacy".into())), root),
            Some(PathBuf::from("/sys/fs/bpf/legacy"))
        );
    }

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
}
