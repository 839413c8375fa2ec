//! The sync daemon on the main lcore: a master batches what the workers noted into messages and
//! sends them; a backup receives, checks and hands the records to the workers (IPVS's
//! `--start-daemon master|backup`; both may run on one gateway, as keepalived's LVS pairs do).
//!
//! The messages travel as UDP through the sync port's kernel twin, to IPVS's group 224.0.0.81 (or
//! to unicast peers) on port 8848 by default: the twin's kernel sends them out through a worker,
//! and the workers pass the group's frames and the port address's to the twin. A master sends a
//! message when it is full ([`MAX_RECORDS`]) or when its oldest record has waited
//! [`SyncConfig::flush_ms`] (IPVS sends each full buffer, and the rest within a second). A backup
//! acts on a message only when its tag is right and its number new ([`ReplayWindow`]); every
//! refusal is counted by reason. A record goes to the worker the master had it on.
//!
//! A backup that starts, or whose VRRP instance becomes Backup, asks the master for every
//! connection (a resync request, [`SyncDaemon::ask_resync`]); the master has its workers note
//! their whole tables (at most every 100 ms: requests meanwhile wait for the next answer, which
//! serves them all), so a gateway that joins late (an old master
//! restarted) has the connections before it takes over again. A backup asks again after each
//! configuration change: records refused for want of a service may find it now.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

use super::{Header, MAX_MESSAGE_LEN, MAX_RECORDS, MessageWriter, ReplayWindow, SyncKey, SyncRecord, decode};

/// IPVS's sync group.
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
/// IPVS's sync port.
pub const DEFAULT_PORT: u16 = 8848;

/// A sync daemon's configuration (`[sync]`, or `fnatctl --start-daemon`).
#[derive(Clone, Debug)]
pub struct SyncConfig {
    /// Send this gateway's connections (IPVS's master daemon).
    pub master: bool,
    /// Install the connections the master sends (IPVS's backup daemon).
    pub backup: bool,
    /// IPVS's `--syncid`: messages of another id are refused.
    pub syncid: u8,
    /// The port the messages travel on (`--mcast-interface`), by name.
    pub port_name: String,
    /// Its kernel twin's interface.
    pub iface: String,
    /// Its first address: the source of the messages.
    pub local_addr: Ipv4Addr,
    /// The multicast group, or the unicast peers (then no group).
    pub group: Ipv4Addr,
    /// Unicast peers; empty: the group.
    pub peers: Vec<Ipv4Addr>,
    /// The UDP port.
    pub udp_port: u16,
    /// The key that authenticates the messages.
    pub key: SyncKey,
    /// The longest a record waits for its message to fill.
    pub flush_ms: u64,
}

/// What the daemon counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncCounters {
    /// Messages and records sent.
    pub sent: u64,
    /// Records sent.
    pub sent_records: u64,
    /// Messages accepted.
    pub received: u64,
    /// Records handed to the workers.
    pub received_records: u64,
    /// Messages refused, by reason (`SyncError::label`, `send_error`, `own`).
    pub dropped: BTreeMap<&'static str, u64>,
    /// How long the last message's oldest record waited, in ms.
    pub lag_ms: u64,
    /// Resync requests sent (backup) and answered (master).
    pub resyncs_asked: u64,
    /// Resync requests answered.
    pub resyncs_answered: u64,
}

/// A master answers resync requests at most this often.
const RESYNC_INTERVAL_MS: u64 = 100;

/// Datagrams read per tick at most, so that a flood never stalls the main lcore.
const RECEIVE_PER_TICK: usize = 256;

/// A running sync daemon.
#[derive(Debug)]
pub struct SyncDaemon {
    cfg: SyncConfig,
    socket: UdpSocket,
    sender: u64,
    seq: u64,
    pending: Vec<SyncRecord>,
    /// When the oldest pending record was taken.
    oldest: u64,
    replay: ReplayWindow,
    counters: SyncCounters,
    /// When the master last answered a resync request.
    resynced_at: Option<u64>,
    /// A request came that is not answered yet (requests within [`RESYNC_INTERVAL_MS`] of an
    /// answer wait for the next, and coalesce).
    resync_pending: bool,
}

