//! TCP segments (RFC 9293) and their flags.
//!
//! A [`TcpPacket`] covers exactly one segment, header and data: the caller hands it the IPv4
//! payload, whose length is the segment length used in the checksum's pseudo-header.

use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign};
use std::net::Ipv4Addr;

use super::checksum;
use super::ipv4::protocol;
use super::{Error, clamped, clamped_mut, read_u16, read_u32, write_u16, write_u32};

/// Field offsets of the TCP header.
pub(crate) mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUMBER: Range<usize> = 4..8;
    pub const ACK_NUMBER: Range<usize> = 8..12;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW_LEN: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT_AT: Range<usize> = 18..20;
}

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = field::URGENT_AT.end;

/// The eight TCP control bits (the flags byte), as a small copyable set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u8);

impl TcpFlags {
    /// No more data from the sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// The acknowledgment number is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// The urgent pointer is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN echo (RFC 3168).
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion window reduced (RFC 3168).
    pub const CWR: TcpFlags = TcpFlags(0x80);

    const NAMES: [(TcpFlags, &'static str); 8] = [
        (Self::FIN, "FIN"),
        (Self::SYN, "SYN"),
        (Self::RST, "RST"),
        (Self::PSH, "PSH"),
        (Self::ACK, "ACK"),
        (Self::URG, "URG"),
        (Self::ECE, "ECE"),
        (Self::CWR, "CWR"),
    ];

    /// No flag set.
    #[inline]
    pub const fn empty() -> TcpFlags {
        TcpFlags(0)
    }

    /// The flags of a raw flags byte.
    #[inline]
    pub const fn from_bits(bits: u8) -> TcpFlags {
        TcpFlags(bits)
    }

    /// The raw flags byte.
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `other` is set here.
    #[inline]
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set here.
    #[inline]
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no flag is set.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Sets the flags of `other`.
    #[inline]
    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }

    /// Clears the flags of `other`.
    #[inline]
    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;

    #[inline]
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    #[inline]
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;

    #[inline]
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl fmt::Display for TcpFlags {
    /// The set flags joined by `|`, as in `SYN|ACK`; `-` when none is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        let mut first = true;
        for (flag, name) in Self::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TcpFlags({self})")
    }
}

