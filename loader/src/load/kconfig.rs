//! The values of an object's `.kconfig` externs, from the running kernel, as libbpf
//! gives them (`bpf_object__resolve_externs`): `LINUX_KERNEL_VERSION` from the release
//! (or Ubuntu's /proc/version_signature), `LINUX_HAS_BPF_COOKIE` and
//! `LINUX_HAS_SYSCALL_WRAPPER` probed, `CONFIG_*` from /boot/config-<release> or
//! /proc/config.gz. Read only for objects that have such externs; the layout of the
//! value is [`elf::kconfig`]'s.

use std::io::Read;
use std::path::{Path, PathBuf};

use elf::kconfig::{KconfigExtern, KconfigType};

use crate::load::ksym::{kallsyms_addresses, KALLSYMS};

/// Where libbpf looks for the kernel's configuration, in order (`%s`: the release).
const BOOT_CONFIG: &str = "/boot/config-";
const PROC_CONFIG: &str = "/proc/config.gz";
/// Ubuntu's kernels report the upstream version here, not in the release.
const VERSION_SIGNATURE: &str = "/proc/version_signature";

/// Why an extern has no value: the loader says it as `LoadError::Kconfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KconfigError {
    pub name: String,
    pub reason: String,
}

/// What the running kernel says, read as the externs ask for it.
pub trait KernelFacts {
    /// `KERNEL_VERSION(major, minor, patch)` of the running kernel, or `None`.
    fn version_code(&self) -> Option<u32>;
    /// Whether programs may call `bpf_get_attach_cookie`.
    fn has_bpf_cookie(&self) -> bool;
    /// Whether syscalls enter through `__<arch>_sys_*` wrappers.
    fn has_syscall_wrapper(&self) -> bool;
    /// The kernel's configuration text and the file it came from.
    fn config(&self) -> Result<(String, PathBuf), String>;
}

/// `KERNEL_VERSION(a, b, c)` of include/uapi/linux/version.h (the patch level saturates
/// at 255, as the kernel's own macro does since 4.9.256).
pub fn kernel_version_code(major: u32, minor: u32, patch: u32) -> u32 {
    (major << 16) + (minor << 8) + patch.min(255)
}

/// The leading `major.minor.patch` of `text` (`6.18.44-fc-v1147` -> 6, 18, 44).
pub fn parse_version(text: &str) -> Option<u32> {
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next().and_then(|part| part.parse().ok()).unwrap_or(0);
    Some(kernel_version_code(major, minor, patch))
}

/// The running kernel's facts, each read the first time an extern asks.
#[derive(Debug, Default)]
pub struct RunningKernel;

fn release() -> Option<String> {
    nix::sys::utsname::uname()
        .ok()
        .and_then(|uts| uts.release().to_str().map(str::to_string))
}

impl KernelFacts for RunningKernel {
    fn version_code(&self) -> Option<u32> {
        // "Ubuntu 5.4.0-12.15-generic 5.4.8": the third word is the upstream version.
        if let Ok(signature) = std::fs::read_to_string(VERSION_SIGNATURE) {
            if let Some(code) = signature.split_whitespace().nth(2).and_then(parse_version) {
                return Some(code);
            }
        }
        release().as_deref().and_then(parse_version)
    }

    fn has_bpf_cookie(&self) -> bool {
        sys::probe::prog_can_call_helper(
            sys::abi::BPF_PROG_TYPE_TRACEPOINT,
            sys::probe::BPF_FUNC_GET_ATTACH_COOKIE,
        )
    }

    fn has_syscall_wrapper(&self) -> bool {
        let Some(prefix) = syscall_prefix() else {
            return false;
        };
        let wanted = format!("__{prefix}_sys_bpf");
        std::fs::read_to_string(KALLSYMS).is_ok_and(|symbols| {
            kallsyms_addresses(&symbols, &[wanted.as_str()])
                .is_ok_and(|found| found.contains_key(wanted.as_str()))
        })
    }

