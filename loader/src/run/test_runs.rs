//! Test runs: each packet of a capture through the entry program with
//! `BPF_PROG_TEST_RUN`, with an `xdp_md` context while the kernel takes one.

use std::os::fd::AsFd;

use elf::ProgramSpec;
use nix::errno::Errno;
use sys::test_run::{prog_test_run_xdp, TestRunError, XdpMd};
use sys::ProgFd;

use crate::run::pcap::Capture;
use crate::run::RunError;

/// The shortest frame the kernel test-runs through XDP: an Ethernet header.
pub const MIN_FRAME: usize = 14;

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
