//! IPv4 fragmentation on egress (RFC 791 section 3.2, as Linux's `ip_fragment` does it).
//!
//! # Design
//!
//! Sans-IO and in two steps, so that the caller owns every buffer: [`pieces`] checks a frame once
//! and returns a [`Pieces`] iterator of plain numbers (where each piece's payload starts, how long
//! it is, how long its frame is), and [`write_piece`] writes one piece's whole frame into a buffer
//! the caller provides (an mbuf it allocated for that piece). Frames are Ethernet + IPv4 without
//! options + payload, the only shape the gateway sends.
//!
//! Every piece but the last carries as many payload bytes as fit in the MTU, rounded down to a
//! multiple of 8 (`(mtu - 20) & !7`); the last carries the rest. Each piece's header is the
//! original's with `total_len`, More Fragments and the fragment offset rewritten and the checksum
//! recomputed; identification, TTL and the other flags are kept. A frame that is itself a fragment
//! is split again: a piece's offset is the original's plus its own, and the last piece keeps the
//! original's More Fragments flag. Ethernet padding after the IPv4 `total_len` is never copied.
//!
//! # Invariants
//!
//! - No allocation, no `unsafe`, no panic whatever the bytes, the MTU or the [`Piece`] passed:
//!   every input is untrusted. A bad frame is an [`FragError`]; a piece that does not belong to
//!   the frame, or a buffer too small for it, makes [`write_piece`] write nothing and return 0.
//! - The IPv4 header checksum of the frame is not verified here (the caller has done it); the
//!   pieces' checksums are always recomputed.

use core::fmt;
use core::iter::FusedIterator;

use super::ethernet::{self, EtherType, EthernetFrame};
use super::ipv4::{self, Ipv4Packet};

/// The smallest MTU that every IPv4 link carries without fragmenting (RFC 791): a 60-byte header
/// and 8 bytes of data.
pub const MIN_MTU: u16 = 68;

/// [`ipv4::HEADER_LEN`] as a `u16`, for length arithmetic on the header's fields.
const IP_HEADER_LEN: u16 = 20;
const _: () = assert!(IP_HEADER_LEN as usize == ipv4::HEADER_LEN);

/// Bytes in front of a piece's payload: the Ethernet and the IPv4 headers.
const HEADERS_LEN: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;

/// The largest payload of an IPv4 datagram without options; no fragment may end beyond it.
const MAX_PAYLOAD: usize = 65_535 - ipv4::HEADER_LEN;

/// Why a frame is not split (a hot-path error: small and `Copy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FragError {
    /// Not Ethernet/IPv4, a header or total length beyond the frame, or a fragment ending beyond
    /// the largest datagram (offset + payload over 65515 bytes).
    Malformed,
    /// The IPv4 header carries options, which this module does not handle.
    Options,
    /// The MTU is below [`MIN_MTU`], the minimum of RFC 791.
    MtuTooSmall,
    /// The datagram already fits the MTU: nothing to split.
    Fits,
    /// Don't Fragment is set: the caller sends ICMP "fragmentation needed" instead.
    DontFragment,
}

impl fmt::Display for FragError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FragError::Malformed => "not a well-formed Ethernet/IPv4 frame",
            FragError::Options => "IPv4 options present",
            FragError::MtuTooSmall => "MTU below 68 bytes",
            FragError::Fits => "datagram already fits the MTU",
            FragError::DontFragment => "Don't Fragment set",
        })
    }
}

impl std::error::Error for FragError {}

/// One piece of a split frame: which payload bytes it carries and how long its frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Piece {
    /// Where the piece's payload starts in the split frame's IPv4 payload (bytes, a multiple of 8).
    pub offset: u16,
    /// Payload bytes the piece carries.
    pub len: u16,
    /// Length of the piece's whole frame: 14 + 20 + `len`.
    pub frame_len: usize,
}

