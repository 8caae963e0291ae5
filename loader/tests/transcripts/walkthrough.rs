//! The transcripts of docs/walkthrough.md.
//!
//! The walkthrough is one session: `scripts/start.sh` builds the test network (netns
//! `xdp`, veth1 on the host, veth2 inside) and loads the program, and every later block
//! runs against it. Each case here builds that network for itself with the real
//! start.sh, under names of its own (`Demo`: namespace, veth pair, a /24 of its own and
//! a pin directory, all given to the scripts through their environment overrides), then
//! replays quietly what the doc did before its block and runs the block's commands.
//! `Demo`'s `Drop` runs the real stop.sh and deletes whatever is left, even when the
//! test fails.

use super::*;

#[path = "walkthrough/cases.rs"]
mod cases;

pub use cases::CASES;

/// The defaults of this doc's root cases.
const WALK: Case = Case {
    doc: "docs/walkthrough.md",
    ..Case::BASE
};

plain_transcripts! {
    transcript_dump => "dump",
}

root_transcripts! {
    transcript_walk_nocheck_refused => "walk-nocheck-refused",
    transcript_walk_nocheck_loads => "walk-nocheck-loads",
    transcript_walk_start => "walk-start",
    transcript_walk_ip_link => "walk-ip-link",
    transcript_walk_ping => "walk-ping",
    transcript_walk_percpu => "walk-percpu",
    transcript_walk_bpftool_map => "walk-bpftool-map",
    transcript_walk_xlated => "walk-xlated",
    transcript_walk_status => "walk-status",
    transcript_walk_broken => "walk-broken",
    transcript_walk_repaired => "walk-repaired",
    transcript_walk_debug => "walk-debug",
    transcript_walk_run => "walk-run",
    transcript_walk_auto_generic => "walk-auto-generic",
    transcript_walk_auto_native => "walk-auto-native",
    transcript_walk_stop => "walk-stop",
}

/// /tmp/nocheck (named, not made: the doc makes it) and /sys/fs/bpf/nocheck.
fn nocheck_dirs(s: &mut Session) -> (TempDir, support::PinDir) {
    let dir = TempDir::named("nocheck");
    let pins = support::PinDir::new("nocheck");
    s.name(dir.path.clone(), "/tmp/nocheck");
    s.name(pins.as_str(), "/sys/fs/bpf/nocheck");
    (dir, pins)
}

/// `sudo xdploader -file /tmp/nocheck/xdp.elf -load-only -pin-path /sys/fs/bpf/nocheck`.
fn nocheck_load(s: &mut Session, dir: &TempDir, pins: &support::PinDir) {
    s.cmd(
        "$ sudo xdploader -file /tmp/nocheck/xdp.elf -load-only -pin-path /sys/fs/bpf/nocheck",
        &[
            xdploader(),
            "-file",
            &dir.join("xdp.elf"),
            "-load-only",
            "-pin-path",
            pins.as_str(),
        ],
    );
}

/// `sed -i 'LINESs|^|//|'` on /tmp/nocheck/parsing.h, the diff, and clang.
fn nocheck_build(s: &mut Session, dir: &TempDir, lines: &str) {
    let parsing = dir.join("parsing.h");
    s.cmd(
        &format!("$ sed -i '{lines}s|^|//|' /tmp/nocheck/parsing.h"),
        &["sed", "-i", &format!("{lines}s|^|//|"), &parsing],
    );
    s.cmd(
        "$ diff kern/parsing.h /tmp/nocheck/parsing.h",
        &["diff", "kern/parsing.h", &parsing],
    );
    s.cmd(
        "$ clang -O2 -g -Wall -target bpf -I/usr/include/$(gcc -print-multiarch) -c /tmp/nocheck/xdp.c -o /tmp/nocheck/xdp.elf",
        &[
            "sh",
            "-c",
            &format!(
                "clang -O2 -g -Wall -target bpf -I/usr/include/$(gcc -print-multiarch) -c {} -o {}",
                dir.join("xdp.c"),
                dir.join("xdp.elf")
            ),
        ],
    );
}

