//! What a worker shares with the control lcore: configuration updates in, learned neighbours out,
//! and counters on request.
//!
//! Updates and learned neighbours travel through single-producer single-consumer rings, so neither
//! side ever waits. Counters are published on request: the control side bumps `requested`, the
//! worker notices it with one relaxed load per poll, copies its counters under a mutex it alone
//! takes on that path (the control side only reads after `served` caught up), and stores `served`.
//!
//! A connection listing (`fnatctl -L -c`) is served over several polls, so that it never stalls
//! the fast path in proportion to the table: each poll the worker examines at most
//! [`LIST_SCAN_PER_POLL`] entries of its slab from a cursor, and copies the matching connections
//! into a chunk of [`LIST_CHUNK`] entries that the control side allocated (the worker pushes only
//! while there is room, so it never allocates); the control side takes the chunk whenever it
//! checks [`WorkerShared::is_served`] (swapping in an empty one of the same capacity, O(1) under
//! the lock) and gathers the listing on its side. `served` is stored once the cursor has passed
//! the whole slab. A newer request ends a listing in progress. The listing is not an atomic
//! snapshot: a connection that lives through it appears once; one opened or closed meanwhile may
//! or may not.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use rtrb::{Consumer, Producer, RingBuffer};

use super::WorkerStats;
use ctrl::vocab::Counters;

use super::counts::Source;
use crate::ha::sync::SyncRecord;
use crate::lb::{Conn, ConnTable, DestId, ServiceKey};
use crate::net::{NeighTable, PortIdx};
use crate::packet::MacAddr;
use crate::snapshot::Snapshot;

/// A change handed to a worker.
#[derive(Debug)]
pub enum Update {
    /// New configuration, and its number in the order the control side published them (see
    /// [`WorkerShared::running`]).
    Snapshot(Arc<Snapshot>, u64),
    /// New neighbours.
    Neigh(Arc<NeighTable>),
    /// Announce these addresses (gratuitous ARP): VRRP took them.
    Announce(Arc<[Ipv4Addr]>),
    /// Connections the master gateway synced, to install or refresh (sync backup).
    Sync(Box<[SyncRecord]>),
    /// Note every connection for the backups (a backup asked: sync master).
    Resync,
}

/// A neighbour a worker heard from in ARP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Learned {
    /// Its address.
    pub addr: Ipv4Addr,
    /// Its MAC address.
    pub mac: MacAddr,
    /// The port it spoke on.
    pub port: PortIdx,
}

/// Connections of one real server on one worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DestConns {
    /// ESTABLISHED TCP connections.
    pub active: u32,
    /// All others (other TCP states, UDP).
    pub inactive: u32,
}

/// Which connections the control side wants to see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnQuery {
    /// Those of one service, or all.
    pub svc: Option<ServiceKey>,
    /// At most this many.
    pub max: usize,
}

/// Slab entries a worker examines per poll while it serves a connection listing.
pub const LIST_SCAN_PER_POLL: usize = 4096;
/// Connections handed to the control side at a time (the capacity of the chunk).
pub const LIST_CHUNK: usize = 16_384;

/// The listing a worker is serving: where its walk of the slab is.
#[derive(Clone, Copy, Debug)]
pub struct Listing {
    ticket: u64,
    query: ConnQuery,
    cursor: usize,
    listed: usize,
}

impl Listing {
    /// The request it serves.
    pub fn ticket(&self) -> u64 {
        self.ticket
    }

    /// What it lists.
    pub fn query(&self) -> ConnQuery {
        self.query
    }
}

/// Connections on their way from the worker to the control side.
#[derive(Debug, Default)]
struct Chunk {
    /// The request they answer.
    ticket: u64,
    conns: Vec<Conn>,
    /// Matching connections beyond the query's maximum, so far.
    omitted: u64,
}

/// What the control side gathered of the listing it asked for.
#[derive(Debug, Default)]
struct Collected {
    ticket: u64,
    conns: Vec<Conn>,
    omitted: u64,
    /// An empty chunk of [`LIST_CHUNK`] capacity, swapped for the worker's full one.
    spare: Vec<Conn>,
}

/// A copy of a worker's counters.
#[derive(Clone, Debug, Default)]
pub struct Published {
    /// Packet and drop counters.
    pub stats: WorkerStats,
    /// Connections per real server.
    pub dests: Vec<(DestId, DestConns)>,
    /// Traffic per real server (and per service for those the worker no longer tracks), counted
    /// since the worker started.
    pub traffic: Vec<(Source, Counters)>,
    /// Connections in the table.
    pub conns: usize,
    /// The connections asked for with [`WorkerShared::request_conns`] (empty otherwise), gathered
    /// on the control side.
    pub conn_list: Vec<Conn>,
    /// Matching connections beyond the query's maximum.
    pub conn_omitted: u64,
}

