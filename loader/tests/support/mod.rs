//! Kernel test support: a private pair of network namespaces joined by a veth pair,
//! the binaries under test, and readers for what the kernel holds.
//!
//! Every name is unique per process and test, so tests run in parallel; `Drop`
//! removes every namespace, interface and pin a test made, even when it fails.

#![allow(dead_code)]

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{sched_setaffinity, setns, CloneFlags, CpuSet};
use nix::unistd::Pid;

static KERNEL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs the tests that hold it one at a time within this test binary: for tests that
/// compare kernel-wide lists (every program, every map), which another test of the
/// same binary would change under them. Needs root.
pub fn kernel_lock() -> std::sync::MutexGuard<'static, ()> {
    require_root();
    KERNEL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A path the tests made themselves, as a `&str` for a command line.
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A finished command's exit status and output, for an assertion message.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The address of the XDP side (namespace A) and of the sender (namespace B).
pub const XDP_SIDE_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
pub const SENDER_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
const XDP_SIDE_MAC: &str = "52:54:27:99:00:01";
const SENDER_MAC: &str = "52:54:27:99:00:02";
/// Ethernet (14) + IPv4 (20) + UDP (8) headers: a UDP frame is this plus its payload.
pub const UDP_FRAME_OVERHEAD: u64 = 14 + 20 + 8;

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// Fails the test unless it runs as root; kernel tests are `#[ignore]`d and only run when
/// asked for (scripts/test.sh), so a missing privilege is an error, never a pass.
pub fn require_root() {
    if !nix::unistd::geteuid().is_root() {
        panic!(
            "kernel tests need root: run scripts/test.sh as root or as a user with sudo (XDP_KERNEL_TESTS={})",
            std::env::var("XDP_KERNEL_TESTS").unwrap_or_default()
        );
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("loader/ has a parent")
        .to_path_buf()
}

/// kern/xdp.elf, which `make -C kern` builds.
pub fn xdp_object() -> PathBuf {
    let path = repo_root().join("kern/xdp.elf");
    assert!(
        path.exists(),
        "{} is missing: build it first with `make -C kern` (scripts/test.sh does this)",
        path.display()
    );
    path
}

pub fn xdploader() -> &'static str {
    env!("CARGO_BIN_EXE_xdploader")
}

pub fn statswatch() -> &'static str {
    env!("CARGO_BIN_EXE_statswatch")
}

/// Runs a command and returns its output; panics only if it cannot be started.
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program}: {error}"))
}

