//! perf events for BPF tracing programs: `perf_event_open(2)` on a tracepoint or on the
//! kprobe and uprobe PMUs, and what the kernel publishes about them in tracefs and
//! sysfs (a tracepoint's id, a PMU's type and its retprobe bit). A BPF program is then
//! attached to the event with `link::perf_event_link_create`.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::error::SysError;

/// `PERF_TYPE_TRACEPOINT` (include/uapi/linux/perf_event.h, `enum perf_type_id`).
pub const PERF_TYPE_TRACEPOINT: u32 = 2;
/// `PERF_FLAG_FD_CLOEXEC`: the new descriptor is close-on-exec.
pub const PERF_FLAG_FD_CLOEXEC: u64 = 1 << 3;
/// `PERF_ATTR_SIZE_VER5`: the attr up to `aux_watermark`, every field this loader sets
/// (the kernel accepts any published size and zero-extends).
pub const PERF_ATTR_SIZE_VER5: u32 = 112;

/// Where the PMUs describe themselves.
const EVENT_SOURCE_DEVICES: &str = "/sys/bus/event_source/devices";

/// `struct perf_event_attr` up to `PERF_ATTR_SIZE_VER5`, with the kernel's field names
/// (the unions by the member this loader uses; the bit fields as one `flags` word).
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    /// `disabled`, `inherit`, ... `sigtrap`: all zero, so the event counts from the start.
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    /// `kprobe_func` / `uprobe_path`: a pointer to a NUL-terminated string.
    config1: u64,
    /// `probe_offset`.
    config2: u64,
    branch_sample_type: u64,
    sample_regs_user: u64,
    sample_stack_user: u32,
    clockid: i32,
    sample_regs_intr: u64,
    aux_watermark: u32,
    sample_max_stack: u16,
    __reserved_2: u16,
}

/// A perf event file descriptor.
#[derive(Debug)]
pub struct PerfEventFd(OwnedFd);

impl AsFd for PerfEventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for PerfEventFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

/// The event to open.
#[derive(Debug, Clone, Copy)]
pub enum PerfEvent<'a> {
    /// A tracefs tracepoint, by its id (`events/<category>/<name>/id`).
    Tracepoint { id: u64 },
    /// A kprobe or uprobe through its PMU: `pmu_type` from [`probe_pmu`], `config` the
    /// retprobe bit or 0, `target` the function (kprobe) or binary path (uprobe),
    /// `offset` the offset into the function (kprobe) or the file (uprobe).
    Probe {
        pmu_type: u32,
        config: u64,
        target: &'a CStr,
        offset: u64,
    },
}

/// `perf_event_open(attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC)`. `subject` names the
/// event in the error.
pub fn perf_event_open(
    event: PerfEvent<'_>,
    pid: i32,
    cpu: i32,
    subject: &str,
) -> Result<PerfEventFd, SysError> {
    // As libbpf opens them: no sampling, enabled from the start (a BPF program runs on
    // every hit whatever the sampling settings).
    let mut attr = PerfEventAttr {
        size: PERF_ATTR_SIZE_VER5,
        ..Default::default()
    };
    match event {
        PerfEvent::Tracepoint { id } => {
            attr.type_ = PERF_TYPE_TRACEPOINT;
            attr.config = id;
        }
        PerfEvent::Probe {
            pmu_type,
            config,
            target,
            offset,
        } => {
            attr.type_ = pmu_type;
            attr.config = config;
            attr.config1 = target.as_ptr() as usize as u64;
            attr.config2 = offset;
        }
    }
    // SAFETY: `attr` is a live #[repr(C)] perf_event_attr whose `size` field says how
    // many bytes the kernel may read (exactly its size); `config1`, when set, points at
    // `target`, a NUL-terminated string borrowed for the whole call. The kernel writes
    // back only `size` on E2BIG, inside the struct.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &mut attr as *mut PerfEventAttr,
            pid as libc::c_long,
            cpu as libc::c_long,
            -1 as libc::c_long,
            PERF_FLAG_FD_CLOEXEC as libc::c_ulong,
        )
    };
    if ret < 0 {
        return Err(SysError::new(
            "perf_event_open",
            subject,
            io::Error::last_os_error(),
        ));
    }
    let fd = i32::try_from(ret).map_err(|_| {
        SysError::new(
            "perf_event_open",
            subject,
            io::Error::from_raw_os_error(libc::EBADF),
        )
    })?;
    // SAFETY: on success perf_event_open returns a new descriptor that nothing else owns.
    Ok(PerfEventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// The dynamic PMUs that place probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbePmu {
    Kprobe,
    Uprobe,
}

