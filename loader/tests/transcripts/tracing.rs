//! The transcripts of docs/tracing.md: `-trace` with and without `-pin-path`, a refusal,
//! and `statswatch -exceptions` over aborted pings.
//!
//! The runs that hold their links until Ctrl-C pin at the default root: they run in a
//! private mount namespace with a bpffs of their own, so their pins are theirs and go
//! with them. The exceptions view runs in a TestNet's XDP namespace (so it names the
//! test's veth, shown as veth1); its prog id column is masked.

use std::io::BufRead;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::*;

const COUNTS: &str = "loader/tests/fixtures/trace_counts.elf";

pub const CASES: &[Case] = &[
    Case {
        name: "trace-pin-path",
        doc: "docs/tracing.md",
        mask: mask_prog_ids,
        run: |s| {
            let (_, _, name) = unique("xdptrace");
            let dir = format!("/sys/fs/bpf/{name}");
            let _pins = RemovePins(dir.clone());
            s.name(dir.clone(), "/sys/fs/bpf/trace");
            s.cmd(
                &format!("$ sudo xdploader -file {COUNTS} -trace -pin-path /sys/fs/bpf/trace"),
                &[xdploader(), "-file", COUNTS, "-trace", "-pin-path", &dir],
            );
            let link = format!("{dir}/link_tp_getpid");
            s.cmd(
                "$ sudo bpftool link show pinned /sys/fs/bpf/trace/link_tp_getpid",
                &["bpftool", "link", "show", "pinned", &link],
            );
            s.cmd("$ sudo rm -r /sys/fs/bpf/trace", &["rm", "-r", &dir]);
        },
        ..Case::BASE
    },
    Case {
        name: "trace-ctrl-c",
        doc: "docs/tracing.md",
        run: |s| {
            let script = format!(
                "{}; mount -t bpf bpf /sys/fs/bpf && exec {} -file {COUNTS} -trace",
                support::UNMOUNT_ALL_BPFFS,
                xdploader()
            );
            let argv = [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                &script,
            ];
            let output =
                until_ready_then_interrupt(&argv, "Tracing; press Ctrl-C to detach", || {});
            s.record(&format!("$ sudo xdploader -file {COUNTS} -trace"), &output);
        },
        ..Case::BASE
    },
    Case {
        name: "trace-missing",
        doc: "docs/tracing.md",
        run: |s| {
            let object = "loader/tests/fixtures/trace_missing.elf";
            s.cmd(
                &format!("$ sudo xdploader -file {object} -trace"),
                &[xdploader(), "-file", object, "-trace"],
            );
            s.echo_status();
        },
        ..Case::BASE
    },
    Case {
        name: "trace-btf",
        doc: "docs/tracing.md",
        run: |s| {
            let object = "loader/tests/fixtures/btf_trace.elf";
            let (_, _, name) = unique("xdpbtf");
            let dir = format!("/sys/fs/bpf/{name}");
            let _pins = RemovePins(dir.clone());
            s.name(dir.clone(), "/sys/fs/bpf/btf");
            s.cmd(
                &format!("$ sudo xdploader -file {object} -trace -pin-path /sys/fs/bpf/btf"),
                &[xdploader(), "-file", object, "-trace", "-pin-path", &dir],
            );
            let link = format!("{dir}/link_map_iter");
            s.cmd(
                "$ sudo bpftool link show pinned /sys/fs/bpf/btf/link_map_iter",
                &["bpftool", "link", "show", "pinned", &link],
            );
            s.cmd("$ sudo rm -r /sys/fs/bpf/btf", &["rm", "-r", &dir]);
        },
        mask: mask_prog_ids,
        ..Case::BASE
    },
    Case {
        name: "trace-btf-missing",
        doc: "docs/tracing.md",
        run: |s| {
            let missing = "loader/tests/fixtures/btf_missing.elf";
            s.cmd(
                &format!("$ sudo xdploader -file {missing} -load-only"),
                &[xdploader(), "-file", missing, "-load-only"],
            );
            s.echo_status();
            let on_xdp = "loader/tests/fixtures/btf_on_xdp.elf";
            s.cmd(
                &format!("$ sudo xdploader -file {on_xdp} -load-only -attach-prog 4294967295"),
                &[
                    xdploader(),
                    "-file",
                    on_xdp,
                    "-load-only",
                    "-attach-prog",
                    "4294967295",
                ],
            );
            s.echo_status();
        },
        ..Case::BASE
    },
    Case {
        name: "exceptions-live",
        doc: "docs/tracing.md",
        mask: mask_exception_rows,
        run: |s| {
            let net = TestNet::new();
            s.net_names(&net);
            let pin_dir = path_str(&net.pin_dir).to_string();
            let object = "loader/tests/fixtures/xdp_abort_icmp.elf";
            let attach = [
                xdploader(),
                "-file",
                object,
                "-prog",
                "xdp_abort_icmp",
                "-i",
                &net.xdp_if,
                "-pin-path",
                &pin_dir,
            ];
            quietly(&strs(&with_netns(&net, &attach)));
            let watch = with_netns(&net, &[statswatch(), "-exceptions"]);
            let peer_ns = net.sender_ns.clone();
            let output = until_ready_then_interrupt(
                &strs(&watch),
                "Watching every 1s; press Ctrl-C to detach and stop",
                || {
                    // Five echo requests to the XDP side, inside the test's namespaces;
                    // every one is aborted, so ping gets no reply (and exits 1).
                    let target = support::XDP_SIDE_IP.to_string();
                    let _ = output_of(&[
                        "ip", "netns", "exec", &peer_ns, "ping", "-q", "-n", "-c", "5", "-i",
                        "0.05", "-W", "1", &target,
                    ]);
                },
            );
            s.record("$ sudo statswatch -exceptions", &output);
        },
        ..Case::BASE
    },
];

