//! ICMPv4 messages (RFC 792, RFC 1191 for "fragmentation needed").
//!
//! The view covers one message, the whole IPv4 payload: the checksum covers all of it. For error
//! messages, [`Icmpv4Packet::data`] is the quoted IPv4 header and the first 8 bytes of its data;
//! parse it with [`crate::packet::Ipv4Packet::new_checked_quoted`].

use super::checksum;
use super::{Error, clamped, clamped_mut, read_u16, read_u32, write_u16, write_u32};

/// Field offsets of the ICMPv4 header.
mod field {
    use core::ops::Range;

    pub const MSG_TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const REST_OF_HEADER: Range<usize> = 4..8;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQ_NO: Range<usize> = 6..8;
    pub const NEXT_HOP_MTU: Range<usize> = 6..8;
    pub const DATA: usize = 8;
}

/// Length of the ICMPv4 header: type, code, checksum and the 4-byte rest of header.
pub const HEADER_LEN: usize = field::DATA;

/// Message types (the `msg_type` field) that fnat handles.
pub mod msg_type {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable; see [`super::code`].
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded (TTL or reassembly).
    pub const TIME_EXCEEDED: u8 = 11;
}

/// Codes of [`msg_type::DEST_UNREACHABLE`].
pub mod code {
    /// Network unreachable.
    pub const NET_UNREACHABLE: u8 = 0;
    /// Host unreachable.
    pub const HOST_UNREACHABLE: u8 = 1;
    /// Protocol unreachable.
    pub const PROTO_UNREACHABLE: u8 = 2;
    /// Port unreachable.
    pub const PORT_UNREACHABLE: u8 = 3;
    /// Fragmentation needed and DF set; carries the next-hop MTU (RFC 1191).
    pub const FRAG_NEEDED: u8 = 4;
    /// Time exceeded: the TTL ran out in transit (with type `TIME_EXCEEDED`).
    pub const TTL_EXCEEDED: u8 = 0;
}

