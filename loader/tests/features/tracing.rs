//! `-trace`: each tracing fixture attached by its section names, fired a known number
//! of times and its map read back with `bpftool -j`, matching exactly; with `-pin-path`
//! the links are in `bpftool link show` and removing their pins detaches them; without
//! it, Ctrl-C detaches and removes the pins. Events are counted only for the test's own
//! thread (its thread id written into the object's .bss) or its own binary, so tests
//! running in parallel do not disturb the counts.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use super::*;

/// `xdploader -file FIXTURE -trace -pin-path DIR`, run in `cwd` when given.
pub(super) fn trace_pinned(fixture_name: &str, pin_dir: &PinDir, cwd: Option<&Path>) -> Output {
    let object = fixture(fixture_name);
    let mut command = Command::new(xdploader());
    command.args([
        "-file",
        path_str(&object),
        "-trace",
        "-pin-path",
        pin_dir.as_str(),
    ]);
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    command.output().expect("run xdploader")
}

/// The link ids of the `Attached NAME (KIND) to TARGET, link id N` lines.
pub(super) fn attached_link_ids(stdout: &str) -> Vec<u64> {
    stdout
        .lines()
        .filter(|line| line.starts_with("Attached "))
        .filter_map(|line| line.rsplit_once("link id ")?.1.trim().parse().ok())
        .collect()
}

/// Every link id `bpftool link show` lists.
pub(super) fn kernel_link_ids() -> Vec<u64> {
    bpftool_json(&["link", "show"])
        .as_array()
        .map(|links| {
            links
                .iter()
                .filter_map(|link| link["id"].as_u64())
                .collect()
        })
        .unwrap_or_default()
}

/// The u64 values of an array map, in key order, read by `bpftool -j map dump ARGS`.
pub(super) fn array_values(args: &[&str]) -> Vec<u64> {
    let mut all = vec!["map", "dump"];
    all.extend_from_slice(args);
    bpftool_json(&all)
        .as_array()
        .expect("map entries")
        .iter()
        .map(|entry| hex_u64(entry["value"].as_array().expect("value bytes")))
        .collect()
}

/// Writes `value` into slot 0 of the .bss map at `map` (`pinned PATH` or `id N`).
pub(super) fn write_bss(map: &[&str], value: &[u8]) {
    let bytes: Vec<String> = value.iter().map(|byte| format!("{byte:02x}")).collect();
    let mut args = vec!["map", "update"];
    args.extend_from_slice(map);
    args.extend(["key", "hex", "00", "00", "00", "00", "value", "hex"]);
    args.extend(bytes.iter().map(String::as_str));
    run_ok("bpftool", &args);
}

/// trace_counts.elf's .bss: the getpid syscall number, then this thread's id.
pub(super) fn counts_target() -> Vec<u8> {
    let mut value = (nix::libc::SYS_getpid as u64).to_ne_bytes().to_vec();
    value.extend_from_slice(&(nix::unistd::gettid().as_raw() as u32).to_ne_bytes());
    value.resize(16, 0);
    value
}

/// `count` getpid(2) calls from this thread (glibc does not cache the pid since 2.25).
pub(super) fn call_getpid(count: usize) {
    for _ in 0..count {
        let _ = nix::unistd::getpid();
    }
}

