//! Programs and their types; the section-name table that gives the types is in
//! [`sections`].

mod sections;

pub use sections::program_type_for_section;

use crate::insn::Insn;
use crate::reloc::Relocation;

/// What the kernel needs to know about a program beyond its instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramType {
    /// `BPF_PROG_TYPE_XDP`.
    Xdp {
        /// Where the program attaches (`expected_attach_type`).
        attach: XdpAttach,
        /// `xdp.frags`: the program handles multi-buffer packets (`BPF_F_XDP_HAS_FRAGS`).
        frags: bool,
    },
    /// Any other type this loader loads as it is: nothing to resolve before
    /// `BPF_PROG_LOAD` (no attach target in the kernel's BTF).
    Plain {
        /// The type's name, as `bpftool prog show` prints it.
        kind: &'static str,
        /// `enum bpf_prog_type`.
        prog_type: u32,
        /// `enum bpf_attach_type` the kernel checks at load time, or 0.
        expected_attach_type: u32,
        /// `.s` sections: `BPF_F_SLEEPABLE`.
        sleepable: bool,
    },
    /// A type whose load names its attach target by BTF id (libbpf's `SEC_ATTACH_BTF`
    /// rows: tp_btf, fentry, fexit, fmod_ret, lsm, iter, freplace): the loader looks the
    /// section's suffix up, as [`AttachBtf`] says, before `BPF_PROG_LOAD`.
    AttachBtf {
        /// The type's name, as `bpftool prog show` prints it (`tracing`, `lsm`, `ext`).
        kind: &'static str,
        /// `enum bpf_prog_type`.
        prog_type: u32,
        /// `enum bpf_attach_type`, checked by the kernel at load time.
        expected_attach_type: u32,
        /// `.s` sections: `BPF_F_SLEEPABLE`.
        sleepable: bool,
        /// How the target is found.
        attach: AttachBtf,
    },
    /// Recognised, but this loader does not load it; the name is libbpf's.
    Unsupported { kind: &'static str },
    /// An executable section whose name is in no row of the table: libbpf 1.x refuses
    /// to guess a type for it, and so does this loader.
    Unknown,
}

/// How a program's attach target is named in BTF: the section's suffix, after
/// `prefix`, as a `FUNC` (or, for tp_btf, the `TYPEDEF` of the tracepoint's function
/// pointer), in the kernel's BTF or in another BPF program's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachBtf {
    /// What libbpf puts before the suffix: `btf_trace_`, `bpf_lsm_`, `bpf_iter_` or "".
    pub prefix: &'static str,
    /// The target is a `TYPEDEF` (tp_btf), not a `FUNC`.
    pub typedef: bool,
    /// Where the target may be.
    pub targets: AttachTargets,
}

/// Where an attach target may live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachTargets {
    /// Only the kernel (vmlinux or a module): tp_btf, fmod_ret, lsm, iter.
    Kernel,
    /// The kernel, or a function of a loaded BPF program when one is named (fentry, fexit).
    KernelOrProgram,
    /// Only a BPF program's function (freplace).
    Program,
}

/// The attach target a section names: everything after the first `/` (`fentry/do_unlinkat`
/// names `do_unlinkat`), or `None` when there is nothing after it.
pub fn attach_target_name(section: &str) -> Option<&str> {
    section
        .split_once('/')
        .map(|(_, target)| target)
        .filter(|target| !target.is_empty())
}

/// `expected_attach_type` of an XDP program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpAttach {
    /// `BPF_XDP`: an interface.
    Interface,
    /// `BPF_XDP_DEVMAP`: runs on redirect into a devmap entry.
    Devmap,
    /// `BPF_XDP_CPUMAP`: runs on redirect into a cpumap entry.
    Cpumap,
}

impl ProgramType {
    /// The type's name as users know it (and as `bpftool prog show` prints XDP).
    pub fn name(self) -> &'static str {
        match self {
            ProgramType::Xdp { .. } => "XDP",
            ProgramType::Plain { kind, .. }
            | ProgramType::AttachBtf { kind, .. }
            | ProgramType::Unsupported { kind } => kind,
            ProgramType::Unknown => "unknown",
        }
    }
}

/// One program: a function symbol in an executable section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSpec {
    /// The function symbol's name; the kernel keeps the first 15 bytes.
    pub name: String,
    /// The ELF section the program lives in, by name and index.
    pub section: String,
    pub section_index: usize,
    pub program_type: ProgramType,
    /// Byte offset of the first instruction inside the section.
    pub section_offset: u64,
    pub insns: Vec<Insn>,
    /// Relocations with instruction indexes relative to this program.
    pub relocations: Vec<Relocation>,
}

impl ProgramSpec {
    /// Size in bytes, as `bpftool prog show` reports `xlated`-before-rewrites.
    pub fn size_bytes(&self) -> usize {
        self.insns.len() * crate::insn::INSN_SIZE
    }
}
