//! What statswatch computes and prints: per-CPU counters summed into totals, rates over
//! an interval, the baseline of a live view, and the text, terminal and JSON renderings.
//! Pure arithmetic and formatting over the bytes the kernel returns: no syscalls here.

use serde_json::Value;

use crate::vocab::xdp_action_name;

/// The value type of a stats map: `struct datarec { __u64 rx_packets; __u64 rx_bytes; }`.
pub const DATAREC_SIZE: u32 = 16;

/// Packets and bytes for one XDP action (on one CPU, or summed over CPUs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataRec {
    pub rx_packets: u64,
    pub rx_bytes: u64,
}

/// The kernel lays per-CPU values out at `round_up(value_size, 8)` bytes per CPU.
pub fn per_cpu_stride(value_size: u32) -> usize {
    (value_size as usize).div_ceil(8) * 8
}

fn le_u64(bytes: &[u8]) -> u64 {
    let mut raw = [0u8; 8];
    for (slot, byte) in raw.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    u64::from_le_bytes(raw)
}

/// One `datarec` per CPU from a per-CPU lookup buffer of `cpus` slots.
pub fn per_cpu_datarecs(raw: &[u8], cpus: usize) -> Vec<DataRec> {
    let stride = per_cpu_stride(DATAREC_SIZE);
    raw.chunks_exact(stride)
        .take(cpus)
        .map(|slot| DataRec {
            rx_packets: le_u64(&slot[0..8]),
            rx_bytes: le_u64(&slot[8..16]),
        })
        .collect()
}

/// The sum over CPUs. Counters only grow, so wrapping is the kernel's own behaviour.
pub fn sum(records: &[DataRec]) -> DataRec {
    records
        .iter()
        .fold(DataRec::default(), |total, record| DataRec {
            rx_packets: total.rx_packets.wrapping_add(record.rx_packets),
            rx_bytes: total.rx_bytes.wrapping_add(record.rx_bytes),
        })
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

/// The CPU numbers in a kernel CPU list such as `0-3,8` (the possible CPUs, in the
/// order per-CPU values are laid out). `None` for a malformed or absurdly long list.
pub fn cpu_ids(list: &str) -> Option<Vec<u32>> {
    const MAX_CPUS: usize = 1 << 16;
    let mut ids = Vec::new();
    for part in list.trim().split(',') {
        let (first, last) = match part.split_once('-') {
            Some((first, last)) => (first.trim().parse().ok()?, last.trim().parse().ok()?),
            None => {
                let cpu: u32 = part.trim().parse().ok()?;
                (cpu, cpu)
            }
        };
        if last < first || ids.len() + (last - first) as usize >= MAX_CPUS {
            return None;
        }
        ids.extend(first..=last);
    }
    Some(ids)
}

/// One key of a stats map (one XDP action) in one sample, per CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionCounters {
    pub key: u32,
    pub per_cpu: Vec<DataRec>,
}

impl ActionCounters {
    pub fn total(&self) -> DataRec {
        sum(&self.per_cpu)
    }

    pub fn name(&self) -> String {
        xdp_action_name(self.key)
    }
}

/// Every counter of a map at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub map_name: String,
    pub map_id: u32,
    /// When it was read: seconds since the Unix epoch.
    pub time: f64,
    /// When it was read on a monotonic clock, in seconds from any origin: intervals are
    /// measured with it, so a clock change does not distort the rates.
    pub monotonic: f64,
    pub actions: Vec<ActionCounters>,
}

/// Packets per second and bits per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub pps: f64,
    pub bps: f64,
}

impl Rate {
    /// The rate from `old` to `new` over `seconds`; `None` if a counter went down or no
    /// time passed.
    pub fn between(old: DataRec, new: DataRec, seconds: f64) -> Option<Rate> {
        if seconds <= 0.0 || !seconds.is_finite() {
            return None;
        }
        let packets = new.rx_packets.checked_sub(old.rx_packets)?;
        let bytes = new.rx_bytes.checked_sub(old.rx_bytes)?;
        Some(Rate {
            pps: packets as f64 / seconds,
            bps: bytes as f64 * 8.0 / seconds,
        })
    }
}

/// The rates of one action: its total, and each CPU's.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRates {
    pub total: Rate,
    pub per_cpu: Vec<Rate>,
}

/// Why a live view dropped its baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reset {
    /// Another map is pinned at the path now (a reload created a new one).
    Replaced { old_id: u32, new_id: u32 },
    /// The same map, but a counter is lower than before: someone wrote to it.
    WentDown {
        action: String,
        old: DataRec,
        new: DataRec,
    },
    /// The same map, but other keys or another number of CPUs.
    Reshaped,
}