/// The shared state of one worker.
#[derive(Debug, Default)]
pub struct WorkerShared {
    /// Set by the control side to stop the worker.
    pub stop: AtomicBool,
    requested: AtomicU64,
    served: AtomicU64,
    published: Mutex<Published>,
    query: Mutex<Option<ConnQuery>>,
    chunk: Mutex<Chunk>,
    collected: Mutex<Collected>,
    /// The number of the snapshot the worker forwards with (0: the one it started with).
    running: AtomicU64,
}

impl WorkerShared {
    /// The number of the snapshot the worker forwards with: a change published as snapshot `n` is
    /// in force on this worker once this is `n` or more (a worker that was behind may skip to a
    /// later one).
    pub fn running(&self) -> u64 {
        self.running.load(Ordering::Acquire)
    }

    /// Records the number of the snapshot the worker swapped in (the worker's side, after the swap).
    pub fn set_running(&self, n: u64) {
        self.running.store(n, Ordering::Release);
    }

    /// Asks the worker to publish its counters; returns the ticket to wait for.
    pub fn request(&self) -> u64 {
        self.request_with(None)
    }

    /// Asks the worker to publish its counters and the connections `q` describes.
    pub fn request_conns(&self, q: ConnQuery) -> u64 {
        self.request_with(Some(q))
    }

    fn request_with(&self, q: Option<ConnQuery>) -> u64 {
        let mut c = self.collected.lock().unwrap_or_else(PoisonError::into_inner);
        c.conns.clear();
        c.omitted = 0;
        if q.is_some() {
            // The worker only fills what is allocated here.
            let mut chunk = self.chunk.lock().unwrap_or_else(PoisonError::into_inner);
            let len = chunk.conns.len();
            chunk.conns.reserve_exact(LIST_CHUNK.saturating_sub(len));
            c.spare.clear();
            c.spare.reserve_exact(LIST_CHUNK);
        }
        if let Ok(mut slot) = self.query.lock() {
            *slot = q;
        }
        c.ticket = self.requested.fetch_add(1, Ordering::AcqRel) + 1;
        c.ticket
    }

    /// Worker side: the connection query of the request being served, if any.
    pub fn take_query(&self) -> Option<ConnQuery> {
        self.query.lock().ok().and_then(|mut q| q.take())
    }

    /// Whether the worker has published for `ticket`; takes what the worker handed over of a
    /// listing so far (call it until it says yes, as the control side waits).
    pub fn is_served(&self, ticket: u64) -> bool {
        // Read before collecting: everything the worker handed over before it stored `served`
        // is in the chunk by then.
        let served = self.served.load(Ordering::Acquire) >= ticket;
        self.collect();
        served
    }

    fn collect(&self) {
        let mut c = self.collected.lock().unwrap_or_else(PoisonError::into_inner);
        let c = &mut *c;
        {
            let mut chunk = self.chunk.lock().unwrap_or_else(PoisonError::into_inner);
            if chunk.ticket != c.ticket || chunk.conns.is_empty() && chunk.omitted == c.omitted {
                return;
            }
            std::mem::swap(&mut chunk.conns, &mut c.spare);
            c.omitted = chunk.omitted;
        }
        c.conns.extend_from_slice(&c.spare);
        c.spare.clear();
    }

    /// The last counters the worker published, with the connections listed for the last request.
    pub fn published(&self) -> Published {
        let mut p = self.published.lock().map(|p| p.clone()).unwrap_or_default();
        if let Ok(c) = self.collected.lock() {
            p.conn_list.clone_from(&c.conns);
            p.conn_omitted = c.omitted;
        }
        p
    }

    /// Worker side: the request the worker has not served yet, if any (one relaxed load).
    #[inline]
    pub fn pending_request(&self, served: u64) -> Option<u64> {
        let r = self.requested.load(Ordering::Relaxed);
        (r != served).then_some(r)
    }

    /// Worker side: publishes counters for `ticket`.
    pub fn publish(&self, ticket: u64, fill: impl FnOnce(&mut Published)) {
        self.publish_counters(fill);
        self.served.store(ticket, Ordering::Release);
    }

    /// Worker side: publishes counters, leaving `ticket` unserved until its listing is done.
    pub fn publish_counters(&self, fill: impl FnOnce(&mut Published)) {
        if let Ok(mut p) = self.published.lock() {
            fill(&mut p);
        }
    }

    /// Worker side: starts serving the listing `q` of `ticket` (its counters published).
    pub fn start_listing(&self, ticket: u64, query: ConnQuery) -> Listing {
        let mut chunk = self.chunk.lock().unwrap_or_else(PoisonError::into_inner);
        chunk.ticket = ticket;
        chunk.conns.clear();
        chunk.omitted = 0;
        Listing { ticket, query, cursor: 0, listed: 0 }
    }

