//! A worker's tallies per real server: active and inactive connections (mirrored into the
//! snapshot's load board so that every worker's schedulers see the gateway's totals) and the
//! traffic IPVS counts (connections scheduled, packets and bytes each way).
//!
//! Tallies live in a slab; a connection keeps its real server's slot (`Conn::tally`), so counting a
//! packet is one indexed add, with no lookup. A slot stays taken while its real server is configured
//! or holds a connection here; when it is freed, its traffic goes into its service's retired
//! figures, so nothing counted is lost (see `control::stats`).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::shared::DestConns;
use crate::control::stats::{Counters, Source};
use crate::lb::loads::Load;
use crate::lb::service::KeyHasher;
use crate::lb::{Conn, DestId, Dir, Protocol, ServiceKey, TcpState};
use crate::snapshot::Snapshot;

/// The slot of no tally (counting with it does nothing).
pub const NO_TALLY: u32 = u32::MAX;

/// One real server's tally on this worker.
#[derive(Clone, Copy, Debug)]
struct Tally {
    traffic: Counters,
    conns: DestConns,
    id: DestId,
    svc: ServiceKey,
    /// Its slot on the current snapshot's load board, while it is configured.
    board: Option<usize>,
}

type Map<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// The tallies of every real server this worker knows.
#[derive(Debug, Default)]
pub(super) struct DestCounts {
    slots: Vec<Option<Tally>>,
    free: Vec<u32>,
    by_id: Map<DestId, u32>,
    /// Traffic of freed tallies, by service.
    retired: Map<ServiceKey, Counters>,
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
        for s in snap.services.iter() {
            for d in &s.dests {
                let slot = match self.by_id.get(&d.id) {
                    Some(&slot) => slot,
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
                if let Some(t) = self.slots.get_mut(slot as usize) {
                    let traffic = t.map(|t| t.traffic).unwrap_or_default();
                    let conns = t.map(|t| t.conns).unwrap_or_default();
                    *t = Some(Tally { traffic, conns, id: d.id, svc: s.key, board: None });
                }
            }
        }
        let Self { slots, free, by_id, retired, .. } = self;
        by_id.retain(|id, slot| {
            let Some(Some(t)) = slots.get_mut(*slot as usize) else {
                return false;
            };
            t.board = snap.services.slot_of(*id);
            if t.board.is_some() || t.conns.active + t.conns.inactive > 0 {
                return true;
            }
            retired.entry(t.svc).or_default().add(&t.traffic);
            slots[*slot as usize] = None;
            free.push(*slot);
            false
        });
        retired.retain(|k, _| snap.services.find(k).is_some());
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
