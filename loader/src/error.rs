//! Loader errors: one sentence each (what failed, why, what to do) and an exit code.

use std::fmt;
use std::path::PathBuf;

use sys::netlink::NetlinkError;
use sys::{ProgLoadError, SysError};

use crate::explain::{self, NEED_ROOT};

/// Exit codes, documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// 1: the command line is wrong.
    Usage = 1,
    /// 2: the object cannot be parsed or needs something this loader does not support.
    BadObject = 2,
    /// 3: the kernel refused a map, a program or the attachment, or lacks the kernel
    /// function a program attaches to.
    KernelRefused = 3,
    /// 4: the environment is missing something (root, bpffs, an interface, a file).
    Environment = 4,
}

#[derive(Debug)]
pub enum LoadError {
    /// The command line asks for something that cannot be done as asked.
    Usage(String),
    ReadObject {
        path: PathBuf,
        error: std::io::Error,
    },
    Parse {
        path: PathBuf,
        error: elf::ParseError,
    },
    NoSuchProgram {
        name: String,
        available: Vec<String>,
    },
    UnsupportedProgramType {
        program: String,
        section: String,
        kind: &'static str,
    },
    /// A `.kconfig` extern the running kernel gives no value for.
    Kconfig {
        name: String,
        reason: String,
    },
    /// A `__ksym` extern (`what`: kernel variable, kernel symbol, kfunc) that the running
    /// kernel does not have, or has with another type, and that is not `__weak`.
    KsymUnresolved {
        what: &'static str,
        name: String,
        reason: String,
    },
    /// Where a `__ksym` extern is looked up (the kernel's BTF, /proc/kallsyms, a module's
    /// BTF object) cannot be read.
    KsymLookup {
        what: &'static str,
        name: String,
        reason: String,
    },
    /// A program in a section whose name gives no program type.
    UnknownSection {
        program: String,
        section: String,
    },
    /// A program of another type where only XDP will do (attached to an interface,
    /// test-run with an `xdp_md`).
    NotXdp {
        program: String,
        section: String,
        kind: &'static str,
    },
    Unsupported(elf::LinkError),
    /// A CO-RE relocation that cannot be computed or applied (the object is wrong).
    CoRe(Box<elf::btf::core::CoreError>),
    /// A program has CO-RE relocations and the kernel's BTF cannot be read. `reason`
    /// is the load stage's `KernelBtfError`, said (this module uses no stage).
    KernelBtf {
        program: String,
        reason: String,
    },
    BadRelocation {
        program: String,
        insn_index: usize,
        symbol: String,
    },
    /// A tracing, LSM or ext program's attach target is not where it must be: `target`
    /// is the name looked up (`bpf_lsm_file_open`), `place` where (`the kernel's BTF
    /// (vmlinux and every module)`, `program 42 (xdp_prog_main)'s BTF`).
    AttachTargetMissing {
        program: String,
        section: String,
        target: String,
        place: String,
    },
    /// A freplace program, which attaches only to another BPF program, without -attach-prog.
    AttachProgNeeded {
        program: String,
        section: String,
    },
    /// `-attach-prog` names no program that can be a target: `reason` says why.
    AttachProg {
        spec: String,
        reason: String,
    },
    /// The kernel refused, with EPERM and no verifier log, a program that runs through a
    /// BPF trampoline (fentry, fexit, fmod_ret, lsm, freplace) although this process
    /// may load BPF.
    TrampolineRefused {
        program: String,
        section: String,
        error: ProgLoadError,
    },
    /// The BTF an attach target is looked up in cannot be read.
    AttachBtf {
        program: String,
        reason: String,
    },
    /// Tail-call programs but no single prog array to put them in.
    NoProgArray {
        entry: String,
        found: usize,
    },
    TailCallSlotOutOfRange {
        program: String,
        slot: u32,
        map: String,
        max_entries: u32,
    },
    MapCreate {
        map: String,
        error: SysError,
    },
    /// A perf event array without max_entries is sized to the possible CPUs, and they
    /// cannot be read.
    PossibleCpus {
        map: String,
        error: std::io::Error,
    },
    PinnedMapOpen {
        map: String,
        path: PathBuf,
        reason: String,
    },
    PinConflict {
        map: String,
        path: PathBuf,
        differences: String,
    },
    ProgLoad(ProgLoadError),
    /// The verifier reached an instruction a CO-RE relocation poisoned.
    CoRePoisonReached {
        insn_index: usize,
        /// `field_byte_offset struct sk_buff___gone.no_such_field`.
        relocation: String,
        /// Why it was poisoned (`vmlinux's struct sk_buff has no field ...`).
        reason: String,
        error: ProgLoadError,
    },
    MapUpdate {
        map: String,
        what: String,
        error: SysError,
    },
    Pin {
        map: String,
        path: PathBuf,
        error: SysError,
    },
    Bpffs {
        path: PathBuf,
        reason: String,
    },
    Interface {
        name: String,
        error: SysError,
    },
    /// The interfaces of this network namespace cannot be listed (`-status`, `-detach` without `-i`).
    ListInterfaces(SysError),
    Attach {
        interface: String,
        mode: &'static str,
        error: NetlinkError,
    },
    /// Another program is attached and `-force` was not given.
    NotOurs {
        interface: String,
        name: String,
        id: u32,
        mode: &'static str,
        via_link: bool,
        /// The refusal came from `-detach` (with the entry name `-prog` gave).
        detaching: Option<String>,
    },
    /// The per-interface lock file cannot be opened (as a user, usually: not root).
    LockFile {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The process lacks the capabilities to load BPF.
    NotPrivileged,
    /// Another xdploader run holds the interface right now.
    Busy {
        interface: String,
    },
    /// The code tail-calls a slot no program fills, under `-strict`.
    EmptyTailCallSlot {
        program: String,
        slot: u32,
        map: String,
    },
}

impl LoadError {
    pub fn exit_kind(&self) -> ExitKind {
        match self {
            LoadError::NoSuchProgram { .. } | LoadError::Usage(_) => ExitKind::Usage,
            LoadError::Parse { .. }
            | LoadError::UnsupportedProgramType { .. }
            | LoadError::UnknownSection { .. }
            | LoadError::NotXdp { .. }
            | LoadError::Unsupported(_)
            | LoadError::CoRe(_)
            | LoadError::BadRelocation { .. }
            | LoadError::NoProgArray { .. }
            | LoadError::TailCallSlotOutOfRange { .. } => ExitKind::BadObject,
            LoadError::MapCreate { error, .. }
            | LoadError::MapUpdate { error, .. }
            | LoadError::Pin { error, .. }
                if error.is_permission() =>
            {
                ExitKind::Environment
            }
            LoadError::ProgLoad(error)
                if error.errno == nix::errno::Errno::EPERM && error.log.is_empty() =>
            {
                ExitKind::Environment
            }
            LoadError::Attach { error, .. } if error.errno == nix::errno::Errno::EPERM => {
                ExitKind::Environment
            }
            LoadError::MapCreate { .. }
            | LoadError::MapUpdate { .. }
            | LoadError::ProgLoad(_)
            | LoadError::CoRePoisonReached { .. }
            | LoadError::Attach { .. }
            | LoadError::Pin { .. } => ExitKind::KernelRefused,
            LoadError::ReadObject { .. }
            | LoadError::PossibleCpus { .. }
            | LoadError::PinnedMapOpen { .. }
            | LoadError::PinConflict { .. }
            | LoadError::Bpffs { .. }
            | LoadError::Interface { .. }
            | LoadError::ListInterfaces(_)
            | LoadError::NotOurs { .. }
            | LoadError::LockFile { .. }
            | LoadError::NotPrivileged
            | LoadError::KernelBtf { .. }
            | LoadError::Kconfig { .. }
            | LoadError::KsymLookup { .. }
            | LoadError::AttachProg { .. }
            | LoadError::AttachBtf { .. }
            | LoadError::Busy { .. } => ExitKind::Environment,
            // The kernel cannot take the program: it lacks the function the program is
            // for, or refuses the trampoline (libbpf fails on both at load time too).
            LoadError::AttachTargetMissing { .. }
            | LoadError::TrampolineRefused { .. }
            | LoadError::KsymUnresolved { .. } => ExitKind::KernelRefused,
            LoadError::AttachProgNeeded { .. } => ExitKind::Usage,
            LoadError::EmptyTailCallSlot { .. } => ExitKind::BadObject,
        }
    }

