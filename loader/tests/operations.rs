//! Kernel tests for operating xdploader (issue 5), one per bullet: attach modes, atomic
//! replace under traffic, programs that are not ours, multi-interface rollback, BPF links,
//! the tail-call chain check, -detach and -status. Each checks what the kernel holds with
//! `ip -j link` and `bpftool -j`, never xdploader's own account of it.
//! They need root and are run by scripts/test.sh (`--include-ignored`).

mod support;

use std::fs::File;
use std::net::{SocketAddrV4, UdpSocket};
use std::ops::Deref;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use support::*;

const XDP_ABORTED: usize = 0;
const XDP_PASS: usize = 2;
/// `ip -j link`'s `xdp.mode`: XDP_ATTACHED_DRV and XDP_ATTACHED_SKB.
const XDP_ATTACHED_DRV: u64 = 1;
const XDP_ATTACHED_SKB: u64 = 2;
/// How long the kernel gets to free what was released, or to deliver what was sent.
const SETTLE: Duration = Duration::from_secs(10);

/// A TestNet with the helpers of these tests (TestNet's `Drop` cleans up).
struct Ops {
    net: TestNet,
}

impl Deref for Ops {
    type Target = TestNet;
    fn deref(&self) -> &TestNet {
        &self.net
    }
}

impl Ops {
    fn new() -> Ops {
        let net = TestNet::new();
        Ops { net }
    }

    fn pin_dir_str(&self) -> String {
        self.pin_dir.display().to_string()
    }

    /// xdploader inside the XDP namespace with `args` and this test's `-pin-path`.
    fn loader(&self, args: &[&str]) -> Output {
        let pin_dir = self.pin_dir_str();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-pin-path", &pin_dir]);
        self.in_xdp_ns(xdploader(), &all)
    }

    /// kern/xdp.elf onto `interfaces` (comma-separated) with `extra`.
    fn load_on(&self, interfaces: &str, extra: &[&str]) -> Output {
        let object = xdp_object();
        let mut args = vec!["-file", object.to_str().expect("utf-8"), "-i", interfaces];
        args.extend_from_slice(extra);
        self.loader(&args)
    }

    /// `ip -j link`'s (mode, prog id) for any interface of the XDP namespace.
    fn xdp_on(&self, interface: &str) -> Option<(u64, u64)> {
        let out = run_ok(
            "ip",
            &["-n", &self.xdp_ns, "-j", "link", "show", "dev", interface],
        );
        let link = json(&out);
        let xdp = link.get(0)?.get("xdp")?;
        Some((
            xdp.get("mode")?.as_u64()?,
            xdp.get("prog")?.get("id")?.as_u64()?,
        ))
    }

    fn ifindex(&self, interface: &str) -> u64 {
        let out = run_ok(
            "ip",
            &["-n", &self.xdp_ns, "-j", "link", "show", "dev", interface],
        );
        json(&out)[0]["ifindex"].as_u64().expect("ifindex")
    }

    /// `ip` inside a namespace, which must succeed.
    fn ip(&self, ns: &str, args: &[&str]) {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        run_ok("ip", &all);
    }

    /// A second veth pair with both ends in the XDP namespace, so the loader sees the peer.
    /// It goes with the namespace.
    fn local_pair(&self, name: &str, peer: &str, peer_mtu: u32, peer_up: bool) {
        let ns = self.xdp_ns.clone();
        self.ip(
            &ns,
            &["link", "add", name, "type", "veth", "peer", "name", peer],
        );
        self.ip(
            &ns,
            &["link", "set", "dev", peer, "mtu", &peer_mtu.to_string()],
        );
        self.ip(&ns, &["link", "set", "dev", name, "up"]);
        if peer_up {
            self.ip(&ns, &["link", "set", "dev", peer, "up"]);
        }
    }

    /// Takes whatever netlink attached off `interface`, generic and native.
    fn xdp_off(&self, interface: &str) {
        for mode in ["xdpgeneric", "xdpdrv"] {
            self.ip(
                &self.xdp_ns,
                &["link", "set", "dev", interface, mode, "off"],
            );
        }
        assert_eq!(self.xdp_on(interface), None, "{interface} is free");
    }

    /// Removes every pin in the pin directory.
    fn remove_pins(&self) {
        for pin in self.pins() {
            std::fs::remove_file(self.pin(&pin)).expect("remove pin");
        }
    }

    /// The names in the pin directory, sorted.
    fn pins(&self) -> Vec<String> {
        dir_entries(&self.pin_dir)
    }

