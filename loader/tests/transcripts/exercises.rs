//! The transcripts of docs/exercises.md.

use super::*;

pub const CASES: &[Case] = &[];
