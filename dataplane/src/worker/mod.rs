//! The per-core worker: classifies each frame, keeps this core's connections, and rewrites.
//!
//! [`Worker::handle`] is the whole per-packet decision over a byte frame: it returns a [`Verdict`]
//! (transmit on a port, pass to the worker that owns the connection, or drop for a counted reason)
//! and rewrites the frame in place. [`poll::Poller`] drives it over any [`poll::PacketIo`]: DPDK mbufs
//! in fnatd, plain byte frames in tests. One worker runs on one core and owns its connection table,
//! local ports, scheduler state and counters; it reads the shared [`Snapshot`]. Nothing here
//! allocates, locks or panics per packet.

pub mod mem_io;
pub mod poll;
pub mod stats;

use std::net::Ipv4Addr;
use std::sync::Arc;

pub use stats::{DropReason, WorkerStats};

use crate::lb::conn::{CONN_F_NO_OUTPUT, ConnIdx};
use crate::lb::fullnat::{self, Endpoints};
use crate::lb::laddr::lport_owner;
use crate::lb::tcp_state::{StateDir, next_state};
use crate::lb::{
    Conn, ConnTable, Dir, FlowKey, LocalAddrPool, Protocol, SchedState, ServiceKey, TcpState,
};
use crate::net::PortIdx;
use crate::packet::{self, EtherType, EthernetFrame, Ipv4Packet, TcpFlags, TcpPacket, UdpPacket};
use crate::snapshot::Snapshot;

/// What to do with a frame after [`Worker::handle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Transmit the (rewritten) frame on this port.
    Tx(PortIdx),
    /// Pass the frame, unchanged, to the worker with this index: it owns the connection.
    Redirect(u16),
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
    sched: Vec<SchedState>,
    conns: ConnTable,
    laddr: LocalAddrPool,
    /// This worker's counters.
    pub stats: WorkerStats,
}

const ETH_HLEN: usize = packet::ethernet::HEADER_LEN;
const IPV4_HLEN: usize = 20;

/// The fields of a packet that the decision needs, read before anything is rewritten.
#[derive(Clone, Copy, Debug)]
struct Parsed {
    key: FlowKey,
    tcp_flags: TcpFlags,
}

impl Worker {
    /// A worker over `snap` with its own connection table and local ports.
    pub fn new(id: WorkerId, snap: Arc<Snapshot>, conns: ConnTable, laddr: LocalAddrPool) -> Self {
        let sched = snap
            .services
            .iter()
            .map(|s| SchedState::new(s.scheduler, &s.dests))
            .collect();
        Self {
            id,
            snap,
            sched,
            conns,
            laddr,
            stats: WorkerStats::default(),
        }
    }

    /// This worker's identity.
    pub fn id(&self) -> WorkerId {
        self.id
    }

    /// This worker's connections.
    pub fn conns(&self) -> &ConnTable {
        &self.conns
    }

    /// The local-port pool of this worker.
    pub fn local_addrs(&self) -> &LocalAddrPool {
        &self.laddr
    }

    /// Decides what happens to `frame`, received on `rx_port` at `now` (milliseconds), rewriting it in
    /// place when it is forwarded. Counts forwarded packets; the caller counts drops (so that drops
    /// decided later, e.g. a full TX queue, are counted in the same place).
    pub fn handle(&mut self, frame: &mut [u8], rx_port: PortIdx, now: u64) -> Verdict {
        match self.forward(frame, rx_port, now) {
            Ok(v) => v,
            Err(reason) => Verdict::Drop(reason),
        }
    }

    /// Removes up to `budget` expired connections, releasing their local ports.
    pub fn expire(&mut self, now: u64, budget: usize) -> usize {
        let Self {
            conns,
            laddr,
            stats,
            ..
        } = self;
        let n = conns.expire(now, budget, |c| {
            laddr.release(c.lip, c.lport);
        });
        stats.conns_expired += n as u64;
        n
    }

