//! What statswatch shows: the original's counter lines (and per-CPU lines under them), the
//! live view's table with SI-prefixed rates, the terminal redraw sequences, and one JSON
//! object per sample with its keys in a fixed order. Pure formatting.

use serde_json::Value;
use sys::MapInfo;

use crate::stats::counters::{DataRec, Sample};
use crate::stats::rates::{Observation, Rate};
use crate::vocab::map_type_name;

/// The line above the counters: which map, of what type.
pub fn found_line(info: &MapInfo) -> String {
    format!(
        "Found map {} of type {}",
        info.name,
        map_type_name(info.map_type)
    )
}

/// One line of statswatch's output, aligned as the original.
pub fn format_line(action_name: &str, record: DataRec) -> String {
    format!(
        "    {:<14}{} packets / {} bytes",
        format!("{action_name}:"),
        record.rx_packets,
        record.rx_bytes
    )
}

/// One CPU's line under its action in `-percpu` output.
pub fn format_cpu_line(cpu: u32, record: DataRec) -> String {
    format!(
        "        {:<10}{} packets / {} bytes",
        format!("CPU {cpu}:"),
        record.rx_packets,
        record.rx_bytes
    )
}

/// A number with an SI prefix: `999.9`, `1.23 k`, `45.60 M`.
pub fn si(value: f64) -> String {
    if !value.is_finite() || value < 0.0 {
        return "-".to_string();
    }
    const PREFIXES: [(f64, &str); 4] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
    for (scale, prefix) in PREFIXES {
        if value >= scale {
            return format!("{:.2} {prefix}", value / scale);
        }
    }
    format!("{value:.1}")
}

/// Packets per second as the live view shows them.
pub fn format_pps(rate: Option<Rate>) -> String {
    rate.map_or_else(|| "-".to_string(), |rate| si(rate.pps))
}

/// Bits per second as the live view shows them: `1.23 Mbit/s`.
pub fn format_bps(rate: Option<Rate>) -> String {
    rate.map_or_else(
        || "-".to_string(),
        |rate| {
            let number = si(rate.bps);
            match number.split_once(' ') {
                Some((value, prefix)) => format!("{value} {prefix}bit/s"),
                None => format!("{number} bit/s"),
            }
        },
    )
}

