//! `-trace`'s errors: one sentence each, naming the program, its section and the target,
//! with the errno explained, and the exit code the README documents.

use std::fmt;
use std::path::PathBuf;

use nix::errno::Errno;
use sys::SysError;

use crate::error::{ExitKind, LoadError};
use crate::explain::NEED_ROOT;

/// Which program failed to attach, from which section, to what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attaching {
    pub program: String,
    pub section: String,
    /// `tracepoint xdp:xdp_exception`, `kprobe do_nanosleep`, ...
    pub target: String,
}

impl Attaching {
    /// A copy for an error (boxed: it keeps `TraceError` small).
    pub fn boxed(&self) -> Box<Attaching> {
        Box::new(self.clone())
    }
}

impl fmt::Display for Attaching {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot attach program {} (section `{}`) to {}",
            self.program, self.section, self.target
        )
    }
}

#[derive(Debug)]
pub enum TraceError {
    /// Loading or pinning, as `-load-only` reports it.
    Load(LoadError),
    /// A tracing section whose target cannot be read.
    Target {
        program: String,
        error: elf::TargetError,
    },
    /// Not one program of the object is a tracing program with a target.
    NothingToTrace { file: PathBuf },
    /// tracefs is not mounted and cannot be.
    Tracefs { why: String },
    /// The tracepoint does not exist in this kernel.
    NoTracepoint { at: Box<Attaching>, path: PathBuf },
    /// The kernel has no kprobe or uprobe PMU.
    NoPmu {
        at: Box<Attaching>,
        pmu: &'static str,
        error: std::io::Error,
    },
    /// A uprobe's binary cannot be read.
    Binary {
        at: Box<Attaching>,
        path: String,
        error: std::io::Error,
    },
    /// A uprobe's function is not in its binary.
    Symbol {
        at: Box<Attaching>,
        path: String,
        error: Box<elf::uprobe::UprobeError>,
    },
    /// `perf_event_open` refused.
    PerfEvent { at: Box<Attaching>, error: SysError },
    /// `BPF_LINK_CREATE` or `BPF_RAW_TRACEPOINT_OPEN` refused.
    Link { at: Box<Attaching>, error: SysError },
    /// SIGINT and SIGTERM cannot be routed to the wait.
    Signals(SysError),
    /// statswatch was built without its exceptions program (no clang at build time).
    ExceptionsUnbuilt { why: String },
    /// The exceptions map cannot be read.
    ReadExceptions(SysError),
}

impl TraceError {
    pub fn exit_kind(&self) -> ExitKind {
        match self {
            TraceError::Load(error) => error.exit_kind(),
            TraceError::Target { .. } | TraceError::NothingToTrace { .. } => ExitKind::BadObject,
            TraceError::PerfEvent { error, .. } | TraceError::Link { error, .. }
                if !matches!(
                    error.errno,
                    Errno::EPERM | Errno::EACCES | Errno::ENOENT | Errno::EINVAL
                ) =>
            {
                ExitKind::KernelRefused
            }
            TraceError::Link { error, .. } if error.errno == Errno::EINVAL => {
                ExitKind::KernelRefused
            }
            TraceError::ReadExceptions(_) => ExitKind::KernelRefused,
            _ => ExitKind::Environment,
        }
    }

    /// The verifier log, when a program load failed with one.
    pub fn verifier_log(&self) -> Option<(&str, &str)> {
        match self {
            TraceError::Load(error @ LoadError::ProgLoad(refused)) => {
                error.verifier_log().map(|log| (refused.name.as_str(), log))
            }
            _ => None,
        }
    }
}

/// What a `perf_event_open` errno means for a probe or tracepoint.
fn perf_event_errno(at: &Attaching, errno: Errno) -> String {
    let probe = at.target.starts_with("kprobe") || at.target.starts_with("kretprobe");
    match errno {
        Errno::EPERM | Errno::EACCES => NEED_ROOT.to_string(),
        Errno::ENOENT | Errno::EINVAL if probe => {
            "the kernel has no such function, or it cannot be probed (inlined, or blacklisted); \
             the probeable ones are in /sys/kernel/tracing/available_filter_functions"
                .to_string()
        }
        Errno::ENOENT | Errno::EINVAL => {
            "the kernel found no such probe point; check the path and the offset".to_string()
        }
        Errno::EMFILE => "the process has too many open files; raise `ulimit -n`".to_string(),
        _ => format!("{} ({errno:?})", errno.desc()),
    }
}

