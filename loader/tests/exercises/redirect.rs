//! Exercise 4: redirect between two veths through the devmap.

use super::*;

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
