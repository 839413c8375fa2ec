//! Gateway-wide connection counts per real server, for the dynamic schedulers.
//!
//! Every worker keeps the active and inactive connections of each real server it holds connections
//! for. The dynamic schedulers (lc, wlc, sed, nq, lblc, lblcr, ovf, and the thresholds) must balance
//! by the gateway's totals, not a core's. A `LoadBoard` has one row per worker and one slot per real
//! server of a configuration snapshot (in service order, see `Services::dest_slot`): each worker
//! stores its own counts in its own row (a relaxed store by the row's single writer, never a
//! read-modify-write), and a scheduling decision on any worker sums a real server's slots over the
//! rows. A count is seen by the other workers as soon as the store is visible: the staleness is that
//! of a relaxed atomic, bounded by the cache coherence latency (well under a microsecond); no worker
//! ever waits for another.

use std::sync::atomic::{AtomicU64, Ordering};

/// Connections of a real server: active (TCP ESTABLISHED) and inactive (everything else).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Load {
    /// ESTABLISHED TCP connections.
    pub active: u32,
    /// Connections in any other state, UDP flows included.
    pub inactive: u32,
}

impl Load {
    #[inline]
    fn pack(self) -> u64 {
        (u64::from(self.active) << 32) | u64::from(self.inactive)
    }

    #[inline]
    // The two halves of the packed word are 32 bits each by construction.
    #[allow(clippy::cast_possible_truncation)]
    fn unpack(v: u64) -> Self {
        Self { active: (v >> 32) as u32, inactive: v as u32 }
    }
}

/// Per-worker counts of every real server of one snapshot.
#[derive(Debug, Default)]
pub struct LoadBoard {
    rows: Vec<Box<[AtomicU64]>>,
    slots: usize,
}

impl LoadBoard {
    /// A board for `workers` workers and `slots` real servers, all counts zero.
    pub fn new(workers: usize, slots: usize) -> Self {
        Self { rows: (0..workers).map(|_| (0..slots).map(|_| AtomicU64::new(0)).collect()).collect(), slots }
    }

    /// The number of real-server slots.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Worker `worker` records its own counts for `slot`. Only that worker writes its row.
    #[inline]
    pub fn store(&self, worker: usize, slot: usize, load: Load) {
        if let Some(a) = self.rows.get(worker).and_then(|r| r.get(slot)) {
            a.store(load.pack(), Ordering::Relaxed);
        }
    }

    /// The gateway's counts for `slot`: the sum over the workers.
    #[inline]
    pub fn total(&self, slot: usize) -> Load {
        let mut t = Load::default();
        for row in &self.rows {
            if let Some(a) = row.get(slot) {
                let l = Load::unpack(a.load(Ordering::Relaxed));
                t.active = t.active.saturating_add(l.active);
                t.inactive = t.inactive.saturating_add(l.inactive);
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_every_workers_row() {
        let b = LoadBoard::new(3, 2);
        b.store(0, 1, Load { active: 2, inactive: 5 });
        b.store(2, 1, Load { active: 1, inactive: u32::MAX });
        b.store(1, 0, Load { active: 7, inactive: 0 });
        assert_eq!(b.total(1), Load { active: 3, inactive: u32::MAX });
        assert_eq!(b.total(0), Load { active: 7, inactive: 0 });
        b.store(0, 1, Load::default());
        assert_eq!(b.total(1), Load { active: 1, inactive: u32::MAX });
        // Out of range: ignored, zero.
        b.store(5, 0, Load { active: 1, inactive: 1 });
        assert_eq!(b.total(9), Load::default());
    }
}
