//! The Internet checksum: RFC 1071 sums and RFC 1624 incremental updates, in one place.
//!
//! A checksum is computed in three steps: [`sum`] accumulates big-endian 16-bit words into a `u64`
//! partial sum (start from `0`, or from [`pseudo_header_v4`] for TCP and UDP), [`fold`] reduces the
//! partial sum to 16 bits with end-around carries, and the checksum is its complement. [`checksum`]
//! does all three for one buffer. A receiver verifies by summing the whole header including the
//! checksum field: the fold is `0xffff` when the checksum is right.
//!
//! When a full-NAT rewrite changes an address or a port, [`update_u16`], [`update_u32`] and
//! [`update_addr`] patch the checksum in place (RFC 1624 equation 3, `HC' = ~(~HC + ~m + m')`)
//! instead of summing the packet again.
//!
//! # The two zeros
//!
//! One's-complement arithmetic has two zeros, `0x0000` and `0xffff`, and they are interchangeable in
//! a checksum field: a receiver accepts either (see [`fold`]). Where they differ:
//!
//! - [`checksum`] returns `0xffff` only when every word of the data is zero; a nonzero sum that is
//!   a multiple of `0xffff` gives `0x0000`.
//! - The `update_*` functions never return `0xffff` for a checksum that [`checksum`] produced
//!   (RFC 1624 section 3). They differ from a full recompute in one case only: when the update
//!   makes every data word zero, where they return `0x0000` and a recompute `0xffff`.
//! - UDP gives `0x0000` a meaning, "no checksum": a sender transmits a computed `0x0000` as `0xffff`
//!   (RFC 768), and a datagram whose checksum field is `0x0000` must not be updated at all. An
//!   incremental update of a UDP checksum must map a `0x0000` result to `0xffff`
//!   (see [`crate::packet::UdpPacket`]).
//!
//! Everything here is branch-light, allocation-free and cannot panic.

use std::net::Ipv4Addr;

/// Bytes summed before a block's 32-bit halves are folded into the caller's accumulator. A block
/// adds at most `BLOCK / 8` values below `2^33`, far below `u64::MAX`.
const BLOCK: usize = 64 * 1024;

/// Adds `value` to `acc` with an end-around carry (a one's-complement add in 64 bits).
#[inline]
fn add_carry(acc: u64, value: u64) -> u64 {
    let (sum, carry) = acc.overflowing_add(value);
    // After a carry `sum <= u64::MAX - 1`, so adding it back cannot overflow.
    sum + u64::from(carry)
}

/// Keeps the low 16 bits of `value`.
#[inline]
fn low_u16(value: u64) -> u16 {
    // Truncation is the point here: the callers have already folded `value` into 16 bits.
    #[allow(clippy::cast_possible_truncation)]
    let low = value as u16;
    low
}

/// Adds the big-endian 16-bit words of `data` to the partial sum `acc` (RFC 1071).
///
/// An odd trailing byte counts as the high byte of a word whose low byte is zero, so only the last
/// piece of a checksummed area may have an odd length. The result is a partial sum: pass it back
/// as `acc` to continue, and [`fold`] it at the end.
///
/// The body loads 8 bytes at a time in native byte order, without carries (32-bit halves into a
/// 64-bit sum), and byte-swaps the folded block sum once (RFC 1071 section 2(B)).
#[inline]
pub fn sum(data: &[u8], mut acc: u64) -> u64 {
    let mut blocks = data.chunks_exact(BLOCK);
    for block in &mut blocks {
        acc = add_carry(acc, sum_words(block));
    }
    let rest = blocks.remainder();
    let mut words = rest.chunks_exact(8);
    let mut native = 0u64;
    for w in &mut words {
        let w = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        native += (w >> 32) + (w & 0xffff_ffff);
    }
    acc = add_carry(acc, native_to_be(native));
    let mut tail = 0u64;
    let mut pairs = words.remainder().chunks_exact(2);
    for pair in &mut pairs {
        tail += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = pairs.remainder() {
        tail += u64::from(*last) << 8;
    }
    add_carry(acc, tail)
}

/// Sums one block in whole 8-byte words (callers pass a multiple of 8 bytes), as a big-endian sum.
#[inline]
fn sum_words(block: &[u8]) -> u64 {
    let mut native = 0u64;
    for w in block.chunks_exact(8) {
        let w = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        native += (w >> 32) + (w & 0xffff_ffff);
    }
    native_to_be(native)
}

/// Turns a partial sum of native-endian words into the equivalent big-endian 16-bit sum.
#[inline]
fn native_to_be(native: u64) -> u64 {
    u64::from(u16::from_be(fold(native)))
}

/// Folds a partial sum into 16 bits with end-around carries: the one's-complement sum.
///
/// The result is `0` only when `acc` is `0`; any other multiple of `0xffff` folds to `0xffff`.
/// Hence a receiver's check: the fold of a sum over data and its checksum is `0xffff`.
#[inline]
pub fn fold(acc: u64) -> u16 {
    let s = (acc >> 32) + (acc & 0xffff_ffff); // <= 2^33 - 2
    let s = (s >> 16) + (s & 0xffff); // <= 0x2_fffe
    let s = (s >> 16) + (s & 0xffff); // <= 0x1_0001
    let s = (s >> 16) + (s & 0xffff); // <= 0xffff
    low_u16(s)
}

/// The Internet checksum of `data`: the complement of its one's-complement sum (RFC 1071).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data, 0))
}

