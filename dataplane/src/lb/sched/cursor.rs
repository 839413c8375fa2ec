//! A service's shared rr/wrr position, and how it crosses a configuration change.
//!
//! IPVS keeps rr's and wrr's place in the service (`sched_data`, a pointer to the last real server
//! chosen) and moves it from hooks that run on every change of the service's real servers:
//! `init_service` when the scheduler is bound (`-A`, or `-E` to another scheduler), `add_dest`,
//! `upd_dest` and `del_dest` for every `-a`, `-e` and `-d`. rr has only `del_dest` (a cursor on the
//! deleted server moves back to the one before it, so the next pick is the one after it) and keeps
//! its place otherwise; wrr's `ip_vs_wrr_dest_changed` runs for all three (back to the list head,
//! the current weight clamped into the new range). fnatd applies a whole transaction at once, so
//! [`ControlState`](crate::control::state::ControlState) records the hooks each command would have
//! run ([`SchedHistory`]), and the position is carried to the next snapshot through them in order:
//! the result is the one the kernel reaches after the same commands one by one (a series of `-a`
//! of weights 4, 3, 2 leaves wrr at weight 1, as it does in IPVS).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::SchedKind;
use super::rr::wrr_bounds;
use crate::lb::service::{DestId, RealServer, Service, ServiceKey};

/// A service's round-robin position shared by every worker: rr's last choice, or wrr's last choice
/// and current weight, packed in one word. A new connection reads it, takes IPVS's step on a copy,
/// and publishes the result with one compare-and-swap (retried if another worker got there first):
/// one atomic operation per new connection of an rr/wrr service, none per packet.
#[derive(Debug)]
pub struct Cursor(AtomicU64);

/// The packed value of a cursor with no recorded history: the list head, and for wrr the current
/// weight at its maximum (IPVS's state right after `init_service` over the current servers).
pub(super) const FRESH: u64 = u64::MAX;

impl Default for Cursor {
    fn default() -> Self {
        Self(AtomicU64::new(FRESH))
    }
}

impl Clone for Cursor {
    fn clone(&self) -> Self {
        Self(AtomicU64::new(self.0.load(Ordering::Relaxed)))
    }
}

impl Cursor {
    /// Runs `step` (from the packed position to the new one and the choice) until the position it
    /// started from was still current when it published, then returns the choice.
    pub(super) fn step(&self, mut step: impl FnMut(u64) -> (u64, Option<usize>)) -> Option<usize> {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            let (next, choice) = step(cur);
            match self.0.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return choice,
                Err(now) => cur = now,
            }
        }
    }

    /// The packed position.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Sets the packed position (one carried over from the previous configuration).
    pub(crate) fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
}

pub(super) fn unpack_last(packed: u64) -> Option<usize> {
    let last = packed >> 32;
    (packed != FRESH && last != u64::from(u32::MAX)).then(|| usize::try_from(last).unwrap_or(usize::MAX))
}

fn unpack_cw(packed: u64) -> i64 {
    i64::from(u32::try_from(packed & 0xffff_ffff).unwrap_or(0))
}

pub(super) fn pack(last: Option<usize>, cw: i64) -> u64 {
    let last = last.and_then(|l| u32::try_from(l).ok()).unwrap_or(u32::MAX);
    let cw = u32::try_from(cw.max(0)).unwrap_or(u32::MAX);
    (u64::from(last) << 32) | u64::from(cw)
}

/// One hook IPVS runs on a service's scheduler, with what rr and wrr need of the servers after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hook {
    /// `init_service`: the list head; wrr's current weight at the maximum `mw` of the servers then.
    Init { mw: i64 },
    /// `add_dest` or `upd_dest`: wrr's bounds over the servers after it.
    Changed { mw: i64, di: i64 },
    /// `del_dest` of `id`, which followed `before` in the list (`None`: it was first).
    Deleted { id: DestId, before: Option<DestId>, mw: i64, di: i64 },
}

