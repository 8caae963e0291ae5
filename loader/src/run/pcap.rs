//! Captures: classic pcap and pcapng files of Ethernet frames read (every header and
//! block checked, with a sentence naming what is wrong), and the `-out` capture written.

use std::fmt;
use std::io::Write;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapParser, PcapWriter, RawPcapPacket};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};

/// The file format a capture came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic pcap; `nanos` for the nanosecond-timestamp variant.
    Pcap {
        nanos: bool,
    },
    PcapNg,
}

impl CaptureFormat {
    pub fn name(self) -> &'static str {
        match self {
            CaptureFormat::Pcap { .. } => "pcap",
            CaptureFormat::PcapNg => "pcapng",
        }
    }
}

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedPacket {
    pub timestamp: Duration,
    /// The frame's length on the wire (at least `data.len()`).
    pub orig_len: u32,
    pub data: Vec<u8>,
}

/// The Ethernet frames of a capture, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    pub format: CaptureFormat,
    pub packets: Vec<CapturedPacket>,
}

/// Why a file is not a capture this tool can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureError {
    Empty,
    /// The first bytes are no pcap or pcapng magic number.
    NotACapture {
        start: Vec<u8>,
    },
    /// The file ends inside a header or a packet.
    Truncated {
        what: String,
    },
    /// Frames of a link type other than Ethernet.
    LinkType {
        link_type: u32,
        name: String,
        packet: Option<usize>,
    },
    /// A header or block with values no capture can have.
    Malformed {
        what: String,
        reason: String,
    },
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Empty => f.write_str("the file is empty; pass a pcap or pcapng capture"),
            CaptureError::NotACapture { start } => write!(
                f,
                "it is not a pcap or pcapng capture (it starts with {}); write one with `tcpdump -w FILE` or Wireshark",
                start
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            CaptureError::Truncated { what } => write!(
                f,
                "the file ends in the middle of {what}; the capture is truncated (was it still being written?)"
            ),
            CaptureError::LinkType {
                link_type,
                name,
                packet,
            } => {
                let which = match packet {
                    Some(number) => format!("packet {number} has"),
                    None => "its packets have".to_string(),
                };
                write!(
                    f,
                    "{which} link type {name} ({link_type}), not Ethernet (1); XDP programs see Ethernet frames, so capture on an Ethernet interface (not `tcpdump -i any`)"
                )
            }
            CaptureError::Malformed { what, reason } => {
                write!(f, "{what} is malformed ({reason}); the capture is damaged")
            }
        }
    }
}

impl std::error::Error for CaptureError {}

const PCAP_MAGICS: [([u8; 4], bool); 4] = [
    ([0xa1, 0xb2, 0xc3, 0xd4], false),
    ([0xd4, 0xc3, 0xb2, 0xa1], false),
    ([0xa1, 0xb2, 0x3c, 0x4d], true),
    ([0x4d, 0x3c, 0xb2, 0xa1], true),
];

/// The block type of a pcapng Section Header Block, the same in both byte orders.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Reads a classic pcap or a pcapng capture of Ethernet frames.
pub fn read_capture(bytes: &[u8]) -> Result<Capture, CaptureError> {
    if bytes.is_empty() {
        return Err(CaptureError::Empty);
    }
    let start = &bytes[..bytes.len().min(4)];
    if let Some((_, nanos)) = PCAP_MAGICS.iter().find(|(magic, _)| magic == start) {
        return read_pcap(bytes, *nanos);
    }
    if start == PCAPNG_MAGIC {
        return read_pcapng(bytes);
    }
    if start.len() < 4
        && (PCAP_MAGICS
            .iter()
            .any(|(magic, _)| magic.starts_with(start))
            || PCAPNG_MAGIC.starts_with(start))
    {
        return Err(CaptureError::Truncated {
            what: "the file header".into(),
        });
    }
    Err(CaptureError::NotACapture {
        start: start.to_vec(),
    })
}

