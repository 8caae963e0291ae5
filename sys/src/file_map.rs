//! A file's bytes, mapped read-only instead of copied when the kernel allows it.
//!
//! `/sys/kernel/btf/vmlinux` is 5 to 6 MB, and sysfs hands a `read(2)` at most a page:
//! reading it costs over a thousand system calls and a copy of every byte. Since Linux
//! 6.16 the file can be mapped (the kernel maps its own BTF pages), which is what
//! libbpf does first too. On older kernels, or files that cannot be mapped, the bytes
//! are read as before.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Deref;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::ptr::NonNull;

use crate::error::SysError;

/// A file's contents: a read-only private mapping, or the bytes read into memory.
pub struct FileBytes {
    inner: Inner,
}

enum Inner {
    Mapped { ptr: NonNull<u8>, len: usize },
    Read(Vec<u8>),
}

// SAFETY: the mapping is read-only and private (PROT_READ, MAP_PRIVATE) and owned by
// this value alone, so sharing or moving it between threads is as safe as a `Vec<u8>`.
unsafe impl Send for FileBytes {}
// SAFETY: as above: nothing can write through the mapping.
unsafe impl Sync for FileBytes {}

impl FileBytes {
    /// Whether the bytes came from a mapping (for tests and `-timings`).
    pub fn is_mapped(&self) -> bool {
        matches!(self.inner, Inner::Mapped { .. })
    }
}

impl Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.inner {
            // SAFETY: `ptr` is the start of a live mapping of `len` readable bytes, made
            // by `map` below and unmapped only in `drop`.
            Inner::Mapped { ptr, len } => unsafe { std::slice::from_raw_parts(ptr.as_ptr(), *len) },
            Inner::Read(bytes) => bytes,
        }
    }
}

impl Drop for FileBytes {
    fn drop(&mut self) {
        if let Inner::Mapped { ptr, len } = self.inner {
            // SAFETY: the mapping was made by `map` with this address and length and
            // no slice of it outlives `self` (they borrow it).
            unsafe {
                libc::munmap(ptr.as_ptr().cast(), len);
            }
        }
    }
}

/// Maps `file`'s `len` bytes read-only, or `None` when the kernel refuses (sysfs files
/// before 6.16 have no mmap: ENODEV or EINVAL).
fn map(file: &File, len: usize) -> Option<FileBytes> {
    if len == 0 {
        return None;
    }
    // SAFETY: a new private read-only mapping chosen by the kernel (addr NULL) of an
    // open descriptor; it aliases no Rust memory. The result is checked for MAP_FAILED.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return None;
    }
    let ptr = NonNull::new(addr.cast::<u8>())?;
    Some(FileBytes {
        inner: Inner::Mapped { ptr, len },
    })
}

/// The bytes of the file at `path`: mapped when possible, read otherwise.
pub fn file_bytes(path: &Path) -> Result<FileBytes, SysError> {
    let subject = || path.display().to_string();
    let mut file = File::open(path).map_err(|error| SysError::new("open", subject(), error))?;
    let len = file
        .metadata()
        .map_err(|error| SysError::new("fstat", subject(), error))?
        .len();
    if let Some(bytes) = usize::try_from(len).ok().and_then(|len| map(&file, len)) {
        return Ok(bytes);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.read_to_end(&mut bytes)
        .map_err(|error: io::Error| SysError::new("read", subject(), error))?;
    Ok(FileBytes {
        inner: Inner::Read(bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_reads_the_same_mapped_as_read() {
        let path = std::env::temp_dir().join(format!("file-map-test-{}", std::process::id()));
        let contents: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &contents).expect("write the test file");
        let bytes = file_bytes(&path).expect("map the test file");
        let _ = std::fs::remove_file(&path);
        assert!(bytes.is_mapped());
        assert_eq!(&*bytes, &contents[..]);
    }

    #[test]
    fn an_empty_file_is_read_not_mapped() {
        let path = std::env::temp_dir().join(format!("file-map-empty-{}", std::process::id()));
        std::fs::write(&path, b"").expect("write the test file");
        let bytes = file_bytes(&path).expect("read the empty file");
        let _ = std::fs::remove_file(&path);
        assert!(!bytes.is_mapped());
        assert!(bytes.is_empty());
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let error = match file_bytes(Path::new("/nonexistent/file-map")) {
            Err(error) => error,
            Ok(_) => panic!("a missing file opened"),
        };
        assert_eq!(error.op, "open");
        assert!(error.subject.contains("/nonexistent/file-map"));
    }
}
