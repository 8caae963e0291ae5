//! Pins: where each map goes on bpffs, the pin directory made ready (bpffs mounted at the
//! default root, sub-directories created and removed again on failure), pinning and
//! unpinning.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use elf::{MapSpec, Object, Pinning};

use crate::error::LoadError;
use crate::load::maps::LiveMap;
use crate::vocab::DEFAULT_PIN_ROOT;

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
    /// Passes `result` on; when it is a failure, first removes the directories again.
    pub fn remove_if_failed<T, E>(self, result: Result<T, E>) -> Result<T, E> {
        if result.is_err() {
            self.remove_if_empty();
        }
        result
    }

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
        crate::lock::mount_if_missing(sys::bpffs::SpecialFs::Bpf, pin_root).map_err(|error| {
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

/// [`prepare_pin_root`] when this load will pin something there: a map of `object` that
/// asks for a pin, or `always` (a BPF link will be pinned).
pub fn prepare_pin_root_for(
    object: &Object,
    pin_root: &Path,
    always: bool,
) -> Result<CreatedDirs, LoadError> {
    if always
        || object
            .maps
            .iter()
            .any(|map| pin_path(map, pin_root).is_some())
    {
        prepare_pin_root(pin_root)
    } else {
        Ok(CreatedDirs::default())
    }
}

/// A name bpffs accepts for a pin: bpffs refuses dots, which global-data map names have.
pub fn pin_name(name: &str) -> String {
    name.replace('.', "_")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::test_specs::spec;

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
}
