//! The transcripts of docs/operations.md.

use super::*;

pub const CASES: &[Case] = &[
    Case {
        name: "status-link",
        doc: "docs/operations.md",
        run: |s| {
            let ops = Ops::new(s);
            ops.load(&["-mode", "drv", "-link"]);
            ops.xdploader(s, "-status -i veth1");
        },
        ..Case::BASE
    },
    Case {
        name: "status-json-detached",
        doc: "docs/operations.md",
        run: |s| Ops::new(s).xdploader(s, "-status -i veth1 -json"),
        ..Case::BASE
    },
    Case {
        name: "detach-link",
        doc: "docs/operations.md",
        // Machine-wide state: other pins and links of the machine.
        skip: &["$ sudo ls /sys/fs/bpf", "$ sudo bpftool link show"],
        run: |s| {
            let ops = Ops::new(s);
            ops.load(&["-mode", "drv", "-link"]);
            ops.xdploader(s, "-detach -i veth1");
            ops.xdploader(s, "-detach -i veth1");
            s.echo_status();
        },
        ..Case::BASE
    },
    Case {
        name: "detach-keep-maps",
        doc: "docs/operations.md",
        skip: &["$ sudo ls /sys/fs/bpf"],
        run: |s| {
            let ops = Ops::new(s);
            ops.load(&["-mode", "drv"]);
            ops.xdploader(s, "-detach -i veth1 -keep-maps");
        },
        ..Case::BASE
    },
    Case {
        name: "attach-auto-generic",
        doc: "docs/operations.md",
        mask: ops_mask,
        run: |s| {
            let ops = Ops::new(s);
            ops.net.set_mtu(9000);
            ops.load(&[]);
            ops.xdploader(s, "-file kern/xdp.elf -i veth1 -mode auto");
        },
        ..Case::BASE
    },
    Case {
        name: "attach-drv-erange",
        doc: "docs/operations.md",
        mask: ops_mask,
        run: |s| {
            let ops = Ops::new(s);
            ops.net.set_mtu(9000);
            ops.load(&[]);
            ops.xdploader(s, "-file kern/xdp.elf -i veth1 -mode drv");
            s.echo_status();
            ops.xdploader_piped(s, "-status -i veth1", "head -1");
        },
        ..Case::BASE
    },
    Case {
        name: "attach-auto-native",
        doc: "docs/operations.md",
        mask: ops_mask,
        run: |s| {
            let ops = Ops::new(s);
            ops.net.set_mtu(9000);
            ops.load(&[]);
            let net = &ops.net;
            s.cmd_in(
                net,
                "$ sudo ip link set dev veth1 mtu 1500",
                &["ip", "link", "set", "dev", &net.xdp_if, "mtu", "1500"],
            );
            s.cmd(
                "$ sudo ip netns exec xdp ip link set dev veth2 mtu 1500",
                &[
                    "ip",
                    "netns",
                    "exec",
                    &net.sender_ns,
                    "ip",
                    "link",
                    "set",
                    "dev",
                    &net.sender_if,
                    "mtu",
                    "1500",
                ],
            );
            ops.xdploader(s, "-file kern/xdp.elf -i veth1 -mode auto");
            s.ip_in(
                net,
                "$ ip link show dev veth1",
                &["ip", "link", "show", "dev", &net.xdp_if],
            );
            ops.shell(
                s,
                "$ ip -j link show dev veth1 | jq -c '.[0].xdp'",
                &format!("ip -j link show dev {} | jq -c '.[0].xdp'", net.xdp_if),
            );
        },
        ..Case::BASE
    },
    Case {
        name: "reload-keeps-counters",
        doc: "docs/operations.md",
        mask: ops_mask,
        run: |s| {
            let ops = Ops::new(s);
            ops.load(&["-mode", "auto"]);
            // Traffic before the reload: four echo replies come in on veth1.
            ops.ping_quietly(4);
            ops.statswatch(s);
            ops.xdploader(s, "-file kern/xdp.elf -i veth1 -mode auto");
            ops.shell(
                s,
                "$ ping -c 3 -i 0.2 -q 10.2.2.2 | tail -2",
                &format!("ping -c 3 -i 0.2 -q {} | tail -2", support::SENDER_IP),
            );
            ops.statswatch(s);
        },
        ..Case::BASE
    },
    Case {
        name: "not-ours-xdp-loader",
        doc: "docs/operations.md",
        mask: ops_mask,
        run: |s| {
            let ops = Ops::new(s);
            let libxdp = ops.xdp_loader_plain(s, true);
            s.xdp_loader(
                &libxdp,
                "$ sudo xdp-loader status veth1",
                &["status", &ops.net.xdp_if],
            );
            ops.xdploader(s, "-file kern/xdp.elf -i veth1 -mode auto");
            s.echo_status();
            ops.shell(
                s,
                "$ ip link show dev veth1 | grep prog",
                &format!("ip link show dev {} | grep prog", ops.net.xdp_if),
            );
        },
        ..Case::BASE
    },
    Case {
        name: "not-ours-force",
        doc: "docs/operations.md",
        mask: ops_mask,
        run: |s| {
            let ops = Ops::new(s);
            let _libxdp = ops.xdp_loader_plain(s, false);
            ops.xdploader(s, "-file kern/xdp.elf -i veth1 -mode auto -force");
        },
        ..Case::BASE
    },
    Case {
        name: "several-interfaces-rollback",
        doc: "docs/operations.md",
        mask: ops_mask,
        run: |s| {
            // lo is the test namespace's own: native XDP on lo is refused there as well.
            let ops = Ops::new(s);
            ops.xdploader(s, "-file kern/xdp.elf -i veth1,lo -mode drv");
            let pin = ops.net.pin("stats_map");
            s.cmd("$ sudo ls /sys/fs/bpf/stats_map", &["ls", path_str(&pin)]);
            ops.shell(
                s,
                "$ ip link show dev veth1 | head -1",
                &format!("ip link show dev {} | head -1", ops.net.xdp_if),
            );
        },
        ..Case::BASE
    },
    Case {
        name: "link-from-netlink",
        doc: "docs/operations.md",
        mask: ops_mask,
        run: |s| {
            let ops = Ops::new(s);
            ops.load(&["-mode", "drv"]);
            ops.xdploader(s, "-file kern/xdp.elf -i veth1 -mode auto -link");
            ops.link_show(s);
            s.cmd("$ sudo ls /sys/fs/bpf", &["ls", &ops.pin_dir]);
        },
        ..Case::BASE
    },
    Case {
        name: "link-reload",
        doc: "docs/operations.md",
        mask: ops_mask,
        run: |s| {
            let ops = Ops::new(s);
            ops.load(&["-mode", "auto", "-link"]);
            ops.xdploader(s, "-file kern/xdp.elf -i veth1 -link");
            ops.link_show(s);
            s.cmd_in(
                &ops.net,
                "$ sudo ip link set dev veth1 xdpdrv off",
                &["ip", "link", "set", "dev", &ops.net.xdp_if, "xdpdrv", "off"],
            );
        },
        ..Case::BASE
    },
    Case {
        name: "strict-chain",
        doc: "docs/operations.md",
        mask: ops_mask,
        run: |s| {
            let ops = Ops::new(s);
            ops.xdploader(
                s,
                "-file kern/xdp.elf -i veth1 -prog xdp_skeleton_1 -strict",
            );
            s.echo_status();
            ops.xdploader(s, "-file kern/xdp.elf -i veth1 -prog xdp_skeleton_1");
        },
        ..Case::BASE
    },
    Case {
        name: "status-netlink",
        doc: "docs/operations.md",
        mask: ops_mask,
        run: |s| {
            let ops = Ops::new(s);
            ops.load(&["-mode", "drv"]);
            ops.xdploader(s, "-status -i veth1");
            // Without -i: every interface of the namespace (the kernel's list, not
            // /sys/class/net, which under nsenter --net is the host's).
            ops.xdploader(s, "-status");
        },
        ..Case::BASE
    },
    Case {
        name: "status-ip-bpftool",
        doc: "docs/operations.md",
        mask: ops_mask,
        run: |s| {
            let ops = Ops::new(s);
            ops.load(&["-mode", "drv"]);
            ops.shell(
                s,
                "$ ip link show dev veth1 | grep prog",
                &format!("ip link show dev {} | grep prog", ops.net.xdp_if),
            );
            let jmp_map = ops.net.pin("jmp_map");
            s.cmd(
                "$ sudo bpftool map dump pinned /sys/fs/bpf/jmp_map",
                &["bpftool", "map", "dump", "pinned", path_str(&jmp_map)],
            );
        },
        ..Case::BASE
    },
    Case {
        name: "status-json-netlink",
        doc: "docs/operations.md",
        mask: ops_mask,
        run: |s| {
            let ops = Ops::new(s);
            ops.load(&["-mode", "drv"]);
            ops.xdploader_piped(s, "-status -i veth1 -json", "jq .");
        },
        ..Case::BASE
    },
    Case {
        name: "status-json-link",
        doc: "docs/operations.md",
        mask: ops_mask,
        run: |s| {
            let ops = Ops::new(s);
            ops.load(&["-mode", "drv", "-link"]);
            ops.xdploader_piped(s, "-status -i veth1 -json", "jq '.interfaces[0].attached'");
        },
        ..Case::BASE
    },
    Case {
        name: "detach-not-ours",
        doc: "docs/operations.md",
        mask: ops_mask,
        run: |s| {
            let ops = Ops::new(s);
            ops.load(&["-prog", "xdp_skeleton_1"]);
            ops.xdploader(s, "-detach -i veth1");
            ops.xdploader(s, "-detach -i veth1 -prog xdp_skeleton_1");
        },
        ..Case::BASE
    },
];

