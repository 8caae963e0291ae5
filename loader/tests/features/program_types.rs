//! Program types other than XDP: `-load-only` loads them as `bpftool prog loadall` does
//! (same names, types and instructions), and the commands that need XDP refuse them in
//! one sentence before touching anything.

use super::*;

/// (name, type, tag) of every program pinned in `dir`, as `bpftool -j prog show` says
/// (xdploader pins the maps there too: bpftool refuses those as "not a program").
pub(super) fn pinned_programs(dir: &Path) -> BTreeSet<(String, String, String)> {
    dir_entries(dir)
        .into_iter()
        .filter_map(|entry| {
            let output = run(
                "bpftool",
                &["-j", "prog", "show", "pinned", path_str(&dir.join(&entry))],
            );
            if !output.status.success() {
                return None;
            }
            let shown = json(&String::from_utf8_lossy(&output.stdout));
            Some((
                shown["name"].as_str()?.to_string(),
                shown["type"].as_str()?.to_string(),
                shown["tag"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Loads `fixture_name` with both loaders; the same programs with the same tags.
pub(super) fn load_as_bpftool_does(fixture_name: &str) -> PinDir {
    let ours = PinDir::new(&format!("{fixture_name}-ours"));
    load_only_ok(fixture_name, &ours);
    let theirs = PinDir::new(&format!("{fixture_name}-bpftool"));
    run_ok(
        "bpftool",
        &[
            "prog",
            "loadall",
            path_str(&fixture(fixture_name)),
            theirs.as_str(),
        ],
    );
    let loaded = pinned_programs(&ours.path);
    assert!(!loaded.is_empty(), "{fixture_name}: a program was pinned");
    assert_eq!(
        loaded,
        pinned_programs(&theirs.path),
        "{fixture_name}: as bpftool"
    );
    ours
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn other_program_types_load_as_bpftool_loads_them() {
    let _lock = kernel_lock();
    for (fixture_name, expected) in [
        (
            "tracing_types",
            &[
                ("on_exception", "tracepoint"),
                ("on_kprobe", "kprobe"),
                ("on_kretprobe", "kprobe"),
                ("on_raw", "raw_tracepoint"),
                ("on_sample", "perf_event"),
                ("on_uprobe", "kprobe"),
            ][..],
        ),
        (
            "other_type",
            &[
                ("sock_prog", "socket_filter"),
                ("tc_prog", "sched_cls"),
                ("xdp_next", "xdp"),
            ][..],
        ),
        (
            "socket_types",
            &[
                ("cg_connect4", "cgroup_sock_addr"),
                ("cg_dev", "cgroup_device"),
                ("cg_getsockopt", "cgroup_sockopt"),
                ("cg_ingress", "cgroup_skb"),
                ("cg_sock", "cgroup_sock"),
                ("cg_sysctl", "cgroup_sysctl"),
                ("multi_probe", "kprobe"),
                ("raw_w", "raw_tracepoint_writable"),
                ("reuse_pick", "sk_reuseport"),
                ("skb_parser", "sk_skb"),
                ("skb_verdict", "sk_skb"),
            ][..],
        ),
    ] {
        // The same tags: the kernel got the same instructions from both loaders.
        let ours = load_as_bpftool_does(fixture_name);
        let loaded = pinned_programs(&ours.path);
        let names_and_types: Vec<(&str, &str)> = loaded
            .iter()
            .map(|(name, kind, _)| (name.as_str(), kind.as_str()))
            .collect();
        assert_eq!(names_and_types, expected, "{fixture_name}: names and types");
    }
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_program_of_another_type_is_neither_attached_nor_run() {
    let _lock = kernel_lock();
    let object = fixture("other_type");
    let object = path_str(&object);
    let pcap = repo_root().join("kern/exercises/packets.pcap");
    for (what, args) in [
        (
            "attach",
            vec!["-file", object, "-prog", "tc_prog", "-i", "lo"],
        ),
        (
            "-run",
            vec![
                "-file",
                object,
                "-run",
                "sock_prog",
                "-pcap",
                path_str(&pcap),
            ],
        ),
    ] {
        let output = run(xdploader(), &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{what}: {}",
            describe(&output)
        );
        assert_eq!(stderr.lines().count(), 1, "{what}: one sentence:\n{stderr}");
        for words in ["only XDP programs attach to an interface", "-load-only"] {
            assert!(stderr.contains(words), "{what}: {words:?} in {stderr}");
        }
    }
    // Refused before the kernel: not one of the object's programs was loaded.
    let loaded: Vec<String> = bpftool_json(&["prog", "show"])
        .as_array()
        .expect("program list")
        .iter()
        .filter_map(|program| program["name"].as_str().map(str::to_string))
        .filter(|name| ["tc_prog", "sock_prog", "xdp_next"].contains(&name.as_str()))
        .collect();
    assert!(loaded.is_empty(), "nothing loaded: {loaded:?}");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_section_no_row_names_is_refused_in_one_sentence_as_bpftool_refuses_it() {
    let _lock = kernel_lock();
    let ours = PinDir::new("unknown-section-ours");
    let output = load_only("fault_unknown_section", &ours);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert_eq!(stderr.lines().count(), 1, "one sentence:\n{stderr}");
    for words in ["in_no_section", "`mysection`", "no program type"] {
        assert!(stderr.contains(words), "{words:?} in {stderr}");
    }
    // Refused before the kernel: not even the XDP program beside it was loaded.
    assert!(dir_entries(&ours.path).is_empty(), "nothing pinned");
    let loaded: Vec<String> = bpftool_json(&["prog", "show"])
        .as_array()
        .expect("program list")
        .iter()
        .filter_map(|program| program["name"].as_str().map(str::to_string))
        .filter(|name| name == "xdp_fine" || name == "in_no_section")
        .collect();
    assert!(loaded.is_empty(), "nothing loaded: {loaded:?}");
    // bpftool (libbpf) refuses the object too.
    let theirs = PinDir::new("unknown-section-bpftool");
    let output = run(
        "bpftool",
        &[
            "prog",
            "loadall",
            path_str(&fixture("fault_unknown_section")),
            theirs.as_str(),
        ],
    );
    assert!(
        !output.status.success(),
        "bpftool loaded it: {}",
        describe(&output)
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("mysection"),
        "{}",
        describe(&output)
    );
}
