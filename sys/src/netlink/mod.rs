//! rtnetlink: attach, detach and query XDP programs on an interface.

mod message;
mod socket;

use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;

pub use message::{LinkState, XdpState};
use message::{Message, NLMSG_DONE, NLMSG_ERROR, RTM_NEWLINK};
use socket::NetlinkSocket;

/// A failed rtnetlink request: the errno and the kernel's extended-ack message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetlinkError {
    pub op: &'static str,
    pub ifindex: u32,
    pub errno: Errno,
    /// The kernel's own words, e.g. "Native and generic XDP can't be active at the same time."
    pub extack: Option<String>,
}

impl fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on interface index {} failed: {} ({:?})",
            self.op,
            self.ifindex,
            self.errno.desc(),
            self.errno
        )?;
        if let Some(message) = &self.extack {
            write!(f, "; the kernel says: {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for NetlinkError {}

/// Sequence numbers unique within the process, so replies can be matched to requests.
static NEXT_SEQ: AtomicU32 = AtomicU32::new(1);

/// Big enough for one RTM_NEWLINK without statistics.
const RECEIVE_BUFFER: usize = 32 * 1024;

enum Expect {
    Ack,
    Link,
}

enum Outcome {
    Acked,
    Link(LinkState),
}

fn request(
    op: &'static str,
    ifindex: u32,
    build: impl FnOnce(u32) -> Vec<u8>,
    expect: Expect,
) -> Result<Outcome, NetlinkError> {
    let fail = |errno: Errno, extack: Option<String>| NetlinkError {
        op,
        ifindex,
        errno,
        extack,
    };
    let io_fail = |error: std::io::Error| {
        fail(
            Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO)),
            None,
        )
    };
    let socket = NetlinkSocket::open().map_err(io_fail)?;
    let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
    socket.send(&build(seq)).map_err(io_fail)?;
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    loop {
        let received = socket.recv(&mut buffer).map_err(io_fail)?;
        let messages = message::split_messages(&buffer[..received])
            .ok_or_else(|| fail(Errno::EBADMSG, Some("malformed netlink reply".into())))?;
        for reply in messages
            .iter()
            .filter(|m: &&Message<'_>| m.seq == seq && m.pid == socket.port_id)
        {
            match reply.msg_type {
                NLMSG_ERROR => {
                    let error = message::parse_error(reply).ok_or_else(|| {
                        fail(Errno::EBADMSG, Some("malformed netlink error".into()))
                    })?;
                    if error.error == 0 {
                        if let Expect::Ack = expect {
                            return Ok(Outcome::Acked);
                        }
                        continue;
                    }
                    return Err(fail(Errno::from_raw(-error.error), error.extack_message));
                }
                RTM_NEWLINK => {
                    if let Expect::Link = expect {
                        let state = message::parse_link(reply).ok_or_else(|| {
                            fail(Errno::EBADMSG, Some("malformed RTM_NEWLINK".into()))
                        })?;
                        return Ok(Outcome::Link(state));
                    }
                }
                NLMSG_DONE => return Err(fail(Errno::ENODATA, None)),
                _ => {}
            }
        }
    }
}

fn ifindex_i32(ifindex: u32) -> i32 {
    i32::try_from(ifindex).unwrap_or(i32::MAX)
}

/// Attaches `prog` as the XDP program of `ifindex` with `flags` (`XDP_FLAGS_*`).
/// With `expected`, the kernel replaces only that program (`XDP_FLAGS_REPLACE` must be set).
pub fn xdp_attach(
    ifindex: u32,
    prog: BorrowedFd<'_>,
    flags: u32,
    expected: Option<BorrowedFd<'_>>,
) -> Result<(), NetlinkError> {
    let fd = prog.as_raw_fd();
    let expected_fd = expected.map(|fd| fd.as_raw_fd());
    request(
        "RTM_SETLINK (attach XDP)",
        ifindex,
        |seq| message::encode_xdp_set(seq, ifindex_i32(ifindex), fd, flags, expected_fd),
        Expect::Ack,
    )
    .map(drop)
}

/// Removes the XDP program of `ifindex` attached in the mode `flags` names.
pub fn xdp_detach(ifindex: u32, flags: u32) -> Result<(), NetlinkError> {
    request(
        "RTM_SETLINK (detach XDP)",
        ifindex,
        |seq| message::encode_xdp_set(seq, ifindex_i32(ifindex), -1, flags, None),
        Expect::Ack,
    )
    .map(drop)
}

/// The interface's name, state, MTU, kind, veth peer and XDP attachment.
pub fn link_query(ifindex: u32) -> Result<LinkState, NetlinkError> {
    match request(
        "RTM_GETLINK (query link)",
        ifindex,
        |seq| message::encode_link_get(seq, ifindex_i32(ifindex)),
        Expect::Link,
    )? {
        Outcome::Link(state) => Ok(state),
        Outcome::Acked => Ok(LinkState::default()),
    }
}
