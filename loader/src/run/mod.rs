//! `xdploader -run`: test runs over the packets of a capture.
//!
//! The object is loaded as for an attach (maps created or reused from their pins, the
//! entry program and its tail calls `<entry>_<N>` wired into its prog array, maps pinned
//! as the object asks) and nothing is attached: every packet of a pcap or pcapng file
//! goes through the entry program with `BPF_PROG_TEST_RUN`. The maps are the real ones,
//! so the counters a run leaves are the ones statswatch reads from the pins.
//!
//! | step | file |
//! | --- | --- |
//! | the object loaded for a run (a private copy of a pinned prog array) | `prepare.rs` (`load_for_run`) |
//! | pcap and pcapng in, pcap out | `pcap.rs` (`read_capture`, `write_pcap`) |
//! | each packet through `BPF_PROG_TEST_RUN` | `test_runs.rs` (`run_packets`) |
//! | verdicts added up, the text and JSON reports | `report.rs` |
//! | what can stop a run | here: [`RunError`] |
//!
//! Reading captures, the summary arithmetic and the output formats are pure functions;
//! the kernel work is in `load_for_run` and `run_packets`. Nothing here prints. This
//! stage uses the load stage and the shared modules, never `attach` or `stats`.

use std::fmt;
use std::path::PathBuf;

use elf::{Object, ProgramSpec};
use sys::test_run::TestRunError;

use crate::error::{ExitKind, LoadError};

pub mod flow;
pub mod pcap;
pub mod prepare;
pub mod report;
pub mod test_runs;

use pcap::CaptureError;

/// What can stop a `-run`.
#[derive(Debug)]
pub enum RunError {
    /// Loading the object failed as an attach would.
    Load(LoadError),
    NoSuchProgram {
        name: String,
        available: Vec<String>,
    },
    ReadCapture {
        path: PathBuf,
        error: std::io::Error,
    },
    Capture {
        path: PathBuf,
        error: CaptureError,
    },
    /// The kernel refused `BPF_PROG_TEST_RUN`.
    TestRun {
        program: String,
        packet: usize,
        error: TestRunError,
        explanation: &'static str,
    },
    WriteOut {
        path: PathBuf,
        reason: String,
    },
}

/// The program `-run` names, or the error that lists the ones the object has.
pub fn entry_program<'a>(object: &'a Object, name: &str) -> Result<&'a ProgramSpec, RunError> {
    object.program(name).ok_or_else(|| RunError::NoSuchProgram {
        name: name.to_string(),
        available: object.programs.iter().map(|p| p.name.clone()).collect(),
    })
}

impl From<LoadError> for RunError {
    fn from(error: LoadError) -> RunError {
        RunError::Load(error)
    }
}

impl RunError {
    pub fn exit_kind(&self) -> ExitKind {
        match self {
            RunError::Load(error) => error.exit_kind(),
            RunError::NoSuchProgram { .. } => ExitKind::Usage,
            RunError::Capture { .. } => ExitKind::BadObject,
            RunError::TestRun { error, .. } if error.is_permission() => ExitKind::Environment,
            RunError::TestRun { .. } => ExitKind::KernelRefused,
            RunError::ReadCapture { .. } | RunError::WriteOut { .. } => ExitKind::Environment,
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Load(error) => error.fmt(f),
            RunError::NoSuchProgram { name, available } => write!(
                f,
                "the object has no program called {name}; pick one with -run: {}",
                available.join(", ")
            ),
            RunError::ReadCapture { path, error } => write!(
                f,
                "cannot read the capture {}: {error}; pass an existing pcap or pcapng file with -pcap",
                path.display()
            ),
            RunError::Capture { path, error } => {
                write!(f, "cannot run the packets of {}: {error}", path.display())
            }
            RunError::TestRun {
                program,
                packet,
                error,
                explanation,
            } => write!(
                f,
                "the kernel refused to test-run program {program} on packet {packet}: {} ({}); {explanation}",
                error.description(),
                error.name()
            ),
            RunError::WriteOut { path, reason } => write!(
                f,
                "cannot write the packets to {}: {reason}; check that its directory exists and is writable",
                path.display()
            ),
        }
    }
}

impl std::error::Error for RunError {}
