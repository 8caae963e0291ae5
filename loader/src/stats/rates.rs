//! Rates over an interval and the baseline of a live view: each sample's rates against the
//! one before, a new baseline when the counters cannot continue (a replaced map, counters
//! gone down, other keys), never a negative rate. Pure.

use crate::stats::counters::{DataRec, Sample};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::counters::test_samples::{rec, sample};

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
}
