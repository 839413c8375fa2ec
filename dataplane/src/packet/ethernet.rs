//! Ethernet II frames (IEEE 802.3 with an EtherType), MAC addresses and EtherTypes.
//!
//! The view covers the 14-byte header only: no preamble, no FCS (NICs strip it), and no VLAN tag
//! parsing. A tagged frame reports [`EtherType::VLAN`] or [`EtherType::QINQ`] and the tag is the
//! first 4 bytes of its payload.

use core::fmt;
use core::str::FromStr;

use super::Error;

/// Field offsets of the Ethernet II header.
pub(crate) mod field {
    use core::ops::Range;

    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: usize = 14;
}

/// Length of the Ethernet II header: destination, source and EtherType.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A 48-bit IEEE 802 MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The broadcast address, `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// The all-zeros address, `00:00:00:00:00:00` (the target hardware address of an ARP request).
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Copies an address from the first 6 bytes of `bytes`; `None` when there are fewer.
    #[inline]
    pub fn from_bytes(bytes: &[u8]) -> Option<MacAddr> {
        let octets: [u8; 6] = bytes.get(..6)?.try_into().ok()?;
        Some(MacAddr(octets))
    }

    /// The six octets, in transmission order.
    #[inline]
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// Whether this is `ff:ff:ff:ff:ff:ff`.
    #[inline]
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Whether the group bit (the low bit of the first octet) is set; broadcast is multicast too.
    #[inline]
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Whether this is an individual (unicast) address: the group bit is clear.
    #[inline]
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = Error;

    /// Parses six groups of two hex digits separated by `:` (or all by `-`): `aa:bb:cc:dd:ee:ff`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let separator = if s.contains('-') { '-' } else { ':' };
        let mut octets = [0u8; 6];
        let mut groups = s.split(separator);
        for octet in &mut octets {
            let group = groups.next().ok_or(Error::Malformed)?;
            if group.len() != 2 || !group.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::Malformed);
            }
            *octet = u8::from_str_radix(group, 16).map_err(|_| Error::Malformed)?;
        }
        match groups.next() {
            None => Ok(MacAddr(octets)),
            Some(_) => Err(Error::Malformed),
        }
    }
}

/// The EtherType of an Ethernet II frame: which protocol the payload holds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtherType(pub u16);

impl EtherType {
    /// Internet Protocol version 4.
    pub const IPV4: EtherType = EtherType(0x0800);
    /// Address Resolution Protocol.
    pub const ARP: EtherType = EtherType(0x0806);
    /// IEEE 802.1Q VLAN tag.
    pub const VLAN: EtherType = EtherType(0x8100);
    /// IEEE 802.1ad service VLAN tag (QinQ).
    pub const QINQ: EtherType = EtherType(0x88a8);
    /// Internet Protocol version 6.
    pub const IPV6: EtherType = EtherType(0x86dd);
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EtherType::IPV4 => f.write_str("IPv4"),
            EtherType::ARP => f.write_str("ARP"),
            EtherType::VLAN => f.write_str("802.1Q"),
            EtherType::QINQ => f.write_str("802.1ad"),
            EtherType::IPV6 => f.write_str("IPv6"),
            EtherType(other) => write!(f, "0x{other:04x}"),
        }
    }
}

impl fmt::Debug for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EtherType({self})")
    }
}

impl From<u16> for EtherType {
    fn from(value: u16) -> Self {
        EtherType(value)
    }
}

impl From<EtherType> for u16 {
    fn from(value: EtherType) -> Self {
        value.0
    }
}

