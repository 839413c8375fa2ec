//! A worker's connections per real server, mirrored into the snapshot's load board so that every
//! worker's schedulers see the gateway's totals.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::shared::DestConns;
use crate::lb::loads::Load;
use crate::lb::service::KeyHasher;
use crate::lb::{Conn, DestId, Protocol, TcpState};
use crate::snapshot::Snapshot;

/// Active and inactive connections per real server on this worker, with each server's slot on the
/// current snapshot's load board.
#[derive(Debug, Default)]
pub(super) struct DestCounts {
    map: HashMap<DestId, (DestConns, Option<usize>), BuildHasherDefault<KeyHasher>>,
    worker: usize,
}

impl DestCounts {
    pub(super) fn new(worker: usize) -> Self {
        Self { map: HashMap::default(), worker }
    }

    /// Follows a new snapshot: an entry for every real server it has (allocated here, so that the
    /// packet path never allocates), the board slots of the new snapshot with this worker's counts
    /// stored there, and servers that are gone and hold no connection here forgotten.
    pub(super) fn rebind(&mut self, snap: &Snapshot) {
        for s in snap.services.iter() {
            for d in &s.dests {
                self.map.entry(d.id).or_default();
            }
        }
        self.map.retain(|id, (c, slot)| {
            *slot = snap.services.slot_of(*id);
            slot.is_some() || c.active + c.inactive > 0
        });
        for (c, slot) in self.map.values() {
            if let Some(s) = *slot {
                snap.loads.store(self.worker, s, Load { active: c.active, inactive: c.inactive });
            }
        }
    }

    /// Changes the counts of `id` with `f` and publishes them.
    #[inline]
    pub(super) fn change(&mut self, snap: &Snapshot, id: DestId, f: impl FnOnce(&mut DestConns)) {
        if let Some((c, slot)) = self.map.get_mut(&id) {
            f(c);
            if let Some(s) = *slot {
                snap.loads.store(self.worker, s, Load { active: c.active, inactive: c.inactive });
            }
        }
    }

    /// Takes a removed connection out of its server's counts.
    pub(super) fn remove(&mut self, snap: &Snapshot, c: &Conn) {
        let active = c.proto == Protocol::Tcp && TcpState::from_u8(c.state) == TcpState::Established;
        self.change(snap, c.dest, |d| {
            if active {
                d.active = d.active.saturating_sub(1);
            } else {
                d.inactive = d.inactive.saturating_sub(1);
            }
        });
    }

    /// All counts.
    pub(super) fn iter(&self) -> impl Iterator<Item = (DestId, DestConns)> + '_ {
        self.map.iter().map(|(d, (c, _))| (*d, *c))
    }
}
