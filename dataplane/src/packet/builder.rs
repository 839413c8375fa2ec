//! Builders of whole, valid Ethernet frames, for tests, fixtures and tools.
//!
//! Not for the hot path: every function allocates the frame it returns. Frames carry correct
//! IPv4, TCP, UDP and ICMP checksums, IPv4 ident 0 and Don't Fragment set unless the
//! [`FrameSpec`] says otherwise, and no Ethernet padding. To craft a broken packet, build a valid
//! one and then change its bytes (directly or through the views' setters).
//!
//! ```
//! use std::net::Ipv4Addr;
//! use dataplane::packet::{MacAddr, TcpFlags, builder::{FrameSpec, TcpSpec}};
//!
//! let spec = FrameSpec::new(
//!     (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2])),
//!     Ipv4Addr::new(10, 0, 0, 1),
//!     Ipv4Addr::new(10, 0, 0, 2),
//! );
//! let syn = spec.tcp(TcpSpec::new(40000, 80, TcpFlags::SYN).seq(1), b"");
//! assert_eq!(syn.len(), 14 + 20 + 20);
//! ```

use std::net::{Ipv4Addr, SocketAddrV4};

use super::arp::{self, ArpOperation, ArpPacket};
use super::ethernet::{self, EtherType, EthernetFrame, MacAddr};
use super::icmp::{self, Icmpv4Packet};
use super::ipv4::{self, Ipv4Packet, protocol};
use super::tcp::{self, TcpFlags, TcpPacket};
use super::udp::{self, UdpPacket};

/// The TTL of [`FrameSpec::new`].
pub const DEFAULT_TTL: u8 = 64;

/// Offset of the IPv4 header in a built frame.
const IP_AT: usize = ethernet::HEADER_LEN;
/// Offset of the transport header in a built frame.
const L4_AT: usize = IP_AT + ipv4::HEADER_LEN;

/// An Ethernet frame holding `payload`.
pub fn ethernet(src: MacAddr, dst: MacAddr, ethertype: EtherType, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0; ethernet::HEADER_LEN + payload.len()];
    let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
    frame.set_src_addr(src);
    frame.set_dst_addr(dst);
    frame.set_ethertype(ethertype);
    frame.payload_mut().copy_from_slice(payload);
    bytes
}

/// The Ethernet and IPv4 parts of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameSpec {
    /// Ethernet source address.
    pub eth_src: MacAddr,
    /// Ethernet destination address.
    pub eth_dst: MacAddr,
    /// IPv4 source address.
    pub src: Ipv4Addr,
    /// IPv4 destination address.
    pub dst: Ipv4Addr,
    /// IPv4 time to live.
    pub ttl: u8,
    /// IPv4 identification.
    pub ident: u16,
    /// IPv4 Don't Fragment flag.
    pub dont_frag: bool,
}

impl FrameSpec {
    /// Frames from `eth.0` to `eth.1` and from `src` to `dst`, with TTL 64, ident 0 and DF set.
    pub fn new(eth: (MacAddr, MacAddr), src: Ipv4Addr, dst: Ipv4Addr) -> Self {
        FrameSpec { eth_src: eth.0, eth_dst: eth.1, src, dst, ttl: DEFAULT_TTL, ident: 0, dont_frag: true }
    }

    /// The same spec with another TTL.
    #[must_use]
    pub fn with_ttl(self, ttl: u8) -> Self {
        FrameSpec { ttl, ..self }
    }

    /// An Ethernet/IPv4 frame carrying `l4` as is (its checksum, if any, is the caller's).
    ///
    /// # Panics
    ///
    /// When the IPv4 total length would exceed 65535 bytes.
    pub fn ipv4(&self, protocol: u8, l4: &[u8]) -> Vec<u8> {
        let mut bytes = self.frame(protocol, l4.len());
        bytes[L4_AT..].copy_from_slice(l4);
        bytes
    }

