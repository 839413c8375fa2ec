//! The per-core worker: classifies each frame, keeps this core's connections, and rewrites.
//!
//! [`Worker::handle`] is the whole per-packet decision over a byte frame: it returns a [`Verdict`]
//! (transmit on a port, hold until the next hop answers ARP, pass to the worker that owns the
//! connection, consumed, or drop for a counted reason) and rewrites the frame in place.
//! [`poll::Poller`] drives it over any [`poll::PacketIo`]: DPDK mbufs in fnatd, plain byte frames in
//! tests. One worker runs on one core and owns its connection table, local ports, scheduler state,
//! per-server connection counts and counters; it reads the shared [`Snapshot`] and neighbour table,
//! which the control lcore replaces between bursts. Nothing here allocates or panics per packet: the
//! buffers below are sized once and only grow when the configuration changes. Nothing locks per
//! packet either, with one exception: opening or ending a connection of a persistent service takes
//! one shard lock of the gateway-wide persistence templates (see `open` and `lb::persist`).

pub mod counts;
mod frag;
mod icmp;
mod kernel;
mod l2;
pub mod mem_io;
mod open;
pub mod poll;
pub mod shared;
pub mod stats;
mod sync;

use std::net::Ipv4Addr;
use std::sync::Arc;

pub use l2::Outgoing;
pub use shared::{DestConns, Learned};
pub use stats::{DropReason, WorkerStats};
pub use sync::template_record;

use ctrl::vocab::Counters;

use self::counts::Source;
use crate::lb::conn::{CONN_F_NO_OUTPUT, CONN_F_REPLIED, ConnIdx};
use crate::lb::rewrite::{self, Endpoints};
use crate::lb::tcp_state::{StateDir, next_state};
use crate::lb::{Conn, ConnTable, DestId, Dir, FlowKey, LocalAddrPool, Protocol, SchedState, TcpState};
use crate::lb::{FwdMethod, Templates, tunnel};
use crate::net::{NeighTable, PortIdx};
use crate::packet::{self, EtherType, EthernetFrame, Ipv4Packet, TcpFlags, TcpPacket, UdpPacket};
use crate::snapshot::Snapshot;
use poll::PacketBuf;

/// What to do with a frame after [`Worker::handle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Transmit the (rewritten) frame on this port.
    Tx(PortIdx),
    /// The frame is ready but for its MAC addresses: keep it until `next_hop` answers ARP, then
    /// send it on `port` (see [`Worker::fill_l2`]).
    Hold {
        /// The egress port.
        port: PortIdx,
        /// The neighbour being resolved.
        next_hop: Ipv4Addr,
    },
    /// Pass the frame, unchanged, to the worker with this index: it owns the connection.
    Redirect(u16),
    /// The frame was the last missing fragment of a datagram of this many bytes (a whole frame):
    /// take it with [`Worker::take_reassembled`] into a buffer that size and handle that. (A `u32`,
    /// not a `usize`: the verdict stays 8 bytes, returned in registers through the hot path.)
    Reassembled(u32),
    /// The frame is for the gateway's kernel: pass it, unchanged, to the kernel twin of the port
    /// it arrived on (`kernel`).
    ToKernel,
    /// The frame was for the gateway itself and needs nothing more (an ARP reply it learned from).
    Consumed,
    /// Drop the frame, counted under this reason.
    Drop(DropReason),
}

/// Identity of a worker among its peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerId {
    /// This worker's index, 0-based.
    pub index: u16,
    /// How many workers the gateway runs.
    pub count: u16,
}

/// One core's forwarding state.
#[derive(Debug)]
pub struct Worker {
    id: WorkerId,
    snap: Arc<Snapshot>,
    neigh: Arc<NeighTable>,
    sched: Vec<SchedState>,
    conns: ConnTable,
    templates: Arc<Templates>,
    laddr: LocalAddrPool,
    dest_conns: counts::DestCounts,
    l2: l2::L2State,
    /// The flow keys and hashes of the last burst's prefetch, in frame order, and how far the
    /// lookups have used them (see [`Worker::flow_hash`]).
    hints: [(FlowKey, u32); poll::BURST],
    hints_len: usize,
    hints_next: usize,
    /// Bumped by every new snapshot and neighbour table: the tallies' cached next hops of an older
    /// generation are not used (see `l2::Worker::send_to_dest`).
    route_gen: u64,
    /// The rate of the ICMP errors this worker sends (`icmp`).
    icmp_errors: crate::net::TokenBucket,
    /// This worker's share of each port's rate toward its kernel twin (`kernel`).
    kernel: kernel::KernelBuckets,
    /// IPv4 datagrams being reassembled (`frag`).
    reasm: crate::net::reasm::Reassembly,
    /// Real servers that left a client's SYN unanswered since the control lcore last took them
    /// (passive health evidence; at most [`UNANSWERED_MAX`]).
    unanswered: Vec<DestId>,
    /// Connections noted for the backups since the control lcore last took them (`sync`).
    sync_out: Vec<crate::ha::sync::SyncRecord>,
    /// The next table entry of a resync in progress (`sync`).
    resync_at: Option<usize>,
    /// This worker's counters.
    pub stats: WorkerStats,
}

/// Passive health evidence a worker keeps between two polls at most.
const UNANSWERED_MAX: usize = 64;

