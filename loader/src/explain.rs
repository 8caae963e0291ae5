//! What a failure means and what to do about it: one sentence per errno the kernel gives
//! for a map, a program load, an attachment or a test run, and the end of a verifier
//! log. `LoadError` and the run stage's `RunError` put these sentences after their own;
//! nothing here knows the stages.

use elf::{ProgramType, XdpAttach};
use nix::errno::Errno;
use sys::test_run::TestRunError;

use crate::vocab::XdpMode;

/// The advice every "not allowed" error ends with.
pub const NEED_ROOT: &str = "run it as root (sudo): loading BPF needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), attaching XDP needs CAP_NET_ADMIN";

/// How much of a verifier log to show on the terminal; the end is where the error is.
pub const VERIFIER_LOG_TAIL_LINES: usize = 40;

/// Why the kernel refused to create a map (other than a missing privilege) and the fix.
pub fn map_create_errno(errno: Errno) -> &'static str {
    match errno {
        Errno::E2BIG => "its max_entries or value size is beyond what the kernel allows for this map type; make the map smaller",
        Errno::ENOMEM => "the kernel could not allocate that much memory (max_entries x value size); make the map smaller or free memory",
        Errno::ENOSPC => "a kernel limit on maps was hit; remove unused maps (bpftool map show) and try again",
        Errno::EINVAL => "the kernel found its definition invalid (type, key/value sizes, flags or max_entries); check the definition with -dump",
        _ => "check its type, sizes and max_entries with -dump",
    }
}

/// What a verifier rejection with this errno means, when it says more than the errno.
pub fn verifier_errno(errno: Errno) -> Option<&'static str> {
    match errno {
        Errno::E2BIG => Some("it is too large or too complex to verify (E2BIG: over a million instructions explored, usually a loop the verifier must unroll); bound the loop more tightly or use bpf_loop"),
        _ => None,
    }
}

/// One sentence on the likely cause of an attach error in `mode` (as
/// `XdpMode::describe` says it) and its fix; empty when there is nothing to add.
pub fn attach_errno(mode: &str, errno: Errno) -> &'static str {
    if mode == XdpMode::Hw.describe() && errno == Errno::EINVAL {
        return "offload needs a NIC and driver that can run XDP programs themselves (few can; veth cannot); use -mode drv or -mode skb";
    }
    match errno {
        Errno::EINVAL => "the kernel found the request invalid; usually another program is attached in a different mode (generic and native cannot be active together) or the flags are unknown to this kernel: check with `xdploader -status`",
        Errno::ERANGE => "the MTU is too large for native XDP (one page per packet); lower the MTU of the interface and its peer, or use -mode skb",
        Errno::EOPNOTSUPP => "the driver does not support this XDP mode; use -mode skb (generic XDP works on every interface)",
        Errno::EBUSY => "the interface is held by another attachment (a BPF link, or a program in another mode); see `xdploader -status`, detach it with its own tool or -detach, or pass -force",
        Errno::EEXIST => "a program is already attached and the request asked not to replace it",
        Errno::EPERM => "attaching XDP needs CAP_NET_ADMIN: run it as root (sudo)",
        Errno::ENODEV => "the interface went away",
        _ => "",
    }
}

/// Why the kernel refuses to test-run a program, from its errno and the program's type.
pub fn test_run_errno(error: TestRunError, program_type: ProgramType) -> &'static str {
    if error.is_not_supported() {
        return "this program type has no test run in the running kernel";
    }
    match (error.errno(), program_type) {
        (
            Errno::EINVAL,
            ProgramType::Xdp {
                attach: XdpAttach::Devmap | XdpAttach::Cpumap,
                ..
            },
        ) => "the kernel does not test-run xdp/devmap and xdp/cpumap programs (they run only from a devmap or cpumap entry); run the interface program that redirects to them instead",
        (Errno::EINVAL, _) => "the kernel found the test run's arguments invalid for this program (its type or attach type has no test run with packet data, or a packet is too large for it)",
        (Errno::EPERM | Errno::EACCES, _) => "run it as root (sudo): test runs need CAP_BPF and CAP_SYS_ADMIN",
        (Errno::ENOMEM, _) => "the kernel could not allocate the packet; try smaller packets or free memory",
        (Errno::E2BIG, _) => "the packet is larger than the kernel takes for a test run",
        (Errno::ENOSPC, _) => "the program grew the packet beyond what could be read back",
        _ => "the kernel gave no further reason",
    }
}

/// The helper number of a poisoned CO-RE relocation (libbpf's `0xbad2310`) as the
/// verifier prints it.
const CORE_POISON_CALL: &str = "call unknown#195896080";

