//! Parse an eBPF ELF object into plain data: programs split by function symbol,
//! maps from BTF `.maps` and legacy `maps`, relocations, BTF and the license.
//!
//! Pure: input is a byte slice, output is owned data. No syscalls, no files.
#![forbid(unsafe_code)]

pub mod btf;
mod error;
pub mod insn;
pub mod kconfig;
pub mod ksym;
mod link;
mod map;
mod object;
pub mod program;
pub mod reloc;
pub mod section;
pub mod trace_target;
pub mod uprobe;

pub use crate::error::ParseError;
pub use crate::link::{LinkError, LinkedCoreRelo, LinkedProgram, PlacedFunction};
pub use crate::map::{DataKind, InitialSlot, MapOrigin, MapSpec, Pinning};
pub use crate::object::{CodeSection, Function, Object, EM_BPF};
pub use crate::program::{
    attach_target_name, AttachBtf, AttachTargets, ProgramSpec, ProgramType, XdpAttach,
};
pub use crate::reloc::{RelocTarget, Relocation, UnsupportedFeature};
pub use crate::section::{SectionInfo, SectionKind};
pub use crate::trace_target::{trace_target, TargetError, TraceTarget};
