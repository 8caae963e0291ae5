//! The attach target of a tracing, LSM or ext program (tp_btf, fentry, fexit, fmod_ret,
//! lsm, iter, freplace): the BTF type id `BPF_PROG_LOAD` wants in `attach_btf_id`, found
//! as libbpf finds it (the section's suffix after the row's prefix, a FUNC or, for
//! tp_btf, a TYPEDEF), in vmlinux, in a module (whose BTF object then goes in
//! `attach_btf_obj_fd`), or, with `-attach-prog`, in another BPF program's BTF (that
//! program in `attach_prog_fd`), as xdpdump attaches to an XDP program.

use std::os::fd::{AsFd, AsRawFd};

use elf::btf::Btf;
use elf::{attach_target_name, AttachBtf, AttachTargets, ProgramSpec, ProgramType};
use sys::btf::{btf_bytes, btf_fd_by_id, btf_ids, btf_info, BtfFd};
use sys::ProgFd;

use crate::error::LoadError;
use crate::load::kernel_btf::{find_named_in, KernelBtf, NamedKind};

/// Where the kernel's BTF is looked in, said in the refusal when a target is missing.
const KERNEL_PLACE: &str = "the kernel's BTF (vmlinux and every module)";

/// The program `-attach-prog` names, opened, with its BTF read back from the kernel.
#[derive(Debug)]
pub struct AttachProg {
    pub id: u32,
    pub name: String,
    pub fd: ProgFd,
    btf: Btf,
    /// The FUNC of the program's entry function (its first func_info record): what a
    /// section whose suffix is no function of the program (xdpdump's `fentry/func`)
    /// attaches to.
    entry_func: Option<u32>,
}

impl AttachProg {
    /// Opens the program `spec` names: a program id, or an interface whose attached XDP
    /// program is meant (asked by netlink, as `-status` asks).
    pub fn open(spec: &str) -> Result<AttachProg, LoadError> {
        let refused = |reason: String| LoadError::AttachProg {
            spec: spec.to_string(),
            reason,
        };
        let id = match spec.parse::<u32>() {
            Ok(id) => id,
            Err(_) => {
                let ifindex = sys::iface::ifindex(spec).map_err(|error| {
                    refused(format!(
                        "it is neither a program id nor an interface ({}); `bpftool prog show` lists program ids",
                        error.errno.desc()
                    ))
                })?;
                let state = sys::netlink::link_query(ifindex).map_err(|error| {
                    refused(format!(
                        "cannot ask interface {spec} for its XDP program: {error}"
                    ))
                })?;
                match state.xdp.prog_id {
                    0 => {
                        return Err(refused(format!(
                            "interface {spec} has no XDP program attached (or more than one); name the program by id"
                        )))
                    }
                    id => id,
                }
            }
        };
        let fd = sys::prog::prog_fd_by_id(id).map_err(|error| match error.errno {
            nix::errno::Errno::ENOENT => refused(format!(
                "there is no BPF program with id {id}; `bpftool prog show` lists them"
            )),
            _ => refused(format!("cannot open program {id}: {error}")),
        })?;
        let info = sys::prog::prog_info(fd.as_fd())
            .map_err(|error| refused(format!("cannot read program {id}'s info: {error}")))?;
        if info.btf_id == 0 {
            return Err(refused(format!(
                "program {id} ({}) has no BTF, which is where its functions are named; load it from an object built with -g",
                info.name
            )));
        }
        let bytes = btf_fd_by_id(info.btf_id)
            .and_then(|btf| btf_bytes(btf.as_fd()))
            .map_err(|error| refused(format!("cannot read program {id}'s BTF: {error}")))?;
        let btf = Btf::parse(&bytes)
            .map_err(|error| refused(format!("program {id}'s BTF does not parse: {error}")))?;
        let entry_func = sys::prog::prog_func_info(fd.as_fd())
            .ok()
            .and_then(|records| records.first().map(|&(_, type_id)| type_id));
        Ok(AttachProg {
            id,
            name: info.name,
            fd,
            btf,
            entry_func,
        })
    }