/// A placeholder for the unused hint slots.
const NO_FLOW: FlowKey =
    FlowKey { src: Ipv4Addr::UNSPECIFIED, dst: Ipv4Addr::UNSPECIFIED, sport: 0, dport: 0, proto: Protocol::Tcp };

const ETH_HLEN: usize = packet::ethernet::HEADER_LEN;
const IPV4_HLEN: usize = packet::ipv4::HEADER_LEN;

/// The fields of a packet that the decision needs, read before anything is rewritten.
#[derive(Clone, Copy, Debug)]
struct Parsed {
    key: FlowKey,
    tcp_flags: TcpFlags,
    /// The IPv4 total length (what the statistics count as bytes).
    len: u16,
}

/// What the IPv4 checks found.
enum Ipv4Kind {
    Transport(Parsed),
    Icmp,
    /// A TCP/UDP packet whose TTL runs out here.
    TtlExpired,
    /// A fragment, for reassembly.
    Fragment,
}

impl Worker {
    /// A worker over `snap` and `neigh` with its own connection table and local ports, and the
    /// gateway's persistence templates (one table shared by every worker).
    pub fn new(
        id: WorkerId,
        snap: Arc<Snapshot>,
        neigh: Arc<NeighTable>,
        conns: ConnTable,
        laddr: LocalAddrPool,
        templates: Arc<Templates>,
    ) -> Self {
        let mut w = Self {
            id,
            snap: Arc::new(Snapshot::default()),
            neigh,
            sched: Vec::new(),
            conns,
            templates,
            laddr,
            dest_conns: counts::DestCounts::new(usize::from(id.index)),
            l2: l2::L2State::default(),
            hints: [(NO_FLOW, 0); poll::BURST],
            hints_len: 0,
            hints_next: 0,
            route_gen: 0,
            icmp_errors: crate::net::TokenBucket::new(icmp::ERROR_RATE, icmp::ERROR_BURST),
            kernel: kernel::KernelBuckets::default(),
            unanswered: Vec::with_capacity(UNANSWERED_MAX),
            sync_out: Vec::with_capacity(sync::SYNC_OUT_MAX),
            resync_at: None,
            reasm: crate::net::reasm::Reassembly::new(crate::net::reasm::ReasmLimits::default()),
            stats: WorkerStats::default(),
        };
        w.set_snapshot(snap);
        w
    }

    /// This worker's identity.
    pub fn id(&self) -> WorkerId {
        self.id
    }

    /// This worker's connections.
    pub fn conns(&self) -> &ConnTable {
        &self.conns
    }

    /// The neighbours in the table this worker reads (static and learned).
    pub fn neigh_len(&self) -> usize {
        self.neigh.len()
    }

    /// The local-port pool of this worker.
    pub fn local_addrs(&self) -> &LocalAddrPool {
        &self.laddr
    }