/// Runs a command that must succeed and returns its stdout.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let output = run(program, args);
    assert!(
        output.status.success(),
        "{program} {} failed ({}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}

/// Two namespaces joined by a veth pair: `xdp_if` in `xdp_ns` (where programs attach)
/// and `sender_if` in `sender_ns`. IPv6 is off and neighbours are static, so the only
/// frames that arrive are the ones a test sends.
pub struct TestNet {
    pub xdp_ns: String,
    pub sender_ns: String,
    pub xdp_if: String,
    pub sender_if: String,
    /// A private pin directory under /sys/fs/bpf.
    pub pin_dir: PathBuf,
}

impl TestNet {
    pub fn new() -> TestNet {
        require_root();
        let pid = std::process::id();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let net = TestNet {
            xdp_ns: format!("xdpt-{pid}-{id}-a"),
            sender_ns: format!("xdpt-{pid}-{id}-b"),
            // Interface names are at most 15 bytes.
            xdp_if: format!("xt{}x{id}a", pid % 1_000_000),
            sender_if: format!("xt{}x{id}b", pid % 1_000_000),
            pin_dir: PathBuf::from(format!("/sys/fs/bpf/xdpt-{pid}-{id}")),
        };
        // From here on, Drop cleans up whatever part of this was made.
        net.setup();
        net
    }

    fn setup(&self) {
        ensure_bpffs();
        for ns in [&self.xdp_ns, &self.sender_ns] {
            run_ok("ip", &["netns", "add", ns]);
            for key in ["all", "default"] {
                run_ok(
                    "ip",
                    &[
                        "netns",
                        "exec",
                        ns,
                        "sysctl",
                        "-qw",
                        &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
                    ],
                );
            }
        }
        run_ok(
            "ip",
            &[
                "link",
                "add",
                &self.xdp_if,
                "netns",
                &self.xdp_ns,
                "address",
                XDP_SIDE_MAC,
                "type",
                "veth",
                "peer",
                "name",
                &self.sender_if,
                "netns",
                &self.sender_ns,
                "address",
                SENDER_MAC,
            ],
        );
        let sides = [
            (
                &self.xdp_ns,
                &self.xdp_if,
                XDP_SIDE_IP,
                SENDER_IP,
                SENDER_MAC,
            ),
            (
                &self.sender_ns,
                &self.sender_if,
                SENDER_IP,
                XDP_SIDE_IP,
                XDP_SIDE_MAC,
            ),
        ];
        for (ns, interface, own, peer, peer_mac) in sides {
            run_ok(
                "ip",
                &[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{own}/24"),
                    "dev",
                    interface,
                ],
            );
            run_ok("ip", &["-n", ns, "link", "set", "dev", interface, "up"]);
            run_ok("ip", &["-n", ns, "link", "set", "dev", "lo", "up"]);
            run_ok(
                "ip",
                &[
                    "-n",
                    ns,
                    "neigh",
                    "replace",
                    &peer.to_string(),
                    "lladdr",
                    peer_mac,
                    "dev",
                    interface,
                    "nud",
                    "permanent",
                ],
            );
        }
    }

    /// Runs a command inside the XDP namespace (network only; bpffs stays visible).
    pub fn in_xdp_ns(&self, program: &str, args: &[&str]) -> Output {
        let netns = format!("--net=/run/netns/{}", self.xdp_ns);
        let mut all = vec![netns.as_str(), program];
        all.extend_from_slice(args);
        run("nsenter", &all)
    }

    /// The inode of the XDP namespace: xdploader names its per-interface lock files
    /// after it.
    pub fn xdp_netns_inode(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/run/netns/{}", self.xdp_ns))
            .expect("the XDP namespace")
            .ino()
    }

    /// `xdploader -file kern/xdp.elf -i <xdp_if> -pin-path <pin_dir>` plus `extra`.
    pub fn load(&self, extra: &[&str]) -> Output {
        self.load_with(xdploader(), extra)
    }

    /// The same with the xdploader binary at `loader`.
    pub fn load_with(&self, loader: &str, extra: &[&str]) -> Output {
        let object = xdp_object();
        let pin_dir = self.pin_dir.display().to_string();
        let mut args = vec![
            "-file",
            object.to_str().expect("utf-8 path"),
            "-i",
            &self.xdp_if,
            "-pin-path",
            &pin_dir,
        ];
        args.extend_from_slice(extra);
        self.in_xdp_ns(loader, &args)
    }

    pub fn load_ok(&self) -> String {
        let output = self.load(&[]);
        assert!(
            output.status.success(),
            "xdploader failed ({}):\nstdout: {}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn pin(&self, name: &str) -> PathBuf {
        self.pin_dir.join(name)
    }

    /// The XDP program attached to `xdp_if`, as `ip -j link` reports it: (mode, prog id).
    pub fn attached(&self) -> Option<(u64, u64)> {
        let out = run_ok(
            "ip",
            &[
                "-n",
                &self.xdp_ns,
                "-j",
                "link",
                "show",
                "dev",
                &self.xdp_if,
            ],
        );
        let link = json(&out);
        let xdp = link.get(0)?.get("xdp")?;
        Some((
            xdp.get("mode")?.as_u64()?,
            xdp.get("prog")?.get("id")?.as_u64()?,
        ))
    }

    /// Sends `count` UDP datagrams of `payload` bytes from the sender namespace to the
    /// XDP side. Bounded by count; each send is a local, non-blocking veth transmit.
    pub fn send_udp(&self, count: usize, payload: usize) {
        self.send_udp_from(None, count, payload);
    }

    /// `send_udp` from a thread pinned to `cpu`: a veth transmit is received (and run
    /// through XDP) on the CPU that sent it, so that CPU's counters get them all.
    pub fn send_udp_on_cpu(&self, cpu: usize, count: usize, payload: usize) {
        self.send_udp_from(Some(cpu), count, payload);
    }

    fn send_udp_from(&self, cpu: Option<usize>, count: usize, payload: usize) {
        let netns =
            File::open(format!("/run/netns/{}", self.sender_ns)).expect("open sender netns");
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    if let Some(cpu) = cpu {
                        let mut set = CpuSet::new();
                        set.set(cpu).expect("a CPU number");
                        sched_setaffinity(Pid::from_raw(0), &set).unwrap_or_else(|error| {
                            panic!("cannot run on CPU {cpu} ({error}): this test needs CPU {cpu}")
                        });
                    }
                    // Only this thread moves into the sender namespace.
                    setns(&netns, CloneFlags::CLONE_NEWNET)
                        .expect("setns into the sender namespace");
                    let socket = UdpSocket::bind(SocketAddrV4::new(SENDER_IP, 0))
                        .expect("bind in sender namespace");
                    let data = vec![0xa5u8; payload];
                    for _ in 0..count {
                        socket
                            .send_to(&data, SocketAddrV4::new(XDP_SIDE_IP, 9))
                            .expect("send UDP datagram");
                    }
                })
                .join()
                .expect("sender thread");
        });
    }

    /// `ip -n <xdp_ns> link set dev <xdp_if> ARGS`, which must succeed.
    pub fn link_set(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.xdp_ns, "link", "set", "dev", &self.xdp_if];
        all.extend_from_slice(args);
        run_ok("ip", &all);
    }

    /// The MTU of both ends of the pair (scripts/start.sh sets 9000).
    pub fn set_mtu(&self, mtu: u32) {
        let mtu = mtu.to_string();
        for (ns, interface) in [
            (&self.xdp_ns, &self.xdp_if),
            (&self.sender_ns, &self.sender_if),
        ] {
            run_ok(
                "ip",
                &["-n", ns, "link", "set", "dev", interface, "mtu", &mtu],
            );
        }
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veth end, the pair, and the XDP attachment.
        for ns in [&self.xdp_ns, &self.sender_ns] {
            remove_interface_locks(ns);
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = std::fs::remove_dir_all(&self.pin_dir);
    }
}

