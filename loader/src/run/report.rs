//! The results of a run: verdict names, the totals per verdict, the packets `-out`
//! writes, and the text and JSON reports. Pure.

use crate::run::pcap::{Capture, CaptureFormat, CapturedPacket};
use crate::run::test_runs::{Outcome, PacketResult};
use crate::vocab::XDP_ACTIONS;

const XDP_PASS: u32 = 2;

const XDP_TX: u32 = 3;

/// A verdict's name, or its number when it is not one of the five.
pub fn verdict_name(retval: u32) -> String {
    XDP_ACTIONS
        .get(retval as usize)
        .map_or_else(|| retval.to_string(), |name| name.to_string())
}

/// Packets and bytes (as they went in) for one verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerdictCount {
    pub retval: u32,
    pub packets: u64,
    pub bytes: u64,
}

/// The totals of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub packets: usize,
    pub run: usize,
    pub not_run: usize,
    /// The five XDP verdicts always, in value order, then any other return values seen.
    pub verdicts: Vec<VerdictCount>,
    /// The mean of the packets' kernel-reported mean times per run, in nanoseconds.
    pub mean_ns: Option<f64>,
}

/// Adds up the results.
pub fn summarize(results: &[PacketResult]) -> Summary {
    let mut verdicts: Vec<VerdictCount> = (0..XDP_ACTIONS.len() as u32)
        .map(|retval| VerdictCount {
            retval,
            packets: 0,
            bytes: 0,
        })
        .collect();
    let mut durations: Vec<u64> = Vec::new();
    for result in results {
        let Some(retval) = result.retval() else {
            continue;
        };
        let position = match verdicts.iter().position(|count| count.retval == retval) {
            Some(position) => position,
            None => {
                verdicts.push(VerdictCount {
                    retval,
                    packets: 0,
                    bytes: 0,
                });
                verdicts.len() - 1
            }
        };
        verdicts[position].packets += 1;
        verdicts[position].bytes += result.len_in as u64;
        durations.extend(result.duration_ns().map(u64::from));
    }
    verdicts[XDP_ACTIONS.len()..].sort_by_key(|count| count.retval);
    let run = durations.len();
    let mean_ns = (run > 0).then(|| durations.iter().sum::<u64>() as f64 / run as f64);
    Summary {
        packets: results.len(),
        run,
        not_run: results.len() - run,
        verdicts,
        mean_ns,
    }
}

/// The packets `-out` writes: the ones the program passed or sent back, as it left them.
pub fn output_packets(capture: &Capture, results: &[PacketResult]) -> Vec<CapturedPacket> {
    results
        .iter()
        .filter_map(|result| {
            let Outcome::Ran {
                retval, data_out, ..
            } = &result.outcome
            else {
                return None;
            };
            if *retval != XDP_PASS && *retval != XDP_TX {
                return None;
            }
            let input = capture.packets.get(result.number.checked_sub(1)?)?;
            // What the capture did not hold of the frame is still missing at the end.
            let uncaptured = input.orig_len.saturating_sub(input.data.len() as u32);
            Some(CapturedPacket {
                timestamp: input.timestamp,
                orig_len: (data_out.len() as u32).saturating_add(uncaptured),
                data: data_out.clone(),
            })
        })
        .collect()
}

/// What the text and JSON reports name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    pub object: String,
    pub program: String,
    pub capture: String,
    pub format: CaptureFormat,
    pub repeat: u32,
    /// Whether the program got an `xdp_md` context.
    pub context: bool,
}

/// The table header of the text report.
pub fn text_header(timed: bool) -> String {
    if timed {
        format!(
            "{:>6}  {:>7}  {:>7}  {:<12}  {:>10}",
            "packet", "len in", "len out", "verdict", "ns per run"
        )
    } else {
        format!(
            "{:>6}  {:>7}  {:>7}  {}",
            "packet", "len in", "len out", "verdict"
        )
    }
}

