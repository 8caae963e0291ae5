//! One sample: batch and per-key reads agree (and a sample is one batch call), -percpu
//! sums equal the totals and bpftool, -m finds a map by name.

use super::*;

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
