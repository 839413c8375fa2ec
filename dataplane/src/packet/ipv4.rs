//! IPv4 packets (RFC 791).
//!
//! [`Ipv4Packet::new_checked`] validates version, header length and total length against the
//! buffer, so `payload()` is exactly the datagram's data: Ethernet padding after `total_len` is
//! excluded. Fragments are not reassembled; [`Ipv4Packet::is_fragment`] tells the caller.

use std::net::Ipv4Addr;

use super::checksum;
use super::{Error, clamped, clamped_mut, read_u16, write_u16};

/// Field offsets of the IPv4 header.
pub(crate) mod field {
    use core::ops::Range;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const TOTAL_LEN: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLAGS_FRAG_OFFSET: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// IP protocol numbers (the `protocol` field) that fnat looks at.
pub mod protocol {
    /// Internet Control Message Protocol.
    pub const ICMP: u8 = 1;
    /// IPv4 in IPv4 encapsulation (tunnel forwarding).
    pub const IPIP: u8 = 4;
    /// Transmission Control Protocol.
    pub const TCP: u8 = 6;
    /// User Datagram Protocol.
    pub const UDP: u8 = 17;
}

/// The Don't Fragment flag in the flags/fragment-offset word.
const DONT_FRAG: u16 = 0x4000;
/// The More Fragments flag in the flags/fragment-offset word.
const MORE_FRAGS: u16 = 0x2000;
/// The fragment offset (in 8-byte units) in the flags/fragment-offset word.
const FRAG_OFFSET: u16 = 0x1fff;

/// A view of an IPv4 packet in a buffer.
///
/// Once [`Ipv4Packet::new_checked`] (or `new_checked_quoted`) has succeeded no accessor or setter panics, even after a
/// setter wrote an inconsistent length: `options` and `payload` are then clamped to the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` without checking it; accessors panic if it is shorter than [`HEADER_LEN`].
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps `buffer` after validating the header against it.
    ///
    /// # Errors
    ///
    /// - [`Error::Truncated`]: the buffer is shorter than 20 bytes, than the header length, or than
    ///   the total length.
    /// - [`Error::Malformed`]: the version is not 4, the IHL is below 5, or the total length is
    ///   shorter than the header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Wraps the IPv4 header quoted in an ICMP error, whose total length counts bytes that were
    /// not quoted: checks version and header length but not the total length. `payload` is
    /// then the quoted part of the data (clamped to the buffer), usually 8 bytes.
    ///
    /// # Errors
    ///
    /// As [`Ipv4Packet::new_checked`], less the two total-length checks.
    #[inline]
    pub fn new_checked_quoted(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_header_len()?;
        Ok(packet)
    }

