//! Fragments on the worker, as IPVS has them through the kernel: arriving IPv4 fragments are
//! reassembled (nf_defrag's job) in this worker's bounded table (`net::reasm`), and the whole
//! datagram is then handled as any packet; a packet too big for its egress port gets
//! "fragmentation needed" when it has Don't Fragment set (IPVS's `ensure_mtu_is_adequate`), and is
//! otherwise forwarded and cut into fragments on the way out (the poller does that,
//! `packet::frag`).
//!
//! A NIC hashes fragments on their addresses alone, so all fragments of a datagram reach one worker,
//! but not always the one its flow's unfragmented packets reach. The whole datagram then goes where
//! they go: a client's flow to a service by the port's RSS when fnatd knows it ([`Worker::flow_owner`]),
//! a FULLNAT reply by its local port, a NAT flow by its owner (as any packet). Where the spreading
//! is unknown (`redirect` steering, e.g. af_packet's fanout) a client's datagram opens or finds its
//! connection on the worker that reassembled it. Nothing here allocates per packet once the
//! table's buffers have grown (see `net::reasm`).

use super::poll::PacketBuf;
use super::{DropReason, ETH_HLEN, Verdict, Worker};
use crate::lb::{Conn, Dir, FwdMethod};
use crate::net::reasm::{ReasmDrop, ReasmLimits, Reassembly};
use crate::packet::Ipv4Packet;

impl From<ReasmDrop> for DropReason {
    fn from(d: ReasmDrop) -> Self {
        match d {
            ReasmDrop::Overlap => DropReason::FragOverlap,
            ReasmDrop::Duplicate => DropReason::FragDuplicate,
            ReasmDrop::TooMany => DropReason::FragTooMany,
            ReasmDrop::TooBig => DropReason::FragTooBig,
            ReasmDrop::NoRoom => DropReason::FragNoRoom,
            ReasmDrop::Malformed => DropReason::FragMalformed,
            ReasmDrop::Timeout => DropReason::FragTimeout,
        }
    }
}

impl Worker {
    /// Takes a fragment into the reassembly table: held (consumed), or the last one missing, in
    /// which case the poller asks for the whole datagram ([`Worker::take_reassembled`]).
    #[cold]
    #[inline(never)]
    pub(super) fn reassemble(&mut self, frame: &[u8], now: u64) -> Result<Verdict, DropReason> {
        self.stats.frags_in += 1;
        match self.reasm.push(frame, now)? {
            None => Ok(Verdict::Consumed),
            // A frame of at most 14 + 65535 bytes.
            Some(len) => Ok(Verdict::Reassembled(u32::try_from(len).unwrap_or(u32::MAX))),
        }
    }

    /// Writes the datagram the last fragment completed into `out` (at least the length
    /// [`Verdict::Reassembled`] said) as one unfragmented frame; returns its length (0 when none is
    /// ready or `out` is too short).
    pub fn take_reassembled(&mut self, out: &mut [u8]) -> usize {
        let n = self.reasm.take(out);
        if n > 0 {
            self.stats.reassembled += 1;
        }
        n
    }

    /// The worker whose queue the NIC gives the unfragmented packets of the flow of `frame` (a whole
    /// datagram this worker reassembled), when it is another one and fnatd knows: a client's flow
    /// to a service (not a NAT one: its owner follows `lb::nat_owner`), arriving on a port whose RSS
    /// it knows. The other flows find their owner when handled (local ports, NAT).
    pub fn flow_owner(&self, frame: &[u8]) -> Option<u16> {
        if self.id.count < 2 {
            return None;
        }
        let k = super::flow_hint(frame)?;
        let (sidx, _) = self.snap.services.find_for_packet(k.proto, k.dst, k.dport)?;
        if self.snap.services.nat().scheme(sidx).is_some() {
            return None;
        }
        let q = self.snap.client_rss(k.src)?.flow_queue(k.src, k.sport, k.dst, k.dport);
        (q != self.id.index).then_some(q)
    }

    /// Replaces the reassembly table by an empty one with `limits` (at start, before traffic: the
    /// datagrams in progress are dropped).
    pub fn set_reassembly(&mut self, limits: ReasmLimits) {
        self.reasm = Reassembly::new(limits);
    }

    /// Frees the datagram the last fragment completed, which no buffer could take.
    pub fn discard_reassembled(&mut self) {
        self.reasm.discard();
    }

    /// Frees datagrams whose fragments stopped coming (IPv4's reassembly timeout), counted.
    pub(super) fn expire_fragments(&mut self, now: u64) {
        if self.reasm.in_progress() > 0 {
            let n = self.reasm.expire(now);
            self.stats.drops[DropReason::FragTimeout as usize] += n as u64;
        }
    }

    /// For a packet that may not fit its egress port (the caller saw it longer than the smallest
    /// port MTU): "fragmentation needed" when it has Don't Fragment set and does not fit; `None`
    /// to forward it (the poller fragments it if it still does not fit). TUN's own check, with the
    /// tunnel's overhead, is in `encapsulate`.
    #[cold]
    #[inline(never)]
    pub(super) fn beyond_mtu<B: PacketBuf>(
        &mut self,
        buf: &mut B,
        conn: &Conn,
        dir: Dir,
        now: u64,
    ) -> Option<Result<Verdict, DropReason>> {
        let to = match (conn.method, dir) {
            (FwdMethod::Tun, Dir::In) => return None,
            (_, Dir::In) => conn.rip,
            (_, Dir::Out) => conn.cip,
        };
        let (port, _) = self.snap.routes.lookup(to)?;
        let mtu = self.snap.ifaces.get(usize::from(port))?.mtu;
        let ip = Ipv4Packet::new_unchecked(&buf.data()[ETH_HLEN..]);
        (ip.total_len() > mtu && ip.dont_frag()).then(|| self.frag_needed(buf, mtu, now))
    }
}