/// Removes the lock files xdploader keeps under /run/xdploader (by design, it leaves them)
/// for the interfaces of the network namespace `ns`. Call it before deleting `ns`: once
/// it is gone, another test's namespace may get the same inode, and so the same names.
pub fn remove_interface_locks(ns: &str) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(format!("/run/netns/{ns}")) else {
        return;
    };
    let prefix = format!("xdploader-{}-", meta.ino());
    for name in dir_entries(Path::new("/run/xdploader")) {
        if name.starts_with(&prefix) && name.ends_with(".lock") {
            let _ = std::fs::remove_file(Path::new("/run/xdploader").join(name));
        }
    }
}

/// Mounts bpffs at /sys/fs/bpf when it is not there yet. One test at a time: two that
/// both found it missing would stack two mounts, and a later `umount` would then uncover
/// the other one instead of leaving the directory bare.
pub fn ensure_bpffs() {
    static MOUNTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = MOUNTING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    if !mounts.lines().any(|line| {
        line.split_whitespace().nth(1) == Some("/sys/fs/bpf")
            && line.split_whitespace().nth(2) == Some("bpf")
    }) {
        let _ = run("mount", &["-t", "bpf", "bpf", "/sys/fs/bpf"]);
    }
}

/// A shell loop that unmounts every bpffs stacked on /sys/fs/bpf (tools that find it
/// missing each mount their own, so a machine can have several), for a private mount
/// namespace that wants it bare.
pub const UNMOUNT_ALL_BPFFS: &str =
    "while mountpoint -q /sys/fs/bpf; do umount /sys/fs/bpf || exit 1; done";

/// statswatch's five lines as (packets, bytes) per action.
pub fn statswatch_counts(pin: &Path) -> Vec<(u64, u64)> {
    statswatch_counts_with(statswatch(), pin)
}

/// The same, from the statswatch binary at `binary`.
pub fn statswatch_counts_with(binary: &str, pin: &Path) -> Vec<(u64, u64)> {
    let out = run_ok(binary, &["-file", pin.to_str().expect("utf-8 path")]);
    out.lines()
        .skip(1)
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            // "XDP_PASS:     7 packets / 574 bytes"
            let packets = words[1].parse().expect("packet count");
            let bytes = words[4].parse().expect("byte count");
            (packets, bytes)
        })
        .collect()
}

/// A little-endian number from `bpftool -j`'s hex byte strings ("0x2a", ...), at most
/// the first 8 bytes.
pub fn hex_u64(bytes: &[serde_json::Value]) -> u64 {
    bytes
        .iter()
        .take(8)
        .enumerate()
        .fold(0u64, |total, (index, byte)| {
            let text = byte.as_str().expect("hex byte");
            let value = u64::from_str_radix(text.trim_start_matches("0x"), 16).expect("hex byte");
            total | value << (8 * index)
        })
}

/// Whether the kernel still holds the program with this id.
pub fn prog_exists(id: u64) -> bool {
    run("bpftool", &["prog", "show", "id", &id.to_string()])
        .status
        .success()
}

/// Whether the kernel still holds the map with this id.
pub fn map_exists(id: u64) -> bool {
    run("bpftool", &["map", "show", "id", &id.to_string()])
        .status
        .success()
}

/// The names in `dir`, sorted; empty when it does not exist.
pub fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The same for a JSON array of such bytes (a key or a value of `bpftool -j map dump`).
pub fn hex_value(value: &serde_json::Value) -> u64 {
    hex_u64(value.as_array().expect("an array of hex bytes"))
}

