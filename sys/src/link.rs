//! BPF links: XDP attachments owned by a file descriptor (or its pin) instead of the
//! interface, and the links of tracing programs (on a perf event, a raw tracepoint, or
//! the BTF target a tracing or LSM program was loaded for).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use crate::abi::*;
use crate::bpf::{bpf, bpf_fd, ptr, Attr, GetFdByIdAttr, InfoAttr};
use crate::error::SysError;

/// A link file descriptor.
#[derive(Debug)]
pub struct LinkFd(OwnedFd);

impl LinkFd {
    /// Wraps a descriptor known to refer to a link (from `obj_get` on a link pin).
    pub fn from_owned(fd: OwnedFd) -> LinkFd {
        LinkFd(fd)
    }
}

impl AsFd for LinkFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for LinkFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

/// `BPF_LINK_CREATE` for an XDP attachment, or a tracing or LSM program (target 0: the
/// BTF target it was loaded for).
#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    /// `target_ifindex` for XDP (`target_fd`, 0, for tracing).
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}
impl Attr for LinkCreateAttr {}

/// `BPF_LINK_CREATE` on a perf event: `link_create.perf_event`.
#[repr(C)]
#[derive(Default)]
struct LinkCreatePerfEventAttr {
    prog_fd: u32,
    /// The perf event's descriptor.
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    bpf_cookie: u64,
}
impl Attr for LinkCreatePerfEventAttr {}

/// `BPF_RAW_TRACEPOINT_OPEN`: `raw_tracepoint` of `union bpf_attr` (without the 6.10
/// `cookie`, so older kernels take it too).
#[repr(C)]
#[derive(Default)]
struct RawTracepointOpenAttr {
    /// A pointer to the tracepoint's name, or 0 for a program loaded with its target.
    name: u64,
    prog_fd: u32,
    _pad: u32,
}
impl Attr for RawTracepointOpenAttr {}

/// `BPF_LINK_UPDATE`.
#[repr(C)]
#[derive(Default)]
struct LinkUpdateAttr {
    link_fd: u32,
    new_prog_fd: u32,
    flags: u32,
    old_prog_fd: u32,
}
impl Attr for LinkUpdateAttr {}

/// `BPF_LINK_DETACH`.
#[repr(C)]
#[derive(Default)]
struct LinkDetachAttr {
    link_fd: u32,
}
impl Attr for LinkDetachAttr {}

/// `struct bpf_link_info` with the XDP member of its union.
#[repr(C)]
#[derive(Default)]
struct BpfLinkInfo {
    link_type: u32,
    id: u32,
    prog_id: u32,
    _pad: u32,
    /// `xdp.ifindex` for XDP links; the union is larger, the kernel copies what fits.
    ifindex: u32,
    _union_rest: [u32; 7],
}

/// What the kernel says about a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub id: u32,
    pub link_type: u32,
    pub prog_id: u32,
    /// For XDP links, the interface.
    pub ifindex: u32,
}

/// Attaches `prog` to interface `ifindex` through a new XDP link; `flags` is the mode
/// (`XDP_FLAGS_SKB_MODE`, `XDP_FLAGS_DRV_MODE`, `XDP_FLAGS_HW_MODE`).
pub fn xdp_link_create(prog: BorrowedFd<'_>, ifindex: u32, flags: u32) -> Result<LinkFd, SysError> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags,
    };
    bpf_fd(BPF_LINK_CREATE, &mut attr)
        .map(LinkFd)
        .map_err(|error| {
            SysError::new(
                "BPF_LINK_CREATE",
                format!("interface index {ifindex}"),
                error,
            )
        })
}

/// Attaches `prog` (a kprobe, uprobe or tracepoint program) to a perf event through a
/// new link (`BPF_LINK_CREATE`, `BPF_PERF_EVENT`; kernels since 5.15). The link holds
/// the event: the event's descriptor may be closed once the link exists, and a pinned
/// link keeps both. `subject` names the event in the error.
pub fn perf_event_link_create(
    prog: BorrowedFd<'_>,
    event: BorrowedFd<'_>,
    subject: &str,
) -> Result<LinkFd, SysError> {
    let mut attr = LinkCreatePerfEventAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: event.as_raw_fd() as u32,
        attach_type: BPF_PERF_EVENT,
        ..Default::default()
    };
    bpf_fd(BPF_LINK_CREATE, &mut attr)
        .map(LinkFd)
        .map_err(|error| SysError::new("BPF_LINK_CREATE", subject, error))
}

/// Attaches a tracing or LSM program to the target it was loaded for
/// (`BPF_LINK_CREATE` with its expected attach type and target 0, as libbpf does).
pub fn tracing_link_create(
    prog: BorrowedFd<'_>,
    attach_type: u32,
    subject: &str,
) -> Result<LinkFd, SysError> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        attach_type,
        ..Default::default()
    };
    bpf_fd(BPF_LINK_CREATE, &mut attr)
        .map(LinkFd)
        .map_err(|error| SysError::new("BPF_LINK_CREATE", subject, error))
}

