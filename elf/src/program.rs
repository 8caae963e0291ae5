//! Program types from section names: one static table, like libbpf's `section_defs[]`.

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

// From include/uapi/linux/bpf.h: `enum bpf_prog_type`.
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;
const BPF_PROG_TYPE_KPROBE: u32 = 2;
const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
const BPF_PROG_TYPE_SCHED_ACT: u32 = 4;
const BPF_PROG_TYPE_TRACEPOINT: u32 = 5;
const BPF_PROG_TYPE_PERF_EVENT: u32 = 7;
const BPF_PROG_TYPE_LWT_IN: u32 = 10;
const BPF_PROG_TYPE_LWT_OUT: u32 = 11;
const BPF_PROG_TYPE_LWT_XMIT: u32 = 12;
const BPF_PROG_TYPE_SOCK_OPS: u32 = 13;
const BPF_PROG_TYPE_SK_MSG: u32 = 16;
const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;
const BPF_PROG_TYPE_LWT_SEG6LOCAL: u32 = 19;
const BPF_PROG_TYPE_FLOW_DISSECTOR: u32 = 22;
const BPF_PROG_TYPE_TRACING: u32 = 26;
const BPF_PROG_TYPE_EXT: u32 = 28;
const BPF_PROG_TYPE_LSM: u32 = 29;
const BPF_PROG_TYPE_SK_LOOKUP: u32 = 30;
const BPF_PROG_TYPE_SYSCALL: u32 = 31;
// `enum bpf_attach_type`, for the types the kernel wants it for at load time (libbpf's
// SEC_ATTACHABLE and SEC_ATTACHABLE_OPT rows).
const BPF_CGROUP_SOCK_OPS: u32 = 3;
const BPF_SK_MSG_VERDICT: u32 = 7;
const BPF_FLOW_DISSECTOR: u32 = 17;
const BPF_TRACE_RAW_TP: u32 = 23;
const BPF_TRACE_FENTRY: u32 = 24;
const BPF_TRACE_FEXIT: u32 = 25;
const BPF_MODIFY_RETURN: u32 = 26;
const BPF_LSM_MAC: u32 = 27;
const BPF_TRACE_ITER: u32 = 28;
const BPF_SK_LOOKUP: u32 = 36;

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
        }
    }
}

/// How a table entry matches a section name.
#[derive(Clone, Copy)]
enum Match {
    /// The whole name.
    Exact,
    /// The name, or the name followed by `/` and anything.
    OptionalSuffix,
    /// The name followed by anything (the entry ends in `/`).
    Prefix,
}

struct SectionDef {
    name: &'static str,
    matching: Match,
    program_type: ProgramType,
}

const fn xdp(name: &'static str, matching: Match, attach: XdpAttach, frags: bool) -> SectionDef {
    SectionDef {
        name,
        matching,
        program_type: ProgramType::Xdp { attach, frags },
    }
}

const fn plain(
    name: &'static str,
    matching: Match,
    kind: &'static str,
    prog_type: u32,
    expected_attach_type: u32,
) -> SectionDef {
    SectionDef {
        name,
        matching,
        program_type: ProgramType::Plain {
            kind,
            prog_type,
            expected_attach_type,
            sleepable: false,
        },
    }
}

const fn sleepable(name: &'static str, kind: &'static str, prog_type: u32) -> SectionDef {
    SectionDef {
        name,
        matching: Match::OptionalSuffix,
        program_type: ProgramType::Plain {
            kind,
            prog_type,
            expected_attach_type: 0,
            sleepable: true,
        },
    }
}

/// One `SEC_ATTACH_BTF` row: `name` is the section prefix up to and including `/`.
#[allow(clippy::too_many_arguments)]
const fn attach_btf(
    name: &'static str,
    kind: &'static str,
    prog_type: u32,
    expected_attach_type: u32,
    sleepable: bool,
    prefix: &'static str,
    typedef: bool,
    targets: AttachTargets,
) -> SectionDef {
    SectionDef {
        name,
        matching: Match::Prefix,
        program_type: ProgramType::AttachBtf {
            kind,
            prog_type,
            expected_attach_type,
            sleepable,
            attach: AttachBtf {
                prefix,
                typedef,
                targets,
            },
        },
    }
}