    /// The configuration this worker forwards with.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snap
    }

    /// Connections per real server on this worker.
    pub fn dest_conns(&self) -> impl Iterator<Item = (DestId, DestConns)> + '_ {
        self.dest_conns.conns()
    }

    /// What this worker counted per real server (and for the real servers it no longer tracks, per
    /// service) since it started.
    pub fn traffic(&self) -> impl Iterator<Item = (Source, Counters)> + '_ {
        self.dest_conns.traffic()
    }

    /// Switches to a new configuration. Connections stay as they are: a connection keeps its real
    /// server, local port and state whatever the new configuration says. Scheduler state carries
    /// over for services that remain (adjusted to their new real servers, as IPVS does); new
    /// local addresses get this worker's share of ports; worker 0 announces new VIPs.
    pub fn set_snapshot(&mut self, snap: Arc<Snapshot>) {
        let old = std::mem::replace(&mut self.snap, snap);
        self.route_gen += 1;
        let snap = &self.snap;
        // Moved, not cloned: lblc/lblcr states hold tables of megabytes.
        let mut states: Vec<Option<SchedState>> = std::mem::take(&mut self.sched).into_iter().map(Some).collect();
        self.sched = snap
            .services
            .iter()
            .map(|s| match old.services.find(&s.key) {
                Some((i, o)) if o.scheduler == s.scheduler => {
                    let mut st = states
                        .get_mut(i as usize)
                        .and_then(Option::take)
                        .unwrap_or_else(|| SchedState::new(s.scheduler, s.flags, &s.dests));
                    st.set_flags(s.flags);
                    if o.dests != s.dests {
                        st.dests_changed(&s.dests);
                    }
                    st
                }
                _ => SchedState::new(s.scheduler, s.flags, &s.dests),
            })
            .collect();
        for s in snap.services.iter() {
            for &a in &s.laddrs {
                self.laddr.add(a, snap.lip_steering(a));
            }
        }
        self.dest_conns.rebind(snap);
        self.kernel.rebuild(&old, snap);
        if self.id.index == 0 {
            self.l2.announce_new_vips(snap);
        }
    }

    /// Queues gratuitous ARPs for `addrs` (the floating addresses VRRP just took).
    pub fn announce(&mut self, addrs: &[Ipv4Addr]) {
        self.l2.announce(&self.snap, addrs);
    }

    /// Switches to a new neighbour table.
    pub fn set_neigh(&mut self, neigh: Arc<NeighTable>) {
        self.neigh = neigh;
        self.route_gen += 1;
    }

    /// Decides what happens to the frame in `buf`, received on `rx_port` at `now` (milliseconds),
    /// rewriting it in place when it is forwarded or answered (growing it for a tunnel, shrinking it
    /// into an ICMP error). Counts what it forwards and answers; the caller counts drops (so that
    /// drops decided later, e.g. a full TX queue, are counted in the same place).
    pub fn handle<B: PacketBuf>(&mut self, buf: &mut B, rx_port: PortIdx, now: u64) -> Verdict {
        let r = match EthernetFrame::new_checked(buf.data()).map(|e| e.ethertype()) {
            Err(_) => Err(DropReason::EthTruncated),
            Ok(EtherType::ARP) => self.arp(buf.data_mut(), rx_port, now),
            Ok(EtherType::IPV4) => self.ipv4(buf, rx_port, now),
            Ok(EtherType::VLAN | EtherType::QINQ) => Err(DropReason::Vlan),
            Ok(_) => Err(DropReason::NotIpv4),
        };
        r.unwrap_or_else(Verdict::Drop)
    }

    /// Starts loading what a burst's frames will look up, in two stages (the index slots, then the
    /// connections they name), so that the cache misses of a large table overlap instead of
    /// following one another. A hint only: frames that are not plain IPv4 TCP/UDP are skipped, and
    /// nothing is checked or changed but the hashes kept for the lookups of the frames that follow
    /// (so each frame's flow is hashed once).
    pub fn prefetch<B: PacketBuf>(&mut self, bufs: &[B]) {
        let mut n = 0;
        for b in bufs.iter().take(poll::BURST) {
            if let Some(k) = flow_hint(b.data()) {
                self.hints[n] = (k, self.conns.prefetch_slot(&k));
                n += 1;
            }
        }
        for &(_, h) in &self.hints[..n] {
            self.conns.prefetch_conn(h);
        }
        self.hints_len = n;
        self.hints_next = 0;
    }

    /// The connection-table hash of `key`: the one the prefetch computed when this frame's hint is
    /// among those not yet used (frames are handled in the order they were prefetched; frames
    /// dropped before their lookup leave theirs behind, skipped here), else computed now (a frame
    /// that was not prefetched: redirected, or handled alone). A hint is taken only for an equal
    /// key, so a stale one can never give a wrong hash.
    #[inline]
    fn flow_hash(&mut self, key: &FlowKey) -> u32 {
        for j in self.hints_next..self.hints_len {
            let (k, h) = self.hints[j];
            if k == *key {
                self.hints_next = j + 1;
                return h;
            }
        }
        self.conns.hash_of(key)
    }

    /// Removes up to `budget` expired connections, releasing their local ports and templates (and
    /// frees the datagrams whose fragments stopped coming).
    pub fn expire(&mut self, now: u64, budget: usize) -> usize {
        self.expire_fragments(now);
        let Self { conns, laddr, stats, dest_conns, snap, templates, .. } = self;
        let n = conns.expire(now, budget, |c| {
            if c.method == FwdMethod::FullNat {
                laddr.release(c.lip, c.lport);
            }
            dest_conns.remove(snap, c);
            // The connection ended when it expired; its template's timeout runs from then.
            templates.release(c.tmpl, c.expires.min(now));
        });
        stats.conns_expired += n as u64;
        n
    }

    fn ipv4<B: PacketBuf>(&mut self, buf: &mut B, rx_port: PortIdx, now: u64) -> Result<Verdict, DropReason> {
        let kind = match self.parse(buf.data(), rx_port) {
            Ok(k) => k,
            // Link-local multicast (VRRP's 224.0.0.18, IPVS's sync group 224.0.0.81): the kernel's.
            Err(DropReason::EthNotForUs) => return self.link_multicast(buf.data(), rx_port, now),
            // Another protocol (VRRP to a unicast peer, GRE, OSPF): the kernel's, if to a port's
            // address (the IPv4 header was checked).
            Err(r @ DropReason::UnsupportedProtocol) => return self.unhandled(r, ipv4_addrs(buf.data()), rx_port, now),
            Err(e) => return Err(e),
        };
        let r = match kind {
            Ipv4Kind::Icmp => self.icmp(buf, now),
            Ipv4Kind::Transport(p) => self.forward(buf, p, now),
            Ipv4Kind::TtlExpired => {
                let (src, dst) = ipv4_addrs(buf.data());
                if self.kernel_bound(dst, rx_port) {
                    self.pass_to_kernel(rx_port, src, now)
                } else {
                    self.time_exceeded(buf, now)
                }
            }
            Ipv4Kind::Fragment => self.reassemble(buf.data(), now),
        };
        match r {
            // Nothing of fnatd's: the kernel's, if the packet is for a port's address (the frame is
            // as it arrived: these are decided before anything is rewritten).
            Err(
                reason @ (DropReason::NotForUs
                | DropReason::NoService
                | DropReason::NoConn
                | DropReason::Icmp
                | DropReason::IcmpNoConn),
            ) => self.unhandled(reason, ipv4_addrs(buf.data()), rx_port, now),
            r => r,
        }
    }

    fn forward<B: PacketBuf>(&mut self, buf: &mut B, p: Parsed, now: u64) -> Result<Verdict, DropReason> {
        let hash = self.flow_hash(&p.key);
        let hit = match self.conns.lookup_hashed(&p.key, hash) {
            // IPVS's conn_reuse_mode 1: a new SYN on a connection in TIME_WAIT (the client reuses its
            // port) ends that connection and is scheduled afresh.
            Some((idx, Dir::In)) if self.is_reused(idx, &p) => {
                self.remove_conn(idx, now);
                None
            }
            Some((idx, _)) if self.snap.expire_nodest_conn && self.is_orphan(idx) => {
                // expire_nodest_conn: the real server was deleted; end the connection, drop the packet.
                self.remove_conn(idx, now);
                return Err(DropReason::DestRemoved);
            }
            Some((idx, dir)) if !self.conns.is_expired(idx, now) => Some((idx, dir)),
            Some((idx, _)) => {
                self.remove_conn(idx, now);
                None
            }
            None => None,
        };
        let (idx, dir) = match hit {
            Some(h) => h,
            None if self.snap.services.is_laddr(p.key.dst) => {
                // A reply to a local port: only the worker that chose the port can hold its connection.
                let k = p.key;
                let owner = self.laddr.owner(k.dst, k.src, k.sport, k.dport).unwrap_or(self.id.index);
                return self.at_owner(owner, DropReason::NoConn);
            }
            None => match self.open(&p, now)? {
                open::Opened::Here(idx, dir) => (idx, dir),
                open::Opened::Elsewhere(owner) => return self.at_owner(owner, DropReason::NoConn),
            },
        };
        self.update_state(idx, dir, p.tcp_flags, now);
        let conn = *self.conns.get(idx);
        match dir {
            Dir::In => self.stats.fwd_in += 1,
            Dir::Out => self.stats.fwd_out += 1,
        }
        self.dest_conns.packet(conn.tally, dir, p.len);
        if p.len > self.snap.min_mtu
            && let Some(v) = self.beyond_mtu(buf, &conn, dir, now)
        {
            return v;
        }
        self.transmit(buf, &conn, dir, now)
    }

    /// For a packet with no connection here: passed to `owner` when that is another worker, else
    /// dropped for `reason` (the owner has no connection for it either).
    #[inline]
    fn at_owner(&self, owner: u16, reason: DropReason) -> Result<Verdict, DropReason> {
        if owner == self.id.index { Err(reason) } else { Ok(Verdict::Redirect(owner)) }
    }

    /// Sends a packet of `conn` travelling in `dir` the way the connection's method says: FULLNAT and
    /// NAT rewrite addresses; DR hands the packet to the real server on the link; TUN wraps it in an
    /// outer header to the real server. DR and TUN change nothing but the TTL, one less, as every
    /// method does (IPVS's `decrement_ttl`). (A packet of a DR or TUN connection coming back through
    /// the gateway, which those methods do not expect, is routed on the same way.)
    fn transmit<B: PacketBuf>(&mut self, buf: &mut B, conn: &Conn, dir: Dir, now: u64) -> Result<Verdict, DropReason> {
        if let Some(to) = Endpoints::of(conn, dir) {
            let frame = buf.data_mut();
            rewrite::rewrite(&mut frame[ETH_HLEN..], IPV4_HLEN, conn.proto, &to);
            if dir == Dir::In && to.dst == conn.rip {
                return self.send_to_dest(frame, conn.tally, conn.rip, now);
            }
            return self.send_to(frame, to.dst, now);
        }
        match (conn.method, dir) {
            (FwdMethod::Tun, Dir::In) => self.encapsulate(buf, conn.rip, now),
            (_, Dir::In) => {
                // DR: the real server must be on one of our links, reached by its own MAC address.
                if self.snap.routes.lookup(conn.rip).is_some_and(|(_, nh)| nh != conn.rip) {
                    return Err(DropReason::DrNotOnLink);
                }
                rewrite::decrement_ttl(&mut buf.data_mut()[ETH_HLEN..]);
                self.send_to(buf.data_mut(), conn.rip, now)
            }
            (_, Dir::Out) => {
                rewrite::decrement_ttl(&mut buf.data_mut()[ETH_HLEN..]);
                self.send_to(buf.data_mut(), conn.cip, now)
            }
        }
    }

    /// TUN: wraps the packet in an outer IPv4 header from the egress port's address to `rip`. A
    /// packet that would then exceed the port's MTU is answered with "fragmentation needed" when it
    /// has Don't Fragment set; otherwise the outer packet (whose DF is the inner one's) leaves in
    /// fragments, as IPVS's tunnel does.
    fn encapsulate<B: PacketBuf>(&mut self, buf: &mut B, rip: Ipv4Addr, now: u64) -> Result<Verdict, DropReason> {
        let (port, nh) = self.snap.routes.lookup(rip).ok_or(DropReason::NoRoute)?;
        let iface = self.snap.ifaces.get(usize::from(port)).ok_or(DropReason::NoRoute)?;
        let src = iface.addr_toward(nh).ok_or(DropReason::NoRoute)?;
        let mtu = iface.mtu;
        let inner = Ipv4Packet::new_unchecked(&buf.data()[ETH_HLEN..]);
        let (total, df) = (inner.total_len(), inner.dont_frag());
        if usize::from(total) + tunnel::OVERHEAD > usize::from(mtu) && df {
            let mtu = mtu.saturating_sub(u16::try_from(tunnel::OVERHEAD).unwrap_or(u16::MAX));
            return self.frag_needed(buf, mtu, now);
        }
        // Ethernet padding must not travel inside the tunnel.
        buf.truncate(ETH_HLEN + usize::from(total));
        rewrite::decrement_ttl(&mut buf.data_mut()[ETH_HLEN..]);
        if !buf.prepend(tunnel::OVERHEAD) {
            return Err(DropReason::NoHeadroom);
        }
        let ident = self.l2.next_ident();
        let frame = buf.data_mut();
        let (head, inner) = frame.split_at_mut(ETH_HLEN + tunnel::OVERHEAD);
        tunnel::write_outer(&mut head[ETH_HLEN..], &Ipv4Packet::new_unchecked(&*inner), total, src, rip, ident);
        EthernetFrame::new_unchecked(&mut head[..ETH_HLEN]).set_ethertype(EtherType::IPV4);
        self.stats.tunnelled += 1;
        self.send_to(frame, rip, now)
    }

    /// Validates the headers and reads what the decision needs. After it succeeds the frame holds an
    /// option-less IPv4 header with a valid checksum, unfragmented unless it says `Fragment`, and
    /// for TCP/UDP a complete transport header, and a TTL above 1 unless it says `TtlExpired`.
    fn parse(&self, frame: &[u8], rx_port: PortIdx) -> Result<Ipv4Kind, DropReason> {
        let eth = EthernetFrame::new_unchecked(frame);
        match self.snap.ifaces.get(usize::from(rx_port)) {
            Some(iface) if iface.mac == eth.dst_addr() => {}
            _ => return Err(DropReason::EthNotForUs),
        }
        let ip = Ipv4Packet::new_checked(eth.payload()).map_err(|e| match e {
            packet::Error::Truncated => DropReason::IpTruncated,
            packet::Error::Malformed => DropReason::IpMalformed,
        })?;
        if !ip.verify_checksum() {
            return Err(DropReason::IpChecksum);
        }
        if usize::from(ip.header_len()) != IPV4_HLEN {
            return Err(DropReason::IpOptions);
        }
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        if is_martian(src) {
            return Err(DropReason::Martian);
        }
        if src == dst {
            return Err(DropReason::Land);
        }
        if ip.is_fragment() {
            return Ok(Ipv4Kind::Fragment);
        }
        let (proto, sport, dport, tcp_flags) = match ip.protocol() {
            packet::ipv4::protocol::TCP => {
                let tcp = TcpPacket::new_checked(ip.payload()).map_err(|_| DropReason::L4Malformed)?;
                (Protocol::Tcp, tcp.src_port(), tcp.dst_port(), tcp.flags())
            }
            packet::ipv4::protocol::UDP => {
                let udp = UdpPacket::new_checked(ip.payload()).map_err(|_| DropReason::L4Malformed)?;
                (Protocol::Udp, udp.src_port(), udp.dst_port(), TcpFlags::empty())
            }
            packet::ipv4::protocol::ICMP => return Ok(Ipv4Kind::Icmp),
            _ => return Err(DropReason::UnsupportedProtocol),
        };
        if sport == 0 || dport == 0 {
            return Err(DropReason::ZeroPort);
        }
        if ip.ttl() <= 1 {
            // A router's answer (IPVS's decrement_ttl); no connection is made or moved.
            return Ok(Ipv4Kind::TtlExpired);
        }
        Ok(Ipv4Kind::Transport(Parsed {
            key: FlowKey { src, dst, sport, dport, proto },
            tcp_flags,
            len: ip.total_len(),
        }))
    }

    /// Moves the TCP state machine, keeps the per-server active/inactive counts, and pushes the
    /// expiry out by the new state's timeout. A client's SYN again on a connection its real
    /// server never answered is passive health evidence against the server (`unanswered`).
    fn update_state(&mut self, idx: ConnIdx, dir: Dir, flags: TcpFlags, now: u64) {
        let Self { snap, conns, dest_conns, unanswered, stats, .. } = self;
        let timeouts = &snap.timeouts;
        let conn = conns.get_mut(idx);
        let state_before = conn.state;
        let timeout = match conn.proto {
            Protocol::Tcp => {
                let sdir = match dir {
                    Dir::Out => {
                        conn.flags = (conn.flags & !CONN_F_NO_OUTPUT) | CONN_F_REPLIED;
                        StateDir::Output
                    }
                    Dir::In => {
                        if conn.flags & CONN_F_REPLIED == 0
                            && conn.state == TcpState::SynRecv as u8
                            && is_lone_syn(flags)
                        {
                            note_unanswered(unanswered, stats, conn.dest);
                        }
                        if conn.flags & CONN_F_NO_OUTPUT != 0 { StateDir::InputOnly } else { StateDir::Input }
                    }
                };
                let old = TcpState::from_u8(conn.state);
                let state = next_state(old, sdir, flags.bits());
                conn.state = state as u8;
                let (was, is) = (old == TcpState::Established, state == TcpState::Established);
                if was != is {
                    dest_conns.established(snap, conn.tally, is);
                }
                timeouts.tcp(state)
            }
            Protocol::Udp => timeouts.udp,
        };
        conn.expires = now.saturating_add(timeout);
        if snap.sync_master {
            let changed = conn.state != state_before;
            self.sync_note(idx, changed, now);
        }
    }

    /// Whether the connection's real server is no longer configured.
    #[inline]
    fn is_orphan(&self, idx: ConnIdx) -> bool {
        self.snap.services.slot_of(self.conns.get(idx).dest).is_none()
    }

    /// Whether a lone SYN from the client reuses the flow of a connection in TIME_WAIT.
    #[inline]
    fn is_reused(&self, idx: ConnIdx, p: &Parsed) -> bool {
        let c = self.conns.get(idx);
        c.proto == Protocol::Tcp && is_lone_syn(p.tcp_flags) && TcpState::from_u8(c.state) == TcpState::TimeWait
    }

    /// Removes a connection, releasing its local port and its template.
    fn remove_conn(&mut self, idx: ConnIdx, now: u64) {
        if let Some(c) = self.conns.remove(idx) {
            if c.method == FwdMethod::FullNat {
                self.laddr.release(c.lip, c.lport);
            }
            self.dest_conns.remove(&self.snap, &c);
            // An expired connection ended when it expired, not when a packet found it.
            self.templates.release(c.tmpl, c.expires.min(now));
            self.stats.conns_expired += 1;
        }
    }

    /// The gateway's persistence templates.
    pub fn templates(&self) -> &Arc<Templates> {
        &self.templates
    }

    /// Takes the real servers that left a client's SYN unanswered since the last call (one per
    /// retransmitted SYN).
    pub fn drain_unanswered(&mut self, mut f: impl FnMut(DestId)) {
        for d in self.unanswered.drain(..) {
            f(d);
        }
    }
}