/// What a link errno means.
fn link_errno(at: &Attaching, errno: Errno) -> String {
    match errno {
        Errno::EPERM | Errno::EACCES => NEED_ROOT.to_string(),
        Errno::ENOENT if at.target.starts_with("raw_tracepoint") => {
            "the kernel has no raw tracepoint of that name (they are the tracepoint names without the category, such as sys_enter or xdp_exception)".to_string()
        }
        Errno::EINVAL => {
            "the kernel refused the link (kernels before 5.15 have no BPF links on perf events, before 5.8 none for tracing programs)".to_string()
        }
        Errno::EEXIST | Errno::EBUSY => {
            "the target already has this program attached, or takes only one".to_string()
        }
        _ => format!("{} ({errno:?})", errno.desc()),
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Load(error) => error.fmt(f),
            TraceError::Target { program, error } => write!(
                f,
                "program {program}: {error}; fix the section name in the source"
            ),
            TraceError::NothingToTrace { file } => write!(
                f,
                "{} has no tracing program to attach (a tracepoint/, tp/, kprobe/, kretprobe/, uprobe/, uretprobe/ or raw_tp/ section naming its target); verify it with -load-only, or attach its XDP program with -i IF",
                file.display()
            ),
            TraceError::Tracefs { why } => write!(
                f,
                "tracepoints are found in tracefs, which is not mounted at /sys/kernel/tracing and {why}; mount it as root (`mount -t tracefs tracefs /sys/kernel/tracing`)"
            ),
            TraceError::NoTracepoint { at, path } => write!(
                f,
                "{at}: this kernel has no such tracepoint ({} does not exist); list the ones it has with `ls {}`",
                path.display(),
                path.parent()
                    .and_then(|category| category.parent())
                    .unwrap_or(path)
                    .display()
            ),
            TraceError::NoPmu { at, pmu, error } => {
                let why = match error.kind() {
                    std::io::ErrorKind::NotFound => "is missing".to_string(),
                    _ => format!("cannot be read: {error}"),
                };
                write!(
                    f,
                    "{at}: this kernel has no {pmu} PMU (/sys/bus/event_source/devices/{pmu} {why}); it needs a kernel built with CONFIG_{}_EVENTS, 4.17 or later",
                    pmu.to_uppercase()
                )
            }
            TraceError::Binary { at, path, error } => write!(
                f,
                "{at}: cannot read the binary {path}: {error}; give the section the binary's full path"
            ),
            TraceError::Symbol { at, path, error } => write!(
                f,
                "{at}: {path}: {error}; check the function's name with `nm -D {path}` or `nm {path}`"
            ),
            TraceError::PerfEvent { at, error } => write!(
                f,
                "{at}: the kernel refused the perf event: {}",
                perf_event_errno(at, error.errno)
            ),
            TraceError::Link { at, error } => write!(
                f,
                "{at}: {} refused: {}",
                error.op,
                link_errno(at, error.errno)
            ),
            TraceError::Signals(error) => write!(
                f,
                "cannot wait for Ctrl-C: {error}; use -pin-path to leave the links pinned instead"
            ),
            TraceError::ExceptionsUnbuilt { why } => write!(
                f,
                "this statswatch was built without its exceptions program ({why}); install clang and build it again (cargo build)"
            ),
            TraceError::ReadExceptions(error) => write!(
                f,
                "cannot read the exceptions map: {error}"
            ),
        }
    }
}

impl std::error::Error for TraceError {}

impl From<LoadError> for TraceError {
    fn from(error: LoadError) -> TraceError {
        TraceError::Load(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(target: &str) -> Attaching {
        Attaching {
            program: "p".into(),
            section: "s".into(),
            target: target.into(),
        }
    }

    fn sys_error(errno: Errno) -> SysError {
        SysError {
            op: "perf_event_open",
            subject: "x".into(),
            errno,
        }
    }

    #[test]
    fn a_missing_function_is_named_and_is_the_environment() {
        let error = TraceError::PerfEvent {
            at: Box::new(at("kprobe no_such_function")),
            error: sys_error(Errno::ENOENT),
        };
        let text = error.to_string();
        assert!(text.contains("kprobe no_such_function"), "{text}");
        assert!(text.contains("no such function"), "{text}");
        assert_eq!(error.exit_kind(), ExitKind::Environment);
    }

    #[test]
    fn permission_errors_say_run_as_root() {
        for errno in [Errno::EPERM, Errno::EACCES] {
            let error = TraceError::Link {
                at: Box::new(at("tracepoint a:b")),
                error: sys_error(errno),
            };
            assert!(error.to_string().contains("run it as root"));
            assert_eq!(error.exit_kind(), ExitKind::Environment);
        }
    }

    #[test]
    fn other_refusals_are_the_kernel_s() {
        let error = TraceError::Link {
            at: Box::new(at("tracepoint a:b")),
            error: sys_error(Errno::EINVAL),
        };
        assert_eq!(error.exit_kind(), ExitKind::KernelRefused);
        assert!(error.to_string().contains("5.15"));
    }
}