    /// The FUNC named `name` in the program's BTF, else its entry function.
    fn function(&self, name: Option<&str>) -> Option<u32> {
        name.and_then(|name| find_named_in(&self.btf, name, NamedKind::Func, 1))
            .or(self.entry_func)
    }

    /// `program 42 (xdp_prog_main)`.
    fn describe(&self) -> String {
        format!("program {} ({})", self.id, self.name)
    }

    /// What `program` attaches to in this program, for the attach line
    /// (`xdp_prog_main of program 42 (xdp_prog_main)`); `None` when its type attaches
    /// only to the kernel.
    pub fn target_of(&self, program: &ProgramSpec) -> Option<String> {
        let ProgramType::AttachBtf { attach, .. } = program.program_type else {
            return None;
        };
        if attach.targets == AttachTargets::Kernel {
            return None;
        }
        let func = self.function(target_name(program, &attach).as_deref())?;
        let name = self.btf.name(func).unwrap_or("?");
        Some(format!("{name} of {}", self.describe()))
    }
}

/// A program's attach target: the BTF id and where it is.
#[derive(Debug, Clone)]
pub struct AttachTarget<'a> {
    pub btf_id: u32,
    pub place: Place<'a>,
}

/// Where an attach target was found.
#[derive(Debug, Clone)]
pub enum Place<'a> {
    Vmlinux,
    /// A module's BTF, by the module's name.
    Module(String),
    /// A function of the `-attach-prog` program.
    Program(&'a AttachProg),
}

/// The name looked up for `program`: the row's prefix and the section's suffix.
pub fn target_name(program: &ProgramSpec, attach: &AttachBtf) -> Option<String> {
    attach_target_name(&program.section).map(|suffix| format!("{}{suffix}", attach.prefix))
}

/// The attach target of `program`, or `None` for a type that has none. The kernel's BTF
/// is read (once per load, by `kernel`) only here, so objects without such programs
/// never read it.
pub fn attach_target<'a>(
    program: &ProgramSpec,
    kernel: &KernelBtf,
    attach_prog: Option<&'a AttachProg>,
) -> Result<Option<AttachTarget<'a>>, LoadError> {
    let ProgramType::AttachBtf { attach, .. } = program.program_type else {
        return Ok(None);
    };
    let name = target_name(program, &attach);
    let missing = |target: String, place: String| LoadError::AttachTargetMissing {
        program: program.name.clone(),
        section: program.section.clone(),
        target,
        place,
    };
    let on_program = match (attach.targets, attach_prog) {
        (AttachTargets::Program, None) => {
            return Err(LoadError::AttachProgNeeded {
                program: program.name.clone(),
                section: program.section.clone(),
            })
        }
        (AttachTargets::Program | AttachTargets::KernelOrProgram, Some(target)) => Some(target),
        (_, _) => None,
    };
    if let Some(target) = on_program {
        let btf_id = target.function(name.as_deref()).ok_or_else(|| {
            missing(
                name.clone().unwrap_or_default(),
                format!("{}'s BTF", target.describe()),
            )
        })?;
        return Ok(Some(AttachTarget {
            btf_id,
            place: Place::Program(target),
        }));
    }
    let Some(name) = name else {
        return Err(missing(String::new(), KERNEL_PLACE.to_string()));
    };
    let kind = if attach.typedef {
        NamedKind::Typedef
    } else {
        NamedKind::Func
    };
    let found = kernel
        .find_named(&name, kind)
        .map_err(|error| LoadError::AttachBtf {
            program: program.name.clone(),
            reason: error.to_string(),
        })?
        .ok_or_else(|| missing(name.clone(), KERNEL_PLACE.to_string()))?;
    Ok(Some(AttachTarget {
        btf_id: found.type_id,
        place: match found.module {
            None => Place::Vmlinux,
            Some(module) => Place::Module(module),
        },
    }))
}

