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

fn tcp_frame(source_port: u16) -> Vec<u8> {
    ip_frame(IPPROTO_TCP, &tcp_syn(source_port))
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

/// An echo request whose own checksum is `wanted`: the id is chosen to make it so,
/// which puts the incremental update of the reply's checksum on the edges of
/// one's-complement arithmetic (carries, 0x0000, 0xffff nearby).
fn echo_request_with_checksum(wanted: u16) -> Vec<u8> {
    let mut message = icmp_message(8, 0, 1);
    message[2..4].copy_from_slice(&[0, 0]);
    // The checksum is !sum; the id is one more 16-bit word of the sum. Solve
    // sum(rest) + id == !wanted in one's complement (0xffff and 0 are the same there).
    let rest = !checksum(&message);
    let target = !wanted;
    let id = if target >= rest {
        target - rest
    } else {
        target.wrapping_sub(rest).wrapping_sub(1)
    };
    message[4..6].copy_from_slice(&id.to_be_bytes());
    let sum = checksum(&message);
    message[2..4].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(sum, wanted, "the id {id:#06x} gives checksum {wanted:#06x}");
    ip_frame(IPPROTO_ICMP, &message)
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

// ---------------------------------------------------------------------------
// kern/exercises/packets.pcap: the capture docs/exercises.md runs the solutions over.
// ---------------------------------------------------------------------------

/// scripts/start.sh's two ends: veth1 on the host, where the program is attached, and
/// veth2 in the namespace `xdp`.
const VETH1_MAC: [u8; 6] = [0x52, 0x54, 0x27, 0x27, 0x27, 0x25];
const VETH2_MAC: [u8; 6] = [0x52, 0x54, 0x27, 0x27, 0x27, 0x26];
const VETH1_IP: [u8; 4] = [10, 2, 2, 1];
const VETH2_IP: [u8; 4] = [10, 2, 2, 2];

/// What arrives on veth1 from veth2, one frame of each kind the exercises tell apart.
fn docs_capture() -> Vec<Vec<u8>> {
    let from_veth2 = |protocol: u8, payload: &[u8]| {
        ethernet(
            VETH1_MAC,
            VETH2_MAC,
            0x0800,
            &ipv4(VETH2_IP, VETH1_IP, protocol, payload),
        )
    };
    vec![
        from_veth2(IPPROTO_ICMP, &icmp_message(8, 0x0d05, 1)),
        from_veth2(IPPROTO_ICMP, &icmp_message(0, 0x0d06, 1)),
        from_veth2(IPPROTO_UDP, &udp_datagram(40000, b"hello")),
        from_veth2(IPPROTO_TCP, &tcp_syn(40001)),
        arp_request(VETH2_MAC, VETH2_IP, VETH1_IP),
    ]
}

fn docs_capture_path() -> PathBuf {
    repo_root().join("kern/exercises/packets.pcap")
}

/// The file is in the repository so that a learner can run `-run` without capturing
/// anything; it is exactly what docs_capture() builds (write it again with
/// XDP_WRITE_DOCS_CAPTURE=1 after changing that function).
#[test]
fn the_docs_capture_is_the_one_built_here() {
    let built = pcap(&docs_capture());
    let path = docs_capture_path();
    if std::env::var_os("XDP_WRITE_DOCS_CAPTURE").is_some() {
        std::fs::write(&path, &built).expect("write kern/exercises/packets.pcap");
    }
    let shipped = std::fs::read(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    assert!(
        shipped == built,
        "{} differs from docs_capture(): write it again with XDP_WRITE_DOCS_CAPTURE=1",
        path.display()
    );
    assert_eq!(read_pcap(&shipped), docs_capture());
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn each_solution_gives_the_verdicts_docs_exercises_shows_for_packets_pcap() {
    require_root();
    let expected: [(&str, [&str; 5]); 4] = [
        (
            "drop_icmp",
            ["XDP_DROP", "XDP_DROP", "XDP_PASS", "XDP_PASS", "XDP_PASS"],
        ),
        ("count_protocols", ["XDP_PASS"; 5]),
        (
            "pong",
            ["XDP_TX", "XDP_PASS", "XDP_PASS", "XDP_PASS", "XDP_PASS"],
        ),
        // A test run's frames come in on lo, which the loader's entries do not name.
        ("redirect", ["XDP_PASS"; 5]),
    ];
    for (name, verdicts_shown) in expected {
        let pin_dir = PinDir::new(&format!("ex-docs-{name}"));
        let object = exercise(name);
        let output = run(
            xdploader(),
            &[
                "-file",
                path_str(&object),
                "-run",
                "xdp_skeleton",
                "-pcap",
                path_str(&docs_capture_path()),
                "-pin-path",
                pin_dir.as_str(),
                "-json",
            ],
        );
        assert!(output.status.success(), "{name}: {}", describe(&output));
        let report = json(String::from_utf8_lossy(&output.stdout).trim());
        assert_eq!(verdicts(&report), verdicts_shown, "{name}: {report}");
    }
}

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

/// Runs `f` on a thread that has moved into the network namespace `ns`.
fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let netns = File::open(format!("/run/netns/{ns}"))
        .unwrap_or_else(|error| panic!("open netns {ns}: {error}"));
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                setns(&netns, CloneFlags::CLONE_NEWNET).expect("setns");
                f()
            })
            .join()
            .expect("thread in a namespace")
    })
}