/// A view of an ICMPv4 message in a buffer that holds exactly the message.
///
/// Once [`Icmpv4Packet::new_checked`] has succeeded no accessor or setter panics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps `buffer` without checking it; accessors panic if it is shorter than [`HEADER_LEN`].
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }

    /// Wraps `buffer` after checking that it holds the 8-byte header.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when the buffer is shorter than [`HEADER_LEN`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    /// Gives the buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type; see [`msg_type`].
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::MSG_TYPE]
    }

    /// Code, whose meaning depends on the type; see [`code`].
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum over the whole message.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The 4 bytes after the checksum, whose meaning depends on the type.
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::REST_OF_HEADER)
    }

    /// Identifier of an echo request or reply.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Sequence number of an echo request or reply.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_SEQ_NO)
    }

    /// Next-hop MTU of a "fragmentation needed" message (RFC 1191); 0 from old routers.
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::NEXT_HOP_MTU)
    }

    /// Everything after the 8-byte header: echo data, or the quoted datagram of an error.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        clamped(data, field::DATA, data.len())
    }

    /// Whether the checksum over the whole message is right.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.buffer.as_ref(), 0)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Sets the message type.
    #[inline]
    pub fn set_msg_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::MSG_TYPE] = value;
    }

    /// Sets the code.
    #[inline]
    pub fn set_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    /// Sets the checksum.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the 4 bytes after the checksum.
    #[inline]
    pub fn set_rest_of_header(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::REST_OF_HEADER, value);
    }

    /// Sets the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_IDENT, value);
    }

    /// Sets the echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_SEQ_NO, value);
    }

    /// Sets the next-hop MTU of a "fragmentation needed" message.
    #[inline]
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::NEXT_HOP_MTU, value);
    }

    /// Everything after the header, mutably.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let data = self.buffer.as_mut();
        let len = data.len();
        clamped_mut(data, field::DATA, len)
    }

    /// Computes the checksum over the whole message and writes it.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let value = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(value);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Icmpv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Ipv4Packet;
    use std::net::Ipv4Addr;

    /// An echo request, ident 0x1234, sequence 1, data "abcdefgh".
    static ECHO_BYTES: [u8; 16] =
        [0x08, 0x00, 0x54, 0x35, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68];

    #[test]
    fn parses_an_echo_request() {
        let icmp = Icmpv4Packet::new_checked(&ECHO_BYTES[..]).unwrap();
        assert_eq!(icmp.msg_type(), msg_type::ECHO_REQUEST);
        assert_eq!(icmp.code(), 0);
        assert_eq!(icmp.checksum(), 0x5435);
        assert_eq!(icmp.rest_of_header(), 0x1234_0001);
        assert_eq!((icmp.echo_ident(), icmp.echo_seq_no()), (0x1234, 1));
        assert_eq!(icmp.data(), b"abcdefgh");
        assert!(icmp.verify_checksum());
    }

    #[test]
    fn emits_the_same_echo_request() {
        let mut bytes = [0xffu8; 16];
        let mut icmp = Icmpv4Packet::new_checked(&mut bytes[..]).unwrap();
        icmp.set_msg_type(msg_type::ECHO_REQUEST);
        icmp.set_code(0);
        icmp.set_echo_ident(0x1234);
        icmp.set_echo_seq_no(1);
        icmp.data_mut().copy_from_slice(b"abcdefgh");
        icmp.fill_checksum();
        assert_eq!(icmp.into_inner(), &ECHO_BYTES[..]);
    }

    #[test]
    fn refuses_a_buffer_shorter_than_8_bytes() {
        for len in 0..HEADER_LEN {
            assert_eq!(Icmpv4Packet::new_checked(&ECHO_BYTES[..len]), Err(Error::Truncated));
        }
        assert!(Icmpv4Packet::new_checked(&ECHO_BYTES[..8]).unwrap().data().is_empty());
    }

    #[test]
    fn an_echo_reply_is_the_request_with_type_0_and_a_patched_checksum() {
        let mut bytes = ECHO_BYTES;
        let mut icmp = Icmpv4Packet::new_checked(&mut bytes[..]).unwrap();
        icmp.set_msg_type(msg_type::ECHO_REPLY);
        icmp.set_checksum(checksum::update_u16(0x5435, 0x0800, 0x0000));
        assert!(icmp.verify_checksum());
    }

    #[test]
    fn frag_needed_carries_mtu_and_the_quoted_header() {
        // The quoted header claims 1500 bytes; only 20 + 8 were quoted.
        let mut quoted = [0u8; 28];
        let mut ip = Ipv4Packet::new_unchecked(&mut quoted[..]);
        ip.set_version_and_header_len(4, 20);
        ip.set_total_len(1500);
        ip.set_protocol(6);
        ip.set_src_addr(Ipv4Addr::new(10, 0, 0, 1));
        ip.set_dst_addr(Ipv4Addr::new(10, 0, 0, 2));
        let mut bytes = [0u8; 36];
        bytes[8..].copy_from_slice(&quoted);
        let mut icmp = Icmpv4Packet::new_checked(&mut bytes[..]).unwrap();
        icmp.set_msg_type(msg_type::DEST_UNREACHABLE);
        icmp.set_code(code::FRAG_NEEDED);
        icmp.set_next_hop_mtu(1400);
        icmp.fill_checksum();
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.next_hop_mtu(), 1400);
        assert_eq!(icmp.rest_of_header(), 1400);
        assert_eq!(Ipv4Packet::new_checked(icmp.data()), Err(Error::Truncated));
        let inner = Ipv4Packet::new_checked_quoted(icmp.data()).unwrap();
        assert_eq!(inner.dst_addr(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(inner.payload().len(), 8);
        icmp.set_rest_of_header(0);
        assert_eq!(icmp.next_hop_mtu(), 0);
    }
}
