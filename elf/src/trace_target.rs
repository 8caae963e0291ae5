//! Where a tracing program attaches, read from its section name as libbpf's auto-attach
//! reads it (`tracepoint/<category>/<name>`, `kprobe/<func>[+<offset>]`,
//! `uprobe/<path>:<func>[+<offset>]`, `raw_tp/<name>`). Which program type a section
//! loads as is `program.rs`'s table; this is only the target that follows the prefix.

use std::fmt;

/// An attach target named by a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceTarget {
    /// `tracepoint/<category>/<name>`, `tp/<category>/<name>`.
    Tracepoint { category: String, name: String },
    /// `kprobe/<function>[+<offset>]`, `kretprobe/<function>`.
    Kprobe {
        function: String,
        offset: u64,
        retprobe: bool,
    },
    /// `uprobe/<path>:<function>[+<offset>]`, `uretprobe/...`, and their `.s` forms.
    Uprobe {
        path: String,
        function: String,
        offset: u64,
        retprobe: bool,
    },
    /// `raw_tp/<name>`, `raw_tracepoint/<name>`.
    RawTracepoint { name: String },
}

impl TraceTarget {
    /// The kind, as the attach line says it (`tracepoint`, `kretprobe`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            TraceTarget::Tracepoint { .. } => "tracepoint",
            TraceTarget::Kprobe {
                retprobe: false, ..
            } => "kprobe",
            TraceTarget::Kprobe { retprobe: true, .. } => "kretprobe",
            TraceTarget::Uprobe {
                retprobe: false, ..
            } => "uprobe",
            TraceTarget::Uprobe { retprobe: true, .. } => "uretprobe",
            TraceTarget::RawTracepoint { .. } => "raw_tracepoint",
        }
    }
}

impl fmt::Display for TraceTarget {
    /// The target as users name it: `xdp:xdp_exception`, `do_nanosleep+0x10`,
    /// `/bin/bash:readline`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offset = |f: &mut fmt::Formatter<'_>, offset: u64| {
            if offset == 0 {
                Ok(())
            } else {
                write!(f, "+{offset:#x}")
            }
        };
        match self {
            TraceTarget::Tracepoint { category, name } => write!(f, "{category}:{name}"),
            TraceTarget::Kprobe {
                function,
                offset: at,
                ..
            } => {
                write!(f, "{function}")?;
                offset(f, *at)
            }
            TraceTarget::Uprobe {
                path,
                function,
                offset: at,
                ..
            } => {
                write!(f, "{path}:{function}")?;
                offset(f, *at)
            }
            TraceTarget::RawTracepoint { name } => write!(f, "{name}"),
        }
    }
}

/// Why a section's attach target cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError {
    pub section: String,
    /// What is wrong, and the form expected.
    pub reason: &'static str,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "section `{}` {}", self.section, self.reason)
    }
}

impl std::error::Error for TargetError {}

/// The attach target `section` names: `Ok(None)` when it names none (`kprobe` alone,
/// `uprobe`, `perf_event`, `xdp`, any other type: libbpf does not auto-attach those
/// either), an error when it has a tracing prefix but the rest is malformed.
pub fn trace_target(section: &str) -> Result<Option<TraceTarget>, TargetError> {
    let error = |reason| TargetError {
        section: section.to_string(),
        reason,
    };
    let Some((prefix, rest)) = section.split_once('/') else {
        return Ok(None);
    };
    match prefix {
        "tracepoint" | "tp" => {
            let (category, name) = rest
                .split_once('/')
                .filter(|(category, name)| !category.is_empty() && !name.is_empty())
                .filter(|(_, name)| !name.contains('/'))
                .ok_or_else(|| {
                    error("names no tracepoint: expected tracepoint/<category>/<name>")
                })?;
            Ok(Some(TraceTarget::Tracepoint {
                category: category.to_string(),
                name: name.to_string(),
            }))
        }
        "kprobe" | "kretprobe" => {
            let retprobe = prefix == "kretprobe";
            let (function, offset) = function_and_offset(rest)
                .ok_or_else(|| error("names no function: expected kprobe/<function>[+<offset>]"))?;
            if retprobe && offset != 0 {
                return Err(error(
                    "puts an offset on a kretprobe: a return probe attaches to the function itself",
                ));
            }
            Ok(Some(TraceTarget::Kprobe {
                function: function.to_string(),
                offset,
                retprobe,
            }))
        }
        "uprobe" | "uretprobe" | "uprobe.s" | "uretprobe.s" => {
            let retprobe = prefix.starts_with("uret");
            let (path, at) = rest.rsplit_once(':').ok_or_else(|| {
                error("names no function: expected uprobe/<path>:<function>[+<offset>]")
            })?;
            let (function, offset) = function_and_offset(at)
                .filter(|_| !path.is_empty())
                .ok_or_else(|| {
                    error("names no binary and function: expected uprobe/<path>:<function>[+<offset>]")
                })?;
            if retprobe && offset != 0 {
                return Err(error(
                    "puts an offset on a uretprobe: a return probe attaches to the function itself",
                ));
            }
            Ok(Some(TraceTarget::Uprobe {
                path: path.to_string(),
                function: function.to_string(),
                offset,
                retprobe,
            }))
        }
        "raw_tp" | "raw_tracepoint" | "raw_tp.w" | "raw_tracepoint.w" => {
            if rest.is_empty() || rest.contains('/') {
                return Err(error(
                    "names no raw tracepoint: expected raw_tp/<tracepoint name>",
                ));
            }
            Ok(Some(TraceTarget::RawTracepoint {
                name: rest.to_string(),
            }))
        }
        _ => Ok(None),
    }
}

