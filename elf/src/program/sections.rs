//! The section-name table: one static table, like libbpf's `section_defs[]`, and
//! written the way libbpf writes it: a name ending in `+` also matches the name
//! followed by `/` and anything, one ending in `/` matches anything after it, any
//! other name matches only itself. The first matching row wins, so longer names come
//! before the shorter ones they start with.

use super::{AttachBtf, AttachTargets, ProgramType, XdpAttach};

// From include/uapi/linux/bpf.h: `enum bpf_prog_type`.
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;
const BPF_PROG_TYPE_KPROBE: u32 = 2;
const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
const BPF_PROG_TYPE_SCHED_ACT: u32 = 4;
const BPF_PROG_TYPE_TRACEPOINT: u32 = 5;
const BPF_PROG_TYPE_PERF_EVENT: u32 = 7;
const BPF_PROG_TYPE_CGROUP_SKB: u32 = 8;
const BPF_PROG_TYPE_CGROUP_SOCK: u32 = 9;
const BPF_PROG_TYPE_LWT_IN: u32 = 10;
const BPF_PROG_TYPE_LWT_OUT: u32 = 11;
const BPF_PROG_TYPE_LWT_XMIT: u32 = 12;
const BPF_PROG_TYPE_SOCK_OPS: u32 = 13;
const BPF_PROG_TYPE_SK_SKB: u32 = 14;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_PROG_TYPE_SK_MSG: u32 = 16;
const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;
const BPF_PROG_TYPE_CGROUP_SOCK_ADDR: u32 = 18;
const BPF_PROG_TYPE_LWT_SEG6LOCAL: u32 = 19;
const BPF_PROG_TYPE_LIRC_MODE2: u32 = 20;
const BPF_PROG_TYPE_SK_REUSEPORT: u32 = 21;
const BPF_PROG_TYPE_FLOW_DISSECTOR: u32 = 22;
const BPF_PROG_TYPE_CGROUP_SYSCTL: u32 = 23;
const BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE: u32 = 24;
const BPF_PROG_TYPE_CGROUP_SOCKOPT: u32 = 25;
const BPF_PROG_TYPE_TRACING: u32 = 26;
const BPF_PROG_TYPE_EXT: u32 = 28;
const BPF_PROG_TYPE_LSM: u32 = 29;
const BPF_PROG_TYPE_SK_LOOKUP: u32 = 30;
const BPF_PROG_TYPE_SYSCALL: u32 = 31;
const BPF_PROG_TYPE_NETFILTER: u32 = 32;

// `enum bpf_attach_type`, for the rows where libbpf passes one at load time
// (SEC_ATTACHABLE, SEC_ATTACHABLE_OPT and SEC_ATTACH_BTF rows, and the multi-probes).
const BPF_CGROUP_INET_INGRESS: u32 = 0;
const BPF_CGROUP_INET_EGRESS: u32 = 1;
const BPF_CGROUP_INET_SOCK_CREATE: u32 = 2;
const BPF_CGROUP_SOCK_OPS: u32 = 3;
const BPF_SK_SKB_STREAM_PARSER: u32 = 4;
const BPF_SK_SKB_STREAM_VERDICT: u32 = 5;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_SK_MSG_VERDICT: u32 = 7;
const BPF_CGROUP_INET4_BIND: u32 = 8;
const BPF_CGROUP_INET6_BIND: u32 = 9;
const BPF_CGROUP_INET4_CONNECT: u32 = 10;
const BPF_CGROUP_INET6_CONNECT: u32 = 11;
const BPF_CGROUP_INET4_POST_BIND: u32 = 12;
const BPF_CGROUP_INET6_POST_BIND: u32 = 13;
const BPF_CGROUP_UDP4_SENDMSG: u32 = 14;
const BPF_CGROUP_UDP6_SENDMSG: u32 = 15;
const BPF_LIRC_MODE2: u32 = 16;
const BPF_FLOW_DISSECTOR: u32 = 17;
const BPF_CGROUP_SYSCTL: u32 = 18;
const BPF_CGROUP_UDP4_RECVMSG: u32 = 19;
const BPF_CGROUP_UDP6_RECVMSG: u32 = 20;
const BPF_CGROUP_GETSOCKOPT: u32 = 21;
const BPF_CGROUP_SETSOCKOPT: u32 = 22;
const BPF_TRACE_RAW_TP: u32 = 23;
const BPF_TRACE_FENTRY: u32 = 24;
const BPF_TRACE_FEXIT: u32 = 25;
const BPF_MODIFY_RETURN: u32 = 26;
const BPF_LSM_MAC: u32 = 27;
const BPF_TRACE_ITER: u32 = 28;
const BPF_CGROUP_INET4_GETPEERNAME: u32 = 29;
const BPF_CGROUP_INET6_GETPEERNAME: u32 = 30;
const BPF_CGROUP_INET4_GETSOCKNAME: u32 = 31;
const BPF_CGROUP_INET6_GETSOCKNAME: u32 = 32;
const BPF_CGROUP_INET_SOCK_RELEASE: u32 = 34;
const BPF_SK_LOOKUP: u32 = 36;
const BPF_SK_SKB_VERDICT: u32 = 38;
const BPF_SK_REUSEPORT_SELECT: u32 = 39;
const BPF_SK_REUSEPORT_SELECT_OR_MIGRATE: u32 = 40;
const BPF_TRACE_KPROBE_MULTI: u32 = 42;
const BPF_LSM_CGROUP: u32 = 43;
const BPF_NETFILTER: u32 = 45;
const BPF_TCX_INGRESS: u32 = 46;
const BPF_TCX_EGRESS: u32 = 47;
const BPF_TRACE_UPROBE_MULTI: u32 = 48;
const BPF_CGROUP_UNIX_CONNECT: u32 = 49;
const BPF_CGROUP_UNIX_SENDMSG: u32 = 50;
const BPF_CGROUP_UNIX_RECVMSG: u32 = 51;
const BPF_CGROUP_UNIX_GETPEERNAME: u32 = 52;
const BPF_CGROUP_UNIX_GETSOCKNAME: u32 = 53;
const BPF_NETKIT_PRIMARY: u32 = 54;
const BPF_NETKIT_PEER: u32 = 55;