root_transcripts! {
    transcript_status_link => "status-link",
    transcript_status_json_detached => "status-json-detached",
    transcript_detach_link => "detach-link",
    transcript_detach_keep_maps => "detach-keep-maps",
    transcript_attach_auto_generic => "attach-auto-generic",
    transcript_attach_drv_erange => "attach-drv-erange",
    transcript_attach_auto_native => "attach-auto-native",
    transcript_reload_keeps_counters => "reload-keeps-counters",
    transcript_not_ours_xdp_loader => "not-ours-xdp-loader",
    transcript_not_ours_force => "not-ours-force",
    transcript_several_interfaces_rollback => "several-interfaces-rollback",
    transcript_link_from_netlink => "link-from-netlink",
    transcript_link_reload => "link-reload",
    transcript_strict_chain => "strict-chain",
    transcript_status_netlink => "status-netlink",
    transcript_status_ip_bpftool => "status-ip-bpftool",
    transcript_status_json_netlink => "status-json-netlink",
    transcript_status_json_link => "status-json-link",
    transcript_detach_not_ours => "detach-not-ours",
}

/// The doc's setting, on the test's own veth pair: `veth1` (the XDP side) with its peer
/// `veth2` in the namespace `xdp`, and the pin directory `/sys/fs/bpf`.
struct Ops {
    net: TestNet,
    pin_dir: String,
}

