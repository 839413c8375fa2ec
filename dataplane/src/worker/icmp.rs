//! ICMP on the worker: echo replies for the gateway's own addresses, translation of ICMP errors that
//! quote a packet of a tracked connection, and the errors the gateway sends as a router does:
//! "fragmentation needed" for a packet with Don't Fragment set that its egress (or a tunnel) makes
//! too big, and "time exceeded" for a TCP/UDP packet whose TTL runs out here (IPVS's
//! `decrement_ttl`). Those two share a token bucket per worker (Linux's `icmp_msgs_per_sec` and
//! `icmp_msgs_burst`: [`ERROR_RATE`], [`ERROR_BURST`]); over it the packet is dropped, counted.
//!
//! An error travels like a packet of its connection in some direction `d`: the quoted packet is one
//! the gateway sent the other way, so the quote is found in the connection table reversed. For
//! FULLNAT and NAT the outer addresses get the same translation as a packet travelling in `d` (the
//! source only where the method translates sources in that direction; otherwise the reporting
//! router stays the source), and the quote is put back the way the other side sent it. For DR and
//! TUN the error is passed to the real server as its packets are. Everything else is dropped and
//! counted.

use std::net::Ipv4Addr;

use super::poll::PacketBuf;
use super::{DropReason, ETH_HLEN, IPV4_HLEN, Verdict, Worker};
use crate::lb::rewrite::{Endpoints, translates_src};
use crate::lb::{FlowKey, Protocol};
use crate::packet::icmp::{code, msg_type};
use crate::packet::{EtherType, EthernetFrame, Icmpv4Packet, Ipv4Packet, icmp, ipv4};

/// Bytes of the offending packet an ICMP error the gateway sends quotes: its header and 8 bytes.
const QUOTE: usize = IPV4_HLEN + 8;
/// ICMP errors a worker sends per second at most (Linux's `icmp_msgs_per_sec`).
pub(super) const ERROR_RATE: u32 = 1000;
/// ICMP errors a worker may send at once after a quiet while (Linux's `icmp_msgs_burst`).
pub(super) const ERROR_BURST: u32 = 50;

impl Worker {
    pub(super) fn icmp<B: PacketBuf>(&mut self, buf: &mut B, now: u64) -> Result<Verdict, DropReason> {
        let ip = Ipv4Packet::new_unchecked(&buf.data()[ETH_HLEN..]);
        let dst = ip.dst_addr();
        let icmp = Icmpv4Packet::new_checked(ip.payload()).map_err(|_| DropReason::IcmpMalformed)?;
        match icmp.msg_type() {
            msg_type::ECHO_REQUEST if icmp.code() == 0 && self.snap.is_own(dst) => self.echo(buf.data_mut(), now),
            msg_type::DEST_UNREACHABLE | msg_type::TIME_EXCEEDED => self.icmp_error(buf, now),
            _ => Err(DropReason::Icmp),
        }
    }

