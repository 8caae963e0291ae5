//! Orchestration: load an eBPF object into the kernel, wire its tail calls, pin its
//! maps and attach it; and the pure parts of the two binaries.
#![forbid(unsafe_code)]

pub mod attach;
pub mod cli;
pub mod dump;
pub mod error;
pub mod explain;
pub mod load;
pub mod lock;
pub mod run;
pub mod stats;
pub mod timings;
pub mod vocab;

pub use error::{ExitKind, LoadError};
