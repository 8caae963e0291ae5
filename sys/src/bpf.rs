//! The one `bpf(2)` call site and the attr struct for each command.
//!
//! Each command has its own small `#[repr(C)]` struct laid out like its member of
//! `union bpf_attr`, passed with its own size: the kernel zero-extends shorter attrs.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Types that may be handed to `bpf(2)` as an attr: plain `#[repr(C)]` data, no padding the
/// kernel would read as garbage (every field is initialised by `Default`).
pub(crate) trait Attr: Default {}

/// Nanoseconds spent inside `bpf(2)` by this process, and how many calls.
static NANOS_IN_BPF: AtomicU64 = AtomicU64::new(0);
static BPF_CALLS: AtomicU64 = AtomicU64::new(0);

/// Time spent inside `bpf(2)` so far and the number of calls: the kernel's share of a
/// load, which `-timings` sets apart from the loader's own work.
pub fn time_in_bpf() -> (Duration, u64) {
    (
        Duration::from_nanos(NANOS_IN_BPF.load(Ordering::Relaxed)),
        BPF_CALLS.load(Ordering::Relaxed),
    )
}

/// Calls `bpf(cmd, attr, sizeof(attr))`; returns the non-negative result.
pub(crate) fn bpf<A: Attr>(cmd: u32, attr: &mut A) -> io::Result<i64> {
    let started = Instant::now();
    let result = bpf_call(cmd, attr);
    NANOS_IN_BPF.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    BPF_CALLS.fetch_add(1, Ordering::Relaxed);
    result
}

fn bpf_call<A: Attr>(cmd: u32, attr: &mut A) -> io::Result<i64> {
    let size = std::mem::size_of::<A>() as libc::c_uint;
    // SAFETY: `attr` is a live, exclusively borrowed #[repr(C)] struct of exactly `size`
    // bytes; the kernel reads at most `size` bytes and writes back only inside them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut A as *mut libc::c_void,
            size,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Calls `bpf(2)` for a command that returns a new file descriptor and takes ownership of it.
pub(crate) fn bpf_fd<A: Attr>(cmd: u32, attr: &mut A) -> io::Result<OwnedFd> {
    let fd = bpf(cmd, attr)?;
    let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: on success these commands return a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A user-space pointer as the kernel's `__aligned_u64`.
pub(crate) fn ptr<T>(pointer: *const T) -> u64 {
    pointer as usize as u64
}

/// Copies `name` into a `char[BPF_OBJ_NAME_LEN]`, truncated to what the kernel keeps.
pub(crate) fn object_name(name: &str) -> [u8; crate::abi::BPF_OBJ_NAME_LEN] {
    let mut out = [0u8; crate::abi::BPF_OBJ_NAME_LEN];
    for (slot, byte) in out
        .iter_mut()
        .zip(name.bytes().take(crate::abi::BPF_OBJ_NAME_LEN - 1))
    {
        *slot = byte;
    }
    out
}

/// `BPF_MAP_CREATE`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct MapCreateAttr {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: u32,
    pub numa_node: u32,
    pub map_name: [u8; crate::abi::BPF_OBJ_NAME_LEN],
    pub map_ifindex: u32,
    pub btf_fd: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub btf_vmlinux_value_type_id: u32,
    pub map_extra: u64,
}
impl Attr for MapCreateAttr {}

/// `BPF_MAP_LOOKUP_ELEM`, `BPF_MAP_UPDATE_ELEM`, `BPF_MAP_DELETE_ELEM`, `BPF_MAP_GET_NEXT_KEY`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct MapElemAttr {
    pub map_fd: u32,
    pub _pad: u32,
    pub key: u64,
    /// `value`, or `next_key` for `BPF_MAP_GET_NEXT_KEY`.
    pub value: u64,
    pub flags: u64,
}
impl Attr for MapElemAttr {}

