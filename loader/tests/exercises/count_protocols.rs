//! Exercise 2: count per protocol.

use super::*;

fn tcp_frame(source_port: u16) -> Vec<u8> {
    ip_frame(IPPROTO_TCP, &tcp_syn(source_port))
}

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