/// The flow key of a plain IPv4 TCP/UDP frame (no options), read without any check: a prefetch
/// hint, never a decision. The offsets are the packet views' (`packet::*::field`), shifted by the
/// headers before each.
#[inline]
fn flow_hint(f: &[u8]) -> Option<FlowKey> {
    use packet::{ethernet::field as eth, ipv4::field as ip, tcp::field as tcp, udp::field as udp};
    /// Version 4, a header of 5 32-bit words: no options.
    #[allow(clippy::cast_possible_truncation)]
    const PLAIN_VER_IHL: u8 = 0x40 | (IPV4_HLEN / 4) as u8;
    const IP: usize = ETH_HLEN;
    const L4: usize = ETH_HLEN + IPV4_HLEN;
    let h = f.get(..L4 + tcp::DST_PORT.end.max(udp::DST_PORT.end))?;
    let at = |r: core::ops::Range<usize>, base: usize| &h[base + r.start..base + r.end];
    if at(eth::ETHERTYPE, 0) != EtherType::IPV4.0.to_be_bytes() || h[IP + ip::VER_IHL] != PLAIN_VER_IHL {
        return None;
    }
    let proto = Protocol::from_ip_proto(h[IP + ip::PROTOCOL])?;
    let (sport, dport) = match proto {
        Protocol::Tcp => (tcp::SRC_PORT, tcp::DST_PORT),
        Protocol::Udp => (udp::SRC_PORT, udp::DST_PORT),
    };
    let addr = |r| Ipv4Addr::from(<[u8; 4]>::try_from(at(r, IP)).unwrap_or_default());
    let port = |r| u16::from_be_bytes(<[u8; 2]>::try_from(at(r, L4)).unwrap_or_default());
    Some(FlowKey { src: addr(ip::SRC_ADDR), dst: addr(ip::DST_ADDR), sport: port(sport), dport: port(dport), proto })
}

