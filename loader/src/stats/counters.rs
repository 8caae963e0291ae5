//! The counters of a stats map as read: per-CPU `struct datarec` values split at the
//! kernel's per-CPU stride and summed, one `ActionCounters` per key, a `Sample` per read,
//! and the possible-CPU list that says which CPU each value belongs to. Pure.

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

/// Samples built by hand, for the tests of the counters, the rates and the renderings.
#[cfg(test)]
pub(crate) mod test_samples {
    use super::*;

    pub fn slot(packets: u64, bytes: u64) -> Vec<u8> {
        [packets.to_le_bytes(), bytes.to_le_bytes()].concat()
    }

    pub fn rec(rx_packets: u64, rx_bytes: u64) -> DataRec {
        DataRec {
            rx_packets,
            rx_bytes,
        }
    }

    /// A two-CPU sample of the five actions; XDP_PASS has `pass` on CPU 0 and CPU 1.
    pub fn sample(map_id: u32, monotonic: f64, pass: [(u64, u64); 2]) -> Sample {
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
}

#[cfg(test)]
mod tests {
    use super::test_samples::{rec, slot};
    use super::*;

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
    fn cpu_lists_as_the_kernel_writes_them() {
        assert_eq!(cpu_ids("0-3\n"), Some(vec![0, 1, 2, 3]));
        assert_eq!(cpu_ids("0,2-3"), Some(vec![0, 2, 3]));
        assert_eq!(cpu_ids("0"), Some(vec![0]));
        assert_eq!(cpu_ids("3-1"), None);
        assert_eq!(cpu_ids(""), None);
        assert_eq!(cpu_ids("0-4294967295"), None);
    }
}
