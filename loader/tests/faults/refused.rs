//! Objects the kernel refuses, and object errors found while loading: a map no kernel
//! allocates, a verifier rejection (the source line shown, the whole log saved), a
//! tail-call program beyond its prog array, an entry program the object lacks.

use super::*;

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn max_entries_no_kernel_will_allocate() {
    let _lock = kernel_lock();
    let pins = PinDir::new("huge");
    let before = Watch::new(&["huge_user"], &["huge_hash"])
        .pins(&pins.path)
        .take();
    let output = xdploader_with(&[
        "-file",
        &loader_fixture("fault_huge_map"),
        "-load-only",
        "-pin-path",
        pins.as_str(),
    ]);
    let line = assert_fails(&output, ExitKind::KernelRefused, "fault_huge_map");
    assert_mentions(
        &line,
        &["refused to create map huge_hash"],
        "fault_huge_map",
    );
    assert!(
        (line.contains("(E2BIG)") && line.contains("max_entries or value size"))
            || (line.contains("(ENOMEM)") && line.contains("could not allocate")),
        "E2BIG or ENOMEM, explained: {line}"
    );
    assert!(!pins.path.exists(), "the pin directory it made is gone");
    before.assert_unchanged("fault_huge_map");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_verifier_rejection_shows_the_source_line_and_saves_the_whole_log() {
    let _lock = kernel_lock();
    let pins = PinDir::new("verifier");
    let before = Watch::new(&["bad_read"], &[]).pins(&pins.path).take();
    let output = xdploader_with(&[
        "-file",
        &loader_fixture("fault_verifier"),
        "-load-only",
        "-pin-path",
        pins.as_str(),
    ]);
    assert_no_panic(&output, "fault_verifier");
    assert_eq!(
        output.status.code(),
        Some(ExitKind::KernelRefused as i32),
        "{}",
        describe(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 4, "a sentence and a log: {stderr}");
    assert_mentions(
        lines[0],
        &[
            "xdploader: ",
            "verifier rejected program bad_read",
            "EACCES",
        ],
        "the sentence",
    );
    assert_eq!(
        lines
            .iter()
            .filter(|line| line.starts_with("xdploader: "))
            .count(),
        1,
        "one sentence: {stderr}"
    );
    let header = lines[1];
    assert!(
        header.starts_with("--- verifier log (") && header.ends_with(") ---"),
        "{stderr}"
    );
    let log_path = header
        .split("the whole log is in ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(") ---"))
        .unwrap_or_else(|| panic!("the log file's path: {header}"))
        .to_string();
    // Remove the log file even if an assertion below fails.
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _remove = Remove(log_path.clone());
    assert_eq!(
        lines.last(),
        Some(&"--- end of verifier log ---"),
        "{stderr}"
    );
    let shown = &lines[2..lines.len() - 1];

    // The failing source line, from BTF line info, and the verifier's error.
    let source =
        std::fs::read_to_string(repo_root().join("loader/tests/fixtures/fault_verifier.c"))
            .expect("fault_verifier.c");
    let line_number = source
        .lines()
        .position(|line| line.trim_start().starts_with("return eth->h_proto"))
        .expect("the unchecked read in fault_verifier.c")
        + 1;
    let at = format!("@ fault_verifier.c:{line_number}");
    assert!(
        shown
            .iter()
            .any(|line| line.starts_with("; return eth->h_proto") && line.ends_with(&at)),
        "the source line `{at}` is shown: {stderr}"
    );
    assert!(
        shown
            .iter()
            .any(|line| line.contains("invalid access to packet")),
        "the verifier's error is shown: {stderr}"
    );

    // The whole log is in the file, and what was shown is its end.
    let saved = std::fs::read_to_string(&log_path)
        .unwrap_or_else(|error| panic!("the saved log {log_path}: {error}"));
    let saved_lines: Vec<&str> = saved.lines().collect();
    assert!(saved_lines.len() >= shown.len(), "{saved}");
    assert_eq!(
        &saved_lines[saved_lines.len() - shown.len()..],
        shown,
        "the lines shown are the end of the saved log"
    );
    assert!(saved.contains("processed "), "the whole log: {saved}");
    assert!(!pins.path.exists(), "no pin directory left");
    before.assert_unchanged("fault_verifier");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_tail_call_program_beyond_the_prog_array() {
    let _lock = kernel_lock();
    let net = FaultNet::new();
    let object = loader_fixture("fault_tail_slot");
    let pins = PinDir::new("tailslot");
    let words = &["fault_entry_5", "slot 5 of fault_slots", "only 2 slots"];
    let before = Watch::new(&["fault_entry", "fault_entry_5"], &["fault_slots"])
        .pins(&pins.path)
        .pins(&net.pin_dir)
        .netns(&net.xdp_ns)
        .take();

    let output = xdploader_with(&[
        "-file",
        &object,
        "-load-only",
        "-prog",
        "fault_entry",
        "-pin-path",
        pins.as_str(),
    ]);
    let line = assert_fails(&output, ExitKind::BadObject, "-load-only -prog fault_entry");
    assert_mentions(&line, words, "-load-only");
    before.assert_unchanged("fault_tail_slot -load-only");

    let pin_dir = net.pin_dir.display().to_string();
    let output = net.in_xdp_ns(
        xdploader(),
        &[
            "-file",
            &object,
            "-i",
            &net.xdp_if,
            "-prog",
            "fault_entry",
            "-pin-path",
            &pin_dir,
        ],
    );
    let line = assert_fails(&output, ExitKind::BadObject, "attach -prog fault_entry");
    assert_mentions(&line, words, "attach");
    assert_eq!(net.attached(), None, "nothing attached");
    before.assert_unchanged("fault_tail_slot attach");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn an_entry_program_that_does_not_exist_lists_the_ones_that_do() {
    let _lock = kernel_lock();
    let net = FaultNet::new();
    let pins = PinDir::new("noprog");
    let before = Watch::kern()
        .pins(&pins.path)
        .pins(&net.pin_dir)
        .netns(&net.xdp_ns)
        .take();
    let listed = "pick one with -prog: flt_skeleton, flt_skeleton_1, flt_skeleton_2";
    let object = renamed_kern();
    let pin_dir = net.pin_dir.display().to_string();

    let output = net.in_xdp_ns(
        xdploader(),
        &[
            "-file",
            object.as_str(),
            "-i",
            &net.xdp_if,
            "-prog",
            "nope",
            "-pin-path",
            &pin_dir,
        ],
    );
    let line = assert_fails(&output, ExitKind::Usage, "attach -prog nope");
    assert_mentions(&line, &["no program called nope", listed], "attach");

    let output = xdploader_with(&[
        "-file",
        object.as_str(),
        "-load-only",
        "-prog",
        "nope",
        "-pin-path",
        pins.as_str(),
    ]);
    let line = assert_fails(&output, ExitKind::Usage, "-load-only -prog nope");
    assert_mentions(&line, &["no program called nope", listed], "-load-only");
    assert!(
        !pins.path.exists() && !net.pin_dir.exists(),
        "no pin directory made"
    );
    before.assert_unchanged("-prog nope");
}
