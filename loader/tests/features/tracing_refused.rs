//! `-trace` refusals: a tracepoint the kernel lacks, a kprobe on a function it lacks, a
//! uprobe on a function its binary lacks, an object with nothing to trace. Each: one sentence naming what is missing, the
//! documented exit code, and nothing left attached or pinned (checked with bpftool).

use super::tracing::program_loaded;
use super::*;

/// `xdploader -file FIXTURE -trace -pin-path DIR`: the output, checked to be one
/// sentence on stderr with exit code `code` that holds every one of `words`; then
/// checked that the pin directory is gone and no program of `programs` is loaded.
fn refused(fixture_name: &str, code: i32, words: &[&str], programs: &[&str]) {
    let _lock = kernel_lock();
    let pins = PinDir::new(&format!("{fixture_name}-refused"));
    let object = fixture(fixture_name);
    let output = run(
        xdploader(),
        &[
            "-file",
            path_str(&object),
            "-trace",
            "-pin-path",
            pins.as_str(),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{}", describe(&output));
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
    for word in words {
        assert!(stderr.contains(word), "{word:?} in {stderr}");
    }
    assert!(!pins.path.exists(), "nothing pinned: {:?}", pins.entries());
    // The process is gone, so are its descriptors; the kernel frees the programs
    // shortly after (RCU).
    assert!(
        wait_for(Duration::from_secs(5), || programs
            .iter()
            .all(|name| !program_loaded(name))),
        "nothing left loaded of {programs:?}"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_tracepoint_the_kernel_lacks_is_named() {
    refused(
        "trace_missing",
        4,
        &[
            "tp_missing",
            "tracepoint/xdp_skeleton/no_such_event",
            "no such tracepoint",
            "/sys/kernel/tracing/events/xdp_skeleton/no_such_event",
        ],
        &["tp_missing"],
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_kprobe_on_a_function_the_kernel_lacks_is_named() {
    // On a kernel without the kprobe PMU that is what the sentence says instead; it
    // names the function either way.
    let pmu = Path::new("/sys/bus/event_source/devices/kprobe").exists();
    let reason = if pmu {
        "no such function"
    } else {
        "no kprobe PMU"
    };
    refused(
        "trace_missing_kprobe",
        4,
        &["kp_missing", "kprobe xdp_skeleton_no_such_function", reason],
        &["kp_missing"],
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn an_object_with_nothing_to_trace_is_refused_before_the_kernel() {
    refused(
        "other_type",
        2,
        &["has no tracing program to attach", "-load-only", "-i IF"],
        &["xdp_next", "tc_prog", "sock_prog"],
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_uprobe_on_a_function_the_binary_lacks_is_named() {
    refused(
        "trace_missing_uprobe",
        4,
        &[
            "up_missing",
            "uprobe /bin/true:xdp_skeleton_no_such_function",
            "defines no function xdp_skeleton_no_such_function",
            "nm -D /bin/true",
        ],
        &["up_missing"],
    );
}