    fn config(&self) -> Result<(String, PathBuf), String> {
        let boot = release().map(|release| PathBuf::from(format!("{BOOT_CONFIG}{release}")));
        if let Some(path) = boot.filter(|path| path.exists()) {
            return std::fs::read_to_string(&path)
                .map(|text| (text, path.clone()))
                .map_err(|error| format!("cannot read {}: {error}", path.display()));
        }
        let path = Path::new(PROC_CONFIG);
        let compressed = std::fs::read(path).map_err(|error| {
            format!(
                "the kernel's configuration is neither in {BOOT_CONFIG}<release> nor in {PROC_CONFIG} ({error}); load the configs module or install the kernel's config file"
            )
        })?;
        let mut text = String::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_string(&mut text)
            .map_err(|error| format!("{PROC_CONFIG} does not decompress: {error}"))?;
        Ok((text, path.to_path_buf()))
    }
}

/// The arch prefix of syscall wrappers, as libbpf's `arch_specific_syscall_pfx` knows it.
fn syscall_prefix() -> Option<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Some("x64"),
        "x86" => Some("ia32"),
        "aarch64" => Some("arm64"),
        "arm" => Some("arm"),
        "s390x" => Some("s390x"),
        "powerpc64" | "powerpc" => Some("powerpc"),
        "riscv64" => Some("riscv"),
        "loongarch64" => Some("loongarch"),
        _ => None,
    }
}

fn error(ext: &KconfigExtern, reason: impl Into<String>) -> KconfigError {
    KconfigError {
        name: ext.name.clone(),
        reason: reason.into(),
    }
}

/// Writes `value` into the extern's bytes as an integer of its size (libbpf's
/// `set_kcfg_value_num`): refused when it does not fit.
fn put_number(ext: &KconfigExtern, out: &mut [u8], value: u64) -> Result<(), KconfigError> {
    let size = out.len();
    match ext.kind {
        KconfigType::Bool | KconfigType::Char | KconfigType::Tristate | KconfigType::Int { .. } => {
        }
        KconfigType::CharArray => {
            return Err(error(
                ext,
                format!("its type is a char array, and the value {value} a number"),
            ))
        }
    }
    let signed = matches!(ext.kind, KconfigType::Int { signed: true });
    let fits = size >= 8
        || if signed {
            let bits = size as u32 * 8 - 1;
            let as_signed = value as i64;
            as_signed >= -(1i64 << bits) && as_signed < (1i64 << bits)
        } else {
            value < (1u64 << (size as u32 * 8))
        };
    if !fits || (ext.kind == KconfigType::Bool && value > 1) {
        return Err(error(
            ext,
            format!("{value} does not fit in its {size} bytes"),
        ));
    }
    out.copy_from_slice(&value.to_le_bytes()[..size]);
    Ok(())
}

/// Writes a config value as written in the file (`y`, `m`, `n`, `"text"`, a number).
fn put_config(ext: &KconfigExtern, out: &mut [u8], text: &str) -> Result<(), KconfigError> {
    match (text, ext.kind) {
        ("m", KconfigType::Bool) => Err(error(
            ext,
            "its value is m (a module), which a bool cannot say: declare it enum libbpf_tristate",
        )),
        ("y" | "n", KconfigType::Bool) => put_number(ext, out, u64::from(text == "y")),
        ("y" | "m" | "n", KconfigType::Tristate) => {
            // enum libbpf_tristate: TRI_NO 0, TRI_YES 1, TRI_MODULE 2.
            put_number(
                ext,
                out,
                match text {
                    "y" => 1,
                    "m" => 2,
                    _ => 0,
                },
            )
        }
        ("y" | "m" | "n", KconfigType::Char) => put_number(ext, out, u64::from(text.as_bytes()[0])),
        ("y" | "m" | "n", _) => Err(error(
            ext,
            format!("its value {text} is a bool, tristate or char, not its type"),
        )),
        (_, KconfigType::CharArray) => {
            let inner = text
                .strip_prefix('"')
                .and_then(|rest| rest.strip_suffix('"'))
                .ok_or_else(|| error(ext, format!("its value {text} is not a quoted string")))?;
            let len = inner.len().min(out.len().saturating_sub(1));
            out[..len].copy_from_slice(&inner.as_bytes()[..len]);
            out[len..].fill(0);
            Ok(())
        }
        (_, _) => {
            let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => text
                    .parse::<u64>()
                    .ok()
                    .or_else(|| text.parse::<i64>().ok().map(|value| value as u64)),
            };
            let value =
                parsed.ok_or_else(|| error(ext, format!("its value {text} is not a number")))?;
            put_number(ext, out, value)
        }
    }
}

