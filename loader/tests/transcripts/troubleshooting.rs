//! The transcripts of docs/troubleshooting.md.

use super::*;

pub const CASES: &[Case] = &[
    Case {
        name: "object-missing",
        doc: "docs/troubleshooting.md",
        run: |s| {
            s.cmd(
                "$ xdploader -file kern/nope.elf -i veth1",
                &[xdploader(), "-file", "kern/nope.elf", "-i", "veth1"],
            );
            s.echo_status();
        },
        ..Case::BASE
    },
    Case {
        name: "object-not-elf",
        doc: "docs/troubleshooting.md",
        run: |s| {
            s.cmd(
                "$ xdploader -file /etc/passwd -i veth1",
                &[xdploader(), "-file", "/etc/passwd", "-i", "veth1"],
            );
            s.echo_status();
        },
        ..Case::BASE
    },
    Case {
        name: "object-unknown-section",
        doc: "docs/troubleshooting.md",
        run: |s| {
            let object = "loader/tests/fixtures/fault_unknown_section.elf";
            s.cmd(
                &format!("$ xdploader -file {object} -load-only"),
                &[xdploader(), "-file", object, "-load-only"],
            );
            s.echo_status();
        },
        ..Case::BASE
    },
    Case {
        name: "object-no-such-prog",
        doc: "docs/troubleshooting.md",
        run: |s| {
            s.cmd(
                "$ xdploader -file kern/xdp.elf -i veth1 -prog nope",
                &[
                    xdploader(),
                    "-file",
                    "kern/xdp.elf",
                    "-i",
                    "veth1",
                    "-prog",
                    "nope",
                ],
            );
            s.echo_status();
        },
        ..Case::BASE
    },
    Case {
        name: "object-unsupported",
        doc: "docs/troubleshooting.md",
        run: |s| {
            for file in [
                "loader/tests/fixtures/fault_ksym_missing.elf",
                "loader/tests/fixtures/fault_kconfig_missing.elf",
            ] {
                s.cmd(
                    &format!("$ xdploader -file {file} -load-only"),
                    &[xdploader(), "-file", file, "-load-only"],
                );
                s.echo_status();
            }
        },
        ..Case::BASE
    },
    Case {
        name: "attach-target-missing",
        doc: "docs/troubleshooting.md",
        run: |s| {
            let xdpdump = "/usr/lib/x86_64-linux-gnu/bpf/xdpdump_bpf.o";
            assert!(
                Path::new(xdpdump).exists(),
                "{xdpdump} is missing: install libxdp1 (scripts/install-deps.sh)"
            );
            s.cmd(
                &format!("$ xdploader -file {xdpdump} -load-only"),
                &[xdploader(), "-file", xdpdump, "-load-only"],
            );
            s.echo_status();
        },
        ..Case::BASE
    },
    Case {
        name: "no-such-interface",
        doc: "docs/troubleshooting.md",
        run: |s| {
            s.cmd(
                "$ xdploader -file kern/xdp.elf -i veth9",
                &[xdploader(), "-file", "kern/xdp.elf", "-i", "veth9"],
            );
            s.echo_status();
        },
        ..Case::BASE
    },
    Case {
        name: "not-root",
        doc: "docs/troubleshooting.md",
        // statswatch's refusal needs the demo's pin at /sys/fs/bpf/stats_map.
        skip: &[
            "$ setpriv --reuid=nobody --regid=nogroup --clear-groups target/release/statswatch",
        ],
        run: |s| {
            let nobody = [
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
            ];
            let shown =
                "$ setpriv --reuid=nobody --regid=nogroup --clear-groups target/release/xdploader";
            for args in [
                &["-file", "kern/xdp.elf", "-i", "lo"][..],
                &["-file", "kern/xdp.elf", "-load-only"][..],
            ] {
                let mut argv = nobody.to_vec();
                argv.push(xdploader());
                argv.extend_from_slice(args);
                s.cmd(&format!("{shown} {}", args.join(" ")), &argv);
                s.echo_status();
            }
        },
        ..Case::BASE
    },
    Case {
        name: "bpffs-pin-path",
        doc: "docs/troubleshooting.md",
        run: |s| {
            let pins = TempDir::named("pins");
            let dir = pins.as_str();
            s.name(dir, "/tmp/pins");
            s.cmd("$ mkdir /tmp/pins", &["mkdir", dir]);
            s.cmd(
                "$ sudo xdploader -file kern/xdp.elf -load-only -pin-path /tmp/pins",
                &[
                    xdploader(),
                    "-file",
                    "kern/xdp.elf",
                    "-load-only",
                    "-pin-path",
                    dir,
                ],
            );
            s.echo_status();
            s.cmd("$ rmdir /tmp/pins", &["rmdir", dir]);
            let dotted = format!("/sys/fs/bpf/xdpt-{}.pins", std::process::id());
            s.name(dotted.clone(), "/sys/fs/bpf/my.pins");
            s.cmd(
                "$ sudo xdploader -file kern/xdp.elf -load-only -pin-path /sys/fs/bpf/my.pins",
                &[
                    xdploader(),
                    "-file",
                    "kern/xdp.elf",
                    "-load-only",
                    "-pin-path",
                    &dotted,
                ],
            );
            let _ = std::fs::remove_dir_all(&dotted);
        },
        ..Case::BASE
    },
    Case {
        name: "bpffs-mounted-by-loader",
        doc: "docs/troubleshooting.md",
        run: |s| {
            // A private mount namespace: the umount and the loader's fresh bpffs (with
            // everything pinned in it) stay there and go away with it. The name is
            // unique all the same.
            support::ensure_bpffs();
            let demo = format!("/sys/fs/bpf/xdpt-{}-demo", std::process::id());
            s.name(demo.clone(), "/sys/fs/bpf/demo");
            let script = format!(
                "{} && {} -file kern/xdp.elf -load-only -pin-path {demo} && findmnt /sys/fs/bpf",
                support::UNMOUNT_ALL_BPFFS,
                xdploader()
            );
            s.cmd(
                "$ sudo unshare --mount --propagation private sh -c 'while mountpoint -q /sys/fs/bpf; do umount /sys/fs/bpf || exit 1; done && xdploader -file kern/xdp.elf -load-only -pin-path /sys/fs/bpf/demo && findmnt /sys/fs/bpf'",
                &["unshare", "--mount", "--propagation", "private", "sh", "-c", &script],
            );
            assert_eq!(s.last_status, 0, "the private-namespace load failed");
        },
        ..Case::BASE
    },
    Case {
        name: "tracefs-mounted-by-loader",
        doc: "docs/troubleshooting.md",
        run: |s| {
            // Private mount namespaces with tracefs unmounted and a bpffs of their own
            // mounted on top: the loader's tracefs mount and its pins go away with them.
            let pins = support::PinDir::new("trace");
            let demo = pins.as_str().to_string();
            s.name(demo.clone(), "/sys/fs/bpf/demo");
            let bare = "umount -q /sys/kernel/tracing; mount -t bpf bpf /sys/fs/bpf";
            let mounted = format!(
                "{bare} && {} -file kern/xdp-debug.elf -load-only -pin-path {demo} && findmnt /sys/kernel/tracing",
                xdploader()
            );
            s.cmd(
                &format!("$ sudo unshare --mount --propagation private sh -c '{bare} && xdploader -file kern/xdp-debug.elf -load-only -pin-path /sys/fs/bpf/demo && findmnt /sys/kernel/tracing'"),
                &["unshare", "--mount", "--propagation", "private", "sh", "-c", &mounted],
            );
            assert_eq!(s.last_status, 0, "the private-namespace load failed");
            let unmountable = format!(
                "{bare} && exec setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin {} -file kern/xdp-debug.elf -load-only -pin-path {demo}",
                xdploader()
            );
            s.cmd(
                &format!("$ sudo unshare --mount --propagation private sh -c '{bare} && exec setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin xdploader -file kern/xdp-debug.elf -load-only -pin-path /sys/fs/bpf/demo'"),
                &["unshare", "--mount", "--propagation", "private", "sh", "-c", &unmountable],
            );
            assert_eq!(
                s.last_status, 0,
                "a load without tracefs must still succeed"
            );
        },
        ..Case::BASE
    },
    Case {
        name: "pin-of-another-shape",
        doc: "docs/troubleshooting.md",
        run: |s| {
            let net = TestNet::new();
            s.net_names(&net);
            let pin_dir = path_str(&net.pin_dir).to_string();
            std::fs::create_dir_all(&net.pin_dir).expect("create the pin dir");
            let pin = path_str(&net.pin("stats_map")).to_string();
            s.cmd(
                "$ sudo bpftool map create /sys/fs/bpf/stats_map type percpu_array key 4 value 8 entries 5 name stats_map",
                &[
                    "bpftool", "map", "create", &pin, "type", "percpu_array", "key", "4",
                    "value", "8", "entries", "5", "name", "stats_map",
                ],
            );
            let argv = load_args(&net, &pin_dir, &[]);
            s.cmd_in(&net, "$ sudo xdploader -file kern/xdp.elf -i veth1", &argv);
            s.echo_status();
        },
        ..Case::BASE
    },
    Case {
        name: "statswatch-errors",
        doc: "docs/troubleshooting.md",
        run: |s| {
            let dir = support::PinDir::new("statswatch");
            std::fs::create_dir_all(&dir.path).expect("create the pin dir");
            s.name(dir.as_str().to_string(), "/sys/fs/bpf");
            let nothing = dir.join("nothing");
            s.cmd(
                "$ sudo statswatch -file /sys/fs/bpf/nothing",
                &[statswatch(), "-file", path_str(&nothing)],
            );
            s.echo_status();
            let hx = path_str(&dir.join("hx")).to_string();
            s.cmd(
                "$ sudo bpftool map create /sys/fs/bpf/hx type hash key 4 value 16 entries 4 name hx",
                &[
                    "bpftool", "map", "create", &hx, "type", "hash", "key", "4", "value", "16",
                    "entries", "4", "name", "hx",
                ],
            );
            s.cmd(
                "$ sudo statswatch -file /sys/fs/bpf/hx",
                &[statswatch(), "-file", &hx],
            );
            s.echo_status();
        },
        ..Case::BASE
    },
    Case {
        name: "trouble-bounds",
        doc: "docs/troubleshooting.md",
        run: |s| {
            trouble_load(s, "bounds");
            s.echo_status();
        },
        ..Case::BASE
    },
    Case {
        name: "trouble-null",
        doc: "docs/troubleshooting.md",
        run: |s| {
            trouble_load(s, "null");
        },
        ..Case::BASE
    },
    Case {
        name: "trouble-null-array",
        doc: "docs/troubleshooting.md",
        run: |s| {
            s.cmd(
                "$ diff loader/tests/fixtures/trouble_null.c loader/tests/fixtures/trouble_null_array.c",
                &[
                    "diff",
                    "loader/tests/fixtures/trouble_null.c",
                    "loader/tests/fixtures/trouble_null_array.c",
                ],
            );
            let dir = trouble_load(s, "null_array");
            s.cmd(
                "$ sudo rm -r /sys/fs/bpf/trouble",
                &["rm", "-r", dir.as_str()],
            );
        },
        ..Case::BASE
    },
    Case {
        name: "trouble-spin",
        doc: "docs/troubleshooting.md",
        run: |s| {
            trouble_load(s, "spin");
        },
        ..Case::BASE
    },
    Case {
        name: "trouble-long-loop",
        doc: "docs/troubleshooting.md",
        // The verifier takes about 8 s over it; trouble_load removes the ~100 MB log.
        run: |s| {
            trouble_load(s, "long_loop");
        },
        ..Case::BASE
    },
    Case {
        name: "trouble-fixed",
        doc: "docs/troubleshooting.md",
        run: |s| {
            s.line("$ for f in bounds null spin long_loop; do sudo xdploader -file loader/tests/fixtures/trouble_${f}_fixed.elf -load-only -pin-path /sys/fs/bpf/trouble && sudo rm -r /sys/fs/bpf/trouble; done");
            for name in ["bounds", "null", "spin", "long_loop"] {
                let before = s.text.len();
                let dir = trouble_load(s, &format!("{name}_fixed"));
                assert_eq!(s.last_status, 0, "trouble_{name}_fixed.elf did not load");
                // The loop's line stands for the commands: keep only their output.
                let end = s.text[before..].find('\n').expect("a command line") + before + 1;
                s.text.replace_range(before..end, "");
                quietly(&["rm", "-r", dir.as_str()]);
            }
        },
        ..Case::BASE
    },
    Case {
        name: "native-mode-mtu-9000",
        doc: "docs/troubleshooting.md",
        run: |s| {
            // start.sh's network: MTU 9000 on both ends, kern/xdp.elf in generic mode.
            let net = TestNet::new();
            s.net_names(&net);
            let pin_dir = path_str(&net.pin_dir).to_string();
            net.set_mtu(9000);
            net.load_ok();
            let argv = load_args(&net, &pin_dir, &["-mode", "drv"]);
            s.cmd_in(
                &net,
                "$ sudo xdploader -file kern/xdp.elf -i veth1 -mode drv",
                &argv,
            );
            s.echo_status();
            let status = format!(
                "{} -status -i {} -pin-path {pin_dir} | head -1",
                xdploader(),
                net.xdp_if
            );
            s.cmd_in(
                &net,
                "$ sudo xdploader -status -i veth1 | head -1",
                &["sh", "-c", &status],
            );
        },
        ..Case::BASE
    },
    Case {
        name: "another-program-attached",
        doc: "docs/troubleshooting.md",
        run: |s| {
            // `ip link ... obj` makes iproute2's own pin tree in the shared bpffs.
            let _iproute2_pins = Iproute2PinTree::remove_afterwards();
            let net = TestNet::new();
            s.net_names(&net);
            let pin_dir = path_str(&net.pin_dir).to_string();
            let off = ["ip", "link", "set", "dev", &net.xdp_if, "xdpgeneric", "off"];
            s.cmd_in(&net, "$ sudo ip link set dev veth1 xdpgeneric off", &off);
            s.cmd_in(
                &net,
                "$ sudo ip link set dev veth1 xdpgeneric obj loader/tests/fixtures/trouble_bounds_fixed.elf sec xdp",
                &[
                    "ip",
                    "link",
                    "set",
                    "dev",
                    &net.xdp_if,
                    "xdpgeneric",
                    "obj",
                    "loader/tests/fixtures/trouble_bounds_fixed.elf",
                    "sec",
                    "xdp",
                ],
            );
            let show = format!("ip link show dev {} | grep prog", net.xdp_if);
            s.ip_in(
                &net,
                "$ ip link show dev veth1 | grep prog",
                &["sh", "-c", &show],
            );
            let argv = load_args(&net, &pin_dir, &[]);
            s.cmd_in(&net, "$ sudo xdploader -file kern/xdp.elf -i veth1", &argv);
            s.echo_status();
            s.cmd_in(&net, "$ sudo ip link set dev veth1 xdpgeneric off", &off);
            s.cmd_in(&net, "$ sudo xdploader -file kern/xdp.elf -i veth1", &argv);
        },
        ..Case::BASE
    },
];

