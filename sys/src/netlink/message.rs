//! rtnetlink message encoding and decoding: safe, byte-level, tested with vectors.

// include/uapi/linux/netlink.h
pub(crate) const NLMSG_HDRLEN: usize = 16;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const NLM_F_REQUEST: u16 = 0x01;
pub(crate) const NLM_F_ACK: u16 = 0x04;
/// In an error message: the original request was cut to its header.
const NLM_F_CAPPED: u16 = 0x100;
/// In an error message: extended-ack attributes follow.
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLA_HDRLEN: usize = 4;
const NLA_F_NESTED: u16 = 1 << 15;
const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | (1 << 14));
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSGERR_ATTR_OFFS: u16 = 2;

// include/uapi/linux/rtnetlink.h
pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_SETLINK: u16 = 19;
/// `sizeof(struct ifinfomsg)`.
const IFINFOMSG_LEN: usize = 16;
const AF_UNSPEC: u8 = 0;

// include/uapi/linux/if_link.h
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_LINK_NETNSID: u16 = 37;
const IFLA_EXT_MASK: u16 = 29;
/// `IFF_UP` in `ifi_flags`.
const IFF_UP: u32 = 1;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_FLAGS: u16 = 3;
const IFLA_XDP_PROG_ID: u16 = 4;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const IFLA_XDP_SKB_PROG_ID: u16 = 6;
const IFLA_XDP_HW_PROG_ID: u16 = 7;
const IFLA_XDP_EXPECTED_FD: u16 = 8;
/// Leave the (large) statistics out of RTM_GETLINK replies.
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// Builds one netlink message: header, `ifinfomsg`, attributes.
struct MessageBuilder {
    buf: Vec<u8>,
}

impl MessageBuilder {
    fn new(msg_type: u16, flags: u16, seq: u32) -> MessageBuilder {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, set by finish()
        buf.extend_from_slice(&msg_type.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: 0, the kernel fills it in
        MessageBuilder { buf }
    }

    fn ifinfomsg(mut self, ifindex: i32) -> Self {
        self.buf.push(AF_UNSPEC); // ifi_family
        self.buf.push(0); // __ifi_pad
        self.buf.extend_from_slice(&0u16.to_ne_bytes()); // ifi_type
        self.buf.extend_from_slice(&ifindex.to_ne_bytes()); // ifi_index
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // ifi_flags
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // ifi_change
        self
    }

    fn attr(&mut self, attr_type: u16, payload: &[u8]) {
        let len = (NLA_HDRLEN + payload.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&attr_type.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.buf.resize(align4(self.buf.len()), 0);
    }

    fn begin_nested(&mut self, attr_type: u16) -> usize {
        let start = self.buf.len();
        self.attr(attr_type | NLA_F_NESTED, &[]);
        start
    }

    fn end_nested(&mut self, start: usize) {
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// RTM_SETLINK with IFLA_XDP { IFLA_XDP_FD, IFLA_XDP_FLAGS [, IFLA_XDP_EXPECTED_FD] }.
/// `fd` -1 detaches.
pub(crate) fn encode_xdp_set(
    seq: u32,
    ifindex: i32,
    fd: i32,
    flags: u32,
    expected_fd: Option<i32>,
) -> Vec<u8> {
    let mut message =
        MessageBuilder::new(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, seq).ifinfomsg(ifindex);
    let nested = message.begin_nested(IFLA_XDP);
    message.attr(IFLA_XDP_FD, &fd.to_ne_bytes());
    if flags != 0 {
        message.attr(IFLA_XDP_FLAGS, &flags.to_ne_bytes());
    }
    if let Some(expected) = expected_fd {
        message.attr(IFLA_XDP_EXPECTED_FD, &expected.to_ne_bytes());
    }
    message.end_nested(nested);
    message.finish()
}

/// RTM_GETLINK for one interface, without statistics.
pub(crate) fn encode_link_get(seq: u32, ifindex: i32) -> Vec<u8> {
    let mut message = MessageBuilder::new(RTM_GETLINK, NLM_F_REQUEST, seq).ifinfomsg(ifindex);
    message.attr(IFLA_EXT_MASK, &RTEXT_FILTER_SKIP_STATS.to_ne_bytes());
    message.finish()
}

/// One message out of a receive buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message<'a> {
    pub msg_type: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
    pub payload: &'a [u8],
}

fn ne_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn ne_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Splits a datagram into messages; `None` when a header or length is malformed.
pub(crate) fn split_messages(mut buf: &[u8]) -> Option<Vec<Message<'_>>> {
    let mut messages = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = ne_u32(buf, 0)? as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return None;
        }
        messages.push(Message {
            msg_type: ne_u16(buf, 4)?,
            flags: ne_u16(buf, 6)?,
            seq: ne_u32(buf, 8)?,
            pid: ne_u32(buf, 12)?,
            payload: &buf[NLMSG_HDRLEN..len],
        });
        buf = buf.get(align4(len)..).unwrap_or(&[]);
    }
    Some(messages)
}

