//! Process-wide settings the binaries need.

/// Restores the default SIGPIPE action (terminate quietly), which the Rust runtime
/// replaces with "ignore": without this, `xdploader -status | head -1` would end in a
/// panic on the broken pipe instead of the silent exit every Unix tool has.
pub fn default_sigpipe() {
    // SAFETY: SIG_DFL is a valid disposition for SIGPIPE, and the call happens at the
    // start of main, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// `_LINUX_CAPABILITY_VERSION_3` from include/uapi/linux/capability.h: 64-bit sets, in
/// two 32-bit halves.
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct UserCapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`, one per 32-bit half.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct UserCapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// This process's effective capability set as a bit mask (bit N is capability N), from
/// one `capget(2)` rather than parsing /proc/self/status.
pub fn effective_capabilities() -> std::io::Result<u64> {
    let mut header = UserCapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [UserCapData::default(); 2];
    // SAFETY: capget reads the header and, for version 3, writes exactly two
    // `__user_cap_data_struct`s; both live for the whole call and are laid out as the
    // kernel's structs (repr(C), the kernel's field order and sizes).
    let result = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut UserCapHeader,
            data.as_mut_ptr(),
        )
    };
    if result != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(u64::from(data[0].effective) | (u64::from(data[1].effective) << 32))
}

/// The system's page size, which a ring buffer's size must be a power-of-two multiple of.
/// None only if sysconf cannot say, which Linux's sysconf never does for the page size.
pub fn page_size() -> Option<u32> {
    // SAFETY: sysconf reads a process-wide constant; it takes no pointers and has no
    // side effects.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u32::try_from(size).ok().filter(|&size| size > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_set_matches_proc_self_status() {
        let status = std::fs::read_to_string("/proc/self/status").expect("read status");
        let from_proc = status
            .lines()
            .find_map(|line| line.strip_prefix("CapEff:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .expect("CapEff line");
        assert_eq!(effective_capabilities().expect("capget"), from_proc);
    }

    #[test]
    fn cap_structs_have_the_kernels_sizes() {
        assert_eq!(std::mem::size_of::<UserCapHeader>(), 8);
        assert_eq!(std::mem::size_of::<UserCapData>(), 12);
    }
}
