//! bpffs objects: pin, open a pin, and tell what kind of object a descriptor is.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::abi::{BPF_OBJ_GET, BPF_OBJ_PIN};
use crate::bpf::{bpf, bpf_fd, ptr, ObjAttr};
use crate::error::SysError;
use crate::map::MapFd;

fn c_path(path: &Path, op: &'static str) -> Result<CString, SysError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| SysError {
        op,
        subject: path.display().to_string(),
        errno: nix::errno::Errno::EINVAL,
    })
}

/// Pins the object behind `fd` at `path` (a file in a bpffs mount).
pub fn obj_pin(fd: BorrowedFd<'_>, path: &Path) -> Result<(), SysError> {
    let c_path = c_path(path, "BPF_OBJ_PIN")?;
    let mut attr = ObjAttr {
        pathname: ptr(c_path.as_ptr()),
        bpf_fd: fd.as_raw_fd() as u32,
        ..Default::default()
    };
    bpf(BPF_OBJ_PIN, &mut attr)
        .map(drop)
        .map_err(|error| SysError::new("BPF_OBJ_PIN", path.display().to_string(), error))
}

/// Opens the object pinned at `path`.
pub fn obj_get(path: &Path) -> Result<OwnedFd, SysError> {
    let c_path = c_path(path, "BPF_OBJ_GET")?;
    let mut attr = ObjAttr {
        pathname: ptr(c_path.as_ptr()),
        ..Default::default()
    };
    bpf_fd(BPF_OBJ_GET, &mut attr)
        .map_err(|error| SysError::new("BPF_OBJ_GET", path.display().to_string(), error))
}

/// What a bpf file descriptor refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Map,
    Program,
    Link,
    Btf,
    Other,
}

/// Tells what kind of bpf object `fd` is from its anonymous inode's name, as bpftool does.
pub fn object_kind(fd: BorrowedFd<'_>) -> ObjectKind {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    match std::fs::read_link(link) {
        Ok(target) => match target.as_os_str().as_bytes() {
            b"anon_inode:bpf-map" => ObjectKind::Map,
            b"anon_inode:bpf-prog" => ObjectKind::Program,
            b"anon_inode:bpf-link" => ObjectKind::Link,
            b"anon_inode:btf" => ObjectKind::Btf,
            _ => ObjectKind::Other,
        },
        Err(_) => ObjectKind::Other,
    }
}

/// Why a pin could not be opened as a map.
#[derive(Debug)]
pub enum PinnedMapError {
    Open(SysError),
    NotAMap { path: String, kind: ObjectKind },
}

impl std::fmt::Display for PinnedMapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinnedMapError::Open(error) => error.fmt(f),
            PinnedMapError::NotAMap { path, kind } => {
                write!(f, "{path} is a pinned {kind:?}, not a map")
            }
        }
    }
}

impl std::error::Error for PinnedMapError {}

/// Opens the map pinned at `path`, refusing pins of programs, links and BTF.
pub fn map_from_pin(path: &Path) -> Result<MapFd, PinnedMapError> {
    let fd = obj_get(path).map_err(PinnedMapError::Open)?;
    match object_kind(std::os::fd::AsFd::as_fd(&fd)) {
        ObjectKind::Map => Ok(MapFd::from_owned(fd)),
        kind => Err(PinnedMapError::NotAMap {
            path: path.display().to_string(),
            kind,
        }),
    }
}