root_transcripts! {
    transcript_trace_pin_path => "trace-pin-path",
    transcript_trace_ctrl_c => "trace-ctrl-c",
    transcript_trace_missing => "trace-missing",
    transcript_trace_btf => "trace-btf",
    transcript_trace_btf_missing => "trace-btf-missing",
    transcript_exceptions_live => "exceptions-live",
}

/// Removes a pin directory when dropped, whatever the case did.
struct RemovePins(String);

impl Drop for RemovePins {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// bpftool's `N: perf_event  prog N`: the program id is one of this run's.
fn mask_prog_ids(line: &str) -> String {
    mask_after(line, "prog ", &[])
}

/// The exceptions table's rows: the prog id column is one of this run's, and how many
/// are new in the last frame depends on how many frames came before it (a frame may
/// fall while the pings arrive). The columns' padding follows the interface's name,
/// which is the test's own before it is shown as veth1: words are compared, not
/// spaces.
fn mask_exception_rows(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [name, id, what, count, new]
            if *name == "veth1" && id.parse::<u64>().is_ok() && new.parse::<u64>().is_ok() =>
        {
            format!("  {name} N {what} {count} N")
        }
        _ => line.to_string(),
    }
}

/// Starts `argv` (from the repository root), waits for the stdout line `ready`, runs
/// `meanwhile`, sends SIGINT and returns the whole output once it has ended. Killed
/// and reaped if it does not end (bounded waits only).
fn until_ready_then_interrupt(argv: &[&str], ready: &str, meanwhile: impl FnOnce()) -> Output {
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", argv[0]));
    let stdout = child.stdout.take().expect("stdout");
    let (sender, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let start = Instant::now();
    while !seen.iter().any(|line: &String| line == ready) {
        match lines.recv_timeout(Duration::from_secs(30).saturating_sub(start.elapsed())) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no {ready:?} from {argv:?} within 30 s; saw {seen:#?}");
            }
        }
    }
    meanwhile();
    let _ = Command::new("kill")
        .args(["-s", "INT", &child.id().to_string()])
        .status();
    let waited = Instant::now();
    while child.try_wait().ok().flatten().is_none() {
        if waited.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut output = child.wait_with_output().expect("wait");
    let _ = reader.join();
    seen.extend(lines.try_iter());
    let mut text = seen.join("\n");
    text.push('\n');
    output.stdout = text.into_bytes();
    output
}