    /// The verifier log, when the kernel wrote one.
    pub fn verifier_log(&self) -> Option<&str> {
        match self {
            LoadError::ProgLoad(error) | LoadError::CoRePoisonReached { error, .. }
                if !error.log.is_empty() =>
            {
                Some(&error.log)
            }
            _ => None,
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Usage(message) => f.write_str(message),
            LoadError::ReadObject { path, error } => write!(
                f,
                "cannot read {}: {error}; build it with `make -C kern` or pass the right -file",
                path.display()
            ),
            LoadError::Parse { path, error } => {
                write!(f, "cannot load {}: {error}", path.display())
            }
            LoadError::NoSuchProgram { name, available } => write!(
                f,
                "the object has no program called {name}; pick one with -prog: {}",
                available.join(", ")
            ),
            LoadError::UnsupportedProgramType {
                program,
                section,
                kind,
            } => write!(
                f,
                "program {program} in section `{section}` is a {kind} program, which this loader does not load yet"
            ),
            LoadError::UnknownSection { program, section } => write!(
                f,
                "program {program} is in section `{section}`, whose name gives no program type: name the section as libbpf does (SEC(\"xdp\"), SEC(\"tp/<category>/<event>\"), SEC(\"kprobe/<function>\"), ...: libbpf's \"Program Types and ELF Sections\" lists them); bpftool refuses it too"
            ),
            LoadError::NotXdp {
                program,
                section,
                kind,
            } => write!(
                f,
                "program {program} in section `{section}` is a {kind} program; only XDP programs attach to an interface or run with -run: verify and pin it with -load-only"
            ),
            LoadError::Unsupported(error) => error.fmt(f),
            LoadError::CoRe(error) => match error.failure {
                elf::btf::core::CoreFailure::Ambiguous { .. } => write!(
                    f,
                    "{error}; give the local type a flavour (`name___suffix`) and fields that fit only one of the kernel's types"
                ),
                _ => write!(
                    f,
                    "{error}; the record does not fit the object's own BTF or code: rebuild the object"
                ),
            },
            LoadError::Kconfig { name, reason } => {
                write!(f, "the __kconfig extern {name} has no value: {reason}")
            }
            LoadError::KsymUnresolved { what, name, reason } => {
                write!(f, "the __ksym {what} {name} {reason}")
            }
            LoadError::KsymLookup { what, name, reason } => {
                write!(f, "cannot look up the __ksym {what} {name}: {reason}")
            }
            LoadError::KernelBtf { program, reason } => write!(
                f,
                "program {program} has CO-RE relocations, which are resolved against the running kernel's BTF: {reason}"
            ),
            LoadError::AttachTargetMissing {
                program,
                section,
                target,
                place,
            } => write!(
                f,
                "program {program} in section `{section}` attaches to `{target}`, which is not in {place}; name a function that is there (`bpftool btf dump` lists them)"
            ),
            LoadError::AttachProgNeeded { program, section } => write!(
                f,
                "program {program} in section `{section}` replaces a function of another BPF program: name that program with -attach-prog ID|IFNAME"
            ),
            LoadError::AttachProg { spec, reason } => {
                write!(f, "-attach-prog {spec}: {reason}")
            }
            LoadError::TrampolineRefused {
                program,
                section,
                error,
            } => write!(
                f,
                "the kernel refused program {program} in section `{section}` ({:?}, no verifier log): it runs through a BPF trampoline, which this kernel does not allow here although this process may load BPF (`bpftool prog loadall` is refused the same way); load it on a kernel that allows fentry programs",
                error.errno
            ),
            LoadError::AttachBtf { program, reason } => write!(
                f,
                "program {program} attaches to a function named in BTF, and that BTF cannot be read: {reason}"
            ),
            LoadError::BadRelocation {
                program,
                insn_index,
                symbol,
            } => write!(
                f,
                "program {program}: the relocation against `{symbol}` at instruction {insn_index} does not point at an ld_imm64 pair; the object is malformed"
            ),
            LoadError::NoProgArray { entry, found } => write!(
                f,
                "the object has tail-call programs named {entry}_<N> but {found} prog arrays; it needs exactly one (or one that {entry} uses) to put them in"
            ),
            LoadError::TailCallSlotOutOfRange {
                program,
                slot,
                map,
                max_entries,
            } => write!(
                f,
                "program {program} belongs in slot {slot} of {map}, which has only {max_entries} slots; rename the program or enlarge the map"
            ),
            LoadError::MapCreate { map, error } if error.is_permission() => {
                write!(f, "the kernel refused to create map {map} ({:?}): {NEED_ROOT}", error.errno)
            }
            LoadError::MapCreate { map, error } => write!(
                f,
                "the kernel refused to create map {map}: {} ({:?}); {}",
                error.errno.desc(),
                error.errno,
                explain::map_create_errno(error.errno)
            ),
            LoadError::PossibleCpus { map, error } => write!(
                f,
                "cannot size perf event array {map}, which has no max_entries and so gets one slot per possible CPU: {error}; check that {} is readable",
                sys::cpus::POSSIBLE_CPUS_PATH
            ),
            LoadError::PinnedMapOpen { map, path, reason } => write!(
                f,
                "cannot reuse map {map} pinned at {}: {reason}; remove it with `rm {}` if it is stale",
                path.display(),
                path.display()
            ),
            LoadError::PinConflict {
                map,
                path,
                differences,
            } => write!(
                f,
                "the map pinned at {} does not match map {map} of this object ({differences}); remove the old pin with `rm {}` and load again",
                path.display(),
                path.display()
            ),
            LoadError::ProgLoad(error) if error.errno == nix::errno::Errno::EPERM && error.log.is_empty() => {
                write!(f, "the kernel refused to load program {}: {NEED_ROOT}", error.name)
            }
            LoadError::ProgLoad(error) => match explain::verifier_errno(error.errno) {
                Some(meaning) => write!(
                    f,
                    "the kernel's verifier rejected program {}: {meaning}; the verifier log follows",
                    error.name
                ),
                None => write!(
                    f,
                    "the kernel's verifier rejected program {}: {} ({:?}); the verifier log follows",
                    error.name,
                    error.errno.desc(),
                    error.errno
                ),
            },
            LoadError::CoRePoisonReached {
                insn_index,
                relocation,
                reason,
                error,
            } => write!(
                f,
                "the kernel's verifier rejected program {} at instruction {insn_index}, which its CO-RE relocation {relocation} poisoned because {reason} (the log says `invalid func unknown#195896080`); {}",
                error.name,
                explain::CORE_POISON_FIX
            ),
            LoadError::MapUpdate { map, what, error } => write!(
                f,
                "cannot {what} in map {map}: {} ({:?})",
                error.errno.desc(),
                error.errno
            ),
            LoadError::Pin { map, path, error } => write!(
                f,
                "cannot pin {map} at {}: {} ({:?}); check that the directory is on a bpffs mount and no other file has that name",
                path.display(),
                error.errno.desc(),
                error.errno
            ),
            LoadError::Bpffs { path, reason } => write!(
                f,
                "the pin directory {} is not usable: {reason}",
                path.display()
            ),
            LoadError::ListInterfaces(error) => write!(
                f,
                "cannot list the interfaces of this network namespace ({}); name them with -i",
                error.errno.desc()
            ),
            LoadError::Interface { name, error } => write!(
                f,
                "there is no interface called {name} ({}); list interfaces with `ip link`",
                error.errno.desc()
            ),
            LoadError::Attach {
                interface,
                mode,
                error,
            } => {
                write!(
                    f,
                    "the kernel refused to attach XDP to {interface} in {mode} mode: {} ({:?})",
                    error.errno.desc(),
                    error.errno
                )?;
                if let Some(message) = &error.extack {
                    write!(f, " (the kernel says: {message})")?;
                }
                let explanation = explain::attach_errno(mode, error.errno);
                if !explanation.is_empty() {
                    write!(f, "; {explanation}")?;
                }
                Ok(())
            }
            LoadError::NotOurs {
                interface,
                name,
                id,
                mode,
                via_link,
                detaching,
            } => {
                let how = if *via_link { " through a BPF link" } else { "" };
                let unload = if name == "xdp_dispatcher" {
                    format!("`xdp-loader unload {interface} --all` (libxdp)")
                } else {
                    "the tool that loaded it".to_string()
                };
                match detaching {
                    Some(ours) => write!(
                        f,
                        "{interface} runs XDP program {name} (id {id}, {mode} mode{how}), not {ours}; pass -prog {name} to detach it anyway, -force, or remove it with {unload}"
                    ),
                    None => write!(
                        f,
                        "{interface} already runs XDP program {name} (id {id}, {mode} mode{how}), which is not the program being loaded; remove it with {unload}, or pass -force to replace it"
                    ),
                }
            }
            LoadError::LockFile { path, error }
                if error.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                write!(
                    f,
                    "cannot open the lock file {}: {error}; {NEED_ROOT}",
                    path.display()
                )
            }
            LoadError::LockFile { path, error } => write!(
                f,
                "cannot open the lock file {}: {error}; check that its directory exists and root can write to it",
                path.display()
            ),
            LoadError::NotPrivileged => write!(f, "this needs the kernel's BPF privileges; {NEED_ROOT}"),
            LoadError::Busy { interface } => write!(
                f,
                "another xdploader run is changing {interface} right now; wait for it to finish and run this again"
            ),
            LoadError::EmptyTailCallSlot { program, slot, map } => write!(
                f,
                "program {program} tail-calls slot {slot} of {map}, which no program fills (-strict); add a program named <entry>_{slot} or drop -strict"
            ),
        }
    }
}

impl std::error::Error for LoadError {}
