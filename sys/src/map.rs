//! Maps: create, look up, update, delete, iterate, describe.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::abi::*;
use crate::bpf::{
    bpf, bpf_fd, object_name, ptr, GetFdByIdAttr, InfoAttr, MapCreateAttr, MapElemAttr,
    MapFreezeAttr,
};
use crate::error::SysError;

/// A map file descriptor.
#[derive(Debug)]
pub struct MapFd(OwnedFd);

impl MapFd {
    /// Wraps a descriptor known to refer to a map.
    pub(crate) fn from_owned(fd: OwnedFd) -> MapFd {
        MapFd(fd)
    }

    pub fn into_owned(self) -> OwnedFd {
        self.0
    }
}

impl AsFd for MapFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for MapFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

/// What `BPF_MAP_CREATE` needs.
#[derive(Debug, Clone)]
pub struct MapCreate<'a> {
    pub name: &'a str,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub numa_node: Option<u32>,
    /// BTF describing the key and value, and their type ids in it.
    pub btf: Option<MapBtf>,
    /// For maps of maps: a map shaped like the ones it will hold.
    pub inner_map_fd: Option<i32>,
    /// `map_extra`: bloom filter hash count, arena start address.
    pub map_extra: u64,
}

/// The BTF of a map's key and value.
#[derive(Debug, Clone, Copy)]
pub struct MapBtf {
    pub btf_fd: i32,
    pub key_type_id: u32,
    pub value_type_id: u32,
}

/// Creates a map.
pub fn map_create(spec: &MapCreate<'_>) -> Result<MapFd, SysError> {
    let mut map_flags = spec.map_flags;
    if spec.numa_node.is_some() {
        map_flags |= BPF_F_NUMA_NODE;
    }
    let mut attr = MapCreateAttr {
        map_type: spec.map_type,
        key_size: spec.key_size,
        value_size: spec.value_size,
        max_entries: spec.max_entries,
        map_flags,
        numa_node: spec.numa_node.unwrap_or(0),
        map_name: object_name(spec.name),
        ..Default::default()
    };
    attr.inner_map_fd = spec.inner_map_fd.unwrap_or(0) as u32;
    attr.map_extra = spec.map_extra;
    if let Some(btf) = spec.btf {
        attr.btf_fd = btf.btf_fd as u32;
        attr.btf_key_type_id = btf.key_type_id;
        attr.btf_value_type_id = btf.value_type_id;
    }
    bpf_fd(BPF_MAP_CREATE, &mut attr)
        .map(MapFd)
        .map_err(|error| SysError::new("BPF_MAP_CREATE", format!("map {}", spec.name), error))
}

fn elem_attr(map: BorrowedFd<'_>, key: *const u8, value: u64, flags: u64) -> MapElemAttr {
    MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: ptr(key),
        value,
        flags,
        ..Default::default()
    }
}

/// Reads the value at `key` into `value` (for per-CPU maps: one slot per possible CPU,
/// each rounded up to 8 bytes). Returns `false` when the key is absent.
pub fn map_lookup_elem(
    map: BorrowedFd<'_>,
    key: &[u8],
    value: &mut [u8],
) -> Result<bool, SysError> {
    let mut attr = elem_attr(map, key.as_ptr(), ptr(value.as_mut_ptr()), 0);
    match bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(error) if error.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(error) => Err(SysError::new("BPF_MAP_LOOKUP_ELEM", "map element", error)),
    }
}

/// Writes `value` at `key`; `flags` is `BPF_ANY`, `BPF_NOEXIST` or `BPF_EXIST`.
pub fn map_update_elem(
    map: BorrowedFd<'_>,
    key: &[u8],
    value: &[u8],
    flags: u64,
) -> Result<(), SysError> {
    let mut attr = elem_attr(map, key.as_ptr(), ptr(value.as_ptr()), flags);
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr)
        .map(drop)
        .map_err(|error| SysError::new("BPF_MAP_UPDATE_ELEM", "map element", error))
}