impl Reset {
    /// One sentence for the user.
    pub fn describe(&self, map_name: &str, pin: &str) -> String {
        match self {
            Reset::Replaced { old_id, new_id } => format!(
                "the map pinned at {pin} was replaced (map id {old_id} -> {new_id}); starting a new baseline"
            ),
            Reset::WentDown { action, old, new } => format!(
                "the counters of {map_name} went down ({action}: {} -> {} packets, {} -> {} bytes); starting a new baseline",
                old.rx_packets, new.rx_packets, old.rx_bytes, new.rx_bytes
            ),
            Reset::Reshaped => format!(
                "the keys or CPUs of {map_name} changed; starting a new baseline"
            ),
        }
    }
}

/// A sample, with its rates over the interval since the one before.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub sample: Sample,
    /// Seconds since the previous sample: `None` for the first sample and after a reset.
    pub interval: Option<f64>,
    /// One entry per action of `sample`, in the same order; empty when `interval` is `None`.
    pub rates: Vec<ActionRates>,
    /// Set when this sample starts a new baseline.
    pub reset: Option<Reset>,
}

impl Observation {
    /// A sample shown on its own, without a live view (no rates).
    pub fn single(sample: Sample) -> Observation {
        Observation {
            sample,
            interval: None,
            rates: Vec::new(),
            reset: None,
        }
    }
}

/// Why the counters of `new` cannot continue from `old`, if they cannot.
pub fn reset_reason(old: &Sample, new: &Sample) -> Option<Reset> {
    if old.map_id != new.map_id {
        return Some(Reset::Replaced {
            old_id: old.map_id,
            new_id: new.map_id,
        });
    }
    let same_shape = old.actions.len() == new.actions.len()
        && old
            .actions
            .iter()
            .zip(&new.actions)
            .all(|(old, new)| old.key == new.key && old.per_cpu.len() == new.per_cpu.len());
    if !same_shape {
        return Some(Reset::Reshaped);
    }
    for (old, new) in old.actions.iter().zip(&new.actions) {
        let lower = |old: &DataRec, new: &DataRec| {
            new.rx_packets < old.rx_packets || new.rx_bytes < old.rx_bytes
        };
        if lower(&old.total(), &new.total())
            || old
                .per_cpu
                .iter()
                .zip(&new.per_cpu)
                .any(|(o, n)| lower(o, n))
        {
            return Some(Reset::WentDown {
                action: new.name(),
                old: old.total(),
                new: new.total(),
            });
        }
    }
    None
}

/// The baseline of a live view: each sample's rates are taken against the one before,
/// unless the counters cannot continue from it, in which case the sample starts a new
/// baseline and has no rates. Rates are never negative.
#[derive(Debug, Default)]
pub struct Watch {
    previous: Option<Sample>,
}

impl Watch {
    pub fn observe(&mut self, sample: Sample) -> Observation {
        let previous = self.previous.replace(sample.clone());
        let Some(previous) = previous else {
            return Observation::single(sample);
        };
        if let Some(reset) = reset_reason(&previous, &sample) {
            return Observation {
                reset: Some(reset),
                ..Observation::single(sample)
            };
        }
        let seconds = sample.monotonic - previous.monotonic;
        let rates: Option<Vec<ActionRates>> = previous
            .actions
            .iter()
            .zip(&sample.actions)
            .map(|(old, new)| {
                Some(ActionRates {
                    total: Rate::between(old.total(), new.total(), seconds)?,
                    per_cpu: old
                        .per_cpu
                        .iter()
                        .zip(&new.per_cpu)
                        .map(|(old, new)| Rate::between(*old, *new, seconds))
                        .collect::<Option<Vec<Rate>>>()?,
                })
            })
            .collect();
        match rates {
            Some(rates) => Observation {
                sample,
                interval: Some(seconds),
                rates,
                reset: None,
            },
            // No time passed between the two reads: show the counters without rates.
            None => Observation::single(sample),
        }
    }
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

    fn slot(packets: u64, bytes: u64) -> Vec<u8> {
        [packets.to_le_bytes(), bytes.to_le_bytes()].concat()
    }

    fn rec(rx_packets: u64, rx_bytes: u64) -> DataRec {
        DataRec {
            rx_packets,
            rx_bytes,
        }
    }

    /// A two-CPU sample of the five actions; XDP_PASS has `pass` on CPU 0 and CPU 1.
    fn sample(map_id: u32, monotonic: f64, pass: [(u64, u64); 2]) -> Sample {
        Sample {
            map_name: "stats_map".to_string(),
            map_id,
            time: 1_764_072_000.25 + monotonic,
            monotonic,
            actions: (0..5)
                .map(|key| ActionCounters {
                    key,
                    per_cpu: if key == 2 {
                        vec![rec(pass[0].0, pass[0].1), rec(pass[1].0, pass[1].1)]
                    } else {
                        vec![DataRec::default(); 2]
                    },
                })
                .collect(),
        }
    }

