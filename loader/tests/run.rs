//! `xdploader -run`: packets from a capture made here run through kern/xdp.elf's chain
//! with BPF_PROG_TEST_RUN, checked against what kern/xdp.c says and against the
//! counters the run leaves in the pinned stats map (statswatch and `bpftool -j`).
//!
//! The kernel tests need root and are run by scripts/test.sh (`--include-ignored`); each
//! uses its own pin directory under /sys/fs/bpf (removed on drop, with the stats_map,
//! jmp_map and if_redirect pins in it, even when the test fails) and its own temporary
//! files. The tests of refused captures stop before the kernel and need nothing special.

mod support;

use std::process::Output;

use serde_json::Value;
use support::*;

const XDP_ABORTED: usize = 0;
const XDP_PASS: usize = 2;

/// A timestamp for the frames: 2023-11-14 22:13:20 UTC, and a microsecond fraction.
const TS_SEC: u32 = 1_700_000_000;
const TS_USEC: u32 = 123_456;

fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01];
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

fn ipv4(protocol: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut header = vec![0x45, 0];
    header.extend_from_slice(&total.to_be_bytes());
    header.extend_from_slice(&[0, 1, 0x40, 0, 64, protocol, 0, 0]);
    header.extend_from_slice(&[10, 99, 0, 2, 10, 99, 0, 1]);
    let sum = header
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], pair[1]])))
        .sum::<u32>();
    let folded = (sum & 0xffff) + (sum >> 16);
    let checksum = !(((folded & 0xffff) + (folded >> 16)) as u16);
    header[10..12].copy_from_slice(&checksum.to_be_bytes());
    header.extend_from_slice(payload);
    header
}

/// The capture every test runs, in order: what kern/xdp.c does with each frame.
struct TestFrame {
    what: &'static str,
    bytes: Vec<u8>,
    /// The verdict, or `None` for a frame the kernel does not test-run.
    verdict: Option<&'static str>,
}

fn frames() -> Vec<TestFrame> {
    let udp = {
        let mut datagram = vec![0x30, 0x39, 0, 9, 0, 13, 0, 0];
        datagram.extend_from_slice(b"hello");
        ethernet(0x0800, &ipv4(17, &datagram))
    };
    let tcp = {
        let mut segment = vec![0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02];
        segment.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
        ethernet(0x0800, &ipv4(6, &segment))
    };
    let arp = {
        let mut request = vec![0, 1, 0x08, 0, 6, 4, 0, 1];
        request.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 10, 99, 0, 2]);
        request.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 99, 0, 1]);
        ethernet(0x0806, &request)
    };
    let ipv6 = {
        let mut packet = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
        packet.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        packet.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        packet.extend_from_slice(&[0x30, 0x39, 0, 9, 0, 8, 0, 0]);
        ethernet(0x86dd, &packet)
    };
    vec![
        TestFrame {
            what: "IPv4 UDP: the entry, xdp_skeleton_1 and xdp_skeleton_2 pass it",
            bytes: udp,
            verdict: Some("XDP_PASS"),
        },
        TestFrame {
            what: "IPv4 TCP: the same chain",
            bytes: tcp,
            verdict: Some("XDP_PASS"),
        },
        TestFrame {
            what: "ARP: not IPv4, the entry passes it",
            bytes: arp,
            verdict: Some("XDP_PASS"),
        },
        TestFrame {
            what: "IPv6: not IPv4, the entry passes it",
            bytes: ipv6,
            verdict: Some("XDP_PASS"),
        },
        TestFrame {
            what: "a 10-byte runt: the kernel test-runs nothing shorter than 14 bytes",
            bytes: vec![0xff; 10],
            verdict: None,
        },
        TestFrame {
            what: "IPv4 with a cut IP header: too short to tell, the entry passes it",
            bytes: ethernet(0x0800, &[0x45, 0, 0, 20, 0, 1]),
            verdict: Some("XDP_PASS"),
        },
    ]
}

/// Classic pcap, little-endian, microsecond timestamps, Ethernet.
fn pcap(frames: &[TestFrame]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (index, frame) in frames.iter().enumerate() {
        let length = frame.bytes.len() as u32;
        out.extend_from_slice(&(TS_SEC + index as u32).to_le_bytes());
        out.extend_from_slice(&TS_USEC.to_le_bytes());
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&frame.bytes);
    }
    out
}

fn pcapng_block(block_type: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    body.resize(body.len().div_ceil(4) * 4, 0);
    let length = (body.len() + 12) as u32;
    let mut block = block_type.to_le_bytes().to_vec();
    block.extend_from_slice(&length.to_le_bytes());
    block.extend_from_slice(&body);
    block.extend_from_slice(&length.to_le_bytes());
    block
}

