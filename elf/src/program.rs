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
    /// Recognised, but this loader does not load it; the name is libbpf's.
    Unsupported { kind: &'static str },
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
            ProgramType::Unsupported { kind } => kind,
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
    other("socket", Match::OptionalSuffix, "socket filter"),
    other("kprobe/", Match::Prefix, "kprobe"),
    other("uprobe", Match::OptionalSuffix, "uprobe"),
    other("kretprobe/", Match::Prefix, "kretprobe"),
    other("uretprobe", Match::OptionalSuffix, "uretprobe"),
    other("tc", Match::OptionalSuffix, "sched_cls (tc)"),
    other("classifier", Match::OptionalSuffix, "sched_cls (tc)"),
    other("action", Match::OptionalSuffix, "sched_act"),
    other("tracepoint/", Match::Prefix, "tracepoint"),
    other("tp/", Match::Prefix, "tracepoint"),
    other("raw_tracepoint/", Match::Prefix, "raw tracepoint"),
    other("raw_tp/", Match::Prefix, "raw tracepoint"),
    other("tp_btf/", Match::Prefix, "BTF tracepoint"),
    other("fentry/", Match::Prefix, "fentry"),
    other("fexit/", Match::Prefix, "fexit"),
    other("fmod_ret/", Match::Prefix, "fmod_ret"),
    other("lsm/", Match::Prefix, "LSM"),
    other("iter/", Match::Prefix, "iterator"),
    other("syscall", Match::Exact, "syscall"),
    other("cgroup_skb/", Match::Prefix, "cgroup skb"),
    other("cgroup/", Match::Prefix, "cgroup"),
    other("sockops", Match::Exact, "sock_ops"),
    other("sk_skb", Match::OptionalSuffix, "sk_skb"),
    other("sk_msg", Match::Exact, "sk_msg"),
    other("lwt_in", Match::Exact, "lwt_in"),
    other("lwt_out", Match::Exact, "lwt_out"),
    other("lwt_xmit", Match::Exact, "lwt_xmit"),
    other("lwt_seg6local", Match::Exact, "lwt_seg6local"),
    other("perf_event", Match::Exact, "perf_event"),
    other("struct_ops", Match::OptionalSuffix, "struct_ops"),
    other("sk_lookup", Match::Exact, "sk_lookup"),
    other("netfilter", Match::Exact, "netfilter"),
    other("flow_dissector", Match::Exact, "flow_dissector"),
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

    #[test]
    fn other_types_are_named() {
        assert_eq!(
            program_type_for_section("kprobe/do_sys_open"),
            Some(ProgramType::Unsupported { kind: "kprobe" })
        );
        assert_eq!(
            program_type_for_section("tc"),
            Some(ProgramType::Unsupported {
                kind: "sched_cls (tc)"
            })
        );
    }
}
