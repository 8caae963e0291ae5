//! Per-CPU counters summed into totals: pure arithmetic over the bytes the kernel returns.

/// The value type of a stats map: `struct datarec { __u64 rx_packets; __u64 rx_bytes; }`.
pub const DATAREC_SIZE: u32 = 16;

/// Packets and bytes for one XDP action, summed over CPUs.
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
    raw.copy_from_slice(&bytes[..8]);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(packets: u64, bytes: u64) -> Vec<u8> {
        [packets.to_le_bytes(), bytes.to_le_bytes()].concat()
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
        assert_eq!(
            total,
            DataRec {
                rx_packets: 7,
                rx_bytes: 574
            }
        );
    }

    #[test]
    fn stride_rounds_up_to_eight() {
        assert_eq!(per_cpu_stride(16), 16);
        assert_eq!(per_cpu_stride(4), 8);
        assert_eq!(per_cpu_stride(12), 16);
    }

    #[test]
    fn lines_align_like_the_original() {
        let record = DataRec {
            rx_packets: 7,
            rx_bytes: 574,
        };
        assert_eq!(
            format_line("XDP_PASS", record),
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
}
