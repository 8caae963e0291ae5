//! `BPF_PROG_TEST_RUN`: run a loaded program over one packet in the kernel, without an
//! interface, and read back its return value, the packet as it left it and the time
//! the kernel measured.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

use crate::bpf::{bpf, ptr, Attr};

/// `enum bpf_cmd`: `BPF_PROG_TEST_RUN` (alias `BPF_PROG_RUN`).
pub const BPF_PROG_TEST_RUN: u32 = 10;

/// `XDP_PACKET_HEADROOM`: room the kernel keeps in front of an XDP packet, which
/// `bpf_xdp_adjust_head` can grow the packet into.
pub const XDP_PACKET_HEADROOM: usize = 256;

/// Room for growth at the end (`bpf_xdp_adjust_tail`): at most the rest of a page.
const TAIL_GROWTH: usize = 4096;

/// `BPF_PROG_TEST_RUN`: the `test` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct TestRunAttr {
    pub prog_fd: u32,
    pub retval: u32,
    pub data_size_in: u32,
    pub data_size_out: u32,
    pub data_in: u64,
    pub data_out: u64,
    pub repeat: u32,
    pub duration: u32,
    pub ctx_size_in: u32,
    pub ctx_size_out: u32,
    pub ctx_in: u64,
    pub ctx_out: u64,
    pub flags: u32,
    pub cpu: u32,
    pub batch_size: u32,
    /// The struct's tail padding, spelled out so it is zero (the kernel checks that the
    /// bytes after `batch_size` are).
    pub _pad: u32,
}
impl Attr for TestRunAttr {}

/// `struct xdp_md`: the XDP context as user space writes it for a test run.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct XdpMd {
    pub data: u32,
    pub data_end: u32,
    pub data_meta: u32,
    pub ingress_ifindex: u32,
    pub rx_queue_index: u32,
    pub egress_ifindex: u32,
}

impl XdpMd {
    /// The context of a packet of `len` bytes received nowhere in particular: data at
    /// offset 0, no metadata, no interface.
    pub fn for_packet(len: u32) -> XdpMd {
        XdpMd {
            data_end: len,
            ..XdpMd::default()
        }
    }
}

/// The kernel's internal "operation not supported" (`ENOTSUPP`, not in the uapi errno
/// list), which it returns for program types that have no test run.
pub const ENOTSUPP: i32 = 524;

/// The kernel refused a test run. The raw errno is kept: `ENOTSUPP` has no name in libc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestRunError {
    pub raw_errno: i32,
}

impl TestRunError {
    fn from_io(error: &std::io::Error) -> TestRunError {
        TestRunError {
            raw_errno: error.raw_os_error().unwrap_or(libc::EIO),
        }
    }

    pub fn errno(self) -> Errno {
        Errno::from_raw(self.raw_errno)
    }

    /// The program type has no test run (`ENOTSUPP`, or `EOPNOTSUPP`).
    pub fn is_not_supported(self) -> bool {
        self.raw_errno == ENOTSUPP || self.raw_errno == libc::EOPNOTSUPP
    }

    /// The caller lacks a capability.
    pub fn is_permission(self) -> bool {
        matches!(self.errno(), Errno::EPERM | Errno::EACCES)
    }

    /// The errno's name, as in the kernel's headers.
    pub fn name(self) -> String {
        match (self.raw_errno, self.errno()) {
            (ENOTSUPP, _) => "ENOTSUPP".to_string(),
            (raw, Errno::UnknownErrno) => format!("errno {raw}"),
            (_, errno) => format!("{errno:?}"),
        }
    }

    pub fn description(self) -> &'static str {
        match self.raw_errno {
            ENOTSUPP => "Operation is not supported",
            _ => self.errno().desc(),
        }
    }
}

impl std::fmt::Display for TestRunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BPF_PROG_TEST_RUN failed: {} ({})",
            self.description(),
            self.name()
        )
    }
}

impl std::error::Error for TestRunError {}

/// What one test run gives back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRunOutput {
    /// The program's return value (for XDP, the verdict).
    pub retval: u32,
    /// The packet as the program left it.
    pub data_out: Vec<u8>,
    /// The kernel's mean time per run, in nanoseconds.
    pub duration_ns: u32,
    /// The context as the program left it, when one was passed in.
    pub ctx_out: Option<XdpMd>,
    /// The kernel needed a larger `data_out` buffer; the program ran once more with
    /// one (maps saw that packet twice).
    pub reran: bool,
}

