//! The kernel's special file systems the loader needs mounted: bpffs (pins) and tracefs
//! (`bpf_printk` output). Is a directory on one, and mounting one there.

use std::io;
use std::path::Path;

use nix::mount::{mount, MsFlags};
use nix::sys::statfs::statfs;

use crate::abi::{BPF_FS_MAGIC, TRACEFS_MAGIC};

/// A special file system, by what `mount -t` calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialFs {
    /// `bpf`, normally at /sys/fs/bpf.
    Bpf,
    /// `tracefs`, normally at /sys/kernel/tracing.
    Trace,
}

impl SpecialFs {
    fn magic(self) -> i64 {
        match self {
            SpecialFs::Bpf => BPF_FS_MAGIC,
            SpecialFs::Trace => TRACEFS_MAGIC,
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            SpecialFs::Bpf => "bpf",
            SpecialFs::Trace => "tracefs",
        }
    }
}

/// Whether `path` lies on a mount of `fs`.
pub fn is_on(fs: SpecialFs, path: &Path) -> io::Result<bool> {
    let stat = statfs(path).map_err(io::Error::from)?;
    Ok(stat.filesystem_type().0 as i64 == fs.magic())
}

/// Mounts `fs` at `path` (as `mount -t TYPE TYPE PATH`, with the flags systemd's
/// sys-fs-bpf.mount and sys-kernel-tracing.mount use).
pub fn mount_at(fs: SpecialFs, path: &Path) -> io::Result<()> {
    mount(
        Some(fs.type_name()),
        path,
        Some(fs.type_name()),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(io::Error::from)
}

/// Whether `path` lies on a bpffs mount.
pub fn is_bpffs(path: &Path) -> io::Result<bool> {
    is_on(SpecialFs::Bpf, path)
}
