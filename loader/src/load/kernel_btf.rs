//! The running kernel's BTF: `/sys/kernel/btf/vmlinux`, and the split BTF of each module
//! beside it. Read only when an object needs it (CO-RE relocations, `__ksym` externs,
//! attach targets of fentry/fexit/tp_btf programs), once per load, and a module's only
//! when vmlinux lacks what was asked for: an object without any of those never opens
//! these files, so the small-object load costs what it did.

use std::cell::OnceCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use elf::btf::{Btf, BtfError};
use nix::errno::Errno;
use sys::file_map::{file_bytes, FileBytes};
use sys::SysError;

/// Where the kernel publishes its BTF (CONFIG_DEBUG_INFO_BTF).
pub const KERNEL_BTF_DIR: &str = "/sys/kernel/btf";

/// Why the kernel's BTF cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelBtfError {
    /// The file is missing or unreadable (a kernel built without CONFIG_DEBUG_INFO_BTF,
    /// or /sys not mounted).
    Read { path: PathBuf, reason: String },
    /// The file is there but is not BTF this loader can read.
    Parse { path: PathBuf, error: BtfError },
}

impl fmt::Display for KernelBtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelBtfError::Read { path, reason } => write!(
                f,
                "cannot read the kernel's BTF at {}: {reason} (the kernel needs CONFIG_DEBUG_INFO_BTF=y)",
                path.display()
            ),
            KernelBtfError::Parse { path, error } => {
                write!(f, "the kernel's BTF at {} is not valid: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for KernelBtfError {}

/// One kernel module's BTF, its ids numbered after vmlinux's as the kernel numbers them.
#[derive(Debug)]
pub struct ModuleBtf {
    /// The module's name (the file name under /sys/kernel/btf).
    pub name: String,
    /// vmlinux's types followed by the module's ([`Btf::parse_split`]), vmlinux shared.
    pub btf: Btf,
}

/// The kernel's BTF, read on first use.
#[derive(Debug)]
pub struct KernelBtf {
    dir: PathBuf,
    vmlinux: OnceCell<Result<Arc<Btf>, KernelBtfError>>,
    modules: OnceCell<Result<Vec<ModuleBtf>, KernelBtfError>>,
}

impl Default for KernelBtf {
    fn default() -> Self {
        KernelBtf::at(Path::new(KERNEL_BTF_DIR))
    }
}

/// The file's bytes, mapped where the kernel allows it (6.16 and later): sysfs gives a
/// `read(2)` one page at a time, which for vmlinux's 5 MB is most of a CO-RE load.
fn read(path: &Path) -> Result<FileBytes, KernelBtfError> {
    file_bytes(path).map_err(|error| read_error(path, &error))
}

fn read_error(path: &Path, error: &SysError) -> KernelBtfError {
    KernelBtfError::Read {
        path: path.to_path_buf(),
        reason: error.errno.desc().to_string(),
    }
}

impl KernelBtf {
    /// The BTF under `dir` instead of /sys/kernel/btf (tests, or a saved copy).
    pub fn at(dir: &Path) -> KernelBtf {
        KernelBtf {
            dir: dir.to_path_buf(),
            vmlinux: OnceCell::new(),
            modules: OnceCell::new(),
        }
    }

    /// vmlinux's BTF, read and parsed the first time it is asked for.
    pub fn vmlinux(&self) -> Result<&Btf, KernelBtfError> {
        self.vmlinux_shared().map(|btf| &**btf)
    }

    /// vmlinux's BTF as the modules' split BTF shares it.
    fn vmlinux_shared(&self) -> Result<&Arc<Btf>, KernelBtfError> {
        self.vmlinux
            .get_or_init(|| {
                let path = self.dir.join("vmlinux");
                let bytes = read(&path)?;
                Btf::parse(&bytes)
                    .map(Arc::new)
                    .map_err(|error| KernelBtfError::Parse { path, error })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Every module's BTF, in name order (deterministic results), read the first time
    /// they are asked for. A module whose file vanished meanwhile (unloaded) is left
    /// out; one that is there but unreadable is an error.
    pub fn modules(&self) -> Result<&[ModuleBtf], KernelBtfError> {
        self.modules
            .get_or_init(|| {
                let base = self.vmlinux_shared()?;
                let entries =
                    std::fs::read_dir(&self.dir).map_err(|error| KernelBtfError::Read {
                        path: self.dir.clone(),
                        reason: error.to_string(),
                    })?;
                let mut names: Vec<String> = entries
                    .filter_map(|entry| entry.ok())
                    .filter_map(|entry| entry.file_name().into_string().ok())
                    .filter(|name| name != "vmlinux")
                    .collect();
                names.sort();
                let mut modules = Vec::with_capacity(names.len());
                for name in names {
                    let path = self.dir.join(&name);
                    let bytes = match file_bytes(&path) {
                        Ok(bytes) => bytes,
                        Err(error) if error.errno == Errno::ENOENT => continue,
                        Err(error) => return Err(read_error(&path, &error)),
                    };
                    let btf = Btf::parse_split(&bytes, Arc::clone(base))
                        .map_err(|error| KernelBtfError::Parse { path, error })?;
                    modules.push(ModuleBtf { name, btf });
                }
                Ok(modules)
            })
            .as_ref()
            .map(Vec::as_slice)
            .map_err(Clone::clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_one_sentence_naming_the_file() {
        let kernel = KernelBtf::at(Path::new("/nonexistent/btf"));
        let error = kernel.vmlinux().expect_err("there is no BTF there");
        let text = error.to_string();
        assert!(text.contains("/nonexistent/btf/vmlinux"), "{text}");
        assert!(text.contains("CONFIG_DEBUG_INFO_BTF"), "{text}");
        // The failure is remembered, not retried.
        assert_eq!(kernel.vmlinux().expect_err("still none"), error);
        assert!(kernel.modules().is_err());
    }

    #[test]
    fn vmlinux_parses_when_the_kernel_has_it() {
        let kernel = KernelBtf::default();
        if !Path::new(KERNEL_BTF_DIR).join("vmlinux").exists() {
            return; // a kernel without BTF: nothing to parse here
        }
        let vmlinux = kernel.vmlinux().expect("the running kernel's BTF parses");
        assert!(vmlinux.type_count() > 1000);
        assert!(kernel.modules().is_ok());
    }
}
