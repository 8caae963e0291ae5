//! The table's rows, checked against libbpf's `section_defs[]`.

use super::program_type_for_section;
use crate::program::{attach_target_name, AttachTargets, ProgramType, XdpAttach};

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

#[test]
fn the_rest_of_libbpfs_table_loads_with_its_type_and_attach_type() {
    for (section, expected) in [
        ("kprobe.multi/tcp_*", ("kprobe", 2, 42, false)),
        ("kretprobe.multi", ("kprobe", 2, 42, false)),
        ("uprobe.multi//bin/true:*", ("kprobe", 2, 48, false)),
        ("uprobe.multi.s//bin/true:main", ("kprobe", 2, 48, true)),
        ("usdt.s/x:y:z", ("kprobe", 2, 0, true)),
        ("tc/ingress", ("sched_cls", 3, 46, false)),
        ("tcx/egress", ("sched_cls", 3, 47, false)),
        ("tc/anything_else", ("sched_cls", 3, 0, false)),
        ("netkit/peer", ("sched_cls", 3, 55, false)),
        ("tp.s/syscalls/sys_enter_x", ("tracepoint", 5, 0, true)),
        (
            "raw_tp.w/bpf_test_finish",
            ("raw_tracepoint_writable", 24, 0, false),
        ),
        (
            "raw_tracepoint.w",
            ("raw_tracepoint_writable", 24, 0, false),
        ),
        ("sk_reuseport", ("sk_reuseport", 21, 39, false)),
        ("sk_reuseport/migrate", ("sk_reuseport", 21, 40, false)),
        ("sk_skb/stream_parser", ("sk_skb", 14, 4, false)),
        ("sk_skb/verdict", ("sk_skb", 14, 38, false)),
        ("sk_skb", ("sk_skb", 14, 0, false)),
        ("lirc_mode2", ("lirc_mode2", 20, 16, false)),
        ("cgroup_skb/ingress", ("cgroup_skb", 8, 0, false)),
        ("cgroup_skb/egress", ("cgroup_skb", 8, 1, false)),
        ("cgroup/skb", ("cgroup_skb", 8, 0, false)),
        ("cgroup/sock", ("cgroup_sock", 9, 2, false)),
        ("cgroup/sock_release", ("cgroup_sock", 9, 34, false)),
        ("cgroup/post_bind6", ("cgroup_sock", 9, 13, false)),
        ("cgroup/connect4", ("cgroup_sock_addr", 18, 10, false)),
        ("cgroup/recvmsg6", ("cgroup_sock_addr", 18, 20, false)),
        (
            "cgroup/getsockname_unix",
            ("cgroup_sock_addr", 18, 53, false),
        ),
        ("cgroup/sysctl", ("cgroup_sysctl", 23, 18, false)),
        ("cgroup/setsockopt", ("cgroup_sockopt", 25, 22, false)),
        ("cgroup/dev", ("cgroup_device", 15, 6, false)),
        ("netfilter", ("netfilter", 32, 45, false)),
        ("sockops", ("sock_ops", 13, 3, false)),
        ("sk_msg", ("sk_msg", 16, 7, false)),
        ("flow_dissector", ("flow_dissector", 22, 17, false)),
    ] {
        assert_eq!(plain_type(section), Some(expected), "{section}");
    }
}

#[test]
fn names_no_row_knows_have_no_type() {
    // libbpf 1.x matches these rows exactly: anything after them is another name.
    for section in [
        "cgroup/unknown_hook",
        "cgroup_skb/sideways",
        "sk_skb/parser",
        "sockops/x",
        "netfilter/x",
        "lirc_mode2x",
        "mysection",
        "kprobe.multix",
    ] {
        assert_eq!(program_type_for_section(section), None, "{section}");
    }
    assert_eq!(
        program_type_for_section("struct_ops/dctcp_init"),
        Some(ProgramType::Unsupported { kind: "struct_ops" })
    );
}

#[test]
fn lsm_cgroup_names_its_hook_as_lsm_does() {
    let Some(ProgramType::AttachBtf {
        kind,
        prog_type,
        expected_attach_type,
        attach,
        ..
    }) = program_type_for_section("lsm_cgroup/socket_bind")
    else {
        panic!("lsm_cgroup is an attach-BTF row");
    };
    assert_eq!((kind, prog_type, expected_attach_type), ("lsm", 29, 43));
    assert_eq!(attach.prefix, "bpf_lsm_");
    assert_eq!(attach.targets, AttachTargets::Kernel);
}
