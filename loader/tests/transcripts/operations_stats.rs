//! The transcripts of docs/operations.md from its "statswatch" part on (the first part is in operations.rs).
//!
//! The counters are real: every case sends an exact number of 98-byte frames (UDP with a
//! 56-byte payload: the size of a ping's echo reply) to the XDP side, from a thread pinned
//! to one CPU, so even the per-CPU split is known. The live views run statswatch as a child
//! and send the next packets (or remove and replace the pin) between two samples, after
//! reading the first one; only the rates (measured over a real, jittery interval), the
//! times and the map ids are masked.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use super::*;

#[path = "operations_stats/cases.rs"]
mod cases;

pub use cases::CASES;

/// A ping's echo reply as XDP sees it: 14 + 20 + 8 + 56 bytes.
const PAYLOAD: usize = 56;
/// How long any step of a live view may take before the test gives up.
const STEP_LIMIT: Duration = Duration::from_secs(15);

/// A TestNet with kern/xdp.elf loaded on its XDP side (as scripts/start.sh does on
/// veth1), then 11 frames of 98 bytes received: 6 on CPU 0 and 5 on CPU 1.
fn loaded(s: &mut Session) -> TestNet {
    let net = TestNet::new();
    s.net_names(&net);
    net.load_ok();
    net_send(&net, 0, 6);
    net_send(&net, 1, 5);
    net
}

/// Sends `count` UDP datagrams of PAYLOAD bytes from the sender namespace to the XDP
/// side, from a thread pinned to `cpu`, so that CPU's counters get them all.
fn net_send(net: &TestNet, cpu: usize, count: usize) {
    net.send_udp_on_cpu(cpu, count, PAYLOAD);
    // The counters are read right after: let the receiving softirq run.
    std::thread::sleep(Duration::from_millis(50));
}

/// The doc shows the two CPUs of the Vagrant VM (Vagrantfile: cpus = 2). On a machine
/// with more, the rows of the other CPUs are dropped, but only those that are all zero (no
/// traffic is sent from them): anything else stays and fails the comparison.
fn only_two_cpus(text: &str) -> String {
    let cpus = sys::cpus::possible_cpus().unwrap_or(2);
    let mut kept = String::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let other_cpu = matches!(
            words.as_slice(),
            ["CPU", cpu, "0", "packets", "/", "0", "bytes"]
                if cpu.strip_suffix(':').and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| n >= 2)
        );
        if other_cpu {
            continue;
        }
        // -json -percpu: {"cpu":2,"packets":0,"bytes":0} and on, in one line.
        let mut line = line.to_string();
        for cpu in 2..cpus {
            line = line.replace(&format!(",{{\"cpu\":{cpu},\"packets\":0,\"bytes\":0}}"), "");
        }
        kept.push_str(&line);
        kept.push('\n');
    }
    kept
}

/// A statswatch (or script(1)) child whose output is read while it runs.
struct Live {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Receiver<Vec<u8>>,
    err: Receiver<Vec<u8>>,
    got: Vec<u8>,
}

impl Live {
    fn spawn(argv: &[&str]) -> Live {
        let mut child = Command::new(argv[0])
            .args(&argv[1..])
            .current_dir(repo_root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", argv[0]));
        let out = pump(child.stdout.take().expect("stdout"));
        let err = pump(child.stderr.take().expect("stderr"));
        Live {
            stdin: child.stdin.take(),
            child,
            out,
            err,
            got: Vec::new(),
        }
    }

    /// Waits (at most STEP_LIMIT) until the standard output so far satisfies `done`.
    fn until(&mut self, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + STEP_LIMIT;
        while !done(&String::from_utf8_lossy(&self.got)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(bytes) => self.got.extend(bytes),
                Err(_) => panic!(
                    "the live view did not get there in {STEP_LIMIT:?}; its output so far:\n{}",
                    String::from_utf8_lossy(&self.got)
                ),
            }
        }
    }

    fn type_in(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .expect("type into the terminal");
    }

    /// Ctrl-C, as `kill -INT` sends it.
    fn interrupt(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT {pid} failed");
    }

