//! Exercise 3: answer pings with XDP_TX.

use super::*;

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
