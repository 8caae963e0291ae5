//! Which programs of an object `-trace` attaches, and how: decided from the kernel
//! program type each loads as and its section name, before anything is loaded (pure).

use elf::{trace_target, Object, ProgramSpec, TraceTarget};
use sys::abi::*;

use crate::load::programs::kernel_program_type;
use crate::trace::error::TraceError;

/// How one program is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// A perf event (a tracepoint, kprobe or uprobe), then `BPF_LINK_CREATE` on it.
    PerfEvent(TraceTarget),
    /// `BPF_RAW_TRACEPOINT_OPEN` with the tracepoint's name.
    RawTracepoint(String),
    /// A tracing (tp_btf, fentry, fexit, fmod_ret), LSM or ext (freplace) program:
    /// `BPF_LINK_CREATE` with its expected attach type and target 0, the target being the
    /// one it was loaded for (a kernel function, or -attach-prog's program).
    Tracing { attach_type: u32, ext: bool },
    /// An iterator: with `-pin-path`, a link (`BPF_LINK_CREATE`, `BPF_TRACE_ITER`)
    /// pinned beside it, which runs the iterator each time it is read; without, not
    /// attached (a link only this process holds would be read by nobody).
    Iterator,
    /// Loaded and pinned, not attached: why, and what to do instead.
    NotAttached(String),
}

impl Plan {
    /// The kind the attach line names (`tracepoint`, `kprobe`, `raw_tracepoint`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Plan::PerfEvent(target) => target.kind(),
            Plan::RawTracepoint(_) => "raw_tracepoint",
            Plan::Tracing { ext: true, .. } => "freplace",
            Plan::Tracing { attach_type, .. } => match *attach_type {
                BPF_TRACE_RAW_TP => "tp_btf",
                BPF_TRACE_FENTRY => "fentry",
                BPF_TRACE_FEXIT => "fexit",
                BPF_MODIFY_RETURN => "fmod_ret",
                BPF_LSM_MAC => "lsm",
                _ => "tracing",
            },
            Plan::Iterator => "iter",
            Plan::NotAttached(_) => "not attached",
        }
    }
}

/// The plan for a program that loads as `prog_type` (with `expected_attach_type`) from
/// `section`, named `kind` as users know its type.
pub fn plan(
    prog_type: u32,
    expected_attach_type: u32,
    section: &str,
    kind: &str,
) -> Result<Plan, elf::TargetError> {
    if prog_type == BPF_PROG_TYPE_TRACING && expected_attach_type == BPF_TRACE_ITER {
        return Ok(Plan::Iterator);
    }
    // A kprobe loaded with an attach type is a multi-probe (BPF_TRACE_KPROBE_MULTI, or
    // the uprobe one): one link for a set of functions, which -trace does not make.
    if prog_type == BPF_PROG_TYPE_KPROBE && expected_attach_type != 0 {
        return Ok(Plan::NotAttached(format!(
            "`{section}` is a multi-probe, attached with one link for many functions, which -trace does not make; \
             attach one function per program with kprobe/<function> or uprobe/<path>:<function>"
        )));
    }
    if prog_type == BPF_PROG_TYPE_LSM && expected_attach_type == BPF_LSM_CGROUP {
        return Ok(Plan::NotAttached(
            "lsm_cgroup programs attach to a cgroup, which -trace does not; attach the pinned program with bpftool cgroup attach".into(),
        ));
    }
    if prog_type == BPF_PROG_TYPE_TRACING
        || prog_type == BPF_PROG_TYPE_LSM
        || prog_type == BPF_PROG_TYPE_EXT
    {
        return Ok(Plan::Tracing {
            attach_type: expected_attach_type,
            ext: prog_type == BPF_PROG_TYPE_EXT,
        });
    }
    let target = trace_target(section)?;
    Ok(match (prog_type, target) {
        (BPF_PROG_TYPE_TRACEPOINT, Some(target @ TraceTarget::Tracepoint { .. }))
        | (
            BPF_PROG_TYPE_KPROBE,
            Some(target @ (TraceTarget::Kprobe { .. } | TraceTarget::Uprobe { .. })),
        ) => Plan::PerfEvent(target),
        (BPF_PROG_TYPE_RAW_TRACEPOINT, Some(TraceTarget::RawTracepoint { name })) => {
            Plan::RawTracepoint(name)
        }
        (BPF_PROG_TYPE_KPROBE | BPF_PROG_TYPE_TRACEPOINT | BPF_PROG_TYPE_RAW_TRACEPOINT, _) => {
            Plan::NotAttached(format!(
                "its section `{section}` names no target (libbpf does not auto-attach it either); \
                 give the section one, such as kprobe/<function>, uprobe/<path>:<function> or tracepoint/<category>/<name>"
            ))
        }
        (BPF_PROG_TYPE_PERF_EVENT, _) => Plan::NotAttached(
            "perf_event programs run on a sampling event that the tool using them opens".into(),
        ),
        (BPF_PROG_TYPE_XDP, _) => {
            Plan::NotAttached("XDP programs attach to an interface: attach it with -i IF".into())
        }
        _ => Plan::NotAttached(format!("-trace attaches tracing programs, not {kind} programs")),
    })
}