/// Sends `count` UDP datagrams of `payload` bytes from `from` (an address in `ns`).
fn send_udp(ns: &str, from: Ipv4Addr, to: SocketAddrV4, count: usize, payload: usize) {
    in_netns(ns, || {
        let socket = UdpSocket::bind(SocketAddrV4::new(from, 0)).expect("bind the sender");
        for _ in 0..count {
            socket
                .send_to(&vec![0x5a; payload], to)
                .expect("send a datagram");
        }
    });
}

/// Binds a UDP socket at `at` in `ns`, then calls `send`, then receives until `count`
/// datagrams came or none came for two seconds: (length, source) of each.
fn receive_udp(
    ns: &str,
    at: SocketAddrV4,
    count: usize,
    send: impl FnOnce(),
) -> Vec<(usize, SocketAddrV4)> {
    let netns = File::open(format!("/run/netns/{ns}"))
        .unwrap_or_else(|error| panic!("open netns {ns}: {error}"));
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let receiver = scope.spawn(move || {
            setns(&netns, CloneFlags::CLONE_NEWNET).expect("setns");
            let socket = UdpSocket::bind(at).expect("bind the receiver");
            socket
                .set_read_timeout(Some(Duration::from_secs(2)))
                .expect("read timeout");
            ready_tx.send(()).expect("signal ready");
            let mut got = Vec::new();
            let mut buffer = [0u8; 2048];
            while got.len() < count {
                match socket.recv_from(&mut buffer) {
                    Ok((length, std::net::SocketAddr::V4(source))) => got.push((length, source)),
                    Ok((_, other)) => panic!("an IPv6 source {other}"),
                    Err(_) => break,
                }
            }
            got
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the receiver is bound");
        send();
        receiver.join().expect("receiver thread")
    })
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

/// The ifindex of `interface` in namespace `ns`.
fn ifindex(ns: &str, interface: &str) -> u32 {
    let out = run_ok("ip", &["-n", ns, "-j", "link", "show", "dev", interface]);
    json(&out)[0]["ifindex"]
        .as_u64()
        .and_then(|index| u32::try_from(index).ok())
        .unwrap_or_else(|| panic!("no ifindex in {out}"))
}

fn le_bytes(value: u32) -> Vec<String> {
    value.to_le_bytes().iter().map(u8::to_string).collect()
}

/// `bpftool map update pinned PIN key K value V` for a map of u32 to u32, run in the
/// network namespace `ns` (or this one): a devmap looks the ifindex it is given up in
/// the namespace of whoever writes the entry.
fn map_update(ns: Option<&str>, pin: &Path, key: u32, value: u32) {
    let netns = ns.map_or_else(
        || "--net=/proc/self/ns/net".to_string(),
        |ns| format!("--net=/run/netns/{ns}"),
    );
    let mut args = vec![
        netns,
        "bpftool".into(),
        "map".into(),
        "update".into(),
        "pinned".into(),
        path_str(pin).into(),
        "key".into(),
    ];
    args.extend(le_bytes(key));
    args.push("value".into());
    args.extend(le_bytes(value));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok("nsenter", &args);
}

// ---------------------------------------------------------------------------
// Exercise 1: drop ICMP.
// ---------------------------------------------------------------------------

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn drop_icmp_drops_icmp_passes_the_rest_and_counts_both() {
    require_root();
    let pin_dir = PinDir::new("ex-drop");
    let (icmp, udp, arp) = (
        icmp_frame(8, 0x4242, 1),
        udp_frame(40000, b"hello"),
        arp_frame(),
    );
    let frames = vec![icmp.clone(), udp.clone(), arp.clone()];
    let report = run_solution("drop_icmp", &frames, &pin_dir, &[]);
    assert_eq!(
        verdicts(&report),
        ["XDP_DROP", "XDP_PASS", "XDP_PASS"],
        "ICMP echo, UDP, ARP: {report}"
    );
    assert_stats(
        &pin_dir.join("stats_map"),
        &[
            (XDP_DROP, 1, total_len(&[&icmp])),
            (XDP_PASS, 2, total_len(&[&udp, &arp])),
        ],
        "one ICMP frame dropped, UDP and ARP passed",
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn drop_icmp_makes_ping_fail_and_counts_each_echo_request() {
    let net = TestNet::new();
    attach_solution(&net, "drop_icmp", &net.xdp_if, &[]);
    let output = ping(&net.sender_ns, XDP_SIDE_IP, 3);
    assert!(
        !output.status.success(),
        "ping must fail: {}",
        describe(&output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("3 packets transmitted, 0 received"),
        "{}",
        describe(&output)
    );
    // Static neighbours and IPv6 off: the three echo requests are all that arrived.
    assert_stats(
        &net.pin("stats_map"),
        &[(XDP_DROP, 3, 3 * PING_FRAME)],
        "three echo requests dropped",
    );
    assert_eq!(
        icmp_counter(&net, "InMsgs"),
        0,
        "the stack behind the XDP side saw no ICMP"
    );
}

// ---------------------------------------------------------------------------
// Exercise 2: count per protocol.
// ---------------------------------------------------------------------------

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn count_protocols_counts_each_ip_protocol_in_proto_count() {
    require_root();
    let pin_dir = PinDir::new("ex-count");
    let frames = vec![
        udp_frame(40001, b"one"),
        tcp_frame(40002),
        udp_frame(40003, b"two"),
        icmp_frame(8, 7, 1),
        tcp_frame(40004),
        arp_frame(),
        udp_frame(40005, b"three"),
    ];
    let report = run_solution("count_protocols", &frames, &pin_dir, &[]);
    assert_eq!(
        verdicts(&report),
        ["XDP_PASS"; 7],
        "counting changes no verdict: {report}"
    );
    assert!(
        pin_dir.entries().contains(&"proto_count".to_string()),
        "proto_count is pinned by name: {:?}",
        pin_dir.entries()
    );
    let dump = json(&run_ok(
        "bpftool",
        &[
            "-j",
            "map",
            "dump",
            "pinned",
            path_str(&pin_dir.join("proto_count")),
        ],
    ));
    let entries = dump.as_array().expect("entries");
    assert_eq!(entries.len(), 256, "a slot per protocol number");
    let mut counts = vec![0u64; 256];
    for entry in entries {
        let key = hex_value(&entry["key"]) as usize;
        counts[key] = entry["values"]
            .as_array()
            .expect("per-CPU values")
            .iter()
            .map(|cpu| hex_value(&cpu["value"]))
            .sum();
    }
    let mut expected = vec![0u64; 256];
    expected[usize::from(IPPROTO_UDP)] = 3;
    expected[usize::from(IPPROTO_TCP)] = 2;
    expected[usize::from(IPPROTO_ICMP)] = 1;
    assert_eq!(
        counts, expected,
        "3 UDP, 2 TCP, 1 ICMP; ARP is not IP and is not counted"
    );
    let everything: Vec<&Vec<u8>> = frames.iter().collect();
    assert_stats(
        &pin_dir.join("stats_map"),
        &[(XDP_PASS, 7, total_len(&everything))],
        "all passed",
    );
}

// ---------------------------------------------------------------------------
// Exercise 3: answer pings with XDP_TX.
// ---------------------------------------------------------------------------

/// Checks that `reply` is the echo reply to `request`: addresses swapped, type 0, the
/// rest unchanged, and both checksums equal to the ones computed from scratch here.
fn assert_echo_reply(request: &[u8], reply: &[u8]) {
    assert_eq!(reply.len(), request.len(), "same length");
    assert_eq!(
        &reply[0..6],
        &request[6..12],
        "destination MAC = request's source"
    );
    assert_eq!(
        &reply[6..12],
        &request[0..6],
        "source MAC = request's destination"
    );
    assert_eq!(&reply[12..14], &[0x08, 0x00], "IPv4");
    let (ip_request, ip_reply) = (&request[14..34], &reply[14..34]);
    assert_eq!(
        &ip_reply[12..16],
        &ip_request[16..20],
        "source IP = request's destination"
    );
    assert_eq!(
        &ip_reply[16..20],
        &ip_request[12..16],
        "destination IP = request's source"
    );
    assert_eq!(
        &ip_reply[..10],
        &ip_request[..10],
        "the rest of the IP header"
    );
    let mut header = ip_reply.to_vec();
    header[10..12].copy_from_slice(&[0, 0]);
    assert_eq!(
        u16::from_be_bytes([ip_reply[10], ip_reply[11]]),
        checksum(&header),
        "IPv4 header checksum"
    );
    let (icmp_request, icmp_reply) = (&request[34..], &reply[34..]);
    assert_eq!(
        (icmp_reply[0], icmp_reply[1]),
        (0, 0),
        "type 0 (echo reply), code 0"
    );
    assert_eq!(
        &icmp_reply[4..],
        &icmp_request[4..],
        "id, sequence and data unchanged"
    );
    let mut message = icmp_reply.to_vec();
    message[2..4].copy_from_slice(&[0, 0]);
    assert_eq!(
        u16::from_be_bytes([icmp_reply[2], icmp_reply[3]]),
        checksum(&message),
        "ICMP checksum (request's was {:#04x}{:02x})",
        icmp_request[2],
        icmp_request[3]
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn pong_turns_echo_requests_into_valid_replies_with_xdp_tx() {
    require_root();
    let pin_dir = PinDir::new("ex-pong");
    // Requests whose checksums put the incremental update on every edge: the reply's
    // checksum is the request's plus 0x0800, with and without an end-around carry.
    let requests: Vec<Vec<u8>> = [
        0x1234, 0x0000, 0x07ff, 0x0800, 0xf7fe, 0xf7ff, 0xf800, 0xfffe,
    ]
    .into_iter()
    .map(echo_request_with_checksum)
    .chain([icmp_frame(8, 0x4242, 1)])
    .collect();
    let udp = udp_frame(40000, b"not a ping");
    let reply = icmp_frame(0, 0x4242, 1);
    let mut frames = requests.clone();
    frames.extend([udp.clone(), reply.clone()]);
    let out = TempFile::new("ex-pong-out.pcap", b"");
    let report = run_solution("pong", &frames, &pin_dir, &["-out", out.as_str()]);
    let mut expected = vec!["XDP_TX"; requests.len()];
    expected.extend(["XDP_PASS", "XDP_PASS"]);
    assert_eq!(
        verdicts(&report),
        expected,
        "echo requests are sent back, the rest passes: {report}"
    );
    let written = read_pcap(&std::fs::read(&out.path).expect("read -out"));
    assert_eq!(
        written.len(),
        frames.len(),
        "-out holds XDP_TX and XDP_PASS frames"
    );
    for (request, answer) in requests.iter().zip(&written) {
        assert_echo_reply(request, answer);
    }
    assert_eq!(written[requests.len()], udp, "UDP passes unchanged");
    assert_eq!(
        written[requests.len() + 1],
        reply,
        "an echo reply is not answered"
    );
    let requests_ref: Vec<&Vec<u8>> = requests.iter().collect();
    assert_stats(
        &pin_dir.join("stats_map"),
        &[
            (XDP_TX, requests.len() as u64, total_len(&requests_ref)),
            (XDP_PASS, 2, total_len(&[&udp, &reply])),
        ],
        "requests under XDP_TX",
    );
}

/// Attaches pong in `mode`, pings from the sender namespace and checks that every echo
/// request came back from XDP and none reached the stack behind it.
fn pong_on_veth(mode: &str) {
    let net = TestNet::new();
    let peer_pins = PinDir::new("ex-pong-peer");
    if mode == "drv" {
        // Native XDP_TX on a veth puts the frame into the peer's receive ring, and
        // the kernel (6.18) wakes that ring up only when the peer runs a native XDP
        // program too; with none, the replies wait there until some other frame
        // arrives. kern/xdp.elf on the peer passes them, and counts them.
        let object = xdp_object();
        let output = run(
            "nsenter",
            &[
                &format!("--net=/run/netns/{}", net.sender_ns),
                xdploader(),
                "-file",
                path_str(&object),
                "-i",
                &net.sender_if,
                "-mode",
                "drv",
                "-pin-path",
                peer_pins.as_str(),
            ],
        );
        assert!(output.status.success(), "{}", describe(&output));
    }
    let out = attach_solution(&net, "pong", &net.xdp_if, &["-mode", mode]);
    let wanted = if mode == "drv" {
        "native (driver)"
    } else {
        "generic (skb)"
    };
    assert!(
        out.contains(&format!("attached to {} in {wanted} mode", net.xdp_if)),
        "{out}"
    );
    let requests_before = icmp_counter(&net, "InEchos");
    let output = ping(&net.sender_ns, XDP_SIDE_IP, 3);
    assert!(
        output.status.success(),
        "ping must succeed: {}",
        describe(&output)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("3 packets transmitted, 3 received"),
        "{}",
        describe(&output)
    );
    assert_stats(
        &net.pin("stats_map"),
        &[(XDP_TX, 3, 3 * PING_FRAME)],
        "three requests answered with XDP_TX",
    );
    assert_eq!(
        (
            icmp_counter(&net, "InEchos"),
            icmp_counter(&net, "OutEchoReps")
        ),
        (requests_before, 0),
        "the stack behind the XDP side never saw a request, nor answered one"
    );
    if mode == "drv" {
        assert_stats(
            &peer_pins.join("stats_map"),
            &[(XDP_PASS, 3, 3 * PING_FRAME)],
            "the peer's kern/xdp.elf passed the three replies",
        );
    }
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn pong_answers_a_real_ping_in_generic_mode_without_the_stack() {
    pong_on_veth("skb");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn pong_answers_a_real_ping_in_native_mode_without_the_stack() {
    pong_on_veth("drv");
}

// ---------------------------------------------------------------------------
// Exercise 4: redirect between two veths through the devmap.
// ---------------------------------------------------------------------------

/// The far side: a third namespace whose veth, `far_if`, is paired with `xdp_if2` in
/// the XDP namespace. `Drop` deletes the namespace, and with it the pair.
struct FarSide {
    ns: String,
    xdp_if2: String,
    far_if: String,
}

const FAR_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 3);
const XDP_IF2_MAC: &str = "52:54:27:99:00:03";
const FAR_MAC: &str = "52:54:27:99:00:04";
const SENDER_MAC: &str = "52:54:27:99:00:02";

impl FarSide {
    /// Names derived from the TestNet's own, so they are as unique as its names.
    fn new(net: &TestNet) -> FarSide {
        let stem = |name: &str| name[..name.len() - 1].to_string();
        let far = FarSide {
            ns: format!("{}c", stem(&net.xdp_ns)),
            xdp_if2: format!("{}c", stem(&net.xdp_if)),
            far_if: format!("{}d", stem(&net.xdp_if)),
        };
        run_ok("ip", &["netns", "add", &far.ns]);
        for key in ["all", "default"] {
            run_ok(
                "ip",
                &[
                    "netns",
                    "exec",
                    &far.ns,
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
                ],
            );
        }
        run_ok(
            "ip",
            &[
                "link",
                "add",
                &far.xdp_if2,
                "netns",
                &net.xdp_ns,
                "address",
                XDP_IF2_MAC,
                "type",
                "veth",
                "peer",
                "name",
                &far.far_if,
                "netns",
                &far.ns,
                "address",
                FAR_MAC,
            ],
        );
        let far_cidr = format!("{FAR_IP}/24");
        let sender_ip = SENDER_IP.to_string();
        let far_ip = FAR_IP.to_string();
        for args in [
            vec!["-n", &net.xdp_ns, "link", "set", "dev", &far.xdp_if2, "up"],
            vec!["-n", &far.ns, "link", "set", "dev", "lo", "up"],
            vec!["-n", &far.ns, "addr", "add", &far_cidr, "dev", &far.far_if],
            vec!["-n", &far.ns, "link", "set", "dev", &far.far_if, "up"],
            // Each end knows the other's MAC: no ARP, only the frames the test sends.
            vec![
                "-n",
                &far.ns,
                "neigh",
                "replace",
                &sender_ip,
                "lladdr",
                SENDER_MAC,
                "dev",
                &far.far_if,
                "nud",
                "permanent",
            ],
            vec![
                "-n",
                &net.sender_ns,
                "neigh",
                "replace",
                &far_ip,
                "lladdr",
                FAR_MAC,
                "dev",
                &net.sender_if,
                "nud",
                "permanent",
            ],
        ] {
            run_ok("ip", &args);
        }
        far
    }
}

impl Drop for FarSide {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn redirect_without_an_entry_passes_and_with_one_redirects() {
    require_root();
    let pin_dir = PinDir::new("ex-redirect-run");
    let frames = vec![udp_frame(40000, b"hello"), arp_frame()];
    // A test run's frames come in on the loopback device of the loader's namespace:
    // the loader's own if_redirect entries are only for the interfaces it attaches to.
    let report = run_solution("redirect", &frames, &pin_dir, &[]);
    assert_eq!(
        verdicts(&report),
        ["XDP_PASS", "XDP_PASS"],
        "no entry for the ingress interface: {report}"
    );
    let lo = 1;
    map_update(None, &pin_dir.join("if_redirect"), lo, lo);
    let report = run_solution("redirect", &frames, &pin_dir, &[]);
    assert_eq!(
        verdicts(&report),
        ["XDP_REDIRECT", "XDP_REDIRECT"],
        "IPv4 at the end of the chain, ARP at the entry: {report}"
    );
    let all = total_len(&frames.iter().collect::<Vec<_>>());
    assert_stats(
        &pin_dir.join("stats_map"),
        &[(XDP_PASS, 2, all), (XDP_REDIRECT, 2, all)],
        "one run of each",
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn redirect_joins_two_veths_through_if_redirect() {
    let net = TestNet::new();
    let far = FarSide::new(&net);
    let both = format!("{},{}", net.xdp_if, far.xdp_if2);
    let out = attach_solution(&net, "redirect", &both, &[]);
    let (one, two) = (
        ifindex(&net.xdp_ns, &net.xdp_if),
        ifindex(&net.xdp_ns, &far.xdp_if2),
    );
    assert!(
        out.contains(&format!("Inserting ifIndex {one} into if_redirect"))
            && out.contains(&format!("Inserting ifIndex {two} into if_redirect")),
        "{out}"
    );
    // What the exercise asks of the learner: each interface's entry names the other.
    let devmap = net.pin("if_redirect");
    map_update(Some(&net.xdp_ns), &devmap, one, two);
    map_update(Some(&net.xdp_ns), &devmap, two, one);
    let slots: Vec<(u64, u64)> = json(&run_ok(
        "bpftool",
        &["-j", "map", "dump", "pinned", path_str(&devmap)],
    ))
    .as_array()
    .expect("entries")
    .iter()
    // bpftool lists every slot of the array; empty ones carry an error, not bytes.
    .filter(|entry| entry["value"].is_array())
    .map(|entry| (hex_value(&entry["key"]), hex_value(&entry["value"])))
    .collect();
    let mut expected_slots = vec![
        (u64::from(one), u64::from(two)),
        (u64::from(two), u64::from(one)),
    ];
    expected_slots.sort();
    assert_eq!(slots, expected_slots, "if_redirect after the updates");

    // Sender -> far side: in through xdp_if, out through xdp_if2.
    let to_far = SocketAddrV4::new(FAR_IP, 7007);
    let got = receive_udp(&far.ns, to_far, 5, || {
        send_udp(&net.sender_ns, SENDER_IP, to_far, 5, 64);
    });
    assert_eq!(got.len(), 5, "all five datagrams crossed: {got:?}");
    assert!(
        got.iter()
            .all(|&(length, source)| length == 64 && *source.ip() == SENDER_IP),
        "{got:?}"
    );
    // Far side -> sender: in through xdp_if2, out through xdp_if.
    let to_sender = SocketAddrV4::new(SENDER_IP, 7008);
    let got = receive_udp(&net.sender_ns, to_sender, 3, || {
        send_udp(&far.ns, FAR_IP, to_sender, 3, 32);
    });
    assert_eq!(got.len(), 3, "all three datagrams crossed back: {got:?}");
    assert!(
        got.iter()
            .all(|&(length, source)| length == 32 && *source.ip() == FAR_IP),
        "{got:?}"
    );
    let udp_bytes = 5 * (UDP_FRAME_OVERHEAD + 64) + 3 * (UDP_FRAME_OVERHEAD + 32);
    assert_stats(
        &net.pin("stats_map"),
        &[(XDP_REDIRECT, 8, udp_bytes)],
        "every datagram redirected, none passed",
    );

    // And a ping across: two requests one way, two replies the other.
    let output = ping(&net.sender_ns, FAR_IP, 2);
    assert!(
        output.status.success(),
        "ping across: {}",
        describe(&output)
    );
    assert_stats(
        &net.pin("stats_map"),
        &[(XDP_REDIRECT, 12, udp_bytes + 4 * PING_FRAME)],
        "pings redirected both ways",
    );
    assert_eq!(
        icmp_counter(&net, "InMsgs"),
        0,
        "the XDP namespace's own stack saw none of it"
    );
}
