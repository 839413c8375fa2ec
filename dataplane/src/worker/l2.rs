//! The worker's own L2/L3 duties: answering ARP for the gateway's addresses, learning neighbours,
//! resolving next hops (holding packets until they answer), confirming stale neighbours,
//! and announcing VIPs with gratuitous ARP.
//!
//! A packet to a real server goes through the next hop its tally caches (`counts::Hop`; why per
//! real server is said there): valid while the worker's route generation, bumped by every new
//! snapshot (routes, port MACs) and every new neighbour table, is the one it was resolved under,
//! and while the neighbour entry is fresh (a stale one takes the slow path, which asks it again).
//!
//! Frames the gateway originates (ARP requests and announcements) are not built here: the worker
//! records them as [`Outgoing`] in a bounded outbox, and the poll loop writes them into buffers it
//! allocates from its packet I/O. Learned neighbours go to a bounded list the poll loop passes to
//! the control lcore. Both lists have a fixed capacity and never grow: what does not fit is sent
//! again on a later packet.

use std::collections::{HashSet, VecDeque};
use std::net::Ipv4Addr;

use super::counts::Hop;
use super::{DropReason, Learned, Verdict, Worker};
use crate::net::{PortIdx, arp};
use crate::packet::{ArpOperation, ArpPacket, EthernetFrame, MacAddr};
use crate::snapshot::Snapshot;

/// A frame the gateway sends on its own account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// An ARP request for `target` on `port`, to `dst_mac` (broadcast, or the neighbour to confirm it).
    Solicit {
        /// The port.
        port: PortIdx,
        /// The address asked for.
        target: Ipv4Addr,
        /// The Ethernet destination.
        dst_mac: MacAddr,
    },
    /// A gratuitous ARP announcing `addr` on `port`.
    Announce {
        /// The port.
        port: PortIdx,
        /// The announced address.
        addr: Ipv4Addr,
    },
}

/// Requests to one neighbour are sent at most this often.
const SOLICIT_INTERVAL_MS: u64 = 1000;
/// Neighbours remembered for rate limiting: a direct-mapped table (a power of two), so that a
/// flood towards many unresolved neighbours costs one lookup per packet and at most one request
/// per neighbour per interval unless two neighbours share a slot.
const SOLICIT_MEMO: usize = 4096;
/// Frames that may wait in the outbox.
const OUTBOX: usize = 64;
/// Learned neighbours that may wait for the poll loop.
const LEARNED: usize = 64;
/// VIP announcements sent per poll.
pub(super) const ANNOUNCE_PER_POLL: usize = 16;

#[derive(Debug)]
pub(super) struct L2State {
    outbox: Vec<Outgoing>,
    learned: Vec<Learned>,
    memo: Box<[(Ipv4Addr, u64); SOLICIT_MEMO]>,
    /// Every VIP announced so far (a set: a configuration of many VIPs is checked in linear time).
    announced: HashSet<Ipv4Addr>,
    to_announce: VecDeque<Outgoing>,
    ident: u16,
}

impl Default for L2State {
    fn default() -> Self {
        Self {
            outbox: Vec::with_capacity(OUTBOX),
            learned: Vec::with_capacity(LEARNED),
            memo: Box::new([(Ipv4Addr::UNSPECIFIED, 0); SOLICIT_MEMO]),
            announced: HashSet::new(),
            to_announce: VecDeque::new(),
            ident: 0,
        }
    }
}

impl L2State {
    /// The identification field for the next packet the worker originates (tunnel headers).
    pub(super) fn next_ident(&mut self) -> u16 {
        self.ident = self.ident.wrapping_add(1);
        self.ident
    }

    /// Queues a gratuitous ARP for every VIP not announced before (floating ones aside: VRRP
    /// announces those when it takes them).
    pub(super) fn announce_new_vips(&mut self, snap: &Snapshot) {
        let mut vips: Vec<Ipv4Addr> =
            snap.services.vips().filter(|&v| !self.announced.contains(&v) && !snap.floating.is_floating(v)).collect();
        vips.sort_unstable();
        vips.dedup();
        for &vip in &vips {
            self.announced.insert(vip);
        }
        self.announce(snap, &vips);
    }