/// A view of a TCP segment in a buffer that holds exactly the segment.
///
/// Once [`TcpPacket::new_checked`] has succeeded no accessor or setter panics, even after a
/// setter wrote an inconsistent data offset: `options` and `payload` are then clamped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buffer` without checking it; accessors panic if it is shorter than [`HEADER_LEN`].
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps `buffer` after validating the header against it.
    ///
    /// # Errors
    ///
    /// - [`Error::Truncated`]: the buffer is shorter than 20 bytes or than the header length.
    /// - [`Error::Malformed`]: the data offset is below 5.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates the header against the buffer (what `new_checked` does).
    ///
    /// # Errors
    ///
    /// As [`TcpPacket::new_checked`].
    #[inline]
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
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

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ_NUMBER)
    }

    /// Acknowledgment number (significant when ACK is set).
    #[inline]
    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ACK_NUMBER)
    }

    /// Header length in bytes (the data offset times 4): 20 to 60.
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::DATA_OFFSET] >> 4) * 4
    }

    /// Control bits.
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[field::FLAGS])
    }

    /// Receive window.
    #[inline]
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WINDOW_LEN)
    }

    /// Checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Urgent pointer (significant when URG is set).
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT_AT)
    }

    /// Options: bytes `20..header_len`.
    #[inline]
    pub fn options(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), HEADER_LEN, usize::from(self.header_len()))
    }

    /// Data: everything after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        clamped(data, usize::from(self.header_len()), data.len())
    }

    /// Whether the checksum over the pseudo-header (`src`, `dst`) and the whole buffer is right.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let data = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_v4_len(src, dst, protocol::TCP, data.len());
        checksum::fold(checksum::sum(data, pseudo)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::SEQ_NUMBER, value);
    }

    /// Sets the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::ACK_NUMBER, value);
    }

    /// Sets the header length in bytes (a multiple of 4 from 20 to 60), keeping the reserved bits.
    #[inline]
    pub fn set_header_len(&mut self, header_len: u8) {
        let byte = &mut self.buffer.as_mut()[field::DATA_OFFSET];
        *byte = (*byte & 0x0f) | ((header_len >> 2) << 4);
    }

    /// Sets the control bits.
    #[inline]
    pub fn set_flags(&mut self, flags: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = flags.0;
    }

    /// Sets the receive window.
    #[inline]
    pub fn set_window_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::WINDOW_LEN, value);
    }

    /// Sets the checksum.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT_AT, value);
    }

    /// Options, mutably.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.header_len());
        clamped_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }

    /// Data, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = usize::from(self.header_len());
        let data = self.buffer.as_mut();
        let len = data.len();
        clamped_mut(data, start, len)
    }

    /// Computes the checksum over the pseudo-header (`src`, `dst`) and the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_v4_len(src, dst, protocol::TCP, data.len());
        let value = !checksum::fold(checksum::sum(data, pseudo));
        self.set_checksum(value);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for TcpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    /// A SYN 192.168.1.10:54321 -> 10.0.0.1:80, seq 0x0a0b0c0d, window 64240, with MSS 1460,
    /// SACK-permitted, timestamps (1, 0), NOP and window scale 7.
    static SYN_BYTES: [u8; 40] = [
        0xd4, 0x31, 0x00, 0x50, 0x0a, 0x0b, 0x0c, 0x0d, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x96, 0xc1,
        0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x03, 0x03, 0x07,
    ];

    #[test]
    fn parses_every_field_of_a_syn() {
        let tcp = TcpPacket::new_checked(&SYN_BYTES[..]).unwrap();
        assert_eq!(tcp.src_port(), 54321);
        assert_eq!(tcp.dst_port(), 80);
        assert_eq!(tcp.seq_number(), 0x0a0b_0c0d);
        assert_eq!(tcp.ack_number(), 0);
        assert_eq!(tcp.header_len(), 40);
        assert_eq!(tcp.flags(), TcpFlags::SYN);
        assert_eq!(tcp.window_len(), 64240);
        assert_eq!(tcp.checksum(), 0x96c1);
        assert_eq!(tcp.urgent_at(), 0);
        assert_eq!(tcp.options(), &SYN_BYTES[20..]);
        assert!(tcp.payload().is_empty());
        assert!(tcp.verify_checksum(SRC, DST));
        assert!(!tcp.verify_checksum(SRC, Ipv4Addr::new(10, 0, 0, 2)));
    }

    #[test]
    fn emits_the_same_syn() {
        let mut bytes = [0u8; 40];
        bytes[20..].copy_from_slice(&SYN_BYTES[20..]);
        let mut tcp = TcpPacket::new_unchecked(&mut bytes[..]);
        tcp.set_src_port(54321);
        tcp.set_dst_port(80);
        tcp.set_seq_number(0x0a0b_0c0d);
        tcp.set_ack_number(0);
        tcp.set_header_len(40);
        tcp.set_flags(TcpFlags::SYN);
        tcp.set_window_len(64240);
        tcp.set_urgent_at(0);
        tcp.fill_checksum(SRC, DST);
        assert_eq!(tcp.into_inner(), &SYN_BYTES[..]);
    }

    #[test]
    fn refuses_a_buffer_truncated_before_the_options_end() {
        for len in 0..SYN_BYTES.len() {
            assert_eq!(TcpPacket::new_checked(&SYN_BYTES[..len]), Err(Error::Truncated));
        }
    }

    #[test]
    fn refuses_a_data_offset_below_5() {
        for offset in 0..5 {
            let mut bytes = SYN_BYTES;
            bytes[12] = offset << 4;
            assert_eq!(TcpPacket::new_checked(&bytes[..]), Err(Error::Malformed));
        }
    }

    #[test]
    fn payload_follows_the_options() {
        let mut bytes = [0u8; 44];
        bytes[..40].copy_from_slice(&SYN_BYTES);
        bytes[40..].copy_from_slice(b"GET ");
        let mut tcp = TcpPacket::new_checked(&mut bytes[..]).unwrap();
        assert_eq!(tcp.payload(), b"GET ");
        tcp.set_flags(TcpFlags::PSH | TcpFlags::ACK);
        tcp.set_ack_number(0xdead_beef);
        tcp.fill_checksum(SRC, DST);
        assert!(tcp.verify_checksum(SRC, DST));
        tcp.payload_mut()[0] = b'P';
        assert!(!tcp.verify_checksum(SRC, DST));
        tcp.set_header_len(20);
        assert_eq!(tcp.payload().len(), 24);
        assert!(tcp.options_mut().is_empty());
    }

    #[test]
    fn nat_rewrite_with_incremental_updates_matches_recompute() {
        let mut bytes = SYN_BYTES;
        let mut tcp = TcpPacket::new_checked(&mut bytes[..]).unwrap();
        let (new_src, new_port) = (Ipv4Addr::new(172, 16, 0, 9), 40000);
        let csum = checksum::update_addr(tcp.checksum(), SRC, new_src);
        let csum = checksum::update_u16(csum, tcp.src_port(), new_port);
        tcp.set_src_port(new_port);
        tcp.set_checksum(csum);
        assert!(tcp.verify_checksum(new_src, DST));
        tcp.fill_checksum(new_src, DST);
        assert_eq!(tcp.checksum(), csum);
    }

    #[test]
    fn setting_a_bad_data_offset_does_not_make_accessors_panic() {
        let mut bytes = SYN_BYTES;
        bytes[12] = 0x50;
        let mut tcp = TcpPacket::new_checked(&mut bytes[..20]).unwrap();
        tcp.set_header_len(60);
        assert_eq!(tcp.header_len(), 60);
        assert!(tcp.options().is_empty() && tcp.payload().is_empty());
        tcp.set_header_len(0);
        assert!(tcp.options().is_empty());
        assert_eq!(tcp.payload().len(), 20);
    }

    #[test]
    fn flags_combine_and_display() {
        let mut flags = TcpFlags::SYN | TcpFlags::ACK;
        assert!(flags.contains(TcpFlags::SYN) && flags.contains(TcpFlags::ACK));
        assert!(!flags.contains(TcpFlags::SYN | TcpFlags::FIN));
        assert!(flags.intersects(TcpFlags::SYN | TcpFlags::FIN));
        assert_eq!(flags.to_string(), "SYN|ACK");
        assert_eq!(format!("{flags:?}"), "TcpFlags(SYN|ACK)");
        flags.remove(TcpFlags::SYN);
        flags |= TcpFlags::FIN;
        flags.insert(TcpFlags::CWR);
        assert_eq!(flags.bits(), 0x91);
        assert_eq!(flags & TcpFlags::ACK, TcpFlags::ACK);
        assert_eq!(TcpFlags::empty().to_string(), "-");
        assert!(TcpFlags::from_bits(0).is_empty());
        assert_eq!(TcpFlags::from_bits(0xff).to_string(), "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR");
    }
}