/// `2026-11-25 12:00:01 UTC` from seconds since the Unix epoch.
pub fn utc_time(unix_seconds: f64) -> String {
    let seconds = if unix_seconds.is_finite() && unix_seconds > 0.0 {
        unix_seconds as u64
    } else {
        0
    };
    let days = (seconds / 86_400) as i64;
    let of_day = seconds % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// The lines of the default output for one sample (after the "Found map" line): one per
/// action, and with `cpus` one per CPU under it.
pub fn format_counters(sample: &Sample, cpus: Option<&[u32]>) -> Vec<String> {
    let mut lines = Vec::new();
    for action in &sample.actions {
        lines.push(format_line(&action.name(), action.total()));
        if let Some(cpus) = cpus {
            for (cpu, record) in cpus.iter().zip(&action.per_cpu) {
                lines.push(format_cpu_line(*cpu, *record));
            }
        }
    }
    lines
}

fn table_row(label: &str, record: DataRec, rate: Option<Rate>) -> String {
    format!(
        "{label}{:>14}{:>16}{:>14}{:>16}",
        record.rx_packets,
        record.rx_bytes,
        format_pps(rate),
        format_bps(rate)
    )
}

/// One frame of the live view: a header, then a row per action (and with `cpus` a row
/// per CPU under it) with packets, bytes, packets/s and bits/s. Rates show as `-` until
/// there is an interval to take them over.
pub fn format_frame(observation: &Observation, cpus: Option<&[u32]>) -> Vec<String> {
    let sample = &observation.sample;
    let over = match observation.interval {
        Some(seconds) => format!("rates over {seconds:.2} s"),
        None => "rates from the next sample".to_string(),
    };
    let mut lines = vec![
        format!(
            "{} (id {}), {}, {over}",
            sample.map_name,
            sample.map_id,
            utc_time(sample.time)
        ),
        format!(
            "    {:<14}{:>14}{:>16}{:>14}{:>16}",
            "ACTION", "PACKETS", "BYTES", "PACKETS/S", "BITS/S"
        ),
    ];
    for (index, action) in sample.actions.iter().enumerate() {
        let rates = observation.rates.get(index);
        lines.push(table_row(
            &format!("    {:<14}", action.name()),
            action.total(),
            rates.map(|rates| rates.total),
        ));
        if let Some(cpus) = cpus {
            for (slot, (cpu, record)) in cpus.iter().zip(&action.per_cpu).enumerate() {
                let rate = rates.and_then(|rates| rates.per_cpu.get(slot).copied());
                lines.push(table_row(
                    &format!("      {:<12}", format!("CPU {cpu}")),
                    *record,
                    rate,
                ));
            }
        }
    }
    lines
}

/// Hides the cursor while the live view redraws itself.
pub const HIDE_CURSOR: &str = "\x1b[?25l";

/// Shows the cursor again: written when the live view ends, however it ends.
pub const SHOW_CURSOR: &str = "\x1b[?25h";

/// What redraws a frame in place: move the cursor up over the `previous_lines` of the
/// last frame, then write each line over a cleared line, then clear anything below.
pub fn redraw(previous_lines: usize, lines: &[String]) -> String {
    let mut out = String::new();
    if previous_lines > 0 {
        out.push_str(&format!("\x1b[{previous_lines}A"));
    }
    for line in lines {
        out.push_str("\x1b[2K");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("\x1b[J");
    out
}

/// What puts a notice above the live view: move up over the last frame, clear it, write
/// the notice (it stays in the scrollback); the frame is drawn again below it.
pub fn notice_above(previous_lines: usize, notice: &str) -> String {
    let mut out = String::new();
    if previous_lines > 0 {
        out.push_str(&format!("\x1b[{previous_lines}A"));
    }
    out.push_str("\x1b[J");
    out.push_str(notice);
    out.push('\n');
    out
}

fn json_object(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("{}:{value}", Value::from(*key)))
        .collect();
    format!("{{{}}}", body.join(","))
}

fn json_array(items: Vec<String>) -> String {
    format!("[{}]", items.join(","))
}

/// A float rounded to `digits` decimals, or `null` when it is not a number.
fn json_float(value: f64, digits: i32) -> String {
    let scale = 10f64.powi(digits);
    Value::from((value * scale).round() / scale).to_string()
}

fn json_rate_fields(fields: &mut Vec<(&str, String)>, rate: Option<Rate>) {
    let (pps, bps) = match rate {
        Some(rate) => (json_float(rate.pps, 3), json_float(rate.bps, 3)),
        None => ("null".to_string(), "null".to_string()),
    };
    fields.push(("pps", pps));
    fields.push(("bps", bps));
}

/// One sample as one line of JSON, keys in a fixed order:
/// `{"map", "map_id", "time", ["interval", "reset"], "actions": [{"action", "packets",
/// "bytes", ["pps", "bps"], ["cpus": [{"cpu", "packets", "bytes", ["pps", "bps"]}]]}]}`.
/// `watching` adds the interval and the rates (`null` on the first sample and on a new
/// baseline); `cpus` adds the per-CPU breakdown.
pub fn format_json(
    observation: &Observation,
    watching: bool,
    cpus: Option<&[u32]>,
    reset_text: Option<&str>,
) -> String {
    let sample = &observation.sample;
    let mut fields = vec![
        ("map", Value::from(sample.map_name.as_str()).to_string()),
        ("map_id", sample.map_id.to_string()),
        ("time", json_float(sample.time, 6)),
    ];
    if watching {
        fields.push((
            "interval",
            observation
                .interval
                .map_or_else(|| "null".to_string(), |seconds| json_float(seconds, 6)),
        ));
        if let Some(text) = reset_text {
            fields.push(("reset", Value::from(text).to_string()));
        }
    }
    let actions = sample
        .actions
        .iter()
        .enumerate()
        .map(|(index, action)| {
            let rates = observation.rates.get(index);
            let total = action.total();
            let mut fields = vec![
                ("action", Value::from(action.name()).to_string()),
                ("packets", total.rx_packets.to_string()),
                ("bytes", total.rx_bytes.to_string()),
            ];
            if watching {
                json_rate_fields(&mut fields, rates.map(|rates| rates.total));
            }
            if let Some(cpus) = cpus {
                let per_cpu = cpus
                    .iter()
                    .zip(&action.per_cpu)
                    .enumerate()
                    .map(|(slot, (cpu, record))| {
                        let mut fields = vec![
                            ("cpu", cpu.to_string()),
                            ("packets", record.rx_packets.to_string()),
                            ("bytes", record.rx_bytes.to_string()),
                        ];
                        if watching {
                            json_rate_fields(
                                &mut fields,
                                rates.and_then(|rates| rates.per_cpu.get(slot).copied()),
                            );
                        }
                        json_object(&fields)
                    })
                    .collect();
                fields.push(("cpus", json_array(per_cpu)));
            }
            json_object(&fields)
        })
        .collect();
    fields.push(("actions", json_array(actions)));
    json_object(&fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::counters::test_samples::{rec, sample};
    use crate::stats::rates::Watch;

    #[test]
    fn lines_align_like_the_original() {
        assert_eq!(
            format_line("XDP_PASS", rec(7, 574)),
            "    XDP_PASS:     7 packets / 574 bytes"
        );
        assert_eq!(
            format_line("XDP_ABORTED", DataRec::default()),
            "    XDP_ABORTED:  0 packets / 0 bytes"
        );
        assert_eq!(
            format_line("XDP_REDIRECT", DataRec::default()),
            "    XDP_REDIRECT: 0 packets / 0 bytes"
        );
    }

    #[test]
    fn per_cpu_lines_sit_under_their_action() {
        let sample = sample(7, 0.0, [(9, 780), (2, 196)]);
        let lines = format_counters(&sample, Some(&[0, 1]));
        assert_eq!(lines.len(), 15);
        assert_eq!(lines[6], "    XDP_PASS:     11 packets / 976 bytes");
        assert_eq!(lines[7], "        CPU 0:    9 packets / 780 bytes");
        assert_eq!(lines[8], "        CPU 1:    2 packets / 196 bytes");
        assert_eq!(format_counters(&sample, None).len(), 5);
    }

    #[test]
    fn si_prefixes_and_units() {
        assert_eq!(si(0.0), "0.0");
        assert_eq!(si(999.94), "999.9");
        assert_eq!(si(1234.0), "1.23 k");
        assert_eq!(si(45_600_000.0), "45.60 M");
        assert_eq!(si(f64::NAN), "-");
        let rate = Some(Rate {
            pps: 5.0,
            bps: 8_000_000.0,
        });
        assert_eq!(format_pps(rate), "5.0");
        assert_eq!(format_bps(rate), "8.00 Mbit/s");
        assert_eq!(format_bps(Some(Rate { pps: 0.0, bps: 0.0 })), "0.0 bit/s");
        assert_eq!(format_bps(None), "-");
    }

    #[test]
    fn utc_times() {
        assert_eq!(utc_time(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_time(951_782_400.5), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_time(1_764_072_001.9), "2025-11-25 12:00:01 UTC");
        assert_eq!(utc_time(-5.0), "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn frames_have_a_header_and_a_row_per_action() {
        let mut watch = Watch::default();
        let first = watch.observe(sample(7, 0.0, [(0, 0), (0, 0)]));
        let lines = format_frame(&first, None);
        assert_eq!(lines.len(), 7);
        assert_eq!(
            lines[0],
            "stats_map (id 7), 2025-11-25 12:00:00 UTC, rates from the next sample"
        );
        assert_eq!(
            lines[1],
            "    ACTION               PACKETS           BYTES     PACKETS/S          BITS/S"
        );
        assert_eq!(
            lines[4],
            "    XDP_PASS                   0               0             -               -"
        );
        let second = watch.observe(sample(7, 1.0, [(1000, 1_000_000), (0, 0)]));
        let lines = format_frame(&second, Some(&[0, 1]));
        assert_eq!(lines.len(), 2 + 5 * 3);
        assert!(lines[0].ends_with("rates over 1.00 s"), "{}", lines[0]);
        assert_eq!(
            lines[8],
            "    XDP_PASS                1000         1000000        1.00 k     8.00 Mbit/s"
        );
        assert_eq!(
            lines[9],
            "      CPU 0                 1000         1000000        1.00 k     8.00 Mbit/s"
        );
        assert!(lines.iter().all(|line| line.len() < 80), "{lines:#?}");
    }

    #[test]
    fn terminal_redraws_move_up_and_clear() {
        let lines = vec!["a".to_string(), "b".to_string()];
        assert_eq!(redraw(0, &lines), "\x1b[2Ka\n\x1b[2Kb\n\x1b[J");
        assert_eq!(redraw(2, &lines), "\x1b[2A\x1b[2Ka\n\x1b[2Kb\n\x1b[J");
        assert_eq!(notice_above(2, "replaced"), "\x1b[2A\x1b[Jreplaced\n");
        assert_eq!(notice_above(0, "gone"), "\x1b[Jgone\n");
    }

    #[test]
    fn json_without_watch_has_counters_only() {
        let observation = Observation::single(sample(7, 0.0, [(9, 780), (2, 196)]));
        let text = format_json(&observation, false, None, None);
        assert!(
            text.starts_with(r#"{"map":"stats_map","map_id":7,"time":1764072000.25,"actions":["#),
            "{text}"
        );
        let value: Value = serde_json::from_str(&text).expect("valid JSON");
        let actions = value["actions"].as_array().expect("actions");
        assert_eq!(actions.len(), 5);
        assert_eq!(actions[2]["action"], "XDP_PASS");
        assert_eq!(actions[2]["packets"], 11);
        assert_eq!(actions[2]["bytes"], 976);
        assert!(actions[2].get("pps").is_none());
        assert!(value.get("interval").is_none());
        assert!(!text.contains('\n'));
    }

    #[test]
    fn json_while_watching_has_interval_and_rates() {
        let mut watch = Watch::default();
        let first = watch.observe(sample(7, 0.0, [(0, 0), (0, 0)]));
        let value: Value =
            serde_json::from_str(&format_json(&first, true, None, None)).expect("JSON");
        assert!(value["interval"].is_null());
        assert!(value["actions"][2]["pps"].is_null());
        let second = watch.observe(sample(7, 0.2, [(30, 3000), (10, 1000)]));
        let text = format_json(&second, true, Some(&[0, 1]), None);
        let value: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(value["interval"], 0.2);
        let pass = &value["actions"][2];
        assert_eq!(pass["packets"], 40);
        assert_eq!(pass["pps"], 200.0);
        assert_eq!(pass["bps"], 160_000.0);
        assert_eq!(pass["cpus"][0]["cpu"], 0);
        assert_eq!(pass["cpus"][1]["packets"], 10);
        assert_eq!(pass["cpus"][1]["pps"], 50.0);
        let keys: Vec<&str> = value
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 5, "{keys:?}");
        let reset = watch.observe(sample(8, 0.4, [(1, 100), (0, 0)]));
        let text = format_json(&reset, true, None, Some("replaced"));
        let value: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(value["reset"], "replaced");
        assert!(value["interval"].is_null());
        assert!(value["actions"][2]["bps"].is_null());
    }
}