/// One row of the text report.
pub fn text_row(result: &PacketResult, timed: bool) -> String {
    match &result.outcome {
        Outcome::Ran {
            retval,
            data_out,
            duration_ns,
        } => {
            let verdict = verdict_name(*retval);
            if timed {
                format!(
                    "{:>6}  {:>7}  {:>7}  {verdict:<12}  {duration_ns:>10}",
                    result.number,
                    result.len_in,
                    data_out.len()
                )
            } else {
                format!(
                    "{:>6}  {:>7}  {:>7}  {verdict}",
                    result.number,
                    result.len_in,
                    data_out.len()
                )
            }
        }
        Outcome::NotRun { reason } => format!(
            "{:>6}  {:>7}  {:>7}  not run: {reason}",
            result.number, result.len_in, "-"
        ),
    }
}

/// The summary of the text report, one line each.
pub fn text_summary(info: &RunInfo, summary: &Summary, timed: bool) -> Vec<String> {
    let runs = if info.repeat > 1 {
        format!(", {} runs each", info.repeat)
    } else {
        String::new()
    };
    let not_run = if summary.not_run > 0 {
        format!(", {} not run", summary.not_run)
    } else {
        String::new()
    };
    let mut lines = vec![format!(
        "{} packets through {}{runs}{not_run}:",
        summary.packets, info.program
    )];
    let width = summary
        .verdicts
        .iter()
        .map(|count| verdict_name(count.retval).len())
        .max()
        .unwrap_or(0)
        + 1;
    for count in &summary.verdicts {
        let name = format!("{}:", verdict_name(count.retval));
        lines.push(format!(
            "    {name:<width$} {} packets / {} bytes",
            count.packets, count.bytes
        ));
    }
    if timed {
        if let Some(mean) = summary.mean_ns {
            lines.push(format!(
                "Mean time per run (the kernel's measure): {mean:.1} ns over {} packets x {} runs",
                summary.run, info.repeat
            ));
        }
    }
    lines
}

