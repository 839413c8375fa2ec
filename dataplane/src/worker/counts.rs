//! A worker's tallies per real server: active and inactive connections (mirrored into the
//! snapshot's load board so that every worker's schedulers see the gateway's totals) and the
//! traffic IPVS counts (connections scheduled, packets and bytes each way).
//!
//! Tallies live in a slab; a connection keeps its real server's slot (`Conn::tally`), so counting a
//! packet is one indexed add, with no lookup.
//!
//! A tally also caches the next hop toward its real server ([`Hop`]: egress port, both MAC addresses,
//! until when the neighbour entry is fresh, and the worker's route generation it was resolved
//! under), as IPVS caches a destination's route. Per real server rather than per connection: the
//! 48-byte `Conn` has no spare bytes (docs/PERFORMANCE.md counts bytes per connection), every
//! connection to a server shares one next hop, and the tally is the slot a packet already touches
//! for its counters. It serves packets towards the real server (FULLNAT and NAT, client to server);
//! replies go to clients, whose next hops are many, and resolve as before. A slot stays taken while its real server is configured
//! or holds a connection here; when it is freed, its traffic goes into its service's retired
//! figures, so nothing counted is lost (see `control::stats`).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::shared::DestConns;
use crate::hash::KeyHasher;
use crate::lb::loads::Load;
use crate::lb::{Conn, DestId, Dir, Protocol, ServiceKey, TcpState};
use crate::net::PortIdx;
use crate::packet::MacAddr;
use crate::snapshot::Snapshot;
use ctrl::vocab::Counters;

/// The slot of no tally (counting with it does nothing).
pub const NO_TALLY: u32 = u32::MAX;

/// The next hop toward a real server, as the worker last resolved it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Hop {
    /// The worker's route generation (snapshot and neighbour table) it was resolved under; 0 for none.
    pub(super) generation: u64,
    /// The egress port.
    pub(super) port: PortIdx,
    /// The port's MAC address.
    pub(super) src: MacAddr,
    /// The next hop's MAC address.
    pub(super) dst: MacAddr,
    /// When the neighbour entry goes stale (ms): from then on the slow path asks it again.
    pub(super) fresh_until: u64,
}

/// One real server's tally on this worker.
#[derive(Clone, Copy, Debug)]
struct Tally {
    traffic: Counters,
    conns: DestConns,
    id: DestId,
    svc: ServiceKey,
    /// Its slot on the current snapshot's load board, while it is configured.
    board: Option<usize>,
    /// The rebind that last found it configured.
    epoch: u32,
    /// The next hop toward it.
    hop: Hop,
}

type Map<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// What a worker counted for one source, as it hands it over: a real server (of a service) or the
/// retired figures of a service (its deleted real servers that the worker forgot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A real server, with the service it belongs to.
    Dest(DestId, ServiceKey),
    /// Real servers of this service that the worker no longer tracks.
    Retired(ServiceKey),
}

impl Source {
    /// The service the source belongs to.
    pub fn service(self) -> ServiceKey {
        match self {
            Source::Dest(_, s) | Source::Retired(s) => s,
        }
    }
}

/// The tallies of every real server this worker knows.
#[derive(Debug, Default)]
pub(super) struct DestCounts {
    slots: Vec<Option<Tally>>,
    free: Vec<u32>,
    by_id: Map<DestId, u32>,
    /// Traffic of freed tallies, by service.
    retired: Map<ServiceKey, Counters>,
    /// Counts rebinds, to tell the tallies a snapshot has from those it dropped.
    epoch: u32,
    /// The real servers of the last snapshot in its order, with their slots: a new snapshot mostly
    /// lists the same servers at the same places, found here without a lookup.
    by_pos: Vec<(DestId, u32)>,
    /// The previous `by_pos`, kept for its allocation.
    spare: Vec<(DestId, u32)>,
    worker: usize,
}

impl DestCounts {
    pub(super) fn new(worker: usize) -> Self {
        Self { worker, ..Self::default() }
    }

    /// Follows a new snapshot: a tally for every real server it has (allocated here, so that the
    /// packet path never allocates), the board slots of the new snapshot with this worker's counts
    /// stored there, and servers that are gone and hold no connection here freed.
    pub(super) fn rebind(&mut self, snap: &Snapshot) {
        self.epoch = self.epoch.wrapping_add(1);
        let epoch = self.epoch;
        let mut by_pos = std::mem::take(&mut self.spare);
        by_pos.clear();
        for (si, s) in snap.services.iter().enumerate() {
            let si = u32::try_from(si).unwrap_or(u32::MAX);
            for (j, d) in s.dests.iter().enumerate() {
                let known = self.by_pos.get(by_pos.len()).filter(|(id, _)| *id == d.id).map(|&(_, slot)| slot);
                let slot = match known.or_else(|| self.by_id.get(&d.id).copied()) {
                    Some(slot) => slot,
                    None => {
                        let slot = match self.free.pop() {
                            Some(slot) => slot,
                            None => {
                                self.slots.push(None);
                                u32::try_from(self.slots.len() - 1).unwrap_or(NO_TALLY)
                            }
                        };
                        self.by_id.insert(d.id, slot);
                        slot
                    }
                };
                by_pos.push((d.id, slot));
                let board = Some(snap.services.dest_slot(si, j));
                if let Some(t) = self.slots.get_mut(slot as usize) {
                    let (traffic, conns, hop) = t.map(|t| (t.traffic, t.conns, t.hop)).unwrap_or_default();
                    *t = Some(Tally { traffic, conns, id: d.id, svc: s.key, board, epoch, hop });
                }
            }
        }
        self.spare = std::mem::replace(&mut self.by_pos, by_pos);
        // In slot order (sequential memory), not the index's: a large configuration has a
        // hundred thousand tallies, and this runs on the worker between bursts.
        for (i, entry) in self.slots.iter_mut().enumerate() {
            let Some(t) = entry else { continue };
            if t.epoch == epoch {
                continue;
            }
            t.board = None;
            if t.conns.active + t.conns.inactive > 0 {
                continue;
            }
            self.retired.entry(t.svc).or_default().add(&t.traffic);
            self.by_id.remove(&t.id);
            *entry = None;
            self.free.push(u32::try_from(i).unwrap_or(NO_TALLY));
        }
        self.retired.retain(|k, _| snap.services.find(k).is_some());
        for t in self.slots.iter().flatten() {
            if let Some(s) = t.board {
                snap.loads.store(self.worker, s, Load { active: t.conns.active, inactive: t.conns.inactive });
            }
        }
    }