    #[test]
    fn sums_the_readme_example() {
        // The original README: XDP_PASS with 1 packet / 0x62 bytes on CPU 3 and 6 / 0x1dc on CPU 4.
        let raw = [
            slot(0, 0),
            slot(0, 0),
            slot(0, 0),
            slot(1, 0x62),
            slot(6, 0x1dc),
            slot(0, 0),
        ]
        .concat();
        let total = sum(&per_cpu_datarecs(&raw, 6));
        assert_eq!(total, rec(7, 574));
    }

    #[test]
    fn stride_rounds_up_to_eight() {
        assert_eq!(per_cpu_stride(16), 16);
        assert_eq!(per_cpu_stride(4), 8);
        assert_eq!(per_cpu_stride(12), 16);
    }

    #[test]
    fn short_buffers_give_fewer_cpus_never_a_panic() {
        assert_eq!(per_cpu_datarecs(&slot(1, 2)[..15], 1), Vec::new());
        assert_eq!(per_cpu_datarecs(&slot(1, 2), 4), vec![rec(1, 2)]);
    }

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
    fn cpu_lists_as_the_kernel_writes_them() {
        assert_eq!(cpu_ids("0-3\n"), Some(vec![0, 1, 2, 3]));
        assert_eq!(cpu_ids("0,2-3"), Some(vec![0, 2, 3]));
        assert_eq!(cpu_ids("0"), Some(vec![0]));
        assert_eq!(cpu_ids("3-1"), None);
        assert_eq!(cpu_ids(""), None);
        assert_eq!(cpu_ids("0-4294967295"), None);
    }

    #[test]
    fn rates_over_the_interval() {
        let rate = Rate::between(rec(100, 10_000), rec(300, 30_000), 0.5).expect("a rate");
        assert_eq!(rate.pps, 400.0);
        assert_eq!(rate.bps, 320_000.0);
        assert_eq!(Rate::between(rec(5, 5), rec(4, 9), 1.0), None);
        assert_eq!(Rate::between(rec(5, 5), rec(6, 9), 0.0), None);
    }

    #[test]
    fn a_watch_takes_rates_against_the_previous_sample() {
        let mut watch = Watch::default();
        let first = watch.observe(sample(7, 10.0, [(10, 1000), (0, 0)]));
        assert_eq!(first.interval, None);
        assert!(first.rates.is_empty());
        assert_eq!(first.reset, None);
        let second = watch.observe(sample(7, 10.5, [(60, 6000), (50, 5000)]));
        assert_eq!(second.interval, Some(0.5));
        assert_eq!(second.rates.len(), 5);
        assert_eq!(
            second.rates[2].total,
            Rate {
                pps: 200.0,
                bps: 160_000.0
            }
        );
        assert_eq!(
            second.rates[2].per_cpu[1],
            Rate {
                pps: 100.0,
                bps: 80_000.0
            }
        );
        assert_eq!(second.rates[0].total, Rate { pps: 0.0, bps: 0.0 });
    }

    #[test]
    fn a_replaced_map_starts_a_new_baseline() {
        let mut watch = Watch::default();
        watch.observe(sample(7, 0.0, [(100, 10_000), (0, 0)]));
        let replaced = watch.observe(sample(9, 1.0, [(3, 300), (0, 0)]));
        assert_eq!(
            replaced.reset,
            Some(Reset::Replaced {
                old_id: 7,
                new_id: 9
            })
        );
        assert_eq!(replaced.interval, None);
        assert!(replaced.rates.is_empty(), "no negative rates");
        // The next sample continues from the new baseline.
        let next = watch.observe(sample(9, 2.0, [(13, 1300), (0, 0)]));
        assert_eq!(next.reset, None);
        assert_eq!(
            next.rates[2].total,
            Rate {
                pps: 10.0,
                bps: 8000.0
            }
        );
    }

    #[test]
    fn counters_going_down_start_a_new_baseline() {
        let mut watch = Watch::default();
        watch.observe(sample(7, 0.0, [(100, 10_000), (5, 500)]));
        // The total grows but one CPU went down: someone wrote to the map.
        let reset = watch.observe(sample(7, 1.0, [(200, 20_000), (0, 0)]));
        assert!(
            matches!(reset.reset, Some(Reset::WentDown { .. })),
            "{reset:?}"
        );
        assert!(reset.rates.is_empty());
        let text = reset
            .reset
            .expect("reset")
            .describe("stats_map", "/sys/fs/bpf/stats_map");
        assert_eq!(
            text,
            "the counters of stats_map went down (XDP_PASS: 105 -> 200 packets, 10500 -> 20000 bytes); starting a new baseline"
        );
    }

    #[test]
    fn other_keys_start_a_new_baseline() {
        let old = sample(7, 0.0, [(1, 1), (1, 1)]);
        let mut new = sample(7, 1.0, [(1, 1), (1, 1)]);
        new.actions.pop();
        assert_eq!(reset_reason(&old, &new), Some(Reset::Reshaped));
        assert_eq!(reset_reason(&old, &old), None);
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
