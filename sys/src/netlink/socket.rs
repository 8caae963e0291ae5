//! The rtnetlink socket: the only unsafe part of netlink.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// `NETLINK_EXT_ACK` from include/uapi/linux/netlink.h: ask for extended-ack messages.
const NETLINK_EXT_ACK: libc::c_int = 11;
/// `NETLINK_CAP_ACK`: do not echo our whole request back in error messages.
const NETLINK_CAP_ACK: libc::c_int = 10;
/// How long to wait for the kernel's answer before giving up.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct NetlinkSocket {
    fd: OwnedFd,
    /// Our port id, which the kernel puts in `nlmsg_pid` of its replies to us.
    pub port_id: u32,
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn set_int_option(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and its exact size is passed.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn kernel_address() -> libc::sockaddr_nl {
    // SAFETY: sockaddr_nl is plain old data; all-zero is a valid value (port 0 = the kernel).
    let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    address
}

impl NetlinkSocket {
    pub(crate) fn open() -> io::Result<NetlinkSocket> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = check(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        })?;
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // Kernels before 4.12 lack extended ack; they still work, only without the message.
        let _ = set_int_option(&fd, libc::SOL_NETLINK, NETLINK_EXT_ACK, 1);
        let _ = set_int_option(&fd, libc::SOL_NETLINK, NETLINK_CAP_ACK, 1);
        let timeout = libc::timeval {
            tv_sec: RECEIVE_TIMEOUT.as_secs() as libc::time_t,
            tv_usec: 0,
        };
        // SAFETY: `timeout` is a live timeval and its exact size is passed.
        check(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &timeout as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        })?;
        let local = kernel_address();
        // SAFETY: `local` is a valid sockaddr_nl and its exact size is passed.
        check(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &local as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        })?;
        let mut bound = kernel_address();
        let mut len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: `bound` has room for a sockaddr_nl and `len` says so.
        check(unsafe {
            libc::getsockname(
                fd.as_raw_fd(),
                &mut bound as *mut libc::sockaddr_nl as *mut libc::sockaddr,
                &mut len,
            )
        })?;
        Ok(NetlinkSocket {
            fd,
            port_id: bound.nl_pid,
        })
    }

    pub(crate) fn send(&self, message: &[u8]) -> io::Result<()> {
        let kernel = kernel_address();
        // SAFETY: `message` is a live buffer of the given length; `kernel` a valid sockaddr_nl.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                message.as_ptr() as *const libc::c_void,
                message.len(),
                0,
                &kernel as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        if sent as usize != message.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short netlink send",
            ));
        }
        Ok(())
    }

    pub(crate) fn recv(&self, buffer: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: `buffer` is a live, writable buffer of the given length.
            let received = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buffer.as_mut_ptr() as *mut libc::c_void,
                    buffer.len(),
                    0,
                )
            };
            if received >= 0 {
                return Ok(received as usize);
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }
}