/// Iterates netlink attributes `(type without flags, payload)`; stops at the first malformed one.
fn attributes(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = ne_u16(buf, 0)? as usize;
        let attr_type = ne_u16(buf, 2)?;
        if len < NLA_HDRLEN || len > buf.len() {
            return None;
        }
        let payload = &buf[NLA_HDRLEN..len];
        buf = buf.get(align4(len)..).unwrap_or(&[]);
        Some((attr_type & NLA_TYPE_MASK, payload))
    })
}

/// The body of an NLMSG_ERROR: 0 for an ACK, else a negative errno, plus the
/// extended-ack message when the kernel sent one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorReply {
    pub error: i32,
    pub extack_message: Option<String>,
    pub extack_offset: Option<u32>,
}

pub(crate) fn parse_error(message: &Message<'_>) -> Option<ErrorReply> {
    let error = ne_u32(message.payload, 0)? as i32;
    let mut reply = ErrorReply {
        error,
        extack_message: None,
        extack_offset: None,
    };
    if message.flags & NLM_F_ACK_TLVS == 0 {
        return Some(reply);
    }
    // struct nlmsgerr { int error; struct nlmsghdr msg; } then the request's payload
    // unless capped, then the TLVs.
    let request_len = ne_u32(message.payload, 4)? as usize;
    let tlv_start = if message.flags & NLM_F_CAPPED != 0 {
        4 + NLMSG_HDRLEN
    } else {
        4 + align4(request_len)
    };
    for (attr_type, payload) in attributes(message.payload.get(tlv_start..).unwrap_or(&[])) {
        match attr_type {
            NLMSGERR_ATTR_MSG => {
                let text = payload.split(|&b| b == 0).next().unwrap_or(&[]);
                reply.extack_message = Some(String::from_utf8_lossy(text).into_owned());
            }
            NLMSGERR_ATTR_OFFS => reply.extack_offset = ne_u32(payload, 0),
            _ => {}
        }
    }
    Some(reply)
}

/// What RTM_NEWLINK says about XDP on an interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XdpState {
    /// `XDP_ATTACHED_*`.
    pub attached: u8,
    /// The program id when exactly one program is attached.
    pub prog_id: u32,
    pub drv_prog_id: u32,
    pub skb_prog_id: u32,
    pub hw_prog_id: u32,
}

/// What RTM_NEWLINK says about an interface: enough to judge native XDP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkState {
    pub name: String,
    pub up: bool,
    pub mtu: u32,
    /// `IFLA_INFO_KIND`, e.g. "veth"; empty for physical devices.
    pub kind: String,
    /// `IFLA_LINK`: the peer of a veth (0 when none).
    pub peer_ifindex: u32,
    /// The peer lives in another network namespace (`IFLA_LINK_NETNSID`).
    pub peer_in_other_netns: bool,
    pub xdp: XdpState,
}