    /// Waits (at most STEP_LIMIT) for the end: standard output, then standard error, and
    /// the exit status.
    fn finish(mut self) -> (String, i32) {
        let deadline = Instant::now() + STEP_LIMIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the live view") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the live view did not end in {STEP_LIMIT:?}; its output so far:\n{}",
                String::from_utf8_lossy(&self.got)
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        self.stdin = None;
        // The pumps end at end of file, once the child (and its children) are gone.
        while let Ok(bytes) = self.out.recv_timeout(STEP_LIMIT) {
            self.got.extend(bytes);
        }
        while let Ok(bytes) = self.err.recv_timeout(STEP_LIMIT) {
            self.got.extend(bytes);
        }
        let mut text = String::from_utf8_lossy(&self.got).into_owned();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        (text, status.code().unwrap_or(-1))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        // However the test ends: no view left running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything `reader` gives, in pieces as they come, until end of file.
fn pump(mut reader: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (send, receive) = channel();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if send.send(buffer[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    receive
}

fn lines_at_least(count: usize) -> impl Fn(&str) -> bool {
    move |out: &str| out.lines().count() >= count
}

/// What a terminal shows after `output`: the escape sequences statswatch writes
/// (cursor up, clear line, clear below, hide and show the cursor) applied to a screen.
fn render_terminal(output: &str) -> String {
    let mut screen: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let chars: Vec<char> = output.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\x1b' if chars.get(i + 1) == Some(&'[') => {
                let mut j = i + 2;
                while j < chars.len() && !chars[j].is_ascii_alphabetic() {
                    j += 1;
                }
                let params: String = chars[i + 2..j].iter().collect();
                match chars.get(j) {
                    Some('A') => row = row.saturating_sub(params.parse().unwrap_or(1)),
                    Some('K') => screen[row].clear(),
                    Some('J') => {
                        screen[row].truncate(col);
                        screen.truncate(row + 1);
                    }
                    // ?25l and ?25h: the cursor hidden and shown.
                    Some('l') | Some('h') => {}
                    other => panic!("an escape sequence the test does not know: {other:?}"),
                }
                i = j + 1;
                continue;
            }
            '\r' => col = 0,
            '\n' => {
                row += 1;
                col = 0;
                if screen.len() <= row {
                    screen.push(Vec::new());
                }
            }
            c => {
                let line = &mut screen[row];
                if line.len() <= col {
                    line.resize(col, ' ');
                    line.push(c);
                } else {
                    line[col] = c;
                }
                col += 1;
            }
        }
        i += 1;
    }
    let mut text: String = screen
        .iter()
        .map(|line| line.iter().collect::<String>().trim_end().to_string() + "\n")
        .collect();
    while text.ends_with("\n\n") {
        text.pop();
    }
    if text == "\n" {
        text.clear();
    }
    text
}

/// -json: the time, the map id, the measured interval and the non-zero rates.
fn mask_json(line: &str) -> String {
    let mut line = line.to_string();
    for key in ["\"time\":", "\"map_id\":", "\"interval\":"] {
        line = mask_after(&line, key, &[]);
    }
    for key in ["\"pps\":", "\"bps\":"] {
        line = mask_after(&line, key, &["0.0"]);
    }
    line
}

/// The live text view: the sample's time, the measured interval, a replaced map's ids,
/// and the rates that are not zero (counters stay checked).
fn mask_watch(line: &str) -> String {
    if let Some(utc) = line.find(" UTC, ") {
        // "stats_map (id N), 2026-11-25 12:32:19 UTC, rates over 1.00 s"
        let date = line[..utc].rfind(", ").map_or(0, |at| at + 2);
        let rest = &line[utc..];
        let rest = match rest.strip_prefix(" UTC, rates over ") {
            Some(_) => " UTC, rates over N s".to_string(),
            None => rest.to_string(),
        };
        return format!("{}DATE TIME{rest}", &line[..date]);
    }
    if line.contains("was replaced (map id ") {
        return mask_after(line, "-> ", &[]);
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.len() >= 6 && words[0].starts_with("XDP_") && words[1].parse::<u64>().is_ok() {
        // "    XDP_PASS       223      21594      52.0    40.76 kbit/s": the columns up to
        // BYTES as printed, then the rates.
        let bytes_end = word_end(line, 2);
        let rates = &line[bytes_end..];
        let rates_words: Vec<&str> = rates.split_whitespace().collect();
        if rates_words == ["-", "-"] || rates_words == ["0.0", "0.0", "bit/s"] {
            return line.to_string();
        }
        return format!("{} RATES", &line[..bytes_end]);
    }
    line.to_string()
}

/// Where the `index`th (0-based) whitespace-separated word of `line` ends.
fn word_end(line: &str, index: usize) -> usize {
    let mut seen = 0;
    let mut in_word = false;
    for (at, c) in line.char_indices() {
        if c.is_whitespace() {
            if in_word {
                if seen == index {
                    return at;
                }
                seen += 1;
            }
            in_word = false;
        } else {
            in_word = true;
        }
    }
    line.len()
}

/// strace: the fds the kernel hands out and the user-space addresses of the buffers.
/// The exporter's scrape: the program id and how long the scrape took.
fn mask_prometheus(line: &str) -> String {
    let line = mask_after(line, "prog_id=\"", &[]);
    mask_after(&line, "xdp_scrape_duration_seconds ", &[])
}

fn mask_strace(line: &str) -> String {
    let mut line = line.to_string();
    for key in ["0x7", "0x5"] {
        // Stack (0x7ff...) and heap (0x55...) addresses, whole.
        let mut out = String::new();
        let mut rest = line.as_str();
        while let Some(at) = rest.find(key) {
            out.push_str(&rest[..at]);
            out.push_str("0xADDR");
            let tail = &rest[at + 2..];
            let end = tail
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(tail.len());
            rest = &tail[end..];
        }
        out.push_str(rest);
        line = out;
    }
    for key in ["bpf_fd=", "map_fd="] {
        line = mask_after(&line, key, &[]);
    }
    if line.starts_with("bpf(BPF_OBJ_GET, ") {
        line = mask_after(&line, ") = ", &[]);
    }
    line
}
