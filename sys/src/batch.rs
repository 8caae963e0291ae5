//! `BPF_MAP_LOOKUP_BATCH` (Linux 5.6): many elements of a map in one `bpf(2)` call.
//!
//! The kernel copies `count` keys of `key_size` bytes and `count` values of its own value
//! size (for per-CPU maps: `round_up(value_size, 8)` for every possible CPU) into the
//! caller's buffers. [`BatchLookup`] works both sizes out from the map itself and never
//! asks for more elements than the buffers it is given hold, so no call can write past
//! them.

use std::os::fd::{AsRawFd, BorrowedFd};

use crate::abi::{
    BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH,
    BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH,
};
use crate::bpf::{bpf, ptr, Attr};
use crate::error::SysError;

/// `BPF_MAP_LOOKUP_BATCH` in `enum bpf_cmd`.
pub const BPF_MAP_LOOKUP_BATCH: u32 = 24;

/// The kernel's internal "not supported" errno (`ENOTSUPP`, include/linux/errno.h), which
/// reaches user space from `bpf(2)` for map types without batch operations. It is not
/// `EOPNOTSUPP` and libc has no name for it.
pub const ENOTSUPP: i32 = 524;

/// The `batch` member of `union bpf_attr`, used by the `BPF_MAP_*_BATCH` commands.
#[repr(C)]
#[derive(Default)]
pub(crate) struct BatchAttr {
    /// Where to resume: NULL to start from the beginning.
    pub in_batch: u64,
    /// Written by the kernel: where the next call resumes.
    pub out_batch: u64,
    pub keys: u64,
    pub values: u64,
    /// In: how many elements the buffers hold. Out: how many the kernel filled.
    pub count: u32,
    pub map_fd: u32,
    pub elem_flags: u64,
    pub flags: u64,
}
impl Attr for BatchAttr {}

/// Reads every element of a map with `BPF_MAP_LOOKUP_BATCH`, a buffer-full at a time.
#[derive(Debug)]
pub struct BatchLookup<'fd> {
    map: BorrowedFd<'fd>,
    key_size: usize,
    value_size: usize,
    /// The kernel's opaque resume position (a key for arrays, a bucket for hashes).
    position: Vec<u8>,
    next_position: Vec<u8>,
    started: bool,
    finished: bool,
}

