//! Parity over Debian's libbpf-tools: every BPF object embedded in the package's
//! binaries (bpftool-gen skeletons, carved out by `carve`) is loaded by bpftool
//! (`prog loadall ... pinmaps ...`) and by `xdploader -load-only`, and what each put in
//! the kernel is compared: the programs (name, type, tag) and the maps (name, type, key
//! and value size, max_entries, flags, frozen), every map of the object and the maps of
//! each program. One line per object, a summary, the refusals grouped by reason;
//! written to target/libbpf-tools-parity.txt too.
//!
//! Where bpftool loads an object and we refuse it, the refusal must be one of
//! `EXPECTED_GAPS`; anything else fails the test.

use super::carve::{carve, object_names};
use super::compare::{compare, libbpf_reason, our_printed_maps, text};
use super::*;

use std::time::Instant;

/// What xdploader does not support yet, and bpftool does: (the reason, a piece of our
/// refusal's text that says it, a piece of a `xdploader -dump` line that shows the object
/// needs it). An object bpftool loads and we refuse for one of these is an expected gap;
/// for anything else, a failure. Each entry goes as soon as its support lands (the
/// CO-RE, tracing-attach, fentry, `__ksym` and kconfig branches): then the objects it
/// covered must load the same as bpftool, or the test fails.
const EXPECTED_GAPS: &[(&str, &str, &str)] =
    &[("struct_ops", "is a struct_ops program", ": struct_ops, ")];

/// The script that fetches and unpacks the package: its exit codes for "the mirror
/// cannot be reached" and "no such package on this release".
const FETCH_SCRIPT: &str = "scripts/libbpf-tools-objects.sh";
const FETCH_OFFLINE: i32 = 5;
const FETCH_NO_PACKAGE: i32 = 6;

/// The result of one object.
struct Outcome {
    line: String,
    /// Why we refused it, by `EXPECTED_GAPS` reason (or "other"), when we did.
    our_reason: Option<String>,
    kind: Kind,
    /// What of `EXPECTED_GAPS` the object needs, as `-dump` shows it.
    needs: BTreeSet<&'static str>,
    /// Differences an expected gap explains: printed, not failed.
    notes: Vec<String>,
    problems: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    BothLoad,
    /// Both load, not the same, and the object needs something on `EXPECTED_GAPS`.
    BothLoadWithGap,
    OnlyBpftool,
    BothRefuse,
    OnlyOurs,
}

/// The unpacked tools' directory, or why it cannot be had: fetched by the script.
fn fetch_tools(cache: &Path) -> Result<PathBuf, (i32, String)> {
    let script = repo_root().join(FETCH_SCRIPT);
    let output = run(path_str(&script), &[path_str(cache)]);
    // The script's own sentence is its last line; apt-get's lines come before it.
    let stderr = text(&output.stderr);
    let sentence = stderr
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("no message")
        .to_string();
    match output.status.code() {
        Some(0) => Ok(PathBuf::from(text(&output.stdout).trim())),
        code => Err((code.unwrap_or(-1), sentence)),
    }
}

/// Carves every tool's objects into `out` (emptied first); returns their paths, sorted.
/// The package's symlinks (btrfsdist -> fsdist) are skipped: the same binary.
fn carve_objects(tools: &Path, out: &Path) -> Vec<PathBuf> {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).unwrap_or_else(|error| panic!("{}: {error}", out.display()));
    let mut objects = Vec::new();
    for name in dir_entries(tools) {
        let path = tools.join(&name);
        let is_file = std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_file());
        if !is_file {
            continue;
        }
        let binary =
            std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let ranges = carve(&binary);
        for (range, file) in ranges.iter().zip(object_names(&name, ranges.len())) {
            let target = out.join(file);
            std::fs::write(&target, &binary[range.clone()])
                .unwrap_or_else(|error| panic!("{}: {error}", target.display()));
            objects.push(target);
        }
    }
    objects.sort();
    objects
}

/// Which expected gap `refusal` is, if any.
fn gap_of(refusal: &str) -> Option<&'static str> {
    EXPECTED_GAPS
        .iter()
        .find(|(_, needle, _)| refusal.contains(needle))
        .map(|(reason, _, _)| *reason)
}

/// Every program pinned in `dir`, by pin name (the full program name: the kernel keeps
/// only 15 bytes, so two programs can share a kernel name), and the kernel names.
fn program_pins(dir: &Path) -> (Loaded, BTreeMap<String, String>) {
    let mut loaded = Loaded::new();
    let mut names = BTreeMap::new();
    for entry in dir_entries(dir) {
        if let Ok(program) = bpftool_json(&["prog", "show", "pinned", path_str(&dir.join(&entry))])
        {
            names.insert(entry.clone(), field_str(&program, "name"));
            loaded.insert(entry, prog_shape(&program));
        }
    }
    (loaded, names)
}