/// The whole run as one JSON document.
pub fn json_report(
    info: &RunInfo,
    results: &[PacketResult],
    summary: &Summary,
) -> serde_json::Value {
    let packets: Vec<serde_json::Value> = results
        .iter()
        .map(|result| {
            let mut packet = serde_json::json!({
                "number": result.number,
                "len_in": result.len_in,
                "len_out": result.len_out(),
                "verdict": result.retval().map(verdict_name),
                "retval": result.retval(),
                "duration_ns": result.duration_ns(),
            });
            if let Outcome::NotRun { reason } = &result.outcome {
                packet["not_run"] = serde_json::Value::from(reason.as_str());
            }
            packet
        })
        .collect();
    let mut verdicts = serde_json::Map::new();
    for count in &summary.verdicts {
        verdicts.insert(
            verdict_name(count.retval),
            serde_json::json!({ "packets": count.packets, "bytes": count.bytes }),
        );
    }
    serde_json::json!({
        "object": info.object,
        "program": info.program,
        "capture": info.capture,
        "format": info.format.name(),
        "repeat": info.repeat,
        "context": info.context,
        "packets": packets,
        "summary": {
            "packets": summary.packets,
            "run": summary.run,
            "not_run": summary.not_run,
            "verdicts": verdicts,
            "mean_ns": summary.mean_ns,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::pcap::test_captures::pcap_bytes;
    use crate::run::pcap::{read_capture, write_pcap};

    fn ran(number: usize, len_in: usize, retval: u32, len_out: usize, ns: u32) -> PacketResult {
        PacketResult {
            number,
            len_in,
            outcome: Outcome::Ran {
                retval,
                data_out: vec![0xab; len_out],
                duration_ns: ns,
            },
        }
    }

    fn not_run(number: usize, len_in: usize) -> PacketResult {
        PacketResult {
            number,
            len_in,
            outcome: Outcome::NotRun {
                reason: "short".into(),
            },
        }
    }

    #[test]
    fn verdicts_are_named_or_numbered() {
        assert_eq!(verdict_name(0), "XDP_ABORTED");
        assert_eq!(verdict_name(1), "XDP_DROP");
        assert_eq!(verdict_name(2), "XDP_PASS");
        assert_eq!(verdict_name(3), "XDP_TX");
        assert_eq!(verdict_name(4), "XDP_REDIRECT");
        assert_eq!(verdict_name(5), "5");
        assert_eq!(verdict_name(u32::MAX), "4294967295");
    }

    #[test]
    fn summary_counts_packets_bytes_and_mean_time() {
        let results = vec![
            ran(1, 60, 2, 60, 10),
            ran(2, 100, 2, 100, 20),
            ran(3, 42, 1, 42, 30),
            not_run(4, 10),
            ran(5, 64, 7, 64, 40),
            ran(6, 64, 5, 64, 0),
        ];
        let summary = summarize(&results);
        assert_eq!(summary.packets, 6);
        assert_eq!(summary.run, 5);
        assert_eq!(summary.not_run, 1);
        let counts: Vec<(u32, u64, u64)> = summary
            .verdicts
            .iter()
            .map(|count| (count.retval, count.packets, count.bytes))
            .collect();
        assert_eq!(
            counts,
            vec![
                (0, 0, 0),
                (1, 1, 42),
                (2, 2, 160),
                (3, 0, 0),
                (4, 0, 0),
                (5, 1, 64),
                (7, 1, 64)
            ]
        );
        assert_eq!(summary.mean_ns, Some(20.0));
    }

    #[test]
    fn summary_of_nothing_has_no_mean() {
        let summary = summarize(&[not_run(1, 3)]);
        assert_eq!(summary.run, 0);
        assert_eq!(summary.mean_ns, None);
        assert_eq!(summary.verdicts.len(), 5);
        assert!(summary.verdicts.iter().all(|count| count.packets == 0));
    }

    #[test]
    fn text_and_json_reports() {
        let info = RunInfo {
            object: "kern/xdp.elf".into(),
            program: "xdp_skeleton".into(),
            capture: "in.pcap".into(),
            format: CaptureFormat::Pcap { nanos: false },
            repeat: 1000,
            context: true,
        };
        let results = vec![ran(1, 60, 2, 60, 12), not_run(2, 10)];
        let summary = summarize(&results);
        assert_eq!(
            text_row(&results[0], true),
            "     1       60       60  XDP_PASS              12"
        );
        assert_eq!(
            text_row(&results[0], false),
            "     1       60       60  XDP_PASS"
        );
        assert_eq!(
            text_row(&results[1], false),
            "     2       10        -  not run: short"
        );
        let lines = text_summary(&info, &summary, true);
        assert_eq!(
            lines[0],
            "2 packets through xdp_skeleton, 1000 runs each, 1 not run:"
        );
        assert_eq!(lines[3], "    XDP_PASS:     1 packets / 60 bytes");
        assert_eq!(
            lines.last().map(String::as_str),
            Some("Mean time per run (the kernel's measure): 12.0 ns over 1 packets x 1000 runs")
        );
        let json = json_report(&info, &results, &summary);
        assert_eq!(json["packets"][0]["verdict"], "XDP_PASS");
        assert_eq!(json["packets"][0]["len_out"], 60);
        assert_eq!(json["packets"][1]["verdict"], serde_json::Value::Null);
        assert_eq!(json["packets"][1]["not_run"], "short");
        assert_eq!(json["summary"]["verdicts"]["XDP_PASS"]["bytes"], 60);
        assert_eq!(json["summary"]["mean_ns"], 12.0);
    }

    #[test]
    fn output_is_the_passed_packets_as_left_and_reads_back() {
        let capture = read_capture(&pcap_bytes(1, &[&[1; 60], &[2; 60], &[3; 70]])).expect("pcap");
        let results = vec![
            ran(1, 60, XDP_PASS, 60, 1),
            ran(2, 60, 1, 60, 1),
            ran(3, 70, XDP_TX, 50, 1),
        ];
        let out = output_packets(&capture, &results);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].timestamp, capture.packets[0].timestamp);
        assert_eq!(out[1].data.len(), 50);
        let mut bytes = Vec::new();
        write_pcap(&mut bytes, &out, false).expect("write");
        let back = read_capture(&bytes).expect("read back");
        assert_eq!(back.packets, out);
    }
}
