//! The main lcore's loop while traffic flows: neighbours learned by the workers are merged, aged
//! and handed back; configuration changes become new snapshots for every worker (and invalidate
//! the persistence templates of deleted services and real servers, carry the rr/wrr cursors over
//! and drop the statistics of what is gone); expired persistence templates are swept about every
//! second, a bounded number at a time; counters and connections (templates included) are gathered
//! on request. Nothing here runs on a worker lcore.
//!
//! Sans-IO: no clock and no DPDK. Time comes in as `now` (milliseconds on the clock the workers
//! use), so the same loop runs in fnatd (`daemon`), beside one worker in the fixture harness, and
//! in its own tests. The one wait it has is for worker threads to publish their counters
//! ([`MainLoop::gather`], bounded by [`PUBLISH_WAIT`]; none where the worker runs on the same
//! thread, between the loop's turns, as in the fixture harness: [`MainLoop::set_publish_wait`]).
//!
//! Updates reach a worker through its update ring. A ring that is full (the worker is far behind)
//! keeps the update pending, and every [`MainLoop::tick`] tries again; a worker gets only the
//! latest snapshot and the latest neighbour table, never a stale one after a newer one.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::stats::{ESTIMATE_MS, Source, StatsBook};
use super::templates::{forget_templates, list_templates};
use crate::ha::sync::SyncRecord;
use crate::lb::persist::SweepCursor;
use crate::lb::sched::SchedHistory;
use crate::lb::{Conn, DestId, FwdMethod, Protocol, ServiceKey, TcpState, Templates};
use crate::net::{NeighManager, NeighTable};
use crate::snapshot::Snapshot;
use crate::worker::shared::{ConnQuery, ControlLinks, Published, Update};

/// Batches of synced connections that may wait for one worker's ring.
const SYNC_BATCHES_PENDING: usize = 1024;
use crate::worker::{DestConns, WorkerStats};
use ctrl::msg::{ConnListing, ConnView};

/// How long the main loop waits for the workers to publish their counters.
pub const PUBLISH_WAIT: Duration = Duration::from_millis(200);
/// How often expired persistence templates are swept, in milliseconds.
const TEMPLATE_SWEEP_MS: u64 = 1000;
/// Template entries examined per sweep (a full pass over a million takes 16 s; an expired template
/// is never followed meanwhile, it only holds its slot).
const TEMPLATE_SWEEP_BUDGET: usize = 65_536;

/// The control side of a running gateway.
#[derive(Debug)]
pub struct MainLoop {
    links: Vec<ControlLinks>,
    neigh: NeighManager,
    snap: Arc<Snapshot>,
    /// How many snapshots were published: the number of the latest (see [`MainLoop::in_force`]).
    published: u64,
    /// Snapshots the workers may still hold: freed here, once no worker does, so that a worker
    /// never pays for freeing a large configuration.
    retired: Vec<Arc<Snapshot>>,
    /// Per worker, what its full update ring could not take yet.
    pending: Vec<Pending>,
    /// The gateway's persistence templates (shared with the workers).
    templates: Arc<Templates>,
    sweep: SweepCursor,
    next_sweep: u64,
    /// Traffic statistics, folded in whenever the workers publish (a `RefCell`: the main lcore is
    /// one thread, and gathering is a read of the workers that updates the book).
    stats: RefCell<StatsBook>,
    next_estimate: u64,
    /// How long a gathering waits for the workers ([`PUBLISH_WAIT`]).
    publish_wait: Duration,
}

/// The updates a worker's full ring could not take yet: at most the latest of each kind.
#[derive(Debug, Default)]
struct Pending {
    snap: Option<(Arc<Snapshot>, u64)>,
    neigh: Option<Arc<NeighTable>>,
    /// Addresses to announce (after the snapshot that holds them).
    announce: Option<Arc<[Ipv4Addr]>>,
    /// Synced connections to install, in order.
    sync: std::collections::VecDeque<Box<[SyncRecord]>>,
    /// Note every connection for the backups.
    resync: bool,
}

