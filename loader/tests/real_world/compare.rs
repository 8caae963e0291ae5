//! One object loaded by each loader, and the two loads compared: what each printed or
//! refused, what the kernel held after each, program by program and map by map.

use super::*;

/// Every `*.o` under /usr/lib/*/bpf/, sorted.
pub(super) fn real_world_objects() -> Vec<PathBuf> {
    let mut objects = Vec::new();
    if let Ok(lib) = std::fs::read_dir("/usr/lib") {
        for triplet in lib.filter_map(|entry| entry.ok()) {
            let Ok(bpf) = std::fs::read_dir(triplet.path().join("bpf")) else {
                continue;
            };
            objects.extend(
                bpf.filter_map(|entry| entry.ok())
                    .map(|entry| entry.path())
                    .filter(|path| path.extension().is_some_and(|ext| ext == "o")),
            );
        }
    }
    objects.sort();
    assert!(
        !objects.is_empty(),
        "no eBPF objects under /usr/lib/*/bpf/: install libxdp1 (scripts/install-deps.sh)"
    );
    objects
}

/// The programs libbpf names in its "prog 'NAME': failed ..." lines.
fn libbpf_failed_programs(stderr: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix("libbpf: prog '") {
            if let Some((name, message)) = rest.split_once("': ") {
                if message.starts_with("failed") && !names.iter().any(|n| n == name) {
                    names.push(name.to_string());
                }
            }
        }
    }
    names
}

/// libbpf's first error line, for the table.
pub(super) fn libbpf_reason(stderr: &str) -> String {
    stderr
        .lines()
        .find(|line| line.starts_with("libbpf: prog '") && line.contains("failed"))
        .or_else(|| stderr.lines().find(|line| line.starts_with("Error")))
        .unwrap_or("no message")
        .trim_start_matches("libbpf: ")
        .to_string()
}

/// Our loader's "Program NAME (id N) pinned at PATH" lines as NAME -> N.
fn our_printed_programs(stdout: &str) -> BTreeMap<String, u64> {
    stdout
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("Program ")?;
            let (name, rest) = rest.split_once(" (id ")?;
            let (id, _) = rest.split_once(") pinned at ")?;
            Some((name.to_string(), id.parse().ok()?))
        })
        .collect()
}

/// Our loader's "Map NAME (id N) pinned at PATH" lines.
pub(super) fn our_printed_maps(stdout: &str) -> Vec<(String, u64, PathBuf)> {
    stdout
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("Map ")?;
            let (name, rest) = rest.split_once(" (id ")?;
            let (id, path) = rest.split_once(") pinned at ")?;
            Some((name.to_string(), id.parse().ok()?, PathBuf::from(path)))
        })
        .collect()
}

pub(super) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Compares the two loads; returns (number of map uses compared, problems).
pub(super) fn compare(theirs: &Loaded, ours: &Loaded) -> (usize, Vec<String>) {
    let mut problems = Vec::new();
    let their_names: BTreeSet<&String> = theirs.keys().collect();
    let our_names: BTreeSet<&String> = ours.keys().collect();
    if their_names != our_names {
        problems.push(format!(
            "programs differ: libbpf loaded {their_names:?}, ours {our_names:?}"
        ));
    }
    let mut compared = 0;
    for (name, their) in theirs {
        let Some(our) = ours.get(name) else { continue };
        if their.kind != our.kind {
            problems.push(format!(
                "program {name}: type {} (libbpf) vs {} (ours)",
                their.kind, our.kind
            ));
        }
        if their.tag != our.tag {
            problems.push(format!(
                "program {name}: tag {} (libbpf) vs {} (ours): the loaded instructions differ",
                their.tag, our.tag
            ));
        }
        let (their_maps, our_maps) = (their.map_multiset(), our.map_multiset());
        compared += their_maps.len().max(our_maps.len());
        if their_maps != our_maps {
            let mut detail = String::new();
            for map in &their_maps {
                if !our_maps.contains(map) {
                    let _ = write!(detail, "\n      only libbpf's: {map}");
                }
            }
            for map in &our_maps {
                if !their_maps.contains(map) {
                    let _ = write!(detail, "\n      only ours:     {map}");
                }
            }
            if detail.is_empty() {
                detail = format!(
                    "\n      same maps, different counts: libbpf {:?}, ours {:?}",
                    their_maps.iter().map(|m| &m.name).collect::<Vec<_>>(),
                    our_maps.iter().map(|m| &m.name).collect::<Vec<_>>()
                );
            }
            problems.push(format!("program {name}: its maps differ:{detail}"));
        }
    }
    (compared, problems)
}