    /// A TCP segment; its checksum is filled.
    ///
    /// # Panics
    ///
    /// When the options are longer than 40 bytes or the datagram longer than 65535 bytes.
    pub fn tcp(&self, spec: TcpSpec<'_>, payload: &[u8]) -> Vec<u8> {
        let options_len = spec.options.len().next_multiple_of(4);
        assert!(options_len <= 40, "TCP options longer than 40 bytes");
        let header_len = tcp::HEADER_LEN + options_len;
        let mut bytes = self.frame(protocol::TCP, header_len + payload.len());
        let mut segment = TcpPacket::new_unchecked(&mut bytes[L4_AT..]);
        segment.set_src_port(spec.src_port);
        segment.set_dst_port(spec.dst_port);
        segment.set_seq_number(spec.seq);
        segment.set_ack_number(spec.ack);
        segment.set_header_len(u8::try_from(header_len).expect("at most 60"));
        segment.set_flags(spec.flags);
        segment.set_window_len(spec.window);
        segment.options_mut()[..spec.options.len()].copy_from_slice(spec.options);
        segment.payload_mut().copy_from_slice(payload);
        segment.fill_checksum(self.src, self.dst);
        bytes
    }

    /// A UDP datagram with its checksum filled.
    ///
    /// # Panics
    ///
    /// When the datagram would be longer than 65535 bytes.
    pub fn udp(&self, src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
        let mut bytes = self.udp_without_checksum(src_port, dst_port, payload);
        UdpPacket::new_unchecked(&mut bytes[L4_AT..]).fill_checksum(self.src, self.dst);
        bytes
    }

    /// A UDP datagram with checksum `0` ("none").
    ///
    /// # Panics
    ///
    /// When the datagram would be longer than 65535 bytes.
    pub fn udp_without_checksum(&self, src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
        let len = udp::HEADER_LEN + payload.len();
        let mut bytes = self.frame(protocol::UDP, len);
        let mut datagram = UdpPacket::new_unchecked(&mut bytes[L4_AT..]);
        datagram.set_src_port(src_port);
        datagram.set_dst_port(dst_port);
        datagram.set_len(u16::try_from(len).expect("UDP datagram longer than 65535 bytes"));
        datagram.set_checksum(0);
        datagram.payload_mut().copy_from_slice(payload);
        bytes
    }

    /// An ICMP message with its checksum filled; `data` follows the 8-byte header.
    ///
    /// # Panics
    ///
    /// When the datagram would be longer than 65535 bytes.
    pub fn icmp(&self, msg_type: u8, code: u8, rest_of_header: u32, data: &[u8]) -> Vec<u8> {
        let mut bytes = self.frame(protocol::ICMP, icmp::HEADER_LEN + data.len());
        let mut message = Icmpv4Packet::new_unchecked(&mut bytes[L4_AT..]);
        message.set_msg_type(msg_type);
        message.set_code(code);
        message.set_rest_of_header(rest_of_header);
        message.data_mut().copy_from_slice(data);
        message.fill_checksum();
        bytes
    }

    /// An ICMP echo request or reply (`msg_type`) with its checksum filled.
    ///
    /// # Panics
    ///
    /// When the datagram would be longer than 65535 bytes.
    pub fn icmp_echo(&self, msg_type: u8, ident: u16, seq_no: u16, data: &[u8]) -> Vec<u8> {
        let rest = (u32::from(ident) << 16) | u32::from(seq_no);
        self.icmp(msg_type, 0, rest, data)
    }

    /// A zeroed frame with Ethernet and IPv4 headers filled for an `l4_len`-byte payload.
    fn frame(&self, protocol: u8, l4_len: usize) -> Vec<u8> {
        let total_len = u16::try_from(ipv4::HEADER_LEN + l4_len).expect("IPv4 datagram longer than 65535 bytes");
        let mut bytes = vec![0; L4_AT + l4_len];
        let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
        frame.set_src_addr(self.eth_src);
        frame.set_dst_addr(self.eth_dst);
        frame.set_ethertype(EtherType::IPV4);
        let mut ip = Ipv4Packet::new_unchecked(&mut bytes[IP_AT..]);
        ip.set_version_and_header_len(4, 20);
        ip.set_total_len(total_len);
        ip.set_ident(self.ident);
        ip.set_dont_frag(self.dont_frag);
        ip.set_ttl(self.ttl);
        ip.set_protocol(protocol);
        ip.set_src_addr(self.src);
        ip.set_dst_addr(self.dst);
        ip.fill_checksum();
        bytes
    }
}

/// The TCP header fields of a built segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpSpec<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Control bits.
    pub flags: TcpFlags,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Receive window.
    pub window: u16,
    /// Raw options, zero-padded (with end-of-options) to a multiple of 4 bytes.
    pub options: &'a [u8],
}