    /// The slot of `id`'s tally ([`NO_TALLY`] if it has none).
    #[inline]
    pub(super) fn slot(&self, id: DestId) -> u32 {
        self.by_id.get(&id).copied().unwrap_or(NO_TALLY)
    }

    /// The service of the real server whose tally is in `slot`.
    pub(super) fn service_of(&self, slot: u32) -> Option<ServiceKey> {
        self.slots.get(slot as usize).and_then(|t| t.as_ref()).map(|t| t.svc)
    }

    /// A new connection in `slot`: scheduled, inactive until established.
    #[inline]
    pub(super) fn open(&mut self, snap: &Snapshot, slot: u32) {
        self.change(snap, slot, |t| {
            t.traffic.conns += 1;
            t.conns.inactive += 1;
        });
    }

    /// A packet of `bytes` (its IP length) travelling `dir` on a connection in `slot`.
    #[inline]
    pub(super) fn packet(&mut self, slot: u32, dir: Dir, bytes: u16) {
        if let Some(Some(t)) = self.slots.get_mut(slot as usize) {
            let c = &mut t.traffic;
            match dir {
                Dir::In => {
                    c.inpkts += 1;
                    c.inbytes += u64::from(bytes);
                }
                Dir::Out => {
                    c.outpkts += 1;
                    c.outbytes += u64::from(bytes);
                }
            }
        }
    }

    /// The next hop cached in `slot`, if it was resolved under `generation` and is fresh at `now`.
    #[inline]
    pub(super) fn hop(&self, slot: u32, generation: u64, now: u64) -> Option<Hop> {
        match self.slots.get(slot as usize) {
            Some(Some(t)) if t.hop.generation == generation && now < t.hop.fresh_until => Some(t.hop),
            _ => None,
        }
    }

    /// Caches the next hop of `slot`.
    #[inline]
    pub(super) fn set_hop(&mut self, slot: u32, hop: Hop) {
        if let Some(Some(t)) = self.slots.get_mut(slot as usize) {
            t.hop = hop;
        }
    }

    /// A connection in `slot` became established (`true`) or left that state.
    #[inline]
    pub(super) fn established(&mut self, snap: &Snapshot, slot: u32, is: bool) {
        self.change(snap, slot, |t| {
            let c = &mut t.conns;
            if is {
                c.active += 1;
                c.inactive = c.inactive.saturating_sub(1);
            } else {
                c.active = c.active.saturating_sub(1);
                c.inactive += 1;
            }
        });
    }

    /// Takes a removed connection out of its server's counts.
    pub(super) fn remove(&mut self, snap: &Snapshot, c: &Conn) {
        let active = c.proto == Protocol::Tcp && TcpState::from_u8(c.state) == TcpState::Established;
        self.change(snap, c.tally, |t| {
            let d = &mut t.conns;
            if active {
                d.active = d.active.saturating_sub(1);
            } else {
                d.inactive = d.inactive.saturating_sub(1);
            }
        });
    }

    /// Changes the tally in `slot` with `f` and publishes its connection counts.
    #[inline]
    fn change(&mut self, snap: &Snapshot, slot: u32, f: impl FnOnce(&mut Tally)) {
        if let Some(Some(t)) = self.slots.get_mut(slot as usize) {
            f(t);
            if let Some(s) = t.board {
                snap.loads.store(self.worker, s, Load { active: t.conns.active, inactive: t.conns.inactive });
            }
        }
    }

    /// Connection counts per real server.
    pub(super) fn conns(&self) -> impl Iterator<Item = (DestId, DestConns)> + '_ {
        self.slots.iter().flatten().map(|t| (t.id, t.conns))
    }

    /// Traffic per source: every real server, and the retired figures of every service.
    pub(super) fn traffic(&self) -> impl Iterator<Item = (Source, Counters)> + '_ {
        let dests = self.slots.iter().flatten().map(|t| (Source::Dest(t.id, t.svc), t.traffic));
        dests.chain(self.retired.iter().map(|(k, c)| (Source::Retired(*k), *c)))
    }
}