/// The scheduler hooks that changes ran since the last snapshot, per service, in order.
#[derive(Clone, Debug, Default)]
pub struct SchedHistory(HashMap<ServiceKey, Vec<Hook>>);

impl SchedHistory {
    /// The service's scheduler was bound over `dests` (its creation, or a change of scheduler).
    pub fn bound(&mut self, key: ServiceKey, dests: &[RealServer]) {
        let (mw, _) = wrr_bounds(dests);
        self.0.insert(key, vec![Hook::Init { mw }]);
    }

    /// A real server was added or edited; `dests` is the list after it.
    pub fn changed(&mut self, key: ServiceKey, dests: &[RealServer]) {
        let (mw, di) = wrr_bounds(dests);
        self.0.entry(key).or_default().push(Hook::Changed { mw, di });
    }

    /// Real server `id` was deleted from after `before`; `dests` is the list after it.
    pub fn deleted(&mut self, key: ServiceKey, id: DestId, before: Option<DestId>, dests: &[RealServer]) {
        let (mw, di) = wrr_bounds(dests);
        self.0.entry(key).or_default().push(Hook::Deleted { id, before, mw, di });
    }

    /// The service was deleted.
    pub fn forget(&mut self, key: &ServiceKey) {
        self.0.remove(key);
    }

    /// Every service was deleted.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The packed position of `svc` in the next snapshot: from its last recorded `init_service`,
    /// else from `old` (its position and service in the previous snapshot), through the hooks
    /// recorded since. Without a record and with other servers (a snapshot built by hand), the
    /// servers keep their place by identity and wrr's hook runs once over the new list.
    pub(crate) fn carry(&self, svc: &Service, old: Option<(u64, &Service)>) -> u64 {
        if !matches!(svc.scheduler, SchedKind::Rr | SchedKind::Wrr) {
            return FRESH;
        }
        let hooks = self.0.get(&svc.key).map_or(&[][..], Vec::as_slice);
        let init = hooks.iter().enumerate().rev().find_map(|(i, h)| match *h {
            Hook::Init { mw } => Some((i, mw)),
            _ => None,
        });
        let (mut last, mut cw, hooks) = match init {
            Some((i, mw)) => (None, mw, &hooks[i + 1..]),
            None => match old {
                Some((packed, o)) if o.scheduler == svc.scheduler => {
                    if hooks.is_empty() && o.dests == svc.dests {
                        return packed;
                    }
                    let last = unpack_last(packed).and_then(|i| o.dests.get(i)).map(|d| d.id);
                    let cw = if packed == FRESH { wrr_bounds(&o.dests).0 } else { unpack_cw(packed) };
                    (last, cw, hooks)
                }
                _ => return FRESH,
            },
        };
        let unrecorded = [{
            let (mw, di) = wrr_bounds(&svc.dests);
            Hook::Changed { mw, di }
        }];
        let hooks =
            if hooks.is_empty() && old.is_some_and(|(_, o)| o.dests != svc.dests) { &unrecorded } else { hooks };
        for h in hooks {
            match (svc.scheduler, *h) {
                (SchedKind::Rr, Hook::Deleted { id, before, .. }) if last == Some(id) => last = before,
                (SchedKind::Wrr, Hook::Changed { mw, di } | Hook::Deleted { mw, di, .. }) => {
                    last = None;
                    cw = wrr_clamp(cw, mw, di);
                }
                _ => {}
            }
        }
        let last = last.and_then(|id| svc.dests.iter().position(|d| d.id == id));
        pack(last, if svc.scheduler == SchedKind::Wrr { cw } else { 0 })
    }
}

/// `ip_vs_wrr_dest_changed`'s clamp of the current weight `cw` into the new bounds.
pub(super) fn wrr_clamp(cw: i64, mw: i64, di: i64) -> i64 {
    if cw > mw || cw == 0 {
        mw
    } else if di > 1 {
        (cw / di) * di + 1
    } else {
        cw
    }
}