/// Whether any program called `name` is loaded.
pub(super) fn program_loaded(name: &str) -> bool {
    bpftool_json(&["prog", "show"])
        .as_array()
        .is_some_and(|all| all.iter().any(|prog| prog["name"].as_str() == Some(name)))
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_tracepoint_and_a_raw_tracepoint_count_exactly_and_their_pinned_links_detach_when_removed() {
    let pins = PinDir::new("trace-counts");
    let output = trace_pinned("trace_counts", &pins, None);
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in [
        "Attached tp_getpid (tracepoint) to syscalls:sys_enter_getpid, link id ",
        "Attached raw_getpid (raw_tracepoint) to sys_enter, link id ",
        "Program on_sample (perf_event) is not attached: ",
        "Program xdp_pass_all (XDP) is not attached: XDP programs attach to an interface: attach it with -i IF",
    ] {
        assert!(stdout.contains(line), "{line:?} in:\n{stdout}");
    }
    let links = attached_link_ids(&stdout);
    assert_eq!(links.len(), 2, "{stdout}");
    let listed = kernel_link_ids();
    assert!(
        links.iter().all(|id| listed.contains(id)),
        "bpftool link show lists {links:?}: {listed:?}"
    );
    for name in ["link_tp_getpid", "link_raw_getpid"] {
        assert!(
            pins.entries().contains(&name.to_string()),
            "{:?}",
            pins.entries()
        );
    }

    let hits = pins.join("trace_hits");
    write_bss(
        &["pinned", path_str(&pins.join("trace_co_bss"))],
        &counts_target(),
    );
    call_getpid(25);
    assert_eq!(array_values(&["pinned", path_str(&hits)]), [25, 25]);

    // Removing the link pins detaches the programs: no more counts.
    for name in ["link_tp_getpid", "link_raw_getpid"] {
        std::fs::remove_file(pins.join(name)).expect("remove the link pin");
    }
    assert!(
        wait_for(Duration::from_secs(5), || {
            let listed = kernel_link_ids();
            links.iter().all(|id| !listed.contains(id))
        }),
        "the links are gone once their pins are"
    );
    call_getpid(5);
    assert_eq!(array_values(&["pinned", path_str(&hits)]), [25, 25]);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_uprobe_and_a_uretprobe_count_the_calls_of_a_test_binary_exactly() {
    require_root();
    // A private directory holding ./uprobe_target, where xdploader runs: the sections
    // name the binary by that relative path. (One such test per process.)
    let work = std::env::temp_dir().join(format!("xdpf-{}-uprobe", std::process::id()));
    let _work_guard = RemoveDir(work.clone());
    std::fs::create_dir_all(&work).expect("work directory");
    let source = repo_root().join("loader/tests/fixtures/uprobe_target.c");
    run_ok(
        "cc",
        &[
            "-O0",
            "-o",
            path_str(&work.join("uprobe_target")),
            path_str(&source),
        ],
    );
    let pins = PinDir::new("trace-uprobes");
    let output = trace_pinned("trace_uprobes", &pins, Some(&work));
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in [
        "Attached up_probed (uprobe) to ./uprobe_target:probed, link id ",
        "Attached uret_probed (uretprobe) to ./uprobe_target:probed, link id ",
    ] {
        assert!(stdout.contains(line), "{line:?} in:\n{stdout}");
    }
    run_ok(path_str(&work.join("uprobe_target")), &["13"]);
    let hits = pins.join("uprobe_hits");
    assert_eq!(array_values(&["pinned", path_str(&hits)]), [13, 13]);
    let links = attached_link_ids(&stdout);
    assert_eq!(links.len(), 2, "{stdout}");
    for name in ["link_up_probed", "link_uret_probed"] {
        std::fs::remove_file(pins.join(name)).expect("remove the link pin");
    }
    // The kernel releases a link whose last pin went a moment later, not at unlink.
    assert!(
        wait_for(Duration::from_secs(5), || {
            let listed = kernel_link_ids();
            links.iter().all(|id| !listed.contains(id))
        }),
        "the links are gone once their pins are"
    );
    run_ok(path_str(&work.join("uprobe_target")), &["4"]);
    assert_eq!(array_values(&["pinned", path_str(&hits)]), [13, 13]);
}

/// Removes a directory and what is in it when dropped.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_kprobe_and_a_kretprobe_count_exactly_or_the_missing_pmu_is_said() {
    let pins = PinDir::new("trace-kprobes");
    let output = trace_pinned("trace_kprobes", &pins, None);
    if !Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        // This kernel cannot place kprobes at all: the refusal is what can be checked.
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
        assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
        for words in [
            "kp_getpid",
            "kprobe/__x64_sys_getpid",
            "no kprobe PMU",
            "CONFIG_KPROBE_EVENTS",
        ] {
            assert!(stderr.contains(words), "{words:?} in {stderr}");
        }
        assert!(!pins.path.exists(), "nothing pinned: {:?}", pins.entries());
        eprintln!("kprobe counting skipped: this kernel has no kprobe PMU (CONFIG_KPROBE_EVENTS)");
        return;
    }
    assert!(output.status.success(), "{}", describe(&output));
    let mut target = (nix::unistd::gettid().as_raw() as u32)
        .to_ne_bytes()
        .to_vec();
    target.resize(4, 0);
    write_bss(&["pinned", path_str(&pins.join("trace_kp_bss"))], &target);
    call_getpid(17);
    assert_eq!(
        array_values(&["pinned", path_str(&pins.join("kprobe_hits"))]),
        [17, 17]
    );
}

