//! UDP datagrams (RFC 768).
//!
//! The length field bounds the datagram: bytes after it in the buffer are ignored. A checksum
//! field of `0x0000` means "no checksum" over IPv4, so a computed `0x0000` is sent as `0xffff`.

use std::net::Ipv4Addr;

use super::checksum;
use super::ipv4::protocol;
use super::{Error, clamped, clamped_mut, read_u16, write_u16};

/// Field offsets of the UDP header.
pub(crate) mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// A view of a UDP datagram in a buffer.
///
/// Once [`UdpPacket::new_checked`] has succeeded no accessor or setter panics, even after a
/// setter wrote an inconsistent length: `payload` is then clamped to the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buffer` without checking it; accessors panic if it is shorter than [`HEADER_LEN`].
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps `buffer` after validating the length field against it.
    ///
    /// # Errors
    ///
    /// - [`Error::Truncated`]: the buffer is shorter than 8 bytes or than the length field.
    /// - [`Error::Malformed`]: the length field is below 8.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates the length field against the buffer (what `new_checked` does).
    ///
    /// # Errors
    ///
    /// As [`UdpPacket::new_checked`].
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        let buffer_len = self.buffer.as_ref().len();
        if buffer_len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(self.len());
        if len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if len > buffer_len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Gives the buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length of the datagram in bytes, header included.
    #[inline]
    #[allow(clippy::len_without_is_empty)] // The RFC field; a datagram is never empty.
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Checksum; `0` when the sender computed none.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The datagram: bytes `0..len`.
    #[inline]
    fn datagram(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), 0, usize::from(self.len()))
    }

    /// Data: bytes `8..len`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), HEADER_LEN, usize::from(self.len()))
    }

    /// Sum of the pseudo-header (`src`, `dst`) and the datagram, folded.
    #[inline]
    fn folded_sum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let datagram = self.datagram();
        let pseudo = checksum::pseudo_header_v4_len(src, dst, protocol::UDP, datagram.len());
        checksum::fold(checksum::sum(datagram, pseudo))
    }

    /// Whether the checksum over the pseudo-header (`src`, `dst`) and the datagram is right;
    /// a datagram without checksum (`0`) verifies.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum() == 0 || self.folded_sum(src, dst) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT, value);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT, value);
    }

    /// Sets the length.
    #[inline]
    pub fn set_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, value);
    }

    /// Sets the checksum field as is (`0` for none).
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Data, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        clamped_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }

    /// Computes the checksum over the pseudo-header (`src`, `dst`) and the datagram and writes
    /// it; a computed `0x0000` is written as `0xffff`.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let value = !self.folded_sum(src, dst);
        self.set_checksum(if value == 0 { 0xffff } else { value });
    }

    /// Patches the checksum after a covered 16-bit word (a port) changed from `old` to `new`.
    /// An absent checksum stays absent; a result of `0x0000` is written as `0xffff`.
    #[inline]
    pub fn update_checksum_u16(&mut self, old: u16, new: u16) {
        let csum = self.checksum();
        if csum != 0 {
            self.set_checksum(nonzero(checksum::update_u16(csum, old, new)));
        }
    }

    /// Patches the checksum after a pseudo-header address changed from `old` to `new`, as
    /// [`UdpPacket::update_checksum_u16`] does.
    #[inline]
    pub fn update_checksum_addr(&mut self, old: Ipv4Addr, new: Ipv4Addr) {
        let csum = self.checksum();
        if csum != 0 {
            self.set_checksum(nonzero(checksum::update_addr(csum, old, new)));
        }
    }
}

