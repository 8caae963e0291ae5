//! The transcripts of docs/exercises.md.
//!
//! The doc's transcripts come from start.sh's network (veth1 on the host, veth2 in the
//! namespace `xdp`, 10.2.2.1 and 10.2.2.2); here a TestNet stands for it, with its own
//! addresses mapped to the doc's. A TestNet has static neighbours and IPv6 off, so the
//! XDP_PASS counters of an attached program never hold the ARP and neighbour-discovery
//! frames that the doc's network exchanged: that one line of statswatch's output is
//! masked (the doc says those numbers differ from one network to the next). Everything
//! the exercises themselves count (XDP_DROP, XDP_TX, XDP_REDIRECT, proto_count's sums,
//! the namespaces' ICMP counters) is compared exactly.

use super::*;

pub const CASES: &[Case] = &[
    Case {
        name: "ex1-drop-icmp",
        doc: "docs/exercises.md",
        mask: mask_xdp_pass,
        run: |s| {
            let net = TestNet::new();
            exercise_names(s, &net);
            // The demo's program is attached first: loading the solution replaces it.
            net.load_ok();
            load_solution(s, &net, "drop_icmp");
            let peer = support::SENDER_IP.to_string();
            s.cmd_in(
                &net,
                "$ ping -c 3 -W 1 10.2.2.2",
                &["ping", "-c", "3", "-W", "1", &peer],
            );
            statswatch_of(s, &net);
        },
        ..Case::BASE
    },
    Case {
        name: "ex1-nstat-in-xdp",
        doc: "docs/exercises.md",
        run: |s| {
            let net = with_solution(s, "drop_icmp");
            // The ping fails: its replies are dropped.
            ping_failing(&net);
            s.cmd(
                "$ sudo ip netns exec xdp nstat -asz IcmpInEchos IcmpOutEchoReps",
                &[
                    "ip",
                    "netns",
                    "exec",
                    &net.sender_ns,
                    "nstat",
                    "-asz",
                    "IcmpInEchos",
                    "IcmpOutEchoReps",
                ],
            );
        },
        ..Case::BASE
    },
    Case {
        name: "ex1-run",
        doc: "docs/exercises.md",
        run: |s| {
            let dir = run_over_capture(s, "drop_icmp");
            s.cmd("$ sudo rm -r /sys/fs/bpf/try", &["rm", "-r", dir.as_str()]);
        },
        ..Case::BASE
    },
    Case {
        name: "ex2-load",
        doc: "docs/exercises.md",
        run: |s| {
            let net = TestNet::new();
            exercise_names(s, &net);
            net.load_ok();
            load_solution(s, &net, "count_protocols");
        },
        ..Case::BASE
    },
    Case {
        name: "ex2-traffic",
        doc: "docs/exercises.md",
        mask: mask_xdp_pass,
        run: |s| {
            let net = with_solution(s, "count_protocols");
            count_protocols_traffic(s, &net, true);
        },
        ..Case::BASE
    },
    Case {
        name: "ex2-bpftool",
        doc: "docs/exercises.md",
        // Which CPU counted a packet is the scheduler's choice: the per-CPU values are
        // masked; the jq line below checks their sums exactly. `[...]` in the doc stands
        // for the CPUs after the second.
        mask: mask_per_cpu_values,
        run: |s| {
            let net = with_solution(s, "count_protocols");
            count_protocols_traffic(s, &net, false);
            let pin = path_str(&net.pin("proto_count")).to_string();
            s.cmd(
                "$ sudo bpftool map lookup pinned /sys/fs/bpf/proto_count key 1 0 0 0",
                &[
                    "bpftool", "map", "lookup", "pinned", &pin, "key", "1", "0", "0", "0",
                ],
            );
            proto_sums(s, &pin, "/sys/fs/bpf/proto_count");
        },
        ..Case::BASE
    },
    Case {
        name: "ex2-run",
        doc: "docs/exercises.md",
        run: |s| {
            let dir = run_over_capture(s, "count_protocols");
            let pin = path_str(&dir.join("proto_count")).to_string();
            proto_sums(s, &pin, "/sys/fs/bpf/try/proto_count");
            s.cmd("$ sudo rm -r /sys/fs/bpf/try", &["rm", "-r", dir.as_str()]);
        },
        ..Case::BASE
    },
    Case {
        name: "ex3-pong",
        doc: "docs/exercises.md",
        mask: mask_xdp_pass,
        run: |s| {
            // Exercise 1 first, as the doc did: its three drops stay counted.
            let net = with_solution(s, "drop_icmp");
            ping_failing(&net);
            load_solution(s, &net, "pong");
            let nstat = ["nstat", "-asz", "IcmpInEchos", "IcmpOutEchoReps"];
            s.cmd_in(&net, "$ nstat -asz IcmpInEchos IcmpOutEchoReps", &nstat);
            let own = support::XDP_SIDE_IP.to_string();
            s.cmd(
                "$ sudo ip netns exec xdp ping -c 3 10.2.2.1",
                &[
                    "ip",
                    "netns",
                    "exec",
                    &net.sender_ns,
                    "ping",
                    "-c",
                    "3",
                    "-W",
                    "1",
                    &own,
                ],
            );
            s.cmd_in(&net, "$ nstat -asz IcmpInEchos IcmpOutEchoReps", &nstat);
            statswatch_of(s, &net);
        },
        ..Case::BASE
    },
    Case {
        name: "ex3-run-out",
        doc: "docs/exercises.md",
        run: |s| {
            let out = support::TempFile::new("replies.pcap", b"");
            s.name(out.as_str().to_string(), "replies.pcap");
            let dir = support::PinDir::new("try");
            s.name(dir.as_str().to_string(), "/sys/fs/bpf/try");
            s.cmd(
                "$ sudo target/release/xdploader -file kern/exercises/pong.elf -run xdp_skeleton -pcap kern/exercises/packets.pcap -pin-path /sys/fs/bpf/try -out replies.pcap",
                &[
                    xdploader(),
                    "-file",
                    &exercise_object("pong"),
                    "-run",
                    "xdp_skeleton",
                    "-pcap",
                    "kern/exercises/packets.pcap",
                    "-pin-path",
                    dir.as_str(),
                    "-out",
                    out.as_str(),
                ],
            );
            for (shown, file) in [
                ("kern/exercises/packets.pcap", "kern/exercises/packets.pcap"),
                ("replies.pcap", out.as_str()),
            ] {
                s.cmd(
                    &format!("$ od -A d -t x1 -j 40 -N 38 {shown}"),
                    &["od", "-A", "d", "-t", "x1", "-j", "40", "-N", "38", file],
                );
            }
            s.cmd(
                "$ sudo rm -r /sys/fs/bpf/try replies.pcap",
                &["rm", "-r", dir.as_str(), out.as_str()],
            );
        },
        ..Case::BASE
    },
    Case {
        name: "ex4-redirect",
        doc: "docs/exercises.md",
        // XDP_PASS is compared exactly: these namespaces are built as the doc builds them.
        run: ex4_redirect,
        ..Case::BASE
    },
];

