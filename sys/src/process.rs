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
