//! BTF objects: load a BTF blob into the kernel; find the kernel's BTF objects (vmlinux,
//! modules, programs') by id and read them back.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;

use crate::abi::{BPF_BTF_GET_FD_BY_ID, BPF_BTF_GET_NEXT_ID, BPF_BTF_LOAD, BPF_OBJ_GET_INFO_BY_FD};
use crate::bpf::{bpf, bpf_fd, ptr, BtfLoadAttr, GetFdByIdAttr, InfoAttr};
use crate::error::SysError;
use crate::map::name_from_kernel;

/// A BTF object file descriptor.
#[derive(Debug)]
pub struct BtfFd(OwnedFd);

impl AsFd for BtfFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for BtfFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

/// The kernel refused a BTF blob; `log` is its BTF verifier's explanation.
#[derive(Debug)]
pub struct BtfLoadError {
    pub errno: Errno,
    pub log: String,
}

impl fmt::Display for BtfLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BPF_BTF_LOAD failed: {} ({:?})",
            self.errno.desc(),
            self.errno
        )?;
        if let Some(last) = self.log.lines().rev().find(|line| !line.trim().is_empty()) {
            write!(f, "; the kernel says: {}", last.trim())?;
        }
        Ok(())
    }
}

impl std::error::Error for BtfLoadError {}

/// The BTF log is short; the kernel wants at least 128 bytes when a log is asked for.
const BTF_LOG_SIZE: usize = 64 * 1024;

fn load(blob: &[u8], log: Option<&mut Vec<u8>>) -> Result<BtfFd, Errno> {
    let mut attr = BtfLoadAttr {
        btf: ptr(blob.as_ptr()),
        btf_size: blob.len() as u32,
        ..Default::default()
    };
    if let Some(buffer) = log {
        attr.btf_log_buf = ptr(buffer.as_mut_ptr());
        attr.btf_log_size = buffer.len() as u32;
        attr.btf_log_level = 1;
    }
    bpf_fd(BPF_BTF_LOAD, &mut attr)
        .map(BtfFd)
        .map_err(|error| Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)))
}

/// One attempt at loading a BTF blob, without a log: for a first try whose refusal the
/// caller answers by changing the blob, not by explaining it.
pub fn btf_try_load(blob: &[u8]) -> Result<BtfFd, Errno> {
    load(blob, None)
}

/// Loads a BTF blob. The first attempt asks for no log; on failure it is repeated with
/// the log on so the error can say why.
pub fn btf_load(blob: &[u8]) -> Result<BtfFd, BtfLoadError> {
    let errno = match load(blob, None) {
        Ok(fd) => return Ok(fd),
        Err(errno) => errno,
    };
    let mut buffer = vec![0u8; BTF_LOG_SIZE];
    match load(blob, Some(&mut buffer)) {
        Ok(fd) => Ok(fd),
        Err(_) => Err(BtfLoadError {
            errno,
            log: name_from_kernel(&buffer).trim_end().to_string(),
        }),
    }
}

/// Every BTF object in the kernel, by id (`BPF_BTF_GET_NEXT_ID`): vmlinux, each module's,
/// each loaded object's.
pub fn btf_ids() -> Result<Vec<u32>, SysError> {
    crate::link::next_ids(BPF_BTF_GET_NEXT_ID, "BPF_BTF_GET_NEXT_ID")
}

/// Opens the BTF object with kernel id `id` (`BPF_BTF_GET_FD_BY_ID`).
pub fn btf_fd_by_id(id: u32) -> Result<BtfFd, SysError> {
    let mut attr = GetFdByIdAttr {
        id,
        ..Default::default()
    };
    bpf_fd(BPF_BTF_GET_FD_BY_ID, &mut attr)
        .map(BtfFd)
        .map_err(|error| SysError::new("BPF_BTF_GET_FD_BY_ID", format!("BTF id {id}"), error))
}

/// `struct bpf_btf_info`.
#[repr(C)]
#[derive(Default)]
struct BpfBtfInfo {
    btf: u64,
    btf_size: u32,
    id: u32,
    name: u64,
    name_len: u32,
    kernel_btf: u32,
}

/// What the kernel says about a BTF object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfInfo {
    pub id: u32,
    /// `vmlinux`, a module's name, or empty for a BTF a program loaded.
    pub name: String,
    /// The kernel's own BTF (vmlinux or a module), not one a program loaded.
    pub kernel_btf: bool,
    pub btf_size: u32,
}

/// Room for a module's name (`MODULE_NAME_LEN` is 56 on 64-bit kernels).
const BTF_NAME_LEN: usize = 64;

fn btf_info_into(btf: BorrowedFd<'_>, info: &mut BpfBtfInfo) -> Result<(), SysError> {
    let mut attr = InfoAttr {
        bpf_fd: btf.as_raw_fd() as u32,
        info_len: std::mem::size_of::<BpfBtfInfo>() as u32,
        info: ptr(info as *mut BpfBtfInfo),
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)
        .map(drop)
        .map_err(|error| SysError::new("BPF_OBJ_GET_INFO_BY_FD", "BTF", error))
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a BTF object: its id, name and size.
pub fn btf_info(btf: BorrowedFd<'_>) -> Result<BtfInfo, SysError> {
    let mut name = vec![0u8; BTF_NAME_LEN];
    let mut info = BpfBtfInfo {
        name: ptr(name.as_mut_ptr()),
        name_len: name.len() as u32,
        ..Default::default()
    };
    btf_info_into(btf, &mut info)?;
    Ok(BtfInfo {
        id: info.id,
        name: name_from_kernel(&name),
        kernel_btf: info.kernel_btf != 0,
        btf_size: info.btf_size,
    })
}

/// The raw bytes of a BTF object, as loaded (a program's BTF, for a target function
/// in it): its size first, then the bytes into a buffer of that size.
pub fn btf_bytes(btf: BorrowedFd<'_>) -> Result<Vec<u8>, SysError> {
    let size = btf_info(btf)?.btf_size;
    let mut bytes = vec![0u8; size as usize];
    let mut info = BpfBtfInfo {
        btf: ptr(bytes.as_mut_ptr()),
        btf_size: size,
        ..Default::default()
    };
    btf_info_into(btf, &mut info)?;
    bytes.truncate(info.btf_size.min(size) as usize);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn btf_info_layout_matches_the_kernel() {
        assert_eq!(offset_of!(BpfBtfInfo, id), 12);
        assert_eq!(offset_of!(BpfBtfInfo, name), 16);
        assert_eq!(offset_of!(BpfBtfInfo, kernel_btf), 28);
        assert_eq!(std::mem::size_of::<BpfBtfInfo>(), 32);
    }
}
