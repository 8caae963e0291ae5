//! Lock files in a root-only directory under /run: one per interface (a second run on
//! the same interface fails at once instead of racing the first), and one around
//! mounting bpffs or tracefs (two runs that both find it missing would stack two mounts,
//! and a later `umount` would uncover the other instead of leaving the directory bare).

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sys::bpffs::SpecialFs;

use crate::error::LoadError;

/// Where the locks live: tmpfs, cleared at boot, and root's alone, so no other user can
/// hold a lock to make root's runs fail.
pub const LOCK_DIR: &str = "/run/xdploader";

/// `rwx------`: root only.
const LOCK_DIR_MODE: u32 = 0o700;
/// `rw-------`: the files too, for a directory made by someone else with a wider mode
/// (a Kubernetes hostPath `DirectoryOrCreate` is 0755): no other user can open one to
/// hold its lock.
const LOCK_FILE_MODE: u32 = 0o600;

/// Opens (creating it and [`LOCK_DIR`] when missing) the lock file `name`, unlocked.
pub fn lock_file(name: &str) -> Result<std::fs::File, LoadError> {
    match std::fs::DirBuilder::new()
        .mode(LOCK_DIR_MODE)
        .create(LOCK_DIR)
    {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => {
            return Err(LoadError::LockFile {
                path: PathBuf::from(LOCK_DIR),
                error,
            })
        }
    }
    let path = Path::new(LOCK_DIR).join(name);
    // The files stay (removing a lock file another run may be about to lock would let two
    // runs hold "the" lock); they are a few bytes each.
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(LOCK_FILE_MODE)
        .open(&path)
        .map_err(|error| LoadError::LockFile { path, error })
}

/// Mounts `fs` at `path` unless it is there already, and says whether this call
/// mounted it. Checked first without the lock (the common case costs one statfs), then
/// again holding the mount lock, since another run may have mounted it while this one
/// waited. Without a lock directory (a read-only /run) it goes on unlocked: a stacked
/// mount is better than no mount.
pub fn mount_if_missing(fs: SpecialFs, path: &Path) -> std::io::Result<bool> {
    if sys::bpffs::is_on(fs, path)? {
        return Ok(false);
    }
    let _lock = lock_file("mount.lock")
        .ok()
        .and_then(|file| nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).ok());
    if sys::bpffs::is_on(fs, path)? {
        return Ok(false);
    }
    sys::bpffs::mount_at(fs, path).map(|()| true)
}
