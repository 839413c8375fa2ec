//! Fragments on the worker, as IPVS has them through the kernel: arriving IPv4 fragments are
//! reassembled (nf_defrag's job) in this worker's bounded table (`net::reasm`), and the whole
//! datagram is then handled as any packet; a packet too big for its egress port gets
//! "fragmentation needed" when it has Don't Fragment set (IPVS's `ensure_mtu_is_adequate`), and is
//! otherwise forwarded and cut into fragments on the way out (the poller does that,
//! `packet::frag`).
//!
//! Fragments are hashed by the NIC on their addresses alone, so all fragments of a datagram reach
//! one worker; the reassembled datagram may belong to a connection of another worker, and is then
//! passed to it as any packet. Nothing here allocates per packet once the table's buffers have
//! grown (see `net::reasm`).

use super::poll::PacketBuf;
use super::{DropReason, ETH_HLEN, Verdict, Worker};
use crate::lb::{Conn, Dir, FwdMethod};
use crate::net::reasm::ReasmDrop;
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