    /// Sends `count` UDP datagrams of `payload` bytes from the sender namespace, one every
    /// `gap`, on its own thread. Returns how many the socket accepted and when the
    /// first and the last went out.
    fn send_paced(&self, count: usize, payload: usize, gap: Duration) -> (usize, Instant, Instant) {
        let netns =
            File::open(format!("/run/netns/{}", self.sender_ns)).expect("open sender netns");
        setns(&netns, CloneFlags::CLONE_NEWNET).expect("setns into the sender namespace");
        let socket = UdpSocket::bind(SocketAddrV4::new(SENDER_IP, 0)).expect("bind");
        let data = vec![0x5au8; payload];
        let start = Instant::now();
        let mut sent = 0;
        for index in 0..count {
            let due = start + gap * index as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if socket
                .send_to(&data, SocketAddrV4::new(XDP_SIDE_IP, 9))
                .is_ok()
            {
                sent += 1;
            }
        }
        (sent, start, Instant::now())
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The stdout of a run that must have succeeded.
fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "xdploader failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// The one line of stderr of a run that must have failed with `code`.
fn failed(output: &Output, code: i32) -> String {
    let err = stderr(output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit status\nstdout: {}\nstderr: {err}",
        stdout(output)
    );
    assert_eq!(err.lines().count(), 1, "one sentence on stderr: {err}");
    err
}

fn bpftool_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["-j"];
    all.extend_from_slice(args);
    json(&run_ok("bpftool", &all))
}

fn prog_show(id: u64) -> serde_json::Value {
    bpftool_json(&["prog", "show", "id", &id.to_string()])
}

fn prog_name(id: u64) -> String {
    prog_show(id)["name"]
        .as_str()
        .expect("program name")
        .to_string()
}

fn prog_map_ids(id: u64) -> Vec<u64> {
    prog_show(id)["map_ids"]
        .as_array()
        .map(|ids| ids.iter().filter_map(|id| id.as_u64()).collect())
        .unwrap_or_default()
}

fn link_exists(id: u64) -> bool {
    run("bpftool", &["link", "show", "id", &id.to_string()])
        .status
        .success()
}

fn pinned_map_id(pin: &Path) -> u64 {
    bpftool_json(&["map", "show", "pinned", pin.to_str().expect("utf-8")])["id"]
        .as_u64()
        .expect("map id")
}

/// The xdp links `bpftool link show` lists: (link id, prog id).
fn xdp_links() -> Vec<(u64, u64)> {
    bpftool_json(&["link", "show"])
        .as_array()
        .expect("links")
        .iter()
        .filter(|link| link["type"] == "xdp")
        .map(|link| {
            (
                link["id"].as_u64().expect("link id"),
                link["prog_id"].as_u64().expect("prog id"),
            )
        })
        .collect()
}

/// A pinned link's fdinfo, as the kernel writes it (bpftool 7.1 does not print an xdp
/// link's ifindex): `key -> value` for link_id, prog_id, ifindex.
fn pinned_link_fdinfo(pin: &Path) -> Vec<(String, u64)> {
    let fd = sys::obj::obj_get(pin).expect("open the pinned link");
    let text =
        std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).expect("fdinfo");
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(':')?;
            Some((key.trim().to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

fn fdinfo_value(fdinfo: &[(String, u64)], key: &str) -> u64 {
    fdinfo
        .iter()
        .find(|(name, _)| name == key)
        .unwrap_or_else(|| panic!("no {key} in the link's fdinfo: {fdinfo:?}"))
        .1
}

/// Every program and map id a load of kern/xdp.elf holds: entry, both tail-call
/// targets, and their maps.
fn ids_of_load(entry: u64, jmp_map: &Path) -> (Vec<u64>, Vec<u64>) {
    let mut progs = vec![entry];
    progs.extend(prog_array_slots(jmp_map).into_iter().map(|(_, id)| id));
    let mut maps: Vec<u64> = progs.iter().flat_map(|id| prog_map_ids(*id)).collect();
    maps.sort();
    maps.dedup();
    (progs, maps)
}

fn all_gone(progs: &[u64], maps: &[u64]) -> bool {
    progs.iter().all(|id| !prog_exists(*id)) && maps.iter().all(|id| !map_exists(*id))
}

/// Sends `count` datagrams and waits until XDP_PASS has counted them; returns the counts.
fn send_and_count(ops: &Ops, count: u64) -> Vec<(u64, u64)> {
    let stats = ops.pin("stats_map");
    let before = bpftool_counts(&stats)[XDP_PASS].0;
    ops.send_udp(count as usize, 16);
    wait_for(SETTLE, || {
        bpftool_counts(&stats)[XDP_PASS].0 >= before + count
    });
    bpftool_counts(&stats)
}

// 1. -mode auto, and what native mode needs.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn mode_auto_uses_native_when_it_can_and_says_why_not_when_it_cannot() {
    let ops = Ops::new();
    let interface = ops.xdp_if.clone();

    // MTU 1500 on both ends: native.
    let out = ok(ops.load_on(&interface, &["-mode", "auto"]));
    assert!(!out.contains("Native mode is not possible"), "{out}");
    let (mode, _) = ops.xdp_on(&interface).expect("attached");
    assert_eq!(mode, XDP_ATTACHED_DRV, "ip link: native mode\n{out}");
    ops.xdp_off(&interface);

    // The peer (in the other namespace) at MTU 9000: the kernel refuses native mode, and
    // the loader says so in one line and attaches in generic mode.
    ops.ip(
        &ops.sender_ns,
        &["link", "set", "dev", &ops.sender_if, "mtu", "9000"],
    );
    let out = ok(ops.load_on(&interface, &["-mode", "auto"]));
    let fallback: Vec<&str> = out
        .lines()
        .filter(|line| line.starts_with("Native mode is not possible: "))
        .collect();
    assert_eq!(fallback.len(), 1, "one fallback line:\n{out}");
    assert!(
        fallback[0].ends_with("; using generic (skb) mode")
            && fallback[0].contains("Peer MTU is too large"),
        "the fallback line names the MTU: {}",
        fallback[0]
    );
    let (mode, generic_id) = ops.xdp_on(&interface).expect("attached");
    assert_eq!(mode, XDP_ATTACHED_SKB, "ip link: generic mode");

    // -mode drv with that peer: exit 3, the kernel's words and what ERANGE means. The
    // generic program that was there stays.
    let output = ops.load_on(&interface, &["-mode", "drv"]);
    let err = failed(&output, 3);
    assert!(err.contains("Peer MTU is too large"), "{err}");
    assert!(err.contains("ERANGE"), "{err}");
    assert!(
        err.contains("the MTU is too large for native XDP"),
        "the ERANGE explanation: {err}"
    );
    assert_eq!(
        ops.xdp_on(&interface),
        Some((XDP_ATTACHED_SKB, generic_id)),
        "a failed mode switch leaves the program that was attached"
    );
    assert!(
        stdout(&output).contains(&format!(
            "Put xdp_skeleton (id {generic_id}) back on {interface} (generic (skb) mode)"
        )),
        "{}",
        stdout(&output)
    );

    // A peer the loader can see (same namespace) with MTU 9000: judged before attaching.
    ops.local_pair("opsm0", "opsm1", 9000, true);
    let out = ok(ops.load_on("opsm0", &["-mode", "auto"]));
    assert!(
        out.lines()
            .any(|line| line.starts_with("Native mode is not possible: ")
                && line.contains("opsm1")
                && line.contains("MTU 9000")
                && line.ends_with("; using generic (skb) mode")),
        "the line names the peer and its MTU:\n{out}"
    );
    assert_eq!(
        ops.xdp_on("opsm0").map(|(mode, _)| mode),
        Some(XDP_ATTACHED_SKB)
    );

    // A peer that is down: generic, and the line names the peer.
    ops.local_pair("opsd0", "opsd1", 1500, false);
    let out = ok(ops.load_on("opsd0", &["-mode", "auto"]));
    assert!(
        out.lines()
            .any(|line| line.starts_with("Native mode is not possible: ")
                && line.contains("opsd1")
                && line.contains("down")
                && line.ends_with("; using generic (skb) mode")),
        "the line names the peer that is down:\n{out}"
    );
    assert_eq!(
        ops.xdp_on("opsd0").map(|(mode, _)| mode),
        Some(XDP_ATTACHED_SKB)
    );
}

// 2. Atomic replace: reloads under a steady stream lose no packet.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn reloading_under_a_steady_stream_counts_every_packet() {
    // 4000 datagrams a second for 3 s: dense enough that a gap of a fraction of a
    // millisecond in any of the reloads would cost packets.
    const DATAGRAMS: usize = 12_000;
    const GAP: Duration = Duration::from_micros(250);
    const PAYLOAD: u64 = 32;
    const RELOADS: usize = 5;
    let ops = Ops::new();
    ops.load_ok();
    let stats = ops.pin("stats_map");
    let stats_id = pinned_map_id(&stats);
    let (_, first) = ops.attached().expect("attached");
    let before = bpftool_counts(&stats);
    assert_eq!(before, vec![(0, 0); 5], "nothing arrived yet");

    let mut ids = vec![first];
    let mut windows = Vec::new();
    let (sent, send_start, send_end) = std::thread::scope(|scope| {
        let sender = scope.spawn(|| ops.send_paced(DATAGRAMS, PAYLOAD as usize, GAP));
        std::thread::sleep(Duration::from_millis(300));
        for _ in 0..RELOADS {
            let start = Instant::now();
            let out = ok(ops.load(&[]));
            windows.push((start, Instant::now()));
            assert!(out.contains("atomically"), "an atomic replace:\n{out}");
            let (mode, id) = ops.attached().expect("still attached");
            assert_eq!(mode, XDP_ATTACHED_SKB);
            ids.push(id);
            assert_eq!(pinned_map_id(&stats), stats_id, "the same stats map");
            std::thread::sleep(Duration::from_millis(150));
        }
        sender.join().expect("sender thread")
    });
    assert_eq!(sent, DATAGRAMS, "every datagram left the socket");
    for (start, end) in &windows {
        assert!(
            *start > send_start && *end < send_end,
            "each reload ran while the stream was flowing (make the stream longer if not)"
        );
    }
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        RELOADS + 1,
        "each reload attached a new program: {ids:?}"
    );

