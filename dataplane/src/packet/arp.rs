//! ARP packets (RFC 826) for IPv4 over Ethernet, the only kind a load balancer answers.
//!
//! The view reads the fixed 28-byte Ethernet/IPv4 layout. `new_checked` only checks the length;
//! whether the packet really is Ethernet/IPv4 ARP is [`ArpPacket::is_ethernet_ipv4`], which a
//! caller checks before trusting the address accessors.

use std::net::Ipv4Addr;

use super::ethernet::{EtherType, MacAddr};
use super::{Error, read_u16, write_u16};

/// Field offsets of an Ethernet/IPv4 ARP packet.
mod field {
    use core::ops::Range;

    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::TPA.end;

/// The hardware type of Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;

/// The ARP operation (opcode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// 1: who has the target protocol address?
    Request,
    /// 2: the sender has the sender protocol address.
    Reply,
    /// Any other opcode (RARP, InARP, ...).
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    #[inline]
    fn from(value: u16) -> Self {
        match value {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => ArpOperation::Unknown(other),
        }
    }
}

impl From<ArpOperation> for u16 {
    #[inline]
    fn from(value: ArpOperation) -> Self {
        match value {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(other) => other,
        }
    }
}

fn mac_at(data: &[u8], range: core::ops::Range<usize>) -> MacAddr {
    let b = &data[range];
    MacAddr([b[0], b[1], b[2], b[3], b[4], b[5]])
}

