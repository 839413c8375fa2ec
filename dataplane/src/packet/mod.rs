//! Zero-copy packet views: Ethernet, ARP, IPv4, TCP, UDP and ICMPv4 headers over borrowed bytes.
//!
//! # Design
//!
//! Each header is a view, `Ipv4Packet<T: AsRef<[u8]>>`, over a buffer that the caller owns: an mbuf's
//! data room on the fast path, a `Vec<u8>` in tests. Getters live in the `T: AsRef<[u8]>` impl and
//! setters in the `T: AsMut<[u8]>` impl, so the same type reads a `&[u8]` and rewrites a `&mut [u8]`
//! in place (the full-NAT rewrite of addresses, ports and checksums). Field offsets sit in a private
//! `mod field` per file; accessors are named after the RFC fields. Nothing here knows about DPDK,
//! clocks or threads: a view is used by whichever core holds the buffer and is never shared.
//!
//! Views nest by handing the payload of one to the next:
//! `TcpPacket::new_checked(Ipv4Packet::new_checked(frame.payload())?.payload())`.
//! Each view only looks at its own header: the caller chooses the next one from `ethertype()` or
//! `protocol()`, and checks things such as `is_fragment()` that a view cannot decide alone.
//!
//! # Invariants
//!
//! - No allocation, no locks, no `unsafe` (this module is `#![deny(unsafe_code)]`). Only [`builder`],
//!   which is for tests and tools and never for the hot path, allocates.
//! - `new_checked` validates the lengths once. After it succeeds, no accessor and no setter panics,
//!   whatever the bytes are. Variable-length parts (`options`, `payload`) are clamped to the buffer,
//!   so even a setter that writes a nonsense length field cannot make a later accessor panic: it
//!   only yields a shorter (possibly empty) slice. `new_unchecked` makes no such promise.
//! - Checksums are computed in one place, [`checksum`] (RFC 1071 sums, RFC 1624 incremental updates).
//!   Views verify and fill checksums, they never check them implicitly: a load balancer forwarding
//!   at line rate may rely on NIC offloads instead.
//! - Multi-byte fields are big-endian on the wire; accessors return host values.

#![deny(unsafe_code)]

pub mod arp;
#[cfg(any(test, feature = "testing"))]
pub mod builder;
pub mod checksum;
pub mod ethernet;
pub mod frag;
pub mod icmp;
pub mod ipv4;
pub mod tcp;
pub mod udp;

use core::fmt;
use core::ops::Range;

pub use arp::{ArpOperation, ArpPacket};
pub use ethernet::{EtherType, EthernetFrame, MacAddr};
pub use icmp::Icmpv4Packet;
pub use ipv4::Ipv4Packet;
pub use tcp::{TcpFlags, TcpPacket};
pub use udp::UdpPacket;

/// Why a buffer was refused by a view's `new_checked` (a hot-path drop reason: small and `Copy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the header or than a length field in the header says.
    Truncated,
    /// A header field holds a value the protocol does not allow (bad version, length below minimum).
    Malformed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::Malformed => "malformed packet",
        })
    }
}

impl std::error::Error for Error {}

/// `data[start..end]`, clamped to the buffer: never panics, empty when the range is inverted.
#[inline]
fn clamped(data: &[u8], start: usize, end: usize) -> &[u8] {
    let end = end.min(data.len());
    let start = start.min(end);
    &data[start..end]
}

/// `data[start..end]`, clamped to the buffer: never panics, empty when the range is inverted.
#[inline]
fn clamped_mut(data: &mut [u8], start: usize, end: usize) -> &mut [u8] {
    let end = end.min(data.len());
    let start = start.min(end);
    &mut data[start..end]
}

/// Reads the big-endian `u16` in `field`. Callers guarantee the field lies inside `data`.
#[inline]
fn read_u16(data: &[u8], field: Range<usize>) -> u16 {
    let bytes = &data[field];
    u16::from_be_bytes([bytes[0], bytes[1]])
}

/// Writes `value` big-endian into the 2-byte `field`. Callers guarantee the field lies inside `data`.
#[inline]
fn write_u16(data: &mut [u8], field: Range<usize>, value: u16) {
    data[field].copy_from_slice(&value.to_be_bytes());
}

/// Reads the big-endian `u32` in `field`. Callers guarantee the field lies inside `data`.
#[inline]
fn read_u32(data: &[u8], field: Range<usize>) -> u32 {
    let bytes = &data[field];
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Writes `value` big-endian into the 4-byte `field`. Callers guarantee the field lies inside `data`.
#[inline]
fn write_u32(data: &mut [u8], field: Range<usize>, value: u32) {
    data[field].copy_from_slice(&value.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamped_never_panics_on_bad_ranges() {
        let data = [1u8, 2, 3, 4];
        assert_eq!(clamped(&data, 1, 3), &[2, 3]);
        assert_eq!(clamped(&data, 2, 100), &[3, 4]);
        assert_eq!(clamped(&data, 3, 1), &[] as &[u8]);
        assert_eq!(clamped(&data, 10, 20), &[] as &[u8]);
    }

    #[test]
    fn errors_display_their_reason() {
        assert_eq!(Error::Truncated.to_string(), "truncated packet");
        assert_eq!(Error::Malformed.to_string(), "malformed packet");
    }
}