    let sent = sent as u64;
    wait_for(SETTLE, || bpftool_counts(&stats)[XDP_PASS].0 >= sent);
    std::thread::sleep(Duration::from_millis(200));
    let counts = bpftool_counts(&stats);
    assert_eq!(counts[XDP_ABORTED], (0, 0), "no packet aborted: {counts:?}");
    assert_eq!(
        counts[XDP_PASS],
        (sent, sent * (PAYLOAD + UDP_FRAME_OVERHEAD)),
        "XDP_PASS counted exactly the datagrams sent: {counts:?}"
    );
    assert_eq!(
        counts.iter().map(|(packets, _)| packets).sum::<u64>(),
        sent,
        "nothing else: {counts:?}"
    );
    // The replaced entry programs are freed.
    assert!(
        wait_for(SETTLE, || ids[..RELOADS].iter().all(|id| !prog_exists(*id))),
        "replaced programs {:?} must be freed",
        &ids[..RELOADS]
    );
}

// 3. A program that is not ours is never replaced silently.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_program_that_is_not_ours_is_refused_unless_forced() {
    let ops = Ops::new();
    let interface = ops.xdp_if.clone();
    let variants = fixture("xdp_variants");
    ok(ops.loader(&[
        "-file",
        variants.to_str().expect("utf-8"),
        "-i",
        &interface,
        "-prog",
        "xdp_plain",
    ]));
    let (mode, other) = ops.xdp_on(&interface).expect("xdp_plain attached");
    assert_eq!(prog_name(other), "xdp_plain");

    let err = failed(&ops.load(&[]), 4);
    assert!(
        err.contains("xdp_plain") && err.contains(&format!("id {other}")),
        "names what is attached: {err}"
    );
    assert!(err.contains("-force"), "says how to proceed: {err}");
    assert_eq!(
        ops.xdp_on(&interface),
        Some((mode, other)),
        "the other program is still attached"
    );
    assert_eq!(
        ops.pins(),
        Vec::<String>::new(),
        "no pins left by the refused run"
    );

    let out = ok(ops.load(&["-force"]));
    let (_, ours) = ops.xdp_on(&interface).expect("attached");
    assert_ne!(ours, other);
    assert_eq!(
        prog_name(ours),
        "xdp_skeleton",
        "replaced with -force\n{out}"
    );
    assert!(wait_for(SETTLE, || !prog_exists(other)), "xdp_plain freed");
    ops.xdp_off(&interface);
    ops.remove_pins();

    // libxdp's dispatcher, attached by xdp-loader (xdp-tools), with its own hint.
    let xdp_loader = "/usr/sbin/xdp-loader";
    assert!(
        Path::new(xdp_loader).exists(),
        "xdp-loader is not installed: run scripts/install-deps.sh (it installs xdp-tools)"
    );
    // libxdp pins its dispatcher under $LIBXDP_BPFFS/xdp: a private directory.
    let libxdp_dir = PinDir::new("libxdp");
    std::fs::create_dir_all(&libxdp_dir.path).expect("libxdp bpffs dir");
    let netns = format!("--net=/run/netns/{}", ops.xdp_ns);
    let libxdp = |args: &[&str]| -> Output {
        let mut all = vec![netns.as_str(), "env"];
        let bpffs = format!("LIBXDP_BPFFS={}", libxdp_dir.as_str());
        all.push(&bpffs);
        all.push(xdp_loader);
        all.extend_from_slice(args);
        run("nsenter", &all)
    };
    let loaded = libxdp(&[
        "load",
        "-m",
        "skb",
        "-n",
        "xdp_plain",
        &interface,
        variants.to_str().expect("utf-8"),
    ]);
    assert!(
        loaded.status.success(),
        "xdp-loader load: {}{}",
        stdout(&loaded),
        stderr(&loaded)
    );
    // Unload it whatever happens next.
    struct Unload<'a>(&'a dyn Fn(&[&str]) -> Output, &'a str);
    impl Drop for Unload<'_> {
        fn drop(&mut self) {
            let _ = (self.0)(&["unload", self.1, "--all"]);
        }
    }
    let unload = Unload(&libxdp, &interface);
    let (_, theirs) = ops
        .xdp_on(&interface)
        .expect("xdp-loader attached a program");
    let err = failed(&ops.load(&[]), 4);
    assert!(err.contains("-force"), "{err}");
    if prog_name(theirs) == "xdp_dispatcher" {
        assert!(err.contains("xdp_dispatcher"), "{err}");
        assert!(
            err.contains(&format!("xdp-loader unload {interface} --all")),
            "the other tool's own unload command: {err}"
        );
    } else {
        // libxdp falls back to attaching the program alone where the kernel refuses its
        // dispatcher's freplace (BPF_PROG_TYPE_EXT) programs.
        eprintln!(
            "libxdp attached {} without its dispatcher on this kernel: dispatcher hint not checked",
            prog_name(theirs)
        );
        assert!(err.contains(&prog_name(theirs)), "{err}");
    }
    assert_eq!(
        ops.xdp_on(&interface).map(|(_, id)| id),
        Some(theirs),
        "xdp-loader's program is still attached"
    );
    assert_eq!(
        ops.pins(),
        Vec::<String>::new(),
        "no pins left by the refused run"
    );
    drop(unload);
    assert_eq!(ops.xdp_on(&interface), None, "xdp-loader unloaded it");
}

