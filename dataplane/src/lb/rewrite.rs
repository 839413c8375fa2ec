//! The address rewrites of FULLNAT and NAT: endpoints change, the TTL drops by one, and the IP and
//! transport checksums are patched incrementally (RFC 1624), without summing the payload again.
//!
//! FULLNAT, client to real server: `CIP:cport -> VIP:vport` leaves as `LIP:lport -> RIP:rport`;
//! back: `RIP:rport -> LIP:lport` leaves as `VIP:vport -> CIP:cport`.
//! NAT (masquerade), client to real server: `CIP:cport -> VIP:vport` leaves as `CIP:cport -> RIP:rport`;
//! back: `RIP:rport -> CIP:cport` leaves as `VIP:vport -> CIP:cport`.
//! DR and TUN rewrite no address (see [`Endpoints::of`]); their packets only lose one TTL
//! ([`decrement_ttl`]), as IPVS's `decrement_ttl` takes one from every packet it forwards.
//!
//! All changes to one checksum are summed into one accumulator and folded once. A UDP checksum of zero
//! ("none") stays zero; a UDP checksum that the update turns into zero is sent as `0xffff`.

use std::net::Ipv4Addr;

use super::conn::{Conn, Dir};
use super::service::{FwdMethod, Protocol};
use crate::packet::checksum::fold;
use crate::packet::{Ipv4Packet, TcpPacket, UdpPacket};

/// The endpoints a packet leaves with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// New source address.
    pub src: Ipv4Addr,
    /// New source port.
    pub sport: u16,
    /// New destination address.
    pub dst: Ipv4Addr,
    /// New destination port.
    pub dport: u16,
}

impl Endpoints {
    /// The endpoints a packet of `conn` travelling in `dir` leaves with, for the methods that
    /// rewrite addresses (FULLNAT, NAT); `None` for DR and TUN, which leave the IP packet as it is.
    #[inline]
    pub fn of(conn: &Conn, dir: Dir) -> Option<Self> {
        match (conn.method, dir) {
            (FwdMethod::FullNat, Dir::In) => {
                Some(Self { src: conn.lip, sport: conn.lport, dst: conn.rip, dport: conn.rport })
            }
            (FwdMethod::Nat, Dir::In) => {
                Some(Self { src: conn.cip, sport: conn.cport, dst: conn.rip, dport: conn.rport })
            }
            (FwdMethod::FullNat | FwdMethod::Nat, Dir::Out) => {
                Some(Self { src: conn.vip, sport: conn.vport, dst: conn.cip, dport: conn.cport })
            }
            (FwdMethod::Dr | FwdMethod::Tun, _) => None,
        }
    }
}

/// Whether packets of `method` travelling in `dir` get a new source address (FULLNAT always, NAT
/// only on the way back). An ICMP error travelling that way gets the new source too; otherwise its
/// source (the router that reported) stays.
#[inline]
pub fn translates_src(method: FwdMethod, dir: Dir) -> bool {
    matches!((method, dir), (FwdMethod::FullNat, _) | (FwdMethod::Nat, Dir::Out))
}

/// One's-complement difference of replacing 32-bit `old` with `new` (to be added to `!checksum`).
#[inline]
fn delta32(old: u32, new: u32) -> u64 {
    u64::from(!old) + u64::from(new)
}

#[inline]
fn delta16(old: u16, new: u16) -> u64 {
    u64::from(!old) + u64::from(new)
}

/// Decrements the TTL of an IPv4 packet and patches its header checksum: all that DR and TUN change
/// of the packet they forward. `ip` holds the packet from its first header byte, validated by the
/// caller, whose TTL is above 1.
#[inline]
pub fn decrement_ttl(ip: &mut [u8]) {
    let mut pkt = Ipv4Packet::new_unchecked(ip);
    let (ttl, proto) = (pkt.ttl(), pkt.protocol());
    let new_ttl = ttl.saturating_sub(1);
    let acc =
        u64::from(!pkt.checksum()) + delta16(u16::from_be_bytes([ttl, proto]), u16::from_be_bytes([new_ttl, proto]));
    pkt.set_checksum(!fold(acc));
    pkt.set_ttl(new_ttl);
}

/// Rewrites the endpoints of an IPv4 packet and decrements its TTL.
///
/// `ip` holds the IPv4 packet from its first header byte; the caller has validated it (IPv4 header,
/// `l4_offset` = its header length, and a complete TCP or UDP header of protocol `proto` there) and
/// checked that the TTL is above 1. Never panics on such a buffer.
#[inline]
pub fn rewrite(ip: &mut [u8], l4_offset: usize, proto: Protocol, to: &Endpoints) {
    let mut pkt = Ipv4Packet::new_unchecked(&mut *ip);
    let (src, dst, ttl) = (pkt.src_addr(), pkt.dst_addr(), pkt.ttl());
    let new_ttl = ttl.saturating_sub(1);
    let proto_byte = proto as u8;
    let acc = u64::from(!pkt.checksum())
        + delta32(src.to_bits(), to.src.to_bits())
        + delta32(dst.to_bits(), to.dst.to_bits())
        + delta16(u16::from_be_bytes([ttl, proto_byte]), u16::from_be_bytes([new_ttl, proto_byte]));
    pkt.set_checksum(!fold(acc));
    pkt.set_src_addr(to.src);
    pkt.set_dst_addr(to.dst);
    pkt.set_ttl(new_ttl);

    let Some(l4) = ip.get_mut(l4_offset..) else {
        return;
    };
    let pseudo = delta32(src.to_bits(), to.src.to_bits()) + delta32(dst.to_bits(), to.dst.to_bits());
    match proto {
        Protocol::Tcp => {
            let mut tcp = TcpPacket::new_unchecked(l4);
            let acc = u64::from(!tcp.checksum())
                + pseudo
                + delta16(tcp.src_port(), to.sport)
                + delta16(tcp.dst_port(), to.dport);
            tcp.set_checksum(!fold(acc));
            tcp.set_src_port(to.sport);
            tcp.set_dst_port(to.dport);
        }
        Protocol::Udp => {
            let mut udp = UdpPacket::new_unchecked(l4);
            let old = udp.checksum();
            if old != 0 {
                let acc =
                    u64::from(!old) + pseudo + delta16(udp.src_port(), to.sport) + delta16(udp.dst_port(), to.dport);
                let new = !fold(acc);
                udp.set_checksum(if new == 0 { 0xffff } else { new });
            }
            udp.set_src_port(to.sport);
            udp.set_dst_port(to.dport);
        }
    }
}