impl ProbePmu {
    /// Its directory name under /sys/bus/event_source/devices.
    pub fn name(self) -> &'static str {
        match self {
            ProbePmu::Kprobe => "kprobe",
            ProbePmu::Uprobe => "uprobe",
        }
    }
}

/// What a probe PMU says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pmu {
    /// `perf_event_attr.type` for its events.
    pub pmu_type: u32,
    /// The bit of `config` that makes a probe a return probe.
    pub retprobe_bit: u32,
}

/// Reads the PMU's `type` and `format/retprobe` (kernels since 4.17; an error of kind
/// `NotFound` means the kernel has no such PMU: built without CONFIG_KPROBE_EVENTS or
/// CONFIG_UPROBE_EVENTS, or older).
pub fn probe_pmu(pmu: ProbePmu) -> io::Result<Pmu> {
    let dir = Path::new(EVENT_SOURCE_DEVICES).join(pmu.name());
    let pmu_type = read_number(&dir.join("type"))?;
    let format = std::fs::read_to_string(dir.join("format/retprobe"))?;
    let retprobe_bit = parse_config_bit(&format).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}/format/retprobe says {format:?}", dir.display()),
        )
    })?;
    Ok(Pmu {
        pmu_type: u32::try_from(pmu_type)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "PMU type out of range"))?,
        retprobe_bit,
    })
}

/// The id of tracepoint `category:name` from tracefs mounted at `tracefs`
/// (`events/<category>/<name>/id`). `NotFound` when there is no such tracepoint.
pub fn tracepoint_id(tracefs: &Path, category: &str, name: &str) -> io::Result<u64> {
    read_number(&tracefs.join("events").join(category).join(name).join("id"))
}

fn read_number(path: &Path) -> io::Result<u64> {
    let text = std::fs::read_to_string(path)?;
    text.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} holds {text:?}, not a number", path.display()),
        )
    })
}

/// `config:N` (a PMU format file for a one-bit field) -> N.
fn parse_config_bit(format: &str) -> Option<u32> {
    let bit: u32 = format.trim().strip_prefix("config:")?.parse().ok()?;
    (bit < 64).then_some(bit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    // Offsets from include/uapi/linux/perf_event.h.
    #[test]
    fn the_attr_is_laid_out_as_the_kernel_s() {
        assert_eq!(size_of::<PerfEventAttr>(), PERF_ATTR_SIZE_VER5 as usize);
        assert_eq!(offset_of!(PerfEventAttr, config), 8);
        assert_eq!(offset_of!(PerfEventAttr, flags), 40);
        assert_eq!(offset_of!(PerfEventAttr, config1), 56);
        assert_eq!(offset_of!(PerfEventAttr, config2), 64);
        assert_eq!(offset_of!(PerfEventAttr, aux_watermark), 104);
    }

    #[test]
    fn the_retprobe_bit_is_read_from_the_format_file() {
        assert_eq!(parse_config_bit("config:0\n"), Some(0));
        assert_eq!(parse_config_bit("config:63"), Some(63));
        for bad in ["", "config:", "config:64", "config1:0", "config:0-3"] {
            assert_eq!(parse_config_bit(bad), None, "{bad:?}");
        }
    }
}
