//! docs/exercises.md: each exercise's solution, `kern/exercises/<name>.elf` (built by
//! `make -C kern exercises`), does what the exercise says it does.
//!
//! - drop_icmp: ICMP is dropped and counted under XDP_DROP, everything else passes;
//!   a real ping through a veth pair fails, and XDP_DROP counts its echo requests.
//! - count_protocols: the new map proto_count holds one counter per IP protocol.
//! - pong: an echo request comes back as a valid echo reply with XDP_TX (checksums
//!   computed here from scratch); a real ping is answered without the stack behind the
//!   interface ever seeing the request.
//! - redirect: two veths joined through if_redirect; datagrams and pings cross from one
//!   namespace to another through the XDP side, counted under XDP_REDIRECT.
//!
//! Packets go through `xdploader -run` (BPF_PROG_TEST_RUN over a capture built here)
//! where that shows the behaviour, and through real veth pairs where only the network
//! can (support::TestNet: private namespaces, static neighbours, IPv6 off, so the only
//! frames are the ones a test sends, and the counters are compared exactly). The kernel
//! tests need root and are run by scripts/test.sh (`--include-ignored`); each removes the
//! namespaces, pins and files it made, even when it fails. One test needs nothing: that
//! kern/exercises/packets.pcap, the capture the docs run, is the one built here.

mod support;

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

use nix::sched::{setns, CloneFlags};
use serde_json::Value;
use support::*;

#[path = "exercises/count_protocols.rs"]
mod count_protocols;
#[path = "exercises/docs_capture.rs"]
mod docs_capture;
#[path = "exercises/drop_icmp.rs"]
mod drop_icmp;
#[path = "exercises/pong.rs"]
mod pong;
#[path = "exercises/redirect.rs"]
mod redirect;

const ACTIONS: [&str; 5] = [
    "XDP_ABORTED",
    "XDP_DROP",
    "XDP_PASS",
    "XDP_TX",
    "XDP_REDIRECT",
];
const XDP_DROP: usize = 1;
const XDP_PASS: usize = 2;
const XDP_TX: usize = 3;
const XDP_REDIRECT: usize = 4;

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// A frame `ping` sends or gets back by default: Ethernet 14 + IPv4 20 + ICMP 8 + 56.
const PING_FRAME: u64 = 98;

/// The MACs and addresses the -run captures use (any would do: nothing is sent).
const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
const IP_A: [u8; 4] = [10, 99, 0, 1];
const IP_B: [u8; 4] = [10, 99, 0, 2];

// ---------------------------------------------------------------------------
// Frames and captures, built by hand.
// ---------------------------------------------------------------------------

/// The Internet checksum (RFC 1071) of `bytes`, as it is written into a header.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = dst.to_vec();
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

fn ipv4(src: [u8; 4], dst: [u8; 4], protocol: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut header = vec![0x45, 0];
    header.extend_from_slice(&total.to_be_bytes());
    header.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, protocol, 0, 0]);
    header.extend_from_slice(&src);
    header.extend_from_slice(&dst);
    let sum = checksum(&header);
    header[10..12].copy_from_slice(&sum.to_be_bytes());
    header.extend_from_slice(payload);
    header
}

/// An IPv4 frame from B to A.
fn ip_frame(protocol: u8, payload: &[u8]) -> Vec<u8> {
    ethernet(MAC_A, MAC_B, 0x0800, &ipv4(IP_B, IP_A, protocol, payload))
}

fn udp_datagram(source_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut datagram = source_port.to_be_bytes().to_vec();
    datagram.extend_from_slice(&9u16.to_be_bytes());
    datagram.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    datagram.extend_from_slice(&[0, 0]);
    datagram.extend_from_slice(payload);
    datagram
}

fn tcp_syn(source_port: u16) -> Vec<u8> {
    let mut segment = source_port.to_be_bytes().to_vec();
    segment.extend_from_slice(&[0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02]);
    segment.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    segment
}

fn arp_request(sender_mac: [u8; 6], sender_ip: [u8; 4], target_ip: [u8; 4]) -> Vec<u8> {
    let mut request = vec![0, 1, 0x08, 0, 6, 4, 0, 1];
    request.extend_from_slice(&sender_mac);
    request.extend_from_slice(&sender_ip);
    request.extend_from_slice(&[0; 6]);
    request.extend_from_slice(&target_ip);
    ethernet([0xff; 6], sender_mac, 0x0806, &request)
}

fn udp_frame(source_port: u16, payload: &[u8]) -> Vec<u8> {
    ip_frame(IPPROTO_UDP, &udp_datagram(source_port, payload))
}

fn arp_frame() -> Vec<u8> {
    arp_request(MAC_B, IP_B, IP_A)
}

/// An ICMP message of `icmp_type` (8 echo request, 0 echo reply) with `ping`'s 56-byte
/// payload, its checksum right.
fn icmp_message(icmp_type: u8, id: u16, sequence: u16) -> Vec<u8> {
    let mut message = vec![icmp_type, 0, 0, 0];
    message.extend_from_slice(&id.to_be_bytes());
    message.extend_from_slice(&sequence.to_be_bytes());
    message.extend((0..56u8).map(|byte| byte.wrapping_mul(7)));
    let sum = checksum(&message);
    message[2..4].copy_from_slice(&sum.to_be_bytes());
    message
}

fn icmp_frame(icmp_type: u8, id: u16, sequence: u16) -> Vec<u8> {
    ip_frame(IPPROTO_ICMP, &icmp_message(icmp_type, id, sequence))
}

/// Classic pcap, little-endian, microsecond timestamps, Ethernet.
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for word in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for (index, frame) in frames.iter().enumerate() {
        let length = frame.len() as u32;
        for word in [1_700_000_000 + index as u32, 0, length, length] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(frame);
    }
    out
}

