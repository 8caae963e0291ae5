//! The transcripts of docs/operations.md from its "statswatch" part on (the first part is in operations.rs).

use super::*;

pub const CASES: &[Case] = &[];