impl SyncDaemon {
    /// Opens the daemon's socket on the twin.
    pub fn start(cfg: SyncConfig) -> io::Result<Self> {
        let ctx = |what: &str, e: io::Error| io::Error::new(e.kind(), format!("sync on {}: {what}: {e}", cfg.iface));
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(|e| ctx("a UDP socket", e))?;
        s.set_reuse_address(true).map_err(|e| ctx("SO_REUSEADDR", e))?;
        s.bind_device(Some(cfg.iface.as_bytes())).map_err(|e| ctx("binding to the twin", e))?;
        let bind = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, cfg.udp_port);
        s.bind(&SocketAddr::V4(bind).into()).map_err(|e| ctx(&format!("binding {bind}"), e))?;
        if cfg.peers.is_empty() {
            s.set_multicast_if_v4(&cfg.local_addr).map_err(|e| ctx("the multicast interface", e))?;
            s.set_multicast_loop_v4(false).map_err(|e| ctx("multicast loop", e))?;
            s.set_multicast_ttl_v4(1).map_err(|e| ctx("multicast TTL", e))?;
            if cfg.backup {
                s.join_multicast_v4(&cfg.group, &cfg.local_addr)
                    .map_err(|e| ctx(&format!("joining {}", cfg.group), e))?;
            }
        }
        s.set_nonblocking(true).map_err(|e| ctx("non-blocking", e))?;
        let mut nonce = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
            .map_err(|_| io::Error::other("no randomness for the sender's nonce"))?;
        Ok(Self {
            cfg,
            socket: s.into(),
            sender: u64::from_be_bytes(nonce),
            seq: 0,
            pending: Vec::with_capacity(MAX_RECORDS),
            oldest: 0,
            replay: ReplayWindow::new(),
            counters: SyncCounters::default(),
            resynced_at: None,
            resync_pending: false,
        })
    }

    /// The configuration it runs.
    pub fn config(&self) -> &SyncConfig {
        &self.cfg
    }

    /// What it counted.
    pub fn counters(&self) -> &SyncCounters {
        &self.counters
    }

    /// A master's turn at `now`: takes the records `noted` (the workers'), and sends each full
    /// message, and the last one once its oldest record waited `flush_ms`.
    pub fn send(&mut self, now: u64, noted: impl IntoIterator<Item = SyncRecord>) {
        if !self.cfg.master {
            return;
        }
        for r in noted {
            if self.pending.is_empty() {
                self.oldest = now;
            }
            self.pending.push(r);
            if self.pending.len() == MAX_RECORDS {
                self.flush(now);
            }
        }
        if !self.pending.is_empty() && now.saturating_sub(self.oldest) >= self.cfg.flush_ms {
            self.flush(now);
        }
    }

    fn flush(&mut self, now: u64) {
        let n = self.message(false);
        self.counters.sent_records += n as u64;
        self.counters.lag_ms = now.saturating_sub(self.oldest);
        self.pending.clear();
    }

    /// A backup asks the master for every connection.
    pub fn ask_resync(&mut self) {
        if self.cfg.backup {
            self.message(true);
            self.counters.resyncs_asked += 1;
        }
    }

    /// Sends the pending records, or a resync request; returns the records sent.
    fn message(&mut self, resync: bool) -> usize {
        self.seq += 1;
        let header = Header { syncid: self.cfg.syncid, sender: self.sender, seq: self.seq };
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let Ok(mut w) = MessageWriter::new(&header, &mut buf) else { return 0 };
        let n = if resync { 0 } else { self.pending.iter().take_while(|r| w.push(r)).count() };
        let len = if resync { w.resync() } else { w }.finish(&self.cfg.key);
        let group = [self.cfg.group];
        let dsts: &[Ipv4Addr] = if self.cfg.peers.is_empty() { &group } else { &self.cfg.peers };
        for &dst in dsts {
            match self.socket.send_to(&buf[..len], SocketAddrV4::new(dst, self.cfg.udp_port)) {
                Ok(_) => self.counters.sent += 1,
                Err(_) => *self.counters.dropped.entry("send_error").or_default() += 1,
            }
        }
        n
    }

    /// Reads what arrived at `now`: a backup gives each accepted record to `install` with the
    /// master's worker index. Returns whether a backup asked a master for every connection (then
    /// the workers must note their tables: `MainLoop::request_resync`).
    pub fn receive(&mut self, now: u64, mut install: impl FnMut(u16, SyncRecord)) -> bool {
        let mut buf = [0u8; 2048];
        for _ in 0..RECEIVE_PER_TICK {
            let n = match self.socket.recv_from(&mut buf) {
                Ok((n, _)) => n,
                Err(_) => break,
            };
            let msg = match decode(&self.cfg.key, self.cfg.syncid, &buf[..n]) {
                Ok(m) => m,
                Err(e) => {
                    *self.counters.dropped.entry(e.label()).or_default() += 1;
                    continue;
                }
            };
            if msg.header.sender == self.sender {
                *self.counters.dropped.entry("own").or_default() += 1;
                continue;
            }
            if let Err(e) = self.replay.check_and_record(msg.header.sender, msg.header.seq) {
                *self.counters.dropped.entry(e.label()).or_default() += 1;
                continue;
            }
            self.counters.received += 1;
            if msg.resync {
                self.resync_pending |= self.cfg.master;
                continue;
            }
            if !self.cfg.backup {
                continue;
            }
            for r in msg.records() {
                self.counters.received_records += 1;
                install(r.worker, r);
            }
        }
        let due = self.resynced_at.is_none_or(|t| now.saturating_sub(t) >= RESYNC_INTERVAL_MS);
        if !(self.resync_pending && due) {
            return false;
        }
        self.resync_pending = false;
        self.resynced_at = Some(now);
        self.counters.resyncs_answered += 1;
        true
    }
}