/// The test network of scripts/start.sh under names of this case's own: the namespace
/// (`xdp` in the doc), the veth pair (veth1, veth2) and the pin directory
/// (/sys/fs/bpf). What the doc calls the host is a network namespace of its own too
/// (`host_ns`), so that veth1's ifindex is small as on a fresh machine and its
/// 10.2.2.0/24 route and start.sh's per-namespace sysctls stay out of the machine's
/// own namespace; `Drop` runs stop.sh there, then deletes whatever is left.
struct Demo {
    host_ns: String,
    netns: String,
    host_veth: String,
    ns_veth: String,
    pin_dir: String,
    /// A `sysctl` for start.sh's PATH (see `Demo::script`).
    shim: TempDir,
}

/// start.sh sets a few sysctls that exist only in the machine's first network
/// namespace (net.ipv4.tcp_mem, net.ipv4.udp_mem); in the test's host namespace these
/// are skipped, every other one is set by the real sysctl.
const SYSCTL_SHIM: &str = r#"#!/bin/sh
key="${2%%=*}"
if [ "$1" = -w ] && [ ! -e "/proc/sys/$(echo "$key" | tr . /)" ]; then
    exit 0
fi
exec /usr/sbin/sysctl "$@"
"#;

impl Demo {
    /// The names, mapped to the doc's in `s`, and the host namespace.
    fn new(s: &mut Session) -> Demo {
        require_root();
        support::ensure_bpffs();
        let (pid, id, _) = unique("demo");
        // Interface names are at most 15 bytes.
        let veth = format!("xw{}x{id}", pid % 1_000_000);
        let shim = TempDir::new("shim");
        let sysctl = shim.join("sysctl");
        std::fs::write(&sysctl, SYSCTL_SHIM).expect("write the sysctl shim");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sysctl, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the sysctl shim");
        let demo = Demo {
            host_ns: format!("xdpwh-{pid}-{id}"),
            netns: format!("xdpwn-{pid}-{id}"),
            host_veth: format!("{veth}a"),
            ns_veth: format!("{veth}b"),
            pin_dir: format!("/sys/fs/bpf/xdpwp-{pid}-{id}"),
            shim,
        };
        // From here on, Drop removes whatever part of it was made.
        quietly(&["ip", "netns", "add", &demo.host_ns]);
        quietly(&strs(&demo.argv(&["ip", "link", "set", "dev", "lo", "up"])));
        let root = repo_root().display().to_string();
        s.name(xdploader(), "/work/main/target/release/xdploader");
        s.name(root, "/work/main");
        s.name(format!(" -pin-path {}", demo.pin_dir), "");
        s.name(demo.pin_dir.clone(), "/sys/fs/bpf");
        s.name(demo.netns.clone(), "xdp");
        s.name(demo.host_veth.clone(), "veth1");
        s.name(demo.ns_veth.clone(), "veth2");
        demo
    }

    /// The network built and the program loaded, as after the doc's `sudo scripts/start.sh`.
    fn start(s: &mut Session) -> Demo {
        let demo = Demo::new(s);
        quietly(&strs(&demo.script("start.sh")));
        demo
    }

    /// `argv` run in the host namespace.
    fn argv(&self, argv: &[&str]) -> Vec<String> {
        let mut all = vec![
            "nsenter".to_string(),
            format!("--net=/run/netns/{}", self.host_ns),
        ];
        all.extend(argv.iter().map(|arg| arg.to_string()));
        all
    }

    /// Runs `argv` in the host namespace and records it as `shown`.
    fn cmd(&self, s: &mut Session, shown: &str, argv: &[&str]) {
        s.cmd(shown, &strs(&self.argv(argv)));
    }

    /// `cmd` for `ip link show` (see `Session::ip`).
    fn ip(&self, s: &mut Session, shown: &str, argv: &[&str]) {
        s.ip(shown, &strs(&self.argv(argv)));
    }