/// `BPF_PROG_LOAD`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct ProgLoadAttr {
    pub prog_type: u32,
    pub insn_cnt: u32,
    pub insns: u64,
    pub license: u64,
    pub log_level: u32,
    pub log_size: u32,
    pub log_buf: u64,
    pub kern_version: u32,
    pub prog_flags: u32,
    pub prog_name: [u8; crate::abi::BPF_OBJ_NAME_LEN],
    pub prog_ifindex: u32,
    pub expected_attach_type: u32,
    pub prog_btf_fd: u32,
    pub func_info_rec_size: u32,
    pub func_info: u64,
    pub func_info_cnt: u32,
    pub line_info_rec_size: u32,
    pub line_info: u64,
    pub line_info_cnt: u32,
    pub attach_btf_id: u32,
    pub attach_prog_fd: u32,
    pub core_relo_cnt: u32,
    pub fd_array: u64,
    pub core_relos: u64,
    pub core_relo_rec_size: u32,
    /// Written by the kernel (6.4+): the log size needed to hold the whole log.
    pub log_true_size: u32,
}
impl Attr for ProgLoadAttr {}

/// `BPF_OBJ_PIN` and `BPF_OBJ_GET`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct ObjAttr {
    pub pathname: u64,
    pub bpf_fd: u32,
    pub file_flags: u32,
    pub path_fd: i32,
    pub _pad: u32,
}
impl Attr for ObjAttr {}

/// `BPF_OBJ_GET_INFO_BY_FD`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct InfoAttr {
    pub bpf_fd: u32,
    pub info_len: u32,
    pub info: u64,
}
impl Attr for InfoAttr {}

/// `BPF_BTF_LOAD`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct BtfLoadAttr {
    pub btf: u64,
    pub btf_log_buf: u64,
    pub btf_size: u32,
    pub btf_log_size: u32,
    pub btf_log_level: u32,
    /// Written by the kernel (6.4+): the log size needed to hold the whole log.
    pub btf_log_true_size: u32,
}
impl Attr for BtfLoadAttr {}

/// `BPF_PROG_BIND_MAP`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct ProgBindMapAttr {
    pub prog_fd: u32,
    pub map_fd: u32,
    pub flags: u32,
}
impl Attr for ProgBindMapAttr {}

/// `BPF_MAP_FREEZE`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct MapFreezeAttr {
    pub map_fd: u32,
}
impl Attr for MapFreezeAttr {}

/// `BPF_PROG_GET_FD_BY_ID`, `BPF_MAP_GET_FD_BY_ID`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct GetFdByIdAttr {
    /// `prog_id` or `map_id`.
    pub id: u32,
    pub next_id: u32,
    pub open_flags: u32,
}
impl Attr for GetFdByIdAttr {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    // Offsets checked against `union bpf_attr` in include/uapi/linux/bpf.h.
    #[test]
    fn attr_layouts_match_the_kernel() {
        assert_eq!(offset_of!(MapCreateAttr, map_name), 28);
        assert_eq!(offset_of!(MapCreateAttr, btf_fd), 48);
        assert_eq!(offset_of!(MapCreateAttr, map_extra), 64);
        assert_eq!(size_of::<MapCreateAttr>(), 72);
        assert_eq!(offset_of!(MapElemAttr, key), 8);
        assert_eq!(offset_of!(MapElemAttr, flags), 24);
        assert_eq!(offset_of!(ProgLoadAttr, log_buf), 32);
        assert_eq!(offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(offset_of!(ProgLoadAttr, func_info), 80);
        assert_eq!(offset_of!(ProgLoadAttr, fd_array), 120);
        assert_eq!(offset_of!(ProgLoadAttr, log_true_size), 140);
        assert_eq!(size_of::<ProgLoadAttr>(), 144);
        assert_eq!(offset_of!(ObjAttr, bpf_fd), 8);
        assert_eq!(offset_of!(ObjAttr, path_fd), 16);
        assert_eq!(size_of::<InfoAttr>(), 16);
        assert_eq!(offset_of!(BtfLoadAttr, btf_size), 16);
        assert_eq!(offset_of!(BtfLoadAttr, btf_log_true_size), 28);
    }

    #[test]
    fn object_names_are_truncated_and_nul_terminated() {
        let name = object_name("a_name_longer_than_fifteen");
        assert_eq!(&name[..15], b"a_name_longer_t");
        assert_eq!(name[15], 0);
    }
}