/// The partial sum of the IPv4 pseudo-header that TCP and UDP checksums cover (RFC 793, RFC 768):
/// source and destination addresses, protocol, and the segment's length (header and data).
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u64 {
    pseudo_header_v4_len(src, dst, protocol, usize::from(length))
}

/// [`pseudo_header_v4`] for a buffer length. Lengths over `u16::MAX` (which IPv4 cannot carry)
/// are summed as 32-bit values, as IPv6 jumbograms do, so no length is silently truncated.
#[inline]
pub(crate) fn pseudo_header_v4_len(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: usize) -> u64 {
    let len = u64::try_from(len).unwrap_or(u64::MAX);
    u64::from(src.to_bits()) + u64::from(dst.to_bits()) + u64::from(protocol) + u64::from(fold(len))
}

/// Updates checksum `csum` after a 16-bit word of the covered data changed from `old` to `new`
/// (RFC 1624 equation 3). See the module docs for the `0x0000`/`0xffff` cases.
#[inline]
pub fn update_u16(csum: u16, old: u16, new: u16) -> u16 {
    !fold(u64::from(!csum) + u64::from(!old) + u64::from(new))
}

/// Updates checksum `csum` after a 32-bit value at a 16-bit aligned offset of the covered data
/// (two words, e.g. an IPv4 address or a TCP sequence number) changed from `old` to `new`.
#[inline]
pub fn update_u32(csum: u16, old: u32, new: u32) -> u16 {
    // A 32-bit value counts as its two 16-bit halves, since 2^16 = 1 in one's-complement arithmetic.
    !fold(u64::from(!csum) + u64::from(!old) + u64::from(new))
}