/// A view of an Ethernet II frame in a buffer.
///
/// Once [`EthernetFrame::new_checked`] has succeeded no accessor or setter panics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer` without checking it; accessors panic if it is shorter than [`HEADER_LEN`].
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps `buffer` after checking that it holds a whole header.
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when the buffer is shorter than [`HEADER_LEN`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks that the buffer holds a whole header (what `new_checked` does).
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] when the buffer is shorter than [`HEADER_LEN`].
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Gives the buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC address.
    #[inline]
    pub fn dst_addr(&self) -> MacAddr {
        let b = &self.buffer.as_ref()[field::DESTINATION];
        MacAddr([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// Source MAC address.
    #[inline]
    pub fn src_addr(&self) -> MacAddr {
        let b = &self.buffer.as_ref()[field::SOURCE];
        MacAddr([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// EtherType of the payload.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType(super::read_u16(self.buffer.as_ref(), field::ETHERTYPE))
    }

    /// Everything after the header, including any padding up to the 60-byte minimum frame.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        super::clamped(data, field::PAYLOAD, data.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    /// Sets the source MAC address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    /// Sets the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        super::write_u16(self.buffer.as_mut(), field::ETHERTYPE, ethertype.0);
    }

    /// Everything after the header, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let data = self.buffer.as_mut();
        let len = data.len();
        super::clamped_mut(data, field::PAYLOAD, len)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for EthernetFrame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ARP request from 52:54:00:12:34:56 to broadcast; the payload is 4 bytes of it.
    static FRAME_BYTES: [u8; 18] =
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00];

    #[test]
    fn parses_addresses_ethertype_and_payload() {
        let frame = EthernetFrame::new_checked(&FRAME_BYTES[..]).unwrap();
        assert_eq!(frame.dst_addr(), MacAddr::BROADCAST);
        assert_eq!(frame.src_addr(), MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]));
        assert_eq!(frame.ethertype(), EtherType::ARP);
        assert_eq!(frame.payload(), &[0x00, 0x01, 0x08, 0x00]);
    }

    #[test]
    fn emits_the_same_bytes() {
        let mut bytes = [0u8; 18];
        let mut frame = EthernetFrame::new_checked(&mut bytes[..]).unwrap();
        frame.set_dst_addr(MacAddr::BROADCAST);
        frame.set_src_addr("52:54:00:12:34:56".parse().unwrap());
        frame.set_ethertype(EtherType::ARP);
        frame.payload_mut().copy_from_slice(&[0x00, 0x01, 0x08, 0x00]);
        assert_eq!(frame.into_inner(), &FRAME_BYTES[..]);
    }

    #[test]
    fn refuses_a_buffer_shorter_than_the_header() {
        for len in 0..HEADER_LEN {
            assert_eq!(EthernetFrame::new_checked(&FRAME_BYTES[..len]), Err(Error::Truncated), "len {len}");
        }
        let frame = EthernetFrame::new_checked(&FRAME_BYTES[..HEADER_LEN]).unwrap();
        assert!(frame.payload().is_empty());
    }

    #[test]
    fn mac_addr_displays_and_parses() {
        let mac = MacAddr([0xaa, 0xbb, 0xcc, 0x0d, 0x0e, 0xff]);
        assert_eq!(mac.to_string(), "aa:bb:cc:0d:0e:ff");
        assert_eq!(format!("{mac:?}"), "aa:bb:cc:0d:0e:ff");
        assert_eq!("aa:bb:cc:0d:0e:ff".parse::<MacAddr>(), Ok(mac));
        assert_eq!("AA-BB-CC-0D-0E-FF".parse::<MacAddr>(), Ok(mac));
        for bad in [
            "",
            "aa:bb:cc:dd:ee",
            "aa:bb:cc:dd:ee:ff:00",
            "aa:bb:cc:dd:ee:f",
            "aa:bb:cc:dd:ee:fff",
            "aa:bb:cc:dd:ee:gg",
            "aa:bb:cc:dd:ee:+f",
            "aa-bb:cc:dd:ee:ff",
        ] {
            assert_eq!(bad.parse::<MacAddr>(), Err(Error::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn mac_addr_classifies_unicast_multicast_broadcast() {
        assert!(MacAddr::BROADCAST.is_broadcast());
        assert!(MacAddr::BROADCAST.is_multicast());
        let multicast = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]);
        assert!(multicast.is_multicast() && !multicast.is_broadcast() && !multicast.is_unicast());
        let unicast = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        assert!(unicast.is_unicast() && !unicast.is_multicast());
        assert_eq!(MacAddr::from_bytes(&FRAME_BYTES[6..]), Some(unicast));
        assert_eq!(MacAddr::from_bytes(&FRAME_BYTES[..5]), None);
    }

    #[test]
    fn ethertype_names_the_known_protocols() {
        assert_eq!(EtherType::IPV4.to_string(), "IPv4");
        assert_eq!(EtherType(0x88cc).to_string(), "0x88cc");
        assert_eq!(u16::from(EtherType::QINQ), 0x88a8);
        assert_eq!(EtherType::from(0x86dd), EtherType::IPV6);
        assert_eq!(EtherType::VLAN, EtherType(0x8100));
    }
}