/// Runs `prog` over `data` `repeat` times (at least once) with `BPF_PROG_TEST_RUN`,
/// passing `ctx` as the program's `xdp_md` when given.
///
/// The output buffer has room for the packet grown at both ends; if the kernel still
/// says it is too small (ENOSPC, after the program ran), the run is repeated once with
/// the size the kernel asked for.
pub fn prog_test_run_xdp(
    prog: BorrowedFd<'_>,
    data: &[u8],
    ctx: Option<XdpMd>,
    repeat: u32,
) -> Result<TestRunOutput, TestRunError> {
    let size_in = u32::try_from(data.len()).map_err(|_| TestRunError {
        raw_errno: libc::E2BIG,
    })?;
    let mut capacity = data.len() + XDP_PACKET_HEADROOM + TAIL_GROWTH;
    let mut reran = false;
    loop {
        let mut data_out = vec![0u8; capacity];
        let ctx_in = ctx;
        let mut ctx_out = XdpMd::default();
        let mut attr = TestRunAttr {
            prog_fd: prog.as_raw_fd() as u32,
            data_size_in: size_in,
            data_size_out: u32::try_from(capacity).unwrap_or(u32::MAX),
            data_in: ptr(data.as_ptr()),
            data_out: ptr(data_out.as_mut_ptr()),
            repeat,
            ..TestRunAttr::default()
        };
        if let Some(ctx_in) = &ctx_in {
            attr.ctx_size_in = std::mem::size_of::<XdpMd>() as u32;
            attr.ctx_in = ptr(ctx_in as *const XdpMd);
            attr.ctx_size_out = std::mem::size_of::<XdpMd>() as u32;
            attr.ctx_out = ptr(&mut ctx_out as *mut XdpMd);
        }
        match bpf(BPF_PROG_TEST_RUN, &mut attr) {
            Ok(_) => {
                data_out.truncate((attr.data_size_out as usize).min(capacity));
                return Ok(TestRunOutput {
                    retval: attr.retval,
                    data_out,
                    duration_ns: attr.duration,
                    ctx_out: ctx_in.map(|_| ctx_out),
                    reran,
                });
            }
            Err(error)
                if error.raw_os_error() == Some(Errno::ENOSPC as i32)
                    && !reran
                    && attr.data_size_out as usize > capacity =>
            {
                capacity = attr.data_size_out as usize;
                reran = true;
            }
            Err(error) => return Err(TestRunError::from_io(&error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    // Offsets checked against the `test` member of `union bpf_attr` and `struct xdp_md`
    // in include/uapi/linux/bpf.h.
    #[test]
    fn test_run_attr_layout_matches_the_kernel() {
        assert_eq!(offset_of!(TestRunAttr, prog_fd), 0);
        assert_eq!(offset_of!(TestRunAttr, retval), 4);
        assert_eq!(offset_of!(TestRunAttr, data_size_in), 8);
        assert_eq!(offset_of!(TestRunAttr, data_size_out), 12);
        assert_eq!(offset_of!(TestRunAttr, data_in), 16);
        assert_eq!(offset_of!(TestRunAttr, data_out), 24);
        assert_eq!(offset_of!(TestRunAttr, repeat), 32);
        assert_eq!(offset_of!(TestRunAttr, duration), 36);
        assert_eq!(offset_of!(TestRunAttr, ctx_size_in), 40);
        assert_eq!(offset_of!(TestRunAttr, ctx_size_out), 44);
        assert_eq!(offset_of!(TestRunAttr, ctx_in), 48);
        assert_eq!(offset_of!(TestRunAttr, ctx_out), 56);
        assert_eq!(offset_of!(TestRunAttr, flags), 64);
        assert_eq!(offset_of!(TestRunAttr, cpu), 68);
        assert_eq!(offset_of!(TestRunAttr, batch_size), 72);
        assert_eq!(size_of::<TestRunAttr>(), 80);
    }

    #[test]
    fn xdp_md_layout_matches_the_kernel() {
        assert_eq!(offset_of!(XdpMd, data_end), 4);
        assert_eq!(offset_of!(XdpMd, data_meta), 8);
        assert_eq!(offset_of!(XdpMd, ingress_ifindex), 12);
        assert_eq!(offset_of!(XdpMd, rx_queue_index), 16);
        assert_eq!(offset_of!(XdpMd, egress_ifindex), 20);
        assert_eq!(size_of::<XdpMd>(), 24);
        let not_supported = TestRunError {
            raw_errno: ENOTSUPP,
        };
        assert!(not_supported.is_not_supported());
        assert_eq!(not_supported.name(), "ENOTSUPP");
        let invalid = TestRunError {
            raw_errno: libc::EINVAL,
        };
        assert_eq!(invalid.name(), "EINVAL");
        assert_eq!(
            invalid.to_string(),
            "BPF_PROG_TEST_RUN failed: Invalid argument (EINVAL)"
        );
        assert_eq!(
            XdpMd::for_packet(60),
            XdpMd {
                data: 0,
                data_end: 60,
                data_meta: 0,
                ingress_ifindex: 0,
                rx_queue_index: 0,
                egress_ifindex: 0
            }
        );
    }
}