// 4. -i a,b: a failure on b puts a back as it was, and removes this run's pins.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_failure_on_one_interface_rolls_back_the_others() {
    let ops = Ops::new();
    let good = ops.xdp_if.clone();
    // Native mode on `opsr0` fails: its peer has MTU 9000.
    ops.local_pair("opsr0", "opsr1", 9000, true);
    let both = format!("{good},opsr0");

    // Nothing attached before: nothing attached after, no pins.
    let output = ops.load_on(&both, &["-mode", "drv"]);
    let err = failed(&output, 3);
    assert!(err.contains("opsr0"), "{err}");
    assert!(
        stdout(&output).contains(&format!("Rolling back {good}")),
        "{}",
        stdout(&output)
    );
    assert_eq!(ops.xdp_on(&good), None, "{good} is free again");
    assert_eq!(ops.xdp_on("opsr0"), None);
    assert_eq!(ops.pins(), Vec::<String>::new(), "no pins left");

    // Our program in generic mode before (a mode switch on the good interface), then in
    // native mode (an atomic replace there): each time the old program comes back, the
    // pins are the same maps as before, and the chain still counts every packet.
    for mode in ["skb", "drv"] {
        ok(ops.load_on(&good, &["-mode", mode]));
        let before = ops.xdp_on(&good).expect("attached");
        let pins = ops.pins();
        let pin_ids: Vec<u64> = pins
            .iter()
            .map(|pin| pinned_map_id(&ops.pin(pin)))
            .collect();

        let output = ops.load_on(&both, &["-mode", "drv"]);
        failed(&output, 3);
        assert!(
            stdout(&output).contains(&format!("Rolling back {good}")),
            "{}",
            stdout(&output)
        );
        assert_eq!(
            ops.xdp_on(&good),
            Some(before),
            "{good} is back to the program it had ({mode} mode)"
        );
        assert_eq!(ops.pins(), pins, "no new pins");
        let ids: Vec<u64> = pins
            .iter()
            .map(|pin| pinned_map_id(&ops.pin(pin)))
            .collect();
        assert_eq!(ids, pin_ids, "the same pinned maps");

        let counts = send_and_count(&ops, 20);
        assert_eq!(
            counts[XDP_ABORTED].0, 0,
            "the restored chain is intact ({mode}): {counts:?}"
        );
        ops.xdp_off(&good);
        for pin in &pins {
            std::fs::remove_file(ops.pin(pin)).expect("remove pin");
        }
    }
}

