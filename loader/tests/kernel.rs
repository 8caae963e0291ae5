//! Kernel tests: load kern/xdp.elf for real, attach it to a veth pair in private
//! namespaces, send known traffic and compare the counters exactly.
//! They need root and are run by scripts/test.sh (`--include-ignored`).

mod support;

use std::time::Duration;

use support::*;

/// XDP_PASS in `enum xdp_action`: the key of the pass counters.
const XDP_PASS: usize = 2;
/// `ip -j link` reports generic XDP as mode 2 (XDP_ATTACHED_SKB).
const XDP_ATTACHED_SKB: u64 = 2;

fn prog_name(id: u64) -> String {
    let out = run_ok("bpftool", &["-j", "prog", "show", "id", &id.to_string()]);
    json(&out)["name"]
        .as_str()
        .expect("program name")
        .to_string()
}

fn prog_map_ids(id: u64) -> Vec<u64> {
    let out = run_ok("bpftool", &["-j", "prog", "show", "id", &id.to_string()]);
    json(&out)["map_ids"]
        .as_array()
        .map(|ids| ids.iter().filter_map(|id| id.as_u64()).collect())
        .unwrap_or_default()
}

fn map_name(id: u64) -> String {
    let out = run_ok("bpftool", &["-j", "map", "show", "id", &id.to_string()]);
    json(&out)["name"].as_str().expect("map name").to_string()
}