/// Deletes `key`; returns `false` when it was absent.
pub fn map_delete_elem(map: BorrowedFd<'_>, key: &[u8]) -> Result<bool, SysError> {
    let mut attr = elem_attr(map, key.as_ptr(), 0, 0);
    match bpf(BPF_MAP_DELETE_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(error) if error.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(error) => Err(SysError::new("BPF_MAP_DELETE_ELEM", "map element", error)),
    }
}

/// Writes the key after `key` (the first key when `None`) into `next_key`.
/// Returns `false` after the last key.
pub fn map_get_next_key(
    map: BorrowedFd<'_>,
    key: Option<&[u8]>,
    next_key: &mut [u8],
) -> Result<bool, SysError> {
    let key_ptr = key.map_or(std::ptr::null(), |key| key.as_ptr());
    let mut attr = elem_attr(map, key_ptr, ptr(next_key.as_mut_ptr()), 0);
    match bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
        Ok(_) => Ok(true),
        Err(error) if error.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(error) => Err(SysError::new("BPF_MAP_GET_NEXT_KEY", "map", error)),
    }
}

/// Makes the map read-only for user space from now on (`BPF_MAP_FREEZE`); the verifier
/// then treats a read-only-for-programs map's contents as constants.
pub fn map_freeze(map: BorrowedFd<'_>) -> Result<(), SysError> {
    let mut attr = MapFreezeAttr {
        map_fd: map.as_raw_fd() as u32,
    };
    bpf(BPF_MAP_FREEZE, &mut attr)
        .map(drop)
        .map_err(|error| SysError::new("BPF_MAP_FREEZE", "map", error))
}

/// `struct bpf_map_info`, up to the fields this project reads.
#[repr(C)]
#[derive(Default)]
struct BpfMapInfo {
    map_type: u32,
    id: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    name: [u8; BPF_OBJ_NAME_LEN],
    ifindex: u32,
    btf_vmlinux_value_type_id: u32,
    netns_dev: u64,
    netns_ino: u64,
    btf_id: u32,
    btf_key_type_id: u32,
    btf_value_type_id: u32,
    btf_vmlinux_id: u32,
    map_extra: u64,
}

/// What the kernel says about a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapInfo {
    pub id: u32,
    pub name: String,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub btf_id: u32,
}

pub(crate) fn name_from_kernel(raw: &[u8]) -> String {
    let len = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..len]).into_owned()
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a map.
pub fn map_info(map: BorrowedFd<'_>) -> Result<MapInfo, SysError> {
    let mut info = BpfMapInfo::default();
    let mut attr = InfoAttr {
        bpf_fd: map.as_raw_fd() as u32,
        info_len: std::mem::size_of::<BpfMapInfo>() as u32,
        info: ptr(&mut info as *mut BpfMapInfo),
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)
        .map_err(|error| SysError::new("BPF_OBJ_GET_INFO_BY_FD", "map", error))?;
    Ok(MapInfo {
        id: info.id,
        name: name_from_kernel(&info.name),
        map_type: info.map_type,
        key_size: info.key_size,
        value_size: info.value_size,
        max_entries: info.max_entries,
        map_flags: info.map_flags,
        btf_id: info.btf_id,
    })
}

/// Opens the map with kernel id `id` (`BPF_MAP_GET_FD_BY_ID`).
pub fn map_fd_by_id(id: u32) -> Result<MapFd, SysError> {
    let mut attr = GetFdByIdAttr {
        id,
        ..Default::default()
    };
    bpf_fd(BPF_MAP_GET_FD_BY_ID, &mut attr)
        .map(MapFd)
        .map_err(|error| SysError::new("BPF_MAP_GET_FD_BY_ID", format!("map id {id}"), error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn map_info_layout_matches_the_kernel() {
        assert_eq!(offset_of!(BpfMapInfo, name), 24);
        assert_eq!(offset_of!(BpfMapInfo, netns_dev), 48);
        assert_eq!(offset_of!(BpfMapInfo, btf_id), 64);
        assert_eq!(size_of::<BpfMapInfo>(), 88);
    }
}