/// Everything on `EXPECTED_GAPS` that `xdploader -dump` shows the object needs, not only
/// the first thing a load refuses: what has to land before it loads. A feature in code
/// no program reaches is not refused, but libbpf still acts on it (a `.kconfig` map, BTF
/// fixed up for the extern), so an object that loads differently and needs one of these
/// is an expected gap too.
fn needs_in_dump(object: &Path) -> BTreeSet<&'static str> {
    let dump = text(&run(xdploader(), &["-file", path_str(object), "-dump"]).stdout);
    EXPECTED_GAPS
        .iter()
        .filter(|(_, _, needle)| {
            // "0 CO-RE relocations" is no need.
            let zero = format!(", 0{needle}");
            dump.lines()
                .any(|line| line.contains(needle) && !line.contains(&zero))
        })
        .map(|(reason, _, _)| *reason)
        .collect()
}

/// The maps bpftool pinned in `dir` (its `pinmaps` directory), sorted.
fn pinned_maps(dir: &Path) -> Vec<(u64, MapShape)> {
    let mut maps: Vec<(u64, MapShape)> = dir_entries(dir)
        .iter()
        .filter_map(|entry| pinned_map_id(&dir.join(entry)))
        .map(|id| (id, map_shape(id)))
        .collect();
    maps.sort_by(|a, b| a.1.cmp(&b.1));
    maps
}

/// Compares two multisets of maps; a line per map only one side has.
fn compare_maps(theirs: &[MapShape], ours: &[MapShape]) -> Vec<String> {
    let mut problems = Vec::new();
    for map in theirs.iter().filter(|map| !ours.contains(map)) {
        problems.push(format!("map only libbpf made: {map}"));
    }
    for map in ours.iter().filter(|map| !theirs.contains(map)) {
        problems.push(format!("map only we made: {map}"));
    }
    if problems.is_empty() && theirs != ours {
        problems.push("the same maps, made a different number of times".to_string());
    }
    problems
}

