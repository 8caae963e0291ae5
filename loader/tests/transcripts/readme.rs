//! The transcripts of README.md.

use super::*;

pub const CASES: &[Case] = &[
    Case {
        name: "start-load",
        doc: "README.md",
        from: Some("+ /home/you/xdp-skeleton/target/release/xdploader"),
        run: |s| {
            let net = TestNet::new();
            s.net_names(&net);
            s.name(path_str(&repo_root()).to_string(), "/home/you/xdp-skeleton");
            s.line("+ /home/you/xdp-skeleton/target/release/xdploader -file /home/you/xdp-skeleton/kern/xdp.elf -i veth1");
            let pin_dir = path_str(&net.pin_dir).to_string();
            let object = xdp_object();
            let argv = [
                xdploader(),
                "-file",
                path_str(&object),
                "-i",
                &net.xdp_if,
                "-pin-path",
                &pin_dir,
            ];
            // The trace line above stands for the command: record only the output.
            let before = s.text.len();
            s.cmd_in(&net, "", &argv);
            s.text.replace_range(before..before + 1, "");
        },
        ..Case::BASE
    },
    Case {
        name: "statswatch-demo",
        doc: "README.md",
        mask_counters: true,
        run: |s| {
            let net = TestNet::new();
            s.net_names(&net);
            net.load_ok();
            net.send_udp(11, 45);
            let pin = path_str(&net.pin("stats_map")).to_string();
            s.cmd(
                "$ sudo target/release/statswatch -file /sys/fs/bpf/stats_map",
                &[statswatch(), "-file", &pin],
            );
        },
        ..Case::BASE
    },
    Case {
        name: "ip-show-veth1",
        doc: "README.md",
        // MAC addresses: the TestNet's are not start.sh's.
        mask: mask_macs,
        run: |s| {
            let net = TestNet::new();
            demo_names(s, &net);
            demo_setup(&net);
            s.ip_in(
                &net,
                "$ ip a show dev veth1",
                &["ip", "a", "show", "dev", &net.xdp_if],
            );
        },
        ..Case::BASE
    },
    Case {
        name: "ping-demo",
        doc: "README.md",
        run: |s| {
            let net = TestNet::new();
            demo_names(s, &net);
            demo_setup(&net);
            // From the XDP side toward its peer, as the doc pings from veth1 to veth2:
            // five echo requests, one a second, bounded by -c and -w.
            let peer = support::SENDER_IP.to_string();
            s.cmd_in(
                &net,
                "$ ping 10.2.2.2 -c 5",
                &["ping", &peer, "-c", "5", "-w", "15"],
            );
        },
        ..Case::BASE
    },
    Case {
        name: "bpftool-cross-check",
        doc: "README.md",
        mask: mask_bpftool,
        run: |s| {
            let net = TestNet::new();
            demo_names(s, &net);
            demo_setup(&net);
            // Five echo replies, all received on CPU 0: the ping runs there, and so
            // does the softirq that carries its requests and the replies through veth.
            quietly(&[
                "taskset",
                "-c",
                "0",
                "nsenter",
                &format!("--net=/run/netns/{}", net.xdp_ns),
                "ping",
                "-q",
                "-c",
                "5",
                "-i",
                "0.2",
                "-w",
                "10",
                &support::SENDER_IP.to_string(),
            ]);
            let (_, entry) = net.attached().expect("xdp_skeleton attached");
            let pin = |name: &str| path_str(&net.pin(name)).to_string();
            let prog = |s: &mut Session, id: u64| {
                s.cmd(
                    &format!("$ sudo bpftool prog show id {id}"),
                    &["bpftool", "prog", "show", "id", &id.to_string()],
                );
            };
            prog(s, entry);
            let tail_call = map_id_named(entry, "tail_call");
            s.cmd(
                &format!("$ sudo bpftool map show id {tail_call}"),
                &["bpftool", "map", "show", "id", &tail_call.to_string()],
            );
            for name in ["jmp_map", "stats_map", "if_redirect"] {
                s.cmd(
                    &format!("$ sudo bpftool map show pinned /sys/fs/bpf/{name}"),
                    &["bpftool", "map", "show", "pinned", &pin(name)],
                );
            }
            s.cmd(
                "$ sudo bpftool map dump pinned /sys/fs/bpf/jmp_map",
                &["bpftool", "map", "dump", "pinned", &pin("jmp_map")],
            );
            for id in slot_programs(&pin("jmp_map")) {
                prog(s, id);
            }
            s.cmd(
                "$ sudo bpftool map lookup pinned /sys/fs/bpf/stats_map key 2 0 0 0",
                &[
                    "bpftool",
                    "map",
                    "lookup",
                    "pinned",
                    &pin("stats_map"),
                    "key",
                    "2",
                    "0",
                    "0",
                    "0",
                ],
            );
        },
        ..Case::BASE
    },
    Case {
        name: "run-pcap",
        doc: "README.md",
        run: |s| {
            let dir = support::PinDir::new("try");
            let out = support::TempFile::new("passed.pcap", b"");
            s.name(dir.as_str(), "/sys/fs/bpf/try");
            s.name(out.as_str(), "passed.pcap");
            s.cmd(
                "$ sudo xdploader -file kern/xdp.elf -run xdp_skeleton -pcap kern/exercises/packets.pcap -pin-path /sys/fs/bpf/try -repeat 1000 -out passed.pcap",
                &[
                    xdploader(),
                    "-file",
                    "kern/xdp.elf",
                    "-run",
                    "xdp_skeleton",
                    "-pcap",
                    "kern/exercises/packets.pcap",
                    "-pin-path",
                    dir.as_str(),
                    "-repeat",
                    "1000",
                    "-out",
                    out.as_str(),
                ],
            );
            s.cmd(
                "$ sudo statswatch -file /sys/fs/bpf/try/stats_map",
                &[statswatch(), "-file", path_str(&dir.join("stats_map"))],
            );
        },
        ..Case::BASE
    },
];

