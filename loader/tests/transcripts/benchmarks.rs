//! The transcripts of docs/benchmarks.md.

use super::*;

pub const CASES: &[Case] = &[];
