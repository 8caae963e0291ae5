//! BTF objects: load a BTF blob into the kernel.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;

use crate::abi::BPF_BTF_LOAD;
use crate::bpf::{bpf_fd, ptr, BtfLoadAttr};
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
