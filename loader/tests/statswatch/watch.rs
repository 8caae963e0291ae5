//! The live view as JSON: exact totals, rates that follow the sent rate, and a map
//! replaced under a running watch starting a new baseline.

use super::*;

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