// 5. -link: a BPF link that owns the attachment, updated in place, detached.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_bpf_link_outlives_the_loader_is_updated_in_place_and_detached() {
    let ops = Ops::new();
    let interface = ops.xdp_if.clone();
    let ifindex = ops.ifindex(&interface);
    let link_pin = ops.pin(&format!("link_{interface}"));

    let out = ok(ops.load(&["-link"]));
    // The loader has exited; the program is still attached.
    let (mode, first) = ops.attached().expect("attached through the link");
    assert_eq!(mode, XDP_ATTACHED_SKB, "{out}");
    assert!(
        link_pin.exists(),
        "the link is pinned at {}",
        link_pin.display()
    );
    let fdinfo = pinned_link_fdinfo(&link_pin);
    let link_id = fdinfo_value(&fdinfo, "link_id");
    assert_eq!(fdinfo_value(&fdinfo, "ifindex"), ifindex, "{fdinfo:?}");
    assert_eq!(fdinfo_value(&fdinfo, "prog_id"), first, "{fdinfo:?}");
    assert!(
        xdp_links().contains(&(link_id, first)),
        "bpftool link show: xdp link {link_id} with program {first}: {:?}",
        xdp_links()
    );

    // A second -link load swaps the program inside the same link.
    ok(ops.load(&["-link"]));
    let (_, second) = ops.attached().expect("attached");
    assert_ne!(second, first, "a new program");
    let fdinfo = pinned_link_fdinfo(&link_pin);
    assert_eq!(fdinfo_value(&fdinfo, "link_id"), link_id, "the same link");
    assert_eq!(fdinfo_value(&fdinfo, "prog_id"), second);
    assert!(
        xdp_links().contains(&(link_id, second)),
        "{:?}",
        xdp_links()
    );
    assert!(
        wait_for(SETTLE, || !prog_exists(first)),
        "the old program is freed"
    );

    // The link holds the attachment: `ip link set ... xdp off` cannot remove it.
    let off = ops.in_xdp_ns(
        "ip",
        &["link", "set", "dev", &interface, "xdpgeneric", "off"],
    );
    assert!(
        !off.status.success(),
        "netlink cannot detach a link's program"
    );
    assert_eq!(ops.attached().map(|(_, id)| id), Some(second));

    let (progs, maps) = ids_of_load(second, &ops.pin("jmp_map"));
    let out = ok(ops.loader(&["-detach", "-i", &interface]));
    assert!(
        out.contains(&format!("BPF link {link_id}")),
        "detached the link:\n{out}"
    );
    assert_eq!(ops.attached(), None, "nothing attached");
    assert!(!link_pin.exists(), "the link pin is gone");
    assert_eq!(ops.pins(), Vec::<String>::new(), "every pin is gone");
    assert!(
        wait_for(SETTLE, || !link_exists(link_id) && all_gone(&progs, &maps)),
        "link {link_id}, programs {progs:?} and maps {maps:?} are freed"
    );
}