    /// Answers an echo request to one of our addresses.
    fn echo(&mut self, frame: &mut [u8], now: u64) -> Result<Verdict, DropReason> {
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETH_HLEN..]);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let icmp = Icmpv4Packet::new_unchecked(ip.payload());
        if !icmp.verify_checksum() {
            return Err(DropReason::IcmpMalformed);
        }
        ip.set_src_addr(dst);
        ip.set_dst_addr(src);
        ip.set_ttl(64);
        ip.fill_checksum();
        let mut icmp = Icmpv4Packet::new_unchecked(ip.payload_mut());
        icmp.set_msg_type(msg_type::ECHO_REPLY);
        // Computed afresh, not patched: an echo of all zeros (id, sequence and data) sums to zero
        // as a reply, whose checksum must be 0xffff; an incremental update gives 0x0000 there.
        icmp.fill_checksum();
        self.stats.icmp_echo += 1;
        self.send_to(frame, src, now)
    }

    /// Translates an ICMP error about a packet of a tracked connection.
    fn icmp_error<B: PacketBuf>(&mut self, buf: &mut B, now: u64) -> Result<Verdict, DropReason> {
        let ip = Ipv4Packet::new_unchecked(&buf.data()[ETH_HLEN..]);
        let (ttl, len) = (ip.ttl(), ip.total_len());
        let icmp = Icmpv4Packet::new_unchecked(ip.payload());
        if !icmp.verify_checksum() {
            return Err(DropReason::IcmpMalformed);
        }
        let quoted = Ipv4Packet::new_checked_quoted(icmp.data()).map_err(|_| DropReason::IcmpMalformed)?;
        let l4 = quoted.payload();
        if usize::from(quoted.header_len()) != IPV4_HLEN || l4.len() < 4 {
            return Err(DropReason::IcmpMalformed);
        }
        let proto = Protocol::from_ip_proto(quoted.protocol()).ok_or(DropReason::IcmpNoConn)?;
        let (qsport, qdport) = (u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]]));
        let (qsrc, qdst) = (quoted.src_addr(), quoted.dst_addr());
        // The quoted packet went the other way: its reverse is the flow of the error.
        let rev = FlowKey { src: qdst, dst: qsrc, sport: qdport, dport: qsport, proto };
        let (idx, dir) = match self.conns.lookup(&rev) {
            Some((idx, dir)) if !self.conns.is_expired(idx, now) => (idx, dir),
            _ if self.snap.services.is_laddr(qsrc) => {
                // About a packet sent from a local port: the port's owner holds the connection.
                let owner = self.laddr.owner(qsrc, qdst, qdport, qsport).unwrap_or(self.id.index);
                return self.at_owner(owner, DropReason::IcmpNoConn);
            }
            _ => {
                // About a NAT connection on several workers: its owner follows from the flow.
                let owner = self.nat_owner(&rev).unwrap_or(self.id.index);
                return self.at_owner(owner, DropReason::IcmpNoConn);
            }
        };
        if ttl <= 1 {
            return Err(DropReason::TtlExpired);
        }
        let conn = *self.conns.get(idx);
        // As IPVS: an error about a connection counts as one of its packets.
        self.dest_conns.packet(conn.tally, dir, len);
        let Some(to) = Endpoints::of(&conn, dir) else {
            // DR, TUN: the real server gets the error as it gets the connection's packets.
            self.stats.icmp_translated += 1;
            return self.transmit(buf, &conn, dir, now);
        };
        let orig = conn.key(dir.opposite());
        let frame = buf.data_mut();
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[ETH_HLEN..]);
        if translates_src(conn.method, dir) {
            ip.set_src_addr(to.src);
        }
        ip.set_dst_addr(to.dst);
        ip.set_ttl(ttl - 1);
        ip.fill_checksum();
        let mut icmp = Icmpv4Packet::new_unchecked(ip.payload_mut());
        {
            let mut q = Ipv4Packet::new_unchecked(icmp.data_mut());
            q.set_src_addr(orig.src);
            q.set_dst_addr(orig.dst);
            q.fill_checksum();
            let l4 = q.payload_mut();
            if l4.len() >= 4 {
                l4[0..2].copy_from_slice(&orig.sport.to_be_bytes());
                l4[2..4].copy_from_slice(&orig.dport.to_be_bytes());
            }
        }
        icmp.fill_checksum();
        self.stats.icmp_translated += 1;
        self.send_to(frame, to.dst, now)
    }

    /// Turns the packet in `buf` into a "fragmentation needed" error (next-hop MTU `mtu`) back to
    /// its sender.
    #[cold]
    #[inline(never)]
    pub(super) fn frag_needed<B: PacketBuf>(&mut self, buf: &mut B, mtu: u16, now: u64) -> Result<Verdict, DropReason> {
        let error = Error { msg_type: msg_type::DEST_UNREACHABLE, code: code::FRAG_NEEDED, rest: u32::from(mtu) };
        let v = self.send_error(buf, error, now)?;
        self.stats.icmp_frag_needed += 1;
        Ok(v)
    }

    /// Turns a TCP/UDP packet whose TTL ran out here into a "time exceeded" error back to its
    /// sender.
    #[cold]
    #[inline(never)]
    pub(super) fn time_exceeded<B: PacketBuf>(&mut self, buf: &mut B, now: u64) -> Result<Verdict, DropReason> {
        let error = Error { msg_type: msg_type::TIME_EXCEEDED, code: code::TTL_EXCEEDED, rest: 0 };
        let v = self.send_error(buf, error, now)?;
        self.stats.icmp_time_exceeded += 1;
        Ok(v)
    }

    /// The source of an error about a packet from `sender` to `dst`, as the kernel's `icmp_send`
    /// picks it: `dst` when that is ours (a VIP, a local address, a port's address), else the
    /// address of the port toward the sender.
    fn error_source(&self, sender: Ipv4Addr, dst: Ipv4Addr) -> Result<Ipv4Addr, DropReason> {
        if self.snap.is_own(dst) {
            return Ok(dst);
        }
        let (port, nh) = self.snap.routes.lookup(sender).ok_or(DropReason::NoRoute)?;
        let iface = self.snap.ifaces.get(usize::from(port)).ok_or(DropReason::NoRoute)?;
        iface.addr_toward(nh).ok_or(DropReason::NoRoute)
    }

    /// Replaces the packet in `buf` by `error` to the packet's sender (from [`Worker::error_source`]),
    /// quoting its header and first 8 bytes, within the worker's rate of ICMP errors.
    fn send_error<B: PacketBuf>(&mut self, buf: &mut B, error: Error, now: u64) -> Result<Verdict, DropReason> {
        if !self.icmp_errors.allow(now) {
            return Err(DropReason::IcmpRateLimited);
        }
        let frame = buf.data();
        let ip = Ipv4Packet::new_unchecked(&frame[ETH_HLEN..]);
        let sender = ip.src_addr();
        let from = self.error_source(sender, ip.dst_addr())?;
        let mut quote = [0u8; QUOTE];
        let n = QUOTE.min(usize::from(ip.total_len())).min(frame.len() - ETH_HLEN);
        quote[..n].copy_from_slice(&frame[ETH_HLEN..ETH_HLEN + n]);
        let len = IPV4_HLEN + icmp::HEADER_LEN + n;
        // A short packet makes a longer error: the frame grows at its front (the Ethernet header
        // is written anew).
        if let Some(more) = (ETH_HLEN + len).checked_sub(frame.len()).filter(|&m| m > 0) {
            if !buf.prepend(more) {
                return Err(DropReason::NoHeadroom);
            }
            EthernetFrame::new_unchecked(&mut buf.data_mut()[..ETH_HLEN]).set_ethertype(EtherType::IPV4);
        }
        let frame = buf.data_mut();
        write_error(&mut frame[ETH_HLEN..], from, sender, error, &quote[..n]).ok_or(DropReason::NoHeadroom)?;
        buf.truncate(ETH_HLEN + len);
        self.send_to(buf.data_mut(), sender, now)
    }
}

/// An ICMP error's type, code and second word.
#[derive(Clone, Copy, Debug)]
struct Error {
    msg_type: u8,
    code: u8,
    rest: u32,
}

/// Writes `error` from `src` to `dst` quoting `quote`, as an IPv4 packet at the start of `out`;
/// returns its length.
fn write_error(out: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, error: Error, quote: &[u8]) -> Option<usize> {
    let len = IPV4_HLEN + icmp::HEADER_LEN + quote.len();
    let out = out.get_mut(..len)?;
    out.fill(0);
    let mut ip = Ipv4Packet::new_unchecked(&mut *out);
    ip.set_version_and_header_len(4, 20);
    ip.set_total_len(u16::try_from(len).ok()?);
    ip.set_ttl(64);
    ip.set_protocol(ipv4::protocol::ICMP);
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
    ip.fill_checksum();
    let mut icmp = Icmpv4Packet::new_unchecked(ip.payload_mut());
    icmp.set_msg_type(error.msg_type);
    icmp.set_code(error.code);
    icmp.set_rest_of_header(error.rest);
    icmp.data_mut().copy_from_slice(quote);
    icmp.fill_checksum();
    Some(len)
}