/// pcapng, little-endian: a Section Header Block, one Interface Description Block
/// (Ethernet, nanosecond timestamps) and an Enhanced Packet Block per frame.
fn pcapng(frames: &[TestFrame]) -> Vec<u8> {
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    let mut out = pcapng_block(0x0a0d_0d0a, &shb);
    let mut idb = 1u16.to_le_bytes().to_vec();
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&0u32.to_le_bytes());
    // if_tsresol (9) = 9: nanoseconds; then opt_endofopt.
    idb.extend_from_slice(&9u16.to_le_bytes());
    idb.extend_from_slice(&1u16.to_le_bytes());
    idb.extend_from_slice(&[9, 0, 0, 0]);
    idb.extend_from_slice(&[0, 0, 0, 0]);
    out.extend(pcapng_block(1, &idb));
    for (index, frame) in frames.iter().enumerate() {
        let nanos = u64::from(TS_SEC + index as u32) * 1_000_000_000 + u64::from(TS_USEC) * 1000;
        let length = frame.bytes.len() as u32;
        let mut epb = 0u32.to_le_bytes().to_vec();
        epb.extend_from_slice(&((nanos >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(nanos as u32).to_le_bytes());
        epb.extend_from_slice(&length.to_le_bytes());
        epb.extend_from_slice(&length.to_le_bytes());
        epb.extend_from_slice(&frame.bytes);
        out.extend(pcapng_block(6, &epb));
    }
    out
}

/// A classic pcap's records, read here by hand: (link type, [(ts_sec, ts_usec, bytes)]).
fn read_pcap(bytes: &[u8]) -> (u32, Vec<(u32, u32, Vec<u8>)>) {
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!(word(0), 0xa1b2_c3d4, "a little-endian microsecond pcap");
    let link_type = word(20);
    let mut records = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let length = word(at + 8) as usize;
        assert_eq!(
            word(at + 12) as usize,
            length,
            "orig_len of an unchanged frame"
        );
        records.push((
            word(at),
            word(at + 4),
            bytes[at + 16..at + 16 + length].to_vec(),
        ));
        at += 16 + length;
    }
    (link_type, records)
}

/// `xdploader -file kern/xdp.elf -run xdp_skeleton -pcap CAPTURE -pin-path DIR` and `extra`.
fn run_xdp(capture: &TempFile, pin_dir: &str, extra: &[&str]) -> Output {
    let object = xdp_object();
    let mut args = vec![
        "-file",
        path_str(&object),
        "-run",
        "xdp_skeleton",
        "-pcap",
        capture.as_str(),
        "-pin-path",
        pin_dir,
    ];
    args.extend_from_slice(extra);
    run(xdploader(), &args)
}

