//! Replacing what runs: a reload under a steady stream loses no packet, a program that
//! is not ours is refused unless forced, and a failure on one interface rolls the others
//! back.

use super::*;

const XDP_ABORTED: usize = 0;

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn reloading_under_a_steady_stream_counts_every_packet() {
    // 4000 datagrams a second for 3 s: dense enough that a gap of a fraction of a
    // millisecond in any of the reloads would cost packets.
    const DATAGRAMS: usize = 12_000;
    const GAP: Duration = Duration::from_micros(250);
    const PAYLOAD: u64 = 32;
    const RELOADS: usize = 5;
    let ops = Ops::new();
    ops.load_ok();
    let stats = ops.pin("stats_map");
    let stats_id = pinned_map_id(&stats);
    let (_, first) = ops.attached().expect("attached");
    let before = bpftool_counts(&stats);
    assert_eq!(before, vec![(0, 0); 5], "nothing arrived yet");

    let mut ids = vec![first];
    let mut windows = Vec::new();
    let (sent, send_start, send_end) = std::thread::scope(|scope| {
        let sender = scope.spawn(|| ops.send_paced(DATAGRAMS, PAYLOAD as usize, GAP));
        std::thread::sleep(Duration::from_millis(300));
        for _ in 0..RELOADS {
            let start = Instant::now();
            let out = ok(ops.load(&[]));
            windows.push((start, Instant::now()));
            assert!(out.contains("atomically"), "an atomic replace:\n{out}");
            let (mode, id) = ops.attached().expect("still attached");
            assert_eq!(mode, XDP_ATTACHED_SKB);
            ids.push(id);
            assert_eq!(pinned_map_id(&stats), stats_id, "the same stats map");
            std::thread::sleep(Duration::from_millis(150));
        }
        sender.join().expect("sender thread")
    });
    assert_eq!(sent, DATAGRAMS, "every datagram left the socket");
    for (start, end) in &windows {
        assert!(
            *start > send_start && *end < send_end,
            "each reload ran while the stream was flowing (make the stream longer if not)"
        );
    }
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        RELOADS + 1,
        "each reload attached a new program: {ids:?}"
    );

    let sent = sent as u64;
    wait_for(SETTLE, || bpftool_counts(&stats)[XDP_PASS].0 >= sent);
    std::thread::sleep(Duration::from_millis(200));
    let counts = bpftool_counts(&stats);
    assert_eq!(counts[XDP_ABORTED], (0, 0), "no packet aborted: {counts:?}");
    assert_eq!(
        counts[XDP_PASS],
        (sent, sent * (PAYLOAD + UDP_FRAME_OVERHEAD)),
        "XDP_PASS counted exactly the datagrams sent: {counts:?}"
    );
    assert_eq!(
        counts.iter().map(|(packets, _)| packets).sum::<u64>(),
        sent,
        "nothing else: {counts:?}"
    );
    // The replaced entry programs are freed.
    assert!(
        wait_for(SETTLE, || ids[..RELOADS].iter().all(|id| !prog_exists(*id))),
        "replaced programs {:?} must be freed",
        &ids[..RELOADS]
    );
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_program_that_is_not_ours_is_refused_unless_forced() {
    let ops = Ops::new();
    let interface = ops.xdp_if.clone();
    let variants = fixture("xdp_variants");
    ok(ops.loader(&[
        "-file",
        variants.to_str().expect("utf-8"),
        "-i",
        &interface,
        "-prog",
        "xdp_plain",
    ]));
    let (mode, other) = ops.xdp_on(&interface).expect("xdp_plain attached");
    assert_eq!(prog_name(other), "xdp_plain");

    let err = failed(&ops.load(&[]), 4);
    assert!(
        err.contains("xdp_plain") && err.contains(&format!("id {other}")),
        "names what is attached: {err}"
    );
    assert!(err.contains("-force"), "says how to proceed: {err}");
    assert_eq!(
        ops.xdp_on(&interface),
        Some((mode, other)),
        "the other program is still attached"
    );
    assert_eq!(
        ops.pins(),
        Vec::<String>::new(),
        "no pins left by the refused run"
    );

    let out = ok(ops.load(&["-force"]));
    let (_, ours) = ops.xdp_on(&interface).expect("attached");
    assert_ne!(ours, other);
    assert_eq!(
        prog_name(ours),
        "xdp_skeleton",
        "replaced with -force\n{out}"
    );
    assert!(wait_for(SETTLE, || !prog_exists(other)), "xdp_plain freed");
    ops.xdp_off(&interface);
    ops.remove_pins();

    // libxdp's dispatcher, attached by xdp-loader (xdp-tools), with its own hint.
    let xdp_loader = "/usr/sbin/xdp-loader";
    assert!(
        Path::new(xdp_loader).exists(),
        "xdp-loader is not installed: run scripts/install-deps.sh (it installs xdp-tools)"
    );
    // libxdp pins its dispatcher under $LIBXDP_BPFFS/xdp: a private directory.
    let libxdp_dir = PinDir::new("libxdp");
    std::fs::create_dir_all(&libxdp_dir.path).expect("libxdp bpffs dir");
    let netns = format!("--net=/run/netns/{}", ops.xdp_ns);
    let libxdp = |args: &[&str]| -> Output {
        let mut all = vec![netns.as_str(), "env"];
        let bpffs = format!("LIBXDP_BPFFS={}", libxdp_dir.as_str());
        all.push(&bpffs);
        all.push(xdp_loader);
        all.extend_from_slice(args);
        run("nsenter", &all)
    };
    let loaded = libxdp(&[
        "load",
        "-m",
        "skb",
        "-n",
        "xdp_plain",
        &interface,
        variants.to_str().expect("utf-8"),
    ]);
    assert!(
        loaded.status.success(),
        "xdp-loader load: {}{}",
        stdout(&loaded),
        stderr(&loaded)
    );
    // Unload it whatever happens next.
    struct Unload<'a>(&'a dyn Fn(&[&str]) -> Output, &'a str);
    impl Drop for Unload<'_> {
        fn drop(&mut self) {
            let _ = (self.0)(&["unload", self.1, "--all"]);
        }
    }
    let unload = Unload(&libxdp, &interface);
    let (_, theirs) = ops
        .xdp_on(&interface)
        .expect("xdp-loader attached a program");
    let err = failed(&ops.load(&[]), 4);
    assert!(err.contains("-force"), "{err}");
    if prog_name(theirs) == "xdp_dispatcher" {
        assert!(err.contains("xdp_dispatcher"), "{err}");
        assert!(
            err.contains(&format!("xdp-loader unload {interface} --all")),
            "the other tool's own unload command: {err}"
        );
    } else {
        // libxdp falls back to attaching the program alone where the kernel refuses its
        // dispatcher's freplace (BPF_PROG_TYPE_EXT) programs.
        eprintln!(
            "libxdp attached {} without its dispatcher on this kernel: dispatcher hint not checked",
            prog_name(theirs)
        );
        assert!(err.contains(&prog_name(theirs)), "{err}");
    }
    assert_eq!(
        ops.xdp_on(&interface).map(|(_, id)| id),
        Some(theirs),
        "xdp-loader's program is still attached"
    );
    assert_eq!(
        ops.pins(),
        Vec::<String>::new(),
        "no pins left by the refused run"
    );
    drop(unload);
    assert_eq!(ops.xdp_on(&interface), None, "xdp-loader unloaded it");
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn a_failure_on_one_interface_rolls_back_the_others() {
    let ops = Ops::new();
    let good = ops.xdp_if.clone();
    // Native mode on `opsr0` fails: its peer has MTU 9000.
    ops.local_pair("opsr0", "opsr1", 9000, true);
    let both = format!("{good},opsr0");

    // Nothing attached before: nothing attached after, no pins.
    let output = ops.load_on(&both, &["-mode", "drv"]);
    let err = failed(&output, 3);
    assert!(err.contains("opsr0"), "{err}");
    assert!(
        stdout(&output).contains(&format!("Rolling back {good}")),
        "{}",
        stdout(&output)
    );
    assert_eq!(ops.xdp_on(&good), None, "{good} is free again");
    assert_eq!(ops.xdp_on("opsr0"), None);
    assert_eq!(ops.pins(), Vec::<String>::new(), "no pins left");

    // Our program in generic mode before (a mode switch on the good interface), then in
    // native mode (an atomic replace there): each time the old program comes back, the
    // pins are the same maps as before, and the chain still counts every packet.
    for mode in ["skb", "drv"] {
        ok(ops.load_on(&good, &["-mode", mode]));
        let before = ops.xdp_on(&good).expect("attached");
        let pins = ops.pins();
        let pin_ids: Vec<u64> = pins
            .iter()
            .map(|pin| pinned_map_id(&ops.pin(pin)))
            .collect();

        let output = ops.load_on(&both, &["-mode", "drv"]);
        failed(&output, 3);
        assert!(
            stdout(&output).contains(&format!("Rolling back {good}")),
            "{}",
            stdout(&output)
        );
        assert_eq!(
            ops.xdp_on(&good),
            Some(before),
            "{good} is back to the program it had ({mode} mode)"
        );
        assert_eq!(ops.pins(), pins, "no new pins");
        let ids: Vec<u64> = pins
            .iter()
            .map(|pin| pinned_map_id(&ops.pin(pin)))
            .collect();
        assert_eq!(ids, pin_ids, "the same pinned maps");

        let counts = send_and_count(&ops, 20);
        assert_eq!(
            counts[XDP_ABORTED].0, 0,
            "the restored chain is intact ({mode}): {counts:?}"
        );
        ops.xdp_off(&good);
        for pin in &pins {
            std::fs::remove_file(ops.pin(pin)).expect("remove pin");
        }
    }
}