    /// Checks version and header length against the buffer.
    #[inline]
    fn check_header_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::Malformed);
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if header_len > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Validates the header against the buffer (what `new_checked` does).
    ///
    /// # Errors
    ///
    /// As [`Ipv4Packet::new_checked`].
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        self.check_header_len()?;
        let len = self.buffer.as_ref().len();
        let header_len = usize::from(self.header_len());
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(Error::Malformed);
        }
        if total_len > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Gives the buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version; 4.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL times 4): 20 to 60.
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The former type-of-service byte: DSCP (6 bits) and ECN (2 bits).
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// Differentiated services code point (RFC 2474).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.dscp_ecn() >> 2
    }

    /// Explicit congestion notification (RFC 3168).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.dscp_ecn() & 0x03
    }

    /// Total length of the datagram in bytes, header included.
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::TOTAL_LEN)
    }

    /// Identification, for reassembly.
    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }

    #[inline]
    fn flags_frag_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLAGS_FRAG_OFFSET)
    }

    /// Don't Fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag_offset() & DONT_FRAG != 0
    }

    /// More Fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_frag_offset() & MORE_FRAGS != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag_offset() & FRAG_OFFSET) << 3
    }

    /// Whether this is a fragment: More Fragments is set or the fragment offset is not zero.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag_offset() & (MORE_FRAGS | FRAG_OFFSET) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload; see [`protocol`].
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Header checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// The whole header, options included (bytes `0..header_len`).
    #[inline]
    pub fn header(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), 0, usize::from(self.header_len()))
    }

    /// Options: bytes `20..header_len`, empty for a plain header.
    #[inline]
    pub fn options(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), HEADER_LEN, usize::from(self.header_len()))
    }

    /// Data: bytes `header_len..total_len`, so any link-layer padding is left out.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        clamped(data, usize::from(self.header_len()), usize::from(self.total_len()))
    }

    /// Whether the header checksum is right.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.header(), 0)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets version and header length (in bytes, a multiple of 4 from 20 to 60).
    #[inline]
    pub fn set_version_and_header_len(&mut self, version: u8, header_len: u8) {
        self.buffer.as_mut()[field::VER_IHL] = (version << 4) | ((header_len >> 2) & 0x0f);
    }

    /// Sets the header length in bytes (a multiple of 4 from 20 to 60), keeping the version.
    #[inline]
    pub fn set_header_len(&mut self, header_len: u8) {
        let version = self.version();
        self.set_version_and_header_len(version, header_len);
    }

    /// Sets the DSCP/ECN byte.
    #[inline]
    pub fn set_dscp_ecn(&mut self, value: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = value;
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::TOTAL_LEN, value);
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT, value);
    }

    #[inline]
    fn set_flags_frag_offset(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::FLAGS_FRAG_OFFSET, value);
    }

    /// Sets the Don't Fragment flag, keeping the rest of the word.
    #[inline]
    pub fn set_dont_frag(&mut self, value: bool) {
        let word = self.flags_frag_offset() & !DONT_FRAG;
        self.set_flags_frag_offset(word | if value { DONT_FRAG } else { 0 });
    }

    /// Sets the More Fragments flag, keeping the rest of the word.
    #[inline]
    pub fn set_more_frags(&mut self, value: bool) {
        let word = self.flags_frag_offset() & !MORE_FRAGS;
        self.set_flags_frag_offset(word | if value { MORE_FRAGS } else { 0 });
    }

    /// Sets the fragment offset in bytes (rounded down to a multiple of 8), keeping the flags.
    #[inline]
    pub fn set_frag_offset(&mut self, offset: u16) {
        let word = self.flags_frag_offset() & !FRAG_OFFSET;
        self.set_flags_frag_offset(word | (offset >> 3));
    }

    /// Clears both flags and the fragment offset (reserved bit included).
    #[inline]
    pub fn clear_flags(&mut self) {
        self.set_flags_frag_offset(0);
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, value: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = value;
    }

    /// Sets the header checksum.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }

    /// Options, mutably.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.header_len());
        clamped_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }

    /// Data, mutably: bytes `header_len..total_len`.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (usize::from(self.header_len()), usize::from(self.total_len()));
        clamped_mut(self.buffer.as_mut(), start, end)
    }

    /// Computes the header checksum and writes it.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let value = checksum::checksum(self.header());
        self.set_checksum(value);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP SYN with options, 192.168.1.10:54321 -> 10.0.0.1:80, DF, TTL 64, ident 0x1c46.
    static SYN_BYTES: [u8; 60] = [
        0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x52, 0xc3, 0xc0, 0xa8, 0x01, 0x0a, 0x0a, 0x00,
        0x00, 0x01, 0xd4, 0x31, 0x00, 0x50, 0x0a, 0x0b, 0x0c, 0x0d, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0,
        0x96, 0xc1, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    #[test]
    fn parses_every_field_of_a_syn() {
        let ip = Ipv4Packet::new_checked(&SYN_BYTES[..]).unwrap();
        assert_eq!(ip.version(), 4);
        assert_eq!(ip.header_len(), 20);
        assert_eq!((ip.dscp_ecn(), ip.dscp(), ip.ecn()), (0, 0, 0));
        assert_eq!(ip.total_len(), 60);
        assert_eq!(ip.ident(), 0x1c46);
        assert!(ip.dont_frag() && !ip.more_frags() && !ip.is_fragment());
        assert_eq!(ip.frag_offset(), 0);
        assert_eq!(ip.ttl(), 64);
        assert_eq!(ip.protocol(), protocol::TCP);
        assert_eq!(ip.checksum(), 0x52c3);
        assert_eq!(ip.src_addr(), Ipv4Addr::new(192, 168, 1, 10));
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert!(ip.options().is_empty());
        assert_eq!(ip.payload(), &SYN_BYTES[20..]);
        assert!(ip.verify_checksum());
    }

    #[test]
    fn emits_the_same_header() {
        let mut bytes = [0u8; 60];
        bytes[20..].copy_from_slice(&SYN_BYTES[20..]);
        let mut ip = Ipv4Packet::new_unchecked(&mut bytes[..]);
        ip.set_version_and_header_len(4, 20);
        ip.set_dscp_ecn(0);
        ip.set_total_len(60);
        ip.set_ident(0x1c46);
        ip.set_dont_frag(true);
        ip.set_ttl(64);
        ip.set_protocol(protocol::TCP);
        ip.set_src_addr(Ipv4Addr::new(192, 168, 1, 10));
        ip.set_dst_addr(Ipv4Addr::new(10, 0, 0, 1));
        ip.fill_checksum();
        assert_eq!(ip.into_inner(), &SYN_BYTES[..]);
    }

    #[test]
    fn refuses_a_buffer_truncated_at_any_point() {
        for len in 0..SYN_BYTES.len() {
            assert_eq!(Ipv4Packet::new_checked(&SYN_BYTES[..len]), Err(Error::Truncated), "len {len}");
        }
    }

    #[test]
    fn refuses_a_version_other_than_4() {
        for version in [0, 6, 15] {
            let mut bytes = SYN_BYTES;
            bytes[0] = (version << 4) | 5;
            assert_eq!(Ipv4Packet::new_checked(&bytes[..]), Err(Error::Malformed));
        }
    }

    #[test]
    fn refuses_an_ihl_below_5() {
        for ihl in 0..5 {
            let mut bytes = SYN_BYTES;
            bytes[0] = 0x40 | ihl;
            assert_eq!(Ipv4Packet::new_checked(&bytes[..]), Err(Error::Malformed), "ihl {ihl}");
        }
    }

    #[test]
    fn refuses_a_header_longer_than_the_buffer() {
        let mut bytes = SYN_BYTES;
        bytes[0] = 0x4f; // 60-byte header, exactly the buffer: but total_len 60 is fine.
        assert!(Ipv4Packet::new_checked(&bytes[..]).is_ok());
        assert_eq!(Ipv4Packet::new_checked(&bytes[..59]), Err(Error::Truncated));
    }

    #[test]
    fn refuses_a_total_len_shorter_than_the_header() {
        let mut bytes = SYN_BYTES;
        bytes[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(Ipv4Packet::new_checked(&bytes[..]), Err(Error::Malformed));
        bytes[0] = 0x46;
        bytes[2..4].copy_from_slice(&23u16.to_be_bytes());
        assert_eq!(Ipv4Packet::new_checked(&bytes[..]), Err(Error::Malformed));
    }

    #[test]
    fn refuses_a_total_len_longer_than_the_buffer() {
        let mut bytes = SYN_BYTES;
        bytes[2..4].copy_from_slice(&61u16.to_be_bytes());
        assert_eq!(Ipv4Packet::new_checked(&bytes[..]), Err(Error::Truncated));
    }

    #[test]
    fn payload_excludes_ethernet_padding() {
        let mut padded = [0u8; 64];
        padded[..60].copy_from_slice(&SYN_BYTES);
        padded[..4].copy_from_slice(&[0x45, 0x00, 0x00, 0x28]);
        let ip = Ipv4Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(ip.payload(), &SYN_BYTES[20..40]);
    }

    #[test]
    fn options_are_the_bytes_after_20() {
        let mut bytes = SYN_BYTES;
        bytes[0] = 0x46;
        let ip = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(ip.header_len(), 24);
        assert_eq!(ip.options(), &SYN_BYTES[20..24]);
        assert_eq!(ip.payload(), &SYN_BYTES[24..]);
    }

    #[test]
    fn fragment_fields_round_trip() {
        let mut bytes = SYN_BYTES;
        let mut ip = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        ip.set_more_frags(true);
        assert!(ip.is_fragment() && ip.more_frags() && ip.dont_frag());
        ip.set_more_frags(false);
        ip.set_dont_frag(false);
        ip.set_frag_offset(1480);
        assert_eq!(ip.frag_offset(), 1480);
        assert!(ip.is_fragment() && !ip.more_frags() && !ip.dont_frag());
        ip.set_frag_offset(0xffff);
        assert_eq!(ip.frag_offset(), 0xfff8);
        ip.clear_flags();
        assert!(!ip.is_fragment() && !ip.dont_frag());
    }

    #[test]
    fn a_corrupted_header_fails_verification() {
        let mut bytes = SYN_BYTES;
        bytes[8] = 63;
        let mut ip = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        assert!(!ip.verify_checksum());
        ip.fill_checksum();
        assert!(ip.verify_checksum());
        assert_eq!(ip.checksum(), checksum::update_u16(0x52c3, 0x4006, 0x3f06));
    }

    #[test]
    fn setters_that_break_lengths_do_not_make_accessors_panic() {
        let mut bytes = SYN_BYTES;
        let mut ip = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        ip.set_total_len(0xffff);
        assert_eq!(ip.payload().len(), 40);
        ip.set_header_len(4);
        assert!(ip.options().is_empty());
        assert_eq!(ip.header().len(), 4);
        ip.set_total_len(2);
        assert!(ip.payload().is_empty() && ip.payload_mut().is_empty());
        ip.fill_checksum();
        ip.set_header_len(60);
        ip.set_total_len(60);
        assert_eq!(ip.options_mut().len(), 40);
        assert!(ip.payload().is_empty());
    }
}