root_transcripts! {
    transcript_ex1_drop_icmp => "ex1-drop-icmp",
    transcript_ex1_nstat_in_xdp => "ex1-nstat-in-xdp",
    transcript_ex1_run => "ex1-run",
    transcript_ex2_load => "ex2-load",
    transcript_ex2_traffic => "ex2-traffic",
    transcript_ex2_bpftool => "ex2-bpftool",
    transcript_ex2_run => "ex2-run",
    transcript_ex3_pong => "ex3-pong",
    transcript_ex3_run_out => "ex3-run-out",
    transcript_ex4_redirect => "ex4-redirect",
}

/// The jq filter the doc uses to sum proto_count's per-CPU values.
const JQ_SUMS: &str =
    ".[].formatted | {proto: .key, packets: ([.values[].value] | add)} | select(.packets > 0)";

/// A TestNet with its names mapped to the doc's and the solution NAME attached,
/// unrecorded (what the doc did before the block).
fn with_solution(s: &mut Session, name: &str) -> TestNet {
    let net = TestNet::new();
    exercise_names(s, &net);
    quietly(&strs(&solution_args(&net, name)));
    net
}

/// The doc's `sudo bpftool -j map dump pinned SHOWN | jq -c 'JQ_SUMS'` on the pin `pin`.
fn proto_sums(s: &mut Session, pin: &str, shown: &str) {
    s.cmd(
        &format!("$ sudo bpftool -j map dump pinned {shown} | jq -c '{JQ_SUMS}'"),
        &[
            "sh",
            "-c",
            &format!("bpftool -j map dump pinned {pin} | jq -c '{JQ_SUMS}'"),
        ],
    );
}

/// The TestNet's names and addresses mapped to start.sh's.
fn exercise_names(s: &mut Session, net: &TestNet) {
    s.net_names(net);
    s.name(support::XDP_SIDE_IP.to_string(), "10.2.2.1");
    s.name(support::SENDER_IP.to_string(), "10.2.2.2");
}