/// Every program of `object` with its plan, in the object's order. A section with a
/// tracing prefix and a malformed target is an error before anything is loaded, and so
/// is an object with no program to attach.
pub fn plan_object<'o>(
    object: &'o Object,
    file: &std::path::Path,
) -> Result<Vec<(&'o ProgramSpec, Plan)>, TraceError> {
    let mut plans = Vec::with_capacity(object.programs.len());
    for program in &object.programs {
        let (prog_type, expected_attach_type, _) =
            kernel_program_type(program).map_err(TraceError::Load)?;
        let decided = plan(
            prog_type,
            expected_attach_type,
            &program.section,
            program.program_type.name(),
        )
        .map_err(|error| TraceError::Target {
            program: program.name.clone(),
            error,
        })?;
        plans.push((program, decided));
    }
    if plans
        .iter()
        .all(|(_, plan)| matches!(plan, Plan::NotAttached(_)))
    {
        return Err(TraceError::NothingToTrace {
            file: file.to_path_buf(),
        });
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(prog_type: u32, attach: u32, section: &str) -> Plan {
        plan(prog_type, attach, section, "test").expect("a plan")
    }

    #[test]
    fn tracing_and_lsm_programs_attach_to_their_load_time_target() {
        for (prog_type, attach, kind) in [
            (BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, "fentry"),
            (BPF_PROG_TYPE_TRACING, BPF_TRACE_FEXIT, "fexit"),
            (BPF_PROG_TYPE_TRACING, BPF_MODIFY_RETURN, "fmod_ret"),
            (BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, "tp_btf"),
            (BPF_PROG_TYPE_LSM, BPF_LSM_MAC, "lsm"),
        ] {
            // The section does not matter: the target was resolved at load time.
            let decided = decide(prog_type, attach, "fentry/whatever");
            assert_eq!(
                decided,
                Plan::Tracing {
                    attach_type: attach,
                    ext: false
                }
            );
            assert_eq!(decided.kind(), kind);
        }
        assert_eq!(
            decide(BPF_PROG_TYPE_EXT, 0, "freplace/x").kind(),
            "freplace"
        );
    }

    #[test]
    fn multi_probes_and_cgroup_lsm_programs_are_loaded_not_attached() {
        for (prog_type, attach, section) in [
            (
                BPF_PROG_TYPE_KPROBE,
                BPF_TRACE_KPROBE_MULTI,
                "kprobe.multi/tcp_*",
            ),
            (BPF_PROG_TYPE_LSM, BPF_LSM_CGROUP, "lsm_cgroup/socket_bind"),
        ] {
            let Plan::NotAttached(why) = decide(prog_type, attach, section) else {
                panic!("{section} was planned for attaching");
            };
            assert!(why.contains("-trace does not"), "{why}");
        }
    }

    #[test]
    fn iterators_get_a_link_of_their_own_kind() {
        let decided = decide(BPF_PROG_TYPE_TRACING, BPF_TRACE_ITER, "iter/task");
        assert_eq!(decided, Plan::Iterator);
        assert_eq!(decided.kind(), "iter");
    }

    #[test]
    fn perf_event_kinds_and_raw_tracepoints_follow_their_sections() {
        assert_eq!(
            decide(BPF_PROG_TYPE_TRACEPOINT, 0, "tp/xdp/xdp_exception").kind(),
            "tracepoint"
        );
        assert_eq!(
            decide(BPF_PROG_TYPE_KPROBE, 0, "kretprobe/do_nanosleep").kind(),
            "kretprobe"
        );
        assert_eq!(
            decide(BPF_PROG_TYPE_KPROBE, 0, "uprobe.s//bin/true:main").kind(),
            "uprobe"
        );
        assert_eq!(
            decide(BPF_PROG_TYPE_RAW_TRACEPOINT, 0, "raw_tp/sys_enter"),
            Plan::RawTracepoint("sys_enter".into())
        );
    }

    #[test]
    fn what_is_not_attached_says_why() {
        for (prog_type, section, words) in [
            (BPF_PROG_TYPE_KPROBE, "kprobe", "names no target"),
            (BPF_PROG_TYPE_KPROBE, "uprobe", "names no target"),
            (BPF_PROG_TYPE_PERF_EVENT, "perf_event", "sampling event"),
            (BPF_PROG_TYPE_XDP, "xdp", "attach it with -i"),
            (1, "socket", "not test programs"),
        ] {
            match decide(prog_type, 0, section) {
                Plan::NotAttached(why) => assert!(why.contains(words), "{section}: {why}"),
                other => panic!("{section}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_malformed_target_is_an_error() {
        assert!(plan(BPF_PROG_TYPE_TRACEPOINT, 0, "tracepoint/xdp", "tracepoint").is_err());
    }
}
