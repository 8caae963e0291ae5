//! Tracepoints: tracefs made available (mounted at /sys/kernel/tracing when missing, as
//! for `bpf_printk`), the tracepoint's id read from it, and a perf event opened on it.

use std::path::Path;

use sys::perf_event::{perf_event_open, tracepoint_id, PerfEvent, PerfEventFd};

use crate::load::tracefs::{Tracefs, TRACEFS_ROOT};
use crate::trace::error::{Attaching, TraceError};

/// Mounts tracefs at [`TRACEFS_ROOT`] when it is not there, as for `bpf_printk`
/// ([`crate::load::tracefs::ensure_tracefs`]); says whether this run did. Tracepoints
/// cannot attach without it, so here an unmountable tracefs is an error.
pub fn ensure_tracefs() -> Result<bool, TraceError> {
    match crate::load::tracefs::ensure_tracefs() {
        Tracefs::Mounted => Ok(false),
        Tracefs::MountedNow => Ok(true),
        Tracefs::Unavailable(why) => Err(TraceError::Tracefs { why }),
    }
}

/// A perf event on tracepoint `category:name` (pid -1, cpu 0: the program runs on every
/// CPU whatever the event's CPU, as libbpf opens it).
pub fn open_tracepoint(
    at: &Attaching,
    category: &str,
    name: &str,
) -> Result<PerfEventFd, TraceError> {
    let root = Path::new(TRACEFS_ROOT);
    let id = tracepoint_id(root, category, name).map_err(|error| {
        let path = root.join("events").join(category).join(name);
        match error.kind() {
            std::io::ErrorKind::NotFound => TraceError::NoTracepoint {
                at: at.boxed(),
                path,
            },
            _ => TraceError::Tracefs {
                why: format!("reading {}/id failed: {error}", path.display()),
            },
        }
    })?;
    perf_event_open(PerfEvent::Tracepoint { id }, -1, 0, &at.target).map_err(|error| {
        TraceError::PerfEvent {
            at: at.boxed(),
            error,
        }
    })
}
