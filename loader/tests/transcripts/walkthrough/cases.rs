//! The cases of docs/walkthrough.md, one per transcript, in the doc's order; the
//! networks and helpers they use are in the module above.

use super::*;

pub const CASES: &[Case] = &[
    Case {
        name: "dump",
        needs: Needs::Nothing,
        run: |s| {
            s.cmd(
                "$ xdploader -file kern/xdp.elf -dump",
                &[xdploader(), "-file", "kern/xdp.elf", "-dump"],
            )
        },
        ..WALK
    },
    Case {
        name: "walk-nocheck-refused",
        run: |s| {
            let (dir, pins) = nocheck_dirs(s);
            s.cmd("$ mkdir /tmp/nocheck", &["mkdir", &dir.path]);
            s.cmd(
                "$ cp kern/xdp.c kern/parsing.h /tmp/nocheck/",
                &[
                    "cp",
                    "kern/xdp.c",
                    "kern/parsing.h",
                    &format!("{}/", dir.path),
                ],
            );
            nocheck_build(s, &dir, "65,66");
            let before = s.text.len();
            nocheck_load(s, &dir, &pins);
            remove_verifier_logs(&s.text[before..]);
            s.echo_status();
        },
        ..WALK
    },
    Case {
        name: "walk-nocheck-loads",
        run: |s| {
            let (dir, pins) = nocheck_dirs(s);
            // What the block before left in /tmp/nocheck.
            quietly(&["mkdir", &dir.path]);
            quietly(&["cp", "kern/xdp.c", &format!("{}/", dir.path)]);
            s.cmd(
                "$ cp kern/parsing.h /tmp/nocheck/parsing.h",
                &["cp", "kern/parsing.h", &dir.join("parsing.h")],
            );
            nocheck_build(s, &dir, "116,117");
            nocheck_load(s, &dir, &pins);
            s.cmd(
                "$ sudo rm -r /sys/fs/bpf/nocheck /tmp/nocheck",
                &["rm", "-r", pins.as_str(), &dir.path],
            );
        },
        ..WALK
    },
    Case {
        name: "walk-start",
        run: |s| {
            let demo = Demo::new(s);
            let script = demo.script("start.sh");
            s.cmd("$ sudo scripts/start.sh", &strs(&script));
        },
        ..WALK
    },
    Case {
        name: "walk-ip-link",
        mask: mask_pass,
        run: |s| {
            let demo = Demo::start(s);
            demo.ip(
                s,
                "$ ip link show dev veth1",
                &["ip", "link", "show", "dev", &demo.host_veth],
            );
        },
        ..WALK
    },
    Case {
        name: "walk-ping",
        mask: mask_pass,
        run: |s| {
            let demo = Demo::start(s);
            demo.ping(s, "$ ping -c 5 10.2.2.2", &["-c", "5"]);
            demo.statswatch(s, "$ sudo statswatch", &[]);
        },
        ..WALK
    },
    Case {
        name: "walk-percpu",
        mask: mask_pass,
        run: |s| {
            let demo = Demo::start(s);
            demo.ping_quietly(5);
            demo.statswatch(s, "$ sudo statswatch -percpu", &["-percpu"]);
        },
        ..WALK
    },
    Case {
        name: "walk-bpftool-map",
        run: |s| {
            let demo = Demo::start(s);
            demo.ping_quietly(5);
            let stats = demo.pin("stats_map");
            s.cmd(
                "$ sudo bpftool map show pinned /sys/fs/bpf/stats_map",
                &["bpftool", "map", "show", "pinned", &stats],
            );
            s.cmd(
                "$ sudo bpftool map dump pinned /sys/fs/bpf/stats_map | head -20",
                &[
                    "sh",
                    "-c",
                    &format!("bpftool map dump pinned {stats} | head -20"),
                ],
            );
        },
        ..WALK
    },
    Case {
        name: "walk-xlated",
        run: |s| {
            let demo = Demo::start(s);
            let id = demo.attached_id().to_string();
            s.cmd(
                &format!("$ sudo bpftool prog dump xlated id {id}"),
                &["bpftool", "prog", "dump", "xlated", "id", &id],
            );
        },
        ..WALK
    },
    Case {
        name: "walk-status",
        mask: mask_bpftool,
        run: |s| {
            let demo = Demo::start(s);
            demo.status(s, "$ sudo xdploader -status -i veth1", "");
            s.cmd(
                "$ sudo bpftool map dump pinned /sys/fs/bpf/jmp_map",
                &["bpftool", "map", "dump", "pinned", &demo.pin("jmp_map")],
            );
            let mut ids = vec![demo.attached_id()];
            ids.extend(demo.slots());
            for id in ids {
                let id = id.to_string();
                s.cmd(
                    &format!("$ sudo bpftool prog show id {id}"),
                    &["bpftool", "prog", "show", "id", &id],
                );
            }
        },
        ..WALK
    },
    Case {
        name: "walk-broken",
        mask: mask_pass,
        run: |s| {
            let demo = Demo::start(s);
            demo.ping_quietly(5);
            demo.empty_slot_1(s);
            demo.ping_3_and_statswatch(s);
            demo.status(
                s,
                "$ sudo xdploader -status -i veth1 | head -3",
                " | head -3",
            );
        },
        ..WALK
    },
    Case {
        name: "walk-repaired",
        mask: mask_pass,
        run: |s| {
            let demo = Demo::start(s);
            demo.ping_quietly(5);
            let mut quiet = Session::new();
            demo.empty_slot_1(&mut quiet);
            demo.ping_quietly(3);
            demo.load(
                s,
                "$ sudo xdploader -file kern/xdp.elf -i veth1",
                "kern/xdp.elf",
                &[],
            );
            demo.ping_3_and_statswatch(s);
        },
        ..WALK
    },
    Case {
        name: "walk-debug",
        mask: mask_trace,
        run: |s| {
            let demo = Demo::start(s);
            demo.load(
                s,
                "$ sudo xdploader -file kern/xdp-debug.elf -i veth1",
                "kern/xdp-debug.elf",
                &[],
            );
            let trace = TraceInstance::new();
            let argv = demo.argv(&["ping", "-c", "1", "-q", "10.2.2.2"]);
            let child = std::process::Command::new(&argv[0])
                .args(&argv[1..])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run ping");
            let own = format!("ping-{}", child.id());
            let ping = child.wait_with_output().expect("wait for ping");
            s.line("$ ping -c 1 -q 10.2.2.2");
            s.text.push_str(&String::from_utf8_lossy(&ping.stdout));
            s.text.push_str(&String::from_utf8_lossy(&ping.stderr));
            s.line("$ sudo grep bpf_trace_printk /sys/kernel/tracing/trace | tail -3");
            // Only this test's lines: those of its own ping (the echo reply is handled in
            // the softirq that ping's own send raised), from a trace instance of its own.
            let lines: Vec<String> = trace
                .lines()
                .into_iter()
                .filter(|line| line.contains("bpf_trace_printk") && line.contains(&own))
                .collect();
            for line in lines.iter().skip(lines.len().saturating_sub(3)) {
                s.line(line);
            }
        },
        ..WALK
    },
    Case {
        name: "walk-run",
        run: |s| {
            let dir = TempDir::new("xdpdoc");
            s.name(dir.path.clone(), "/tmp/xdpdoc");
            let script = udp_pcap_python();
            std::fs::write(dir.join("udp.py"), script).expect("write udp.py");
            let made = std::process::Command::new("python3")
                .arg("udp.py")
                .current_dir(&dir.path)
                .output()
                .expect("run python3");
            assert!(made.status.success(), "udp.py failed: {made:?}");
            let pcap = dir.join("udp.pcap");
            for object in ["kern/xdp.elf", "kern/xdp-debug.elf"] {
                let pins = support::PinDir::new("walk");
                s.name(pins.as_str(), "/sys/fs/bpf/walk");
                s.cmd(
                    &format!(
                        "$ sudo xdploader -file {object} -run xdp_skeleton -pcap /tmp/xdpdoc/udp.pcap -pin-path /sys/fs/bpf/walk -repeat 1000"
                    ),
                    &[
                        xdploader(),
                        "-file",
                        object,
                        "-run",
                        "xdp_skeleton",
                        "-pcap",
                        &pcap,
                        "-pin-path",
                        pins.as_str(),
                        "-repeat",
                        "1000",
                    ],
                );
                s.cmd(
                    "$ sudo rm -r /sys/fs/bpf/walk",
                    &["rm", "-r", pins.as_str()],
                );
            }
        },
        ..WALK
    },
    Case {
        name: "walk-auto-generic",
        run: |s| {
            let demo = Demo::start(s);
            demo.load(
                s,
                "$ sudo xdploader -file kern/xdp.elf -i veth1 -mode auto",
                "kern/xdp.elf",
                &["-mode", "auto"],
            );
        },
        ..WALK
    },
    Case {
        name: "walk-auto-native",
        mask: mask_pass,
        run: |s| {
            let demo = Demo::start(s);
            // The doc's story so far: five pings, slot 1 emptied and three pings
            // aborted, a reload, three pings, the debug build, -mode auto at MTU 9000.
            demo.ping_quietly(5);
            let mut quiet = Session::new();
            demo.empty_slot_1(&mut quiet);
            demo.ping_quietly(3);
            demo.load(&mut quiet, "", "kern/xdp.elf", &[]);
            demo.ping_quietly(3);
            demo.load(&mut quiet, "", "kern/xdp-debug.elf", &[]);
            demo.ping_quietly(1);
            demo.load(&mut quiet, "", "kern/xdp.elf", &["-mode", "auto"]);
            demo.cmd(
                s,
                "$ sudo ip link set dev veth1 mtu 1500",
                &["ip", "link", "set", "dev", &demo.host_veth, "mtu", "1500"],
            );
            s.cmd(
                "$ sudo ip netns exec xdp ip link set dev veth2 mtu 1500",
                &[
                    "ip",
                    "netns",
                    "exec",
                    &demo.netns,
                    "ip",
                    "link",
                    "set",
                    "dev",
                    &demo.ns_veth,
                    "mtu",
                    "1500",
                ],
            );
            demo.load(
                s,
                "$ sudo xdploader -file kern/xdp.elf -i veth1 -mode auto",
                "kern/xdp.elf",
                &["-mode", "auto"],
            );
            demo.ip(
                s,
                "$ ip link show dev veth1",
                &["ip", "link", "show", "dev", &demo.host_veth],
            );
            demo.status(
                s,
                "$ sudo xdploader -status -i veth1 | head -1",
                " | head -1",
            );
            demo.ping_3_and_statswatch(s);
        },
        ..WALK
    },
    Case {
        name: "walk-stop",
        run: |s| {
            let demo = Demo::start(s);
            let script = demo.script("stop.sh");
            s.cmd("$ sudo scripts/stop.sh", &strs(&script));
            let pins: Vec<String> = ["jmp_map", "stats_map", "if_redirect"]
                .iter()
                .map(|name| demo.pin(name))
                .collect();
            let mut argv = vec!["ls"];
            argv.extend(pins.iter().map(String::as_str));
            s.cmd(
                "$ sudo ls /sys/fs/bpf/jmp_map /sys/fs/bpf/stats_map /sys/fs/bpf/if_redirect",
                &argv,
            );
            s.echo_status();
        },
        ..WALK
    },
];
