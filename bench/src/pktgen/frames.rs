//! The generator's frames: written in place into a buffer of the run's frame size, and read back
//! on the other side.
//!
//! Sizes are Ethernet frame sizes on the wire, FCS included (64 to 1518 bytes), as pktgen and
//! RFC 2544 count them; memif carries no FCS, so a buffer holds `size - 4` bytes. A frame carries
//! its transmit time in its payload (the low 48 bits of the TSC: a 64-byte TCP frame has 6 bytes
//! of payload) and its flow: in the TCP sequence number, or after the time stamp for UDP. fnatd
//! rewrites neither, so the other side finds both unchanged.

use std::net::Ipv4Addr;

use dataplane::lb::Protocol;
use dataplane::packet::{EtherType, EthernetFrame, Ipv4Packet, MacAddr, TcpFlags, TcpPacket, UdpPacket};

const ETH: usize = 14;
const IP: usize = 20;
const TCP: usize = 20;
const UDP: usize = 8;
const STAMP: usize = 6;

/// The smallest and largest frame sizes, FCS included.
pub const SIZES: std::ops::RangeInclusive<usize> = 64..=1518;

/// The buffer length of a frame of `size` bytes on the wire (no FCS).
pub fn buf_len(size: usize) -> usize {
    size - 4
}

/// What a frame says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hdr {
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// TCP or UDP.
    pub proto: Protocol,
    /// TCP flags (ignored for UDP).
    pub flags: TcpFlags,
    /// The flow (the TCP sequence number; after the stamp for UDP).
    pub flow: u32,
    /// The TCP acknowledgment number.
    pub ack: u32,
}

/// Writes a frame of `buf.len()` bytes (at least 60) with `h` and the time stamp `stamp`.
pub fn write(buf: &mut [u8], h: &Hdr, stamp: u64) {
    let total = u16::try_from(buf.len() - ETH).unwrap_or(u16::MAX);
    let mut eth = EthernetFrame::new_unchecked(&mut *buf);
    eth.set_dst_addr(MacAddr(h.dst_mac));
    eth.set_src_addr(MacAddr(h.src_mac));
    eth.set_ethertype(EtherType::IPV4);
    let mut ip = Ipv4Packet::new_unchecked(&mut buf[ETH..]);
    ip.set_version_and_header_len(4, 20);
    ip.set_dscp_ecn(0);
    ip.set_total_len(total);
    ip.set_ident(0);
    ip.clear_flags();
    ip.set_dont_frag(true);
    ip.set_ttl(64);
    let l4 = &mut buf[ETH + IP..];
    match h.proto {
        Protocol::Tcp => {
            let payload = &mut l4[TCP..];
            payload.fill(0);
            payload[..STAMP].copy_from_slice(&stamp.to_le_bytes()[..STAMP]);
            let mut tcp = TcpPacket::new_unchecked(&mut *l4);
            tcp.set_src_port(h.sport);
            tcp.set_dst_port(h.dport);
            tcp.set_seq_number(h.flow);
            tcp.set_ack_number(h.ack);
            tcp.set_header_len(20);
            tcp.set_flags(h.flags);
            tcp.set_window_len(65535);
            tcp.set_urgent_at(0);
            tcp.fill_checksum(h.src, h.dst);
        }
        Protocol::Udp => {
            let payload = &mut l4[UDP..];
            payload.fill(0);
            payload[..STAMP].copy_from_slice(&stamp.to_le_bytes()[..STAMP]);
            payload[STAMP..STAMP + 4].copy_from_slice(&h.flow.to_be_bytes());
            let mut udp = UdpPacket::new_unchecked(&mut *l4);
            udp.set_src_port(h.sport);
            udp.set_dst_port(h.dport);
            udp.set_len(total - 20);
            udp.fill_checksum(h.src, h.dst);
        }
    }
    let mut ip = Ipv4Packet::new_unchecked(&mut buf[ETH..]);
    ip.set_protocol(h.proto as u8);
    ip.set_src_addr(h.src);
    ip.set_dst_addr(h.dst);
    ip.fill_checksum();
}

