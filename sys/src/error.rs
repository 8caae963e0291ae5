//! Errors from the kernel, with the operation and the object they were about.

use std::fmt;
use std::io;

use nix::errno::Errno;

/// A failed system call: what we asked for, about what, and the errno the kernel gave.
#[derive(Debug)]
pub struct SysError {
    /// The operation, e.g. `BPF_MAP_CREATE`.
    pub op: &'static str,
    /// What it was about: a map or program name, a path, an interface.
    pub subject: String,
    pub errno: Errno,
}

impl SysError {
    pub(crate) fn new(op: &'static str, subject: impl Into<String>, error: io::Error) -> SysError {
        SysError {
            op,
            subject: subject.into(),
            errno: Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)),
        }
    }

    /// The kernel said the caller lacks a capability.
    pub fn is_permission(&self) -> bool {
        matches!(self.errno, Errno::EPERM | Errno::EACCES)
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} for {} failed: {} ({:?})",
            self.op,
            self.subject,
            self.errno.desc(),
            self.errno
        )
    }
}

impl std::error::Error for SysError {}