root_transcripts! {
    transcript_start_load => "start-load",
    transcript_statswatch_demo => "statswatch-demo",
    transcript_ip_show_veth1 => "ip-show-veth1",
    transcript_ping_demo => "ping-demo",
    transcript_bpftool_cross_check => "bpftool-cross-check",
    transcript_run_pcap => "run-pcap",
}

/// The doc's names for a TestNet as start.sh builds it: veth1 (10.2.2.1) facing veth2
/// (10.2.2.2) in the namespace `xdp`.
fn demo_names(s: &mut Session, net: &TestNet) {
    s.net_names(net);
    s.name(net.sender_ns.clone(), "xdp");
    s.name(support::XDP_SIDE_IP.to_string(), "10.2.2.1");
    s.name(support::SENDER_IP.to_string(), "10.2.2.2");
}

/// What scripts/start.sh does that the doc's later blocks show: MTU 9000 on both ends,
/// then `xdploader -file kern/xdp.elf -i veth1` (generic mode, maps pinned).
fn demo_setup(net: &TestNet) {
    net.set_mtu(9000);
    net.load_ok();
}

/// The program ids in the slots of a pinned prog array, by slot.
fn slot_programs(pin: &str) -> Vec<u64> {
    let out = support::run_ok("bpftool", &["-j", "map", "dump", "pinned", pin]);
    let entries = support::json(&out);
    let mut slots: Vec<(u64, u64)> = entries
        .as_array()
        .expect("array of entries")
        .iter()
        .map(|entry| (le_u64(&entry["key"]), le_u64(&entry["value"])))
        .collect();
    slots.sort();
    slots.into_iter().map(|(_, id)| id).collect()
}

/// A little-endian number from bpftool's `["0x01", "0x00", ...]`.
fn le_u64(bytes: &serde_json::Value) -> u64 {
    bytes
        .as_array()
        .expect("hex bytes")
        .iter()
        .rev()
        .fold(0, |total, byte| {
            let text = byte.as_str().expect("hex byte");
            total << 8 | u64::from_str_radix(text.trim_start_matches("0x"), 16).expect("hex")
        })
}

/// The id of the map called `name` that program `prog` uses.
fn map_id_named(prog: u64, name: &str) -> u64 {
    let info = support::json(&support::run_ok(
        "bpftool",
        &["-j", "prog", "show", "id", &prog.to_string()],
    ));
    info["map_ids"]
        .as_array()
        .expect("map_ids")
        .iter()
        .map(|id| id.as_u64().expect("map id"))
        .find(|id| {
            let map = support::json(&support::run_ok(
                "bpftool",
                &["-j", "map", "show", "id", &id.to_string()],
            ));
            map["name"] == name
        })
        .unwrap_or_else(|| panic!("program {prog} uses no map {name}"))
}

/// MAC addresses (the TestNet's are not start.sh's).
fn mask_macs(line: &str) -> String {
    line.split(' ')
        .map(|word| {
            let parts: Vec<&str> = word.split(':').collect();
            let mac = parts.len() == 6
                && parts
                    .iter()
                    .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
            if mac && word != "ff:ff:ff:ff:ff:ff" {
                "MAC".to_string()
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