/// `function[+offset]`, the offset decimal or `0x` hexadecimal.
fn function_and_offset(text: &str) -> Option<(&str, u64)> {
    let (function, offset) = match text.split_once('+') {
        Some((function, offset)) => (function, parse_offset(offset)?),
        None => (text, 0),
    };
    let valid = !function.is_empty()
        && function
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.$@".contains(c));
    valid.then_some((function, offset))
}

fn parse_offset(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(section: &str) -> TraceTarget {
        trace_target(section)
            .expect("a valid section")
            .expect("a target")
    }

    #[test]
    fn tracepoints_name_a_category_and_an_event() {
        for section in ["tracepoint/xdp/xdp_exception", "tp/xdp/xdp_exception"] {
            let found = target(section);
            assert_eq!(
                found,
                TraceTarget::Tracepoint {
                    category: "xdp".into(),
                    name: "xdp_exception".into()
                }
            );
            assert_eq!(found.to_string(), "xdp:xdp_exception");
            assert_eq!(found.kind(), "tracepoint");
        }
    }

    #[test]
    fn kprobes_take_an_optional_offset() {
        assert_eq!(
            target("kprobe/do_nanosleep+0x10"),
            TraceTarget::Kprobe {
                function: "do_nanosleep".into(),
                offset: 16,
                retprobe: false
            }
        );
        assert_eq!(
            target("kprobe/do_nanosleep+16").to_string(),
            "do_nanosleep+0x10"
        );
        let ret = target("kretprobe/__x64_sys_getpid");
        assert_eq!(ret.kind(), "kretprobe");
        assert_eq!(ret.to_string(), "__x64_sys_getpid");
    }

    #[test]
    fn uprobes_name_a_binary_and_a_function() {
        assert_eq!(
            target("uprobe//usr/bin/bash:readline"),
            TraceTarget::Uprobe {
                path: "/usr/bin/bash".into(),
                function: "readline".into(),
                offset: 0,
                retprobe: false
            }
        );
        let found = target("uretprobe.s/./target:probed");
        assert_eq!(found.kind(), "uretprobe");
        assert_eq!(found.to_string(), "./target:probed");
        assert_eq!(target("uprobe/lib.so:f+0x4").to_string(), "lib.so:f+0x4");
    }

    #[test]
    fn raw_tracepoints_name_the_event() {
        for section in ["raw_tp/sys_enter", "raw_tracepoint/sys_enter"] {
            assert_eq!(
                target(section),
                TraceTarget::RawTracepoint {
                    name: "sys_enter".into()
                }
            );
        }
    }

    #[test]
    fn sections_without_a_target_name_none() {
        for section in [
            "kprobe",
            "uprobe",
            "tracepoint",
            "raw_tp",
            "perf_event",
            "xdp",
            "xdp/devmap",
            "tc/ingress",
            "socket",
            "fentry/do_nanosleep",
            "",
        ] {
            assert_eq!(trace_target(section), Ok(None), "{section:?}");
        }
    }

    #[test]
    fn malformed_targets_say_the_form_expected() {
        for (section, words) in [
            ("tracepoint/xdp", "tracepoint/<category>/<name>"),
            ("tp//x", "tracepoint/<category>/<name>"),
            ("tracepoint/a/b/c", "tracepoint/<category>/<name>"),
            ("kprobe/", "kprobe/<function>"),
            ("kprobe/f+zz", "kprobe/<function>"),
            ("kprobe/f+", "kprobe/<function>"),
            ("kprobe/a b", "kprobe/<function>"),
            ("kretprobe/f+4", "return probe"),
            ("uprobe/bin", "uprobe/<path>:<function>"),
            ("uprobe/:f", "uprobe/<path>:<function>"),
            ("uprobe/bin:", "uprobe/<path>:<function>"),
            ("uretprobe/bin:f+1", "return probe"),
            ("raw_tp/", "raw_tp/<tracepoint name>"),
        ] {
            let error = trace_target(section).expect_err(section);
            assert!(error.to_string().contains(words), "{section}: {error}");
            assert!(error.to_string().contains(section), "{section}: {error}");
        }
    }

    #[test]
    fn any_input_gives_an_answer_not_a_panic() {
        for section in [
            "kprobe/+",
            "uprobe/::",
            "tp/\u{0}/\u{0}",
            "kprobe/f+0x",
            "kprobe/f+99999999999999999999",
        ] {
            let _ = trace_target(section);
        }
    }
}
