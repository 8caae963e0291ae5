//! The trace stage, what `xdploader -trace` does: an object's maps and programs loaded and
//! pinned by the load stage, then each tracing program attached by its section name, as
//! libbpf's auto-attach attaches it. One file per step:
//!
//! | step | file |
//! | --- | --- |
//! | which programs attach, and how (pure, before the kernel) | `plan.rs` (`plan`, `plan_object`) |
//! | a tracepoint's perf event (tracefs mounted if missing) | `tracepoint.rs` |
//! | a kprobe's or uprobe's perf event (the PMUs; a function's file offset) | `probes.rs` |
//! | the link: on the perf event, a raw tracepoint, or a tracing program's target; pins | `links.rs` |
//! | the command: attach, then wait for Ctrl-C or pin the links | `flow.rs` (`trace_object`) |
//! | statswatch -exceptions: our program on the XDP tracepoints, its counts | `exceptions.rs`, `exceptions_view.rs` |
//! | what can go wrong, and its exit code | `error.rs` |
//!
//! Nothing here prints. This stage uses `load` and the shared modules, no other stage.

pub mod error;
pub mod exceptions;
pub mod exceptions_view;
pub mod flow;
pub mod links;
pub mod plan;
pub mod probes;
pub mod tracepoint;
