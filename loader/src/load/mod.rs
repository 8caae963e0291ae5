//! The load stage: an object file becomes maps and programs in the kernel, tail calls
//! wired and maps pinned; nothing is attached here. One file per step, in the order a
//! load takes them:
//!
//! | step | file |
//! | --- | --- |
//! | may this process load BPF, read and parse the object | here: [`may_load_bpf`], [`read_object`] |
//! | pure checks before any kernel work | `programs.rs` (`check_linkable`), `tail_calls.rs` (`tail_call_plan`) |
//! | the pin directory on bpffs | `pins.rs` (`prepare_pin_root`) |
//! | BTF, then the maps (created, or reused from their pins) | `btf.rs`, `maps.rs` |
//! | the running kernel's BTF, read only when an object needs it | `kernel_btf.rs` |
//! | CO-RE relocations computed against it (checked before anything is created, applied before each load) | `core.rs` (`CoreContext`, `apply_core`) |
//! | `__ksym` externs: kernel variables and kfuncs by BTF id, typeless ones in kallsyms (resolved before anything is created) | `ksym.rs` (`resolve_ksyms`) |
//! | attach targets of tracing, LSM and ext programs (vmlinux, module or `-attach-prog` BTF) | `attach_btf.rs` (`attach_target`, `AttachProg`) |
//! | the programs, relocated and verified | `programs.rs` (`load_chain`, `load_program`) |
//! | the prog array's slots; the chain read back from the code | `tail_calls.rs`, `chain.rs` |
//! | maps pinned | `pins.rs` (`pin_maps`) |
//! | where `bpf_printk` output can be read | `tracefs.rs` |
//!
//! Nothing here prints. This stage uses `elf`, `sys` and the shared modules (`vocab`,
//! `error`, `lock`, `timings`), never a later stage (`attach`, `run`, `stats`).

use std::path::Path;

use elf::Object;

use crate::error::LoadError;

pub mod attach_btf;
pub mod btf;
pub mod chain;
pub mod core;
pub mod flow;
pub mod kconfig;
pub mod kernel_btf;
pub mod ksym;
pub mod maps;
pub mod pins;
pub mod programs;
pub mod tail_calls;
pub mod tracefs;

/// Reads and parses an object file.
pub fn read_object(path: &Path) -> Result<Object, LoadError> {
    let bytes = std::fs::read(path).map_err(|error| LoadError::ReadObject {
        path: path.to_path_buf(),
        error,
    })?;
    Object::parse(&bytes).map_err(|error| LoadError::Parse {
        path: path.to_path_buf(),
        error,
    })
}

/// `CAP_SYS_ADMIN` and `CAP_BPF` from include/uapi/linux/capability.h.
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// Whether this process may load BPF at all (CAP_BPF, or CAP_SYS_ADMIN on kernels before
/// 5.8), read from its effective capability set, so a user hears "run it as root" before
/// anything else goes wrong.
pub fn may_load_bpf() -> bool {
    // When the set cannot be read, let the kernel say no instead.
    let Ok(effective) = sys::process::effective_capabilities() else {
        return true;
    };
    effective & (1 << CAP_BPF) != 0 || effective & (1 << CAP_SYS_ADMIN) != 0
}

#[cfg(test)]
pub(crate) mod test_specs {
    use elf::{MapOrigin, MapSpec, Pinning};
    use sys::abi::BPF_MAP_TYPE_PERCPU_ARRAY;

    /// A stats-map-shaped spec for the unit tests of the load steps.
    pub fn spec(name: &str, pinning: Pinning) -> MapSpec {
        MapSpec {
            name: name.into(),
            map_type: BPF_MAP_TYPE_PERCPU_ARRAY,
            key_size: 4,
            value_size: 16,
            max_entries: 5,
            map_flags: 0,
            numa_node: None,
            pinning,
            btf_key_type_id: None,
            btf_value_type_id: None,
            origin: MapOrigin::BtfMaps,
            section_index: 1,
            section_offset: 0,
            initial_value: Vec::new(),
            def_size: 0,
            inner: None,
            values_offset: None,
            initial_slots: Vec::new(),
            map_extra: 0,
        }
    }
}
