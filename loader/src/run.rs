//! `xdploader -run`: test runs over the packets of a capture.
//!
//! The object is loaded as for an attach (maps created or reused from their pins, the
//! entry program and its tail calls `<entry>_<N>` wired into its prog array, maps pinned
//! as the object asks) and nothing is attached: every packet of a pcap or pcapng file
//! goes through the entry program with `BPF_PROG_TEST_RUN`. The maps are the real ones,
//! so the counters a run leaves are the ones statswatch reads from the pins.
//!
//! Reading captures, verdict names, the summary arithmetic and the output formats are
//! pure functions here; the kernel work is in `load_for_run` and `run_packets`.

use std::fmt;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use elf::{Object, ProgramSpec};
use nix::errno::Errno;
use pcap_file::pcap::{PcapHeader, PcapParser, PcapWriter, RawPcapPacket};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};
use sys::abi::BPF_MAP_TYPE_PROG_ARRAY;
use sys::test_run::{prog_test_run_xdp, TestRunError, XdpMd};
use sys::ProgFd;

use crate::error::{ExitKind, LoadError};
use crate::load::maps::LiveMap;
use crate::load::{self};
use crate::timings;
use crate::vocab::XDP_ACTIONS;

/// The shortest frame the kernel test-runs through XDP: an Ethernet header.
pub const MIN_FRAME: usize = 14;

const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

/// A verdict's name, or its number when it is not one of the five.
pub fn verdict_name(retval: u32) -> String {
    XDP_ACTIONS
        .get(retval as usize)
        .map_or_else(|| retval.to_string(), |name| name.to_string())
}

// ---------------------------------------------------------------------------
// Captures
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Results and their arithmetic
// ---------------------------------------------------------------------------

/// What happened to one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ran {
        retval: u32,
        /// The packet as the program left it.
        data_out: Vec<u8>,
        /// The kernel's mean time per run, in nanoseconds.
        duration_ns: u32,
    },
    /// The kernel cannot take this packet (too short to be a frame).
    NotRun { reason: String },
}

/// One packet's test run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketResult {
    /// 1-based, in capture order.
    pub number: usize,
    pub len_in: usize,
    pub outcome: Outcome,
}

impl PacketResult {
    pub fn retval(&self) -> Option<u32> {
        match &self.outcome {
            Outcome::Ran { retval, .. } => Some(*retval),
            Outcome::NotRun { .. } => None,
        }
    }

    pub fn len_out(&self) -> Option<usize> {
        match &self.outcome {
            Outcome::Ran { data_out, .. } => Some(data_out.len()),
            Outcome::NotRun { .. } => None,
        }
    }