root_transcripts! {
    transcript_object_missing => "object-missing",
    transcript_object_not_elf => "object-not-elf",
    transcript_object_unknown_section => "object-unknown-section",
    transcript_object_no_such_prog => "object-no-such-prog",
    transcript_object_unsupported => "object-unsupported",
    transcript_attach_target_missing => "attach-target-missing",
    transcript_no_such_interface => "no-such-interface",
    transcript_not_root => "not-root",
    transcript_bpffs_pin_path => "bpffs-pin-path",
    transcript_pin_of_another_shape => "pin-of-another-shape",
    transcript_statswatch_errors => "statswatch-errors",
    transcript_trouble_bounds => "trouble-bounds",
    transcript_trouble_null => "trouble-null",
    transcript_trouble_null_array => "trouble-null-array",
    transcript_trouble_spin => "trouble-spin",
    transcript_trouble_fixed => "trouble-fixed",
    transcript_trouble_long_loop => "trouble-long-loop",
    transcript_bpffs_mounted_by_loader => "bpffs-mounted-by-loader",
    transcript_tracefs_mounted_by_loader => "tracefs-mounted-by-loader",
    transcript_native_mode_mtu_9000 => "native-mode-mtu-9000",
    transcript_another_program_attached => "another-program-attached",
}

/// iproute2 creates /sys/fs/bpf/tc/globals and the links /sys/fs/bpf/ip and
/// /sys/fs/bpf/xdp the first time it loads an object, or only /sys/fs/bpf/xdp/globals
/// when /sys/fs/bpf/xdp is a directory already (libxdp's, on a machine that ran
/// xdp-loader; the tests give libxdp a directory of their own). On drop, removes those
/// that were not there before (directories only when empty), so the test leaves bpffs
/// as it found it.
struct Iproute2PinTree {
    made: Vec<&'static str>,
}