/// The `.kconfig` map's value: every extern written where the object's layout puts it.
/// A `CONFIG_*` or `LINUX_*` extern the kernel has no value for is 0 when it is
/// `__weak`, and an error otherwise, as libbpf does.
pub fn kconfig_value(
    externs: &[KconfigExtern],
    size: usize,
    kernel: &dyn KernelFacts,
) -> Result<Vec<u8>, KconfigError> {
    let mut value = vec![0u8; size];
    let mut config: Option<(String, PathBuf)> = None;
    for ext in externs {
        let start = ext.offset as usize;
        let Some(out) = value.get_mut(start..start + ext.size as usize) else {
            return Err(error(ext, "its place is outside the .kconfig map's value"));
        };
        if let Some(option) = ext.name.strip_prefix("CONFIG_") {
            let (text, path) = match &config {
                Some(read) => read,
                None => config.insert(kernel.config().map_err(|reason| error(ext, reason))?),
            };
            let prefix = format!("CONFIG_{option}=");
            match text
                .lines()
                .find_map(|line| line.strip_prefix(prefix.as_str()))
            {
                Some(found) => put_config(ext, out, found.trim())?,
                None if ext.weak => {}
                None => {
                    return Err(error(
                        ext,
                        format!(
                            "{} does not set it; declare it __weak to have 0 when it is not set",
                            path.display()
                        ),
                    ))
                }
            }
            continue;
        }
        let number = match ext.name.as_str() {
            "LINUX_KERNEL_VERSION" => kernel
                .version_code()
                .ok_or_else(|| error(ext, "the kernel's version cannot be read from uname"))?
                .into(),
            "LINUX_HAS_BPF_COOKIE" => u64::from(kernel.has_bpf_cookie()),
            "LINUX_HAS_SYSCALL_WRAPPER" => u64::from(kernel.has_syscall_wrapper()),
            _ if ext.weak && ext.name.starts_with("LINUX_") => 0,
            _ => {
                return Err(error(
                    ext,
                    "only CONFIG_* options and LINUX_KERNEL_VERSION, LINUX_HAS_BPF_COOKIE and LINUX_HAS_SYSCALL_WRAPPER have values (other LINUX_* externs must be __weak)",
                ))
            }
        };
        put_number(ext, out, number)?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        config: &'static str,
    }

    impl KernelFacts for Fake {
        fn version_code(&self) -> Option<u32> {
            Some(kernel_version_code(6, 1, 300))
        }
        fn has_bpf_cookie(&self) -> bool {
            true
        }
        fn has_syscall_wrapper(&self) -> bool {
            false
        }
        fn config(&self) -> Result<(String, PathBuf), String> {
            Ok((self.config.to_string(), PathBuf::from("/boot/config-test")))
        }
    }

    fn ext(name: &str, offset: u32, size: u32, kind: KconfigType, weak: bool) -> KconfigExtern {
        KconfigExtern {
            name: name.to_string(),
            offset,
            size,
            kind,
            weak,
        }
    }

    const CONFIG: &str = "# comment\nCONFIG_A=y\nCONFIG_M=m\nCONFIG_HZ=250\nCONFIG_ADDR=0x10\nCONFIG_NEG=-3\nCONFIG_S=\"hello world\"\n";

    #[test]
    fn every_kind_of_value_lands_where_the_layout_says() {
        let externs = [
            ext(
                "LINUX_KERNEL_VERSION",
                0,
                4,
                KconfigType::Int { signed: false },
                false,
            ),
            ext("CONFIG_HZ", 4, 4, KconfigType::Int { signed: true }, false),
            ext("CONFIG_NEG", 8, 2, KconfigType::Int { signed: true }, false),
            ext("CONFIG_ADDR", 10, 1, KconfigType::Char, false),
            ext("CONFIG_A", 11, 1, KconfigType::Bool, false),
            ext("CONFIG_M", 12, 1, KconfigType::Tristate, false),
            ext("CONFIG_UNSET", 13, 1, KconfigType::Bool, true),
            ext("LINUX_HAS_BPF_COOKIE", 14, 1, KconfigType::Bool, false),
            ext("LINUX_SOMETHING_NEW", 15, 1, KconfigType::Bool, true),
            ext("CONFIG_S", 16, 6, KconfigType::CharArray, false),
        ];
        let value = kconfig_value(&externs, 22, &Fake { config: CONFIG }).expect("values");
        // 6.1.300: the patch level saturates at 255.
        assert_eq!(&value[0..4], &(6u32 << 16 | 1 << 8 | 255).to_le_bytes());
        assert_eq!(&value[4..8], &250u32.to_le_bytes());
        assert_eq!(&value[8..10], &(-3i16).to_le_bytes());
        assert_eq!(value[10..16], [0x10, 1, 2, 0, 1, 0]);
        // Cut to fit, NUL-terminated.
        assert_eq!(&value[16..22], b"hello\0");
    }

    #[test]
    fn a_value_that_cannot_be_given_is_refused_naming_the_extern() {
        let fake = Fake { config: CONFIG };
        for (extern_, why) in [
            (
                ext("CONFIG_UNSET", 0, 1, KconfigType::Bool, false),
                "does not set it",
            ),
            (ext("CONFIG_M", 0, 1, KconfigType::Bool, false), "tristate"),
            (
                ext("CONFIG_HZ", 0, 1, KconfigType::Int { signed: true }, false),
                "does not fit",
            ),
            (
                ext("CONFIG_S", 0, 4, KconfigType::Int { signed: false }, false),
                "not a number",
            ),
            (
                ext("CONFIG_HZ", 0, 8, KconfigType::CharArray, false),
                "not a quoted string",
            ),
            (
                ext("LINUX_SOMETHING_NEW", 0, 1, KconfigType::Bool, false),
                "__weak",
            ),
        ] {
            let error =
                kconfig_value(std::slice::from_ref(&extern_), 8, &fake).expect_err(&extern_.name);
            assert_eq!(error.name, extern_.name);
            assert!(
                error.reason.contains(why),
                "{}: {}",
                error.name,
                error.reason
            );
        }
    }

    #[test]
    fn versions_parse_from_releases_and_signatures() {
        assert_eq!(
            parse_version("6.18.44-fc-v1147"),
            Some(kernel_version_code(6, 18, 44))
        );
        assert_eq!(
            parse_version("5.10.0-23-amd64"),
            Some(kernel_version_code(5, 10, 0))
        );
        assert_eq!(parse_version("6.1"), Some(kernel_version_code(6, 1, 0)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn the_syscall_wrapper_is_what_kallsyms_lists() {
        // Read here without our parser: the wrapper's own line.
        let Ok(symbols) = std::fs::read_to_string(KALLSYMS) else {
            return; // no /proc here
        };
        let Some(prefix) = syscall_prefix() else {
            return;
        };
        let wrapper = format!("__{prefix}_sys_bpf");
        let listed = symbols
            .lines()
            .any(|line| line.split_whitespace().nth(2) == Some(wrapper.as_str()));
        if cfg!(target_arch = "x86_64") {
            // Every x86_64 kernel since 4.17 enters syscalls through the wrappers.
            assert!(listed, "{wrapper} in {KALLSYMS}");
        }
        assert_eq!(RunningKernel.has_syscall_wrapper(), listed);
    }
}