struct SectionDef {
    /// libbpf's spelling: `name+`, `name/` or `name` (see the module's comment).
    name: &'static str,
    program_type: ProgramType,
}

impl SectionDef {
    fn matches(&self, section: &str) -> bool {
        if let Some(name) = self.name.strip_suffix('+') {
            section == name
                || section
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('/'))
        } else if self.name.ends_with('/') {
            section.starts_with(self.name)
        } else {
            section == self.name
        }
    }
}

const fn xdp(name: &'static str, attach: XdpAttach, frags: bool) -> SectionDef {
    SectionDef {
        name,
        program_type: ProgramType::Xdp { attach, frags },
    }
}

/// A row loaded as it is: type, expected attach type (0: none), not sleepable.
const fn plain(name: &'static str, kind: &'static str, prog_type: u32, attach: u32) -> SectionDef {
    SectionDef {
        name,
        program_type: ProgramType::Plain {
            kind,
            prog_type,
            expected_attach_type: attach,
            sleepable: false,
        },
    }
}

/// A `.s` row: as [`plain`], loaded with `BPF_F_SLEEPABLE`.
const fn sleepable(
    name: &'static str,
    kind: &'static str,
    prog_type: u32,
    attach: u32,
) -> SectionDef {
    SectionDef {
        name,
        program_type: ProgramType::Plain {
            kind,
            prog_type,
            expected_attach_type: attach,
            sleepable: true,
        },
    }
}

/// How libbpf names each kind of BTF attach target.
const KERNEL_FUNC: AttachBtf = AttachBtf {
    prefix: "",
    typedef: false,
    targets: AttachTargets::Kernel,
};
const KERNEL_OR_PROGRAM_FUNC: AttachBtf = AttachBtf {
    prefix: "",
    typedef: false,
    targets: AttachTargets::KernelOrProgram,
};
const PROGRAM_FUNC: AttachBtf = AttachBtf {
    prefix: "",
    typedef: false,
    targets: AttachTargets::Program,
};
/// tp_btf: the `btf_trace_<tracepoint>` typedef of the tracepoint's function pointer.
const TRACEPOINT_TYPEDEF: AttachBtf = AttachBtf {
    prefix: "btf_trace_",
    typedef: true,
    targets: AttachTargets::Kernel,
};
const LSM_HOOK: AttachBtf = AttachBtf {
    prefix: "bpf_lsm_",
    typedef: false,
    targets: AttachTargets::Kernel,
};
const ITERATOR: AttachBtf = AttachBtf {
    prefix: "bpf_iter_",
    typedef: false,
    targets: AttachTargets::Kernel,
};

/// One `SEC_ATTACH_BTF` row: `name` ends in `/`, what follows it names the target.
const fn attach_btf(
    name: &'static str,
    kind: &'static str,
    prog_type: u32,
    attach_type: u32,
    sleepable: bool,
    attach: AttachBtf,
) -> SectionDef {
    SectionDef {
        name,
        program_type: ProgramType::AttachBtf {
            kind,
            prog_type,
            expected_attach_type: attach_type,
            sleepable,
            attach,
        },
    }
}