    /// `scripts/NAME` in the host namespace with this demo's names, its trace and
    /// output in one stream.
    fn script(&self, name: &str) -> Vec<String> {
        let path = format!(
            "{}:{}",
            self.shim.path,
            std::env::var("PATH").unwrap_or_default()
        );
        let env = [
            format!("PATH={path}"),
            format!("XDP_NETNS={}", self.netns),
            format!("XDP_HOST_VETH={}", self.host_veth),
            format!("XDP_NS_VETH={}", self.ns_veth),
            format!("XDP_PIN_PATH={}", self.pin_dir),
            format!("XDPLOADER={}", xdploader()),
        ];
        let command = format!("exec scripts/{name} 2>&1");
        let mut argv = vec!["env"];
        argv.extend(env.iter().map(String::as_str));
        argv.extend(["bash", "-c", &command]);
        self.argv(&argv)
    }

    fn pin(&self, name: &str) -> String {
        format!("{}/{name}", self.pin_dir)
    }

    /// `sudo xdploader -file OBJECT -i veth1 EXTRA`; not recorded when `shown` is empty.
    fn load(&self, s: &mut Session, shown: &str, object: &str, extra: &[&str]) {
        let mut argv = vec![
            xdploader(),
            "-file",
            object,
            "-i",
            &self.host_veth,
            "-pin-path",
            &self.pin_dir,
        ];
        argv.extend_from_slice(extra);
        if shown.is_empty() {
            quietly(&strs(&self.argv(&argv)));
        } else {
            self.cmd(s, shown, &argv);
        }
    }

    /// `sudo xdploader -status -i veth1` and a pipe after it.
    fn status(&self, s: &mut Session, shown: &str, pipe: &str) {
        let command = format!(
            "{} -status -i {} -pin-path {}{pipe}",
            xdploader(),
            self.host_veth,
            self.pin_dir
        );
        self.cmd(s, shown, &["sh", "-c", &command]);
    }

    fn ping(&self, s: &mut Session, shown: &str, args: &[&str]) {
        let mut argv = vec!["ping"];
        argv.extend_from_slice(args);
        argv.push("10.2.2.2");
        self.cmd(s, shown, &argv);
    }

    /// The doc's `ping -c 3 -i 0.2 -q 10.2.2.2`, then `sudo statswatch`.
    fn ping_3_and_statswatch(&self, s: &mut Session) {
        self.ping(
            s,
            "$ ping -c 3 -i 0.2 -q 10.2.2.2",
            &["-c", "3", "-i", "0.2", "-q"],
        );
        self.statswatch(s, "$ sudo statswatch", &[]);
    }

    fn statswatch(&self, s: &mut Session, shown: &str, extra: &[&str]) {
        let stats = self.pin("stats_map");
        let mut argv = vec![statswatch(), "-file", &stats];
        argv.extend_from_slice(extra);
        s.cmd(shown, &argv);
    }

    /// `ping -c COUNT -i 0.2 -q 10.2.2.2`, not recorded; lost replies are no error.
    fn ping_quietly(&self, count: u32) {
        let count = count.to_string();
        output_of(&strs(
            &self.argv(&["ping", "-c", &count, "-i", "0.2", "-q", "10.2.2.2"]),
        ));
    }

    /// `sudo bpftool map delete pinned /sys/fs/bpf/jmp_map key 1 0 0 0`.
    fn empty_slot_1(&self, s: &mut Session) {
        s.cmd(
            "$ sudo bpftool map delete pinned /sys/fs/bpf/jmp_map key 1 0 0 0",
            &[
                "bpftool",
                "map",
                "delete",
                "pinned",
                &self.pin("jmp_map"),
                "key",
                "1",
                "0",
                "0",
                "0",
            ],
        );
        assert_eq!(s.last_status, 0, "bpftool map delete failed: {}", s.text);
    }

