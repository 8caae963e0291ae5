//! Orchestration: load an eBPF object into the kernel, wire its tail calls, pin its maps,
//! attach it, test-run it and read its counters. The two binaries (`xdploader`,
//! `statswatch`) parse arguments and print; what they do is here.
//!
//! # Layout: one module per stage of the pipeline
//!
//! | module | the step a user runs | what it does |
//! | --- | --- | --- |
//! | `dump` | `xdploader -dump` | what the parser found, as text |
//! | `load/` | every load; `-load-only` | object -> maps, programs, tail calls, pins |
//! | `attach/` | `xdploader -i IF`; `-status`, `-detach` | a loaded program onto interfaces |
//! | `run/` | `xdploader -run` | test runs over the packets of a capture |
//! | `trace/` | `xdploader -trace`; `statswatch -exceptions` | tracing programs attached by section name |
//! | `stats/` | `statswatch` | a pinned stats map read, summed, rated, rendered |
//! | `export/` | `statswatch -prometheus` | the counters and attached programs served over HTTP |
//!
//! Each folder's `mod.rs` lists its files in the order the stage takes them; a stage's
//! whole command is its `flow.rs` (`stats/watch.rs` for the live view). Below the stages,
//! the words and rules they share:
//!
//! | module | what it holds |
//! | --- | --- |
//! | `vocab` | `XdpMode`, default pin root and entry program, names of kernel numbers |
//! | `explain` | errno -> one sentence on cause and fix; the verifier log's tail |
//! | `error` | `LoadError` and `ExitKind`, the exit codes both binaries use |
//! | `lock` | lock files under /run/xdploader |
//! | `timings` | `-timings` phases |
//! | `cli` | Go-style flags; for the binaries only |
//!
//! # Which module may use which
//!
//! Data flows one way: binaries -> stages -> `elf` (the pure model) and `sys` (the kernel
//! boundary). The shared modules use no stage (`vocab` nothing, `explain` `vocab`,
//! `error` `explain` and `vocab`, `lock` `error`). The stages come in this order, and a
//! stage uses only the shared modules and the earlier stages its line names:
//!
//! 1. `dump`: none
//! 2. `load`: none
//! 3. `attach`: `load` (its maps, programs and tail-call slots)
//! 4. `run`: `load` (a run loads as an attach does, and attaches nothing)
//! 5. `trace`: `load` (it loads and pins as `-load-only` does, then attaches)
//! 6. `stats`: none
//! 7. `export`: `stats` (the counters and their texts), `attach` (what is on each interface)
//!
//! No stage uses a later one, nor `cli`. `loader/tests/layout.rs` checks this, and that
//! no source or test file grows past 600 lines.
#![forbid(unsafe_code)]

pub mod attach;
pub mod cli;
pub mod dump;
pub mod error;
pub mod explain;
pub mod export;
pub mod load;
pub mod lock;
pub mod run;
pub mod stats;
pub mod timings;
pub mod trace;
pub mod vocab;

pub use error::{ExitKind, LoadError};