// 6. The tail-call chain, read from the code and checked.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn the_tail_call_chain_is_printed_and_empty_slots_are_caught() {
    let ops = Ops::new();
    let interface = ops.xdp_if.clone();

    let out = ok(ops.load(&["-strict"]));
    assert!(
        out.lines().any(|line| line
            == "Tail-call chain: xdp_skeleton -> [1] xdp_skeleton_1 -> [2] xdp_skeleton_2"),
        "{out}"
    );
    assert!(!out.contains("Warning"), "every slot filled:\n{out}");
    let slots: Vec<(u64, String)> = prog_array_slots(&ops.pin("jmp_map"))
        .into_iter()
        .map(|(slot, id)| (slot, prog_name(id)))
        .collect();
    assert_eq!(
        slots,
        [
            (1, "xdp_skeleton_1".to_string()),
            (2, "xdp_skeleton_2".to_string())
        ],
        "what the chain line says is what the prog array holds"
    );
    ops.xdp_off(&interface);
    ops.remove_pins();

    // A prog array filled statically (`.values = { [1] = &tail_target }`): no warning.
    let full = fixture("btf_maps_full");
    let out = ok(ops.loader(&[
        "-file",
        full.to_str().expect("utf-8"),
        "-i",
        &interface,
        "-prog",
        "maps_user",
        "-strict",
    ]));
    assert!(
        out.lines()
            .any(|line| line == "Tail-call chain: maps_user -> [1] tail_target"),
        "{out}"
    );
    assert!(!out.contains("Warning"), "{out}");
    let (_, id) = ops.attached().expect("maps_user attached");
    assert_eq!(prog_name(id), "maps_user");
    ops.xdp_off(&interface);
    ops.remove_pins();

    // xdp_skeleton_1 as the entry: its code tail-calls slot 2, and no program is named
    // xdp_skeleton_1_2.
    let out = ok(ops.load(&["-prog", "xdp_skeleton_1"]));
    assert!(
        out.lines().any(|line| line
            == "Warning: xdp_skeleton_1 tail-calls slot 2 of jmp_map, which no program fills"),
        "{out}"
    );
    ops.xdp_off(&interface);
    ops.remove_pins();

    // With -strict it is an error (exit 2), before anything is pinned or attached.
    let err = failed(&ops.load(&["-prog", "xdp_skeleton_1", "-strict"]), 2);
    assert!(
        err.contains("xdp_skeleton_1") && err.contains("slot 2") && err.contains("jmp_map"),
        "{err}"
    );
    assert_eq!(ops.attached(), None, "nothing attached");
    assert_eq!(ops.pins(), Vec::<String>::new(), "nothing pinned");
}

