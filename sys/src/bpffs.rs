//! The bpf filesystem: is a directory on bpffs, and mounting it.

use std::io;
use std::path::Path;

use nix::mount::{mount, MsFlags};
use nix::sys::statfs::statfs;

use crate::abi::BPF_FS_MAGIC;

/// Whether `path` lies on a bpffs mount.
pub fn is_bpffs(path: &Path) -> io::Result<bool> {
    let stat = statfs(path).map_err(io::Error::from)?;
    Ok(stat.filesystem_type().0 as i64 == BPF_FS_MAGIC)
}

/// Mounts bpffs at `path` (as `mount -t bpf bpf PATH`).
pub fn mount_bpffs(path: &Path) -> io::Result<()> {
    mount(
        Some("bpf"),
        path,
        Some("bpf"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(io::Error::from)
}