fn ipv4_at(data: &[u8], range: core::ops::Range<usize>) -> Ipv4Addr {
    let b = &data[range];
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// A view of an ARP packet in a buffer (the payload of an Ethernet frame).
///
/// Once [`ArpPacket::new_checked`] has succeeded no accessor or setter panics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps `buffer` without checking it; accessors panic if it is shorter than [`PACKET_LEN`].
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps `buffer` after checking that it holds a whole Ethernet/IPv4 ARP packet.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when the buffer is shorter than [`PACKET_LEN`] (28 bytes).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        if buffer.as_ref().len() < PACKET_LEN {
            return Err(Error::Truncated);
        }
        Ok(Self::new_unchecked(buffer))
    }

    /// Gives the buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware type (HTYPE); 1 for Ethernet.
    #[inline]
    pub fn hardware_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::HTYPE)
    }

    /// Protocol type (PTYPE), an EtherType; IPv4 for us.
    #[inline]
    pub fn protocol_type(&self) -> EtherType {
        EtherType(read_u16(self.buffer.as_ref(), field::PTYPE))
    }

    /// Hardware address length (HLEN); 6 for Ethernet.
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length (PLEN); 4 for IPv4.
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Whether this is ARP for IPv4 over Ethernet: HTYPE 1, PTYPE 0x0800, HLEN 6, PLEN 4.
    #[inline]
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.hardware_type() == HTYPE_ETHERNET
            && self.protocol_type() == EtherType::IPV4
            && self.hardware_len() == 6
            && self.protocol_len() == 4
    }

    /// Operation (OPER).
    #[inline]
    pub fn operation(&self) -> ArpOperation {
        ArpOperation::from(read_u16(self.buffer.as_ref(), field::OPER))
    }

    /// Sender hardware address (SHA).
    #[inline]
    pub fn sender_hw_addr(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), field::SHA)
    }

    /// Sender protocol address (SPA).
    #[inline]
    pub fn sender_proto_addr(&self) -> Ipv4Addr {
        ipv4_at(self.buffer.as_ref(), field::SPA)
    }

    /// Target hardware address (THA); zero in a request.
    #[inline]
    pub fn target_hw_addr(&self) -> MacAddr {
        mac_at(self.buffer.as_ref(), field::THA)
    }

    /// Target protocol address (TPA): the address being asked about.
    #[inline]
    pub fn target_proto_addr(&self) -> Ipv4Addr {
        ipv4_at(self.buffer.as_ref(), field::TPA)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets the hardware type (HTYPE).
    #[inline]
    pub fn set_hardware_type(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::HTYPE, value);
    }

    /// Sets the protocol type (PTYPE).
    #[inline]
    pub fn set_protocol_type(&mut self, value: EtherType) {
        write_u16(self.buffer.as_mut(), field::PTYPE, value.0);
    }

    /// Sets the hardware address length (HLEN).
    #[inline]
    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value;
    }

    /// Sets the protocol address length (PLEN).
    #[inline]
    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value;
    }

    /// Sets HTYPE, PTYPE, HLEN and PLEN for IPv4 over Ethernet.
    #[inline]
    pub fn set_ethernet_ipv4(&mut self) {
        self.set_hardware_type(HTYPE_ETHERNET);
        self.set_protocol_type(EtherType::IPV4);
        self.set_hardware_len(6);
        self.set_protocol_len(4);
    }

    /// Sets the operation (OPER).
    #[inline]
    pub fn set_operation(&mut self, value: ArpOperation) {
        write_u16(self.buffer.as_mut(), field::OPER, value.into());
    }

    /// Sets the sender hardware address (SHA).
    #[inline]
    pub fn set_sender_hw_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&addr.0);
    }

    /// Sets the sender protocol address (SPA).
    #[inline]
    pub fn set_sender_proto_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&addr.octets());
    }

    /// Sets the target hardware address (THA).
    #[inline]
    pub fn set_target_hw_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&addr.0);
    }

    /// Sets the target protocol address (TPA).
    #[inline]
    pub fn set_target_proto_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&addr.octets());
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for ArpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "Who has 10.0.0.2? Tell 10.0.0.1", from 52:54:00:12:34:56.
    static REQUEST_BYTES: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x0a, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x02,
    ];

    const SENDER_MAC: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

    #[test]
    fn parses_a_request() {
        let arp = ArpPacket::new_checked(&REQUEST_BYTES[..]).unwrap();
        assert!(arp.is_ethernet_ipv4());
        assert_eq!(arp.hardware_type(), 1);
        assert_eq!(arp.protocol_type(), EtherType::IPV4);
        assert_eq!((arp.hardware_len(), arp.protocol_len()), (6, 4));
        assert_eq!(arp.operation(), ArpOperation::Request);
        assert_eq!(arp.sender_hw_addr(), SENDER_MAC);
        assert_eq!(arp.sender_proto_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(arp.target_hw_addr(), MacAddr::ZERO);
        assert_eq!(arp.target_proto_addr(), Ipv4Addr::new(10, 0, 0, 2));
    }

    #[test]
    fn emits_the_same_request() {
        let mut bytes = [0xa5u8; 28];
        let mut arp = ArpPacket::new_checked(&mut bytes[..]).unwrap();
        arp.set_ethernet_ipv4();
        arp.set_operation(ArpOperation::Request);
        arp.set_sender_hw_addr(SENDER_MAC);
        arp.set_sender_proto_addr(Ipv4Addr::new(10, 0, 0, 1));
        arp.set_target_hw_addr(MacAddr::ZERO);
        arp.set_target_proto_addr(Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(arp.into_inner(), &REQUEST_BYTES[..]);
    }

    #[test]
    fn refuses_a_buffer_shorter_than_28_bytes() {
        for len in 0..PACKET_LEN {
            assert_eq!(ArpPacket::new_checked(&REQUEST_BYTES[..len]), Err(Error::Truncated));
        }
    }

    #[test]
    fn tells_other_hardware_and_protocols_apart() {
        for (at, value) in [(1, 6), (2, 0x86), (4, 8), (5, 16)] {
            let mut bytes = REQUEST_BYTES;
            bytes[at] = value;
            assert!(!ArpPacket::new_checked(&bytes[..]).unwrap().is_ethernet_ipv4(), "{at}");
        }
    }

    #[test]
    fn operation_round_trips_unknown_opcodes() {
        let mut bytes = REQUEST_BYTES;
        let mut arp = ArpPacket::new_checked(&mut bytes[..]).unwrap();
        for op in [ArpOperation::Reply, ArpOperation::Unknown(3), ArpOperation::Request] {
            arp.set_operation(op);
            assert_eq!(arp.operation(), op);
        }
        assert_eq!(ArpOperation::from(2), ArpOperation::Reply);
        assert_eq!(u16::from(ArpOperation::Unknown(9)), 9);
    }
}