    pub fn duration_ns(&self) -> Option<u32> {
        match &self.outcome {
            Outcome::Ran { duration_ns, .. } => Some(*duration_ns),
            Outcome::NotRun { .. } => None,
        }
    }
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

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// What can stop a `-run`.
#[derive(Debug)]
pub enum RunError {
    /// Loading the object failed as an attach would.
    Load(LoadError),
    NoSuchProgram {
        name: String,
        available: Vec<String>,
    },
    ReadCapture {
        path: PathBuf,
        error: std::io::Error,
    },
    Capture {
        path: PathBuf,
        error: CaptureError,
    },
    /// The kernel refused `BPF_PROG_TEST_RUN`.
    TestRun {
        program: String,
        packet: usize,
        error: TestRunError,
        explanation: &'static str,
    },
    WriteOut {
        path: PathBuf,
        reason: String,
    },
}

impl From<LoadError> for RunError {
    fn from(error: LoadError) -> RunError {
        RunError::Load(error)
    }
}

impl RunError {
    pub fn exit_kind(&self) -> ExitKind {
        match self {
            RunError::Load(error) => error.exit_kind(),
            RunError::NoSuchProgram { .. } => ExitKind::Usage,
            RunError::Capture { .. } => ExitKind::BadObject,
            RunError::TestRun { error, .. } if error.is_permission() => ExitKind::Environment,
            RunError::TestRun { .. } => ExitKind::KernelRefused,
            RunError::ReadCapture { .. } | RunError::WriteOut { .. } => ExitKind::Environment,
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Load(error) => error.fmt(f),
            RunError::NoSuchProgram { name, available } => write!(
                f,
                "the object has no program called {name}; pick one with -run: {}",
                available.join(", ")
            ),
            RunError::ReadCapture { path, error } => write!(
                f,
                "cannot read the capture {}: {error}; pass an existing pcap or pcapng file with -pcap",
                path.display()
            ),
            RunError::Capture { path, error } => {
                write!(f, "cannot run the packets of {}: {error}", path.display())
            }
            RunError::TestRun {
                program,
                packet,
                error,
                explanation,
            } => write!(
                f,
                "the kernel refused to test-run program {program} on packet {packet}: {} ({}); {explanation}",
                error.description(),
                error.name()
            ),
            RunError::WriteOut { path, reason } => write!(
                f,
                "cannot write the packets to {}: {reason}; check that its directory exists and is writable",
                path.display()
            ),
        }
    }
}

impl std::error::Error for RunError {}

// ---------------------------------------------------------------------------
// The kernel side: load, run
// ---------------------------------------------------------------------------

/// The object as a run needs it: the entry program with its tail calls wired and the
/// maps it uses (kept open for as long as this lives).
#[derive(Debug)]
pub struct LoadedRun {
    pub entry: ProgFd,
    pub maps: Vec<LiveMap>,
    /// The other programs loaded: tail calls and static prog-array entries.
    pub programs: Vec<(String, ProgFd)>,
    /// (prog array, slot, program) for each slot filled, in the order they were filled.
    pub wiring: Vec<(String, u32, String)>,
    /// (map, path) of each map this run pinned.
    pub pinned: Vec<(String, PathBuf)>,
    /// Things worth telling the user that are no errors (one line each).
    pub notes: Vec<String>,
    _btf: Option<sys::btf::BtfFd>,
}

/// Loads `program` of `object` as the attach flow does (BTF, maps reused from their pins
/// or created, the tail-call programs `<program>_<N>` in slot N of its prog array,
/// static prog-array initialisation, maps pinned as the object asks) and attaches
/// nothing.
///
/// A prog array reused from a pin may be wired into a running chain; putting this
/// run's programs into it would change what live traffic meets. The run uses a private
/// copy of it instead, so the only shared state is the data maps.
pub fn load_for_run(
    object: &Object,
    object_name: &str,
    pin_root: &Path,
    program: &str,
) -> Result<LoadedRun, RunError> {
    let entry = object
        .program(program)
        .ok_or_else(|| RunError::NoSuchProgram {
            name: program.to_string(),
            available: object.programs.iter().map(|p| p.name.clone()).collect(),
        })?;
    load::programs::check_linkable(object, load::tail_calls::chain_programs(object, entry))?;
    let tail_calls = load::tail_calls::tail_call_plan(object, entry)?;
    let created = if object
        .maps
        .iter()
        .any(|map| load::pins::pin_path(map, pin_root).is_some())
    {
        load::pins::prepare_pin_root(pin_root)?
    } else {
        load::pins::CreatedDirs::default()
    };
    let result = load_prepared(object, object_name, pin_root, entry, tail_calls);
    if result.is_err() {
        created.remove_if_empty();
    }
    result
}

fn load_prepared(
    object: &Object,
    object_name: &str,
    pin_root: &Path,
    entry: &ProgramSpec,
    tail_calls: Option<load::tail_calls::TailCallPlan<'_>>,
) -> Result<LoadedRun, RunError> {
    let mut notes = Vec::new();
    timings::phase("BTF");
    let btf = match load::btf::load_btf(object) {
        Ok(btf) => btf,
        Err(error) => {
            notes.push(format!(
                "Warning: the kernel refused the object's BTF ({error}); loading without it"
            ));
            None
        }
    };
    timings::phase("maps");
    let mut maps = load::maps::create_maps(
        object,
        object_name,
        pin_root,
        btf.as_ref().map(|fd| fd.as_raw_fd()),
    )?;
    for map in maps
        .iter_mut()
        .filter(|map| map.reused && map.spec.map_type == BPF_MAP_TYPE_PROG_ARRAY)
    {
        private_prog_array(map)?;
        notes.push(format!(
            "{} is pinned and may be wired into a running chain: this run uses a private copy of it",
            map.kernel_name
        ));
    }

    timings::phase("programs");
    let chain = load::programs::load_chain(
        object,
        entry,
        tail_calls.as_ref(),
        &maps,
        btf.as_ref(),
        |_| {},
    )?;
    timings::phase("tail calls");
    let mut wiring = load::tail_calls::fill_program_slots(&maps, &chain.all(&entry.name))?;
    if let Some((index, _)) = &tail_calls {
        for (slot, name, fd) in &chain.tail_calls {
            load::tail_calls::set_tail_call(&maps[*index], *slot, fd, name)?;
            wiring.push((maps[*index].kernel_name.clone(), *slot, name.to_string()));
        }
    }
    timings::phase("pin");
    let pinned = load::pins::pin_maps(&maps)?;
    let pinned = maps
        .iter()
        .filter_map(|map| {
            let path = map.pin.as_ref()?;
            pinned
                .contains(path)
                .then(|| (map.kernel_name.clone(), path.clone()))
        })
        .collect();
    let programs: Vec<(String, ProgFd)> = chain
        .tail_calls
        .into_iter()
        .map(|(_, name, fd)| (name.to_string(), fd))
        .chain(
            chain
                .static_slots
                .into_iter()
                .map(|(name, fd)| (name.to_string(), fd)),
        )
        .collect();
    Ok(LoadedRun {
        entry: chain.entry,
        maps,
        programs,
        wiring,
        pinned,
        notes,
        _btf: btf,
    })
}

/// Replaces a reused (pinned) prog array with a new, empty one of the same shape that
/// is neither pinned nor shared.
fn private_prog_array(map: &mut LiveMap) -> Result<(), RunError> {
    let spec = &map.spec;
    let fd = sys::map::map_create(&sys::map::MapCreate {
        name: &map.kernel_name,
        map_type: spec.map_type,
        key_size: spec.key_size,
        value_size: spec.value_size,
        max_entries: spec.max_entries,
        map_flags: spec.map_flags,
        numa_node: spec.numa_node,
        btf: None,
        inner_map_fd: None,
        map_extra: spec.map_extra,
    })
    .map_err(|error| LoadError::MapCreate {
        map: format!("{} (a private copy for the run)", map.kernel_name),
        error,
    })?;
    map.fd = fd;
    map.pin = None;
    map.reused = false;
    Ok(())
}

/// Runs every packet through `program` with `BPF_PROG_TEST_RUN`, `repeat` times each.
///
/// Each packet gets an `xdp_md` context (data at 0, data_end at its length) while the
/// kernel takes one; if it refuses one (EINVAL, before the program runs), the packet is
/// run without, and so are the ones after it. Frames shorter than an Ethernet header are
/// not run (the kernel refuses them). Returns the results and whether the context was
/// passed throughout.
pub fn run_packets(
    prog: &ProgFd,
    program: &ProgramSpec,
    capture: &Capture,
    repeat: u32,
    notes: &mut Vec<String>,
) -> Result<(Vec<PacketResult>, bool), RunError> {
    let mut with_context = true;
    let mut results = Vec::with_capacity(capture.packets.len());
    for (index, packet) in capture.packets.iter().enumerate() {
        let number = index + 1;
        let len_in = packet.data.len();
        if len_in < MIN_FRAME {
            results.push(PacketResult {
                number,
                len_in,
                outcome: Outcome::NotRun {
                    reason: format!("shorter than an Ethernet header ({MIN_FRAME} bytes)"),
                },
            });
            continue;
        }
        let refused = |error: TestRunError| RunError::TestRun {
            program: program.name.clone(),
            packet: number,
            explanation: crate::explain::test_run_errno(error, program.program_type),
            error,
        };
        let context = with_context.then(|| XdpMd::for_packet(len_in as u32));
        let output = match prog_test_run_xdp(prog.as_fd(), &packet.data, context, repeat) {
            Err(error) if with_context && error.errno() == Errno::EINVAL => {
                let output =
                    prog_test_run_xdp(prog.as_fd(), &packet.data, None, repeat).map_err(refused)?;
                with_context = false;
                notes.push(format!(
                    "The kernel refused an xdp_md context for packet {number} (EINVAL); it and the packets after it run without one"
                ));
                output
            }
            other => other.map_err(refused)?,
        };
        if output.reran {
            notes.push(format!(
                "Packet {number} grew beyond the output buffer; it ran once more to read it back, so the maps saw it twice"
            ));
        }
        results.push(PacketResult {
            number,
            len_in,
            outcome: Outcome::Ran {
                retval: output.retval,
                data_out: output.data_out,
                duration_ns: output.duration_ns,
            },
        });
    }
    Ok((results, with_context))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn pcap_bytes(link_type: u32, frames: &[&[u8]]) -> Vec<u8> {
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

    fn pcapng_bytes(link_type: u16, frames: &[&[u8]]) -> Vec<u8> {
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