/// The MAC addresses of TestNet's pair and of start.sh's, which the doc shows.
const MACS: &[(&str, &str)] = &[
    ("52:54:27:99:00:01", "52:54:27:27:27:25"),
    ("52:54:27:99:00:02", "52:54:27:27:27:26"),
];

impl Ops {
    fn new(s: &mut Session) -> Ops {
        let net = TestNet::new();
        s.net_names(&net);
        s.name(net.sender_ns.clone(), "xdp");
        for (real, doc) in MACS {
            s.name(*real, *doc);
        }
        let pin_dir = path_str(&net.pin_dir).to_string();
        Ops { net, pin_dir }
    }

    /// `xdploader -file kern/xdp.elf -i veth1 EXTRA`, not shown (what the doc did before).
    fn load(&self, extra: &[&str]) {
        load_quietly(&self.net, extra);
    }

    /// The doc's `sudo xdploader ARGS` as the test runs it: its interface, its pin directory.
    fn real_args(&self, args: &str) -> Vec<String> {
        let mut argv: Vec<String> = args
            .split_whitespace()
            .map(|arg| arg.replace("veth1", &self.net.xdp_if))
            .collect();
        argv.push("-pin-path".to_string());
        argv.push(self.pin_dir.clone());
        argv
    }

    fn xdploader(&self, s: &mut Session, args: &str) {
        let mut argv = vec![xdploader().to_string()];
        argv.extend(self.real_args(args));
        s.cmd_in(&self.net, &format!("$ sudo xdploader {args}"), &strs(&argv));
    }

    /// `sudo xdploader ARGS | PIPE`.
    fn xdploader_piped(&self, s: &mut Session, args: &str, pipe: &str) {
        let script = format!(
            "{} {} | {pipe}",
            xdploader(),
            self.real_args(args).join(" ")
        );
        self.shell(s, &format!("$ sudo xdploader {args} | {pipe}"), &script);
    }

    /// A shell command line in the XDP namespace.
    fn shell(&self, s: &mut Session, shown: &str, script: &str) {
        s.ip_in(&self.net, shown, &["sh", "-c", script]);
    }

    fn statswatch(&self, s: &mut Session) {
        s.cmd(
            "$ sudo statswatch",
            &[statswatch(), "-pin-path", &self.pin_dir],
        );
    }