impl Pending {
    /// Pushes what is pending into `ring`, keeping what does not fit for the next try.
    fn deliver(&mut self, ring: &mut rtrb::Producer<Update>) {
        if let Some((s, n)) = self.snap.take()
            && let Err(rtrb::PushError::Full(Update::Snapshot(s, n))) = ring.push(Update::Snapshot(s, n))
        {
            self.snap = Some((s, n));
        }
        if let Some(t) = self.neigh.take()
            && let Err(rtrb::PushError::Full(Update::Neigh(t))) = ring.push(Update::Neigh(t))
        {
            self.neigh = Some(t);
        }
        while self.snap.is_none()
            && let Some(batch) = self.sync.pop_front()
        {
            if let Err(rtrb::PushError::Full(Update::Sync(batch))) = ring.push(Update::Sync(batch)) {
                self.sync.push_front(batch);
                break;
            }
        }
        if self.resync && ring.push(Update::Resync).is_ok() {
            self.resync = false;
        }
        if self.snap.is_none()
            && let Some(a) = self.announce.take()
            && let Err(rtrb::PushError::Full(Update::Announce(a))) = ring.push(Update::Announce(a))
        {
            self.announce = Some(a);
        }
    }
}

impl MainLoop {
    /// The loop over the workers' links, starting from `snap`, with the persistence templates the
    /// workers share.
    pub fn new(links: Vec<ControlLinks>, neigh: NeighManager, snap: Arc<Snapshot>, templates: Arc<Templates>) -> Self {
        let pending = links.iter().map(|_| Pending::default()).collect();
        let workers = links.len();
        Self {
            links,
            neigh,
            snap,
            published: 0,
            retired: Vec::new(),
            pending,
            templates,
            sweep: SweepCursor::default(),
            next_sweep: TEMPLATE_SWEEP_MS,
            stats: RefCell::new(StatsBook::new(workers)),
            next_estimate: ESTIMATE_MS,
            publish_wait: PUBLISH_WAIT,
        }
    }