    fn forward(
        &mut self,
        frame: &mut [u8],
        rx_port: PortIdx,
        now: u64,
    ) -> Result<Verdict, DropReason> {
        let p = self.parse(frame, rx_port)?;
        let hit = match self.conns.lookup(&p.key) {
            Some((idx, dir)) if !self.conns.is_expired(idx, now) => Some((idx, dir)),
            Some((idx, _)) => {
                self.remove_conn(idx);
                None
            }
            None => None,
        };
        let (idx, dir) = match hit {
            Some(h) => h,
            None if self.laddr.is_local(p.key.dst) => {
                // A reply to a local port: only the owner of the port can hold its connection.
                let owner = lport_owner(p.key.dport, self.id.count);
                return if owner == self.id.index {
                    Err(DropReason::NoConn)
                } else {
                    Ok(Verdict::Redirect(owner))
                };
            }
            None => self.open(&p, now)?,
        };
        self.update_state(idx, dir, p.tcp_flags, now);
        let conn = *self.conns.get(idx);
        let to = Endpoints::fullnat(&conn, dir);
        let (port, src_mac, dst_mac) = self.next_hop(to.dst)?;
        fullnat::rewrite(&mut frame[ETH_HLEN..], IPV4_HLEN, conn.proto, &to);
        let mut eth = EthernetFrame::new_unchecked(&mut *frame);
        eth.set_src_addr(src_mac);
        eth.set_dst_addr(dst_mac);
        match dir {
            Dir::In => self.stats.fwd_in += 1,
            Dir::Out => self.stats.fwd_out += 1,
        }
        Ok(Verdict::Tx(port))
    }

    /// Validates the headers and reads what the decision needs. After it succeeds the frame holds an
    /// option-less, unfragmented IPv4 header and a complete TCP or UDP header, and the TTL is above 1.
    fn parse(&self, frame: &[u8], rx_port: PortIdx) -> Result<Parsed, DropReason> {
        let eth = EthernetFrame::new_checked(frame).map_err(|_| DropReason::EthTruncated)?;
        match eth.ethertype() {
            EtherType::IPV4 => {}
            EtherType::ARP => return Err(DropReason::Arp),
            EtherType::VLAN | EtherType::QINQ => return Err(DropReason::Vlan),
            _ => return Err(DropReason::NotIpv4),
        }
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
        if ip.is_fragment() {
            return Err(DropReason::Fragment);
        }
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        if is_martian(src) {
            return Err(DropReason::Martian);
        }
        if src == dst {
            return Err(DropReason::Land);
        }
        let (proto, sport, dport, tcp_flags) = match ip.protocol() {
            packet::ipv4::protocol::TCP => {
                let tcp =
                    TcpPacket::new_checked(ip.payload()).map_err(|_| DropReason::L4Malformed)?;
                (Protocol::Tcp, tcp.src_port(), tcp.dst_port(), tcp.flags())
            }
            packet::ipv4::protocol::UDP => {
                let udp =
                    UdpPacket::new_checked(ip.payload()).map_err(|_| DropReason::L4Malformed)?;
                (
                    Protocol::Udp,
                    udp.src_port(),
                    udp.dst_port(),
                    TcpFlags::empty(),
                )
            }
            packet::ipv4::protocol::ICMP => return Err(DropReason::Icmp),
            _ => return Err(DropReason::UnsupportedProtocol),
        };
        if sport == 0 || dport == 0 {
            return Err(DropReason::ZeroPort);
        }
        if ip.ttl() <= 1 {
            return Err(DropReason::TtlExpired);
        }
        Ok(Parsed {
            key: FlowKey {
                src,
                dst,
                sport,
                dport,
                proto,
            },
            tcp_flags,
        })
    }