/// Loads one object with bpftool and with xdploader, compares, cleans up.
fn compare_one(object: &Path) -> Outcome {
    let file = object
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
    let run_id = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
    // bpffs refuses names with a dot: the directory names carry the run only.
    let base = format!("{BPFFS}/xdpt-lbt-{}-{run_id}", std::process::id());
    let (progs_a, maps_a, dir_b) = (
        PathBuf::from(format!("{base}-bpftool")),
        PathBuf::from(format!("{base}-bpftool-maps")),
        PathBuf::from(format!("{base}-ours")),
    );
    let needs = needs_in_dump(object);
    let before = bpffs_top_level();
    let mut cleanup = Cleanup {
        dirs: vec![progs_a.clone(), maps_a.clone(), dir_b.clone()],
        global_pins: BTreeSet::new(),
    };
    let mut problems = Vec::new();
    let mut prog_ids = BTreeSet::new();
    let mut map_ids = BTreeSet::new();

    let bpftool = run(
        "bpftool",
        &[
            "prog",
            "loadall",
            path_str(object),
            path_str(&progs_a),
            "pinmaps",
            path_str(&maps_a),
        ],
    );
    let theirs = bpftool.status.success().then(|| {
        let programs = program_pins(&progs_a);
        let maps = pinned_maps(&maps_a);
        for program in programs.0.values() {
            prog_ids.insert(program.id);
            map_ids.extend(program.maps.iter().map(|(id, _)| *id));
        }
        map_ids.extend(maps.iter().map(|(id, _)| *id));
        (programs, maps)
    });
    // Maps with LIBBPF_PIN_BY_NAME go to /sys/fs/bpf/<name>: new names there that pin
    // one of libbpf's maps are libbpf's, and removed with the rest.
    for name in bpffs_top_level().difference(&before) {
        let pin = Path::new(BPFFS).join(name);
        if pinned_map_id(&pin).is_some_and(|id| map_ids.contains(&id)) {
            cleanup.global_pins.insert(pin);
        }
    }

    let ours = run(
        xdploader(),
        &[
            "-file",
            path_str(object),
            "-load-only",
            "-pin-path",
            path_str(&dir_b),
        ],
    );
    let our_stdout = text(&ours.stdout);
    let our_stderr = text(&ours.stderr);
    // The error sentence ("xdploader: ..."), not a warning printed before it.
    let our_first_line = our_stderr
        .lines()
        .find(|line| line.starts_with("xdploader: "))
        .or_else(|| our_stderr.lines().find(|line| !line.trim().is_empty()))
        .unwrap_or("no message")
        .trim_start_matches("xdploader: ")
        .to_string();

    let mut our_reason = None;
    let mut notes = Vec::new();
    let (kind, line) = match (&theirs, ours.status.success()) {
        (Some(((their_programs, their_names), their_maps)), true) => {
            let (our_programs, our_names) = program_pins(&dir_b);
            if their_names != &our_names {
                problems.push(format!(
                    "kernel program names differ: libbpf's {their_names:?}, ours {our_names:?}"
                ));
            }
            let our_maps: Vec<(u64, MapShape)> = our_printed_maps(&our_stdout)
                .into_iter()
                .map(|(_, id, _)| (id, map_shape(id)))
                .collect();
            for program in our_programs.values() {
                prog_ids.insert(program.id);
                map_ids.extend(program.maps.iter().map(|(id, _)| *id));
            }
            map_ids.extend(our_maps.iter().map(|(id, _)| *id));
            let (_, differences) = compare(their_programs, &our_programs);
            problems.extend(differences);
            let mut sorted: Vec<MapShape> = our_maps.into_iter().map(|(_, map)| map).collect();
            sorted.sort();
            let theirs_sorted: Vec<MapShape> =
                their_maps.iter().map(|(_, map)| map.clone()).collect();
            problems.extend(compare_maps(&theirs_sorted, &sorted));
            let counts = format!(
                "{} programs, {} maps",
                their_programs.len(),
                their_maps.len()
            );
            let all_needs: Vec<&str> = needs.iter().copied().collect();
            match (problems.is_empty(), all_needs.is_empty()) {
                (true, _) => (Kind::BothLoad, format!("both load ({counts})")),
                (false, false) => {
                    let reason = all_needs.join(" + ");
                    our_reason = Some(reason.clone());
                    notes.append(&mut problems);
                    (
                        Kind::BothLoadWithGap,
                        format!(
                            "both load ({counts}), differently: it needs {reason} (expected gaps)"
                        ),
                    )
                }
                (false, true) => (
                    Kind::BothLoad,
                    format!("both load ({counts}), DIFFERENTLY: {}", problems[0]),
                ),
            }
        }
        (Some(_), false) => {
            let reason = gap_of(&our_first_line);
            our_reason = Some(reason.unwrap_or("other").to_string());
            if reason.is_none() {
                problems.push(format!(
                    "bpftool loads it, xdploader refuses it for a reason not in EXPECTED_GAPS: {}",
                    our_stderr.trim()
                ));
            }
            (
                Kind::OnlyBpftool,
                format!("bpftool loads, xdploader refuses: {our_first_line}"),
            )
        }
        (None, false) => {
            our_reason = Some(gap_of(&our_first_line).unwrap_or("other").to_string());
            // A verifier refusal (exit 3) prints the verifier log after its sentence.
            let one_sentence = match ours.status.code() {
                Some(2) => our_stderr.trim().lines().count() == 1,
                Some(3) => our_stderr
                    .lines()
                    .any(|line| line.starts_with("xdploader: ")),
                _ => false,
            };
            if !one_sentence {
                problems.push(format!(
                    "xdploader must refuse in one sentence with exit 2 or 3 (3: then the verifier log): {}",
                    describe(&ours)
                ));
            }
            let line = format!(
                "both refuse (bpftool: {}; ours: {our_first_line})",
                libbpf_reason(&text(&bpftool.stderr))
            );
            (Kind::BothRefuse, line)
        }
        (None, true) => {
            problems.push(format!(
                "xdploader loads what bpftool refuses: {}",
                libbpf_reason(&text(&bpftool.stderr))
            ));
            for program in program_pins(&dir_b).0.values() {
                prog_ids.insert(program.id);
            }
            (
                Kind::OnlyOurs,
                format!(
                    "xdploader loads, bpftool refuses: {}",
                    libbpf_reason(&text(&bpftool.stderr))
                ),
            )
        }
    };
    if !ours.status.success() && !dir_entries(&dir_b).is_empty() {
        problems.push(format!(
            "xdploader failed but left pins in {}",
            dir_b.display()
        ));
    }

    // Everything either loader made goes, and the kernel lets go of it.
    drop(cleanup);
    let gone = wait_for(Duration::from_secs(10), || {
        prog_ids.iter().all(|&id| !prog_exists(id)) && map_ids.iter().all(|&id| !map_exists(id))
    });
    if !gone {
        problems.push("after cleanup the kernel still holds its programs or maps".to_string());
    }
    Outcome {
        line: format!("{file}: {line}"),
        our_reason,
        kind,
        needs,
        notes,
        problems,
    }
}