const fn other(name: &'static str, matching: Match, kind: &'static str) -> SectionDef {
    SectionDef {
        name,
        matching,
        program_type: ProgramType::Unsupported { kind },
    }
}

/// Longer, more specific names first: the first match wins.
static SECTION_DEFS: &[SectionDef] = &[
    xdp("xdp.frags/devmap", Match::Exact, XdpAttach::Devmap, true),
    xdp("xdp/devmap", Match::Exact, XdpAttach::Devmap, false),
    xdp("xdp.frags/cpumap", Match::Exact, XdpAttach::Cpumap, true),
    xdp("xdp/cpumap", Match::Exact, XdpAttach::Cpumap, false),
    xdp("xdp.frags", Match::Exact, XdpAttach::Interface, true),
    xdp("xdp", Match::OptionalSuffix, XdpAttach::Interface, false),
    plain(
        "socket",
        Match::OptionalSuffix,
        "socket_filter",
        BPF_PROG_TYPE_SOCKET_FILTER,
        0,
    ),
    plain(
        "kprobe",
        Match::OptionalSuffix,
        "kprobe",
        BPF_PROG_TYPE_KPROBE,
        0,
    ),
    sleepable("uprobe.s", "kprobe", BPF_PROG_TYPE_KPROBE),
    plain(
        "uprobe",
        Match::OptionalSuffix,
        "kprobe",
        BPF_PROG_TYPE_KPROBE,
        0,
    ),
    plain(
        "kretprobe",
        Match::OptionalSuffix,
        "kprobe",
        BPF_PROG_TYPE_KPROBE,
        0,
    ),
    sleepable("uretprobe.s", "kprobe", BPF_PROG_TYPE_KPROBE),
    plain(
        "uretprobe",
        Match::OptionalSuffix,
        "kprobe",
        BPF_PROG_TYPE_KPROBE,
        0,
    ),
    // libbpf 1.1 loads these as plain kprobes too: the syscall name, the USDT probe
    // (and its arguments, read through the `__bpf_usdt_specs` map) are attach-time
    // matters.
    plain(
        "ksyscall",
        Match::OptionalSuffix,
        "kprobe",
        BPF_PROG_TYPE_KPROBE,
        0,
    ),
    plain(
        "kretsyscall",
        Match::OptionalSuffix,
        "kprobe",
        BPF_PROG_TYPE_KPROBE,
        0,
    ),
    plain(
        "usdt",
        Match::OptionalSuffix,
        "kprobe",
        BPF_PROG_TYPE_KPROBE,
        0,
    ),
    plain(
        "tc",
        Match::OptionalSuffix,
        "sched_cls",
        BPF_PROG_TYPE_SCHED_CLS,
        0,
    ),
    plain(
        "classifier",
        Match::OptionalSuffix,
        "sched_cls",
        BPF_PROG_TYPE_SCHED_CLS,
        0,
    ),
    plain(
        "action",
        Match::OptionalSuffix,
        "sched_act",
        BPF_PROG_TYPE_SCHED_ACT,
        0,
    ),
    plain(
        "tracepoint",
        Match::OptionalSuffix,
        "tracepoint",
        BPF_PROG_TYPE_TRACEPOINT,
        0,
    ),
    plain(
        "tp",
        Match::OptionalSuffix,
        "tracepoint",
        BPF_PROG_TYPE_TRACEPOINT,
        0,
    ),
    plain(
        "raw_tracepoint",
        Match::OptionalSuffix,
        "raw_tracepoint",
        BPF_PROG_TYPE_RAW_TRACEPOINT,
        0,
    ),
    plain(
        "raw_tp",
        Match::OptionalSuffix,
        "raw_tracepoint",
        BPF_PROG_TYPE_RAW_TRACEPOINT,
        0,
    ),
    attach_btf(
        "tp_btf/",
        "tracing",
        BPF_PROG_TYPE_TRACING,
        BPF_TRACE_RAW_TP,
        false,
        "btf_trace_",
        true,
        AttachTargets::Kernel,
    ),
    attach_btf(
        "fentry/",
        "tracing",
        BPF_PROG_TYPE_TRACING,
        BPF_TRACE_FENTRY,
        false,
        "",
        false,
        AttachTargets::KernelOrProgram,
    ),
    attach_btf(
        "fentry.s/",
        "tracing",
        BPF_PROG_TYPE_TRACING,
        BPF_TRACE_FENTRY,
        true,
        "",
        false,
        AttachTargets::KernelOrProgram,
    ),
    attach_btf(
        "fexit/",
        "tracing",
        BPF_PROG_TYPE_TRACING,
        BPF_TRACE_FEXIT,
        false,
        "",
        false,
        AttachTargets::KernelOrProgram,
    ),
    attach_btf(
        "fexit.s/",
        "tracing",
        BPF_PROG_TYPE_TRACING,
        BPF_TRACE_FEXIT,
        true,
        "",
        false,
        AttachTargets::KernelOrProgram,
    ),
    attach_btf(
        "fmod_ret/",
        "tracing",
        BPF_PROG_TYPE_TRACING,
        BPF_MODIFY_RETURN,
        false,
        "",
        false,
        AttachTargets::Kernel,
    ),
    attach_btf(
        "fmod_ret.s/",
        "tracing",
        BPF_PROG_TYPE_TRACING,
        BPF_MODIFY_RETURN,
        true,
        "",
        false,
        AttachTargets::Kernel,
    ),
    attach_btf(
        "lsm/",
        "lsm",
        BPF_PROG_TYPE_LSM,
        BPF_LSM_MAC,
        false,
        "bpf_lsm_",
        false,
        AttachTargets::Kernel,
    ),
    attach_btf(
        "lsm.s/",
        "lsm",
        BPF_PROG_TYPE_LSM,
        BPF_LSM_MAC,
        true,
        "bpf_lsm_",
        false,
        AttachTargets::Kernel,
    ),
    attach_btf(
        "iter/",
        "tracing",
        BPF_PROG_TYPE_TRACING,
        BPF_TRACE_ITER,
        false,
        "bpf_iter_",
        false,
        AttachTargets::Kernel,
    ),
    attach_btf(
        "iter.s/",
        "tracing",
        BPF_PROG_TYPE_TRACING,
        BPF_TRACE_ITER,
        true,
        "bpf_iter_",
        false,
        AttachTargets::Kernel,
    ),
    attach_btf(
        "freplace/",
        "ext",
        BPF_PROG_TYPE_EXT,
        0,
        false,
        "",
        false,
        AttachTargets::Program,
    ),
    sleepable("syscall", "syscall", BPF_PROG_TYPE_SYSCALL),
    other("cgroup_skb/", Match::Prefix, "cgroup skb"),
    other("cgroup/", Match::Prefix, "cgroup"),
    plain(
        "sockops",
        Match::Exact,
        "sock_ops",
        BPF_PROG_TYPE_SOCK_OPS,
        BPF_CGROUP_SOCK_OPS,
    ),
    other("sk_skb", Match::OptionalSuffix, "sk_skb"),
    plain(
        "sk_msg",
        Match::Exact,
        "sk_msg",
        BPF_PROG_TYPE_SK_MSG,
        BPF_SK_MSG_VERDICT,
    ),
    plain("lwt_in", Match::Exact, "lwt_in", BPF_PROG_TYPE_LWT_IN, 0),
    plain("lwt_out", Match::Exact, "lwt_out", BPF_PROG_TYPE_LWT_OUT, 0),
    plain(
        "lwt_xmit",
        Match::Exact,
        "lwt_xmit",
        BPF_PROG_TYPE_LWT_XMIT,
        0,
    ),
    plain(
        "lwt_seg6local",
        Match::Exact,
        "lwt_seg6local",
        BPF_PROG_TYPE_LWT_SEG6LOCAL,
        0,
    ),
    plain(
        "perf_event",
        Match::Exact,
        "perf_event",
        BPF_PROG_TYPE_PERF_EVENT,
        0,
    ),
    other("struct_ops", Match::OptionalSuffix, "struct_ops"),
    plain(
        "sk_lookup",
        Match::Exact,
        "sk_lookup",
        BPF_PROG_TYPE_SK_LOOKUP,
        BPF_SK_LOOKUP,
    ),
    other("netfilter", Match::Exact, "netfilter"),
    plain(
        "flow_dissector",
        Match::Exact,
        "flow_dissector",
        BPF_PROG_TYPE_FLOW_DISSECTOR,
        BPF_FLOW_DISSECTOR,
    ),
];