/// Updates checksum `csum` after an IPv4 address in the covered data (or in the TCP/UDP
/// pseudo-header) changed from `old` to `new`.
#[inline]
pub fn update_addr(csum: u16, old: Ipv4Addr, new: Ipv4Addr) -> u16 {
    update_u32(csum, old.to_bits(), new.to_bits())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 1071 section 3.
    static RFC1071_BYTES: [u8; 8] = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];

    /// A textbook IPv4 header (UDP, 192.168.0.1 -> 192.168.0.199) whose checksum is 0xb861.
    static IPV4_HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
        0x00, 0xc7,
    ];

    /// The definition, one word at a time, to check the fast path against.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for pair in data.chunks(2) {
            let word = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
            acc += u32::from(word);
            acc = (acc & 0xffff) + (acc >> 16);
        }
        u16::try_from(acc).unwrap()
    }

    #[test]
    fn rfc1071_example_sums_to_ddf2() {
        assert_eq!(fold(sum(&RFC1071_BYTES, 0)), 0xddf2);
        assert_eq!(checksum(&RFC1071_BYTES), !0xddf2);
    }

    #[test]
    fn odd_length_pads_the_last_byte_with_zero() {
        assert_eq!(fold(sum(&[0x12, 0x34, 0x56], 0)), 0x1234 + 0x5600);
        assert_eq!(fold(sum(&[0xab], 0)), 0xab00);
        assert_eq!(fold(sum(&RFC1071_BYTES[..7], 0)), reference_sum(&RFC1071_BYTES[..7]));
    }

    #[test]
    fn empty_data_has_checksum_ffff() {
        assert_eq!(fold(sum(&[], 0)), 0);
        assert_eq!(checksum(&[]), 0xffff);
        assert_eq!(checksum(&[0; 10]), 0xffff);
    }

    #[test]
    fn fast_sum_matches_the_definition_at_every_length() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 151 + 7).to_le_bytes()[0]).collect();
        for len in 0..data.len() {
            assert_eq!(fold(sum(&data[..len], 0)), reference_sum(&data[..len]), "len {len}");
        }
        let ones = vec![0xff; 3 * BLOCK + 5];
        assert_eq!(fold(sum(&ones, 0)), reference_sum(&ones));
    }

    #[test]
    fn fold_carries_around_at_every_width() {
        assert_eq!(fold(0), 0);
        assert_eq!(fold(0xffff), 0xffff);
        assert_eq!(fold(0x1_0000), 1);
        assert_eq!(fold(0x1_fffe), 0xffff);
        assert_eq!(fold(u64::MAX), 0xffff);
        assert_eq!(fold(0xffff_0000_0000_0001), 1);
    }

    #[test]
    fn ipv4_header_verifies_and_recomputes() {
        assert_eq!(fold(sum(&IPV4_HEADER, 0)), 0xffff);
        let mut header = IPV4_HEADER;
        header[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(checksum(&header), 0xb861);
    }

    #[test]
    fn update_u16_matches_recompute_for_a_ttl_decrement() {
        let mut header = IPV4_HEADER;
        let old = u16::from_be_bytes([header[8], header[9]]);
        header[8] -= 1;
        let new = u16::from_be_bytes([header[8], header[9]]);
        let updated = update_u16(0xb861, old, new);
        header[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(updated, checksum(&header));
    }

    #[test]
    fn update_addr_matches_recompute() {
        let mut header = IPV4_HEADER;
        let new = Ipv4Addr::new(10, 1, 2, 3);
        header[12..16].copy_from_slice(&new.octets());
        let updated = update_addr(0xb861, Ipv4Addr::new(192, 168, 0, 1), new);
        header[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(updated, checksum(&header));
    }

    #[test]
    fn update_to_a_zero_sum_gives_0000_not_ffff() {
        // Data {0x0001, 0xfffe} sums to 0xffff: checksum 0x0000. Changing 0xfffe to 0x0001 and
        // back goes through a nonzero sum and returns to 0x0000, as a recompute does.
        assert_eq!(checksum(&[0x00, 0x01, 0xff, 0xfe]), 0x0000);
        let step = update_u16(0x0000, 0xfffe, 0x0001);
        assert_eq!(step, checksum(&[0x00, 0x01, 0x00, 0x01]));
        assert_eq!(update_u16(step, 0x0001, 0xfffe), 0x0000);
        // The one documented difference: updating into all-zero data.
        assert_eq!(checksum(&[0x00, 0x05]), !0x0005);
        assert_eq!(update_u16(!0x0005, 0x0005, 0x0000), 0x0000);
        assert_eq!(checksum(&[0x00, 0x00]), 0xffff);
    }

    #[test]
    fn update_accepts_ffff_as_the_other_zero() {
        // A UDP checksum of 0x0000 is sent as 0xffff; updating either gives the same result.
        assert_eq!(update_u16(0xffff, 0x1234, 0x4321), update_u16(0x0000, 0x1234, 0x4321));
    }

    #[test]
    fn pseudo_header_sums_its_fields() {
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(10, 0, 0, 2);
        let bytes = [10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0, 40];
        assert_eq!(fold(pseudo_header_v4(src, dst, 6, 40)), fold(sum(&bytes, 0)));
        assert_eq!(
            fold(pseudo_header_v4_len(src, dst, 17, 0x1_0004)),
            fold(sum(&[10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 1, 0, 4], 0))
        );
    }
}
