//! The object's BTF in the kernel: as it is, or sanitised for an older kernel.

use elf::btf::BtfFeatures;
use elf::Object;
use sys::btf::BtfFd;

/// The object's BTF, fixed up at parse time, loaded with `BPF_BTF_LOAD`: as it is first,
/// and only when the kernel refuses that, sanitised for what the kernel supports (probed
/// then, with a handful of tiny BTF loads). A kernel that takes every kind the object
/// uses would get the same bytes from the sanitiser, so a current kernel is asked once
/// and never probed. `Ok(None)` when the object has no BTF; `Err` when the kernel
/// refused it sanitised too (the caller loads without BTF and says so once).
pub fn load_btf(object: &Object) -> Result<Option<BtfFd>, sys::btf::BtfLoadError> {
    let Some(btf) = &object.btf else {
        return Ok(None);
    };
    if let Ok(fd) = sys::btf::btf_try_load(&btf.to_bytes()) {
        return Ok(Some(fd));
    }
    let kernel = sys::probe::kernel_btf_features();
    let features = BtfFeatures {
        func: kernel.func,
        func_global: kernel.func_global,
        datasec: kernel.datasec,
        float: kernel.float,
        decl_tag: kernel.decl_tag,
        type_tag: kernel.type_tag,
        enum64: kernel.enum64,
        qmark_datasec: kernel.qmark_datasec,
    };
    let mut btf = btf.clone();
    btf.sanitize(&features);
    sys::btf::btf_load(&btf.to_bytes()).map(Some)
}

/// The object's BTF in the kernel, or `None` (with one line to `say` why) when the kernel
/// refused it: everything still loads, without source lines and field names.
pub fn load_btf_or_warn(object: &Object, say: &mut dyn FnMut(String)) -> Option<BtfFd> {
    match load_btf(object) {
        Ok(btf) => btf,
        Err(error) => {
            say(format!(
                "Warning: the kernel refused the object's BTF ({error}); loading without it"
            ));
            None
        }
    }
}