/// `kern/exercises/NAME.elf`, relative to the repository root (the doc's path).
fn exercise_object(name: &str) -> String {
    let file = format!("kern/exercises/{name}.elf");
    assert!(
        repo_root().join(&file).exists(),
        "{file} is missing: build the solutions with `make -C kern exercises`"
    );
    file
}

/// `xdploader -file kern/exercises/NAME.elf -i veth1` in the TestNet's XDP namespace,
/// with its pin dir.
fn solution_args(net: &TestNet, name: &str) -> Vec<String> {
    let object = exercise_object(name);
    let pin_dir = path_str(&net.pin_dir);
    with_netns(
        net,
        &[
            xdploader(),
            "-file",
            &object,
            "-i",
            &net.xdp_if,
            "-pin-path",
            pin_dir,
        ],
    )
}

/// The doc's `sudo target/release/xdploader -file kern/exercises/NAME.elf -i veth1`.
fn load_solution(s: &mut Session, net: &TestNet, name: &str) {
    s.cmd(
        &format!("$ sudo target/release/xdploader -file kern/exercises/{name}.elf -i veth1"),
        &strs(&solution_args(net, name)),
    );
}

/// Exercise 1's three pings from the XDP side, unrecorded; they fail (the replies are
/// dropped), so their exit status is no error.
fn ping_failing(net: &TestNet) {
    let peer = support::SENDER_IP.to_string();
    output_of(&strs(&with_netns(
        net,
        &["ping", "-c", "3", "-W", "1", &peer],
    )));
}

/// `sudo target/release/statswatch` on the TestNet's stats_map.
fn statswatch_of(s: &mut Session, net: &TestNet) {
    let pin = path_str(&net.pin("stats_map")).to_string();
    s.cmd(
        "$ sudo target/release/statswatch",
        &[statswatch(), "-file", &pin],
    );
}

/// Exercise 2's traffic: three pings from the XDP side, whose replies arrive on veth1,
/// and one UDP datagram from veth2 (recorded when `shown`).
fn count_protocols_traffic(s: &mut Session, net: &TestNet, shown: bool) {
    let peer = support::SENDER_IP.to_string();
    let own = support::XDP_SIDE_IP.to_string();
    let ping = ["ping", "-c", "3", "-W", "1", &peer];
    let udp = format!("echo hello >/dev/udp/{own}/9");
    let send = ["ip", "netns", "exec", &net.sender_ns, "bash", "-c", &udp];
    if shown {
        s.cmd_in(net, "$ ping -c 3 10.2.2.2", &ping);
        s.cmd(
            "$ sudo ip netns exec xdp bash -c 'echo hello >/dev/udp/10.2.2.1/9'",
            &send,
        );
    } else {
        quietly(&strs(&with_netns(net, &ping)));
        quietly(&send);
    }
}

/// `sudo target/release/xdploader -file kern/exercises/NAME.elf -run xdp_skeleton -pcap
/// kern/exercises/packets.pcap -pin-path /sys/fs/bpf/try`, with a private directory for
/// /sys/fs/bpf/try that the case removes with the doc's `rm -r` (and the guard, should
/// the case fail before).
fn run_over_capture(s: &mut Session, name: &str) -> support::PinDir {
    let dir = support::PinDir::new("try");
    s.name(dir.as_str().to_string(), "/sys/fs/bpf/try");
    let object = exercise_object(name);
    s.cmd(
        &format!("$ sudo target/release/xdploader -file {object} -run xdp_skeleton -pcap kern/exercises/packets.pcap -pin-path /sys/fs/bpf/try"),
        &[
            xdploader(),
            "-file",
            &object,
            "-run",
            "xdp_skeleton",
            "-pcap",
            "kern/exercises/packets.pcap",
            "-pin-path",
            dir.as_str(),
        ],
    );
    dir
}

/// bpftool's per-CPU `"value": N`.
fn mask_per_cpu_values(line: &str) -> String {
    if line.trim_start().starts_with("\"value\": ") {
        return mask_digits(line);
    }
    line.to_string()
}

// ---------------------------------------------------------------------------
// Exercise 4: three namespaces of its own.
// ---------------------------------------------------------------------------

/// The namespaces xdp-left, xdp-router and xdp-right under unique names; `Drop`
/// deletes each one that was made (and with them the veths), even when the case fails.
struct Ex4Net {
    left: String,
    router: String,
    right: String,
    to_left: String,
    to_right: String,
    made: Vec<String>,
}

