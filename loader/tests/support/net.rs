//! The network a kernel test runs in: `TestNet`, two private namespaces joined by a veth
//! pair with unique names, static neighbours and IPv6 off, and a private pin directory;
//! what it sends; and what its `Drop` removes.

use super::*;

/// The address of the XDP side (namespace A) and of the sender (namespace B).
pub const XDP_SIDE_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
pub const SENDER_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
const XDP_SIDE_MAC: &str = "52:54:27:99:00:01";
const SENDER_MAC: &str = "52:54:27:99:00:02";
/// Ethernet (14) + IPv4 (20) + UDP (8) headers: a UDP frame is this plus its payload.
pub const UDP_FRAME_OVERHEAD: u64 = 14 + 20 + 8;

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
