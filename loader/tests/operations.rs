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

#[path = "operations/chain.rs"]
mod chain;
#[path = "operations/links.rs"]
mod links;
#[path = "operations/modes.rs"]
mod modes;
#[path = "operations/replace.rs"]
mod replace;
#[path = "operations/status.rs"]
mod status;

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

// 2. Atomic replace: reloads under a steady stream lose no packet.

// 3. A program that is not ours is never replaced silently.

// 4. -i a,b: a failure on b puts a back as it was, and removes this run's pins.

// 5. -link: a BPF link that owns the attachment, updated in place, detached.

// 6. The tail-call chain, read from the code and checked.

// 7. -detach: the program off, its pins removed, everything freed.

// 8. -status and -status -json agree with ip and bpftool.
