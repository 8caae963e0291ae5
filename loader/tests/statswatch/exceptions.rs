//! `statswatch -exceptions`: an XDP program that returns XDP_ABORTED for ICMP echo
//! requests, attached in generic mode to the test's veth; N pings from the sender
//! namespace to the XDP side (bounded by count and time, addresses inside the test's
//! namespaces only); the view shows exactly N XDP_ABORTED for that interface and that
//! program. statswatch runs in the XDP namespace, so it names the interface; it filters
//! nothing, so the test picks its own line by interface and program id (other tests
//! may run XDP programs that abort at the same time). Ctrl-C detaches.

use super::*;

/// The frame lines `  IF  PROG  XDP_ABORTED  COUNT  LAST` for `interface` and `prog_id`:
/// the counts, in the order the frames came.
fn aborted_counts(lines: &[String], interface: &str, prog_id: u64) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [name, id, "XDP_ABORTED", count, _]
                    if *name == interface && *id == prog_id.to_string() =>
                {
                    count.parse().ok()
                }
                _ => None,
            }
        })
        .collect()
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn exceptions_counts_each_aborted_ping_on_the_test_interface_exactly() {
    const PINGS: u64 = 5;
    let net = TestNet::new();
    let object = repo_root().join("loader/tests/fixtures/xdp_abort_icmp.elf");
    assert!(
        object.exists(),
        "{} is missing: make -C loader/tests/fixtures",
        object.display()
    );
    let pin_dir = net.pin_dir.display().to_string();
    let attach = net.in_xdp_ns(
        xdploader(),
        &[
            "-file",
            path_str(&object),
            "-prog",
            "xdp_abort_icmp",
            "-i",
            &net.xdp_if,
            "-mode",
            "skb",
            "-pin-path",
            &pin_dir,
        ],
    );
    assert!(attach.status.success(), "attach: {}", describe(&attach));
    let (_, prog_id) = net.attached().expect("xdp_abort_icmp is attached");

    let netns = format!("--net=/run/netns/{}", net.xdp_ns);
    let mut command = Command::new("nsenter");
    command
        .args([
            netns.as_str(),
            statswatch(),
            "-exceptions",
            "-interval",
            "0.2",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut process = Running::spawn(&mut command);
    let stdout = line_channel(process.child.stdout.take().expect("stdout"));
    let stderr = byte_collector(process.child.stderr.take().expect("stderr"));
    let mut lines: Vec<String> = Vec::new();
    let wait_until = |lines: &mut Vec<String>,
                      limit: Duration,
                      done: &dyn Fn(&[String]) -> bool| {
        let start = Instant::now();
        while !done(lines) {
            let left = limit.saturating_sub(start.elapsed());
            match stdout.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(line) => lines.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => {}
                Err(_) => panic!(
                    "statswatch -exceptions did not show what was expected within {limit:?}:\n{}\nstderr: {}",
                    lines.join("\n"),
                    collected(&stderr)
                ),
            }
        }
    };
    wait_until(&mut lines, Duration::from_secs(30), &|lines| {
        lines
            .iter()
            .any(|line| line == "Watching every 0.2s; press Ctrl-C to detach and stop")
    });
    let link_ids: Vec<String> = lines
        .iter()
        .filter(|line| line.starts_with("Attached "))
        .filter_map(|line| Some(line.rsplit_once("link id ")?.1.to_string()))
        .collect();
    assert_eq!(link_ids.len(), 2, "two links: {lines:#?}");

    // Echo requests only to the XDP side's address, inside the test's namespaces; every
    // one is aborted, so ping gets no reply and exits 1. No -w: with it, -c counts
    // replies and ping would go on sending until the deadline.
    let count = PINGS.to_string();
    let target = XDP_SIDE_IP.to_string();
    let _ = run(
        "ip",
        &[
            "netns",
            "exec",
            &net.sender_ns,
            "ping",
            "-q",
            "-n",
            "-c",
            &count,
            "-i",
            "0.05",
            "-W",
            "1",
            &target,
        ],
    );
    wait_until(&mut lines, Duration::from_secs(20), &|lines| {
        aborted_counts(lines, &net.xdp_if, prog_id).last() == Some(&PINGS)
    });
    // And no more than that, a few intervals later.
    let shown = lines.len();
    wait_until(&mut lines, Duration::from_secs(20), &|lines| {
        aborted_counts(&lines[shown..], &net.xdp_if, prog_id).len() >= 2
    });
    assert_eq!(
        aborted_counts(&lines[shown..], &net.xdp_if, prog_id).last(),
        Some(&PINGS),
        "{}",
        lines.join("\n")
    );

    send_signal(process.pid(), "INT");
    let status = process.wait_for_exit(Duration::from_secs(10));
    assert!(
        status.success(),
        "Ctrl-C ends -exceptions with exit 0: {status}"
    );
    while let Ok(line) = stdout.recv_timeout(Duration::from_secs(2)) {
        lines.push(line);
    }
    assert_eq!(
        lines.last().map(String::as_str),
        Some("Detached 2 programs from the XDP tracepoints"),
        "{}",
        lines.join("\n")
    );
    let listed = run_ok("bpftool", &["link", "show"]);
    for id in &link_ids {
        assert!(
            !listed
                .lines()
                .any(|line| line.starts_with(&format!("{id}:"))),
            "link {id} is gone: {listed}"
        );
    }
}
