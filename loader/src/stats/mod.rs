//! The stats stage, what statswatch does: a pinned per-CPU stats map read, its counters
//! summed over every possible CPU, rates taken over an interval, and the text, terminal,
//! JSON and Prometheus renderings.
//!
//! | step | file |
//! | --- | --- |
//! | which pin: `-file`, or `-m NAME` found among the pins | `find.rs` |
//! | the map opened and checked; a sample read (batch or per key) | `read.rs` |
//! | per-CPU values split and summed; samples | `counters.rs` |
//! | rates and the live view's baseline | `rates.rs` |
//! | the text, table, terminal and JSON renderings | `render.rs` |
//! | `-prometheus`: the Prometheus and OpenMetrics texts | `prometheus.rs` |
//! | `-watch`: the loop, drawn through a `View` | `watch.rs` |
//! | what can go wrong, and its exit code | `error.rs` |
//!
//! Nothing here prints. This stage uses `sys` and the shared modules, no other stage.

pub mod counters;
pub mod error;
pub mod find;
pub mod prometheus;
pub mod rates;
pub mod read;
pub mod render;
pub mod watch;
