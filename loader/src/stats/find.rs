//! Which pin statswatch reads: `-file`, or a map found by name (`-m`) among the pins of
//! the pin directory and the directories directly inside it.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use sys::obj::PinnedMapError;

use crate::stats::error::StatsError;
use crate::vocab::{map_name_matches, DEFAULT_PIN_ROOT};

/// The map statswatch reads when neither -file nor -m says another.
pub const DEFAULT_MAP: &str = "stats_map";

/// The pin to read: `file` (-file), or the map called `map` (-m NAME) in the pin directory
/// `pin_path` (-pin-path, by default /sys/fs/bpf), or stats_map there.
pub fn resolve_pin(
    file: Option<&Path>,
    map: Option<&str>,
    pin_path: Option<&Path>,
) -> Result<PathBuf, StatsError> {
    if let Some(file) = file {
        return Ok(file.to_path_buf());
    }
    let dir = pin_path.map_or_else(|| PathBuf::from(DEFAULT_PIN_ROOT), Path::to_path_buf);
    match map {
        None => Ok(dir.join(DEFAULT_MAP)),
        Some(name) => find_map_by_name(&dir, name),
    }
}

fn is_valid_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/')
}

/// DIR/NAME when it exists; else the one pinned map whose kernel name is NAME among the
/// pins in DIR and in the directories directly inside it.
pub fn find_map_by_name(dir: &Path, name: &str) -> Result<PathBuf, StatsError> {
    if is_valid_file_name(name) {
        let direct = dir.join(name);
        if std::fs::symlink_metadata(&direct).is_ok() {
            return Ok(direct);
        }
    }
    let entries = std::fs::read_dir(dir).map_err(|error| StatsError::ListPinDir {
        dir: dir.to_path_buf(),
        error,
    })?;
    let mut pins = Vec::new();
    for entry in entries.flatten() {
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            if let Ok(inner) = std::fs::read_dir(entry.path()) {
                pins.extend(
                    inner
                        .flatten()
                        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
                        .map(|entry| entry.path()),
                );
            }
        } else if file_type.is_file() {
            pins.push(entry.path());
        }
    }
    pins.sort();
    let mut found: Vec<(PathBuf, u32)> = Vec::new();
    let mut refused = false;
    for pin in pins {
        match sys::obj::map_from_pin(&pin) {
            Ok(map) => {
                let Ok(info) = sys::map::map_info(map.as_fd()) else {
                    continue;
                };
                if map_name_matches(&info.name, name) && !found.iter().any(|(_, id)| *id == info.id)
                {
                    found.push((pin, info.id));
                }
            }
            Err(PinnedMapError::Open(error)) if error.is_permission() => refused = true,
            Err(_) => {}
        }
    }
    match found.len() {
        1 => Ok(found.remove(0).0),
        0 if refused => Err(StatsError::PinsRefused {
            dir: dir.to_path_buf(),
            name: name.to_string(),
        }),
        0 => Err(StatsError::NoMapNamed {
            dir: dir.to_path_buf(),
            name: name.to_string(),
        }),
        _ => Err(StatsError::AmbiguousName {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            found,
        }),
    }
}