/// (slot, program id) of every filled slot of a pinned prog array, per `bpftool map dump`.
pub fn prog_array_slots(pin: &Path) -> Vec<(u64, u64)> {
    let out = run_ok("bpftool", &["-j", "map", "dump", "pinned", path_str(pin)]);
    json(&out)
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| (hex_value(&entry["key"]), hex_value(&entry["value"])))
        .collect()
}

/// The same sums, read with `bpftool -j map dump` (per-CPU values added up here).
pub fn bpftool_counts(pin: &Path) -> Vec<(u64, u64)> {
    let out = run_ok(
        "bpftool",
        &[
            "-j",
            "map",
            "dump",
            "pinned",
            pin.to_str().expect("utf-8 path"),
        ],
    );
    let entries = json(&out);
    let mut counts = vec![(0u64, 0u64); entries.as_array().map_or(0, Vec::len)];
    for entry in entries.as_array().expect("array of entries") {
        let key = hex_u64(entry["key"].as_array().expect("key bytes")) as usize;
        for cpu in entry["values"].as_array().expect("per-CPU values") {
            let value = cpu["value"].as_array().expect("value bytes");
            counts[key].0 += hex_u64(&value[0..8]);
            counts[key].1 += hex_u64(&value[8..16]);
        }
    }
    counts
}

/// Polls `condition` every 20 ms for at most `limit`.
pub fn wait_for(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    condition()
}

// ---------------------------------------------------------------------------
// Feature-fixture helpers (used by loader/tests/features.rs).
// ---------------------------------------------------------------------------

/// A feature fixture, `loader/tests/fixtures/<name>.elf` (`make -C loader/tests/fixtures`).
pub fn fixture(name: &str) -> PathBuf {
    let path = repo_root()
        .join("loader/tests/fixtures")
        .join(format!("{name}.elf"));
    assert!(
        path.exists(),
        "{} is missing: build the fixtures with `make -C loader/tests/fixtures` (scripts/test.sh does this)",
        path.display()
    );
    path
}

/// A private pin directory under /sys/fs/bpf, unique per process and test. It is not
/// created here (the loader creates it); `Drop` removes it and everything in it, even
/// when the test fails.
pub struct PinDir {
    pub path: PathBuf,
}

impl PinDir {
    pub fn new(tag: &str) -> PinDir {
        require_root();
        ensure_bpffs();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        PinDir {
            path: PathBuf::from(format!(
                "/sys/fs/bpf/xdpf-{}-{id}-{tag}",
                std::process::id()
            )),
        }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn as_str(&self) -> &str {
        self.path.to_str().expect("utf-8 pin dir")
    }

    /// The names in the directory, sorted; empty when it does not exist.
    pub fn entries(&self) -> Vec<String> {
        dir_entries(&self.path)
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A file in the temporary directory, unique per process and test, removed on `Drop`.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    pub fn new(tag: &str, contents: &[u8]) -> TempFile {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let file = TempFile {
            path: std::env::temp_dir().join(format!("xdpf-{}-{id}-{tag}", std::process::id())),
        };
        std::fs::write(&file.path, contents)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", file.path.display()));
        file
    }

    pub fn as_str(&self) -> &str {
        self.path.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A test frame of `len` bytes (at least 14): broadcast destination MAC, a source MAC,
/// EtherType IPv4 (0x0800), then zeros, as in loader/tests/fixtures/README.md.
pub fn test_frame(len: usize) -> Vec<u8> {
    assert!(len >= 14, "an Ethernet header is 14 bytes");
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00]);
    frame.resize(len, 0);
    frame
}

/// `bpftool -j prog run pinned PIN data_in FRAME repeat 1`: the program's return value,
/// or bpftool's error text when the kernel refused the test run.
pub fn prog_run(pin: &Path, frame: &Path) -> Result<u64, String> {
    let output = run(
        "bpftool",
        &[
            "-j",
            "prog",
            "run",
            "pinned",
            pin.to_str().expect("utf-8 path"),
            "data_in",
            frame.to_str().expect("utf-8 path"),
            "repeat",
            "1",
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let parsed: Option<serde_json::Value> = serde_json::from_str(stdout.trim()).ok();
    match parsed {
        Some(value) if output.status.success() => value["retval"]
            .as_u64()
            .ok_or_else(|| format!("no retval in {stdout}")),
        Some(value) if value.get("error").is_some() => {
            Err(value["error"].as_str().unwrap_or_default().to_string())
        }
        _ => Err(format!(
            "bpftool prog run failed ({}): {stdout} {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )),
    }
}

// ---------------------------------------------------------------------------
// End of the feature-fixture helpers.
// ---------------------------------------------------------------------------