impl Iproute2PinTree {
    /// In the order they are removed: what is inside first.
    const PATHS: [&'static str; 5] = [
        "/sys/fs/bpf/tc/globals",
        "/sys/fs/bpf/tc",
        "/sys/fs/bpf/ip",
        "/sys/fs/bpf/xdp/globals",
        "/sys/fs/bpf/xdp",
    ];

    fn remove_afterwards() -> Iproute2PinTree {
        Iproute2PinTree {
            made: Self::PATHS
                .into_iter()
                .filter(|path| std::fs::symlink_metadata(path).is_err())
                .collect(),
        }
    }
}

impl Drop for Iproute2PinTree {
    fn drop(&mut self) {
        for path in &self.made {
            match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let _ = std::fs::remove_file(path);
                }
                Ok(_) => {
                    let _ = std::fs::remove_dir(path);
                }
                _ => {}
            }
        }
    }
}

/// `sudo xdploader -file loader/tests/fixtures/trouble_NAME.elf -load-only -pin-path
/// /sys/fs/bpf/trouble`, with a private pin directory standing for /sys/fs/bpf/trouble.
/// The verifier log the loader saves in /tmp on a refusal is removed again.
fn trouble_load(s: &mut Session, name: &str) -> support::PinDir {
    let dir = support::PinDir::new("trouble");
    s.name(dir.as_str().to_string(), "/sys/fs/bpf/trouble");
    let file = format!("loader/tests/fixtures/trouble_{name}.elf");
    assert!(
        repo_root().join(&file).exists(),
        "{file} is missing: build it with `make -C loader/tests/fixtures`"
    );
    let before = s.text.len();
    s.cmd(
        &format!("$ sudo xdploader -file {file} -load-only -pin-path /sys/fs/bpf/trouble"),
        &[
            xdploader(),
            "-file",
            &file,
            "-load-only",
            "-pin-path",
            dir.as_str(),
        ],
    );
    remove_verifier_logs(&s.text[before..]);
    dir
}