/// The program type for an executable section, or `None` when no entry names it.
pub fn program_type_for_section(section: &str) -> Option<ProgramType> {
    SECTION_DEFS.iter().find_map(|def| {
        let matches = match def.matching {
            Match::Exact => section == def.name,
            Match::OptionalSuffix => {
                section == def.name
                    || section
                        .strip_prefix(def.name)
                        .is_some_and(|rest| rest.starts_with('/'))
            }
            Match::Prefix => section.starts_with(def.name),
        };
        matches.then_some(def.program_type)
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdp_sections() {
        let plain = Some(ProgramType::Xdp {
            attach: XdpAttach::Interface,
            frags: false,
        });
        assert_eq!(program_type_for_section("xdp"), plain);
        assert_eq!(program_type_for_section("xdp/anything"), plain);
        assert_eq!(
            program_type_for_section("xdp.frags"),
            Some(ProgramType::Xdp {
                attach: XdpAttach::Interface,
                frags: true
            })
        );
        assert_eq!(
            program_type_for_section("xdp/devmap"),
            Some(ProgramType::Xdp {
                attach: XdpAttach::Devmap,
                frags: false
            })
        );
        assert_eq!(
            program_type_for_section("xdp.frags/cpumap"),
            Some(ProgramType::Xdp {
                attach: XdpAttach::Cpumap,
                frags: true
            })
        );
    }

    #[test]
    fn names_that_only_look_like_xdp_are_not_xdp() {
        assert_eq!(program_type_for_section("xdpfoo"), None);
        assert_eq!(program_type_for_section(".text"), None);
    }

    fn plain_type(section: &str) -> Option<(&'static str, u32, u32, bool)> {
        match program_type_for_section(section)? {
            ProgramType::Plain {
                kind,
                prog_type,
                expected_attach_type,
                sleepable,
            } => Some((kind, prog_type, expected_attach_type, sleepable)),
            _ => None,
        }
    }

    #[test]
    fn other_types_load_with_libbpfs_type_and_attach_type() {
        assert_eq!(
            plain_type("kprobe/do_sys_open"),
            Some(("kprobe", 2, 0, false))
        );
        assert_eq!(plain_type("kprobe"), Some(("kprobe", 2, 0, false)));
        assert_eq!(plain_type("kretprobe/x"), Some(("kprobe", 2, 0, false)));
        assert_eq!(
            plain_type("uprobe//bin/true:main"),
            Some(("kprobe", 2, 0, false))
        );
        assert_eq!(
            plain_type("uprobe.s//bin/true:main"),
            Some(("kprobe", 2, 0, true))
        );
        assert_eq!(plain_type("uretprobe.s"), Some(("kprobe", 2, 0, true)));
        assert_eq!(
            plain_type("usdt/./libjvm.so:hotspot:gc__begin"),
            Some(("kprobe", 2, 0, false))
        );
        assert_eq!(plain_type("usdt"), Some(("kprobe", 2, 0, false)));
        assert_eq!(plain_type("ksyscall/kill"), Some(("kprobe", 2, 0, false)));
        assert_eq!(plain_type("kretsyscall"), Some(("kprobe", 2, 0, false)));
        assert_eq!(plain_type("tc"), Some(("sched_cls", 3, 0, false)));
        assert_eq!(
            plain_type("classifier/ingress"),
            Some(("sched_cls", 3, 0, false))
        );
        assert_eq!(
            plain_type("tracepoint/xdp/xdp_exception"),
            Some(("tracepoint", 5, 0, false))
        );
        assert_eq!(
            plain_type("tp/xdp/xdp_redirect_err"),
            Some(("tracepoint", 5, 0, false))
        );
        assert_eq!(
            plain_type("raw_tp/xdp_exception"),
            Some(("raw_tracepoint", 17, 0, false))
        );
        assert_eq!(
            plain_type("raw_tracepoint/x"),
            Some(("raw_tracepoint", 17, 0, false))
        );
        assert_eq!(plain_type("socket"), Some(("socket_filter", 1, 0, false)));
        assert_eq!(plain_type("sk_lookup"), Some(("sk_lookup", 30, 36, false)));
        assert_eq!(plain_type("syscall"), Some(("syscall", 31, 0, true)));
    }

    #[test]
    fn attach_btf_sections_load_as_libbpf_resolves_them() {
        let attach_type = |section| match program_type_for_section(section) {
            Some(ProgramType::AttachBtf {
                kind,
                prog_type,
                expected_attach_type,
                sleepable,
                attach,
            }) => Some((
                kind,
                prog_type,
                expected_attach_type,
                sleepable,
                attach.prefix,
                attach.typedef,
                attach.targets,
            )),
            _ => None,
        };
        use AttachTargets::*;
        for (section, expected) in [
            (
                "tp_btf/xdp_exception",
                ("tracing", 26, 23, false, "btf_trace_", true, Kernel),
            ),
            (
                "fentry/bpf_prog_run",
                ("tracing", 26, 24, false, "", false, KernelOrProgram),
            ),
            (
                "fentry.s/x",
                ("tracing", 26, 24, true, "", false, KernelOrProgram),
            ),
            (
                "fexit/x",
                ("tracing", 26, 25, false, "", false, KernelOrProgram),
            ),
            (
                "fexit.s/x",
                ("tracing", 26, 25, true, "", false, KernelOrProgram),
            ),
            ("fmod_ret/x", ("tracing", 26, 26, false, "", false, Kernel)),
            ("fmod_ret.s/x", ("tracing", 26, 26, true, "", false, Kernel)),
            (
                "lsm/file_open",
                ("lsm", 29, 27, false, "bpf_lsm_", false, Kernel),
            ),
            (
                "lsm.s/file_open",
                ("lsm", 29, 27, true, "bpf_lsm_", false, Kernel),
            ),
            (
                "iter/task",
                ("tracing", 26, 28, false, "bpf_iter_", false, Kernel),
            ),
            (
                "iter.s/task",
                ("tracing", 26, 28, true, "bpf_iter_", false, Kernel),
            ),
            (
                "freplace/xdp_pass",
                ("ext", 28, 0, false, "", false, Program),
            ),
        ] {
            assert_eq!(attach_type(section), Some(expected), "{section}");
        }
        assert_eq!(
            attach_target_name("fentry.s/do_unlinkat"),
            Some("do_unlinkat")
        );
        assert_eq!(
            attach_target_name("iter/bpf_map_elem"),
            Some("bpf_map_elem")
        );
        assert_eq!(attach_target_name("fentry/"), None);
        // Not a prefix match: "kprobex" is no kprobe section.
        assert_eq!(program_type_for_section("kprobex"), None);
        assert_eq!(program_type_for_section("tpx"), None);
        assert_eq!(program_type_for_section("fentryx"), None);
    }
}