fn read_pcap(bytes: &[u8], nanos: bool) -> Result<Capture, CaptureError> {
    let (mut rest, parser) = PcapParser::new(bytes).map_err(|error| match error {
        PcapError::IncompleteBuffer => CaptureError::Truncated {
            what: "the 24-byte file header".into(),
        },
        other => CaptureError::Malformed {
            what: "the file header".into(),
            reason: other.to_string(),
        },
    })?;
    let header = parser.header();
    if header.datalink != DataLink::ETHERNET {
        return Err(CaptureError::LinkType {
            link_type: u32::from(header.datalink),
            name: format!("{:?}", header.datalink),
            packet: None,
        });
    }
    let mut packets = Vec::new();
    while !rest.is_empty() {
        let number = packets.len() + 1;
        let (next, raw) = parser.next_raw_packet(rest).map_err(|error| match error {
            PcapError::IncompleteBuffer => CaptureError::Truncated {
                what: format!("packet {number}"),
            },
            other => CaptureError::Malformed {
                what: format!("packet {number}"),
                reason: other.to_string(),
            },
        })?;
        packets.push(pcap_packet(&raw, nanos, number)?);
        rest = next;
    }
    Ok(Capture {
        format: CaptureFormat::Pcap { nanos },
        packets,
    })
}

/// A classic pcap record, its timestamp checked (the lengths are taken as they are:
/// `orig_len` below the captured length is common from some writers and harmless).
fn pcap_packet(
    raw: &RawPcapPacket<'_>,
    nanos: bool,
    number: usize,
) -> Result<CapturedPacket, CaptureError> {
    let fraction_limit = if nanos { 1_000_000_000 } else { 1_000_000 };
    if raw.ts_frac >= fraction_limit {
        return Err(CaptureError::Malformed {
            what: format!("packet {number}"),
            reason: format!(
                "its timestamp fraction {} is not below {fraction_limit}",
                raw.ts_frac
            ),
        });
    }
    let subsec_nanos = if nanos {
        raw.ts_frac
    } else {
        raw.ts_frac * 1000
    };
    Ok(CapturedPacket {
        timestamp: Duration::new(u64::from(raw.ts_sec), subsec_nanos),
        orig_len: raw.orig_len.max(raw.data.len() as u32),
        data: raw.data.to_vec(),
    })
}

fn read_pcapng(bytes: &[u8]) -> Result<Capture, CaptureError> {
    let block_error = |what: String| {
        move |error: PcapError| match error {
            PcapError::IncompleteBuffer => CaptureError::Truncated { what: what.clone() },
            other => CaptureError::Malformed {
                what: what.clone(),
                reason: other.to_string(),
            },
        }
    };
    let (mut rest, mut parser) =
        PcapNgParser::new(bytes).map_err(block_error("the section header block".into()))?;
    let mut packets = Vec::new();
    let mut block_number = 1;
    while !rest.is_empty() {
        block_number += 1;
        let number = packets.len() + 1;
        let what = format!("block {block_number} (after packet {})", number - 1);
        let (next, block) = parser.next_block(rest).map_err(block_error(what))?;
        rest = next;
        let (interface_id, raw_timestamp, orig_len, data) = match block {
            Block::EnhancedPacket(epb) => (
                epb.interface_id,
                // pcap-file reads the raw 64-bit count as nanoseconds; the interface's
                // if_tsresol gives the unit.
                Some(epb.timestamp.as_nanos() as u64),
                epb.original_len,
                epb.data,
            ),
            Block::Packet(pb) => (
                u32::from(pb.interface_id),
                Some(pb.timestamp),
                pb.original_len,
                pb.data,
            ),
            Block::SimplePacket(spb) => (0, None, spb.original_len, spb.data),
            _ => continue,
        };
        let interface = parser.interfaces().get(interface_id as usize).ok_or_else(|| {
            CaptureError::Malformed {
                what: format!("packet {number}"),
                reason: format!(
                    "it names interface {interface_id}, which no interface description block describes"
                ),
            }
        })?;
        if interface.linktype != DataLink::ETHERNET {
            return Err(CaptureError::LinkType {
                link_type: u32::from(interface.linktype),
                name: format!("{:?}", interface.linktype),
                packet: Some(number),
            });
        }
        let timestamp = raw_timestamp.map_or(Duration::ZERO, |raw| pcapng_time(raw, interface));
        packets.push(CapturedPacket {
            timestamp,
            orig_len: orig_len.max(data.len() as u32),
            data: data.into_owned(),
        });
    }
    Ok(Capture {
        format: CaptureFormat::PcapNg,
        packets,
    })
}

