//! What a run writes: -out (the passed packets, unchanged), -json (parses and matches
//! the run), and a pcapng capture giving the same run as a pcap.

use super::*;

/// A classic pcap's records, read here by hand: (link type, [(ts_sec, ts_usec, bytes)]).
fn read_pcap(bytes: &[u8]) -> (u32, Vec<(u32, u32, Vec<u8>)>) {
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!(word(0), 0xa1b2_c3d4, "a little-endian microsecond pcap");
    let link_type = word(20);
    let mut records = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let length = word(at + 8) as usize;
        assert_eq!(
            word(at + 12) as usize,
            length,
            "orig_len of an unchanged frame"
        );
        records.push((
            word(at),
            word(at + 4),
            bytes[at + 16..at + 16 + length].to_vec(),
        ));
        at += 16 + length;
    }
    (link_type, records)
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn out_writes_the_passed_packets_unchanged() {
    require_root();
    let pin_dir = PinDir::new("run-out");
    let frames = frames();
    let capture = TempFile::new("run-out-in.pcap", &pcap(&frames));
    let out = TempFile::new("run-out.pcap", b"");
    let stdout = run_xdp_ok(&capture, &pin_dir, &["-out", out.as_str()]);
    assert!(
        stdout.contains(&format!(
            "Wrote 5 packets (XDP_PASS and XDP_TX, as the program left them) to {}",
            out.as_str()
        )),
        "{stdout}"
    );
    let written = std::fs::read(&out.path).expect("read -out");
    let (link_type, records) = read_pcap(&written);
    assert_eq!(link_type, 1, "Ethernet, as the input");
    let expected: Vec<(u32, u32, Vec<u8>)> = frames
        .iter()
        .enumerate()
        .filter(|(_, frame)| frame.verdict == Some("XDP_PASS"))
        .map(|(index, frame)| (TS_SEC + index as u32, TS_USEC, frame.bytes.clone()))
        .collect();
    assert_eq!(records, expected, "XDP_PASS leaves every frame as it was");
    assert_stats(&pin_dir, &frames, 1);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn json_report_parses_and_matches_the_run() {
    require_root();
    let pin_dir = PinDir::new("run-json");
    let frames = frames();
    let capture = TempFile::new("run-json.pcap", &pcap(&frames));
    let stdout = run_xdp_ok(&capture, &pin_dir, &["-json", "-repeat", "10"]);
    let report: Value = json(stdout.trim());
    assert_eq!(report["object"], path_str(&xdp_object()));
    assert_eq!(report["program"], "xdp_skeleton");
    assert_eq!(report["format"], "pcap");
    assert_eq!(report["repeat"], 10);
    let packets = report["packets"].as_array().expect("packets");
    assert_eq!(packets.len(), frames.len());
    for (index, (packet, frame)) in packets.iter().zip(&frames).enumerate() {
        assert_eq!(packet["number"], index + 1, "{}", frame.what);
        assert_eq!(packet["len_in"], frame.bytes.len(), "{}", frame.what);
        match frame.verdict {
            Some(verdict) => {
                assert_eq!(packet["verdict"], verdict, "{}", frame.what);
                assert_eq!(packet["retval"], XDP_PASS, "{}", frame.what);
                assert_eq!(packet["len_out"], frame.bytes.len(), "{}", frame.what);
                assert!(packet["duration_ns"].is_u64(), "{}", frame.what);
            }
            None => {
                assert!(packet["verdict"].is_null(), "{}", frame.what);
                assert!(packet["retval"].is_null(), "{}", frame.what);
                assert!(packet["not_run"].is_string(), "{}", frame.what);
            }
        }
    }
    let summary = &report["summary"];
    assert_eq!(summary["packets"], 6);
    assert_eq!(summary["run"], 5);
    assert_eq!(summary["not_run"], 1);
    let expected = expected_counts(&frames, 1);
    for (key, name) in [
        "XDP_ABORTED",
        "XDP_DROP",
        "XDP_PASS",
        "XDP_TX",
        "XDP_REDIRECT",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(
            summary["verdicts"][name]["packets"], expected[key].0,
            "{name}"
        );
        assert_eq!(
            summary["verdicts"][name]["bytes"], expected[key].1,
            "{name}"
        );
    }
    assert!(summary["mean_ns"].as_f64().is_some_and(|mean| mean > 0.0));
    assert_stats(&pin_dir, &frames, 10);
}

#[test]
#[ignore = "needs root: run scripts/test.sh"]
fn pcapng_input_gives_the_same_run() {
    require_root();
    let pin_dir = PinDir::new("run-pcapng");
    let frames = frames();
    let capture = TempFile::new("run-in.pcapng", &pcapng(&frames));
    let out = TempFile::new("run-pcapng-out.pcap", b"");
    let stdout = run_xdp_ok(&capture, &pin_dir, &["-out", out.as_str()]);
    assert!(stdout.contains("(pcapng)"), "{stdout}");
    assert_rows_match_the_source(&stdout, &frames);
    assert_stats(&pin_dir, &frames, 1);
    // The nanosecond pcapng timestamps come out as they went in.
    let written = std::fs::read(&out.path).expect("read -out");
    let word = |at: usize| u32::from_le_bytes(written[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!(word(0), 0xa1b2_3c4d, "a nanosecond pcap");
    assert_eq!((word(24), word(28)), (TS_SEC, TS_USEC * 1000));
}