/// The source and destination addresses of a frame whose IPv4 header was checked.
#[inline]
fn ipv4_addrs(frame: &[u8]) -> (Ipv4Addr, Ipv4Addr) {
    let ip = Ipv4Packet::new_unchecked(&frame[ETH_HLEN..]);
    (ip.src_addr(), ip.dst_addr())
}

/// Notes that real server `dest` left a client unanswered (a retransmitted SYN): kept for the
/// control lcore while there is room, counted either way.
#[cold]
fn note_unanswered(unanswered: &mut Vec<DestId>, stats: &mut WorkerStats, dest: DestId) {
    stats.syn_unanswered += 1;
    if unanswered.len() < UNANSWERED_MAX {
        unanswered.push(dest);
    }
}

/// A TCP segment that may open a connection: SYN without ACK, RST or FIN.
#[inline]
fn is_lone_syn(f: TcpFlags) -> bool {
    f.contains(TcpFlags::SYN) && !f.contains(TcpFlags::ACK) && !f.contains(TcpFlags::RST) && !f.contains(TcpFlags::FIN)
}

/// A source address no client can have.
#[inline]
fn is_martian(a: Ipv4Addr) -> bool {
    a.octets()[0] == 0 || a.is_loopback() || a.is_multicast() || a.is_broadcast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::MacAddr;
    use crate::packet::builder::{FrameSpec, TcpSpec};

    #[test]
    fn a_verdict_and_its_result_stay_small_enough_for_registers() {
        // Every layer of the per-packet path returns one; measured: a 16-byte verdict cost the
        // established FULLNAT path about 10 ns.
        assert_eq!(std::mem::size_of::<Verdict>(), 8);
        assert!(std::mem::size_of::<Result<Verdict, DropReason>>() <= 16);
    }

    #[test]
    fn the_prefetch_hint_reads_the_flow_of_plain_frames_only() {
        let (a, b) = (Ipv4Addr::new(198, 18, 0, 7), Ipv4Addr::new(10, 0, 0, 100));
        let spec = FrameSpec::new((MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2])), a, b);
        let tcp = spec.tcp(TcpSpec::new(40000, 80, TcpFlags::SYN), b"");
        let key = FlowKey { src: a, dst: b, sport: 40000, dport: 80, proto: Protocol::Tcp };
        assert_eq!(flow_hint(&tcp), Some(key));
        let udp = spec.udp(5353, 53, b"x");
        assert_eq!(flow_hint(&udp), Some(FlowKey { sport: 5353, dport: 53, proto: Protocol::Udp, ..key }));
        assert_eq!(flow_hint(&tcp[..37]), None, "cut short");
        let mut options = tcp.clone();
        options[14] = 0x46;
        assert_eq!(flow_hint(&options), None, "IP options");
        let mut arp = tcp;
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(flow_hint(&arp), None);
    }

    /// Handles a fixture step and checks its exact output.
    fn step(w: &mut Worker, st: &crate::fixtures::Step, frame: &mut Vec<u8>) {
        let crate::fixtures::Expect::Tx { port, frame: want } = &st.expect else { panic!("a forwarding step") };
        assert_eq!(w.handle(frame, st.port, st.at_ms), Verdict::Tx(*port));
        assert_eq!(frame, want);
    }

    #[test]
    fn a_burst_hashes_each_flow_once_and_frames_out_of_its_order_still_find_their_connection() {
        use crate::fixtures::{self, Flow};
        let snap = fixtures::snapshot();
        let mut w = fixtures::worker(&snap, 0, 1, &fixtures::templates());
        let flows = [Flow::tcp(40000, 0, fixtures::FIRST_LPORT), Flow::tcp(40001, 1, fixtures::FIRST_LPORT + 1)];
        for f in &flows {
            for st in [f.tcp_in(0, TcpFlags::SYN, 1, 0, b""), f.tcp_out(0, TcpFlags::SYN | TcpFlags::ACK, 100, 2, b"")]
            {
                step(&mut w, &st, &mut st.frame.clone());
            }
        }
        let data: Vec<_> = flows.iter().map(|f| f.tcp_in(0, TcpFlags::ACK, 2, 101, b"x")).collect();
        // Prefetched a, b, a; handled b (a's hint skipped, as for a frame dropped before its
        // lookup), then a (its first hint is behind: the later one is taken), then a again (no hint
        // left: hashed afresh), and a frame never prefetched.
        let mut burst = vec![data[0].frame.clone(), data[1].frame.clone(), data[0].frame.clone()];
        w.prefetch(&burst);
        assert_eq!(w.hints_len, 3);
        for (i, n) in [(1, 1), (2, 0), (0, 0)] {
            step(&mut w, &data[n], &mut burst[i]);
        }
        assert_eq!(w.hints_next, 3, "every hint used or passed");
        step(&mut w, &data[1], &mut data[1].frame.clone());
        let key = |f: &Flow| FlowKey {
            src: *f.client.ip(),
            dst: *f.vip.ip(),
            sport: f.client.port(),
            dport: f.vip.port(),
            proto: Protocol::Tcp,
        };
        assert_eq!(w.flow_hash(&key(&flows[0])), w.conns.hash_of(&key(&flows[0])));
    }

    #[test]
    fn a_syn_sent_again_to_a_server_that_never_answered_is_passive_evidence_against_it() {
        use crate::fixtures::{self, Flow};
        let snap = fixtures::snapshot();
        let mut w = fixtures::worker(&snap, 0, 1, &fixtures::templates());
        let taken = |w: &mut Worker| {
            let mut v = Vec::new();
            w.drain_unanswered(|d| v.push(d));
            v
        };
        let f = Flow::tcp(40000, 0, fixtures::FIRST_LPORT);
        let syn = f.tcp_in(0, TcpFlags::SYN, 1, 0, b"");
        step(&mut w, &syn, &mut syn.frame.clone());
        assert_eq!(taken(&mut w), vec![], "a first SYN is no evidence");
        for at in [1000, 3000] {
            let again = f.tcp_in(at, TcpFlags::SYN, 1, 0, b"");
            step(&mut w, &again, &mut again.frame.clone());
        }
        let dest = w.conns().iter().next().map(|(_, c)| c.dest).expect("the connection");
        assert_eq!(taken(&mut w), vec![dest, dest], "each SYN sent again");
        assert_eq!(w.stats.syn_unanswered, 2);
        // Once the server answered, a SYN again is the client's business.
        let g = Flow::tcp(40001, 1, fixtures::FIRST_LPORT + 1);
        for st in [g.tcp_in(0, TcpFlags::SYN, 1, 0, b""), g.tcp_out(0, TcpFlags::SYN | TcpFlags::ACK, 100, 2, b"")] {
            step(&mut w, &st, &mut st.frame.clone());
        }
        let again = g.tcp_in(1000, TcpFlags::SYN, 1, 0, b"");
        w.handle(&mut again.frame.clone(), again.port, 1000);
        assert_eq!(taken(&mut w), vec![]);
    }

    #[test]
    fn a_floating_vip_another_gateway_holds_is_neither_answered_nor_served() {
        use crate::fixtures::{self, CLIENT, CLIENT_MAC, Flow, LAN, VIP};
        use crate::snapshot::Floating;
        let snap = fixtures::snapshot();
        let floating = |standby: Vec<Ipv4Addr>| {
            Arc::new(snap.with_services(snap.services.clone()).with_floating(Floating::new(vec![VIP], standby)))
        };
        let mut w = fixtures::worker(&floating(vec![VIP]), 0, 1, &fixtures::templates());
        let mut announced = Vec::new();
        w.drain_outgoing(|o| announced.push(o));
        assert!(
            !announced.iter().any(|o| matches!(o, Outgoing::Announce { addr, .. } if *addr == VIP)),
            "VRRP announces it"
        );
        let who_has = fixtures::arp_request(CLIENT_MAC, CLIENT, VIP);
        assert_eq!(w.handle(&mut who_has.clone(), LAN, 0), Verdict::Drop(DropReason::ArpNotForUs), "no ARP answer");
        let f = Flow::tcp(40000, 0, fixtures::FIRST_LPORT);
        let syn = f.tcp_in(0, TcpFlags::SYN, 1, 0, b"");
        assert_eq!(w.handle(&mut syn.frame.clone(), syn.port, 0), Verdict::Drop(DropReason::Standby));
        assert_eq!(w.conns().len(), 0);
        // Master now: ARP answered, the connection opens, and the announcement VRRP asks for leaves.
        w.set_snapshot(floating(Vec::new()));
        assert_eq!(w.handle(&mut who_has.clone(), LAN, 1), Verdict::Tx(LAN));
        step(&mut w, &syn, &mut syn.frame.clone());
        w.announce(&[VIP]);
        let mut announced = Vec::new();
        w.drain_outgoing(|o| announced.push(o));
        assert_eq!(announced, vec![Outgoing::Announce { port: LAN, addr: VIP }]);
    }

    #[test]
    fn the_cached_next_hop_follows_new_neighbour_tables_and_snapshots() {
        use crate::fixtures::{self, DMZ_MAC, Flow, LAN_MAC, RS, RS_MAC};
        use crate::net::{NeighManager, NeighTimers, Neighbour};
        let cfg = fixtures::config(std::path::Path::new("/nonexistent"));
        let snap = fixtures::snapshot();
        let mut w = fixtures::worker(&snap, 0, 1, &fixtures::templates());
        let f = Flow::tcp(40000, 0, fixtures::FIRST_LPORT);
        for st in [f.tcp_in(0, TcpFlags::SYN, 1, 0, b""), f.tcp_out(0, TcpFlags::SYN | TcpFlags::ACK, 100, 2, b"")] {
            step(&mut w, &st, &mut st.frame.clone());
        }
        let data = f.tcp_in(0, TcpFlags::ACK, 2, 101, b"x");
        let send = |w: &mut Worker, now: u64| {
            let mut frame = data.frame.clone();
            let v = w.handle(&mut frame, data.port, now);
            (
                v,
                EthernetFrame::new_unchecked(&frame[..]).src_addr(),
                EthernetFrame::new_unchecked(&frame[..]).dst_addr(),
            )
        };
        let dmz = fixtures::DMZ;
        let solicits = |w: &mut Worker| {
            let mut asked = Vec::new();
            w.drain_outgoing(|o| asked.extend(matches!(o, Outgoing::Solicit { .. }).then_some(o)));
            asked
        };
        assert_eq!(send(&mut w, 1), (Verdict::Tx(dmz), DMZ_MAC, RS_MAC[0]), "resolved, then cached");
        assert_eq!(send(&mut w, 2), (Verdict::Tx(dmz), DMZ_MAC, RS_MAC[0]), "from the cache");
        // A new neighbour table: the real server moved to another MAC; learned, so it goes stale.
        let moved = MacAddr([2, 0, 0, 0, 0, 0x99]);
        let statics: Vec<Neighbour> = cfg.neighbours.iter().copied().filter(|n| n.addr != RS[0]).collect();
        let mut mgr = NeighManager::new(&statics, NeighTimers::default());
        mgr.learn(RS[0], moved, dmz, 10);
        w.set_neigh(mgr.publish().expect("a new table"));
        assert_eq!(send(&mut w, 20), (Verdict::Tx(dmz), DMZ_MAC, moved), "the new table's MAC");
        assert_eq!(solicits(&mut w), vec![]);
        // Still cached while fresh; once stale the slow path asks the neighbour again.
        let stale = 10 + NeighTimers::default().reachable_ms;
        assert_eq!(send(&mut w, stale - 1), (Verdict::Tx(dmz), DMZ_MAC, moved));
        assert_eq!(solicits(&mut w), vec![]);
        assert_eq!(send(&mut w, stale), (Verdict::Tx(dmz), DMZ_MAC, moved));
        assert_eq!(solicits(&mut w), vec![Outgoing::Solicit { port: dmz, target: RS[0], dst_mac: moved }]);
        // A new snapshot (here: another MAC on the DMZ port) replaces the cached hop too.
        let other = MacAddr([2, 0, 0, 0, 0, 0x77]);
        w.set_snapshot(Arc::new(Snapshot::from_config(&cfg, &[LAN_MAC, other])));
        assert_eq!(send(&mut w, stale + 1), (Verdict::Tx(dmz), other, moved), "the new snapshot's port MAC");
    }
}