/// The instruction at which the verifier stopped on a poisoned CO-RE relocation
/// (`invalid func unknown#195896080`): the index on the log's `N: (85) call
/// unknown#195896080` line.
pub fn core_poison_reached(log: &str) -> Option<usize> {
    if !log.contains("invalid func unknown#195896080") {
        return None;
    }
    log.lines().rev().find_map(|line| {
        let (index, rest) = line.split_once(": ")?;
        rest.ends_with(CORE_POISON_CALL)
            .then(|| index.trim().parse().ok())
            .flatten()
    })
}

/// What to do about a poisoned relocation that the program can reach.
pub const CORE_POISON_FIX: &str = "guard the access with bpf_core_field_exists(), bpf_core_type_exists() or bpf_core_enum_value_exists() so that this code is dead where the kernel lacks it, or build against this kernel's types";

/// The lines that follow a verifier rejection: the end of the log (where the error and,
/// with BTF line info, the failing source line are), framed, after the whole log is
/// saved to a file in the temporary directory (named in the first line).
pub fn verifier_log(program: &str, log: &str) -> Vec<String> {
    let path = std::env::temp_dir().join(format!(
        "xdploader-verifier-{}-{}.log",
        program.replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "_"),
        std::process::id()
    ));
    let saved = match std::fs::write(&path, log) {
        Ok(()) => format!("; the whole log is in {}", path.display()),
        Err(_) => String::new(),
    };
    verifier_log_tail(log, &saved)
}

/// The framed end of `log`; `saved` says where the whole of it is.
fn verifier_log_tail(log: &str, saved: &str) -> Vec<String> {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines.len().saturating_sub(VERIFIER_LOG_TAIL_LINES);
    let shown = if start > 0 {
        format!("last {VERIFIER_LOG_TAIL_LINES} of {} lines", lines.len())
    } else {
        format!("{} lines", lines.len())
    };
    let mut out = vec![format!("--- verifier log ({shown}{saved}) ---")];
    out.extend(lines[start..].iter().map(|line| line.to_string()));
    out.push("--- end of verifier log ---".to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_run_refusals_are_explained_by_program_type() {
        let devmap = ProgramType::Xdp {
            attach: XdpAttach::Devmap,
            frags: false,
        };
        let error = |raw_errno| TestRunError { raw_errno };
        assert!(test_run_errno(error(libc_einval()), devmap).contains("xdp/devmap"));
        assert!(test_run_errno(error(sys::test_run::ENOTSUPP), devmap).contains("no test run"));
    }

    fn libc_einval() -> i32 {
        Errno::EINVAL as i32
    }

    #[test]
    fn offload_refusals_get_their_own_sentence() {
        let hw = XdpMode::Hw.describe();
        assert!(attach_errno(hw, Errno::EINVAL).starts_with("offload needs a NIC"));
        assert_eq!(
            attach_errno(XdpMode::Skb.describe(), Errno::EINVAL),
            attach_errno("any", Errno::EINVAL)
        );
        assert!(attach_errno("any", Errno::EINVAL).starts_with("the kernel found the request"));
        assert_eq!(attach_errno(hw, Errno::ENOENT), "");
    }

    #[test]
    fn a_reached_core_poison_is_found_at_its_instruction() {
        let log = "0: R1=ctx() R10=fp0\n; int f(struct xdp_md *ctx) @ f.c:21\n7: (85) call unknown#195896080\ninvalid func unknown#195896080\nprocessed 1 insns\n";
        assert_eq!(core_poison_reached(log), Some(7));
        assert_eq!(
            core_poison_reached("0: (85) call unknown#195896080\n"),
            None
        );
        assert_eq!(core_poison_reached("invalid func unknown#12\n"), None);
    }

    #[test]
    fn a_long_verifier_log_shows_its_end() {
        let log: String = (1..=50).map(|n| format!("line {n}\n")).collect();
        let lines = verifier_log_tail(&log, "; the whole log is in /tmp/x.log");
        assert_eq!(
            lines[0],
            "--- verifier log (last 40 of 50 lines; the whole log is in /tmp/x.log) ---"
        );
        assert_eq!(lines[1], "line 11");
        assert_eq!(lines[40], "line 50");
        assert_eq!(lines[41], "--- end of verifier log ---");
        let short = verifier_log_tail("only\n", "");
        assert_eq!(
            short,
            [
                "--- verifier log (1 lines) ---",
                "only",
                "--- end of verifier log ---"
            ]
        );
    }
}