/// What `BPF_PROG_LOAD` gets for a target: `attach_btf_id`, and the descriptor for
/// `attach_prog_fd` / `attach_btf_obj_fd` (a module's BTF object, opened here and held
/// by the returned `BtfFd` until the load is done).
pub fn load_fields(
    program: &ProgramSpec,
    target: &AttachTarget<'_>,
) -> Result<(u32, Option<i32>, Option<BtfFd>), LoadError> {
    match &target.place {
        Place::Vmlinux => Ok((target.btf_id, None, None)),
        Place::Program(prog) => Ok((target.btf_id, Some(prog.fd.as_raw_fd()), None)),
        Place::Module(module) => {
            let btf = module_btf_fd(module).map_err(|reason| LoadError::AttachBtf {
                program: program.name.clone(),
                reason,
            })?;
            Ok((target.btf_id, Some(btf.as_raw_fd()), Some(btf)))
        }
    }
}

/// The kernel's BTF object of module `module`: every BTF object is walked by id
/// (`BPF_BTF_GET_NEXT_ID`) and the kernel one with that name kept.
pub(crate) fn module_btf_fd(module: &str) -> Result<BtfFd, String> {
    let ids = btf_ids().map_err(|error| error.to_string())?;
    for id in ids {
        // An object freed between the listing and the open is no error.
        let Ok(btf) = btf_fd_by_id(id) else { continue };
        let Ok(info) = btf_info(btf.as_fd()) else {
            continue;
        };
        if info.kernel_btf && info.name == module {
            return Ok(btf);
        }
    }
    Err(format!(
        "module {module} has BTF in /sys/kernel/btf but no BTF object in the kernel (unloaded meanwhile?)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::kernel_btf::tests::synthetic_kernel_btf;
    use std::path::Path;

    fn program(section: &str) -> ProgramSpec {
        ProgramSpec {
            name: "prog".into(),
            section: section.into(),
            section_index: 1,
            program_type: elf::program::program_type_for_section(section).expect("a known section"),
            section_offset: 0,
            insns: Vec::new(),
            relocations: Vec::new(),
        }
    }

    /// The BTF id and module of `section`'s target in the synthetic kernel, with the
    /// name of libbpf's tp_btf prefix rule (`btf_trace_<name>`) and a plain FUNC.
    #[test]
    fn targets_are_found_by_libbpfs_names_in_vmlinux_and_modules() {
        let dir = synthetic_kernel_btf("attach");
        let kernel = KernelBtf::at(&dir);
        let found = |section: &str| {
            let target = attach_target(&program(section), &kernel, None)
                .expect("found")
                .expect("a BTF-attach type");
            let module = match target.place {
                Place::Vmlinux => None,
                Place::Module(name) => Some(name),
                Place::Program(_) => panic!("no -attach-prog here"),
            };
            (target.btf_id, module)
        };
        // tp_btf/thing is the TYPEDEF btf_trace_thing (4), not the FUNC of that name (5).
        assert_eq!(found("tp_btf/thing"), (4, None));
        assert_eq!(found("fentry/do_thing"), (3, None));
        assert_eq!(found("fexit.s/do_thing"), (3, None));
        assert_eq!(found("fentry/btf_trace_thing"), (5, None));
        assert_eq!(found("fmod_ret/mod_thing"), (6, Some("thing_mod".into())));
        match attach_target(&program("lsm/thing"), &kernel, None) {
            Err(LoadError::AttachTargetMissing { target, place, .. }) => {
                assert_eq!(target, "bpf_lsm_thing");
                assert_eq!(place, KERNEL_PLACE);
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn other_types_never_read_the_kernels_btf_and_freplace_needs_a_program() {
        let kernel = KernelBtf::at(Path::new("/nonexistent/btf"));
        assert!(attach_target(&program("xdp"), &kernel, None)
            .expect("no target needed")
            .is_none());
        assert!(attach_target(&program("kprobe/x"), &kernel, None)
            .expect("no target needed")
            .is_none());
        assert!(matches!(
            attach_target(&program("freplace/xdp_pass"), &kernel, None),
            Err(LoadError::AttachProgNeeded { .. })
        ));
        // A kernel without BTF is said as such for a type that needs it.
        assert!(matches!(
            attach_target(&program("fentry/x"), &kernel, None),
            Err(LoadError::AttachBtf { .. })
        ));
    }
}