    /// Opens a connection for a packet to a virtual service, if it may open one.
    fn open(&mut self, p: &Parsed, now: u64) -> Result<(ConnIdx, Dir), DropReason> {
        let k = p.key;
        let snap = &*self.snap;
        let Some((sidx, svc)) = snap.services.find(&ServiceKey {
            protocol: k.proto,
            vip: k.dst,
            vport: k.dport,
        }) else {
            return Err(if snap.services.is_vip(k.dst) {
                DropReason::NoService
            } else {
                DropReason::NotForUs
            });
        };
        if k.proto == Protocol::Tcp && !is_lone_syn(p.tcp_flags) {
            return Err(DropReason::NoConn);
        }
        let sched = self
            .sched
            .get_mut(sidx as usize)
            .ok_or(DropReason::NoDest)?;
        let dest = sched
            .pick(&svc.dests)
            .and_then(|i| svc.dests.get(i))
            .ok_or(DropReason::NoDest)?;
        // Refuse before creating state when the real server cannot be reached.
        let (_, nh) = snap.routes.lookup(dest.addr).ok_or(DropReason::NoRoute)?;
        snap.neigh.lookup(nh).ok_or(DropReason::NoNeighbour)?;
        let (lip, lport) = self
            .laddr
            .acquire(&svc.laddrs)
            .ok_or(DropReason::NoLocalPort)?;
        let conn = Conn {
            cip: k.src,
            vip: k.dst,
            lip,
            rip: dest.addr,
            cport: k.sport,
            vport: k.dport,
            lport,
            rport: dest.port,
            expires: now,
            dest: dest.id,
            proto: k.proto,
            state: TcpState::None as u8,
            flags: 0,
            method: dest.method,
        };
        match self.conns.insert(conn) {
            Ok(idx) => {
                self.stats.conns_created += 1;
                Ok((idx, Dir::In))
            }
            Err(_) => {
                self.laddr.release(lip, lport);
                Err(DropReason::ConnTableFull)
            }
        }
    }

    /// Moves the TCP state machine and pushes the expiry out by the new state's timeout.
    fn update_state(&mut self, idx: ConnIdx, dir: Dir, flags: TcpFlags, now: u64) {
        let timeouts = &self.snap.timeouts;
        let conn = self.conns.get_mut(idx);
        let timeout = match conn.proto {
            Protocol::Tcp => {
                let sdir = match dir {
                    Dir::Out => {
                        conn.flags &= !CONN_F_NO_OUTPUT;
                        StateDir::Output
                    }
                    Dir::In if conn.flags & CONN_F_NO_OUTPUT != 0 => StateDir::InputOnly,
                    Dir::In => StateDir::Input,
                };
                let state = next_state(TcpState::from_u8(conn.state), sdir, flags.bits());
                conn.state = state as u8;
                timeouts.tcp(state)
            }
            Protocol::Udp => timeouts.udp,
        };
        conn.expires = now.saturating_add(timeout);
    }

    /// The egress port and the MAC addresses for a packet to `dst`.
    #[inline]
    fn next_hop(
        &self,
        dst: Ipv4Addr,
    ) -> Result<(PortIdx, packet::MacAddr, packet::MacAddr), DropReason> {
        let snap = &*self.snap;
        let (port, nh) = snap.routes.lookup(dst).ok_or(DropReason::NoRoute)?;
        let neigh = snap
            .neigh
            .lookup(nh)
            .filter(|n| n.port == port)
            .ok_or(DropReason::NoNeighbour)?;
        let iface = snap
            .ifaces
            .get(usize::from(port))
            .ok_or(DropReason::NoRoute)?;
        Ok((port, iface.mac, neigh.mac))
    }

    fn remove_conn(&mut self, idx: ConnIdx) {
        if let Some(c) = self.conns.remove(idx) {
            self.laddr.release(c.lip, c.lport);
            self.stats.conns_expired += 1;
        }
    }
}

/// A TCP segment that may open a connection: SYN without ACK, RST or FIN.
#[inline]
fn is_lone_syn(f: TcpFlags) -> bool {
    f.contains(TcpFlags::SYN)
        && !f.contains(TcpFlags::ACK)
        && !f.contains(TcpFlags::RST)
        && !f.contains(TcpFlags::FIN)
}

/// A source address no client can have.
#[inline]
fn is_martian(a: Ipv4Addr) -> bool {
    a.octets()[0] == 0 || a.is_loopback() || a.is_multicast() || a.is_broadcast()
}