/// `xdploader -trace` (no -pin-path) in a private mount namespace with its own bpffs,
/// so its pins at the default root are its own and vanish with it whatever happens;
/// killed and reaped when dropped.
struct Tracing {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Tracing {
    fn start(fixture_name: &str) -> Tracing {
        require_root();
        let object = fixture(fixture_name);
        let script = format!(
            "{UNMOUNT_ALL_BPFFS}; mount -t bpf bpf /sys/fs/bpf && exec {} -file {} -trace",
            xdploader(),
            path_str(&object)
        );
        let mut child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start xdploader -trace");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Tracing {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Lines until one equal to `wanted` (at most `limit`).
    fn until(&mut self, wanted: &str, limit: Duration) {
        let start = std::time::Instant::now();
        while !self.seen.iter().any(|line| line == wanted) {
            let left = limit.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no {wanted:?} within {limit:?}; saw {:#?}", self.seen),
            }
        }
    }

    /// The id of `KIND NAME (id N) pinned at ...` (KIND `Map` or `Program`).
    fn id_of(&self, kind: &str, name: &str) -> String {
        let prefix = format!("{kind} {name} (id ");
        self.seen
            .iter()
            .find_map(|line| Some(line.strip_prefix(&prefix)?.split_once(')')?.0.to_string()))
            .unwrap_or_else(|| panic!("no {prefix:?} line in {:#?}", self.seen))
    }
}

impl Drop for Tracing {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn ctrl_c_detaches_the_programs_and_removes_the_pins() {
    let mut tracing = Tracing::start("trace_counts");
    tracing.until("Tracing; press Ctrl-C to detach", Duration::from_secs(30));
    let links = attached_link_ids(&tracing.seen.join("\n"));
    assert_eq!(links.len(), 2, "{:#?}", tracing.seen);
    let bss = tracing.id_of("Map", "trace_co.bss");
    let hits = tracing.id_of("Map", "trace_hits");
    let programs = [
        tracing.id_of("Program", "tp_getpid"),
        tracing.id_of("Program", "raw_getpid"),
    ];
    write_bss(&["id", &bss], &counts_target());
    call_getpid(9);
    assert_eq!(array_values(&["id", &hits]), [9, 9]);

    run_ok("kill", &["-s", "INT", &tracing.child.id().to_string()]);
    tracing.until(
        "Detached 2 programs; removed the pins this run made",
        Duration::from_secs(10),
    );
    let status = tracing.child.wait().expect("wait");
    assert!(status.success(), "Ctrl-C ends -trace with exit 0: {status}");
    assert!(
        wait_for(Duration::from_secs(5), || {
            let listed = kernel_link_ids();
            links.iter().all(|id| !listed.contains(id))
        }),
        "the links are gone"
    );
    assert!(
        wait_for(Duration::from_secs(5), || programs
            .iter()
            .all(|id| !prog_exists(id.parse().expect("an id")))),
        "the programs are freed"
    );
}
