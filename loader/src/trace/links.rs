//! One program attached as its plan says, owned by a link; the link's line; links pinned
//! for `-pin-path`.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use elf::{ProgramSpec, TraceTarget};
use sys::abi::BPF_TRACE_ITER;
use sys::link::{perf_event_link_create, raw_tracepoint_open, tracing_link_create, LinkFd};
use sys::ProgFd;

use crate::load::pins::pin_object;
use crate::trace::error::{Attaching, TraceError};
use crate::trace::plan::Plan;
use crate::trace::probes::{open_probe, ProbePoint};
use crate::trace::tracepoint::open_tracepoint;

/// An attached program. Dropping it closes the link, which detaches the program unless
/// a pin still holds the link.
#[derive(Debug)]
pub struct TraceLink {
    pub program: String,
    /// `tracepoint`, `kprobe`, `raw_tracepoint`, `fentry`, ...
    pub kind: &'static str,
    /// `xdp:xdp_exception`, `do_nanosleep`, `/bin/bash:readline`.
    pub target: String,
    pub id: u32,
    pub fd: LinkFd,
}

impl TraceLink {
    /// `Attached count_exceptions (tracepoint) to xdp:xdp_exception, link id 42`.
    pub fn line(&self) -> String {
        format!(
            "Attached {} ({}) to {}, link id {}",
            self.program, self.kind, self.target, self.id
        )
    }
}

/// The pin of `program`'s link under `pin_root`: `link_<program>`, beside the program's
/// own pin (which has the program's name), as an XDP link is `link_<interface>`.
pub fn link_pin_path(pin_root: &Path, program: &str) -> PathBuf {
    pin_root.join(format!("link_{program}"))
}

/// Attaches `program` (loaded as `prog`) as `plan` says; `None` for a program the plan
/// leaves unattached. `on_program` is what it was loaded to attach to in another BPF
/// program (`-attach-prog`), said in its line instead of the section's suffix.
pub fn attach(
    program: &ProgramSpec,
    prog: &ProgFd,
    plan: &Plan,
    on_program: Option<String>,
) -> Result<Option<TraceLink>, TraceError> {
    let target = match plan {
        Plan::PerfEvent(target) => target.to_string(),
        Plan::RawTracepoint(name) => name.clone(),
        // The target was resolved at load time; the section names it (`fentry/<function>`).
        Plan::Tracing { .. } => match (on_program, program.section.split_once('/')) {
            (Some(on_program), _) => on_program,
            (None, Some((_, target))) if !target.is_empty() => target.to_string(),
            _ => "its load-time target".to_string(),
        },
        Plan::Iterator => program
            .section
            .split_once('/')
            .map_or_else(String::new, |(_, target)| target.to_string()),
        Plan::NotAttached(_) => return Ok(None),
    };
    let at = Attaching {
        program: program.name.clone(),
        section: program.section.clone(),
        target: format!("{} {target}", plan.kind()),
    };
    let link_error = |error| TraceError::Link {
        at: at.boxed(),
        error,
    };
    let fd = match plan {
        Plan::PerfEvent(found) => {
            let event = match found {
                TraceTarget::Tracepoint { category, name } => open_tracepoint(&at, category, name)?,
                TraceTarget::Kprobe {
                    function,
                    offset,
                    retprobe,
                } => open_probe(
                    &at,
                    ProbePoint::Kernel {
                        function,
                        offset: *offset,
                    },
                    *retprobe,
                )?,
                TraceTarget::Uprobe {
                    path,
                    function,
                    offset,
                    retprobe,
                } => open_probe(
                    &at,
                    ProbePoint::User {
                        path,
                        function,
                        offset: *offset,
                    },
                    *retprobe,
                )?,
                // `plan` makes a raw tracepoint plan of these; the same either way.
                TraceTarget::RawTracepoint { name } => {
                    return attach(program, prog, &Plan::RawTracepoint(name.clone()), None);
                }
            };
            // The link holds the event from here on; its descriptor closes at the end
            // of this arm.
            perf_event_link_create(prog.as_fd(), event.as_fd(), &at.target).map_err(link_error)?
        }
        Plan::RawTracepoint(name) => {
            raw_tracepoint_open(prog.as_fd(), Some(name)).map_err(link_error)?
        }
        // Kernels before 5.11 (for LSM, 5.10) have no BPF_LINK_CREATE for these types;
        // BPF_RAW_TRACEPOINT_OPEN without a name attaches them there, as libbpf falls
        // back to it.
        Plan::Tracing { attach_type, .. } => {
            match tracing_link_create(prog.as_fd(), *attach_type, &at.target) {
                Ok(fd) => fd,
                Err(error) if error.errno == nix::errno::Errno::EINVAL => {
                    raw_tracepoint_open(prog.as_fd(), None).map_err(|_| link_error(error))?
                }
                Err(error) => return Err(link_error(error)),
            }
        }
        // No iterator arguments: the iterators that need one (a map's elements, a
        // cgroup) are refused by the kernel here, in the link's sentence.
        Plan::Iterator => {
            tracing_link_create(prog.as_fd(), BPF_TRACE_ITER, &at.target).map_err(link_error)?
        }
        Plan::NotAttached(_) => return Ok(None),
    };
    let id = sys::link::link_info(fd.as_fd())
        .map(|info| info.id)
        .unwrap_or(0);
    Ok(Some(TraceLink {
        program: program.name.clone(),
        kind: plan.kind(),
        target,
        id,
        fd,
    }))
}

/// Pins each link at [`link_pin_path`]; returns the pins made (removed again on failure).
pub fn pin_links(links: &[TraceLink], pin_root: &Path) -> Result<Vec<PathBuf>, TraceError> {
    let mut pinned = Vec::with_capacity(links.len());
    for link in links {
        let path = link_pin_path(pin_root, &link.program);
        if let Err(error) = pin_object(link.fd.as_fd(), &path, &link.program) {
            crate::load::pins::unpin(&pinned);
            return Err(TraceError::Load(error));
        }
        pinned.push(path);
    }
    Ok(pinned)
}
