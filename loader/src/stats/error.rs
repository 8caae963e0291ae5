//! statswatch's errors: one sentence each (what failed, why, what to do) and the exit code
//! the README documents, as `LoadError` is for xdploader.

use std::fmt;
use std::path::PathBuf;

use sys::obj::PinnedMapError;
use sys::{MapInfo, SysError};

use crate::error::ExitKind;
use crate::stats::counters::DATAREC_SIZE;
use crate::vocab::map_type_name;

#[derive(Debug)]
pub enum StatsError {
    /// Standard output cannot be written (a closed pipe is not this: SIGPIPE ends us).
    Write(std::io::Error),
    PossibleCpus(std::io::Error),
    /// `-m NAME`: the pin directory cannot be listed.
    ListPinDir {
        dir: PathBuf,
        error: std::io::Error,
    },
    /// `-m NAME`: no map called NAME found, and some pins could not be opened.
    PinsRefused {
        dir: PathBuf,
        name: String,
    },
    /// `-m NAME`: no map called NAME is pinned.
    NoMapNamed {
        dir: PathBuf,
        name: String,
    },
    /// `-m NAME`: several maps called NAME are pinned: (pin, map id) of each.
    AmbiguousName {
        dir: PathBuf,
        name: String,
        found: Vec<(PathBuf, u32)>,
    },
    /// Nothing is pinned at the path (a live view waits for it instead).
    NothingPinned {
        pin: PathBuf,
    },
    OpenRefused {
        pin: PathBuf,
        error: SysError,
    },
    NotAMap {
        pin: PathBuf,
        error: PinnedMapError,
    },
    MapInfo {
        pin: PathBuf,
        error: SysError,
    },
    /// The pinned map is not a per-CPU array of `struct datarec`.
    NotAStatsMap {
        pin: PathBuf,
        info: MapInfo,
    },
    Read {
        pin: PathBuf,
        error: SysError,
    },
    Signals(SysError),
    Wait(SysError),
}

impl StatsError {
    pub fn exit_kind(&self) -> ExitKind {
        match self {
            StatsError::AmbiguousName { .. } => ExitKind::Usage,
            StatsError::NotAMap { .. } | StatsError::NotAStatsMap { .. } => ExitKind::BadObject,
            StatsError::MapInfo { .. } | StatsError::Read { .. } => ExitKind::KernelRefused,
            StatsError::Write(_)
            | StatsError::PossibleCpus(_)
            | StatsError::ListPinDir { .. }
            | StatsError::PinsRefused { .. }
            | StatsError::NoMapNamed { .. }
            | StatsError::NothingPinned { .. }
            | StatsError::OpenRefused { .. }
            | StatsError::Signals(_)
            | StatsError::Wait(_) => ExitKind::Environment,
        }
    }
}

impl fmt::Display for StatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatsError::Write(error) => write!(f, "cannot write to standard output: {error}"),
            StatsError::PossibleCpus(error) => {
                write!(f, "cannot count the possible CPUs: {error}")
            }
            StatsError::ListPinDir { dir, error } => {
                let advice = if error.kind() == std::io::ErrorKind::PermissionDenied {
                    "run it as root (sudo)"
                } else {
                    "pass the bpffs directory the maps are pinned in with -pin-path"
                };
                write!(
                    f,
                    "cannot list the pin directory {}: {error}; {advice}",
                    dir.display()
                )
            }
            StatsError::PinsRefused { dir, name } => write!(
                f,
                "cannot open the pins in {} to look for map {name}: permission denied; run it as root (sudo)",
                dir.display()
            ),
            StatsError::NoMapNamed { dir, name } => write!(
                f,
                "no map called {name} is pinned in {} or a directory inside it; load the program first or pass -pin-path or -file",
                dir.display()
            ),
            StatsError::AmbiguousName { dir, name, found } => {
                let paths: Vec<String> = found
                    .iter()
                    .map(|(path, id)| format!("{} (id {id})", path.display()))
                    .collect();
                write!(
                    f,
                    "{} maps called {name} are pinned under {}: {}; pick one with -file",
                    found.len(),
                    dir.display(),
                    paths.join(", ")
                )
            }
            StatsError::NothingPinned { pin } => write!(
                f,
                "no map is pinned at {}; load the program first (sudo scripts/start.sh) or pass the right -file",
                pin.display()
            ),
            StatsError::OpenRefused { pin, error } => write!(
                f,
                "cannot open {}: {}; run it as root (sudo)",
                pin.display(),
                error.errno.desc()
            ),
            StatsError::NotAMap { pin, error } => {
                write!(f, "cannot open {} as a map: {error}", pin.display())
            }
            StatsError::MapInfo { pin, error } => {
                write!(f, "cannot read what map {} is: {error}", pin.display())
            }
            StatsError::NotAStatsMap { pin, info } => {
                let kind = map_type_name(info.map_type);
                let article = if kind.starts_with(['A', 'E', 'I', 'O', 'U']) {
                    "an"
                } else {
                    "a"
                };
                write!(
                    f,
                    "map {} at {} is {article} {kind} with {}-byte keys and {}-byte values; statswatch reads a Per-CPU array with 4-byte keys and {DATAREC_SIZE}-byte values (struct datarec)",
                    info.name,
                    pin.display(),
                    info.key_size,
                    info.value_size
                )
            }
            StatsError::Read { pin, error } => {
                write!(f, "cannot read the counters of {}: {error}", pin.display())
            }
            StatsError::Signals(error) => write!(f, "cannot catch Ctrl-C and SIGTERM: {error}"),
            StatsError::Wait(error) => write!(f, "cannot wait for the next sample: {error}"),
        }
    }
}

impl std::error::Error for StatsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_of_another_shape_is_named_with_its_article() {
        let info = MapInfo {
            id: 3,
            name: "jmp_map".into(),
            map_type: sys::abi::BPF_MAP_TYPE_PROG_ARRAY,
            key_size: 4,
            value_size: 4,
            max_entries: 8,
            map_flags: 0,
            btf_id: 0,
        };
        let error = StatsError::NotAStatsMap {
            pin: PathBuf::from("/sys/fs/bpf/jmp_map"),
            info,
        };
        assert_eq!(error.exit_kind(), ExitKind::BadObject);
        assert_eq!(
            error.to_string(),
            "map jmp_map at /sys/fs/bpf/jmp_map is an Array of programs with 4-byte keys and 4-byte values; statswatch reads a Per-CPU array with 4-byte keys and 16-byte values (struct datarec)"
        );
        let found = vec![
            (PathBuf::from("/a/stats_map"), 7),
            (PathBuf::from("/b/stats_map"), 9),
        ];
        let error = StatsError::AmbiguousName {
            dir: PathBuf::from("/sys/fs/bpf"),
            name: "stats_map".into(),
            found,
        };
        assert_eq!(error.exit_kind(), ExitKind::Usage);
        assert_eq!(
            error.to_string(),
            "2 maps called stats_map are pinned under /sys/fs/bpf: /a/stats_map (id 7), /b/stats_map (id 9); pick one with -file"
        );
    }
}
