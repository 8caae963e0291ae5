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

#[path = "run/counters.rs"]
mod counters;
#[path = "run/formats.rs"]
mod formats;
#[path = "run/refusals.rs"]
mod refusals;

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

// Refusals before the kernel: no root needed, nothing created.