    fn link_show(&self, s: &mut Session) {
        let link = self.net.pin(&format!("link_{}", self.net.xdp_if));
        s.cmd(
            "$ sudo bpftool link show pinned /sys/fs/bpf/link_veth1",
            &["bpftool", "link", "show", "pinned", path_str(&link)],
        );
    }

    /// `count` echo requests from veth1 to veth2: the replies come in on veth1.
    fn ping_quietly(&self, count: u32) {
        let count = count.to_string();
        let peer = support::SENDER_IP.to_string();
        quietly(&strs(&with_netns(
            &self.net,
            &["ping", "-c", &count, "-i", "0.2", "-q", &peer],
        )));
    }

    /// `xdp-loader load -m native veth1 ... -n xdp_plain` (xdp-tools), shown or not; the
    /// guard unloads what it attached (and any libxdp dispatcher pins) when the case ends.
    fn xdp_loader_plain(&self, s: &mut Session, shown: bool) -> XdpLoaderGuard {
        let libxdp_bpffs = support::PinDir::new("libxdp");
        std::fs::create_dir_all(&libxdp_bpffs.path).expect("libxdp's private bpffs directory");
        let guard = XdpLoaderGuard {
            xdp_ns: self.net.xdp_ns.clone(),
            interface: self.net.xdp_if.clone(),
            libxdp_bpffs,
        };
        let object = "loader/tests/fixtures/xdp_variants.elf";
        let argv = [
            "load",
            "-m",
            "native",
            &self.net.xdp_if,
            object,
            "-n",
            "xdp_plain",
        ];
        let mut quiet = Session::new();
        let session = if shown { s } else { &mut quiet };
        session.xdp_loader(
            &guard,
            &format!("$ sudo xdp-loader load -m native veth1 {object} -n xdp_plain"),
            &argv,
        );
        assert_eq!(
            session.last_status, 0,
            "xdp-loader load failed:\n{}",
            session.text
        );
        guard
    }
}

impl Session {
    /// `xdp-loader ARGS` in the guard's namespace, recorded as `shown`. xdp-loader holds a
    /// machine-wide lock file (/run/xdp-loader.lck) while it works and gives up at once
    /// when another run holds it, so a run that met the lock is tried again (bounded).
    fn xdp_loader(&mut self, libxdp: &XdpLoaderGuard, shown: &str, args: &[&str]) {
        let output = xdp_loader_output(libxdp, args);
        self.record(shown, &output);
    }
}

fn xdp_loader_output(libxdp: &XdpLoaderGuard, args: &[&str]) -> std::process::Output {
    let netns = format!("--net=/run/netns/{}", libxdp.xdp_ns);
    // libxdp keeps its pins (and the directories it makes for them) under
    // $LIBXDP_BPFFS/xdp: a directory of the test's own, not the machine's /sys/fs/bpf/xdp.
    let bpffs = format!("LIBXDP_BPFFS={}", libxdp.libxdp_bpffs.as_str());
    let mut argv = vec![
        "nsenter",
        netns.as_str(),
        "env",
        bpffs.as_str(),
        "xdp-loader",
    ];
    argv.extend_from_slice(args);
    run_retrying(&argv, |output| {
        !output.status.success() && stderr_says(output, "lock")
    })
}

/// Takes off what xdp-loader attached in the test's namespace, with xdp-loader itself, so
/// that libxdp removes the dispatcher pins it may have made; then the private bpffs
/// directory it pinned them in goes (PinDir). Dropped before the TestNet, whose
/// namespace it needs.
struct XdpLoaderGuard {
    xdp_ns: String,
    interface: String,
    libxdp_bpffs: support::PinDir,
}

impl Drop for XdpLoaderGuard {
    fn drop(&mut self) {
        let _ = xdp_loader_output(self, &["unload", "-a", &self.interface]);
    }
}

/// What changes between runs in this doc's other tools' output beyond the common masks:
/// ids in jq's indented JSON and bpftool's, the ID column of `xdp-loader status`.
fn ops_mask(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    // xdp-loader status: `veth1   xdp_plain   native   4024 614b434cd8324ecc`; its
    // columns are padded for the real interface name, so spaces are not compared.
    if words.len() == 5 && words[0] == "veth1" && words[4].len() == 16 {
        return format!("{} {} {} N {}", words[0], words[1], words[2], words[4]);
    }
    let mut out = line.to_string();
    for key in [
        "\"map_id\": ",
        "\"program_id\": ",
        "\"value\": ",
        "xdp  prog ",
    ] {
        out = mask_after(&out, key, &[]);
    }
    out
}