    /// The id of the program attached to veth1.
    fn attached_id(&self) -> u64 {
        let out = support::run_ok(
            "ip",
            &[
                "-n",
                &self.host_ns,
                "-j",
                "link",
                "show",
                "dev",
                &self.host_veth,
            ],
        );
        support::json(&out)[0]["xdp"]["prog"]["id"]
            .as_u64()
            .expect("a program attached to the demo's veth1")
    }

    /// The program ids in jmp_map's slots, in slot order.
    fn slots(&self) -> Vec<u64> {
        let out = support::run_ok(
            "bpftool",
            &["-j", "map", "dump", "pinned", &self.pin("jmp_map")],
        );
        support::json(&out)
            .as_array()
            .expect("jmp_map entries")
            .iter()
            .map(|entry| entry["formatted"]["value"].as_u64().expect("a program id"))
            .collect()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let script = self.script("stop.sh");
        let _ = std::process::Command::new(&script[0])
            .args(&script[1..])
            .current_dir(repo_root())
            .output();
        for ns in [&self.netns, &self.host_ns] {
            support::remove_interface_locks(ns);
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.pin_dir);
    }
}

/// Every number on lines whose figures include frames the machine sends by itself
/// (ARP and IPv6 neighbour discovery on a fresh veth pair, at times of its own): the
/// XDP_PASS total and the per-CPU lines (which CPU a frame arrives on varies too).
fn mask_pass(line: &str) -> String {
    if line.trim_start().starts_with("CPU ") {
        let label_end = line.find(':').map_or(0, |at| at + 1);
        let (label, rest) = line.split_at(label_end);
        format!("{label}{}", mask_digits(rest))
    } else {
        mask_xdp_pass(line)
    }
}

/// A trace line: `ping-PID [CPU] FLAGS SECONDS: bpf_trace_printk: MESSAGE`; everything
/// before the message differs on every run.
fn mask_trace(line: &str) -> String {
    match line.find(" bpf_trace_printk: ") {
        Some(at) if line.trim_start().starts_with("ping-") => {
            format!("            ping-N [N] FLAGS N:{}", &line[at..])
        }
        _ => mask_pass(line),
    }
}

/// A private ftrace instance that records `bpf_trace_printk` events, so that the test
/// reads its own copy of the trace and never consumes (or sees cleared) the machine's
/// shared buffer. Removed on `Drop`.
struct TraceInstance {
    path: String,
}

impl TraceInstance {
    fn new() -> TraceInstance {
        let (_, _, name) = unique("xdpw-trace");
        let instance = TraceInstance {
            path: format!("/sys/kernel/tracing/instances/{name}"),
        };
        // xdploader mounts tracefs when it loads an object that calls bpf_printk and
        // finds it missing (a fresh machine; CI runs the suite with it unmounted).
        std::fs::create_dir(&instance.path).unwrap_or_else(|error| {
            panic!(
                "cannot create {} after xdploader loaded a bpf_printk object (it mounts tracefs when missing): {error}",
                instance.path
            )
        });
        let enable = format!("{}/events/bpf_trace/bpf_trace_printk/enable", instance.path);
        std::fs::write(&enable, "1")
            .unwrap_or_else(|error| panic!("cannot write {enable}: {error}"));
        instance
    }

    fn lines(&self) -> Vec<String> {
        let text = std::fs::read_to_string(format!("{}/trace", self.path)).expect("read trace");
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for TraceInstance {
    fn drop(&mut self) {
        let _ = std::fs::write(
            format!("{}/events/bpf_trace/bpf_trace_printk/enable", self.path),
            "0",
        );
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// The ```python block of the walkthrough that writes udp.pcap.
fn udp_pcap_python() -> String {
    let text = std::fs::read_to_string(repo_root().join("docs/walkthrough.md")).expect("read doc");
    let start = text.find("```python\n").expect("a ```python block") + "```python\n".len();
    let end = start + text[start..].find("```").expect("end of the python block");
    text[start..end].to_string()
}
