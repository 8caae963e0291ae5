//! The trace file system, where `bpf_printk` output can be read (`trace_pipe`).

use std::io;
use std::path::Path;

use nix::mount::{mount, MsFlags};
use nix::sys::statfs::statfs;

use crate::abi::TRACEFS_MAGIC;

/// Whether `path` is the root of (or lies on) a tracefs mount.
pub fn is_tracefs(path: &Path) -> io::Result<bool> {
    let stat = statfs(path).map_err(io::Error::from)?;
    Ok(stat.filesystem_type().0 as i64 == TRACEFS_MAGIC)
}

/// Mounts tracefs at `path` (as `mount -t tracefs tracefs PATH`, with the flags
/// systemd's sys-kernel-tracing.mount uses).
pub fn mount_tracefs(path: &Path) -> io::Result<()> {
    mount(
        Some("tracefs"),
        path,
        Some("tracefs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(io::Error::from)
}
