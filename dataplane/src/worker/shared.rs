//! What a worker shares with the control lcore: configuration updates in, learned neighbours out,
//! and counters on request.
//!
//! Updates and learned neighbours travel through single-producer single-consumer rings, so neither
//! side ever waits. Counters are published on request: the control side bumps `requested`, the
//! worker notices it with one relaxed load per poll, copies its counters under a mutex it alone
//! takes on that path (the control side only reads after `served` caught up), and stores `served`.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rtrb::{Consumer, Producer, RingBuffer};

use super::WorkerStats;
use ctrl::vocab::Counters;

use super::counts::Source;
use crate::lb::{Conn, DestId, ServiceKey};
use crate::net::{NeighTable, PortIdx};
use crate::packet::MacAddr;
use crate::snapshot::Snapshot;

/// A change handed to a worker.
#[derive(Debug)]
pub enum Update {
    /// New configuration.
    Snapshot(Arc<Snapshot>),
    /// New neighbours.
    Neigh(Arc<NeighTable>),
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
    /// The connections asked for with [`WorkerShared::request_conns`] (empty otherwise).
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
}

impl WorkerShared {
    /// Asks the worker to publish its counters; returns the ticket to wait for.
    pub fn request(&self) -> u64 {
        self.requested.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Asks the worker to publish its counters and the connections `q` describes.
    pub fn request_conns(&self, q: ConnQuery) -> u64 {
        if let Ok(mut slot) = self.query.lock() {
            *slot = Some(q);
        }
        self.request()
    }

    /// Worker side: the connection query of the request being served, if any.
    pub fn take_query(&self) -> Option<ConnQuery> {
        self.query.lock().ok().and_then(|mut q| q.take())
    }

    /// Whether the worker has published for `ticket`.
    pub fn is_served(&self, ticket: u64) -> bool {
        self.served.load(Ordering::Acquire) >= ticket
    }

    /// The last counters the worker published.
    pub fn published(&self) -> Published {
        self.published.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Worker side: the request the worker has not served yet, if any (one relaxed load).
    #[inline]
    pub fn pending_request(&self, served: u64) -> Option<u64> {
        let r = self.requested.load(Ordering::Relaxed);
        (r != served).then_some(r)
    }

    /// Worker side: publishes counters for `ticket`.
    pub fn publish(&self, ticket: u64, fill: impl FnOnce(&mut Published)) {
        if let Ok(mut p) = self.published.lock() {
            fill(&mut p);
        }
        self.served.store(ticket, Ordering::Release);
    }
}

/// The worker's ends of its links with the control lcore.
#[derive(Debug)]
pub struct WorkerLinks {
    /// Configuration and neighbour updates.
    pub updates: Consumer<Update>,
    /// Neighbours heard in ARP.
    pub learned: Producer<Learned>,
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
    /// Shared flags and counters.
    pub shared: Arc<WorkerShared>,
}

/// A pair of linked ends.
pub fn links(update_capacity: usize, learned_capacity: usize) -> (ControlLinks, WorkerLinks) {
    let (up, uc) = RingBuffer::new(update_capacity);
    let (lp, lc) = RingBuffer::new(learned_capacity);
    let shared = Arc::new(WorkerShared::default());
    (
        ControlLinks { updates: up, learned: lc, shared: Arc::clone(&shared) },
        WorkerLinks { updates: uc, learned: lp, shared },
    )
}
