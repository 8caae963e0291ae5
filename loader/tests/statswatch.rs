//! Kernel tests for statswatch: batch and per-key reads, the live view (JSON, pipe and a
//! real pseudo-terminal), -percpu, -m, a map replaced under a running watch, and the
//! Prometheus exporter (-prometheus).
//! They need root and are run by scripts/test.sh (`--include-ignored`).

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::*;

#[path = "statswatch/exceptions.rs"]
mod exceptions;
#[path = "statswatch/prometheus.rs"]
mod prometheus;
#[path = "statswatch/prometheus_faults.rs"]
mod prometheus_faults;
#[path = "statswatch/read.rs"]
mod read;
#[path = "statswatch/terminal.rs"]
mod terminal;
#[path = "statswatch/watch.rs"]
mod watch;

/// XDP_PASS in `enum xdp_action`: the key of the pass counters.
const XDP_PASS: usize = 2;

/// A child process that is killed and reaped when dropped, whatever happened to the test.
struct Running {
    child: Child,
    what: String,
}

impl Running {
    fn spawn(command: &mut Command) -> Running {
        let what = format!("{command:?}");
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {what}: {error}"));
        Running { child, what }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stdin(&mut self) -> &mut ChildStdin {
        self.child.stdin.as_mut().expect("stdin is piped")
    }

    /// Waits at most `limit` for the process to end.
    fn wait_for_exit(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "{} did not end within {limit:?}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Sends `signal` (a name such as INT or TERM) to process `pid`.
fn send_signal(pid: u32, signal: &str) {
    run_ok("kill", &["-s", signal, &pid.to_string()]);
}

/// The lines a reader produces, from a thread, so that tests can wait with a timeout.
fn line_channel(reader: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(reader);
        let mut line = String::new();
        while std::io::BufRead::read_line(&mut reader, &mut line).is_ok_and(|read| read > 0) {
            if sender
                .send(line.trim_end_matches('\n').to_string())
                .is_err()
            {
                break;
            }
            line.clear();
        }
    });
    receiver
}

/// Every byte a reader produces, gathered by a thread.
fn byte_collector(mut reader: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&bytes);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(read) = reader.read(&mut chunk) {
            if read == 0 {
                break;
            }
            sink.lock().expect("lock").extend_from_slice(&chunk[..read]);
        }
    });
    bytes
}

fn collected(bytes: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&bytes.lock().expect("lock")).into_owned()
}

/// `statswatch -watch -json ...` running, with its samples and its stderr lines.
struct JsonWatch {
    process: Running,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    samples: Vec<Value>,
    notices: Vec<String>,
}

impl JsonWatch {
    fn start(args: &[&str]) -> JsonWatch {
        let mut command = Command::new(statswatch());
        command
            .args(["-watch", "-json"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut process = Running::spawn(&mut command);
        let stdout = line_channel(process.child.stdout.take().expect("stdout"));
        let stderr = line_channel(process.child.stderr.take().expect("stderr"));
        JsonWatch {
            process,
            stdout,
            stderr,
            samples: Vec::new(),
            notices: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Ok(line) = self.stderr.try_recv() {
            self.notices.push(line);
        }
    }

    /// Collects samples until one satisfies `done`, for at most `limit`. Returns it.
    fn until(&mut self, limit: Duration, mut done: impl FnMut(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            self.drain();
            let left = limit.saturating_sub(start.elapsed());
            match self
                .stdout
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                Ok(line) => {
                    let sample = json(&line);
                    self.samples.push(sample.clone());
                    if done(&sample) {
                        self.drain();
                        return sample;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => {}
                Err(_) => panic!(
                    "no sample as expected within {limit:?}; samples: {:#?}\nstderr: {:#?}",
                    self.samples.last(),
                    self.notices
                ),
            }
        }
    }

    /// SIGTERM, then the exit status (which must be success) and the rest of the output.
    fn stop(mut self) -> (Vec<Value>, Vec<String>) {
        send_signal(self.process.pid(), "TERM");
        let status = self.process.wait_for_exit(Duration::from_secs(5));
        assert!(
            status.success(),
            "SIGTERM ends the watch with exit 0: {status}"
        );
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_secs(2)) {
            self.samples.push(json(&line));
        }
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(200)) {
            self.notices.push(line);
        }
        (self.samples, self.notices)
    }
}

fn action<'a>(sample: &'a Value, name: &str) -> &'a Value {
    sample["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .find(|action| action["action"] == name)
        .unwrap_or_else(|| panic!("no {name} in {sample}"))
}

fn pass_packets(sample: &Value) -> u64 {
    action(sample, "XDP_PASS")["packets"]
        .as_u64()
        .expect("packets")
}

fn count_matches(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

fn statswatch_with(args: &[&str], no_batch: bool) -> String {
    let mut command = Command::new(statswatch());
    command.args(args);
    if no_batch {
        command.env("STATSWATCH_NO_BATCH", "1");
    } else {
        command.env_remove("STATSWATCH_NO_BATCH");
    }
    let output = command.output().expect("run statswatch");
    assert!(
        output.status.success(),
        "statswatch {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
