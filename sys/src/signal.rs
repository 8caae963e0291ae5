//! SIGINT and SIGTERM as a file descriptor (`signalfd(2)`): a program waits for "the
//! interval is over or someone asked me to stop" in one `poll(2)`, with no signal handler
//! and no race between checking a flag and going to sleep.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::error::SysError;

/// SIGINT (Ctrl-C) and SIGTERM, blocked for the calling thread and delivered through a
/// signalfd instead. Dropping it drains what is pending and restores the signal mask.
#[derive(Debug)]
pub struct StopSignals {
    fd: OwnedFd,
    previous: libc::sigset_t,
}

fn stop_set() -> Result<libc::sigset_t, SysError> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before any other use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed sigset_t; SIGINT and SIGTERM are valid signals.
    let ret = unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT) | libc::sigaddset(&mut set, libc::SIGTERM)
    };
    if ret != 0 {
        return Err(SysError::new(
            "sigaddset",
            "SIGINT and SIGTERM",
            io::Error::last_os_error(),
        ));
    }
    Ok(set)
}

impl StopSignals {
    /// Blocks SIGINT and SIGTERM in the calling thread and opens a signalfd for them. Call
    /// it before starting other threads: they inherit the mask, and a thread that does not
    /// block the signals would receive them the ordinary way.
    pub fn new() -> Result<StopSignals, SysError> {
        let set = stop_set()?;
        // SAFETY: sigset_t is plain data; pthread_sigmask fills it in below.
        let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are to valid sigset_t values owned by this frame.
        let ret = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous) };
        if ret != 0 {
            return Err(SysError::new(
                "pthread_sigmask",
                "SIGINT and SIGTERM",
                io::Error::from_raw_os_error(ret),
            ));
        }
        // SAFETY: -1 asks for a new descriptor; `set` is a valid sigset_t.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
        if fd < 0 {
            let error = io::Error::last_os_error();
            // SAFETY: restores the mask saved above; `previous` is a valid sigset_t.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut()) };
            return Err(SysError::new("signalfd", "SIGINT and SIGTERM", error));
        }
        // SAFETY: signalfd returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(StopSignals { fd, previous })
    }

    /// Waits up to `timeout` for SIGINT or SIGTERM. Returns the signal number when one
    /// arrived (it is consumed), `None` when the time ran out.
    pub fn wait(&self, timeout: Duration) -> Result<Option<i32>, SysError> {
        // A timeout beyond what the clock can hold waits for a signal only.
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if let Some(signal) = self.take()? {
                return Ok(Some(signal));
            }
            let left = deadline.map_or(Duration::MAX, |deadline| {
                deadline.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                return Ok(None);
            }
            // Round up so that a wait never ends early; poll takes at most i32::MAX ms.
            let millis = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            let mut pollfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, exclusively borrowed for the call.
            let ret = unsafe { libc::poll(&mut pollfd, 1, millis) };
            if ret < 0 {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(SysError::new("poll", "signalfd", error));
                }
            }
        }
    }

    /// Reads one pending signal from the signalfd, if any.
    fn take(&self) -> Result<Option<i32>, SysError> {
        // SAFETY: signalfd_siginfo is plain data; all-zero is a valid value.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: `info` is a valid, exclusively borrowed buffer of `size` bytes.
        let ret = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                &mut info as *mut libc::signalfd_siginfo as *mut libc::c_void,
                size,
            )
        };
        if ret < 0 {
            let error = io::Error::last_os_error();
            return match error.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(SysError::new("read", "signalfd", error)),
            };
        }
        if ret as usize != size {
            return Ok(None);
        }
        Ok(Some(info.ssi_signo as i32))
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        // A second Ctrl-C still pending would otherwise kill the process the moment the
        // mask is restored.
        while let Ok(Some(_)) = self.take() {}
        // SAFETY: restores the mask saved by `new`; `previous` is a valid sigset_t.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Raising SIGTERM at this thread is seen through the descriptor, not as a kill.
    #[test]
    fn a_raised_signal_is_read_from_the_descriptor() {
        let signals = StopSignals::new().expect("signalfd");
        assert_eq!(signals.wait(Duration::from_millis(1)).expect("wait"), None);
        // SAFETY: sends SIGTERM to this very thread, which has it blocked.
        let ret = unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGTERM) };
        assert_eq!(ret, 0);
        assert_eq!(
            signals.wait(Duration::from_secs(5)).expect("wait"),
            Some(libc::SIGTERM)
        );
        let start = Instant::now();
        assert_eq!(signals.wait(Duration::from_millis(30)).expect("wait"), None);
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