const fn unsupported(name: &'static str, kind: &'static str) -> SectionDef {
    SectionDef {
        name,
        program_type: ProgramType::Unsupported { kind },
    }
}

const KPROBE: u32 = BPF_PROG_TYPE_KPROBE;
const SOCK_ADDR: u32 = BPF_PROG_TYPE_CGROUP_SOCK_ADDR;
const TRACING: u32 = BPF_PROG_TYPE_TRACING;

#[rustfmt::skip]
static SECTION_DEFS: &[SectionDef] = &[
    plain("socket+", "socket_filter", BPF_PROG_TYPE_SOCKET_FILTER, 0),
    plain("sk_reuseport/migrate", "sk_reuseport", BPF_PROG_TYPE_SK_REUSEPORT, BPF_SK_REUSEPORT_SELECT_OR_MIGRATE),
    plain("sk_reuseport", "sk_reuseport", BPF_PROG_TYPE_SK_REUSEPORT, BPF_SK_REUSEPORT_SELECT),
    plain("kprobe+", "kprobe", KPROBE, 0),
    plain("uprobe+", "kprobe", KPROBE, 0),
    sleepable("uprobe.s+", "kprobe", KPROBE, 0),
    plain("kretprobe+", "kprobe", KPROBE, 0),
    plain("uretprobe+", "kprobe", KPROBE, 0),
    sleepable("uretprobe.s+", "kprobe", KPROBE, 0),
    plain("kprobe.multi+", "kprobe", KPROBE, BPF_TRACE_KPROBE_MULTI),
    plain("kretprobe.multi+", "kprobe", KPROBE, BPF_TRACE_KPROBE_MULTI),
    plain("uprobe.multi+", "kprobe", KPROBE, BPF_TRACE_UPROBE_MULTI),
    plain("uretprobe.multi+", "kprobe", KPROBE, BPF_TRACE_UPROBE_MULTI),
    sleepable("uprobe.multi.s+", "kprobe", KPROBE, BPF_TRACE_UPROBE_MULTI),
    sleepable("uretprobe.multi.s+", "kprobe", KPROBE, BPF_TRACE_UPROBE_MULTI),
    // Plain kprobes to the kernel: the syscall name, the USDT probe (and its arguments,
    // read through the `__bpf_usdt_specs` map) are attach-time matters.
    plain("ksyscall+", "kprobe", KPROBE, 0),
    plain("kretsyscall+", "kprobe", KPROBE, 0),
    plain("usdt+", "kprobe", KPROBE, 0),
    sleepable("usdt.s+", "kprobe", KPROBE, 0),
    // libbpf 1.3 and later: `tc/ingress` and `tc/egress` are tcx's, not legacy tc's.
    plain("tc/ingress", "sched_cls", BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_INGRESS),
    plain("tc/egress", "sched_cls", BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_EGRESS),
    plain("tcx/ingress", "sched_cls", BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_INGRESS),
    plain("tcx/egress", "sched_cls", BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_EGRESS),
    plain("tc+", "sched_cls", BPF_PROG_TYPE_SCHED_CLS, 0),
    plain("classifier+", "sched_cls", BPF_PROG_TYPE_SCHED_CLS, 0),
    plain("action+", "sched_act", BPF_PROG_TYPE_SCHED_ACT, 0),
    plain("netkit/primary", "sched_cls", BPF_PROG_TYPE_SCHED_CLS, BPF_NETKIT_PRIMARY),
    plain("netkit/peer", "sched_cls", BPF_PROG_TYPE_SCHED_CLS, BPF_NETKIT_PEER),
    plain("tracepoint+", "tracepoint", BPF_PROG_TYPE_TRACEPOINT, 0),
    plain("tp+", "tracepoint", BPF_PROG_TYPE_TRACEPOINT, 0),
    sleepable("tracepoint.s+", "tracepoint", BPF_PROG_TYPE_TRACEPOINT, 0),
    sleepable("tp.s+", "tracepoint", BPF_PROG_TYPE_TRACEPOINT, 0),
    plain("raw_tracepoint+", "raw_tracepoint", BPF_PROG_TYPE_RAW_TRACEPOINT, 0),
    plain("raw_tp+", "raw_tracepoint", BPF_PROG_TYPE_RAW_TRACEPOINT, 0),
    sleepable("raw_tracepoint.s+", "raw_tracepoint", BPF_PROG_TYPE_RAW_TRACEPOINT, 0),
    sleepable("raw_tp.s+", "raw_tracepoint", BPF_PROG_TYPE_RAW_TRACEPOINT, 0),
    plain("raw_tracepoint.w+", "raw_tracepoint_writable", BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE, 0),
    plain("raw_tp.w+", "raw_tracepoint_writable", BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE, 0),
    attach_btf("tp_btf/", "tracing", TRACING, BPF_TRACE_RAW_TP, false, TRACEPOINT_TYPEDEF),
    attach_btf("tp_btf.s/", "tracing", TRACING, BPF_TRACE_RAW_TP, true, TRACEPOINT_TYPEDEF),
    attach_btf("fentry/", "tracing", TRACING, BPF_TRACE_FENTRY, false, KERNEL_OR_PROGRAM_FUNC),
    attach_btf("fmod_ret/", "tracing", TRACING, BPF_MODIFY_RETURN, false, KERNEL_FUNC),
    attach_btf("fexit/", "tracing", TRACING, BPF_TRACE_FEXIT, false, KERNEL_OR_PROGRAM_FUNC),
    attach_btf("fentry.s/", "tracing", TRACING, BPF_TRACE_FENTRY, true, KERNEL_OR_PROGRAM_FUNC),
    attach_btf("fmod_ret.s/", "tracing", TRACING, BPF_MODIFY_RETURN, true, KERNEL_FUNC),
    attach_btf("fexit.s/", "tracing", TRACING, BPF_TRACE_FEXIT, true, KERNEL_OR_PROGRAM_FUNC),
    attach_btf("freplace/", "ext", BPF_PROG_TYPE_EXT, 0, false, PROGRAM_FUNC),
    attach_btf("lsm/", "lsm", BPF_PROG_TYPE_LSM, BPF_LSM_MAC, false, LSM_HOOK),
    attach_btf("lsm.s/", "lsm", BPF_PROG_TYPE_LSM, BPF_LSM_MAC, true, LSM_HOOK),
    attach_btf("lsm_cgroup/", "lsm", BPF_PROG_TYPE_LSM, BPF_LSM_CGROUP, false, LSM_HOOK),
    attach_btf("iter/", "tracing", TRACING, BPF_TRACE_ITER, false, ITERATOR),
    attach_btf("iter.s/", "tracing", TRACING, BPF_TRACE_ITER, true, ITERATOR),
    sleepable("syscall", "syscall", BPF_PROG_TYPE_SYSCALL, 0),
    xdp("xdp.frags/devmap", XdpAttach::Devmap, true),
    xdp("xdp/devmap", XdpAttach::Devmap, false),
    xdp("xdp.frags/cpumap", XdpAttach::Cpumap, true),
    xdp("xdp/cpumap", XdpAttach::Cpumap, false),
    xdp("xdp.frags", XdpAttach::Interface, true),
    xdp("xdp+", XdpAttach::Interface, false),
    plain("perf_event", "perf_event", BPF_PROG_TYPE_PERF_EVENT, 0),
    plain("lwt_in", "lwt_in", BPF_PROG_TYPE_LWT_IN, 0),
    plain("lwt_out", "lwt_out", BPF_PROG_TYPE_LWT_OUT, 0),
    plain("lwt_xmit", "lwt_xmit", BPF_PROG_TYPE_LWT_XMIT, 0),
    plain("lwt_seg6local", "lwt_seg6local", BPF_PROG_TYPE_LWT_SEG6LOCAL, 0),
    plain("sockops", "sock_ops", BPF_PROG_TYPE_SOCK_OPS, BPF_CGROUP_SOCK_OPS),
    plain("sk_skb/stream_parser", "sk_skb", BPF_PROG_TYPE_SK_SKB, BPF_SK_SKB_STREAM_PARSER),
    plain("sk_skb/stream_verdict", "sk_skb", BPF_PROG_TYPE_SK_SKB, BPF_SK_SKB_STREAM_VERDICT),
    plain("sk_skb/verdict", "sk_skb", BPF_PROG_TYPE_SK_SKB, BPF_SK_SKB_VERDICT),
    plain("sk_skb", "sk_skb", BPF_PROG_TYPE_SK_SKB, 0),
    plain("sk_msg", "sk_msg", BPF_PROG_TYPE_SK_MSG, BPF_SK_MSG_VERDICT),
    plain("lirc_mode2", "lirc_mode2", BPF_PROG_TYPE_LIRC_MODE2, BPF_LIRC_MODE2),
    plain("flow_dissector", "flow_dissector", BPF_PROG_TYPE_FLOW_DISSECTOR, BPF_FLOW_DISSECTOR),
    plain("cgroup_skb/ingress", "cgroup_skb", BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_INGRESS),
    plain("cgroup_skb/egress", "cgroup_skb", BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_EGRESS),
    plain("cgroup/skb", "cgroup_skb", BPF_PROG_TYPE_CGROUP_SKB, 0),
    plain("cgroup/sock_create", "cgroup_sock", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_CREATE),
    plain("cgroup/sock_release", "cgroup_sock", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_RELEASE),
    plain("cgroup/sock", "cgroup_sock", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_CREATE),
    plain("cgroup/post_bind4", "cgroup_sock", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET4_POST_BIND),
    plain("cgroup/post_bind6", "cgroup_sock", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET6_POST_BIND),
    plain("cgroup/bind4", "cgroup_sock_addr", SOCK_ADDR, BPF_CGROUP_INET4_BIND),
    plain("cgroup/bind6", "cgroup_sock_addr", SOCK_ADDR, BPF_CGROUP_INET6_BIND),
    plain("cgroup/connect4", "cgroup_sock_addr", SOCK_ADDR, BPF_CGROUP_INET4_CONNECT),
    plain("cgroup/connect6", "cgroup_sock_addr", SOCK_ADDR, BPF_CGROUP_INET6_CONNECT),
    plain("cgroup/connect_unix", "cgroup_sock_addr", SOCK_ADDR, BPF_CGROUP_UNIX_CONNECT),
    plain("cgroup/sendmsg4", "cgroup_sock_addr", SOCK_ADDR, BPF_CGROUP_UDP4_SENDMSG),
    plain("cgroup/sendmsg6", "cgroup_sock_addr", SOCK_ADDR, BPF_CGROUP_UDP6_SENDMSG),
    plain("cgroup/sendmsg_unix", "cgroup_sock_addr", SOCK_ADDR, BPF_CGROUP_UNIX_SENDMSG),
    plain("cgroup/recvmsg4", "cgroup_sock_addr", SOCK_ADDR, BPF_CGROUP_UDP4_RECVMSG),
    plain("cgroup/recvmsg6", "cgroup_sock_addr", SOCK_ADDR, BPF_CGROUP_UDP6_RECVMSG),
    plain("cgroup/recvmsg_unix", "cgroup_sock_addr", SOCK_ADDR, BPF_CGROUP_UNIX_RECVMSG),
    plain("cgroup/getpeername4", "cgroup_sock_addr", SOCK_ADDR, BPF_CGROUP_INET4_GETPEERNAME),
    plain("cgroup/getpeername6", "cgroup_sock_addr", SOCK_ADDR, BPF_CGROUP_INET6_GETPEERNAME),
    plain("cgroup/getpeername_unix", "cgroup_sock_addr", SOCK_ADDR, BPF_CGROUP_UNIX_GETPEERNAME),
    plain("cgroup/getsockname4", "cgroup_sock_addr", SOCK_ADDR, BPF_CGROUP_INET4_GETSOCKNAME),
    plain("cgroup/getsockname6", "cgroup_sock_addr", SOCK_ADDR, BPF_CGROUP_INET6_GETSOCKNAME),
    plain("cgroup/getsockname_unix", "cgroup_sock_addr", SOCK_ADDR, BPF_CGROUP_UNIX_GETSOCKNAME),
    plain("cgroup/sysctl", "cgroup_sysctl", BPF_PROG_TYPE_CGROUP_SYSCTL, BPF_CGROUP_SYSCTL),
    plain("cgroup/getsockopt", "cgroup_sockopt", BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_CGROUP_GETSOCKOPT),
    plain("cgroup/setsockopt", "cgroup_sockopt", BPF_PROG_TYPE_CGROUP_SOCKOPT, BPF_CGROUP_SETSOCKOPT),
    plain("cgroup/dev", "cgroup_device", BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE),
    // Its programs are the members of a struct_ops map, loaded with that map's BTF.
    unsupported("struct_ops+", "struct_ops"),
    unsupported("struct_ops.s+", "struct_ops"),
    plain("sk_lookup", "sk_lookup", BPF_PROG_TYPE_SK_LOOKUP, BPF_SK_LOOKUP),
    plain("netfilter", "netfilter", BPF_PROG_TYPE_NETFILTER, BPF_NETFILTER),
];

/// The program type for an executable section, or `None` when no row names it (then
/// neither libbpf nor this loader knows what to load it as).
pub fn program_type_for_section(section: &str) -> Option<ProgramType> {
    SECTION_DEFS
        .iter()
        .find(|def| def.matches(section))
        .map(|def| def.program_type)
}

#[cfg(test)]
#[path = "sections_tests.rs"]
mod tests;
