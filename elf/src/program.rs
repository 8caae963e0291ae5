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
    /// Recognised, but this loader does not load it; the name is libbpf's.
    Unsupported { kind: &'static str },
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
const BPF_PROG_TYPE_SK_LOOKUP: u32 = 30;
const BPF_PROG_TYPE_SYSCALL: u32 = 31;
// `enum bpf_attach_type`, for the types the kernel wants it for at load time (libbpf's
// SEC_ATTACHABLE and SEC_ATTACHABLE_OPT rows).
const BPF_CGROUP_SOCK_OPS: u32 = 3;
const BPF_SK_MSG_VERDICT: u32 = 7;
const BPF_FLOW_DISSECTOR: u32 = 17;
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
            ProgramType::Plain { kind, .. } | ProgramType::Unsupported { kind } => kind,
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
    other("tp_btf/", Match::Prefix, "BTF tracepoint"),
    other("fentry/", Match::Prefix, "fentry"),
    other("fexit/", Match::Prefix, "fexit"),
    other("fmod_ret/", Match::Prefix, "fmod_ret"),
    other("lsm/", Match::Prefix, "LSM"),
    other("iter/", Match::Prefix, "iterator"),
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
    fn types_that_need_an_attach_target_stay_refused_by_name() {
        for (section, kind) in [
            ("fentry/bpf_prog_run", "fentry"),
            ("tp_btf/xdp_exception", "BTF tracepoint"),
            ("lsm/file_open", "LSM"),
        ] {
            assert_eq!(
                program_type_for_section(section),
                Some(ProgramType::Unsupported { kind }),
                "{section}"
            );
        }
        // Not a prefix match: "kprobex" is no kprobe section.
        assert_eq!(program_type_for_section("kprobex"), None);
        assert_eq!(program_type_for_section("tpx"), None);
    }
}