// 7. -detach: the program off, its pins removed, everything freed.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn detach_takes_it_all_off_or_keeps_the_counters() {
    let ops = Ops::new();
    let interface = ops.xdp_if.clone();

    ops.load_ok();
    let (_, entry) = ops.attached().expect("attached");
    let (progs, mut maps) = ids_of_load(entry, &ops.pin("jmp_map"));
    maps.push(pinned_map_id(&ops.pin("if_redirect")));
    maps.sort();
    maps.dedup();
    assert_eq!(progs.len(), 3, "{progs:?}");
    assert_eq!(maps.len(), 4, "{maps:?}");

    let out = ok(ops.loader(&["-detach", "-i", &interface]));
    assert!(
        out.lines().any(|line| line
            == format!(
                "Detached xdp_skeleton (id {entry}, generic (skb) mode, netlink) from {interface}"
            )),
        "{out}"
    );
    for name in ["jmp_map", "stats_map", "if_redirect"] {
        let pin = ops.pin(name);
        assert!(
            out.lines()
                .any(|line| line == format!("Removed pin {}", pin.display())),
            "{out}"
        );
        assert!(!pin.exists(), "{} removed", pin.display());
    }
    assert_eq!(ops.attached(), None, "ip link: nothing attached");
    assert_eq!(ops.pins(), Vec::<String>::new(), "no pins left");
    assert!(
        wait_for(SETTLE, || all_gone(&progs, &maps)),
        "programs {progs:?} and maps {maps:?} are freed"
    );

    // -keep-maps: the program goes, the three pins (and the counters) stay.
    ops.load_ok();
    let stats_id = pinned_map_id(&ops.pin("stats_map"));
    let counts = send_and_count(&ops, 7);
    assert_eq!(counts[XDP_PASS].0, 7);
    ok(ops.loader(&["-detach", "-i", &interface, "-keep-maps"]));
    assert_eq!(ops.attached(), None);
    assert_eq!(ops.pins(), ["if_redirect", "jmp_map", "stats_map"]);
    assert_eq!(pinned_map_id(&ops.pin("stats_map")), stats_id);
    assert_eq!(
        bpftool_counts(&ops.pin("stats_map")),
        counts,
        "the counters stay"
    );

    // Nothing attached: said, exit 0.
    let out = ok(ops.loader(&["-detach", "-i", &interface]));
    assert_eq!(out.trim(), format!("Nothing attached to {interface}"));
    assert_eq!(ops.pins(), ["if_redirect", "jmp_map", "stats_map"]);
}

