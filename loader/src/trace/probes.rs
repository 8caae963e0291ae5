//! kprobes and uprobes: a perf event on the kernel's kprobe or uprobe PMU (type and
//! retprobe bit read from sysfs), for a kernel function (and offset into it), or for a
//! binary and the file offset of its function (read from the binary's symbol table).

use std::ffi::CString;

use sys::perf_event::{perf_event_open, probe_pmu, PerfEvent, PerfEventFd, ProbePmu};

use crate::trace::error::{Attaching, TraceError};

/// Where a probe goes.
pub enum ProbePoint<'a> {
    Kernel {
        function: &'a str,
        offset: u64,
    },
    User {
        path: &'a str,
        function: &'a str,
        offset: u64,
    },
}

/// Opens a kprobe, kretprobe, uprobe or uretprobe (pid -1: every process; cpu 0).
pub fn open_probe(
    at: &Attaching,
    point: ProbePoint<'_>,
    retprobe: bool,
) -> Result<PerfEventFd, TraceError> {
    let pmu = match point {
        ProbePoint::Kernel { .. } => ProbePmu::Kprobe,
        ProbePoint::User { .. } => ProbePmu::Uprobe,
    };
    let found = probe_pmu(pmu).map_err(|error| TraceError::NoPmu {
        at: at.boxed(),
        pmu: pmu.name(),
        error,
    })?;
    let (target, offset) = match point {
        ProbePoint::Kernel { function, offset } => (function.to_string(), offset),
        ProbePoint::User {
            path,
            function,
            offset,
        } => (
            path.to_string(),
            offset + function_offset(at, path, function)?,
        ),
    };
    // The section parser allows no NUL; a path from it cannot hold one either.
    let target = CString::new(target).map_err(|_| TraceError::Target {
        program: at.program.clone(),
        error: elf::TargetError {
            section: at.section.clone(),
            reason: "holds a NUL byte",
        },
    })?;
    let config = if retprobe {
        1u64.checked_shl(found.retprobe_bit).unwrap_or(0)
    } else {
        0
    };
    let event = PerfEvent::Probe {
        pmu_type: found.pmu_type,
        config,
        target: &target,
        offset,
    };
    perf_event_open(event, -1, 0, &at.target).map_err(|error| TraceError::PerfEvent {
        at: at.boxed(),
        error,
    })
}

/// The file offset of `function` in the binary at `path`.
fn function_offset(at: &Attaching, path: &str, function: &str) -> Result<u64, TraceError> {
    let bytes = std::fs::read(path).map_err(|error| TraceError::Binary {
        at: at.boxed(),
        path: path.to_string(),
        error,
    })?;
    elf::uprobe::function_file_offset(&bytes, function).map_err(|error| TraceError::Symbol {
        at: at.boxed(),
        path: path.to_string(),
        error: Box::new(error),
    })
}