/// The UDP spelling of a checksum: `0x0000` is "none", so a zero sum is sent as `0xffff`.
#[inline]
fn nonzero(csum: u16) -> u16 {
    if csum == 0 { 0xffff } else { csum }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for UdpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// 10.0.0.1:5353 -> 10.0.0.2:53 carrying "hello!".
    static DATAGRAM_BYTES: [u8; 14] =
        [0x14, 0xe9, 0x00, 0x35, 0x00, 0x0e, 0x92, 0xbe, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x21];

    #[test]
    fn parses_every_field() {
        let udp = UdpPacket::new_checked(&DATAGRAM_BYTES[..]).unwrap();
        assert_eq!(udp.src_port(), 5353);
        assert_eq!(udp.dst_port(), 53);
        assert_eq!(udp.len(), 14);
        assert_eq!(udp.checksum(), 0x92be);
        assert_eq!(udp.payload(), b"hello!");
        assert!(udp.verify_checksum(SRC, DST));
        assert!(!udp.verify_checksum(DST, DST));
    }

    #[test]
    fn emits_the_same_bytes() {
        let mut bytes = [0u8; 14];
        let mut udp = UdpPacket::new_unchecked(&mut bytes[..]);
        udp.set_src_port(5353);
        udp.set_dst_port(53);
        udp.set_len(14);
        udp.payload_mut().copy_from_slice(b"hello!");
        udp.fill_checksum(SRC, DST);
        assert_eq!(udp.into_inner(), &DATAGRAM_BYTES[..]);
    }

    #[test]
    fn refuses_bad_lengths() {
        for len in 0..DATAGRAM_BYTES.len() {
            assert_eq!(UdpPacket::new_checked(&DATAGRAM_BYTES[..len]), Err(Error::Truncated));
        }
        for field in 0..8u16 {
            let mut bytes = DATAGRAM_BYTES;
            bytes[4..6].copy_from_slice(&field.to_be_bytes());
            assert_eq!(UdpPacket::new_checked(&bytes[..]), Err(Error::Malformed));
        }
    }

    #[test]
    fn payload_stops_at_the_length_field() {
        let mut padded = [0u8; 20];
        padded[..14].copy_from_slice(&DATAGRAM_BYTES);
        let udp = UdpPacket::new_checked(&padded[..]).unwrap();
        assert_eq!(udp.payload(), b"hello!");
        assert!(udp.verify_checksum(SRC, DST));
    }

    #[test]
    fn zero_checksum_means_none() {
        let mut bytes = DATAGRAM_BYTES;
        let mut udp = UdpPacket::new_checked(&mut bytes[..]).unwrap();
        udp.set_checksum(0);
        assert!(udp.verify_checksum(SRC, Ipv4Addr::BROADCAST));
        udp.update_checksum_u16(5353, 1);
        assert_eq!(udp.checksum(), 0);
    }

    #[test]
    fn a_computed_zero_is_sent_as_ffff() {
        // Pick the last payload word so that the whole sum is 0xffff: the checksum computes to 0.
        let mut bytes = DATAGRAM_BYTES;
        bytes[6..8].copy_from_slice(&[0, 0]);
        bytes[12..14].copy_from_slice(&[0, 0]);
        let pseudo = checksum::pseudo_header_v4(SRC, DST, protocol::UDP, 14);
        let word = !checksum::fold(checksum::sum(&bytes, pseudo));
        bytes[12..14].copy_from_slice(&word.to_be_bytes());
        let mut udp = UdpPacket::new_checked(&mut bytes[..]).unwrap();
        udp.fill_checksum(SRC, DST);
        assert_eq!(udp.checksum(), 0xffff);
        assert!(udp.verify_checksum(SRC, DST));
    }

    #[test]
    fn incremental_updates_match_recompute_and_never_write_zero() {
        let mut bytes = DATAGRAM_BYTES;
        let mut udp = UdpPacket::new_checked(&mut bytes[..]).unwrap();
        let new_src = Ipv4Addr::new(192, 0, 2, 7);
        udp.update_checksum_addr(SRC, new_src);
        udp.update_checksum_u16(5353, 1024);
        udp.set_src_port(1024);
        assert!(udp.verify_checksum(new_src, DST));
        let updated = udp.checksum();
        udp.fill_checksum(new_src, DST);
        assert_eq!(udp.checksum(), updated);
        // A checksum update landing on zero writes 0xffff.
        assert_eq!(checksum::update_u16(0xfffe, 0x0000, 0xfffe), 0x0000);
        udp.set_checksum(0xfffe);
        udp.update_checksum_u16(0x0000, 0xfffe);
        assert_eq!(udp.checksum(), 0xffff);
    }

    #[test]
    fn setting_a_bad_length_does_not_make_accessors_panic() {
        let mut bytes = DATAGRAM_BYTES;
        let mut udp = UdpPacket::new_checked(&mut bytes[..]).unwrap();
        udp.set_len(0xffff);
        assert_eq!(udp.payload().len(), 6);
        udp.fill_checksum(SRC, DST);
        udp.set_len(3);
        assert!(udp.payload_mut().is_empty());
        let _ = udp.verify_checksum(SRC, DST);
    }
}