fn run_xdp_ok(capture: &TempFile, pin_dir: &PinDir, extra: &[&str]) -> String {
    let output = run_xdp(capture, pin_dir.as_str(), extra);
    assert!(output.status.success(), "{}", describe(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The rows of the text report: (number, len in, len out or "-", the rest of the line).
fn rows(stdout: &str) -> Vec<(usize, usize, String, String)> {
    stdout
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let number = words.first()?.parse().ok()?;
            let len_in = words.get(1)?.parse().ok()?;
            Some((
                number,
                len_in,
                words.get(2)?.to_string(),
                words[3..].join(" "),
            ))
        })
        .collect()
}

/// Checks each row against what kern/xdp.c does with the frame.
fn assert_rows_match_the_source(stdout: &str, frames: &[TestFrame]) {
    let rows = rows(stdout);
    assert_eq!(rows.len(), frames.len(), "one row per packet:\n{stdout}");
    for ((number, len_in, len_out, rest), (index, frame)) in
        rows.iter().zip(frames.iter().enumerate())
    {
        assert_eq!(*number, index + 1);
        assert_eq!(*len_in, frame.bytes.len(), "{}", frame.what);
        match frame.verdict {
            Some(verdict) => {
                assert_eq!(len_out, &frame.bytes.len().to_string(), "{}", frame.what);
                assert!(
                    rest.starts_with(verdict),
                    "{}: expected {verdict}, row says {rest}",
                    frame.what
                );
            }
            None => {
                assert_eq!(len_out, "-", "{}", frame.what);
                assert!(rest.starts_with("not run"), "{}: {rest}", frame.what);
            }
        }
    }
}

/// What the stats map must hold after `runs` runs of each frame: every frame the kernel
/// ran is counted once per run under XDP_PASS, with its length; nothing else.
fn expected_counts(frames: &[TestFrame], runs: u64) -> Vec<(u64, u64)> {
    let passed: Vec<&TestFrame> = frames
        .iter()
        .filter(|frame| frame.verdict == Some("XDP_PASS"))
        .collect();
    let mut counts = vec![(0, 0); 5];
    counts[XDP_PASS] = (
        passed.len() as u64 * runs,
        passed
            .iter()
            .map(|frame| frame.bytes.len() as u64)
            .sum::<u64>()
            * runs,
    );
    counts
}

fn assert_stats(pin_dir: &PinDir, frames: &[TestFrame], runs: u64) {
    let pin = pin_dir.join("stats_map");
    let expected = expected_counts(frames, runs);
    assert_eq!(statswatch_counts(&pin), expected, "statswatch");
    assert_eq!(bpftool_counts(&pin), expected, "bpftool -j map dump");
    assert_eq!(
        statswatch_counts(&pin)[XDP_ABORTED],
        (0, 0),
        "a broken chain"
    );
}

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
fn out_writes_the_passed_packets_unchanged() {
    require_root();
    let pin_dir = PinDir::new("run-out");
    let frames = frames();
    let capture = TempFile::new("run-out-in.pcap", &pcap(&frames));
    let out = TempFile::new("run-out.pcap", b"");
    let stdout = run_xdp_ok(&capture, &pin_dir, &["-out", out.as_str()]);
    assert!(
        stdout.contains(&format!(
            "Wrote 5 packets (XDP_PASS and XDP_TX, as the program left them) to {}",
            out.as_str()
        )),
        "{stdout}"
    );
    let written = std::fs::read(&out.path).expect("read -out");
    let (link_type, records) = read_pcap(&written);
    assert_eq!(link_type, 1, "Ethernet, as the input");
    let expected: Vec<(u32, u32, Vec<u8>)> = frames
        .iter()
        .enumerate()
        .filter(|(_, frame)| frame.verdict == Some("XDP_PASS"))
        .map(|(index, frame)| (TS_SEC + index as u32, TS_USEC, frame.bytes.clone()))
        .collect();
    assert_eq!(records, expected, "XDP_PASS leaves every frame as it was");
    assert_stats(&pin_dir, &frames, 1);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn json_report_parses_and_matches_the_run() {
    require_root();
    let pin_dir = PinDir::new("run-json");
    let frames = frames();
    let capture = TempFile::new("run-json.pcap", &pcap(&frames));
    let stdout = run_xdp_ok(&capture, &pin_dir, &["-json", "-repeat", "10"]);
    let report: Value = json(stdout.trim());
    assert_eq!(report["object"], path_str(&xdp_object()));
    assert_eq!(report["program"], "xdp_skeleton");
    assert_eq!(report["format"], "pcap");
    assert_eq!(report["repeat"], 10);
    let packets = report["packets"].as_array().expect("packets");
    assert_eq!(packets.len(), frames.len());
    for (index, (packet, frame)) in packets.iter().zip(&frames).enumerate() {
        assert_eq!(packet["number"], index + 1, "{}", frame.what);
        assert_eq!(packet["len_in"], frame.bytes.len(), "{}", frame.what);
        match frame.verdict {
            Some(verdict) => {
                assert_eq!(packet["verdict"], verdict, "{}", frame.what);
                assert_eq!(packet["retval"], XDP_PASS, "{}", frame.what);
                assert_eq!(packet["len_out"], frame.bytes.len(), "{}", frame.what);
                assert!(packet["duration_ns"].is_u64(), "{}", frame.what);
            }
            None => {
                assert!(packet["verdict"].is_null(), "{}", frame.what);
                assert!(packet["retval"].is_null(), "{}", frame.what);
                assert!(packet["not_run"].is_string(), "{}", frame.what);
            }
        }
    }
    let summary = &report["summary"];
    assert_eq!(summary["packets"], 6);
    assert_eq!(summary["run"], 5);
    assert_eq!(summary["not_run"], 1);
    let expected = expected_counts(&frames, 1);
    for (key, name) in [
        "XDP_ABORTED",
        "XDP_DROP",
        "XDP_PASS",
        "XDP_TX",
        "XDP_REDIRECT",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(
            summary["verdicts"][name]["packets"], expected[key].0,
            "{name}"
        );
        assert_eq!(
            summary["verdicts"][name]["bytes"], expected[key].1,
            "{name}"
        );
    }
    assert!(summary["mean_ns"].as_f64().is_some_and(|mean| mean > 0.0));
    assert_stats(&pin_dir, &frames, 10);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn pcapng_input_gives_the_same_run() {
    require_root();
    let pin_dir = PinDir::new("run-pcapng");
    let frames = frames();
    let capture = TempFile::new("run-in.pcapng", &pcapng(&frames));
    let out = TempFile::new("run-pcapng-out.pcap", b"");
    let stdout = run_xdp_ok(&capture, &pin_dir, &["-out", out.as_str()]);
    assert!(stdout.contains("(pcapng)"), "{stdout}");
    assert_rows_match_the_source(&stdout, &frames);
    assert_stats(&pin_dir, &frames, 1);
    // The nanosecond pcapng timestamps come out as they went in.
    let written = std::fs::read(&out.path).expect("read -out");
    let word = |at: usize| u32::from_le_bytes(written[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!(word(0), 0xa1b2_3c4d, "a nanosecond pcap");
    assert_eq!((word(24), word(28)), (TS_SEC, TS_USEC * 1000));
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

// ---------------------------------------------------------------------------
// Refusals before the kernel: no root needed, nothing created.
// ---------------------------------------------------------------------------

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