impl<'a> TcpSpec<'a> {
    /// A header with sequence and acknowledgment numbers 0, window 65535 and no options.
    pub fn new(src_port: u16, dst_port: u16, flags: TcpFlags) -> Self {
        TcpSpec { src_port, dst_port, flags, seq: 0, ack: 0, window: u16::MAX, options: &[] }
    }

    /// The same header with sequence number `seq`.
    #[must_use]
    pub fn seq(self, seq: u32) -> Self {
        TcpSpec { seq, ..self }
    }

    /// The same header with acknowledgment number `ack`.
    #[must_use]
    pub fn ack(self, ack: u32) -> Self {
        TcpSpec { ack, ..self }
    }

    /// The same header with receive window `window`.
    #[must_use]
    pub fn window(self, window: u16) -> Self {
        TcpSpec { window, ..self }
    }

    /// The same header with raw `options`.
    #[must_use]
    pub fn options(self, options: &'a [u8]) -> Self {
        TcpSpec { options, ..self }
    }
}

/// A TCP segment from `src` to `dst` in an Ethernet frame from `eth.0` to `eth.1`.
///
/// # Panics
///
/// When the datagram would be longer than 65535 bytes.
// The arguments are the packet's own fields, and a flat call reads best in a test fixture.
#[allow(clippy::too_many_arguments)]
pub fn tcp_v4(
    eth: (MacAddr, MacAddr),
    src: SocketAddrV4,
    dst: SocketAddrV4,
    flags: TcpFlags,
    seq: u32,
    ack: u32,
    payload: &[u8],
    ttl: u8,
) -> Vec<u8> {
    let spec = TcpSpec::new(src.port(), dst.port(), flags).seq(seq).ack(ack);
    FrameSpec::new(eth, *src.ip(), *dst.ip()).with_ttl(ttl).tcp(spec, payload)
}

/// A UDP datagram from `src` to `dst` with its checksum filled.
///
/// # Panics
///
/// When the datagram would be longer than 65535 bytes.
pub fn udp_v4(eth: (MacAddr, MacAddr), src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8], ttl: u8) -> Vec<u8> {
    FrameSpec::new(eth, *src.ip(), *dst.ip()).with_ttl(ttl).udp(src.port(), dst.port(), payload)
}

/// An ICMP echo request or reply (`msg_type`) from `src` to `dst`.
///
/// # Panics
///
/// When the datagram would be longer than 65535 bytes.
// The arguments are the packet's own fields, and a flat call reads best in a test fixture.
#[allow(clippy::too_many_arguments)]
pub fn icmp_echo_v4(
    eth: (MacAddr, MacAddr),
    src: Ipv4Addr,
    dst: Ipv4Addr,
    msg_type: u8,
    ident: u16,
    seq_no: u16,
    payload: &[u8],
    ttl: u8,
) -> Vec<u8> {
    FrameSpec::new(eth, src, dst).with_ttl(ttl).icmp_echo(msg_type, ident, seq_no, payload)
}

