//! The environment: no root, no bpffs, a pin of the wrong kind or on the wrong file
//! system, an interface deleted while loading, two runs on one interface at once.

use super::*;

const ENTRY: &str = "flt_skeleton";

fn prog_show_id(id: u64) -> Value {
    json(&run_ok(
        "bpftool",
        &["-j", "prog", "show", "id", &id.to_string()],
    ))
}

fn map_id_pinned(pin: &Path) -> u64 {
    json(&run_ok(
        "bpftool",
        &["-j", "map", "show", "pinned", path_str(pin)],
    ))["id"]
        .as_u64()
        .expect("map id")
}

/// `-file OBJECT -prog ENTRY -i INTERFACE -pin-path PIN_DIR`.
fn runs_attach_args<'a>(object: &'a str, interface: &'a str, pin_dir: &'a str) -> Vec<&'a str> {
    vec![
        "-file",
        object,
        "-prog",
        ENTRY,
        "-i",
        interface,
        "-pin-path",
        pin_dir,
    ]
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn without_root_it_says_to_use_sudo() {
    let _lock = kernel_lock();
    let net = FaultNet::new();
    let pins = PinDir::new("nobody");
    let kern = renamed_kern();
    let object = kern.as_str().to_string();
    let before = Watch::kern()
        .pins(&pins.path)
        .pins(&net.pin_dir)
        .netns(&net.xdp_ns)
        .take();
    let nobody = [
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        "--inh-caps=-all",
        xdploader(),
    ];
    let pin_dir = net.pin_dir.display().to_string();
    let runs: [(&str, Vec<&str>); 2] = [
        (
            "attach as nobody",
            runs_attach_args(&object, &net.xdp_if, &pin_dir),
        ),
        (
            "-load-only as nobody",
            [
                "-file",
                &object,
                "-prog",
                ENTRY,
                "-load-only",
                "-pin-path",
                pins.as_str(),
            ]
            .to_vec(),
        ),
    ];
    for (what, args) in runs {
        let mut all: Vec<&str> = nobody[1..].to_vec();
        all.extend_from_slice(&args);
        let output = net.in_xdp_ns(nobody[0], &all);
        let line = assert_fails(&output, ExitKind::Environment, what);
        assert_mentions(&line, &["run it as root (sudo)", "CAP_BPF"], what);
    }
    // After a run as root, the interface's lock file is root's: a user cannot even open it.
    let lock_file = format!(
        "/run/xdploader/xdploader-{}-{}.lock",
        net.xdp_netns_inode(),
        net.xdp_if
    );
    let _ = std::fs::remove_file(&lock_file);
    std::fs::create_dir_all("/run/xdploader").expect("the lock directory");
    std::fs::write(&lock_file, b"").expect("a lock file as a root run leaves it");
    let mut all: Vec<&str> = nobody[1..].to_vec();
    all.extend_from_slice(&runs_attach_args(&object, &net.xdp_if, &pin_dir));
    let output = net.in_xdp_ns(nobody[0], &all);
    let what = "attach as nobody, root's lock file";
    let line = assert_fails(&output, ExitKind::Environment, what);
    // The privilege check comes first: the user hears "root", not about the lock file.
    assert_mentions(&line, &["run it as root (sudo)", "CAP_BPF"], what);
    assert!(!line.contains(&lock_file), "{what}: {line}");
    assert!(
        !pins.path.exists() && !net.pin_dir.exists(),
        "no pin directory left"
    );
    before.assert_unchanged("as nobody");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn bpffs_not_mounted_and_not_mountable() {
    // In a private mount namespace bpffs is unmounted, and xdploader runs without
    // CAP_SYS_ADMIN (so it cannot mount it again) but with CAP_BPF and CAP_NET_ADMIN.
    let _lock = kernel_lock();
    let net = FaultNet::new();
    let kern = renamed_kern();
    let object = kern.as_str().to_string();
    let before = Watch::kern().pins(&net.pin_dir).netns(&net.xdp_ns).take();
    let script = format!(
        "{} && exec setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin \"$@\"",
        support::UNMOUNT_ALL_BPFFS
    );
    let runs: [(&str, Vec<&str>); 3] = [
        (
            "-load-only",
            vec!["-file", &object, "-prog", ENTRY, "-load-only"],
        ),
        (
            "-load-only under /sys/fs/bpf",
            vec![
                "-file",
                &object,
                "-load-only",
                "-pin-path",
                "/sys/fs/bpf/xdpf-sub/dir",
            ],
        ),
        (
            "attach",
            vec!["-file", &object, "-prog", ENTRY, "-i", &net.xdp_if],
        ),
    ];
    for (what, args) in runs {
        let mut all = vec!["-m", "sh", "-c", &script, "sh", xdploader()];
        all.extend_from_slice(&args);
        let output = net.in_xdp_ns("unshare", &all);
        let line = assert_fails(&output, ExitKind::Environment, what);
        assert_mentions(
            &line,
            &[
                "the pin directory /sys/fs/bpf",
                "not bpffs and mounting bpffs there failed",
                "Operation not permitted",
            ],
            what,
        );
    }
    assert_eq!(net.attached(), None, "nothing attached");
    before.assert_unchanged("bpffs not mountable");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_pinned_program_where_a_map_belongs() {
    // (A pinned map of another shape: kernel.rs, a_pin_of_another_shape_is_refused_...)
    let _lock = kernel_lock();
    let net = FaultNet::new();
    std::fs::create_dir_all(&net.pin_dir).expect("pin dir");
    let squatter = net.pin("stats_map");
    run_ok(
        "bpftool",
        &[
            "prog",
            "load",
            &loader_fixture("xdp_variants"),
            path_str(&squatter),
        ],
    );
    let squatter_id = json(&run_ok(
        "bpftool",
        &["-j", "prog", "show", "pinned", path_str(&squatter)],
    ))["id"]
        .as_u64()
        .expect("program id");
    let before = Watch::kern().pins(&net.pin_dir).netns(&net.xdp_ns).take();
    let kern = renamed_kern();
    let pin_dir = net.pin_dir.display().to_string();

    let output = net.in_xdp_ns(
        xdploader(),
        &[
            "-file",
            kern.as_str(),
            "-prog",
            ENTRY,
            "-i",
            &net.xdp_if,
            "-pin-path",
            &pin_dir,
        ],
    );
    let line = assert_fails(&output, ExitKind::Environment, "attach");
    let path = squatter.display().to_string();
    assert_mentions(
        &line,
        &[&path, "pinned Program, not a map", &format!("rm {path}")],
        "attach",
    );
    let output = run(
        xdploader(),
        &[
            "-file",
            kern.as_str(),
            "-prog",
            ENTRY,
            "-load-only",
            "-pin-path",
            &pin_dir,
        ],
    );
    let line = assert_fails(&output, ExitKind::Environment, "-load-only");
    assert_mentions(&line, &[&path, "not a map"], "-load-only");

    assert_eq!(net.attached(), None, "nothing attached");
    assert_eq!(
        prog_show_id(squatter_id)["id"].as_u64(),
        Some(squatter_id),
        "the program pinned there is untouched"
    );
    before.assert_unchanged("a program where a map belongs");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_pin_directory_that_is_not_on_bpffs() {
    let _lock = kernel_lock();
    let net = FaultNet::new();
    let existing = std::env::temp_dir().join(format!("xdpf-{}-notbpffs", std::process::id()));
    std::fs::create_dir_all(&existing).expect("a directory on /tmp");
    struct RemoveDir(PathBuf);
    impl Drop for RemoveDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _existing = RemoveDir(existing.clone());
    let missing = existing.join("not/yet");
    let before = Watch::kern().pins(&existing).netns(&net.xdp_ns).take();
    let kern = renamed_kern();
    let object = kern.as_str().to_string();
    for dir in [&existing, &missing] {
        let dir = path_str(dir);
        for args in [
            vec![
                "-file",
                &object,
                "-prog",
                ENTRY,
                "-load-only",
                "-pin-path",
                dir,
            ],
            vec![
                "-file",
                &object,
                "-prog",
                ENTRY,
                "-i",
                &net.xdp_if,
                "-pin-path",
                dir,
            ],
        ] {
            let what = format!("{} with -pin-path {dir}", args[2]);
            let output = net.in_xdp_ns(xdploader(), &args);
            let line = assert_fails(&output, ExitKind::Environment, &what);
            assert_mentions(
                &line,
                &["is not usable", "not on a bpffs mount", "/sys/fs/bpf"],
                &what,
            );
        }
    }
    assert!(!missing.exists(), "no directory made on /tmp");
    assert_eq!(net.attached(), None, "nothing attached");
    before.assert_unchanged("a pin directory on /tmp");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn an_interface_deleted_while_loading() {
    // A veth pair made for each try is deleted while xdploader loads onto it; every
    // other try also attaches to the TestNet's interface, which must be put back as it
    // was when the run fails. Each run succeeds, or fails with one sentence (3 or 4).
    const TRIES: u32 = 20;
    let _lock = kernel_lock();
    let net = FaultNet::new();
    let before_all = Watch::kern().netns(&net.xdp_ns).take();
    let kern = renamed_kern();
    let object = kern.as_str().to_string();
    let mut outcomes = Vec::new();
    for attempt in 0..TRIES {
        let victim = format!("fdel{attempt}a");
        let peer = format!("fdel{attempt}b");
        net.ip(&[
            "link", "add", &victim, "type", "veth", "peer", "name", &peer,
        ]);
        net.ip(&["link", "set", "dev", &victim, "up"]);
        net.ip(&["link", "set", "dev", &peer, "up"]);
        let pins = PinDir::new("ifdel");
        let interfaces = if attempt % 2 == 1 {
            format!("{},{victim}", net.xdp_if)
        } else {
            victim.clone()
        };
        let kept_before = net.xdp_on(&net.xdp_if);
        let child = net.spawn(
            xdploader(),
            &[
                "-file",
                &object,
                "-prog",
                ENTRY,
                "-i",
                &interfaces,
                "-pin-path",
                pins.as_str(),
            ],
        );
        std::thread::sleep(Duration::from_micros(3000 * u64::from(attempt)));
        net.ip(&["link", "del", "dev", &victim]);
        let output = child.wait_with_output().expect("wait for xdploader");
        let what = format!("try {attempt} (-i {interfaces})");
        assert_no_panic(&output, &what);
        match output.status.code() {
            Some(0) => outcomes.push(0),
            Some(code) => {
                assert!(
                    code == ExitKind::KernelRefused as i32 || code == ExitKind::Environment as i32,
                    "{what}: exit 3 or 4: {}",
                    describe(&output)
                );
                let kind = if code == 3 {
                    ExitKind::KernelRefused
                } else {
                    ExitKind::Environment
                };
                assert_fails(&output, kind, &what);
                assert!(
                    pins.entries().is_empty(),
                    "{what}: no pins after a failure: {:?}\n{}",
                    pins.entries(),
                    describe(&output)
                );
                assert_eq!(
                    net.xdp_on(&net.xdp_if),
                    kept_before,
                    "{what}: {} is as it was: {}",
                    net.xdp_if,
                    describe(&output)
                );
                outcomes.push(code);
            }
            None => panic!("{what}: killed by a signal: {}", describe(&output)),
        }
    }
    eprintln!("interface deleted while loading, exit codes by try: {outcomes:?}");
    // Take the surviving program off, drop every pin: nothing of these runs may remain.
    net.link_set(&["xdpgeneric", "off"]);
    before_all.assert_unchanged("after the deleted-interface runs");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn two_runs_on_one_interface_at_the_same_time() {
    const ROUNDS: usize = 5;
    let _lock = kernel_lock();
    let net = FaultNet::new();
    let before = Watch::kern().take();
    let kern = renamed_kern();
    let object = kern.as_str().to_string();
    let pin_dir = net.pin_dir.display().to_string();
    let args = [
        "-file",
        &object,
        "-prog",
        ENTRY,
        "-i",
        &net.xdp_if,
        "-pin-path",
        &pin_dir,
    ];
    let mut busy = 0;
    for round in 0..ROUNDS {
        let first = net.spawn(xdploader(), &args);
        let second = net.spawn(xdploader(), &args);
        let outputs = [
            first.wait_with_output().expect("first run"),
            second.wait_with_output().expect("second run"),
        ];
        let mut succeeded = 0;
        for (index, output) in outputs.iter().enumerate() {
            let what = format!("round {round}, run {index}");
            assert_no_panic(output, &what);
            if output.status.success() {
                succeeded += 1;
                continue;
            }
            let line = assert_fails(output, ExitKind::Environment, &what);
            assert_mentions(
                &line,
                &[&format!(
                    "another xdploader run is changing {} right now",
                    net.xdp_if
                )],
                &what,
            );
            busy += 1;
        }
        assert!(
            succeeded >= 1,
            "round {round}: one of the two runs wins: {}\n{}",
            describe(&outputs[0]),
            describe(&outputs[1])
        );
    }
    eprintln!("two runs at once: {busy} of {ROUNDS} rounds had a run refused as busy");

    // One consistent load: one entry program attached, its chain wired to the pinned maps.
    let (_, entry) = net.attached().expect("a program attached");
    let entry_info = prog_show_id(entry);
    assert_eq!(entry_info["name"].as_str(), Some(ENTRY));
    let jmp_map = map_id_pinned(&net.pin("flt_jmp"));
    let stats_map = map_id_pinned(&net.pin("stats_map"));
    let map_ids = |info: &Value| -> Vec<u64> {
        info["map_ids"]
            .as_array()
            .map(|ids| ids.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default()
    };
    assert!(
        map_ids(&entry_info).contains(&jmp_map) && map_ids(&entry_info).contains(&stats_map),
        "the entry program uses the pinned prog array and stats_map: {entry_info}"
    );
    let slots = prog_array_slots(&net.pin("flt_jmp"));
    assert_eq!(
        slots.iter().map(|(slot, _)| *slot).collect::<Vec<_>>(),
        [1, 2],
        "slots 1 and 2 filled: {slots:?}"
    );
    for (slot, id) in &slots {
        let info = prog_show_id(*id);
        assert_eq!(
            info["name"].as_str(),
            Some(format!("{ENTRY}_{slot}").as_str()),
            "{info}"
        );
        assert!(map_ids(&info).contains(&stats_map), "slot {slot}: {info}");
    }
    // Of all the programs these runs loaded, only the attached chain is left.
    let chain: BTreeSet<u64> = slots.iter().map(|(_, id)| *id).chain([entry]).collect();
    let left = || -> BTreeSet<u64> {
        named("prog", &before.watch.programs)
            .difference(&before.programs)
            .map(|(id, _)| *id)
            .collect()
    };
    assert!(
        wait_for(SETTLE, || left() == chain),
        "only the attached chain {chain:?} remains, not {:?}",
        left()
    );
}
