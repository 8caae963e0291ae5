//! Programs as the kernel holds them after `-load-only`: subprograms linked with their
//! line info, static functions of a program's own section, every XDP section variant
//! and its attach type.

use super::*;

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn bpf_calls_link_subprograms_and_carry_line_info() {
    let _lock = kernel_lock();
    let pins = PinDir::new("bpf_calls");
    let pinned = load_only_ok("bpf_calls", &pins);
    let frame = frame_64();
    let listed = bpftool_json(&["prog", "show"]);
    for program in ["calls_main", "calls_shared"] {
        let pin = pins.join(program);
        let shown = prog_show(&pin);
        assert_eq!(shown["type"].as_str(), Some("xdp"), "{shown}");
        let id = shown["id"].as_u64().expect("id");
        assert!(
            pinned.iter().any(|pin| pin.name == program && pin.id == id),
            "{program} printed with its id: {pinned:?}"
        );
        assert!(
            listed.as_array().expect("list").iter().any(|listed| {
                listed["id"].as_u64() == Some(id) && listed["name"].as_str() == Some(program)
            }),
            "bpftool prog show lists {program} (id {id})"
        );
        assert_eq!(run_ok_retval(&pin, &frame), XDP_PASS, "{program}");

        let xlated = run_ok(
            "bpftool",
            &[
                "prog",
                "dump",
                "xlated",
                "pinned",
                pin.to_str().expect("utf-8"),
            ],
        );
        assert!(
            xlated.lines().any(|line| line.starts_with("; ")),
            "line_info reached the kernel: source lines in the xlated dump of {program}:\n{xlated}"
        );
        assert!(
            xlated.contains("int add_one(int x):"),
            "func_info names the appended subprogram add_one in {program}:\n{xlated}"
        );
        if program == "calls_main" {
            for function in ["int sub_a(int x):", "int sub_b(int x):", "int loop_cb("] {
                assert!(
                    xlated.contains(function),
                    "{function} appended to calls_main:\n{xlated}"
                );
            }
        }
    }
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn samesec_call_links_the_static_function_of_its_own_section() {
    let _lock = kernel_lock();
    let pins = PinDir::new("samesec_call");
    let pinned = load_only_ok("samesec_call", &pins);
    let programs: Vec<&str> = pinned
        .iter()
        .filter(|pin| pin.kind == "Program")
        .map(|pin| pin.name.as_str())
        .collect();
    assert_eq!(programs, ["samesec_prog"], "times_three is not a program");
    assert_eq!(pins.entries(), ["samesec_prog"]);
    assert_eq!(
        run_ok_retval(&pins.join("samesec_prog"), &frame_64()),
        XDP_PASS,
        "times_three(7) == 21"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn xdp_variants_all_load_as_xdp_and_frags_sees_the_whole_frame() {
    let _lock = kernel_lock();
    let pins = PinDir::new("xdp_variants");
    load_only_ok("xdp_variants", &pins);
    let mut expected: Vec<&str> = XDP_VARIANTS.to_vec();
    expected.sort();
    assert_eq!(pins.entries(), expected, "one pin per program");
    let listed = bpftool_json(&["prog", "show"]);
    for program in XDP_VARIANTS {
        let shown = prog_show(&pins.join(program));
        assert_eq!(shown["name"].as_str(), Some(*program), "{shown}");
        assert_eq!(shown["type"].as_str(), Some("xdp"), "{shown}");
        assert!(
            listed
                .as_array()
                .expect("list")
                .iter()
                .any(|listed| listed["id"] == shown["id"]
                    && listed["type"].as_str() == Some("xdp")),
            "bpftool prog show lists {program} as xdp"
        );
    }
    let small = frame_64();
    let big = TempFile::new("frame9000", &test_frame(9000));
    assert_eq!(run_ok_retval(&pins.join("xdp_plain"), &small), XDP_PASS);
    assert_eq!(run_ok_retval(&pins.join("xdp_plain"), &big), XDP_PASS);
    assert_eq!(
        run_ok_retval(&pins.join("xdp_frags"), &small),
        XDP_DROP,
        "64 bytes are not more than 4096"
    );
    assert_eq!(
        run_ok_retval(&pins.join("xdp_frags"), &big),
        XDP_TX,
        "bpf_xdp_get_buff_len sees all 9000 bytes"
    );
}

/// The kernel refuses test runs of programs loaded with expected_attach_type
/// BPF_XDP_DEVMAP or BPF_XDP_CPUMAP: EINVAL proves the attach type was passed at load.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn xdp_variants_devmap_and_cpumap_programs_carry_their_attach_type() {
    let _lock = kernel_lock();
    let pins = PinDir::new("xdp_attach_types");
    load_only_ok("xdp_variants", &pins);
    let frame = frame_64();
    for program in ["xdp_devmap", "xdp_cpumap", "xdp_frags_dev", "xdp_frags_cpu"] {
        match prog_run(&pins.join(program), &frame.path) {
            Err(error) => assert!(
                error.contains("Invalid argument"),
                "{program}: EINVAL expected, got: {error}"
            ),
            Ok(retval) => panic!(
                "{program} ran (retval {retval}): the kernel refuses test runs only for \
                 programs loaded with expected_attach_type BPF_XDP_DEVMAP/BPF_XDP_CPUMAP, \
                 so it was loaded with another attach type"
            ),
        }
    }
}