/// The report: one line per object, the summary, our refusals grouped by reason.
fn report(outcomes: &[Outcome], elapsed: Duration) -> String {
    let mut out = String::new();
    for outcome in outcomes {
        let _ = writeln!(out, "{}", outcome.line);
    }
    let count = |kind: Kind| outcomes.iter().filter(|o| o.kind == kind).count();
    let failing = outcomes.iter().filter(|o| !o.problems.is_empty()).count();
    let _ = writeln!(
        out,
        "\n{} objects: {} both load the same, {} both load but differ by an expected gap, \
         {} bpftool loads and xdploader refuses, {} both refuse, \
         {} xdploader loads and bpftool refuses; {failing} not as expected; {:.1} s",
        outcomes.len(),
        count(Kind::BothLoad),
        count(Kind::BothLoadWithGap),
        count(Kind::OnlyBpftool),
        count(Kind::BothRefuse),
        count(Kind::OnlyOurs),
        elapsed.as_secs_f64()
    );
    let mut reasons: BTreeMap<(String, Kind), usize> = BTreeMap::new();
    for outcome in outcomes {
        if let Some(reason) = &outcome.our_reason {
            *reasons.entry((reason.clone(), outcome.kind)).or_default() += 1;
        }
    }
    let _ = writeln!(out, "xdploader's refusals by reason (the first it met):");
    for ((reason, kind), n) in &reasons {
        let what = match kind {
            Kind::OnlyBpftool => "bpftool loads them, xdploader refuses",
            Kind::BothLoadWithGap => "both load them, differently",
            _ => "bpftool refuses them too",
        };
        let _ = writeln!(out, "  {reason}: {n} ({what})");
    }
    // What must land for the objects bpftool loads, all of it per object.
    let mut wanted: BTreeMap<String, usize> = BTreeMap::new();
    for outcome in outcomes
        .iter()
        .filter(|o| matches!(o.kind, Kind::OnlyBpftool | Kind::BothLoadWithGap))
    {
        let set: Vec<&str> = outcome.needs.iter().copied().collect();
        *wanted.entry(set.join(" + ")).or_default() += 1;
    }
    let _ = writeln!(
        out,
        "what the objects bpftool loads and we do not (or not the same) need, all of it:"
    );
    for (set, n) in &wanted {
        let set = if set.is_empty() {
            "nothing on the list"
        } else {
            set
        };
        let _ = writeln!(out, "  {set}: {n}");
    }
    for outcome in outcomes
        .iter()
        .filter(|o| !o.problems.is_empty() || !o.notes.is_empty())
    {
        let _ = writeln!(out, "\n{}", outcome.line);
        for note in &outcome.notes {
            let _ = writeln!(out, "  - expected until the gap closes: {note}");
        }
        for problem in &outcome.problems {
            let _ = writeln!(out, "  - {problem}");
        }
    }
    out
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn libbpf_tools_objects_load_as_bpftool_loads_them() {
    let _lock = kernel_lock();
    ensure_bpffs();
    // XDP_LIBBPF_TOOLS_CACHE: another cache directory (a CI cache, or an empty one to
    // see what happens offline).
    let cache = std::env::var_os("XDP_LIBBPF_TOOLS_CACHE")
        .map_or_else(|| repo_root().join("target/libbpf-tools"), PathBuf::from);
    let tools = match fetch_tools(&cache) {
        Ok(tools) => tools,
        Err((code, message)) if code == FETCH_OFFLINE || code == FETCH_NO_PACKAGE => {
            let required = std::env::var("XDP_KERNEL_TESTS").is_ok_and(|v| v == "require");
            assert!(!required, "libbpf-tools parity cannot run: {message}");
            println!("skipped: libbpf-tools parity cannot run: {message}");
            return;
        }
        Err((code, message)) => panic!("{FETCH_SCRIPT} failed (exit {code}): {message}"),
    };
    let objects = carve_objects(&tools, &cache.join("objects"));
    assert!(
        !objects.is_empty(),
        "no BPF objects found in the binaries under {}",
        tools.display()
    );
    let start = Instant::now();
    let outcomes: Vec<Outcome> = objects.iter().map(|object| compare_one(object)).collect();
    let table = report(&outcomes, start.elapsed());
    println!("\n{table}");
    let saved = repo_root().join("target/libbpf-tools-parity.txt");
    std::fs::write(&saved, &table).unwrap_or_else(|error| panic!("{}: {error}", saved.display()));
    let failing: Vec<&Outcome> = outcomes.iter().filter(|o| !o.problems.is_empty()).collect();
    assert!(
        failing.is_empty(),
        "{} of {} libbpf-tools objects do not load as bpftool loads them (the table is in {}):\n{}",
        failing.len(),
        outcomes.len(),
        saved.display(),
        failing
            .iter()
            .map(|o| format!("{}\n  - {}", o.line, o.problems.join("\n  - ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