impl Ex4Net {
    fn new() -> Ex4Net {
        require_root();
        let (pid, id, _) = unique("xdpx");
        let mut net = Ex4Net {
            left: format!("xdpx-{pid}-{id}-left"),
            router: format!("xdpx-{pid}-{id}-router"),
            right: format!("xdpx-{pid}-{id}-right"),
            // Interface names are at most 15 bytes.
            to_left: format!("xe{}x{id}l", pid % 1_000_000),
            to_right: format!("xe{}x{id}r", pid % 1_000_000),
            made: Vec::new(),
        };
        // The doc's ```sh block, with these names.
        for ns in [net.left.clone(), net.router.clone(), net.right.clone()] {
            quietly(&["ip", "netns", "add", &ns]);
            net.made.push(ns.clone());
            quietly(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ]);
        }
        for (to, end) in [(&net.to_left, &net.left), (&net.to_right, &net.right)] {
            quietly(&[
                "ip",
                "link",
                "add",
                to,
                "netns",
                &net.router,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                end,
            ]);
        }
        quietly(&[
            "ip",
            "-n",
            &net.left,
            "addr",
            "add",
            "10.3.3.1/24",
            "dev",
            "eth0",
        ]);
        quietly(&[
            "ip",
            "-n",
            &net.right,
            "addr",
            "add",
            "10.3.3.2/24",
            "dev",
            "eth0",
        ]);
        quietly(&["ip", "-n", &net.left, "link", "set", "eth0", "up"]);
        quietly(&["ip", "-n", &net.right, "link", "set", "eth0", "up"]);
        quietly(&["ip", "-n", &net.router, "link", "set", &net.to_left, "up"]);
        quietly(&["ip", "-n", &net.router, "link", "set", &net.to_right, "up"]);
        net
    }
}

impl Drop for Ex4Net {
    fn drop(&mut self) {
        for ns in &self.made {
            support::remove_interface_locks(ns);
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn ex4_redirect(s: &mut Session) {
    let net = Ex4Net::new();
    let pins = support::PinDir::new("ex4");
    s.name(net.left.clone(), "xdp-left");
    s.name(net.router.clone(), "xdp-router");
    s.name(net.right.clone(), "xdp-right");
    s.name(net.to_left.clone(), "to-left");
    s.name(net.to_right.clone(), "to-right");
    s.name(pins.as_str().to_string(), "/sys/fs/bpf/ex4");
    let router = format!("--net=/run/netns/{}", net.router);
    let interfaces = format!("{},{}", net.to_left, net.to_right);
    let object = exercise_object("redirect");
    s.cmd(
        "$ sudo nsenter --net=/run/netns/xdp-router target/release/xdploader -file kern/exercises/redirect.elf -i to-left,to-right -pin-path /sys/fs/bpf/ex4",
        &[
            "nsenter",
            &router,
            xdploader(),
            "-file",
            &object,
            "-i",
            &interfaces,
            "-pin-path",
            pins.as_str(),
        ],
    );
    let devmap = path_str(&pins.join("if_redirect")).to_string();
    let dump = format!("bpftool map dump pinned {devmap} | grep -v 'no entry'");
    let shown_dump =
        "$ sudo bpftool map dump pinned /sys/fs/bpf/ex4/if_redirect | grep -v 'no entry'";
    s.cmd(shown_dump, &["sh", "-c", &dump]);
    for (key, value) in [("2", "3"), ("3", "2")] {
        s.cmd(
            &format!("$ sudo nsenter --net=/run/netns/xdp-router bpftool map update pinned /sys/fs/bpf/ex4/if_redirect key {key} 0 0 0 value {value} 0 0 0"),
            &[
                "nsenter", &router, "bpftool", "map", "update", "pinned", &devmap, "key", key,
                "0", "0", "0", "value", value, "0", "0", "0",
            ],
        );
    }
    s.cmd(shown_dump, &["sh", "-c", &dump]);
    s.cmd(
        "$ sudo ip netns exec xdp-left ping -c 3 10.3.3.2",
        &[
            "ip", "netns", "exec", &net.left, "ping", "-c", "3", "-W", "1", "10.3.3.2",
        ],
    );
    let stats = path_str(&pins.join("stats_map")).to_string();
    s.cmd(
        "$ sudo target/release/statswatch -file /sys/fs/bpf/ex4/stats_map",
        &[statswatch(), "-file", &stats],
    );
    s.cmd(
        "$ sudo ip netns exec xdp-router nstat -asz IpInReceives",
        &[
            "ip",
            "netns",
            "exec",
            &net.router,
            "nstat",
            "-asz",
            "IpInReceives",
        ],
    );
}