    /// Queues a gratuitous ARP for each of `addrs`, on each port whose prefix holds it (every
    /// port when none does).
    pub(super) fn announce(&mut self, snap: &Snapshot, addrs: &[Ipv4Addr]) {
        for &addr in addrs {
            let on_link: Vec<usize> =
                (0..snap.ifaces.len()).filter(|&i| snap.ifaces[i].addrs.iter().any(|n| n.contains(addr))).collect();
            let ports = if on_link.is_empty() { (0..snap.ifaces.len()).collect() } else { on_link };
            for p in ports {
                if let Ok(port) = PortIdx::try_from(p) {
                    self.to_announce.push_back(Outgoing::Announce { port, addr });
                }
            }
        }
    }

    /// Whether a request to `target` may go out now (and records it if so).
    fn may_solicit(&mut self, target: Ipv4Addr, now: u64) -> bool {
        // Fibonacci hashing of the address picks the slot; the top bits are the best mixed.
        let i = (u32::from(target).wrapping_mul(0x9e37_79b1) >> (32 - SOLICIT_MEMO.trailing_zeros())) as usize;
        let slot = &mut self.memo[i % SOLICIT_MEMO];
        if slot.0 == target && slot.1 != 0 && now.saturating_sub(slot.1) < SOLICIT_INTERVAL_MS {
            return false;
        }
        *slot = (target, now.max(1));
        true
    }
}

/// Where a packet goes next.
enum NextHop {
    /// Resolved: the hop, with until when its neighbour entry is fresh (0 when it is stale).
    Ready(Hop),
    Unresolved {
        port: PortIdx,
        next_hop: Ipv4Addr,
    },
}

impl Worker {
    /// ARP: answer requests for our addresses on the port they came in on, learn the senders that
    /// talk to us (and refresh the ones we know), ignore the rest. A reply to a port's address is
    /// also passed to the kernel, when the port has a twin (the kernel resolves its own next hops).
    pub(super) fn arp(&mut self, frame: &mut [u8], rx_port: PortIdx, now: u64) -> Result<Verdict, DropReason> {
        let eth = EthernetFrame::new_unchecked(&*frame);
        let a = ArpPacket::new_checked(eth.payload()).map_err(|_| DropReason::ArpMalformed)?;
        if !a.is_ethernet_ipv4() {
            return Err(DropReason::ArpMalformed);
        }
        let (op, sha, spa, tpa) = (a.operation(), a.sender_hw_addr(), a.sender_proto_addr(), a.target_proto_addr());
        let Some(iface) = self.snap.ifaces.get(usize::from(rx_port)) else {
            return Err(DropReason::EthNotForUs);
        };
        let our_mac = iface.mac;
        let for_us = self.snap.is_own(tpa);
        let on_link = iface.addrs.iter().any(|n| n.contains(spa));
        let sane = sha.is_unicast() && sha != MacAddr::ZERO && !spa.is_unspecified() && !self.snap.is_own(spa);
        if sane && on_link && (for_us || self.neigh.lookup(spa).is_some()) && self.l2.learned.len() < LEARNED {
            self.l2.learned.push(Learned { addr: spa, mac: sha, port: rx_port });
        }
        match op {
            ArpOperation::Request if for_us => {
                arp::answer_in_place(frame, our_mac, tpa);
                self.stats.arp_replies += 1;
                Ok(Verdict::Tx(rx_port))
            }
            ArpOperation::Reply if for_us && self.kernel_bound(tpa, rx_port) => self.pass_to_kernel(rx_port, spa, now),
            ArpOperation::Reply if for_us => Ok(Verdict::Consumed),
            _ => Err(DropReason::ArpNotForUs),
        }
    }

    /// Fills in the MAC addresses of a frame for `dst` and picks its port, or holds it until the
    /// next hop is resolved.
    pub(super) fn send_to(&mut self, frame: &mut [u8], dst: Ipv4Addr, now: u64) -> Result<Verdict, DropReason> {
        match self.next_hop(dst, now)? {
            NextHop::Ready(hop) => Ok(Self::put_l2(frame, &hop)),
            NextHop::Unresolved { port, next_hop } => Ok(Verdict::Hold { port, next_hop }),
        }
    }

    /// [`Worker::send_to`] for a packet to the real server of tally `slot` at `rip`: through the
    /// next hop the tally caches while the route generation is the one it was resolved under and
    /// the neighbour entry is fresh (no route scan, no neighbour lookup), else resolved and cached.
    #[inline]
    pub(super) fn send_to_dest(
        &mut self,
        frame: &mut [u8],
        slot: u32,
        rip: Ipv4Addr,
        now: u64,
    ) -> Result<Verdict, DropReason> {
        if let Some(hop) = self.dest_conns.hop(slot, self.route_gen, now) {
            return Ok(Self::put_l2(frame, &hop));
        }
        match self.next_hop(rip, now)? {
            NextHop::Ready(hop) => {
                self.dest_conns.set_hop(slot, hop);
                Ok(Self::put_l2(frame, &hop))
            }
            NextHop::Unresolved { port, next_hop } => Ok(Verdict::Hold { port, next_hop }),
        }
    }

