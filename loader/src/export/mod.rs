//! The export stage, what `statswatch -prometheus` does: the stats stage's counters and
//! the attach stage's view of each interface's XDP program served over HTTP as
//! Prometheus metrics, for as long as it runs.
//!
//! | step | file |
//! | --- | --- |
//! | the request head read, routed, answered (pure) | `http.rs` |
//! | one scrape: the pin reopened, one batch read, the programs, the text | `scrape.rs` |
//! | the address, the threads, the deadlines, Ctrl-C | `serve.rs` |
//! | what can go wrong, and its exit code | `error.rs` |
//!
//! The texts themselves are the stats stage's (`stats/prometheus.rs`). Nothing here
//! prints: what the binary should say comes back through a callback.

pub mod error;
pub mod http;
pub mod scrape;
pub mod serve;
