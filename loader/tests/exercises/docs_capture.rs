//! kern/exercises/packets.pcap: the capture docs/exercises.md runs the solutions over, and
//! the verdicts the doc shows for it.

use super::*;

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