/// `BPF_RAW_TRACEPOINT_OPEN`: attaches a raw tracepoint program to the tracepoint
/// `name` (or, with `None`, a tracing program to its load-time target). The descriptor
/// returned is a link: pinnable, detached when the last reference goes.
pub fn raw_tracepoint_open(prog: BorrowedFd<'_>, name: Option<&str>) -> Result<LinkFd, SysError> {
    let subject = match name {
        Some(name) => format!("raw tracepoint {name}"),
        None => "the program's target".to_string(),
    };
    let c_name = match name.map(std::ffi::CString::new).transpose() {
        Ok(c_name) => c_name,
        Err(_) => {
            return Err(SysError {
                op: "BPF_RAW_TRACEPOINT_OPEN",
                subject,
                errno: nix::errno::Errno::EINVAL,
            })
        }
    };
    let mut attr = RawTracepointOpenAttr {
        name: c_name.as_ref().map_or(0, |name| ptr(name.as_ptr())),
        prog_fd: prog.as_raw_fd() as u32,
        _pad: 0,
    };
    bpf_fd(BPF_RAW_TRACEPOINT_OPEN, &mut attr)
        .map(LinkFd)
        .map_err(|error| SysError::new("BPF_RAW_TRACEPOINT_OPEN", subject, error))
}

/// Swaps the program of a link in place; with `old`, only if the link still runs it.
pub fn link_update(
    link: BorrowedFd<'_>,
    new_prog: BorrowedFd<'_>,
    old: Option<BorrowedFd<'_>>,
) -> Result<(), SysError> {
    let mut attr = LinkUpdateAttr {
        link_fd: link.as_raw_fd() as u32,
        new_prog_fd: new_prog.as_raw_fd() as u32,
        flags: if old.is_some() { BPF_F_REPLACE } else { 0 },
        old_prog_fd: old.map_or(0, |fd| fd.as_raw_fd() as u32),
    };
    bpf(BPF_LINK_UPDATE, &mut attr)
        .map(drop)
        .map_err(|error| SysError::new("BPF_LINK_UPDATE", "link", error))
}

/// Detaches a link from its hook even while pins or descriptors still hold it.
pub fn link_detach(link: BorrowedFd<'_>) -> Result<(), SysError> {
    let mut attr = LinkDetachAttr {
        link_fd: link.as_raw_fd() as u32,
    };
    bpf(BPF_LINK_DETACH, &mut attr)
        .map(drop)
        .map_err(|error| SysError::new("BPF_LINK_DETACH", "link", error))
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a link.
pub fn link_info(link: BorrowedFd<'_>) -> Result<LinkInfo, SysError> {
    let mut info = BpfLinkInfo::default();
    let mut attr = InfoAttr {
        bpf_fd: link.as_raw_fd() as u32,
        info_len: std::mem::size_of::<BpfLinkInfo>() as u32,
        info: ptr(&mut info as *mut BpfLinkInfo),
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)
        .map_err(|error| SysError::new("BPF_OBJ_GET_INFO_BY_FD", "link", error))?;
    Ok(LinkInfo {
        id: info.id,
        link_type: info.link_type,
        prog_id: info.prog_id,
        ifindex: info.ifindex,
    })
}

/// Every link in the kernel, by id (`BPF_LINK_GET_NEXT_ID`).
pub fn link_ids() -> Result<Vec<u32>, SysError> {
    next_ids(BPF_LINK_GET_NEXT_ID, "BPF_LINK_GET_NEXT_ID")
}

/// Every program in the kernel, by id (`BPF_PROG_GET_NEXT_ID`).
pub fn prog_ids() -> Result<Vec<u32>, SysError> {
    next_ids(BPF_PROG_GET_NEXT_ID, "BPF_PROG_GET_NEXT_ID")
}

pub(crate) fn next_ids(cmd: u32, op: &'static str) -> Result<Vec<u32>, SysError> {
    let mut ids = Vec::new();
    let mut start = 0;
    loop {
        let mut attr = GetFdByIdAttr {
            id: start,
            ..Default::default()
        };
        match bpf(cmd, &mut attr) {
            Ok(_) => {
                ids.push(attr.next_id);
                start = attr.next_id;
            }
            Err(error) if error.raw_os_error() == Some(libc::ENOENT) => return Ok(ids),
            Err(error) => return Err(SysError::new(op, "ids", error)),
        }
    }
}

/// Opens the link with kernel id `id`.
pub fn link_fd_by_id(id: u32) -> Result<LinkFd, SysError> {
    let mut attr = GetFdByIdAttr {
        id,
        ..Default::default()
    };
    bpf_fd(BPF_LINK_GET_FD_BY_ID, &mut attr)
        .map(LinkFd)
        .map_err(|error| SysError::new("BPF_LINK_GET_FD_BY_ID", format!("link id {id}"), error))
}

/// The XDP link attached to `ifindex`, if there is one.
pub fn xdp_link_on(ifindex: u32) -> Result<Option<(LinkFd, LinkInfo)>, SysError> {
    for id in link_ids()? {
        let Ok(fd) = link_fd_by_id(id) else { continue };
        let Ok(info) = link_info(fd.as_fd()) else {
            continue;
        };
        if info.link_type == BPF_LINK_TYPE_XDP && info.ifindex == ifindex {
            return Ok(Some((fd, info)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn layouts_match_the_kernel() {
        assert_eq!(size_of::<LinkCreateAttr>(), 16);
        assert_eq!(offset_of!(LinkCreatePerfEventAttr, bpf_cookie), 16);
        assert_eq!(size_of::<LinkCreatePerfEventAttr>(), 24);
        assert_eq!(offset_of!(RawTracepointOpenAttr, prog_fd), 8);
        assert_eq!(size_of::<RawTracepointOpenAttr>(), 16);
        assert_eq!(offset_of!(LinkUpdateAttr, old_prog_fd), 12);
        assert_eq!(offset_of!(BpfLinkInfo, ifindex), 16);
    }
}