/// The pieces of a frame, in payload order; made by [`pieces`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pieces {
    /// Payload offset of the next piece.
    next: u16,
    /// Payload bytes of the split frame.
    payload_len: u16,
    /// Payload bytes of every piece but the last: a nonzero multiple of 8.
    step: u16,
}

impl Iterator for Pieces {
    type Item = Piece;

    #[inline]
    fn next(&mut self) -> Option<Piece> {
        if self.next >= self.payload_len || self.step == 0 {
            return None;
        }
        let len = self.step.min(self.payload_len - self.next);
        let piece = Piece { offset: self.next, len, frame_len: HEADERS_LEN + usize::from(len) };
        // `len <= payload_len - next`: cannot overflow.
        self.next += len;
        Some(piece)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = if self.step == 0 { 0 } else { self.payload_len.saturating_sub(self.next).div_ceil(self.step) };
        (usize::from(left), Some(usize::from(left)))
    }
}

impl ExactSizeIterator for Pieces {}

impl FusedIterator for Pieces {}

/// Checks that `frame` is Ethernet/IPv4 without options whose payload ends within 65515 bytes.
fn datagram(frame: &[u8]) -> Result<Ipv4Packet<&[u8]>, FragError> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| FragError::Malformed)?;
    if eth.ethertype() != EtherType::IPV4 {
        return Err(FragError::Malformed);
    }
    let ip = Ipv4Packet::new_checked(frame.get(ethernet::HEADER_LEN..).unwrap_or_default())
        .map_err(|_| FragError::Malformed)?;
    if usize::from(ip.header_len()) != ipv4::HEADER_LEN {
        return Err(FragError::Options);
    }
    if usize::from(ip.frag_offset()) + ip.payload().len() > MAX_PAYLOAD {
        return Err(FragError::Malformed);
    }
    Ok(ip)
}

/// The pieces `frame` splits into for an egress IP MTU of `mtu` bytes (IPv4 header and payload).
///
/// # Errors
///
/// Checked in this order: [`FragError::Malformed`], [`FragError::Options`],
/// [`FragError::MtuTooSmall`], [`FragError::Fits`] (`total_len <= mtu`, whatever the flags),
/// [`FragError::DontFragment`].
pub fn pieces(frame: &[u8], mtu: u16) -> Result<Pieces, FragError> {
    let ip = datagram(frame)?;
    if mtu < MIN_MTU {
        return Err(FragError::MtuTooSmall);
    }
    if ip.total_len() <= mtu {
        return Err(FragError::Fits);
    }
    if ip.dont_frag() {
        return Err(FragError::DontFragment);
    }
    let payload_len = ip.total_len().saturating_sub(IP_HEADER_LEN);
    let step = mtu.saturating_sub(IP_HEADER_LEN) & !7;
    Ok(Pieces { next: 0, payload_len, step })
}