/// An Ethernet/IPv4 ARP packet in an Ethernet frame from `eth.0` to `eth.1` (42 bytes, unpadded).
pub fn arp(
    eth: (MacAddr, MacAddr),
    operation: ArpOperation,
    sender: (MacAddr, Ipv4Addr),
    target: (MacAddr, Ipv4Addr),
) -> Vec<u8> {
    let mut body = [0u8; arp::PACKET_LEN];
    let mut packet = ArpPacket::new_unchecked(&mut body[..]);
    packet.set_ethernet_ipv4();
    packet.set_operation(operation);
    packet.set_sender_hw_addr(sender.0);
    packet.set_sender_proto_addr(sender.1);
    packet.set_target_hw_addr(target.0);
    packet.set_target_proto_addr(target.1);
    ethernet(eth.0, eth.1, EtherType::ARP, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::icmp::msg_type;

    const ETH: (MacAddr, MacAddr) = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));

    #[test]
    fn tcp_v4_builds_a_frame_the_views_accept() {
        let src = SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 10), 54321);
        let dst = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80);
        let bytes = tcp_v4(ETH, src, dst, TcpFlags::SYN | TcpFlags::ECE, 7, 0, b"hi", 63);
        let frame = EthernetFrame::new_checked(&bytes[..]).unwrap();
        assert_eq!((frame.src_addr(), frame.dst_addr()), ETH);
        assert_eq!(frame.ethertype(), EtherType::IPV4);
        let ip = Ipv4Packet::new_checked(frame.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!((ip.ident(), ip.dont_frag(), ip.ttl()), (0, true, 63));
        assert_eq!((ip.src_addr(), ip.dst_addr()), (*src.ip(), *dst.ip()));
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(tcp.verify_checksum(ip.src_addr(), ip.dst_addr()));
        assert_eq!((tcp.src_port(), tcp.dst_port(), tcp.seq_number()), (54321, 80, 7));
        assert_eq!(tcp.flags(), TcpFlags::SYN | TcpFlags::ECE);
        assert_eq!(tcp.payload(), b"hi");
    }

    #[test]
    fn tcp_options_are_padded_to_a_word() {
        let spec = FrameSpec::new(ETH, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
        let bytes = spec.tcp(TcpSpec::new(1, 2, TcpFlags::SYN).options(&[2, 4, 5, 0xb4, 1]), b"");
        let tcp = TcpPacket::new_checked(&bytes[L4_AT..]).unwrap();
        assert_eq!(tcp.header_len(), 28);
        assert_eq!(tcp.options(), &[2, 4, 5, 0xb4, 1, 0, 0, 0]);
        assert!(tcp.verify_checksum(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn udp_v4_fills_the_checksum_unless_asked_not_to() {
        let src = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 5353);
        let dst = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 53);
        let bytes = udp_v4(ETH, src, dst, b"hello!", 64);
        // The same datagram as `udp::tests::DATAGRAM_BYTES`.
        assert_eq!(&bytes[L4_AT..L4_AT + 8], &[0x14, 0xe9, 0x00, 0x35, 0x00, 0x0e, 0x92, 0xbe]);
        let spec = FrameSpec::new(ETH, *src.ip(), *dst.ip());
        let bare = spec.udp_without_checksum(5353, 53, b"hello!");
        assert_eq!(UdpPacket::new_checked(&bare[L4_AT..]).unwrap().checksum(), 0);
    }

    #[test]
    fn icmp_echo_v4_matches_the_hand_written_request() {
        let bytes = icmp_echo_v4(
            ETH,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            msg_type::ECHO_REQUEST,
            0x1234,
            1,
            b"abcdefgh",
            64,
        );
        let icmp = Icmpv4Packet::new_checked(&bytes[L4_AT..]).unwrap();
        assert_eq!(icmp.checksum(), 0x5435);
        assert!(icmp.verify_checksum());
    }

    #[test]
    fn arp_builds_a_request() {
        let sender = (ETH.0, Ipv4Addr::new(10, 0, 0, 1));
        let target = (MacAddr::ZERO, Ipv4Addr::new(10, 0, 0, 2));
        let bytes = arp((ETH.0, MacAddr::BROADCAST), ArpOperation::Request, sender, target);
        assert_eq!(bytes.len(), 42);
        let frame = EthernetFrame::new_checked(&bytes[..]).unwrap();
        assert_eq!(frame.ethertype(), EtherType::ARP);
        let packet = ArpPacket::new_checked(frame.payload()).unwrap();
        assert!(packet.is_ethernet_ipv4());
        assert_eq!(packet.operation(), ArpOperation::Request);
        assert_eq!((packet.sender_hw_addr(), packet.sender_proto_addr()), sender);
        assert_eq!((packet.target_hw_addr(), packet.target_proto_addr()), target);
    }

    #[test]
    fn ipv4_carries_raw_bytes_and_respects_the_spec() {
        let mut spec = FrameSpec::new(ETH, Ipv4Addr::new(1, 2, 3, 4), Ipv4Addr::new(5, 6, 7, 8));
        spec.ident = 0xbeef;
        spec.dont_frag = false;
        let bytes = spec.ipv4(protocol::IPIP, &[0xaa; 5]);
        let ip = Ipv4Packet::new_checked(&bytes[IP_AT..]).unwrap();
        assert_eq!((ip.ident(), ip.dont_frag(), ip.protocol()), (0xbeef, false, protocol::IPIP));
        assert_eq!(ip.payload(), &[0xaa; 5]);
        assert!(ip.verify_checksum());
        assert_eq!(ethernet(ETH.0, ETH.1, EtherType(0x1234), &[]).len(), 14);
    }
}