/// The frames of a classic little-endian pcap (what `-out` writes).
fn read_pcap(bytes: &[u8]) -> Vec<Vec<u8>> {
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!(word(0), 0xa1b2_c3d4, "a little-endian microsecond pcap");
    assert_eq!(word(20), 1, "Ethernet frames");
    let mut frames = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let length = word(at + 8) as usize;
        frames.push(bytes[at + 16..at + 16 + length].to_vec());
        at += 16 + length;
    }
    frames
}

// kern/exercises/packets.pcap: the capture docs/exercises.md runs the solutions over.

// ---------------------------------------------------------------------------
// Running the solutions and reading what they counted.
// ---------------------------------------------------------------------------

/// `kern/exercises/<name>.elf`, which `make -C kern exercises` builds.
fn exercise(name: &str) -> PathBuf {
    let path = repo_root().join(format!("kern/exercises/{name}.elf"));
    assert!(
        path.exists(),
        "{} is missing: build the solutions with `make -C kern exercises` (scripts/test.sh does this)",
        path.display()
    );
    path
}

/// `xdploader -file <solution> -run xdp_skeleton -pcap CAPTURE -pin-path DIR -json` and
/// `extra`: the report.
fn run_solution(name: &str, frames: &[Vec<u8>], pin_dir: &PinDir, extra: &[&str]) -> Value {
    let object = exercise(name);
    let capture = TempFile::new(&format!("ex-{name}.pcap"), &pcap(frames));
    let mut args = vec![
        "-file",
        path_str(&object),
        "-run",
        "xdp_skeleton",
        "-pcap",
        capture.as_str(),
        "-pin-path",
        pin_dir.as_str(),
        "-json",
    ];
    args.extend_from_slice(extra);
    let output = run(xdploader(), &args);
    assert!(output.status.success(), "{}", describe(&output));
    let report = json(String::from_utf8_lossy(&output.stdout).trim());
    assert_eq!(
        report["packets"].as_array().map(Vec::len),
        Some(frames.len()),
        "one row per frame: {report}"
    );
    report
}

/// The verdict of each packet of a `-run -json` report.
fn verdicts(report: &Value) -> Vec<&str> {
    report["packets"]
        .as_array()
        .expect("packets")
        .iter()
        .map(|packet| packet["verdict"].as_str().unwrap_or("not run"))
        .collect()
}

/// The five counters, as `statswatch -file PIN -json` reports them.
fn statswatch_json(pin: &Path) -> Vec<(u64, u64)> {
    let sample = json(run_ok(statswatch(), &["-file", path_str(pin), "-json"]).trim());
    let actions = sample["actions"].as_array().expect("actions");
    assert_eq!(actions.len(), ACTIONS.len(), "{sample}");
    actions
        .iter()
        .zip(ACTIONS)
        .map(|(action, name)| {
            assert_eq!(action["action"], name, "{sample}");
            (
                action["packets"].as_u64().expect("packets"),
                action["bytes"].as_u64().expect("bytes"),
            )
        })
        .collect()
}

/// Checks the pinned stats map with statswatch -json and with `bpftool -j`: exactly
/// `expected` (action, packets, bytes), every other action zero.
fn assert_stats(pin: &Path, expected: &[(usize, u64, u64)], context: &str) {
    let mut counts = vec![(0, 0); ACTIONS.len()];
    for &(action, packets, bytes) in expected {
        counts[action] = (packets, bytes);
    }
    assert_eq!(statswatch_json(pin), counts, "statswatch -json: {context}");
    assert_eq!(
        bpftool_counts(pin),
        counts,
        "bpftool -j map dump: {context}"
    );
}

fn total_len(frames: &[&Vec<u8>]) -> u64 {
    frames.iter().map(|frame| frame.len() as u64).sum()
}

/// `xdploader -file <solution> -i IFACES -pin-path DIR` plus `extra`, inside the XDP
/// namespace (nsenter: network only, so the pins land on the real bpffs).
fn attach_solution(net: &TestNet, name: &str, interfaces: &str, extra: &[&str]) -> String {
    let object = exercise(name);
    let pin_dir = net.pin_dir.display().to_string();
    let mut args = vec![
        "-file",
        path_str(&object),
        "-i",
        interfaces,
        "-pin-path",
        &pin_dir,
    ];
    args.extend_from_slice(extra);
    let output = net.in_xdp_ns(xdploader(), &args);
    assert!(output.status.success(), "{}", describe(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `ip netns exec NS ping -c COUNT -i 0.2 -W 1 ADDRESS`: bounded by its count and wait.
fn ping(ns: &str, address: Ipv4Addr, count: u32) -> Output {
    run(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "ping",
            "-c",
            &count.to_string(),
            "-i",
            "0.2",
            "-W",
            "1",
            &address.to_string(),
        ],
    )
}

/// A value of the `Icmp:` line of /proc/net/snmp in the XDP namespace.
fn icmp_counter(net: &TestNet, name: &str) -> u64 {
    let output = net.in_xdp_ns("cat", &["/proc/net/snmp"]);
    assert!(output.status.success(), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines().filter(|line| line.starts_with("Icmp:"));
    let (names, values) = (
        lines.next().expect("Icmp names"),
        lines.next().expect("Icmp values"),
    );
    let index = names
        .split_whitespace()
        .position(|field| field == name)
        .unwrap_or_else(|| panic!("no {name} in {names}"));
    values
        .split_whitespace()
        .nth(index)
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no value for {name} in {values}"))
}

// Exercise 1: drop ICMP.

// Exercise 2: count per protocol.

// Exercise 3: answer pings with XDP_TX.

// Exercise 4: redirect between two veths through the devmap.