    #[inline]
    fn put_l2(frame: &mut [u8], hop: &Hop) -> Verdict {
        let mut eth = EthernetFrame::new_unchecked(frame);
        eth.set_src_addr(hop.src);
        eth.set_dst_addr(hop.dst);
        Verdict::Tx(hop.port)
    }

    fn next_hop(&mut self, dst: Ipv4Addr, now: u64) -> Result<NextHop, DropReason> {
        let (port, nh) = self.snap.routes.lookup(dst).ok_or(DropReason::NoRoute)?;
        let src = self.snap.ifaces.get(usize::from(port)).ok_or(DropReason::NoRoute)?.mac;
        match self.neigh.lookup(nh) {
            Some(e) if e.port == port => {
                let (mac, fresh_until) = (e.mac, e.fresh_until(&self.neigh.timers));
                // A stale entry is used while it is asked again, and not cached.
                let fresh_until = if now >= fresh_until {
                    self.solicit(port, nh, mac, now);
                    0
                } else {
                    fresh_until
                };
                Ok(NextHop::Ready(Hop { generation: self.route_gen, port, src, dst: mac, fresh_until }))
            }
            _ => {
                self.solicit(port, nh, MacAddr::BROADCAST, now);
                Ok(NextHop::Unresolved { port, next_hop: nh })
            }
        }
    }

    fn solicit(&mut self, port: PortIdx, target: Ipv4Addr, dst_mac: MacAddr, now: u64) {
        if self.l2.outbox.len() < OUTBOX && self.l2.may_solicit(target, now) {
            self.l2.outbox.push(Outgoing::Solicit { port, target, dst_mac });
        }
    }

    /// Fills in the MAC addresses of a held frame once `next_hop` is known on `port`. Returns
    /// false while it is still unknown.
    pub fn fill_l2(&self, frame: &mut [u8], port: PortIdx, next_hop: Ipv4Addr) -> bool {
        let Some(e) = self.neigh.lookup(next_hop).filter(|e| e.port == port) else {
            return false;
        };
        let Some(iface) = self.snap.ifaces.get(usize::from(port)) else {
            return false;
        };
        let mut eth = EthernetFrame::new_unchecked(frame);
        eth.set_src_addr(iface.mac);
        eth.set_dst_addr(e.mac);
        true
    }

    /// Whether the worker has frames of its own to send.
    #[inline]
    pub fn has_outgoing(&self) -> bool {
        !self.l2.outbox.is_empty() || !self.l2.to_announce.is_empty()
    }

    /// Takes the frames the worker wants to send on its own account, announcements included (a few
    /// per call); write each with [`Worker::write_outgoing`].
    pub fn drain_outgoing(&mut self, mut f: impl FnMut(Outgoing)) {
        for o in self.l2.outbox.drain(..) {
            f(o);
        }
        for _ in 0..ANNOUNCE_PER_POLL {
            let Some(o) = self.l2.to_announce.pop_front() else {
                break;
            };
            f(o);
        }
    }

    /// Takes the neighbours heard since the last call.
    pub fn drain_learned(&mut self, mut f: impl FnMut(Learned)) {
        for l in self.l2.learned.drain(..) {
            f(l);
        }
    }

    /// Writes an outgoing frame into `buf` (at least [`arp::FRAME_LEN`] bytes); returns its length.
    pub fn write_outgoing(&mut self, o: Outgoing, buf: &mut [u8]) -> Option<usize> {
        let snap = &self.snap;
        let len = match o {
            Outgoing::Solicit { port, target, dst_mac } => {
                let iface = snap.ifaces.get(usize::from(port))?;
                // Ask from the port's address on the target's link, else its first one.
                let ours = iface.addr_toward(target).unwrap_or(Ipv4Addr::UNSPECIFIED);
                arp::write_request(buf, iface.mac, ours, target, dst_mac)
            }
            Outgoing::Announce { port, addr } => {
                arp::write_gratuitous(buf, snap.ifaces.get(usize::from(port))?.mac, addr)
            }
        }?;
        self.stats.arp_requests += 1;
        Some(len)
    }
}