    /// The configuration the workers forward with.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snap
    }

    /// The gateway's persistence templates.
    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// The neighbour table the workers were last given.
    pub fn neighbours(&self) -> &NeighManager {
        &self.neigh
    }

    /// One turn at `now`: neighbours (learned, aged, a new table for every worker when it
    /// changed), updates still to deliver, retired snapshots freed, about every 2 s the traffic
    /// statistics' estimate, and about every second a bounded sweep of expired persistence
    /// templates.
    pub fn tick(&mut self, now: u64) {
        if now >= self.next_sweep {
            self.templates.sweep(&mut self.sweep, now, TEMPLATE_SWEEP_BUDGET);
            self.next_sweep = now + TEMPLATE_SWEEP_MS;
        }
        if now >= self.next_estimate {
            self.gather();
            self.stats.borrow_mut().estimate();
            self.next_estimate += ESTIMATE_MS;
        }
        for link in &mut self.links {
            while let Ok(l) = link.learned.pop() {
                self.neigh.learn(l.addr, l.mac, l.port, now);
            }
        }
        self.neigh.age(now);
        if let Some(table) = self.neigh.publish() {
            // A worker that has not taken the previous table yet gets only this one.
            for p in &mut self.pending {
                p.neigh = Some(Arc::clone(&table));
            }
        }
        for (link, pending) in self.links.iter_mut().zip(self.pending.iter_mut()) {
            pending.deliver(&mut link.updates);
        }
        self.retired.retain(|s| Arc::strong_count(s) > 1);
    }

    /// Takes the real servers the workers found leaving clients unanswered since the last call
    /// (passive health evidence, one per retransmitted SYN).
    pub fn drain_unanswered(&mut self, mut f: impl FnMut(crate::lb::DestId)) {
        for link in &mut self.links {
            while let Ok(d) = link.unanswered.pop() {
                f(d);
            }
        }
    }

    /// Hands a new configuration to every worker, and invalidates the persistence templates that
    /// it leaves without a persistent service or real server (IPVS flushes those; here a template
    /// still used by connections waits for them, found by no new one). A worker still on the old
    /// snapshot for a moment may bind such a template again; it checks the real server against its
    /// snapshot at every use, so the next connection on the new snapshot reschedules.
    /// `history` is what the change did to the schedulers ([`ControlState::take_history`]), to
    /// carry the rr/wrr positions over as IPVS's hooks move them.
    ///
    /// Returns the snapshot's number, for [`MainLoop::in_force`].
    ///
    /// [`ControlState::take_history`]: crate::control::state::ControlState::take_history
    pub fn publish(&mut self, snap: Arc<Snapshot>, history: &SchedHistory) -> u64 {
        forget_templates(&self.templates, &snap.services);
        self.stats.borrow_mut().retain(|id| snap.services.slot_of(id).is_some(), |k| snap.services.find(k).is_some());
        snap.services.carry_cursors(&self.snap.services, history);
        let old = std::mem::replace(&mut self.snap, Arc::clone(&snap));
        self.retired.push(old);
        self.published += 1;
        for (link, pending) in self.links.iter_mut().zip(self.pending.iter_mut()) {
            // A worker that has not taken the previous one yet gets only the latest.
            pending.snap = Some((Arc::clone(&snap), self.published));
            pending.deliver(&mut link.updates);
        }
        self.published
    }

    /// Takes the connections the workers noted for the backups (sync master).
    pub fn drain_sync(&mut self, mut f: impl FnMut(SyncRecord)) {
        for link in &mut self.links {
            while let Ok(r) = link.sync.pop() {
                f(r);
            }
        }
    }

    /// Hands synced connections to worker `worker` (modulo the workers) to install; false when
    /// too many wait already (the records are dropped: the master's next note sends them again).
    pub fn sync_install(&mut self, worker: u16, records: Box<[SyncRecord]>) -> bool {
        let n = self.links.len().max(1);
        let w = usize::from(worker) % n;
        let (Some(link), Some(pending)) = (self.links.get_mut(w), self.pending.get_mut(w)) else { return false };
        if pending.sync.len() >= SYNC_BATCHES_PENDING {
            return false;
        }
        pending.sync.push_back(records);
        pending.deliver(&mut link.updates);
        true
    }

    /// Has every worker note all its connections for the backups (a backup asked for them).
    pub fn request_resync(&mut self) {
        for (link, pending) in self.links.iter_mut().zip(self.pending.iter_mut()) {
            pending.resync = true;
            pending.deliver(&mut link.updates);
        }
    }

    /// Has worker 0 announce `addrs` (gratuitous ARP), after any snapshot published before.
    pub fn announce(&mut self, addrs: &[Ipv4Addr]) {
        let (Some(link), Some(pending)) = (self.links.first_mut(), self.pending.first_mut()) else { return };
        let mut all: Vec<Ipv4Addr> = pending.announce.take().map(|a| a.to_vec()).unwrap_or_default();
        all.extend_from_slice(addrs);
        all.sort_unstable();
        all.dedup();
        pending.announce = Some(all.into());
        pending.deliver(&mut link.updates);
    }

    /// Whether every worker forwards with snapshot `n` (the number [`MainLoop::publish`] returned)
    /// or a later one: the change it carries is in force.
    pub fn in_force(&self, n: u64) -> bool {
        self.links.iter().all(|l| l.shared.running() >= n)
    }

    /// Whether some update still waits for a worker's ring to have room.
    pub fn has_pending(&self) -> bool {
        self.pending
            .iter()
            .any(|p| p.snap.is_some() || p.neigh.is_some() || p.announce.is_some() || !p.sync.is_empty() || p.resync)
    }

    /// Snapshots retired but still held by a worker.
    pub fn retired(&self) -> usize {
        self.retired.len()
    }

    /// Asks every worker for its counters and waits (briefly) for them; folds their traffic into
    /// the statistics.
    pub fn gather(&self) -> Vec<Published> {
        let tickets: Vec<u64> = self.links.iter().map(|l| l.shared.request()).collect();
        self.wait(&tickets);
        let all: Vec<Published> = self.links.iter().map(|l| l.shared.published()).collect();
        let services = &self.snap.services;
        let configured = |src: Source| match src {
            Source::Dest(id, k) => (services.slot_of(id).is_some(), services.find(&k).is_some()),
            Source::Retired(k) => (false, services.find(&k).is_some()),
        };
        let mut book = self.stats.borrow_mut();
        for (i, p) in all.iter().enumerate() {
            book.fold(i, p.traffic.iter().copied(), configured);
        }
        all
    }

    /// The traffic statistics, as of the last gathering.
    pub fn stats_book(&self) -> std::cell::RefMut<'_, StatsBook> {
        self.stats.borrow_mut()
    }

    /// How long a gathering waits for the workers to publish: [`PUBLISH_WAIT`] by default; zero
    /// where the workers run on the caller's thread and publish at their next poll (what a
    /// gathering reads is then what they published last).
    pub fn set_publish_wait(&mut self, wait: Duration) {
        self.publish_wait = wait;
    }

    /// Waits until every worker served its ticket, or the publish wait passed.
    fn wait(&self, tickets: &[u64]) {
        let deadline = Instant::now() + self.publish_wait;
        while Instant::now() < deadline && !self.links.iter().zip(tickets).all(|(l, t)| l.shared.is_served(*t)) {
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Up to `max` connections (of one service, or all) over all workers, as `fnatctl -L -c` shows
    /// them at `now`, and how many more there were.
    pub fn connections(&self, svc: Option<ServiceKey>, max: usize, now: u64) -> ConnListing {
        let q = ConnQuery { svc, max };
        let tickets: Vec<u64> = self.links.iter().map(|l| l.shared.request_conns(q)).collect();
        self.wait(&tickets);
        let mut out = ConnListing { conns: Vec::new(), omitted: 0 };
        for p in self.links.iter().map(|l| l.shared.published()) {
            out.omitted += p.conn_omitted;
            for c in p.conn_list {
                if out.conns.len() < max {
                    out.conns.push(conn_view(&c, now));
                } else {
                    out.omitted += 1;
                }
            }
        }
        list_templates(&self.templates, svc, max, now, &mut out);
        out
    }

    /// Connections per real server, summed over what the workers published.
    pub fn dest_conns(published: &[Published]) -> HashMap<DestId, DestConns> {
        let mut total: HashMap<DestId, DestConns> = HashMap::new();
        for p in published {
            for &(id, c) in &p.dests {
                let t = total.entry(id).or_default();
                t.active += c.active;
                t.inactive += c.inactive;
            }
        }
        total
    }

    /// Counters summed over the workers.
    pub fn stats(&self) -> WorkerStats {
        let mut total = WorkerStats::default();
        for p in self.gather() {
            total.add(&p.stats);
        }
        total
    }

    /// Tells every worker to stop after its current poll.
    pub fn stop_workers(&self) {
        for l in &self.links {
            l.shared.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// A connection as `fnatctl -L -c` shows it, with its time left from `now`.
fn conn_view(c: &Conn, now: u64) -> ConnView {
    ConnView {
        proto: c.proto,
        expire_ms: c.expires.saturating_sub(now),
        state: match c.proto {
            Protocol::Tcp => TcpState::from_u8(c.state).name().to_owned(),
            Protocol::Udp => "UDP".to_owned(),
        },
        client: SocketAddrV4::new(c.cip, c.cport),
        virt: SocketAddrV4::new(c.vip, c.vport),
        local: (c.method == FwdMethod::FullNat).then(|| SocketAddrV4::new(c.lip, c.lport)),
        dest: SocketAddrV4::new(c.rip, c.rport),
        method: c.method,
        fwmark: 0,
    }
}

#[cfg(test)]
#[path = "main_loop_tests.rs"]
mod tests;
