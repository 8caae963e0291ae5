//! Refusals before the kernel: no root needed, nothing created.

use super::*;

/// A pin directory that is not on bpffs: if a refused run ever went on to load, it
/// would fail there (exit 4) instead of pinning anything.
fn no_pins() -> String {
    std::env::temp_dir()
        .join(format!("xdp-run-no-pins-{}", std::process::id()))
        .display()
        .to_string()
}

fn refused(capture: &TempFile, program: &str) -> (Option<i32>, String) {
    let object = xdp_object();
    let output = run(
        xdploader(),
        &[
            "-file",
            path_str(&object),
            "-run",
            program,
            "-pcap",
            capture.as_str(),
            "-pin-path",
            &no_pins(),
        ],
    );
    assert!(output.stdout.is_empty(), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
    (output.status.code(), stderr)
}

#[test]
fn a_garbage_capture_exits_2() {
    let capture = TempFile::new("run-garbage.pcap", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let (code, stderr) = refused(&capture, "xdp_skeleton");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("is not a pcap or pcapng capture"),
        "{stderr}"
    );
}

#[test]
fn a_truncated_capture_exits_2() {
    let whole = pcap(&frames());
    let capture = TempFile::new("run-truncated.pcap", &whole[..whole.len() - 7]);
    let (code, stderr) = refused(&capture, "xdp_skeleton");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("ends in the middle of packet 6"),
        "{stderr}"
    );
    let whole = pcapng(&frames());
    let capture = TempFile::new("run-truncated.pcapng", &whole[..whole.len() - 7]);
    let (code, stderr) = refused(&capture, "xdp_skeleton");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("truncated"), "{stderr}");
}

#[test]
fn a_capture_of_another_link_type_exits_2() {
    let mut bytes = pcap(&frames());
    // LINKTYPE_LINUX_SLL, what `tcpdump -i any` writes.
    bytes[20..24].copy_from_slice(&113u32.to_le_bytes());
    let capture = TempFile::new("run-sll.pcap", &bytes);
    let (code, stderr) = refused(&capture, "xdp_skeleton");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("link type LINUX_SLL (113), not Ethernet (1)"),
        "{stderr}"
    );
}

#[test]
fn a_program_the_object_lacks_exits_1_listing_its_programs() {
    let capture = TempFile::new("run-noprog.pcap", &pcap(&frames()));
    let (code, stderr) = refused(&capture, "xdp_nonesuch");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("no program called xdp_nonesuch")
            && stderr.contains("xdp_skeleton, xdp_skeleton_1, xdp_skeleton_2"),
        "{stderr}"
    );
}