/// A frame as read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Its headers.
    pub hdr: Hdr,
    /// The time stamp it carried (48 bits).
    pub stamp: u64,
    /// The TTL it arrived with.
    pub ttl: u8,
}

/// Reads a frame; `None` for anything but IPv4 TCP/UDP long enough to be one of ours.
pub fn read(frame: &[u8]) -> Option<Seen> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::IPV4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(&frame[ETH..]).ok()?;
    let proto = Protocol::from_ip_proto(ip.protocol())?;
    let l4 = ip.payload();
    let mut stamp = [0u8; 8];
    let (sport, dport, flags, flow, ack) = match proto {
        Protocol::Tcp => {
            let t = TcpPacket::new_checked(l4).ok()?;
            stamp[..STAMP].copy_from_slice(t.payload().get(..STAMP)?);
            (t.src_port(), t.dst_port(), t.flags(), t.seq_number(), t.ack_number())
        }
        Protocol::Udp => {
            let u = UdpPacket::new_checked(l4).ok()?;
            let p = u.payload();
            stamp[..STAMP].copy_from_slice(p.get(..STAMP)?);
            let flow = u32::from_be_bytes(p.get(STAMP..STAMP + 4)?.try_into().ok()?);
            (u.src_port(), u.dst_port(), TcpFlags::empty(), flow, 0)
        }
    };
    let hdr = Hdr {
        src_mac: eth.src_addr().0,
        dst_mac: eth.dst_addr().0,
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        sport,
        dport,
        proto,
        flags,
        flow,
        ack,
    };
    Some(Seen { hdr, stamp: u64::from_le_bytes(stamp), ttl: ip.ttl() })
}

/// Whether the frame's IPv4 and TCP/UDP checksums are right (a UDP checksum of 0 is "none").
pub fn checksums_ok(frame: &[u8]) -> bool {
    let Ok(ip) = Ipv4Packet::new_checked(frame.get(ETH..).unwrap_or_default()) else {
        return false;
    };
    if !ip.verify_checksum() {
        return false;
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    match Protocol::from_ip_proto(ip.protocol()) {
        Some(Protocol::Tcp) => TcpPacket::new_checked(ip.payload()).is_ok_and(|t| t.verify_checksum(src, dst)),
        Some(Protocol::Udp) => {
            UdpPacket::new_checked(ip.payload()).is_ok_and(|u| u.checksum() == 0 || u.verify_checksum(src, dst))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(proto: Protocol) -> Hdr {
        Hdr {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src: Ipv4Addr::new(198, 18, 0, 7),
            dst: Ipv4Addr::new(10, 0, 0, 100),
            sport: 1030,
            dport: 80,
            proto,
            flags: TcpFlags::ACK,
            flow: 123_456,
            ack: 9,
        }
    }

    #[test]
    fn frames_read_back_with_valid_checksums_at_every_size() {
        for proto in [Protocol::Tcp, Protocol::Udp] {
            for size in [64, 65, 128, 512, 1518] {
                let mut buf = vec![0xeeu8; buf_len(size)];
                let h = hdr(proto);
                write(&mut buf, &h, 0x1234_5678_9abc_def0);
                assert!(checksums_ok(&buf), "{proto:?} {size}");
                let seen = read(&buf).unwrap();
                let want = Hdr { flags: if proto == Protocol::Tcp { h.flags } else { TcpFlags::empty() }, ..h };
                let want = Hdr { ack: if proto == Protocol::Tcp { 9 } else { 0 }, ..want };
                assert_eq!(seen.hdr, want);
                assert_eq!(seen.stamp, 0x5678_9abc_def0, "48 bits of the stamp");
                assert_eq!(seen.ttl, 64);
                // The oracle agrees.
                let parsed = etherparse::SlicedPacket::from_ethernet(&buf).unwrap();
                assert!(parsed.net.is_some() && parsed.transport.is_some());
            }
        }
        let mut buf = vec![0u8; buf_len(64)];
        write(&mut buf, &hdr(Protocol::Tcp), 1);
        buf[30] ^= 1;
        assert!(!checksums_ok(&buf), "a changed address breaks the checksums");
    }
}