    /// Worker side: one poll's share of a listing: examines at most [`LIST_SCAN_PER_POLL`] entries
    /// of `table` from where the last step stopped, and hands over those `matches` accepts while
    /// the chunk has room (a full chunk waits for the control side). Once the whole slab is
    /// examined, stores `served` and returns true.
    pub fn list_step(&self, l: &mut Listing, table: &ConnTable, matches: impl Fn(&Conn) -> bool) -> bool {
        {
            let mut chunk = self.chunk.lock().unwrap_or_else(PoisonError::into_inner);
            let chunk = &mut *chunk;
            let end = l.cursor.saturating_add(LIST_SCAN_PER_POLL).min(table.capacity());
            while l.cursor < end && chunk.conns.len() < chunk.conns.capacity() {
                if let Some(c) = table.used_at(l.cursor).filter(|c| matches(c)) {
                    if l.listed < l.query.max {
                        chunk.conns.push(*c);
                        l.listed += 1;
                    } else {
                        chunk.omitted += 1;
                    }
                }
                l.cursor += 1;
            }
            if l.cursor < table.capacity() {
                return false;
            }
        }
        self.served.store(l.ticket, Ordering::Release);
        true
    }
}

/// The worker's ends of its links with the control lcore.
#[derive(Debug)]
pub struct WorkerLinks {
    /// Configuration and neighbour updates.
    pub updates: Consumer<Update>,
    /// Neighbours heard in ARP.
    pub learned: Producer<Learned>,
    /// Real servers that left a client unanswered (passive health evidence, `Worker::drain_unanswered`).
    pub unanswered: Producer<DestId>,
    /// Connections for the backups (sync master, `Worker::drain_sync`).
    pub sync: Producer<SyncRecord>,
    /// Shared flags and counters.
    pub shared: Arc<WorkerShared>,
}

/// The control lcore's ends of its links with one worker.
#[derive(Debug)]
pub struct ControlLinks {
    /// Configuration and neighbour updates.
    pub updates: Producer<Update>,
    /// Neighbours heard in ARP.
    pub learned: Consumer<Learned>,
    /// Real servers that left a client unanswered.
    pub unanswered: Consumer<DestId>,
    /// Connections for the backups.
    pub sync: Consumer<SyncRecord>,
    /// Shared flags and counters.
    pub shared: Arc<WorkerShared>,
}

/// Passive health evidence a worker may have in flight to the control lcore.
const UNANSWERED_RING: usize = 1024;

/// Connection records a worker may have in flight to the sync daemon.
pub const SYNC_RING: usize = 16_384;

/// A pair of linked ends.
pub fn links(update_capacity: usize, learned_capacity: usize) -> (ControlLinks, WorkerLinks) {
    let (up, uc) = RingBuffer::new(update_capacity);
    let (lp, lc) = RingBuffer::new(learned_capacity);
    let (sp, sc) = RingBuffer::new(UNANSWERED_RING);
    let (yp, yc) = RingBuffer::new(SYNC_RING);
    let shared = Arc::new(WorkerShared::default());
    (
        ControlLinks { updates: up, learned: lc, unanswered: sc, sync: yc, shared: Arc::clone(&shared) },
        WorkerLinks { updates: uc, learned: lp, unanswered: sp, sync: yp, shared },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::worker::mem_io::MemIo;
    use crate::worker::poll::{Poller, redirect_mesh};

    #[test]
    fn a_listing_is_served_a_bounded_stretch_per_poll_and_lists_what_one_walk_would() {
        let n = 3 * LIST_SCAN_PER_POLL + 100;
        let mut table = ConnTable::with_seed(n, [1, 2]);
        for i in 0..u32::try_from(n).unwrap() {
            table.insert(fixtures::synthetic_conn(i)).unwrap();
        }
        let want: Vec<Conn> = table.iter().map(|(_, c)| *c).take(n - 10).collect();
        let worker = fixtures::worker_with_table(table);
        let (ctl, links) = links(4, 4);
        let mut p = Poller::with_control(worker, redirect_mesh(1, 4).pop().unwrap(), 2, links);
        let mut io = MemIo::new(2);
        let ticket = ctl.shared.request_conns(ConnQuery { svc: None, max: n - 10 });
        let mut polls = 0;
        while !ctl.shared.is_served(ticket) {
            p.poll(&mut io, 0);
            polls += 1;
            assert!(polls <= 4, "more polls than the slab needs");
        }
        assert_eq!(polls, 4, "{n} entries, {LIST_SCAN_PER_POLL} per poll");
        let got = ctl.shared.published();
        assert_eq!(got.conn_list, want);
        assert_eq!(got.conn_omitted, 10);
        assert_eq!(got.conns, n);
        // A plain request afterwards lists nothing.
        let t = ctl.shared.request();
        p.poll(&mut io, 0);
        assert!(ctl.shared.is_served(t));
        assert!(ctl.shared.published().conn_list.is_empty());
    }
}
