//! The stats stage, what statswatch does: a pinned per-CPU stats map read, its counters
//! summed over every possible CPU, rates taken over an interval, and the text, terminal
//! and JSON renderings.
//!
//! | step | file |
//! | --- | --- |
//! | per-CPU values split and summed; samples | `counters.rs` |
//! | rates and the live view's baseline | `rates.rs` |
//! | the text, table, terminal and JSON renderings | `render.rs` |
//!
//! Nothing here prints. This stage uses `sys` and the shared modules, no other stage.

pub mod counters;
pub mod rates;
pub mod render;
