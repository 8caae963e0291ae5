//! Where `bpf_printk` output can be read, and making sure it can be: tracefs at
//! `/sys/kernel/tracing`, mounted when it is missing (a freshly booted machine without
//! systemd's sys-kernel-tracing.mount, a new mount namespace), as bpffs is.

use std::path::Path;

use sys::bpffs::SpecialFs;

/// Where tracefs is mounted by convention (since Linux 4.1; before that only under
/// debugfs, at /sys/kernel/debug/tracing).
pub const TRACEFS_ROOT: &str = "/sys/kernel/tracing";

/// How tracefs stood when an object that calls `bpf_printk` was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracefs {
    /// It was mounted already.
    Mounted,
    /// It was not, and this run mounted it.
    MountedNow,
    /// It is not mounted and could not be (no CAP_SYS_ADMIN, as in most containers): why.
    Unavailable(String),
}

/// Makes sure tracefs is mounted at [`TRACEFS_ROOT`], mounting it when it is not.
pub fn ensure_tracefs() -> Tracefs {
    match crate::lock::mount_if_missing(SpecialFs::Trace, Path::new(TRACEFS_ROOT)) {
        Ok(false) => Tracefs::Mounted,
        Ok(true) => Tracefs::MountedNow,
        Err(error) => Tracefs::Unavailable(format!("mounting it failed: {error}")),
    }
}

/// What is said when this run mounted tracefs.
pub fn mounted_now_line() -> String {
    format!("Mounted tracefs at {TRACEFS_ROOT} (it was not mounted)")
}

/// The lines to print for an object that calls `bpf_printk`, given how tracefs stood.
pub fn printk_lines(state: &Tracefs) -> Vec<String> {
    let read = format!("sudo cat {TRACEFS_ROOT}/trace_pipe");
    match state {
        Tracefs::Mounted => vec![format!("The object calls bpf_printk: read its lines with `{read}`")],
        Tracefs::MountedNow => vec![
            mounted_now_line(),
            format!("The object calls bpf_printk: read its lines with `{read}`"),
        ],
        Tracefs::Unavailable(why) => vec![format!(
            "Warning: the object calls bpf_printk, but tracefs is not mounted at {TRACEFS_ROOT} and {why}; \
             the lines still go to the kernel's trace buffer: mount it as root \
             (`mount -t tracefs tracefs {TRACEFS_ROOT}`), or in a container read them on the host \
             (`{read}`) or bind-mount the host's {TRACEFS_ROOT} into the container"
        )],
    }
}

/// [`ensure_tracefs`] and [`printk_lines`] for `object`: nothing for an object that
/// never calls `bpf_printk`, so an ordinary load does not touch tracefs at all.
pub fn printk_note(object: &elf::Object) -> Vec<String> {
    if object.calls_trace_printk() {
        printk_lines(&ensure_tracefs())
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mount_made_now_is_said_before_where_to_read() {
        let lines = printk_lines(&Tracefs::MountedNow);
        assert_eq!(
            lines,
            [
                "Mounted tracefs at /sys/kernel/tracing (it was not mounted)",
                "The object calls bpf_printk: read its lines with `sudo cat /sys/kernel/tracing/trace_pipe`",
            ]
        );
        assert_eq!(printk_lines(&Tracefs::Mounted), lines[1..]);
    }

    #[test]
    fn an_unmountable_tracefs_says_why_and_what_to_do() {
        let lines = printk_lines(&Tracefs::Unavailable(
            "mounting it failed: Operation not permitted (os error 1)".into(),
        ));
        assert_eq!(lines.len(), 1);
        for words in [
            "Warning: the object calls bpf_printk",
            "mounting it failed: Operation not permitted",
            "mount -t tracefs tracefs /sys/kernel/tracing",
            "container",
        ] {
            assert!(lines[0].contains(words), "{words:?} in {:?}", lines[0]);
        }
    }
}
