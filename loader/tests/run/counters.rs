//! Verdicts and counters: each packet's verdict is what kern/xdp.c says, the pinned
//! stats map counts every run exactly (a second run adds to it, -repeat multiplies it),
//! and a program the kernel cannot test-run exits 3 with the reason.

use super::*;

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn verdicts_match_the_source_and_the_stats_map_counts_them_exactly() {
    require_root();
    let pin_dir = PinDir::new("run-verdicts");
    let frames = frames();
    let capture = TempFile::new("run-in.pcap", &pcap(&frames));
    let stdout = run_xdp_ok(&capture, &pin_dir, &[]);
    assert_rows_match_the_source(&stdout, &frames);
    assert!(
        stdout.contains("Inserted program xdp_skeleton_1 into slot 1 of jmp_map")
            && stdout.contains("Inserted program xdp_skeleton_2 into slot 2 of jmp_map"),
        "the chain is wired:\n{stdout}"
    );
    assert!(
        stdout.contains("6 packets through xdp_skeleton, 1 not run:"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("Mean time per run"),
        "no timing without -repeat:\n{stdout}"
    );
    assert_eq!(
        pin_dir.entries(),
        ["if_redirect", "jmp_map", "stats_map"],
        "maps pinned as the object asks"
    );
    assert_stats(&pin_dir, &frames, 1);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_second_run_adds_to_the_pinned_counters_and_leaves_the_pinned_chain_alone() {
    require_root();
    let pin_dir = PinDir::new("run-twice");
    let frames = frames();
    let capture = TempFile::new("run-twice.pcap", &pcap(&frames));
    run_xdp_ok(&capture, &pin_dir, &[]);
    let jmp_map = || {
        json(&run_ok(
            "bpftool",
            &[
                "-j",
                "map",
                "dump",
                "pinned",
                path_str(&pin_dir.join("jmp_map")),
            ],
        ))
    };
    let before = jmp_map();
    assert_eq!(
        before.as_array().map(Vec::len),
        Some(2),
        "slots 1 and 2 of the pinned jmp_map: {before}"
    );
    let output = run_xdp(&capture, pin_dir.as_str(), &[]);
    assert!(output.status.success(), "{}", describe(&output));
    assert_rows_match_the_source(&String::from_utf8_lossy(&output.stdout), &frames);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("private copy"),
        "{}",
        describe(&output)
    );
    assert_eq!(
        jmp_map(),
        before,
        "the pinned prog array is not rewired by a run"
    );
    assert_stats(&pin_dir, &frames, 2);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn repeat_reports_the_kernels_mean_time_and_the_maps_count_every_run() {
    require_root();
    let pin_dir = PinDir::new("run-repeat");
    let frames = frames();
    let capture = TempFile::new("run-repeat.pcap", &pcap(&frames));
    let stdout = run_xdp_ok(&capture, &pin_dir, &["-repeat", "1000"]);
    assert_rows_match_the_source(&stdout, &frames);
    assert!(stdout.contains("1000 runs each"), "{stdout}");
    let mean = stdout
        .lines()
        .find_map(|line| line.strip_prefix("Mean time per run (the kernel's measure): "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no mean time in:\n{stdout}"));
    assert!(mean > 0.0, "a mean of {mean} ns");
    assert!(
        stdout.contains("over 5 packets x 1000 runs"),
        "the runt is not timed:\n{stdout}"
    );
    // Each row has its own time, a whole number of ns.
    for (_, _, len_out, rest) in rows(&stdout) {
        if len_out != "-" {
            let ns = rest
                .split_whitespace()
                .nth(1)
                .and_then(|ns| ns.parse::<u64>().ok());
            assert!(ns.is_some(), "a row without its time: {rest}");
        }
    }
    assert_stats(&pin_dir, &frames, 1000);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_program_the_kernel_cannot_test_run_exits_3_with_the_reason() {
    require_root();
    let pin_dir = PinDir::new("run-devmap");
    let frames = frames();
    let capture = TempFile::new("run-devmap.pcap", &pcap(&frames));
    let object = fixture("xdp_variants");
    let output = run(
        xdploader(),
        &[
            "-file",
            path_str(&object),
            "-run",
            "xdp_devmap",
            "-pcap",
            capture.as_str(),
            "-pin-path",
            pin_dir.as_str(),
        ],
    );
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("(EINVAL)") && stderr.contains("xdp/devmap"),
        "{}",
        describe(&output)
    );
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
}
