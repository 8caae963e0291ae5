//! What is refused, or fails late, leaves nothing behind: a __ksym the kernel lacks,
//! __kconfig and other program types refused before anything is created; a pin failure
//! after the programs or the maps were made.

use super::*;

/// The ids (and names) of the kernel's programs or maps (`kind` "prog" or "map") whose
/// name `belongs` says is this fixture's.
fn kernel_objects(kind: &str, belongs: &dyn Fn(&str) -> bool) -> BTreeSet<(u64, String)> {
    let listed = bpftool_json(&[kind, "show"]);
    listed
        .as_array()
        .map(|objects| {
            objects
                .iter()
                .filter_map(|object| {
                    let name = object["name"].as_str()?;
                    let id = object["id"].as_u64()?;
                    belongs(name).then(|| (id, name.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What the kernel holds of one fixture: its programs and maps by name.
struct Snapshot<'a> {
    programs: &'a [&'a str],
    belongs_map: &'a dyn Fn(&str) -> bool,
    before_programs: BTreeSet<(u64, String)>,
    before_maps: BTreeSet<(u64, String)>,
}

impl<'a> Snapshot<'a> {
    fn take(programs: &'a [&'a str], belongs_map: &'a dyn Fn(&str) -> bool) -> Snapshot<'a> {
        Snapshot {
            programs,
            belongs_map,
            before_programs: kernel_objects("prog", &|name| programs.contains(&name)),
            before_maps: kernel_objects("map", belongs_map),
        }
    }

    fn programs_now(&self) -> BTreeSet<(u64, String)> {
        kernel_objects("prog", &|name| self.programs.contains(&name))
    }

    fn maps_now(&self) -> BTreeSet<(u64, String)> {
        kernel_objects("map", self.belongs_map)
    }

    /// Waits (objects are freed after an RCU grace period) until the kernel holds the
    /// same programs and maps of this fixture as before.
    fn assert_unchanged(&self, what: &str) {
        let same = wait_for(Duration::from_secs(10), || {
            self.programs_now() == self.before_programs && self.maps_now() == self.before_maps
        });
        assert!(
            same,
            "{what}: the kernel still holds objects from this run:\nprograms before {:?}, now {:?}\nmaps before {:?}, now {:?}",
            self.before_programs,
            self.programs_now(),
            self.before_maps,
            self.maps_now()
        );
    }
}

/// `-load-only` refuses `fixture_name` with exit code `code` and one line on stderr that
/// contains, for each group of `mentions`, one of its words; nothing of the fixture stays
/// in the kernel and the pin directory stays empty.
fn assert_refused(
    fixture_name: &str,
    code: i32,
    programs: &[&str],
    map_prefix: &str,
    mentions: &[&[&str]],
) {
    let _lock = kernel_lock();
    let pins = PinDir::new(fixture_name);
    let belongs_map = |name: &str| name.starts_with(map_prefix);
    let snapshot = Snapshot::take(programs, &belongs_map);
    let output = load_only(fixture_name, &pins);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "{fixture_name}: refused: {}",
        describe(&output)
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "{fixture_name}: exactly one line on stderr:\n{stderr}"
    );
    for group in mentions {
        assert!(
            group.iter().any(|word| stderr.contains(word)),
            "{fixture_name}: the error names one of {group:?}:\n{stderr}"
        );
    }
    snapshot.assert_unchanged(fixture_name);
    assert!(
        pins.entries().is_empty(),
        "{fixture_name}: no pins: {:?}",
        pins.entries()
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_kfunc_the_kernel_lacks_or_declares_otherwise_is_refused_and_leaves_nothing() {
    assert_refused(
        "fault_ksym_missing",
        3,
        &["ksym_missing"],
        "fault_k",
        &[
            &["kfunc xdp_skeleton_no_such_kfunc"],
            &["not in the kernel's BTF"],
            &["__weak"],
        ],
    );
    assert_refused(
        "fault_ksym_proto",
        3,
        &["ksym_proto"],
        "fault_k",
        &[
            &["kfunc bpf_dynptr_size"],
            &["prototype that does not match"],
        ],
    );
}

/// Puts a map pinned by bpftool at `path`, where the loader wants to pin something, and
/// returns its id.
fn block_pin(path: &Path) -> u64 {
    run_ok(
        "bpftool",
        &[
            "map",
            "create",
            path.to_str().expect("utf-8"),
            "type",
            "array",
            "key",
            "4",
            "value",
            "4",
            "entries",
            "1",
            "name",
            "xdpf_blocker",
        ],
    );
    map_show(path)["id"].as_u64().expect("blocker id")
}

/// Runs `-load-only` into a pin directory where `blocked` is already taken (bpffs holds
/// no regular files, so by a map bpftool pinned there): the load fails late, while
/// pinning. The blocker must be untouched, and nothing the loader made may remain.
fn assert_late_failure_leaves_nothing(
    fixture_name: &str,
    blocked: &str,
    programs: &[&str],
    maps: &[&str],
) {
    let _lock = kernel_lock();
    let pins = PinDir::new(&format!("{fixture_name}_late"));
    std::fs::create_dir_all(&pins.path).expect("create the pin dir");
    let blocker = pins.join(blocked);
    let blocker_id = block_pin(&blocker);
    let belongs_map = |name: &str| maps.contains(&name);
    let snapshot = Snapshot::take(programs, &belongs_map);

    let output = load_only(fixture_name, &pins);
    assert!(
        !output.status.success() && output.status.code() != Some(101),
        "the pin at {} is taken, so the load must fail cleanly: {}",
        blocker.display(),
        describe(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(blocked),
        "the error names {blocked}: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");

    assert_eq!(
        pins.entries(),
        [blocked],
        "only the pre-existing pin remains"
    );
    let shown = map_show(&blocker);
    assert_eq!(
        (shown["id"].as_u64(), shown["name"].as_str()),
        (Some(blocker_id), Some("xdpf_blocker")),
        "the pre-existing pin is untouched: {shown}"
    );
    snapshot.assert_unchanged(&format!("{fixture_name} after a failed pin"));
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_late_pin_failure_leaves_no_pins_and_no_programs() {
    // xdp_plain is pinned before xdp_frags fails.
    assert_late_failure_leaves_nothing("xdp_variants", "xdp_frags", XDP_VARIANTS, &[]);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_late_pin_failure_after_the_maps_were_pinned_leaves_no_maps() {
    // The four global-data maps are pinned before the program's pin fails.
    assert_late_failure_leaves_nothing(
        "global_data",
        "global_data",
        &["global_data"],
        &[
            "global_d.data",
            "global_d.rodata",
            "global_d.bss",
            ".rodata.str1.1",
        ],
    );
}