pub(crate) fn parse_link(message: &Message<'_>) -> Option<LinkState> {
    let flags = ne_u32(message.payload, 8)?;
    let attrs = message.payload.get(IFINFOMSG_LEN..)?;
    let mut state = LinkState {
        up: flags & IFF_UP != 0,
        ..LinkState::default()
    };
    for (attr_type, payload) in attributes(attrs) {
        match attr_type {
            IFLA_IFNAME => {
                let name = payload.split(|&b| b == 0).next().unwrap_or(&[]);
                state.name = String::from_utf8_lossy(name).into_owned();
            }
            IFLA_MTU => state.mtu = ne_u32(payload, 0)?,
            IFLA_LINK => state.peer_ifindex = ne_u32(payload, 0)?,
            IFLA_LINK_NETNSID => state.peer_in_other_netns = true,
            IFLA_LINKINFO => {
                for (info_type, value) in attributes(payload) {
                    if info_type == IFLA_INFO_KIND {
                        let kind = value.split(|&b| b == 0).next().unwrap_or(&[]);
                        state.kind = String::from_utf8_lossy(kind).into_owned();
                    }
                }
            }
            IFLA_XDP => {
                for (xdp_type, value) in attributes(payload) {
                    match xdp_type {
                        IFLA_XDP_ATTACHED => state.xdp.attached = *value.first()?,
                        IFLA_XDP_PROG_ID => state.xdp.prog_id = ne_u32(value, 0)?,
                        IFLA_XDP_DRV_PROG_ID => state.xdp.drv_prog_id = ne_u32(value, 0)?,
                        IFLA_XDP_SKB_PROG_ID => state.xdp.skb_prog_id = ne_u32(value, 0)?,
                        IFLA_XDP_HW_PROG_ID => state.xdp.hw_prog_id = ne_u32(value, 0)?,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_xdp_attach_like_libbpf() {
        let message = encode_xdp_set(7, 17, 9, 2, None);
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            &[52, 0, 0, 0][..],   // nlmsg_len 52
            &[19, 0],             // RTM_SETLINK
            &[5, 0],              // NLM_F_REQUEST | NLM_F_ACK
            &[7, 0, 0, 0],        // seq
            &[0, 0, 0, 0],        // pid
            &[0, 0, 0, 0],        // ifi_family, pad, ifi_type
            &[17, 0, 0, 0],       // ifi_index
            &[0; 8],              // ifi_flags, ifi_change
            &[20, 0, 43, 0x80],   // IFLA_XDP | NLA_F_NESTED, 20 bytes
            &[8, 0, 1, 0],        //   IFLA_XDP_FD
            &[9, 0, 0, 0],        //   fd 9
            &[8, 0, 3, 0],        //   IFLA_XDP_FLAGS
            &[2, 0, 0, 0],        //   XDP_FLAGS_SKB_MODE
        ]
        .concat();
        assert_eq!(message, expected);
    }

    #[test]
    fn encodes_detach_with_expected_fd() {
        let message = encode_xdp_set(1, 3, -1, 16 | 2, Some(5));
        assert_eq!(message.len(), 60);
        assert_eq!(&message[32..36], &[28, 0, 43, 0x80]); // IFLA_XDP, nested, 28 bytes
        assert_eq!(&message[36..40], &[8, 0, 1, 0]);
        assert_eq!(&message[40..44], &(-1i32).to_ne_bytes());
        assert_eq!(&message[52..56], &[8, 0, 8, 0]); // IFLA_XDP_EXPECTED_FD
        assert_eq!(&message[56..60], &5i32.to_ne_bytes());
    }

    fn error_message(error: i32, flags: u16, text: &str) -> Vec<u8> {
        let mut payload = Vec::new();
        payload.extend_from_slice(&error.to_ne_bytes());
        // the capped request header: len 48, RTM_SETLINK
        payload.extend_from_slice(&48u32.to_ne_bytes());
        payload.extend_from_slice(&[19, 0, 5, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
        let mut msg = text.as_bytes().to_vec();
        msg.push(0);
        payload.extend_from_slice(&((4 + msg.len()) as u16).to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(&msg);
        payload.resize(align4(payload.len()), 0);
        let mut out = Vec::new();
        out.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        out.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&7u32.to_ne_bytes());
        out.extend_from_slice(&1234u32.to_ne_bytes());
        out.extend_from_slice(&payload);
        out
    }

    #[test]
    fn decodes_extended_ack_message() {
        let buf = error_message(
            -16,
            NLM_F_CAPPED | NLM_F_ACK_TLVS,
            "XDP program already attached",
        );
        let messages = split_messages(&buf).expect("well-formed");
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].msg_type, NLMSG_ERROR);
        assert_eq!(messages[0].seq, 7);
        assert_eq!(messages[0].pid, 1234);
        let reply = parse_error(&messages[0]).expect("error body");
        assert_eq!(reply.error, -16);
        assert_eq!(
            reply.extack_message.as_deref(),
            Some("XDP program already attached")
        );
    }

    #[test]
    fn plain_ack_has_no_message() {
        let buf = error_message(0, NLM_F_CAPPED, "ignored without ACK_TLVS");
        let messages = split_messages(&buf).expect("well-formed");
        let reply = parse_error(&messages[0]).expect("error body");
        assert_eq!(reply.error, 0);
        assert_eq!(reply.extack_message, None);
    }

    #[test]
    fn malformed_buffers_do_not_panic() {
        assert_eq!(split_messages(&[0xff; 16]), None);
        assert_eq!(split_messages(&[]), Some(vec![]));
        let buf = error_message(-1, NLM_F_ACK_TLVS, "x");
        for cut in 0..buf.len() {
            if let Some(messages) = split_messages(&buf[..cut]) {
                for message in &messages {
                    let _ = parse_error(message);
                    let _ = parse_link(message);
                }
            }
        }
    }

    #[test]
    fn decodes_xdp_state_from_newlink() {
        let mut payload = vec![0u8; IFINFOMSG_LEN];
        // IFLA_XDP nested: ATTACHED = 2 (skb), PROG_ID = 42, SKB_PROG_ID = 42
        let nested: Vec<u8> = [
            &[5u8, 0, 2, 0, 2, 0, 0, 0][..],
            &[8, 0, 4, 0, 42, 0, 0, 0],
            &[8, 0, 6, 0, 42, 0, 0, 0],
        ]
        .concat();
        payload.extend_from_slice(&((4 + nested.len()) as u16).to_ne_bytes());
        payload.extend_from_slice(&(IFLA_XDP | NLA_F_NESTED).to_ne_bytes());
        payload.extend_from_slice(&nested);
        let message = Message {
            msg_type: RTM_NEWLINK,
            flags: 0,
            seq: 1,
            pid: 0,
            payload: &payload,
        };
        let state = parse_link(&message).expect("parsed").xdp;
        assert_eq!(state.attached, 2);
        assert_eq!(state.prog_id, 42);
        assert_eq!(state.skb_prog_id, 42);
        assert_eq!(state.drv_prog_id, 0);
    }
}