/// Loads one object with bpftool, then with our loader, compares, cleans up and
/// checks that nothing of either load remains.
pub(super) fn compare_object(object: &Path) -> Row {
    let file = object.file_name().expect("file name").to_string_lossy();
    let object_str = object.to_str().expect("utf-8 path");
    let run_id = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let dir_a = PathBuf::from(format!("{BPFFS}/xdpt-rw-{pid}-{run_id}-bpftool"));
    let dir_b = PathBuf::from(format!("{BPFFS}/xdpt-rw-{pid}-{run_id}-ours"));

    let before = bpffs_top_level();
    for name in KNOWN_BY_NAME_PINS {
        assert!(
            !before.contains(name),
            "{BPFFS}/{name} exists and was not made by this test: libbpf would reuse it; \
             remove it (or move it away) and run the test again"
        );
    }
    // Everything created from here on is removed when `cleanup` drops, even on panic.
    let mut cleanup = Cleanup {
        dirs: vec![dir_a.clone(), dir_b.clone()],
        global_pins: KNOWN_BY_NAME_PINS
            .iter()
            .map(|name| Path::new(BPFFS).join(name))
            .collect(),
    };
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut prog_ids = BTreeSet::new();
    let mut map_ids = BTreeSet::new();

    // 1. libbpf.
    let bpftool_out = run(
        "bpftool",
        &[
            "prog",
            "loadall",
            object_str,
            dir_a.to_str().expect("utf-8"),
        ],
    );
    let bpftool_stderr = text(&bpftool_out.stderr);
    let theirs = if bpftool_out.status.success() {
        let theirs = pinned_programs(&dir_a);
        // The by-name pins bpftool made: a pin at /sys/fs/bpf/<map name> of a map its
        // programs use, under a name that was not there before.
        for program in theirs.values() {
            prog_ids.insert(program.id);
            for (id, map) in &program.maps {
                let id = *id;
                map_ids.insert(id);
                let global = Path::new(BPFFS).join(&map.name);
                if pinned_map_id(&global) == Some(id) {
                    assert!(
                        !before.contains(&map.name),
                        "libbpf reused {}, which existed before this test: remove it and run \
                         the test again",
                        global.display()
                    );
                    cleanup.global_pins.insert(global);
                }
            }
        }
        Some(theirs)
    } else {
        None
    };

    // 2. Ours.
    let ours_out: Output = run(
        support::xdploader(),
        &[
            "-file",
            object_str,
            "-load-only",
            "-pin-path",
            dir_b.to_str().expect("utf-8"),
        ],
    );
    let our_stdout = text(&ours_out.stdout);
    let our_stderr = text(&ours_out.stderr);
    let our_code = ours_out.status.code();

    let programs;
    let maps_compared;
    let bpftool_result;
    let our_result;
    match &theirs {
        Some(theirs) => {
            bpftool_result = "loaded".to_string();
            programs = theirs.keys().cloned().collect::<Vec<_>>().join(", ");
            if ours_out.status.success() {
                let ours = pinned_programs(&dir_b);
                our_result = "loaded".to_string();
                for program in ours.values() {
                    prog_ids.insert(program.id);
                    map_ids.extend(program.maps.iter().map(|(id, _)| *id));
                }
                // What we printed is what the kernel holds.
                let printed = our_printed_programs(&our_stdout);
                let held: BTreeMap<String, u64> = ours
                    .iter()
                    .map(|(name, program)| (name.clone(), program.id))
                    .collect();
                if printed != held {
                    problems.push(format!(
                        "xdploader printed programs {printed:?}, {} holds {held:?}",
                        dir_b.display()
                    ));
                }
                // Every map is pinned where it says, at <dir>/<name with '.' -> '_'>, and
                // every map our programs use is one of them.
                let printed_maps = our_printed_maps(&our_stdout);
                map_ids.extend(printed_maps.iter().map(|(_, id, _)| *id));
                for (name, id, path) in &printed_maps {
                    let expected = dir_b.join(name.replace('.', "_"));
                    if path != &expected {
                        problems.push(format!(
                            "map {name} pinned at {}, expected {}",
                            path.display(),
                            expected.display()
                        ));
                    }
                    match pinned_map_id(path) {
                        Some(pinned) if pinned == *id => {
                            // The kernel keeps at most 15 bytes of a name.
                            let kernel_name = map_shape(*id).name;
                            if !name.starts_with(&kernel_name) || kernel_name.is_empty() {
                                problems.push(format!(
                                    "map {name} (id {id}) is called {kernel_name} by the kernel"
                                ));
                            }
                        }
                        other => problems.push(format!(
                            "xdploader printed map {name} (id {id}) pinned at {}, the pin holds {other:?}",
                            path.display()
                        )),
                    }
                }
                for program in ours.values() {
                    for (id, map) in &program.maps {
                        if !printed_maps.iter().any(|(_, printed, _)| printed == id) {
                            problems.push(format!(
                                "program {} uses map {} (id {id}), which xdploader did not pin",
                                program_name(&ours, program.id),
                                map.name
                            ));
                        }
                    }
                }
                let (count, differences) = compare(theirs, &ours);
                maps_compared = count.to_string();
                problems.extend(differences);
            } else {
                our_result = format!("exit {}", our_code.unwrap_or(-1));
                maps_compared = "-".to_string();
                problems.push(format!(
                    "libbpf loads it but xdploader failed ({}): {}",
                    ours_out.status,
                    our_stderr.trim()
                ));
            }
        }
        None => {
            let failed = libbpf_failed_programs(&bpftool_stderr);
            bpftool_result = "refused".to_string();
            notes.push(format!("bpftool: {}", libbpf_reason(&bpftool_stderr)));
            notes.push(format!("ours:    {}", our_stderr.trim()));
            programs = if failed.is_empty() {
                "-".to_string()
            } else {
                failed.join(", ")
            };
            maps_compared = "-".to_string();
            our_result = format!("refused (exit {})", our_code.unwrap_or(-1));
            if !matches!(our_code, Some(2 | 3)) {
                problems.push(format!(
                    "libbpf refuses it; xdploader must fail with exit code 2 or 3, got {} \
                     (stdout: {})",
                    ours_out.status,
                    our_stdout.trim()
                ));
            }
            let lines: Vec<&str> = our_stderr
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect();
            if lines.len() != 1 {
                problems.push(format!(
                    "xdploader must say why in one sentence on stderr, it wrote {} lines: {}",
                    lines.len(),
                    our_stderr.trim()
                ));
            }
            if !failed.is_empty() && !failed.iter().any(|name| our_stderr.contains(name)) {
                problems.push(format!(
                    "xdploader's error does not name the program libbpf failed on ({}): {}",
                    failed.join(", "),
                    our_stderr.trim()
                ));
            }
            let leftovers: Vec<String> = std::fs::read_dir(&dir_b)
                .map(|entries| {
                    entries
                        .filter_map(|entry| entry.ok())
                        .map(|entry| entry.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            if !leftovers.is_empty() {
                problems.push(format!(
                    "xdploader failed but left pins in {}: {leftovers:?}",
                    dir_b.display()
                ));
            }
        }
    }

    // Clean up, then check that the kernel let go of every program and map.
    drop(cleanup);
    let gone = wait_for(Duration::from_secs(10), || {
        prog_ids.iter().all(|&id| !prog_exists(id)) && map_ids.iter().all(|&id| !map_exists(id))
    });
    if !gone {
        let progs: Vec<u64> = prog_ids
            .iter()
            .copied()
            .filter(|&id| prog_exists(id))
            .collect();
        let maps: Vec<u64> = map_ids
            .iter()
            .copied()
            .filter(|&id| map_exists(id))
            .collect();
        problems.push(format!(
            "after cleanup the kernel still holds program ids {progs:?} and map ids {maps:?}"
        ));
    }
    for name in KNOWN_BY_NAME_PINS {
        if Path::new(BPFFS).join(name).exists() {
            problems.push(format!("{BPFFS}/{name} is still there after cleanup"));
        }
    }

    let verdict = match (&theirs, problems.is_empty()) {
        (Some(_), true) => "same",
        (None, true) => "both refuse",
        (_, false) => "DIFFERS",
    };
    Row {
        object: file.into_owned(),
        programs,
        maps_compared,
        bpftool: bpftool_result,
        ours: our_result,
        verdict,
        notes,
        problems,
    }
}
