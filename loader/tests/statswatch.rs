//! Kernel tests for statswatch: batch and per-key reads, the live view (JSON, pipe and a
//! real pseudo-terminal), -percpu, -m, and a map replaced under a running watch.
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

/// XDP_PASS in `enum xdp_action`: the key of the pass counters.
const XDP_PASS: usize = 2;
const SHOW_CURSOR: &str = "\x1b[?25h";
const HIDE_CURSOR: &str = "\x1b[?25l";

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

/// Every number in a sample is non-negative (rates may be null on a new baseline).
fn assert_no_negative_numbers(sample: &Value) {
    fn walk(value: &Value, sample: &Value) {
        match value {
            Value::Number(number) => assert!(
                number.as_f64().is_some_and(|n| n >= 0.0),
                "negative number in {sample}"
            ),
            Value::Array(items) => items.iter().for_each(|item| walk(item, sample)),
            Value::Object(fields) => fields.values().for_each(|item| walk(item, sample)),
            _ => {}
        }
    }
    walk(sample, sample);
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// `bursts` bursts of `per_burst` datagrams, `gap` apart. Returns the wall-clock time of
/// the first and of the last send.
fn send_paced(
    net: &TestNet,
    bursts: usize,
    per_burst: usize,
    payload: usize,
    gap: Duration,
) -> (f64, f64) {
    let first = unix_now();
    let start = Instant::now();
    for burst in 0..bursts {
        let due = start + gap * burst as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        net.send_udp(per_burst, payload);
    }
    (first, unix_now())
}

fn count_matches(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// Runs statswatch under `strace -e trace=bpf` and returns the trace.
fn strace_statswatch(args: &[&str], no_batch: bool) -> String {
    let trace = TempFile::new("strace", b"");
    let mut command = Command::new("strace");
    command
        .args(["-f", "-qq", "-e", "trace=bpf", "-o", trace.as_str()])
        .arg(statswatch())
        .args(args);
    if no_batch {
        command.env("STATSWATCH_NO_BATCH", "1");
    } else {
        command.env_remove("STATSWATCH_NO_BATCH");
    }
    let output = command.output().unwrap_or_else(|error| {
        panic!("cannot run strace (scripts/install-deps.sh installs it): {error}")
    });
    assert!(
        output.status.success(),
        "strace statswatch {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read_to_string(&trace.path).expect("strace output")
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

/// A loaded program with `packets` UDP datagrams of `payload` bytes counted.
fn loaded_with_traffic(packets: u64, payload: u64) -> TestNet {
    let net = TestNet::new();
    net.load_ok();
    net.send_udp(packets as usize, payload as usize);
    let pin = net.pin("stats_map");
    assert!(
        wait_for(Duration::from_secs(5), || statswatch_counts(&pin)[XDP_PASS]
            .0
            >= packets),
        "the datagrams did not arrive: {:?}",
        statswatch_counts(&pin)
    );
    net
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn batch_and_per_key_reads_agree_and_a_sample_is_one_batch_call() {
    require_root();
    const PACKETS: u64 = 37;
    const PAYLOAD: u64 = 100;
    let net = loaded_with_traffic(PACKETS, PAYLOAD);
    let pin = net.pin("stats_map");
    let file = ["-file", path_str(&pin)];

    let batch = statswatch_with(&file, false);
    let per_key = statswatch_with(&file, true);
    assert_eq!(batch, per_key, "the same five lines either way");
    assert!(
        batch.contains(&format!(
            "XDP_PASS:     {PACKETS} packets / {} bytes",
            PACKETS * (PAYLOAD + UDP_FRAME_OVERHEAD)
        )),
        "{batch}"
    );
    let mut expected = vec![(0, 0); 5];
    expected[XDP_PASS] = (PACKETS, PACKETS * (PAYLOAD + UDP_FRAME_OVERHEAD));
    assert_eq!(bpftool_counts(&pin), expected);

    let percpu = ["-file", path_str(&pin), "-json", "-percpu"];
    let batch = json(&statswatch_with(&percpu, false));
    let per_key = json(&statswatch_with(&percpu, true));
    assert_eq!(
        batch["actions"], per_key["actions"],
        "the same per-CPU numbers either way"
    );

    // The default path: one BPF_MAP_LOOKUP_BATCH for all five keys, no per-key lookups.
    let trace = strace_statswatch(&file, false);
    assert_eq!(count_matches(&trace, "BPF_MAP_LOOKUP_BATCH"), 1, "{trace}");
    assert_eq!(count_matches(&trace, "BPF_MAP_LOOKUP_ELEM"), 0, "{trace}");
    assert!(
        trace.contains("count=5}"),
        "all five keys in that one call:\n{trace}"
    );
    // Forced per key: five lookups, no batch.
    let trace = strace_statswatch(&file, true);
    assert_eq!(count_matches(&trace, "BPF_MAP_LOOKUP_BATCH"), 0, "{trace}");
    assert_eq!(count_matches(&trace, "BPF_MAP_LOOKUP_ELEM"), 5, "{trace}");
    // Watching: one batch call per sample.
    let trace = strace_statswatch(
        &[
            "-file",
            path_str(&pin),
            "-watch",
            "-interval",
            "0.05",
            "-count",
            "3",
        ],
        false,
    );
    assert_eq!(count_matches(&trace, "BPF_MAP_LOOKUP_BATCH"), 3, "{trace}");
    assert_eq!(count_matches(&trace, "BPF_MAP_LOOKUP_ELEM"), 0, "{trace}");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn watch_json_totals_are_exact_and_rates_follow_the_sent_rate() {
    require_root();
    let net = TestNet::new();
    net.load_ok();
    let pin = net.pin("stats_map");
    const BURSTS: usize = 30;
    const PER_BURST: usize = 20;
    const PAYLOAD: usize = 64;
    const SENT: u64 = (BURSTS * PER_BURST) as u64;

    // -count bounds the watch even if the test were to hang: 100 x 0.2 s.
    let mut watch =
        JsonWatch::start(&["-interval", "0.2", "-count", "100", "-file", path_str(&pin)]);
    let first = watch.until(Duration::from_secs(5), |_| true);
    assert!(first["interval"].is_null(), "no interval yet: {first}");
    assert_eq!(pass_packets(&first), 0);

    let (send_start, send_end) =
        send_paced(&net, BURSTS, PER_BURST, PAYLOAD, Duration::from_millis(50));
    let send_rate = SENT as f64 / (send_end - send_start).max(0.05);
    let last = watch.until(Duration::from_secs(5), |sample| {
        pass_packets(sample) >= SENT
    });
    // One more sample: nothing else arrives after the stream.
    watch.until(Duration::from_secs(2), |_| true);
    let (samples, notices) = watch.stop();
    assert!(notices.is_empty(), "no notices: {notices:?}");

    let final_sample = samples.last().expect("samples");
    assert_eq!(pass_packets(&last), SENT, "{last}");
    assert_eq!(pass_packets(final_sample), SENT, "{final_sample}");
    assert_eq!(
        action(final_sample, "XDP_PASS")["bytes"],
        SENT * (PAYLOAD as u64 + UDP_FRAME_OVERHEAD)
    );
    for other in ["XDP_ABORTED", "XDP_DROP", "XDP_TX", "XDP_REDIRECT"] {
        assert_eq!(action(final_sample, other)["packets"], 0, "{final_sample}");
    }

    let mut inside = 0;
    let mut packets_from_rates = 0.0;
    for (index, sample) in samples.iter().enumerate() {
        assert_no_negative_numbers(sample);
        assert_eq!(sample["map"], "stats_map");
        if index == 0 {
            continue;
        }
        let interval = sample["interval"]
            .as_f64()
            .expect("an interval after the first");
        assert!(
            (0.1..1.0).contains(&interval),
            "intervals near 0.2 s: {sample}"
        );
        let pass = action(sample, "XDP_PASS");
        let pps = pass["pps"].as_f64().expect("pps");
        let bps = pass["bps"].as_f64().expect("bps");
        packets_from_rates += pps * interval;
        let delta = pass_packets(sample) - pass_packets(&samples[index - 1]);
        assert!(
            (pps * interval - delta as f64).abs() < 0.5,
            "pps is the delta over the interval: {sample}"
        );
        assert!(
            (bps - pps * (PAYLOAD as f64 + UDP_FRAME_OVERHEAD as f64) * 8.0).abs() < 1.0,
            "bits/s of these frames: {sample}"
        );
        // Intervals wholly inside the stream see about the sent rate.
        let time = sample["time"].as_f64().expect("time");
        if time - interval >= send_start && time <= send_end {
            inside += 1;
            assert!(
                (0.3 * send_rate..3.0 * send_rate).contains(&pps),
                "pps {pps} is not near the sent rate {send_rate:.0}/s: {sample}"
            );
        }
    }
    assert!(
        inside >= 2,
        "at least two intervals inside the stream: {samples:#?}"
    );
    assert!(
        (packets_from_rates - SENT as f64).abs() < 1.0,
        "the rates add up to the packets: {packets_from_rates}"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn percpu_sums_equal_the_totals_and_bpftool() {
    require_root();
    const PACKETS: u64 = 41;
    const PAYLOAD: u64 = 30;
    let net = loaded_with_traffic(PACKETS, PAYLOAD);
    let pin = net.pin("stats_map");
    // The highest possible CPU plus one (the CPU list here has no holes).
    let possible = std::fs::read_to_string("/sys/devices/system/cpu/possible").expect("CPUs");
    let cpus: u64 = possible
        .trim()
        .rsplit(['-', ','])
        .next()
        .and_then(|highest| highest.parse::<u64>().ok())
        .expect("the highest possible CPU")
        + 1;

    // The text: each action's total line, then one line per CPU that add up to it.
    let text = statswatch_with(&["-file", path_str(&pin), "-percpu"], false);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Found map stats_map of type Per-CPU array");
    assert_eq!(lines.len() as u64, 1 + 5 * (1 + cpus), "{text}");
    let numbers = |line: &str| -> (u64, u64) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "packets").expect("packets") - 1;
        (
            words[at].parse().expect("packets"),
            words[at + 3].parse().expect("bytes"),
        )
    };
    for block in lines[1..].chunks(1 + cpus as usize) {
        let total = numbers(block[0]);
        let sum = block[1..]
            .iter()
            .map(|line| numbers(line))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        assert_eq!(total, sum, "{block:#?}");
        assert!(block[1..]
            .iter()
            .all(|line| line.trim_start().starts_with("CPU ")));
    }
    assert!(
        text.contains(&format!("XDP_PASS:     {PACKETS} packets")),
        "{text}"
    );

    // JSON: the same, and each CPU as bpftool reads it.
    let value = json(&statswatch_with(
        &["-file", path_str(&pin), "-percpu", "-json"],
        false,
    ));
    let dump = json(&run_ok(
        "bpftool",
        &["-j", "map", "dump", "pinned", path_str(&pin)],
    ));
    for (key, action) in value["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .enumerate()
    {
        let per_cpu = action["cpus"].as_array().expect("cpus");
        assert_eq!(per_cpu.len() as u64, cpus);
        let packets: u64 = per_cpu
            .iter()
            .map(|c| c["packets"].as_u64().expect("n"))
            .sum();
        let bytes: u64 = per_cpu
            .iter()
            .map(|c| c["bytes"].as_u64().expect("n"))
            .sum();
        assert_eq!(action["packets"], packets, "{action}");
        assert_eq!(action["bytes"], bytes, "{action}");
        let entry = &dump[key];
        for (slot, cpu) in per_cpu.iter().enumerate() {
            let theirs = &entry["values"][slot];
            assert_eq!(theirs["cpu"], cpu["cpu"]);
            let value = theirs["value"].as_array().expect("value bytes");
            assert_eq!(
                cpu["packets"],
                hex_u64(&value[0..8]),
                "CPU {slot}: {theirs}"
            );
            assert_eq!(cpu["bytes"], hex_u64(&value[8..16]), "CPU {slot}: {theirs}");
        }
    }
    assert_eq!(action(&value, "XDP_PASS")["packets"], PACKETS);

    // While watching, the per-CPU rates add up to the total rate too.
    let mut watch = JsonWatch::start(&[
        "-interval",
        "0.2",
        "-count",
        "50",
        "-percpu",
        "-file",
        path_str(&pin),
    ]);
    watch.until(Duration::from_secs(5), |_| true);
    net.send_udp(60, PAYLOAD as usize);
    let sample = watch.until(Duration::from_secs(5), |sample| {
        pass_packets(sample) >= PACKETS + 60
    });
    let (_, notices) = watch.stop();
    assert!(notices.is_empty(), "{notices:?}");
    let pass = action(&sample, "XDP_PASS");
    let cpu_pps: f64 = pass["cpus"]
        .as_array()
        .expect("cpus")
        .iter()
        .map(|cpu| cpu["pps"].as_f64().expect("per-CPU pps"))
        .sum();
    assert!(
        (cpu_pps - pass["pps"].as_f64().expect("pps")).abs() < 0.01,
        "{sample}"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn m_finds_the_map_by_name_and_refuses_a_missing_or_ambiguous_one() {
    require_root();
    let net = loaded_with_traffic(9, 20);
    let pin = net.pin("stats_map");
    let by_file = statswatch_with(&["-file", path_str(&pin)], false);
    let pin_dir = net.pin_dir.to_str().expect("utf-8");

    // DIR/NAME.
    let by_name = statswatch_with(&["-m", "stats_map", "-pin-path", pin_dir], false);
    assert_eq!(by_name, by_file);

    // Not DIR/NAME: found by its kernel name in a directory inside DIR.
    let dir = PinDir::new("m");
    std::fs::create_dir_all(dir.join("one")).expect("mkdir in bpffs");
    let id = json(&run_ok(
        "bpftool",
        &["-j", "map", "show", "pinned", path_str(&pin)],
    ))["id"]
        .as_u64()
        .expect("map id")
        .to_string();
    let elsewhere = dir.join("one/counters");
    run_ok("bpftool", &["map", "pin", "id", &id, path_str(&elsewhere)]);
    let found = statswatch_with(&["-m", "stats_map", "-pin-path", dir.as_str()], false);
    assert_eq!(found, by_file, "found through {}", elsewhere.display());
    // The same map pinned twice is still one map.
    std::fs::create_dir_all(dir.join("two")).expect("mkdir in bpffs");
    run_ok(
        "bpftool",
        &["map", "pin", "id", &id, path_str(&dir.join("two/again"))],
    );
    let found = statswatch_with(&["-m", "stats_map", "-pin-path", dir.as_str()], false);
    assert_eq!(found, by_file);

    // A missing name: exit 4 and a sentence that names it and the directory.
    let output = run(
        statswatch(),
        &["-m", "no_such_map", "-pin-path", dir.as_str()],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("no map called no_such_map is pinned in") && stderr.contains(dir.as_str()),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());

    // Another map of the same name: ambiguous, exit 1, both pins listed.
    let other = dir.join("two/other_stats");
    run_ok(
        "bpftool",
        &[
            "map",
            "create",
            path_str(&other),
            "type",
            "percpu_array",
            "key",
            "4",
            "value",
            "16",
            "entries",
            "5",
            "name",
            "stats_map",
        ],
    );
    let output = run(
        statswatch(),
        &["-m", "stats_map", "-pin-path", dir.as_str()],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("2 maps called stats_map"), "{stderr}");
    assert!(stderr.contains(path_str(&other)), "{stderr}");
    assert!(stderr.contains("pick one with -file"), "{stderr}");
    assert!(output.stdout.is_empty());

    // -m and -file together are a usage error.
    let output = run(statswatch(), &["-m", "stats_map", "-file", path_str(&pin)]);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_map_replaced_under_a_running_watch_starts_a_new_baseline() {
    require_root();
    let net = TestNet::new();
    net.load_ok();
    let pin = net.pin("stats_map");
    let old_id = json(&run_ok(
        "bpftool",
        &["-j", "map", "show", "pinned", path_str(&pin)],
    ))["id"]
        .as_u64()
        .expect("map id");
    let mut watch =
        JsonWatch::start(&["-interval", "0.2", "-count", "150", "-file", path_str(&pin)]);
    // The same, as text into a pipe, to see its notice lines.
    let mut text = Running::spawn(
        Command::new(statswatch())
            .args(["-watch", "-interval", "0.2", "-count", "150", "-file"])
            .arg(&pin)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let text_out = byte_collector(text.child.stdout.take().expect("stdout"));
    let text_err = byte_collector(text.child.stderr.take().expect("stderr"));

    net.send_udp(20, 50);
    watch.until(Duration::from_secs(5), |sample| pass_packets(sample) == 20);
    // Both watches must have opened the map before its pin goes: one that starts later
    // finds nothing pinned and exits, as it should.
    assert!(
        wait_for(Duration::from_secs(5), || collected(&text_out)
            .contains("XDP_PASS")),
        "the text watch printed no sample: {}",
        collected(&text_err)
    );

    // The reload of a stats map that is no longer pinned: a new map.
    std::fs::remove_file(&pin).expect("remove the stats_map pin");
    assert!(
        wait_for(Duration::from_secs(3), || {
            watch.drain();
            watch
                .notices
                .iter()
                .any(|line| line.contains("waiting for one to appear"))
        }),
        "a notice while nothing is pinned: {:?}",
        watch.notices
    );
    net.load_ok();
    let new_id = json(&run_ok(
        "bpftool",
        &["-j", "map", "show", "pinned", path_str(&pin)],
    ))["id"]
        .as_u64()
        .expect("map id");
    assert_ne!(old_id, new_id, "the reload created a new stats_map");
    let reset = watch.until(Duration::from_secs(5), |sample| {
        sample.get("reset").is_some()
    });
    assert_eq!(reset["map_id"], new_id);
    assert!(
        reset["interval"].is_null(),
        "a new baseline has no interval: {reset}"
    );
    assert!(action(&reset, "XDP_PASS")["pps"].is_null(), "{reset}");
    let expected = format!("was replaced (map id {old_id} -> {new_id})");
    assert!(
        reset["reset"]
            .as_str()
            .is_some_and(|text| text.contains(&expected)),
        "{reset}"
    );

    net.send_udp(7, 50);
    let after = watch.until(Duration::from_secs(5), |sample| pass_packets(sample) == 7);
    assert!(after.get("reset").is_none());
    let (samples, notices) = watch.stop();
    for sample in &samples {
        assert_no_negative_numbers(sample);
    }
    assert_eq!(
        notices
            .iter()
            .filter(|line| line.contains(&expected))
            .count(),
        1,
        "one line saying so: {notices:?}"
    );
    // After the reset, the counters only grow from the new map's zero.
    let position = samples
        .iter()
        .position(|sample| sample.get("reset").is_some())
        .expect("the reset sample");
    let mut previous = 0;
    for sample in &samples[position..] {
        assert_eq!(sample["map_id"], new_id);
        assert!(
            pass_packets(sample) >= previous && pass_packets(sample) <= 7,
            "{sample}"
        );
        previous = pass_packets(sample);
    }

    send_signal(text.pid(), "TERM");
    let status = text.wait_for_exit(Duration::from_secs(5));
    assert!(status.success(), "{status}: {}", collected(&text_err));
    let text_out = collected(&text_out);
    assert!(
        !text_out.contains('\x1b'),
        "no terminal sequences into a pipe"
    );
    assert_eq!(
        count_matches(&text_out, &expected),
        1,
        "one line saying so in the text view:\n{text_out}"
    );
    assert_eq!(
        count_matches(&text_out, "waiting for one to appear"),
        1,
        "{text_out}"
    );
    assert!(
        !text_out.split_whitespace().any(|word| word.len() > 1
            && word.starts_with('-')
            && word[1..].starts_with(|c: char| c.is_ascii_digit())),
        "no negative numbers:\n{text_out}"
    );
}

/// The child of `parent` whose command name is `name`, from /proc/<pid>/stat.
fn child_named(parent: u32, name: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "pid (comm) state ppid ...": comm may hold spaces, so split after its ')'.
            let (head, rest) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1;
            let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == parent && comm == name).then_some(pid)
        })
}

/// `statswatch -watch` inside `script`, which gives it a real pseudo-terminal.
struct Terminal {
    script: Running,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Terminal {
    fn start(pin: &Path) -> Terminal {
        let command = format!(
            "exec {} -watch -interval 0.2 -file {}",
            statswatch(),
            path_str(pin)
        );
        let mut script = Running::spawn(
            Command::new("script")
                .args(["-q", "-e", "-f", "-c", &command, "/dev/null"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        );
        let output = byte_collector(script.child.stdout.take().expect("stdout"));
        Terminal { script, output }
    }

    fn text(&self) -> String {
        collected(&self.output)
    }

    /// The statswatch process: the child of `script` (its shell exec'd statswatch).
    fn statswatch_pid(&self) -> u32 {
        let parent = self.script.pid();
        let mut found = None;
        assert!(
            wait_for(Duration::from_secs(5), || {
                found = child_named(parent, "statswatch");
                found.is_some()
            }),
            "statswatch did not start under script"
        );
        found.expect("pid")
    }

    /// Waits until `frames` frames have been drawn (each redraw moves up over 7 lines).
    fn wait_for_redraws(&self, redraws: usize) {
        assert!(
            wait_for(Duration::from_secs(5), || count_matches(
                &self.text(),
                "\x1b[7A"
            ) >= redraws),
            "no {redraws} redraws in:\n{:?}",
            self.text()
        );
    }

    fn finish(mut self) -> (ExitStatus, String) {
        let status = self.script.wait_for_exit(Duration::from_secs(5));
        // The collector thread reads until the pty's output is closed.
        std::thread::sleep(Duration::from_millis(100));
        (status, self.text())
    }
}

/// The end of a long output, for failure messages.
fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(1500);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Whether a frame of the live view shows `packets` under XDP_PASS.
fn shows_pass_packets(output: &str, packets: u64) -> bool {
    output.split('\n').any(|line| {
        let mut words = line
            .split_whitespace()
            .skip_while(|word| *word != "XDP_PASS");
        words.next().is_some() && words.next().and_then(|n| n.parse::<u64>().ok()) == Some(packets)
    })
}

fn assert_redrawn_in_place_and_restored(status: ExitStatus, output: &str) {
    assert!(
        status.success(),
        "exit 0 after the signal: {status}\n{:?}",
        tail(output)
    );
    assert!(
        output.starts_with(HIDE_CURSOR),
        "cursor hidden first: {:?}",
        tail(output)
    );
    assert_eq!(
        count_matches(output, "Found map stats_map"),
        1,
        "{:?}",
        tail(output)
    );
    let frames = count_matches(output, "stats_map (id ");
    assert!(frames >= 4, "{:?}", tail(output));
    // Every frame after the first moves up over the last one: drawn in place, not appended.
    assert_eq!(
        count_matches(output, "\x1b[7A"),
        frames - 1,
        "{:?}",
        tail(output)
    );
    assert_eq!(
        count_matches(output, "\x1b[2K"),
        frames * 7,
        "{:?}",
        tail(output)
    );
    assert_eq!(count_matches(output, SHOW_CURSOR), 1, "{:?}", tail(output));
    let tail = &output[output.rfind("stats_map (id ").expect("a frame")..];
    assert!(
        tail.trim_end().ends_with(SHOW_CURSOR),
        "the cursor is shown again at the very end: {tail:?}"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn the_terminal_view_redraws_in_place_and_ctrl_c_restores_the_terminal() {
    require_root();
    let net = TestNet::new();
    net.load_ok();
    let pin = net.pin("stats_map");

    // SIGINT sent to the process.
    let terminal = Terminal::start(&pin);
    let pid = terminal.statswatch_pid();
    terminal.wait_for_redraws(3);
    net.send_udp(5, 10);
    assert!(
        wait_for(Duration::from_secs(5), || shows_pass_packets(
            &terminal.text(),
            5
        )),
        "the live view shows the 5 datagrams: {:?}",
        tail(&terminal.text())
    );
    send_signal(pid, "INT");
    let (status, output) = terminal.finish();
    assert_redrawn_in_place_and_restored(status, &output);

    // Ctrl-C typed at the terminal: the pty's line discipline sends SIGINT.
    let mut terminal = Terminal::start(&pin);
    terminal.statswatch_pid();
    terminal.wait_for_redraws(3);
    terminal
        .script
        .stdin()
        .write_all(b"\x03")
        .expect("type Ctrl-C");
    terminal.script.stdin().flush().expect("flush");
    let (status, output) = terminal.finish();
    assert_redrawn_in_place_and_restored(status, &output);

    // Into a pipe: plain blocks appended, no terminal sequences at all.
    let output = statswatch_with(
        &[
            "-watch",
            "-interval",
            "0.1",
            "-count",
            "3",
            "-file",
            path_str(&pin),
        ],
        false,
    );
    assert!(!output.contains('\x1b'), "{output:?}");
    assert_eq!(count_matches(&output, "stats_map (id "), 3, "{output}");
    assert_eq!(output.lines().count(), 1 + 3 * 7, "{output}");
}
