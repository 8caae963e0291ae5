//! The transcripts of docs/real-world-objects.md.

use super::*;

pub const CASES: &[Case] = &[];