fn pinned_map_id(pin: &std::path::Path) -> u64 {
    let out = run_ok(
        "bpftool",
        &["-j", "map", "show", "pinned", pin.to_str().expect("utf-8")],
    );
    json(&out)["id"].as_u64().expect("map id")
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn attached_chain_counts_udp_exactly_and_bpftool_agrees() {
    let net = TestNet::new();
    let out = net.load_ok();
    assert!(out.contains("Loading tail call jumps"), "{out}");
    assert!(out.contains("Inserting program xdp_skeleton_1"), "{out}");
    assert!(out.contains("Inserting program xdp_skeleton_2"), "{out}");
    assert!(
        out.lines().last().is_some_and(
            |line| line.contains(&format!("ip link set dev {} xdpgeneric off", net.xdp_if))
        ),
        "the transcript must end with the command that turns it off:\n{out}"
    );

    let (mode, entry_id) = net.attached().expect("an XDP program on the interface");
    assert_eq!(mode, XDP_ATTACHED_SKB, "ip link must show generic mode");
    assert_eq!(prog_name(entry_id), "xdp_skeleton");

    // The chain: slots 1 and 2 hold xdp_skeleton_1 and xdp_skeleton_2.
    let slots = prog_array_slots(&net.pin("jmp_map"));
    assert_eq!(slots.len(), 2, "exactly two slots filled: {slots:?}");
    assert_eq!(slots[0].0, 1);
    assert_eq!(prog_name(slots[0].1), "xdp_skeleton_1");
    assert_eq!(slots[1].0, 2);
    assert_eq!(prog_name(slots[1].1), "xdp_skeleton_2");

    // The four maps, by name: three pinned, tail_call held by the programs.
    let mut names: Vec<String> = prog_map_ids(entry_id).into_iter().map(map_name).collect();
    names.push(map_name(pinned_map_id(&net.pin("if_redirect"))));
    names.sort();
    names.dedup();
    assert_eq!(names, ["if_redirect", "jmp_map", "stats_map", "tail_call"]);

    let stats_pin = net.pin("stats_map");
    assert_eq!(
        statswatch_counts(&stats_pin),
        vec![(0, 0); 5],
        "nothing arrived yet"
    );

    const PACKETS: u64 = 50;
    const PAYLOAD: u64 = 64;
    net.send_udp(PACKETS as usize, PAYLOAD as usize);
    let arrived = wait_for(Duration::from_secs(5), || {
        statswatch_counts(&stats_pin)[XDP_PASS].0 >= PACKETS
    });
    assert!(
        arrived,
        "the packets did not all arrive: {:?}",
        statswatch_counts(&stats_pin)
    );
    let counts = statswatch_counts(&stats_pin);
    let mut expected = vec![(0, 0); 5];
    expected[XDP_PASS] = (PACKETS, PACKETS * (PAYLOAD + UDP_FRAME_OVERHEAD));
    assert_eq!(
        counts, expected,
        "statswatch: XDP_PASS exactly the packets sent, nothing else"
    );
    assert_eq!(
        bpftool_counts(&stats_pin),
        expected,
        "bpftool sums the same per-CPU values"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn reload_replaces_the_program_and_keeps_the_counters() {
    let net = TestNet::new();
    net.load_ok();
    let (_, first_id) = net.attached().expect("attached");
    let stats_pin = net.pin("stats_map");
    let stats_id = pinned_map_id(&stats_pin);
    net.send_udp(20, 10);
    assert!(wait_for(Duration::from_secs(5), || statswatch_counts(
        &stats_pin
    )[XDP_PASS]
        .0
        >= 20));

    let out = net.load_ok();
    assert!(
        out.contains("reused from"),
        "the pinned maps are reused:\n{out}"
    );
    let (mode, second_id) = net.attached().expect("still attached");
    assert_eq!(mode, XDP_ATTACHED_SKB);
    assert_ne!(first_id, second_id, "the reload attached a new program");
    assert_eq!(pinned_map_id(&stats_pin), stats_id, "the same stats map");
    // The replaced entry program is gone, not leaked.
    assert!(wait_for(Duration::from_secs(5), || !run(
        "bpftool",
        &["prog", "show", "id", &first_id.to_string()]
    )
    .status
    .success()));

    net.send_udp(30, 10);
    assert!(wait_for(Duration::from_secs(5), || statswatch_counts(
        &stats_pin
    )[XDP_PASS]
        .0
        >= 50));
    let counts = statswatch_counts(&stats_pin);
    assert_eq!(counts[XDP_PASS], (50, 50 * (10 + UDP_FRAME_OVERHEAD)));
    assert_eq!(
        counts.iter().map(|c| c.0).sum::<u64>(),
        50,
        "nothing but the 50 datagrams: {counts:?}"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn turning_it_off_as_printed_leaves_nothing_behind() {
    let net = TestNet::new();
    let out = net.load_ok();
    let (_, entry_id) = net.attached().expect("attached");
    let mut prog_ids = vec![entry_id];
    prog_ids.extend(
        prog_array_slots(&net.pin("jmp_map"))
            .iter()
            .map(|(_, id)| *id),
    );
    let mut map_ids = prog_map_ids(entry_id);
    map_ids.push(pinned_map_id(&net.pin("if_redirect")));

    // Run exactly what the loader printed: the `rm` of the pins and the `ip link ... off`.
    let rm_line = out
        .lines()
        .find(|line| line.contains(": rm "))
        .expect("the rm line");
    let rm_args: Vec<&str> = rm_line
        .split(": rm ")
        .nth(1)
        .expect("paths")
        .split_whitespace()
        .collect();
    run_ok("rm", &rm_args);
    let off_line = out.lines().last().expect("last line");
    let off_command = off_line.split('`').nth(1).expect("command in backticks");
    let words: Vec<&str> = off_command.split_whitespace().collect();
    let output = net.in_xdp_ns(words[0], &words[1..]);
    assert!(
        output.status.success(),
        "{off_command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    assert_eq!(net.attached(), None, "no XDP program on the interface");
    let gone = wait_for(Duration::from_secs(10), || {
        prog_ids.iter().all(|id| {
            !run("bpftool", &["prog", "show", "id", &id.to_string()])
                .status
                .success()
        }) && map_ids.iter().all(|id| {
            !run("bpftool", &["map", "show", "id", &id.to_string()])
                .status
                .success()
        })
    });
    assert!(
        gone,
        "programs {prog_ids:?} and maps {map_ids:?} must all be freed"
    );
    let left: Vec<_> = std::fs::read_dir(&net.pin_dir).expect("pin dir").collect();
    assert!(left.is_empty(), "no pins left: {left:?}");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_pin_of_another_shape_is_refused_and_nothing_is_attached() {
    let net = TestNet::new();
    std::fs::create_dir_all(&net.pin_dir).expect("pin dir");
    let stats_pin = net.pin("stats_map");
    run_ok(
        "bpftool",
        &[
            "map",
            "create",
            stats_pin.to_str().expect("utf-8"),
            "type",
            "array",
            "key",
            "4",
            "value",
            "8",
            "entries",
            "5",
            "name",
            "stats_map",
        ],
    );
    let output = net.load(&[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "environment error: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
    assert!(
        stderr.contains(&format!("rm {}", stats_pin.display())),
        "{stderr}"
    );
    assert!(stderr.contains("value size 8 there, 16 here"), "{stderr}");
    assert_eq!(net.attached(), None, "nothing attached");
    assert!(
        !net.pin("jmp_map").exists() && !net.pin("if_redirect").exists(),
        "no new pins"
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn statswatch_refuses_a_map_of_another_shape() {
    let net = TestNet::new();
    std::fs::create_dir_all(&net.pin_dir).expect("pin dir");
    let pin = net.pin("not_stats");
    run_ok(
        "bpftool",
        &[
            "map",
            "create",
            pin.to_str().expect("utf-8"),
            "type",
            "hash",
            "key",
            "4",
            "value",
            "16",
            "entries",
            "5",
            "name",
            "not_stats",
        ],
    );
    let output = run(statswatch(), &["-file", pin.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is a Hash"), "{stderr}");
    assert!(output.stdout.is_empty(), "no counters printed");

    let missing = net.pin("missing");
    let output = run(statswatch(), &["-file", missing.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no map is pinned"));
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn an_unknown_interface_fails_before_anything_is_created() {
    let net = TestNet::new();
    let object = xdp_object();
    let pin_dir = net.pin_dir.display().to_string();
    let output = net.in_xdp_ns(
        xdploader(),
        &[
            "-file",
            object.to_str().expect("utf-8"),
            "-i",
            "nosuchif0",
            "-pin-path",
            &pin_dir,
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("there is no interface called nosuchif0"),
        "{stderr}"
    );
    assert!(!net.pin_dir.exists(), "no pin directory made");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn timings_report_every_phase_and_add_up() {
    let net = TestNet::new();
    let output = net.load(&["-timings"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let table: Vec<&str> = stdout
        .lines()
        .skip_while(|line| !line.starts_with("Timings (ms)"))
        .skip(1)
        .collect();
    let phases: Vec<&str> = table
        .iter()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    for phase in [
        "parse", "BTF", "maps", "programs", "tail", "pin", "attach", "total",
    ] {
        assert!(
            phases.contains(&phase),
            "phase {phase} missing from:\n{stdout}"
        );
    }
    // Columns: wall, inside bpf(2), our own work; the total row is the sum of the others.
    let numbers = |line: &str| -> Vec<f64> {
        line.split_whitespace()
            .filter_map(|word| word.parse::<f64>().ok())
            .take(3)
            .collect()
    };
    let (total, rows) = table.split_last().expect("a total row");
    let sum: f64 = rows.iter().map(|line| numbers(line)[0]).sum();
    let total = numbers(total);
    assert!(
        (total[0] - sum).abs() < 0.01,
        "total {} vs sum {sum}",
        total[0]
    );
    assert!(
        (total[0] - total[1] - total[2]).abs() < 0.01,
        "wall = bpf(2) + our work"
    );
    assert!(
        stdout.contains("(verifier "),
        "the verifier's own time is reported:\n{stdout}"
    );
}

/// Whether the executable at `path` names a dynamic loader (PT_INTERP): a statically
/// linked one does not.
fn asks_for_a_dynamic_loader(path: &str) -> bool {
    use object::read::elf::{ElfFile64, ProgramHeader};
    let data = std::fs::read(path).unwrap_or_else(|error| panic!("cannot read {path}: {error}"));
    let file = ElfFile64::<object::Endianness>::parse(&*data)
        .unwrap_or_else(|error| panic!("{path} is not a 64-bit ELF: {error}"));
    let endian = file.endian();
    file.elf_program_headers()
        .iter()
        .any(|header| header.p_type(endian) == object::elf::PT_INTERP)
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn the_demo_build_is_static_and_attaches_and_counts() {
    let loader = release_binary("xdploader");
    let watcher = release_binary("statswatch");
    for binary in [&loader, &watcher] {
        assert!(
            !asks_for_a_dynamic_loader(binary),
            "{binary} is dynamically linked: build_release links it statically (is libc.a installed?)"
        );
    }

    let net = TestNet::new();
    let output = net.load_with(&loader, &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let (_, entry_id) = net.attached().expect("an XDP program on the interface");
    assert_eq!(prog_name(entry_id), "xdp_skeleton");

    const PACKETS: u64 = 20;
    const PAYLOAD: u64 = 64;
    let stats_pin = net.pin("stats_map");
    net.send_udp(PACKETS as usize, PAYLOAD as usize);
    let arrived = wait_for(Duration::from_secs(5), || {
        statswatch_counts_with(&watcher, &stats_pin)[XDP_PASS].0 >= PACKETS
    });
    assert!(
        arrived,
        "{:?}",
        statswatch_counts_with(&watcher, &stats_pin)
    );
    let mut expected = vec![(0, 0); 5];
    expected[XDP_PASS] = (PACKETS, PACKETS * (PAYLOAD + UDP_FRAME_OVERHEAD));
    assert_eq!(statswatch_counts_with(&watcher, &stats_pin), expected);
    assert_eq!(bpftool_counts(&stats_pin), expected, "bpftool agrees");
}
