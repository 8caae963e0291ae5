//! Programs whose load names an attach target by BTF id (tp_btf, fentry, fexit,
//! fmod_ret, lsm, iter): `-load-only` loads them as `bpftool prog loadall` does (same
//! types, names, tags, and the attach_btf_id of the kernel's own FUNC or TYPEDEF), `-trace`
//! attaches them and they count exactly, fentry and fexit on an XDP program named with
//! `-attach-prog`; a missing target or program is one sentence with nothing left behind.
//!
//! Kernels that refuse BPF trampolines (EPERM with no verifier log, to bpftool as to us:
//! this project's Firecracker VM under lockdown is one) cannot run fentry, fexit,
//! fmod_ret or lsm at all; there the tests check that the refusal is the one sentence
//! and exit code the docs give, and that bpftool is refused the same way.

use std::os::fd::AsFd;

use super::tracing::{
    array_values, attached_link_ids, call_getpid, counts_target, kernel_link_ids, trace_pinned,
    write_bss,
};
use super::*;

/// The sentence of a kernel that refuses trampolines (docs/tracing.md).
const TRAMPOLINE_REFUSED: &str =
    "runs through a BPF trampoline, which this kernel does not allow here";

/// `xdploader -file FIXTURE -load-only -pin-path DIR EXTRA...`.
fn load_only(fixture_name: &str, pins: &PinDir, extra: &[&str]) -> Output {
    let object = fixture(fixture_name);
    let mut args = vec![
        "-file",
        path_str(&object),
        "-load-only",
        "-pin-path",
        pins.as_str(),
    ];
    args.extend_from_slice(extra);
    run(xdploader(), &args)
}

/// The vmlinux BTF id of the `kind` (FUNC, TYPEDEF) named `name`, as bpftool dumps it.
fn vmlinux_id(kind: &str, name: &str) -> u32 {
    let dump = run_ok(
        "bpftool",
        &["btf", "dump", "file", "/sys/kernel/btf/vmlinux"],
    );
    let wanted = format!("] {kind} '{name}' ");
    dump.lines()
        .find(|line| line.contains(&wanted))
        .and_then(|line| line.strip_prefix('[')?.split(']').next()?.parse().ok())
        .unwrap_or_else(|| panic!("vmlinux has {kind} {name}"))
}

/// The kernel's view of a pinned program: (type as bpftool names it, tag, attach_btf_id).
fn pinned_program(pin: &Path) -> (String, String, u32) {
    let shown = bpftool_json(&["prog", "show", "pinned", path_str(pin)]);
    let fd = sys::obj::obj_get(pin).expect("open the pinned program");
    let info = sys::prog::prog_info(fd.as_fd()).expect("program info");
    (
        shown["type"].as_str().unwrap_or_default().to_string(),
        shown["tag"].as_str().unwrap_or_default().to_string(),
        info.attach_btf_id,
    )
}