impl<'fd> BatchLookup<'fd> {
    /// Prepares to read `map` from its first element. Map types whose batch value layout
    /// this code does not know are refused with `EOPNOTSUPP` before any batch call, so the
    /// caller falls back to per-key lookups as it would on a kernel without the command.
    pub fn new(map: BorrowedFd<'fd>) -> Result<BatchLookup<'fd>, SysError> {
        let info = crate::map::map_info(map)?;
        let per_cpu = match info.map_type {
            BPF_MAP_TYPE_ARRAY | BPF_MAP_TYPE_HASH | BPF_MAP_TYPE_LRU_HASH => false,
            BPF_MAP_TYPE_PERCPU_ARRAY | BPF_MAP_TYPE_PERCPU_HASH | BPF_MAP_TYPE_LRU_PERCPU_HASH => {
                true
            }
            other => {
                return Err(SysError {
                    op: "BPF_MAP_LOOKUP_BATCH",
                    subject: format!("map {} of type {other}", info.name),
                    errno: nix::errno::Errno::EOPNOTSUPP,
                })
            }
        };
        let value_size = if per_cpu {
            let cpus = crate::cpus::possible_cpus()
                .map_err(|error| SysError::new("BPF_MAP_LOOKUP_BATCH", "possible CPUs", error))?;
            (info.value_size as usize).div_ceil(8) * 8 * cpus
        } else {
            info.value_size as usize
        };
        // Arrays resume from a key, hashes from a u32 bucket index.
        let position_size = (info.key_size as usize).max(4);
        Ok(BatchLookup {
            map,
            key_size: info.key_size as usize,
            value_size,
            position: vec![0; position_size],
            next_position: vec![0; position_size],
            started: false,
            finished: false,
        })
    }

    /// The bytes of one key in the keys buffer.
    pub fn key_size(&self) -> usize {
        self.key_size
    }

    /// The bytes of one element in the values buffer (per-CPU maps: every possible CPU's
    /// slot, each `round_up(value_size, 8)` bytes).
    pub fn value_size(&self) -> usize {
        self.value_size
    }

    /// True once the kernel has said that no element is left.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Reads the next elements into `keys` and `values`, as many as both buffers hold, and
    /// returns how many were read. Returns 0 once every element has been read.
    pub fn next_batch(&mut self, keys: &mut [u8], values: &mut [u8]) -> Result<usize, SysError> {
        if self.finished {
            return Ok(0);
        }
        let capacity =
            (keys.len() / self.key_size.max(1)).min(values.len() / self.value_size.max(1));
        let count = u32::try_from(capacity).unwrap_or(u32::MAX);
        if count == 0 || self.key_size == 0 || self.value_size == 0 {
            return Err(SysError {
                op: "BPF_MAP_LOOKUP_BATCH",
                subject: "a buffer too small for one element".to_string(),
                errno: nix::errno::Errno::EINVAL,
            });
        }
        let mut attr = BatchAttr {
            in_batch: if self.started {
                ptr(self.position.as_ptr())
            } else {
                0
            },
            out_batch: ptr(self.next_position.as_mut_ptr()),
            keys: ptr(keys.as_mut_ptr()),
            values: ptr(values.as_mut_ptr()),
            count,
            map_fd: self.map.as_raw_fd() as u32,
            ..Default::default()
        };
        let result = bpf(BPF_MAP_LOOKUP_BATCH, &mut attr);
        // The kernel writes back how many elements it copied, also when it ends with ENOENT.
        let filled = (attr.count as usize).min(capacity);
        match result {
            Ok(_) => {
                std::mem::swap(&mut self.position, &mut self.next_position);
                self.started = true;
                if filled == 0 {
                    self.finished = true;
                }
                Ok(filled)
            }
            // ENOENT: the last batch (possibly empty).
            Err(error) if error.raw_os_error() == Some(libc::ENOENT) => {
                self.finished = true;
                Ok(filled)
            }
            // nix has no name for ENOTSUPP: report it as EOPNOTSUPP, which means the same.
            Err(error) if error.raw_os_error() == Some(ENOTSUPP) => Err(SysError {
                op: "BPF_MAP_LOOKUP_BATCH",
                subject: "map elements".to_string(),
                errno: nix::errno::Errno::EOPNOTSUPP,
            }),
            Err(error) => Err(SysError::new("BPF_MAP_LOOKUP_BATCH", "map elements", error)),
        }
    }
}

/// Whether an error from [`BatchLookup`] means that this kernel or map type has no batch
/// lookup (so per-key lookups are the way), rather than a real failure: EINVAL from kernels
/// before the command existed, EOPNOTSUPP (and ENOTSUPP, reported as such) for map types
/// without batch operations.
pub fn is_unsupported(error: &SysError) -> bool {
    matches!(
        error.errno,
        nix::errno::Errno::EINVAL | nix::errno::Errno::EOPNOTSUPP
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    // Checked against the `batch` member of `union bpf_attr` in include/uapi/linux/bpf.h.
    #[test]
    fn batch_attr_layout_matches_the_kernel() {
        assert_eq!(offset_of!(BatchAttr, out_batch), 8);
        assert_eq!(offset_of!(BatchAttr, keys), 16);
        assert_eq!(offset_of!(BatchAttr, values), 24);
        assert_eq!(offset_of!(BatchAttr, count), 32);
        assert_eq!(offset_of!(BatchAttr, map_fd), 36);
        assert_eq!(offset_of!(BatchAttr, elem_flags), 40);
        assert_eq!(offset_of!(BatchAttr, flags), 48);
        assert_eq!(size_of::<BatchAttr>(), 56);
    }

    #[test]
    fn the_errors_that_mean_unsupported() {
        let error = |errno| SysError {
            op: "BPF_MAP_LOOKUP_BATCH",
            subject: String::new(),
            errno,
        };
        assert!(is_unsupported(&error(nix::errno::Errno::EINVAL)));
        assert!(is_unsupported(&error(nix::errno::Errno::EOPNOTSUPP)));
        assert!(!is_unsupported(&error(nix::errno::Errno::EPERM)));
        assert!(!is_unsupported(&error(nix::errno::Errno::EFAULT)));
    }

    /// The command number against the installed UAPI header, when it is installed: the
    /// position of `BPF_MAP_LOOKUP_BATCH` in `enum bpf_cmd`, whose members have no
    /// explicit values up to there.
    #[test]
    fn command_number_matches_the_installed_uapi_header() {
        let Ok(header) = std::fs::read_to_string("/usr/include/linux/bpf.h") else {
            eprintln!("skipped: /usr/include/linux/bpf.h is not installed (linux-libc-dev)");
            return;
        };
        let Some(start) = header.find("enum bpf_cmd {") else {
            panic!("no enum bpf_cmd in /usr/include/linux/bpf.h");
        };
        let body = &header[start + "enum bpf_cmd {".len()..];
        let body = &body[..body.find("};").expect("end of enum bpf_cmd")];
        let names: Vec<&str> = body
            .lines()
            .map(|line| line.split("/*").next().unwrap_or("").trim())
            .filter(|line| !line.is_empty() && !line.contains('='))
            .map(|line| line.trim_end_matches(','))
            .collect();
        let position = names
            .iter()
            .position(|name| *name == "BPF_MAP_LOOKUP_BATCH")
            .expect("BPF_MAP_LOOKUP_BATCH in enum bpf_cmd");
        assert_eq!(position as u32, BPF_MAP_LOOKUP_BATCH);
    }
}