/// A pcapng timestamp in the unit of its interface's `if_tsresol` (microseconds when
/// absent; `10^-n` seconds, or `2^-n` with the top bit set).
fn pcapng_time(raw: u64, interface: &InterfaceDescriptionBlock<'_>) -> Duration {
    let resolution = interface
        .options
        .iter()
        .find_map(|option| match option {
            InterfaceDescriptionOption::IfTsResol(value) => Some(*value),
            _ => None,
        })
        .unwrap_or(6);
    let exponent = u32::from(resolution & 0x7f);
    let units_per_second: u128 = if resolution & 0x80 == 0 {
        10u128.checked_pow(exponent).unwrap_or(u128::MAX)
    } else {
        2u128.checked_pow(exponent).unwrap_or(u128::MAX)
    };
    let nanos = u128::from(raw) * 1_000_000_000 / units_per_second.max(1);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Writes `packets` as a classic pcap of Ethernet frames (native byte order;
/// nanosecond timestamps when `nanos`).
pub fn write_pcap<W: Write>(
    writer: W,
    packets: &[CapturedPacket],
    nanos: bool,
) -> Result<(), PcapError> {
    let snaplen = packets
        .iter()
        .map(|packet| packet.data.len() as u32)
        .max()
        .unwrap_or(0)
        .max(65535);
    let header = PcapHeader {
        snaplen,
        datalink: DataLink::ETHERNET,
        ts_resolution: if nanos {
            TsResolution::NanoSecond
        } else {
            TsResolution::MicroSecond
        },
        endianness: Endianness::native(),
        ..PcapHeader::default()
    };
    let mut out = PcapWriter::with_header(writer, header)?;
    for packet in packets {
        let fraction = if nanos {
            packet.timestamp.subsec_nanos()
        } else {
            packet.timestamp.subsec_micros()
        };
        let ts_sec = u32::try_from(packet.timestamp.as_secs())
            .map_err(|_| PcapError::InvalidField("a timestamp beyond 2106 does not fit pcap"))?;
        out.write_raw_packet(&RawPcapPacket {
            ts_sec,
            ts_frac: fraction,
            incl_len: packet.data.len() as u32,
            orig_len: packet.orig_len.max(packet.data.len() as u32),
            data: std::borrow::Cow::Borrowed(&packet.data),
        })?;
    }
    out.into_writer().flush().map_err(PcapError::IoError)
}

/// Captures built byte by byte, for the tests of reading and writing them.
#[cfg(test)]
pub(crate) mod test_captures {
    pub fn pcap_bytes(link_type: u32, frames: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&65535u32.to_le_bytes());
        out.extend_from_slice(&link_type.to_le_bytes());
        for (index, frame) in frames.iter().enumerate() {
            out.extend_from_slice(&(1_700_000_000u32 + index as u32).to_le_bytes());
            out.extend_from_slice(&250_000u32.to_le_bytes());
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(frame);
        }
        out
    }

    fn pcapng_block(block_type: u32, body: &[u8]) -> Vec<u8> {
        let mut body = body.to_vec();
        body.resize(body.len().div_ceil(4) * 4, 0);
        let length = (body.len() + 12) as u32;
        let mut out = Vec::new();
        out.extend_from_slice(&block_type.to_le_bytes());
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(&length.to_le_bytes());
        out
    }

    pub fn pcapng_bytes(link_type: u16, frames: &[&[u8]]) -> Vec<u8> {
        let mut shb = Vec::new();
        shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        let mut out = pcapng_block(0x0a0d_0d0a, &shb);
        let mut idb = Vec::new();
        idb.extend_from_slice(&link_type.to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&0u32.to_le_bytes());
        out.extend(pcapng_block(1, &idb));
        for frame in frames {
            let micros: u64 = 1_700_000_000_250_000;
            let mut epb = Vec::new();
            epb.extend_from_slice(&0u32.to_le_bytes());
            epb.extend_from_slice(&((micros >> 32) as u32).to_le_bytes());
            epb.extend_from_slice(&(micros as u32).to_le_bytes());
            epb.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            epb.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            epb.extend_from_slice(frame);
            out.extend(pcapng_block(6, &epb));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::test_captures::{pcap_bytes, pcapng_bytes};
    use super::*;

    #[test]
    fn reads_classic_pcap() {
        let frames: [&[u8]; 2] = [&[1; 60], &[2; 10]];
        let capture = read_capture(&pcap_bytes(1, &frames)).expect("pcap");
        assert_eq!(capture.format, CaptureFormat::Pcap { nanos: false });
        assert_eq!(capture.packets.len(), 2);
        assert_eq!(capture.packets[0].data, vec![1; 60]);
        assert_eq!(
            capture.packets[1].timestamp,
            Duration::new(1_700_000_001, 250_000_000)
        );
    }

    #[test]
    fn reads_pcapng_with_microsecond_timestamps() {
        let frames: [&[u8]; 2] = [&[3; 61], &[4; 14]];
        let capture = read_capture(&pcapng_bytes(1, &frames)).expect("pcapng");
        assert_eq!(capture.format, CaptureFormat::PcapNg);
        assert_eq!(capture.packets.len(), 2);
        assert_eq!(capture.packets[0].data, vec![3; 61]);
        assert_eq!(capture.packets[1].data, vec![4; 14]);
        assert_eq!(
            capture.packets[0].timestamp,
            Duration::new(1_700_000_000, 250_000_000)
        );
    }

    #[test]
    fn refuses_what_is_not_a_usable_capture() {
        assert_eq!(read_capture(b""), Err(CaptureError::Empty));
        assert!(matches!(
            read_capture(b"this is no capture at all"),
            Err(CaptureError::NotACapture { .. })
        ));
        let whole = pcap_bytes(1, &[&[1; 60]]);
        assert!(matches!(
            read_capture(&whole[..whole.len() - 5]),
            Err(CaptureError::Truncated { what }) if what == "packet 1"
        ));
        assert!(matches!(
            read_capture(&whole[..20]),
            Err(CaptureError::Truncated { .. })
        ));
        assert!(matches!(
            read_capture(&pcap_bytes(113, &[&[1; 60]])),
            Err(CaptureError::LinkType {
                link_type: 113,
                packet: None,
                ..
            })
        ));
        let whole = pcapng_bytes(1, &[&[1; 60]]);
        assert!(matches!(
            read_capture(&whole[..whole.len() - 8]),
            Err(CaptureError::Truncated { .. })
        ));
        assert!(matches!(
            read_capture(&pcapng_bytes(101, &[&[1; 60]])),
            Err(CaptureError::LinkType {
                link_type: 101,
                packet: Some(1),
                ..
            })
        ));
        let message = read_capture(b"garbage!")
            .err()
            .map(|error| error.to_string());
        assert_eq!(
            message.as_deref(),
            Some("it is not a pcap or pcapng capture (it starts with 67 61 72 62); write one with `tcpdump -w FILE` or Wireshark")
        );
    }
}