/// `bpftool prog loadall OBJECT DIR`, for the same object; the pins are removed on drop.
fn bpftool_loadall(fixture_name: &str, tag: &str) -> (PinDir, Output) {
    let pins = PinDir::new(tag);
    // loadall creates the directory itself.
    let _ = std::fs::remove_dir(pins.as_str());
    let object = fixture(fixture_name);
    let output = run(
        "bpftool",
        &["prog", "loadall", path_str(&object), pins.as_str()],
    );
    (pins, output)
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn tp_btf_and_iter_load_as_bpftool_loads_them_with_the_kernels_btf_ids() {
    require_root();
    let pins = PinDir::new("btf-trace-load");
    let output = load_only("btf_trace", &pins, &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let (theirs, bpftool) = bpftool_loadall("btf_trace", "btf-trace-bpftool");
    assert!(bpftool.status.success(), "{}", describe(&bpftool));
    for (program, kind, name) in [
        ("btf_getpid", "TYPEDEF", "btf_trace_sys_enter"),
        ("map_iter", "FUNC", "bpf_iter_bpf_map"),
    ] {
        let ours = pinned_program(&pins.join(program));
        assert_eq!(ours, pinned_program(&theirs.join(program)), "{program}");
        assert_eq!(ours.0, "tracing", "{program}");
        assert_eq!(ours.2, vmlinux_id(kind, name), "{program}: {kind} {name}");
    }
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn every_btf_attach_type_loads_or_is_refused_as_bpftool_is() {
    require_root();
    let pins = PinDir::new("btf-attach-load");
    let output = load_only("btf_attach", &pins, &[]);
    let (theirs, bpftool) = bpftool_loadall("btf_attach", "btf-attach-bpftool");
    if bpftool.status.success() {
        assert!(output.status.success(), "{}", describe(&output));
        for (program, kind, kind_name, target) in [
            ("on_btf_tp", "tracing", "TYPEDEF", "btf_trace_sys_enter"),
            ("on_entry", "tracing", "FUNC", "do_nanosleep"),
            ("on_exit", "tracing", "FUNC", "do_nanosleep"),
            ("on_modret", "tracing", "FUNC", "bpf_modify_return_test"),
            ("on_open", "lsm", "FUNC", "bpf_lsm_file_open"),
            ("on_task", "tracing", "FUNC", "bpf_iter_task"),
        ] {
            let ours = pinned_program(&pins.join(program));
            assert_eq!(ours, pinned_program(&theirs.join(program)), "{program}");
            assert_eq!(ours.0, kind, "{program}");
            assert_eq!(ours.2, vmlinux_id(kind_name, target), "{program}");
        }
        return;
    }
    // This kernel refuses trampolines: bpftool fails on on_entry with EPERM, and so do we,
    // in one sentence, exit 3, nothing pinned.
    let theirs_said = String::from_utf8_lossy(&bpftool.stderr);
    assert!(
        theirs_said.contains("Operation not permitted"),
        "{}",
        describe(&bpftool)
    );
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("program on_entry in section `fentry/do_nanosleep`")
            && stderr.contains(TRAMPOLINE_REFUSED),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(pins.entries().is_empty(), "{:?}", pins.entries());
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_tp_btf_program_counts_exactly_an_iterator_link_reads_and_both_detach_when_unpinned() {
    require_root();
    let pins = PinDir::new("btf-trace-counts");
    let output = trace_pinned("btf_trace", &pins, None);
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let iter_pin = pins.join("link_map_iter");
    for line in [
        "Attached btf_getpid (tp_btf) to sys_enter, link id ".to_string(),
        "Attached map_iter (iter) to bpf_map, link id ".to_string(),
        format!(
            "Iterator map_iter runs each time its link is read: `cat {}`",
            iter_pin.display()
        ),
    ] {
        assert!(stdout.contains(&line), "{line:?} in:\n{stdout}");
    }
    let links = attached_link_ids(&stdout);
    assert_eq!(links.len(), 2, "{stdout}");
    // Reading the iterator's pinned link runs it: one "map" line per map in the kernel,
    // this object's two among them.
    let read = std::fs::read_to_string(&iter_pin).expect("read the iterator link");
    assert!(read.lines().count() >= 2, "{read:?}");
    assert!(read.lines().all(|line| line == "map"), "{read:?}");
    let link = bpftool_json(&["link", "show", "id", &links[0].to_string()]);
    // The kernel makes a raw tracepoint link of a tp_btf program's BPF_LINK_CREATE.
    assert_eq!(link["type"], "raw_tracepoint", "{link}");
    assert_eq!(link["tp_name"], "sys_enter", "{link}");

    write_bss(
        &["pinned", path_str(&pins.join("btf_trac_bss"))],
        &counts_target(),
    );
    call_getpid(31);
    let hits = pins.join("btf_hits");
    assert_eq!(array_values(&["pinned", path_str(&hits)]), [31]);

    std::fs::remove_file(pins.join("link_btf_getpid")).expect("remove the link pin");
    std::fs::remove_file(&iter_pin).expect("remove the iterator's link pin");
    assert!(
        wait_for(Duration::from_secs(5), || {
            let listed = kernel_link_ids();
            links.iter().all(|id| !listed.contains(id))
        }),
        "the links are gone once their pins are"
    );
    call_getpid(4);
    assert_eq!(array_values(&["pinned", path_str(&hits)]), [31]);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn fentry_and_fexit_on_an_xdp_program_count_its_test_runs_exactly() {
    require_root();
    let target = PinDir::new("btf-xdp-target");
    let output = load_only("btf_xdp_target", &target, &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let target_pin = target.join("xdp_target");
    let id = bpftool_json(&["prog", "show", "pinned", path_str(&target_pin)])["id"]
        .as_u64()
        .expect("the target's id")
        .to_string();
    let pins = PinDir::new("btf-on-xdp");
    let object = fixture("btf_on_xdp");
    let output = run(
        xdploader(),
        &[
            "-file",
            path_str(&object),
            "-trace",
            "-pin-path",
            pins.as_str(),
            "-attach-prog",
            &id,
        ],
    );
    if !output.status.success() {
        // A kernel without trampolines: the documented refusal, nothing left behind.
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
        assert!(
            stderr.contains("program before_xdp in section `fentry/xdp_target`")
                && stderr.contains(TRAMPOLINE_REFUSED),
            "{stderr}"
        );
        assert!(pins.entries().is_empty(), "{:?}", pins.entries());
        eprintln!("this kernel refuses BPF trampolines: fentry counts not checked here");
        return;
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in [
        format!(
            "Attached before_xdp (fentry) to xdp_target of program {id} (xdp_target), link id "
        ),
        format!("Attached after_xdp (fexit) to xdp_target of program {id} (xdp_target), link id "),
    ] {
        assert!(stdout.contains(&line), "{line:?} in:\n{stdout}");
    }
    let frame = TempFile::new("btf-on-xdp-frame", &test_frame(64));
    for _ in 0..7 {
        assert_eq!(
            prog_run(&target_pin, Path::new(frame.as_str())),
            Ok(XDP_PASS)
        );
    }
    let calls = pins.join("xdp_calls");
    assert_eq!(array_values(&["pinned", path_str(&calls)]), [7, 7, 7]);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_missing_kernel_function_exit_3_or_program_exit_4_is_one_sentence_and_nothing_is_left() {
    require_root();
    let pins = PinDir::new("btf-missing");
    let output = load_only("btf_missing", &pins, &[]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        "xdploader: program on_nothing in section `fentry/no_such_kernel_function_xyz` attaches to `no_such_kernel_function_xyz`, which is not in the kernel's BTF (vmlinux and every module); name a function that is there (`bpftool btf dump` lists them)"
    );
    assert!(pins.entries().is_empty(), "{:?}", pins.entries());
    assert!(!super::tracing::program_loaded("on_nothing"));

    // A program id nobody has: refused before anything is loaded.
    let output = load_only("btf_on_xdp", &pins, &["-attach-prog", "4294967295"]);
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        "xdploader: -attach-prog 4294967295: there is no BPF program with id 4294967295; `bpftool prog show` lists them"
    );
    assert!(pins.entries().is_empty(), "{:?}", pins.entries());
    assert!(!super::tracing::program_loaded("before_xdp"));
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn attach_prog_ifname_is_the_xdp_program_attached_there() {
    require_root();
    let net = TestNet::new();
    net.load_ok();
    let pins = PinDir::new("btf-ifname");
    let object = fixture("btf_on_xdp");
    let with = |interface: &str| {
        net.in_xdp_ns(
            xdploader(),
            &[
                "-file",
                path_str(&object),
                "-load-only",
                "-pin-path",
                pins.as_str(),
                "-attach-prog",
                interface,
            ],
        )
    };
    // The veth's XDP program (kern/xdp.elf's xdp_skeleton, with BTF) is the target:
    // xdp_target is none of its functions, so fentry/fexit attach to its entry function.
    let output = with(&net.xdp_if);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        let (kind, _, attach_btf_id) = pinned_program(&pins.join("before_xdp"));
        assert_eq!(kind, "tracing");
        assert_ne!(attach_btf_id, 0);
    } else {
        // No trampolines here: the load got as far as the kernel, past -attach-prog.
        assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
        assert!(stderr.contains(TRAMPOLINE_REFUSED), "{stderr}");
    }
    for pin in pins.entries() {
        let _ = std::fs::remove_file(pins.join(&pin));
    }
    // An interface without an XDP program, and no interface at all: one sentence, exit 4.
    // (The namespace's own loopback has none.)
    for (interface, words) in [
        ("lo", "interface lo has no XDP program attached"),
        ("nosuchif0", "it is neither a program id nor an interface"),
    ] {
        let output = with(interface);
        assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with(&format!("xdploader: -attach-prog {interface}: {words}")),
            "{stderr}"
        );
        assert!(pins.entries().is_empty(), "{:?}", pins.entries());
    }
}

#[test]
fn dump_says_what_each_btf_attach_program_looks_up() {
    let object = fixture("btf_attach");
    let output = run(xdploader(), &["-file", path_str(&object), "-dump"]);
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in [
        "\ton_btf_tp: tracing, 2 instructions, section tp_btf/sys_enter, attaches to TYPEDEF btf_trace_sys_enter",
        "\ton_modret: tracing, 2 instructions, section fmod_ret/bpf_modify_return_test, attaches to FUNC bpf_modify_return_test",
        "\ton_open: lsm, 2 instructions, section lsm/file_open, attaches to FUNC bpf_lsm_file_open",
        "\ton_task: tracing, 2 instructions, section iter/task, attaches to FUNC bpf_iter_task",
    ] {
        assert!(stdout.lines().any(|got| got == line), "{line:?} in:\n{stdout}");
    }
}
