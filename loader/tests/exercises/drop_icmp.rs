//! Exercise 1: drop ICMP.

use super::*;

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