// 8. -status and -status -json agree with ip and bpftool.
#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn status_matches_what_ip_and_bpftool_see() {
    let ops = Ops::new();
    let interface = ops.xdp_if.clone();
    let ifindex = ops.ifindex(&interface);

    let status = |ops: &Ops| -> serde_json::Value {
        let document = json(&ok(ops.loader(&["-status", "-i", &interface, "-json"])));
        let interfaces = document["interfaces"].as_array().expect("interfaces");
        assert_eq!(interfaces.len(), 1, "{document}");
        interfaces[0].clone()
    };

    // Nothing attached.
    let entry = status(&ops);
    assert_eq!(entry["interface"], interface.as_str());
    assert_eq!(entry["ifindex"].as_u64(), Some(ifindex));
    assert!(entry["attached"].is_null(), "{entry}");

    // Through netlink, generic mode.
    ops.load_ok();
    let (mode, id) = ops.attached().expect("attached");
    assert_eq!(mode, XDP_ATTACHED_SKB);
    let entry = status(&ops);
    let attached = &entry["attached"];
    assert_eq!(attached["id"].as_u64(), Some(id), "{entry}");
    assert_eq!(attached["name"], "xdp_skeleton");
    assert_eq!(attached["mode"], "generic");
    assert_eq!(attached["method"], "netlink");
    assert!(attached["link_id"].is_null());

    let slots: Vec<(u64, u64)> = entry["tail_calls"]
        .as_array()
        .expect("tail_calls")
        .iter()
        .map(|slot| {
            assert_eq!(slot["map"], "jmp_map");
            assert_eq!(
                slot["program"],
                prog_name(slot["program_id"].as_u64().unwrap()).as_str()
            );
            (
                slot["slot"].as_u64().expect("slot"),
                slot["program_id"].as_u64().expect("program id"),
            )
        })
        .collect();
    let mut bpftool_slots = prog_array_slots(&ops.pin("jmp_map"));
    bpftool_slots.sort();
    let mut sorted = slots.clone();
    sorted.sort();
    assert_eq!(
        sorted, bpftool_slots,
        "slots as bpftool map dump shows them"
    );
    assert_eq!(
        sorted.iter().map(|(slot, _)| *slot).collect::<Vec<_>>(),
        [1, 2]
    );

    let maps = entry["maps"].as_array().expect("maps");
    let mut map_ids: Vec<u64> = maps.iter().map(|map| map["id"].as_u64().unwrap()).collect();
    map_ids.sort();
    let mut expected = prog_map_ids(id);
    expected.sort();
    assert!(
        expected.iter().all(|id| map_ids.contains(id)),
        "every map of the entry program: {expected:?} in {map_ids:?}"
    );
    for map in maps {
        let shown = bpftool_json(&["map", "show", "id", &map["id"].to_string()]);
        assert_eq!(map["name"], shown["name"], "{map}");
        let pins: Vec<&str> = map["pins"]
            .as_array()
            .expect("pins")
            .iter()
            .map(|pin| pin.as_str().unwrap())
            .collect();
        let name = map["name"].as_str().unwrap();
        if ["jmp_map", "stats_map", "if_redirect"].contains(&name) {
            let expected_pin = ops.pin(name).display().to_string();
            assert_eq!(pins, [expected_pin.as_str()], "{map}");
        } else {
            assert!(pins.is_empty(), "{map}");
        }
        for pin in pins {
            assert_eq!(
                pinned_map_id(Path::new(pin)),
                map["id"].as_u64().unwrap(),
                "{pin}"
            );
        }
    }

    // The text form says the same in words.
    let text = ok(ops.loader(&["-status", "-i", &interface]));
    assert!(
        text.lines().next().is_some_and(|line| line
            == format!(
                "{interface} (ifindex {ifindex}): xdp_skeleton (id {id}), generic mode, attached via netlink"
            )),
        "{text}"
    );
    for (slot, program) in &slots {
        assert!(
            text.contains(&format!("jmp_map[{slot}] = "))
                && text.contains(&format!("(id {program})")),
            "{text}"
        );
    }

    // Through a BPF link, native mode.
    ok(ops.loader(&["-detach", "-i", &interface]));
    ok(ops.load(&["-link", "-mode", "drv"]));
    let (mode, id) = ops.attached().expect("attached");
    assert_eq!(mode, XDP_ATTACHED_DRV);
    let link_pin = ops.pin(&format!("link_{interface}"));
    let link_id = fdinfo_value(&pinned_link_fdinfo(&link_pin), "link_id");
    assert!(xdp_links().contains(&(link_id, id)), "{:?}", xdp_links());
    let entry = status(&ops);
    let attached = &entry["attached"];
    assert_eq!(attached["id"].as_u64(), Some(id), "{entry}");
    assert_eq!(attached["mode"], "drv");
    assert_eq!(attached["method"], "link");
    assert_eq!(attached["link_id"].as_u64(), Some(link_id));
    assert_eq!(
        attached["link_pins"],
        serde_json::json!([link_pin.display().to_string()])
    );
    let text = ok(ops.loader(&["-status", "-i", &interface]));
    assert!(
        text.contains(&format!("drv mode, attached via BPF link {link_id}")),
        "{text}"
    );
    ok(ops.loader(&["-detach", "-i", &interface]));
    assert_eq!(ops.pins(), Vec::<String>::new());
}
