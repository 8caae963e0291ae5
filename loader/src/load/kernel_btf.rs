//! The running kernel's BTF: `/sys/kernel/btf/vmlinux`, and the split BTF of each module
//! beside it. Read only when an object needs it (CO-RE relocations, `__ksym` externs,
//! attach targets of fentry/fexit/tp_btf programs), once per load, and a module's only
//! when vmlinux lacks what was asked for: an object without any of those never opens
//! these files, so the small-object load costs what it did.

use std::cell::OnceCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use elf::btf::{Btf, BtfError, BtfKind};
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

/// The BTF kind a name is looked up as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedKind {
    Func,
    Typedef,
    /// A kernel variable (vmlinux BTF describes the per-CPU ones): a typed `__ksym`.
    Var,
}

impl NamedKind {
    /// Whether `kind` is of this kind.
    pub fn is(self, kind: &BtfKind) -> bool {
        match self {
            NamedKind::Func => matches!(kind, BtfKind::Func { .. }),
            NamedKind::Typedef => matches!(kind, BtfKind::Typedef { .. }),
            NamedKind::Var => matches!(kind, BtfKind::Var { .. }),
        }
    }
}

/// Where a named type was found: its id, and the module it is in (`None`: vmlinux).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundType {
    pub type_id: u32,
    pub module: Option<String>,
}

/// The first type of `kind` named `name` in `btf`, among ids from `first_id` on.
pub fn find_named_in(btf: &Btf, name: &str, kind: NamedKind, first_id: u32) -> Option<u32> {
    btf.types_from(first_id)
        .find(|(_, ty)| kind.is(&ty.kind) && btf.string(ty.name_off).ok() == Some(name))
        .map(|(type_id, _)| type_id)
}

/// The kernel's BTF, read on first use.
#[derive(Debug)]
pub struct KernelBtf {
    dir: PathBuf,
    vmlinux: OnceCell<Result<Arc<Btf>, KernelBtfError>>,
    modules: OnceCell<Result<Vec<ModuleBtf>, KernelBtfError>>,
    /// vmlinux's named FUNC, TYPEDEF and VAR ids, sorted by name: built once, on the
    /// first lookup by name, so every attach target or `__ksym` of a load costs a binary
    /// search.
    by_name: OnceCell<Vec<u32>>,
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
            by_name: OnceCell::new(),
        }
    }

    /// The FUNC, TYPEDEF or VAR named `name`: in vmlinux (through the name index), else in
    /// the first module (in name order) that has it; `None` when none has it.
    pub fn find_named(
        &self,
        name: &str,
        kind: NamedKind,
    ) -> Result<Option<FoundType>, KernelBtfError> {
        let vmlinux = self.vmlinux()?;
        let index = self.by_name.get_or_init(|| {
            let mut ids: Vec<u32> = vmlinux
                .types()
                .filter(|(_, ty)| {
                    ty.name_off != 0
                        && matches!(
                            ty.kind,
                            BtfKind::Func { .. } | BtfKind::Typedef { .. } | BtfKind::Var { .. }
                        )
                })
                .map(|(type_id, _)| type_id)
                .collect();
            ids.sort_by_cached_key(|&id| vmlinux.name(id).unwrap_or_default().to_string());
            ids
        });
        let name_of = |id: u32| vmlinux.name(id).unwrap_or_default();
        let start = index.partition_point(|&id| name_of(id) < name);
        let in_vmlinux = index[start..]
            .iter()
            .take_while(|&&id| name_of(id) == name)
            .find(|&&id| vmlinux.get(id).is_some_and(|ty| kind.is(&ty.kind)));
        if let Some(&type_id) = in_vmlinux {
            return Ok(Some(FoundType {
                type_id,
                module: None,
            }));
        }
        // Module types are numbered after vmlinux's: only those are searched.
        let first_module_id = vmlinux.type_count() as u32 + 1;
        for module in self.modules()? {
            if let Some(type_id) = find_named_in(&module.btf, name, kind, first_module_id) {
                return Ok(Some(FoundType {
                    type_id,
                    module: Some(module.name.clone()),
                }));
            }
        }
        Ok(None)
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
pub(crate) mod tests {
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

    /// A version 1 BTF blob: header, `types` (as 32-bit words), `strings`.
    pub(crate) fn blob(types: &[u32], strings: &[u8]) -> Vec<u8> {
        // BTF_MAGIC, version 1, no flags, a 24-byte header.
        let mut out = vec![0x9f, 0xeb, 1, 0];
        let type_len = (types.len() * 4) as u32;
        for word in [24, 0, type_len, type_len, strings.len() as u32] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        for word in types {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(strings);
        out
    }

    // `info` words: the kind in bits 24-28 (BTF_KIND_INT 1, TYPEDEF 8, FUNC 12,
    // FUNC_PROTO 13), vlen in the low bits (a FUNC's linkage, 1: global).
    const INT: u32 = 1 << 24;
    const TYPEDEF: u32 = 8 << 24;
    const FUNC_GLOBAL: u32 = (12 << 24) | 1;
    const FUNC_PROTO: u32 = 13 << 24;

    /// A kernel BTF directory under the temp dir named `tag`: vmlinux with [1] int,
    /// [2] int (void) proto, [3] FUNC do_thing, [4] TYPEDEF btf_trace_thing, [5] FUNC
    /// btf_trace_thing (same name, another kind); module `thing_mod` with [6] FUNC
    /// mod_thing. The caller removes the directory.
    pub(crate) fn synthetic_kernel_btf(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kernel-btf-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let strings = b"\0int\0do_thing\0btf_trace_thing\0";
        #[rustfmt::skip]
        let vmlinux = blob(&[
            1, INT, 4, 32,
            0, FUNC_PROTO, 1,
            5, FUNC_GLOBAL, 2,
            14, TYPEDEF, 2,
            14, FUNC_GLOBAL, 2,
        ], strings);
        std::fs::write(dir.join("vmlinux"), vmlinux).expect("write vmlinux");
        // A module (split BTF): [6] FUNC mod_thing; its string offsets continue vmlinux's.
        let base = strings.len() as u32;
        let module = blob(&[base + 1, FUNC_GLOBAL, 2], b"\0mod_thing\0");
        std::fs::write(dir.join("thing_mod"), module).expect("write module");
        dir
    }

    #[test]
    fn names_are_found_in_vmlinux_then_in_a_module() {
        let dir = synthetic_kernel_btf("names");
        let kernel = KernelBtf::at(&dir);
        let found = |name, kind| kernel.find_named(name, kind).expect("readable");
        let vmlinux_type = |type_id| {
            Some(FoundType {
                type_id,
                module: None,
            })
        };
        assert_eq!(found("do_thing", NamedKind::Func), vmlinux_type(3));
        assert_eq!(
            found("btf_trace_thing", NamedKind::Typedef),
            vmlinux_type(4)
        );
        assert_eq!(found("btf_trace_thing", NamedKind::Func), vmlinux_type(5));
        assert_eq!(found("do_thing", NamedKind::Typedef), None);
        assert_eq!(
            found("mod_thing", NamedKind::Func),
            Some(FoundType {
                type_id: 6,
                module: Some("thing_mod".into())
            })
        );
        assert_eq!(found("missing", NamedKind::Func), None);
        std::fs::remove_dir_all(&dir).expect("cleanup");
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