/// Writes `piece` of `frame` as a whole frame into `out`; returns its length, or 0 (writing nothing)
/// when `out` is too small or `piece` is not a piece of `frame`.
///
/// The frame is `frame`'s Ethernet header, its IPv4 header with `total_len`, More Fragments and the
/// fragment offset set and the checksum recomputed, then the piece's payload. More Fragments is set
/// unless the piece ends the payload, where it is `frame`'s own. A piece belongs to `frame` when
/// its payload is not empty, lies within `frame`'s payload and starts at a multiple of 8, and,
/// unless it ends the payload, is a multiple of 8 long; its `frame_len` is not read. `frame` must pass [`pieces`]' first two checks (DF and MTU are not
/// looked at).
pub fn write_piece(frame: &[u8], piece: &Piece, out: &mut [u8]) -> usize {
    let Ok(ip) = datagram(frame) else {
        return 0;
    };
    let payload = ip.payload();
    let start = usize::from(piece.offset);
    let end = start + usize::from(piece.len);
    let Some(data) = payload.get(start..end) else {
        return 0;
    };
    let more_frags = end < payload.len() || ip.more_frags();
    if data.is_empty() || !piece.offset.is_multiple_of(8) || (end < payload.len() && !piece.len.is_multiple_of(8)) {
        return 0;
    }
    let frame_len = HEADERS_LEN + data.len();
    // `datagram` bounds the original offset plus the payload by 65515: neither sum overflows.
    let (Some(frag_offset), Some(total_len)) =
        (ip.frag_offset().checked_add(piece.offset), IP_HEADER_LEN.checked_add(piece.len))
    else {
        return 0;
    };
    let Some((eth_out, rest)) = out.get_mut(..frame_len).and_then(|o| o.split_at_mut_checked(ethernet::HEADER_LEN))
    else {
        return 0;
    };
    let Some((ip_out, data_out)) = rest.split_at_mut_checked(ipv4::HEADER_LEN) else {
        return 0;
    };
    let (Some(eth_in), ip_in) = (frame.get(..ethernet::HEADER_LEN), ip.header()) else {
        return 0;
    };
    if ip_in.len() != ip_out.len() {
        return 0;
    }
    eth_out.copy_from_slice(eth_in);
    ip_out.copy_from_slice(ip_in);
    let mut header = Ipv4Packet::new_unchecked(ip_out);
    header.set_total_len(total_len);
    header.set_more_frags(more_frags);
    header.set_frag_offset(frag_offset);
    header.fill_checksum();
    data_out.copy_from_slice(data);
    frame_len
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::*;
    use crate::packet::MacAddr;
    use crate::packet::builder::FrameSpec;

    /// Ethernet header 02:00:00:00:00:01 -> 02:00:00:00:00:02, IPv4.
    static ETH: [u8; 14] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00];

    /// UDP, 10.0.0.1 -> 10.0.0.2, total length 1500, ident 0x1c46, no flags, TTL 64.
    static IP_1500: [u8; 20] = [
        0x45, 0x00, 0x05, 0xdc, 0x1c, 0x46, 0x00, 0x00, 0x40, 0x11, 0x44, 0xc9, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
        0x00, 0x02,
    ];

    /// [`IP_1500`] at MTU 576: 552 bytes at 0 (MF), 552 at 552 (MF), 376 at 1104.
    static IP_1500_AT_576: [[u8; 20]; 3] = [
        [
            0x45, 0x00, 0x02, 0x3c, 0x1c, 0x46, 0x20, 0x00, 0x40, 0x11, 0x28, 0x69, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
            0x00, 0x02,
        ],
        [
            0x45, 0x00, 0x02, 0x3c, 0x1c, 0x46, 0x20, 0x45, 0x40, 0x11, 0x28, 0x24, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
            0x00, 0x02,
        ],
        [
            0x45, 0x00, 0x01, 0x8c, 0x1c, 0x46, 0x00, 0x8a, 0x40, 0x11, 0x48, 0x8f, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
            0x00, 0x02,
        ],
    ];

    /// [`IP_1500`] at MTU 1400: 1376 bytes at 0 (MF), 104 at 1376.
    static IP_1500_AT_1400: [[u8; 20]; 2] = [
        [
            0x45, 0x00, 0x05, 0x74, 0x1c, 0x46, 0x20, 0x00, 0x40, 0x11, 0x25, 0x31, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
            0x00, 0x02,
        ],
        [
            0x45, 0x00, 0x00, 0x7c, 0x1c, 0x46, 0x00, 0xac, 0x40, 0x11, 0x49, 0x7d, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
            0x00, 0x02,
        ],
    ];

    /// [`IP_1500`] as a middle fragment: offset 1480, MF set.
    static IP_1500_MIDDLE: [u8; 20] = [
        0x45, 0x00, 0x05, 0xdc, 0x1c, 0x46, 0x20, 0xb9, 0x40, 0x11, 0x24, 0x10, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
        0x00, 0x02,
    ];

    /// [`IP_1500_MIDDLE`] at MTU 576: offsets 1480, 2032 and 2584, MF set on all three.
    static IP_1500_MIDDLE_AT_576: [[u8; 20]; 3] = [
        [
            0x45, 0x00, 0x02, 0x3c, 0x1c, 0x46, 0x20, 0xb9, 0x40, 0x11, 0x27, 0xb0, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
            0x00, 0x02,
        ],
        [
            0x45, 0x00, 0x02, 0x3c, 0x1c, 0x46, 0x20, 0xfe, 0x40, 0x11, 0x27, 0x6b, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
            0x00, 0x02,
        ],
        [
            0x45, 0x00, 0x01, 0x8c, 0x1c, 0x46, 0x21, 0x43, 0x40, 0x11, 0x27, 0xd6, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
            0x00, 0x02,
        ],
    ];

    /// [`IP_1500`] as the last fragment: offset 1480, MF clear.
    static IP_1500_LAST: [u8; 20] = [
        0x45, 0x00, 0x05, 0xdc, 0x1c, 0x46, 0x00, 0xb9, 0x40, 0x11, 0x44, 0x10, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
        0x00, 0x02,
    ];

    /// The last piece of [`IP_1500_LAST`] at MTU 576: offset 2584, MF clear.
    static IP_1500_LAST_AT_576_END: [u8; 20] = [
        0x45, 0x00, 0x01, 0x8c, 0x1c, 0x46, 0x01, 0x43, 0x40, 0x11, 0x47, 0xd6, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
        0x00, 0x02,
    ];

    /// UDP, 10.0.0.1 -> 10.0.0.2, total length 4000, ident 0x4242, no flags, TTL 64.
    static IP_4000: [u8; 20] = [
        0x45, 0x00, 0x0f, 0xa0, 0x42, 0x42, 0x00, 0x00, 0x40, 0x11, 0x15, 0x09, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
        0x00, 0x02,
    ];

    /// [`IP_4000`] at MTU 1500: 1480 bytes at 0 (MF), 1480 at 1480 (MF), 1020 at 2960.
    static IP_4000_AT_1500: [[u8; 20]; 3] = [
        [
            0x45, 0x00, 0x05, 0xdc, 0x42, 0x42, 0x20, 0x00, 0x40, 0x11, 0xfe, 0xcc, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
            0x00, 0x02,
        ],
        [
            0x45, 0x00, 0x05, 0xdc, 0x42, 0x42, 0x20, 0xb9, 0x40, 0x11, 0xfe, 0x13, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
            0x00, 0x02,
        ],
        [
            0x45, 0x00, 0x04, 0x10, 0x42, 0x42, 0x01, 0x72, 0x40, 0x11, 0x1f, 0x27, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
            0x00, 0x02,
        ],
    ];

    /// A recognisable payload byte for position `i`.
    fn pattern(i: usize) -> u8 {
        u8::try_from(i % 251).unwrap()
    }

    /// [`ETH`], `ip`, then `ip`'s payload length of [`pattern`] bytes.
    fn frame(ip: &[u8; 20]) -> Vec<u8> {
        let total_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let mut bytes = [&ETH[..], &ip[..]].concat();
        bytes.extend((0..total_len - 20).map(pattern));
        bytes
    }

    fn piece(offset: u16, len: u16) -> Piece {
        Piece { offset, len, frame_len: 34 + usize::from(len) }
    }

    /// Splits `frame` at `mtu` and writes every piece.
    fn split(frame: &[u8], mtu: u16) -> Vec<Vec<u8>> {
        pieces(frame, mtu)
            .unwrap()
            .map(|p| {
                let mut out = vec![0xee; p.frame_len + 7];
                assert_eq!(write_piece(frame, &p, &mut out), p.frame_len);
                out.truncate(p.frame_len);
                out
            })
            .collect()
    }

    /// Checks each written piece against its expected IPv4 header and the original's payload.
    fn assert_pieces(frame: &[u8], written: &[Vec<u8>], headers: &[[u8; 20]]) {
        assert_eq!(written.len(), headers.len());
        let payload = &frame[34..];
        let mut at = 0;
        for (i, (out, header)) in written.iter().zip(headers).enumerate() {
            assert_eq!(&out[..14], &frame[..14], "piece {i}: Ethernet header");
            assert_eq!(&out[14..34], header, "piece {i}: IPv4 header");
            let ip = Ipv4Packet::new_checked(&out[14..]).unwrap();
            assert!(ip.verify_checksum(), "piece {i}");
            let len = out.len() - 34;
            assert_eq!(&out[34..], &payload[at..at + len], "piece {i}: payload");
            at += len;
        }
        assert_eq!(at, payload.len());
    }

    #[test]
    fn splits_1500_bytes_at_mtu_576_into_552_552_376() {
        let original = frame(&IP_1500);
        let all: Vec<Piece> = pieces(&original, 576).unwrap().collect();
        assert_eq!(all, [piece(0, 552), piece(552, 552), piece(1104, 376)]);
        assert_eq!(all.iter().map(|p| p.frame_len).collect::<Vec<_>>(), [586, 586, 410]);
        assert_pieces(&original, &split(&original, 576), &IP_1500_AT_576);
    }

    #[test]
    fn splits_1500_bytes_at_mtu_1400_into_1376_104() {
        let original = frame(&IP_1500);
        assert_eq!(pieces(&original, 1400).unwrap().collect::<Vec<_>>(), [piece(0, 1376), piece(1376, 104)]);
        assert_pieces(&original, &split(&original, 1400), &IP_1500_AT_1400);
    }

    #[test]
    fn splits_a_4000_byte_udp_datagram_at_1500_like_the_textbook() {
        let mut spec = FrameSpec::new(
            (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2])),
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
        );
        spec.ident = 0x4242;
        spec.dont_frag = false;
        let data: Vec<u8> = (0..4000 - 28).map(pattern).collect();
        let original = spec.udp(5000, 53, &data);
        assert_eq!(&original[..14], &ETH);
        assert_eq!(&original[14..34], &IP_4000);
        let all: Vec<Piece> = pieces(&original, 1500).unwrap().collect();
        assert_eq!(all, [piece(0, 1480), piece(1480, 1480), piece(2960, 1020)]);
        assert_pieces(&original, &split(&original, 1500), &IP_4000_AT_1500);
    }

    #[test]
    fn concatenated_pieces_give_back_the_payload() {
        for (ip, mtu) in [(&IP_1500, 576), (&IP_1500, 1400), (&IP_4000, 1500), (&IP_4000, 68), (&IP_1500, 1499)] {
            let original = frame(ip);
            let payload: Vec<u8> = split(&original, mtu).iter().flat_map(|out| out[34..].to_vec()).collect();
            assert_eq!(payload, &original[34..], "mtu {mtu}");
        }
    }

    #[test]
    fn the_smallest_mtu_gives_48_byte_pieces() {
        let original = frame(&IP_1500);
        let all: Vec<Piece> = pieces(&original, MIN_MTU).unwrap().collect();
        assert_eq!(all.len(), 31);
        assert!(all[..30].iter().enumerate().all(|(i, p)| *p == piece(u16::try_from(i * 48).unwrap(), 48)));
        assert_eq!(all[30], piece(1440, 40));
    }

    #[test]
    fn a_middle_fragment_splits_into_middle_fragments() {
        let original = frame(&IP_1500_MIDDLE);
        let all: Vec<Piece> = pieces(&original, 576).unwrap().collect();
        assert_eq!(all, [piece(0, 552), piece(552, 552), piece(1104, 376)]);
        assert_pieces(&original, &split(&original, 576), &IP_1500_MIDDLE_AT_576);
    }

    #[test]
    fn a_last_fragment_keeps_mf_clear_on_its_last_piece() {
        let original = frame(&IP_1500_LAST);
        let written = split(&original, 576);
        let mut headers = IP_1500_MIDDLE_AT_576;
        headers[2] = IP_1500_LAST_AT_576_END;
        assert_pieces(&original, &written, &headers);
    }

    #[test]
    fn ethernet_padding_is_not_copied() {
        let original = frame(&IP_1500);
        let mut padded = original.clone();
        padded.extend([0xaa; 20]);
        assert_eq!(pieces(&padded, 576), pieces(&original, 576));
        assert_eq!(split(&padded, 576), split(&original, 576));
        // A short datagram in a padded minimum-size frame.
        let mut small = frame(&IP_1500);
        small.truncate(14 + 100);
        small[16..18].copy_from_slice(&100u16.to_be_bytes());
        small.extend([0xaa; 10]);
        let all: Vec<Piece> = pieces(&small, 68).unwrap().collect();
        assert_eq!(all, [piece(0, 48), piece(48, 32)]);
        let last = &split(&small, 68)[1];
        assert_eq!(last.len(), 66);
        assert_eq!(&last[34..], &small[34 + 48..14 + 100]);
    }

    #[test]
    fn pieces_is_an_exact_size_fused_copy() {
        let original = frame(&IP_1500);
        let mut it = pieces(&original, 576).unwrap();
        let restart = it;
        assert_eq!(it.len(), 3);
        it.next();
        assert_eq!(it.size_hint(), (2, Some(2)));
        assert_eq!(it.by_ref().count(), 2);
        assert_eq!((it.next(), it.len()), (None, 0));
        assert_eq!(restart.len(), 3);
    }

    #[test]
    fn refuses_frames_that_are_not_plain_ipv4() {
        let original = frame(&IP_1500);
        for len in [0, 13, 14, 33] {
            assert_eq!(pieces(&original[..len], 576), Err(FragError::Malformed), "len {len}");
        }
        // Total length beyond the frame.
        assert_eq!(pieces(&original[..1000], 576), Err(FragError::Malformed));
        let mut arp = original.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(pieces(&arp, 576), Err(FragError::Malformed));
        let mut v6 = original.clone();
        v6[14] = 0x65;
        assert_eq!(pieces(&v6, 576), Err(FragError::Malformed));
        let mut options = original.clone();
        options[14] = 0x46;
        assert_eq!(pieces(&options, 576), Err(FragError::Options));
        // A fragment at offset 64040 whose 1480 bytes would end at 65520, beyond 65515; at 64032
        // they end at 65512.
        let mut beyond = original;
        beyond[20..22].copy_from_slice(&(64_032u16 >> 3).to_be_bytes());
        assert!(pieces(&beyond, 576).is_ok());
        beyond[20..22].copy_from_slice(&(64_040u16 >> 3).to_be_bytes());
        assert_eq!(pieces(&beyond, 576), Err(FragError::Malformed));
        assert_eq!(write_piece(&beyond, &piece(0, 552), &mut [0; 600]), 0);
    }

    #[test]
    fn refuses_a_small_mtu_a_datagram_that_fits_and_dont_fragment() {
        let original = frame(&IP_1500);
        assert_eq!(pieces(&original, 67), Err(FragError::MtuTooSmall));
        assert_eq!(pieces(&original, 0), Err(FragError::MtuTooSmall));
        assert_eq!(pieces(&original, 1500), Err(FragError::Fits));
        assert_eq!(pieces(&original, u16::MAX), Err(FragError::Fits));
        assert!(pieces(&original, 1499).is_ok());
        let mut df = original;
        df[20] |= 0x40;
        assert_eq!(pieces(&df, 576), Err(FragError::DontFragment));
        assert_eq!(pieces(&df, 1500), Err(FragError::Fits));
        assert_eq!(pieces(&df, 67), Err(FragError::MtuTooSmall));
    }

    #[test]
    fn write_piece_writes_nothing_for_a_foreign_piece_or_a_short_buffer() {
        let original = frame(&IP_1500);
        let mut out = [0x55u8; 600];
        for bad in [piece(0, 0), piece(4, 552), piece(1104, 377), piece(1480, 8), piece(u16::MAX, u16::MAX)] {
            assert_eq!(write_piece(&original, &bad, &mut out), 0, "{bad:?}");
        }
        assert_eq!(write_piece(&original, &piece(0, 552), &mut out[..585]), 0);
        assert_eq!(write_piece(&original[..100], &piece(0, 8), &mut out), 0);
        assert!(out.iter().all(|&b| b == 0x55));
        // A piece not ending the payload must be a multiple of 8 long, as More Fragments is set.
        assert_eq!(write_piece(&original, &piece(8, 12), &mut out), 0);
        assert!(out.iter().all(|&b| b == 0x55));
        // `frame_len` is not read: the written length is the piece's own.
        let odd = Piece { offset: 1472, len: 8, frame_len: 1 };
        assert_eq!(write_piece(&original, &odd, &mut out), 42);
        assert_eq!(&out[34..42], &original[34 + 1472..]);
        let odd_last = Piece { offset: 1464, len: 16, frame_len: 0 };
        assert_eq!(write_piece(&original, &odd_last, &mut out), 50);
        assert_eq!(&out[..14], &original[..14]);
    }

    #[test]
    fn errors_display_their_reason() {
        assert_eq!(FragError::DontFragment.to_string(), "Don't Fragment set");
        assert_eq!(FragError::Fits.to_string(), "datagram already fits the MTU");
        assert_eq!(FragError::MtuTooSmall.to_string(), "MTU below 68 bytes");
        assert_eq!(FragError::Options.to_string(), "IPv4 options present");
        assert_eq!(FragError::Malformed.to_string(), "not a well-formed Ethernet/IPv4 frame");
    }

    proptest! {
        #[test]
        fn pieces_cover_the_payload_within_the_mtu(payload_len in 1usize..9000, mtu in 68u16..9000) {
            let total_len = u16::try_from(20 + payload_len).unwrap();
            let mut ip = IP_1500;
            ip[2..4].copy_from_slice(&total_len.to_be_bytes());
            Ipv4Packet::new_unchecked(&mut ip[..]).fill_checksum();
            let original = frame(&ip);
            if total_len <= mtu {
                prop_assert_eq!(pieces(&original, mtu), Err(FragError::Fits));
                return Ok(());
            }
            let all = pieces(&original, mtu).unwrap();
            let count = all.len();
            let mut payload = Vec::new();
            let mut out = vec![0; 9100];
            for (i, p) in all.enumerate() {
                prop_assert_eq!(usize::from(p.offset), payload.len());
                prop_assert!(usize::from(p.len) + 20 <= usize::from(mtu));
                prop_assert_eq!(p.frame_len, 34 + usize::from(p.len));
                let last = i + 1 == count;
                if !last {
                    prop_assert_eq!(p.len, (mtu - 20) & !7);
                }
                let written = write_piece(&original, &p, &mut out);
                prop_assert_eq!(written, p.frame_len);
                let frag = Ipv4Packet::new_checked(&out[14..written]).unwrap();
                prop_assert!(frag.verify_checksum());
                prop_assert_eq!((frag.frag_offset(), frag.more_frags()), (p.offset, !last));
                prop_assert_eq!(usize::from(frag.total_len()), written - 14);
                payload.extend_from_slice(frag.payload());
            }
            prop_assert_eq!(&payload[..], &original[34..]);
        }

        #[test]
        fn random_bytes_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..200),
            mtu in any::<u16>(),
            offset in any::<u16>(),
            len in any::<u16>(),
            out_len in 0usize..300,
        ) {
            if let Ok(all) = pieces(&bytes, mtu) {
                for p in all {
                    let mut out = vec![0; p.frame_len];
                    prop_assert_eq!(write_piece(&bytes, &p, &mut out), p.frame_len);
                }
            }
            let mut out = vec![0; out_len];
            let written = write_piece(&bytes, &Piece { offset, len, frame_len: 0 }, &mut out);
            prop_assert!(written <= out_len);
        }
    }
}
