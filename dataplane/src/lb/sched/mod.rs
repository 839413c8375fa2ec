//! Schedulers: pick a real server for a new connection, with the semantics of Linux IPVS's
//! schedulers (../shared/IPVS-SEMANTICS.md; the reference is net/netfilter/ipvs/ip_vs_*.c).
//!
//! `SchedState` is one service's scheduler state, owned by the worker that schedules. The real
//! servers come from the immutable service snapshot and are named by their index in the service's
//! `dests`; the state is told when they change (`dests_changed`, IPVS's `add_dest`/`del_dest`/
//! `upd_dest`), which rebuilds its tables (and may allocate: it runs when a snapshot is installed,
//! not per packet).
//!
//! `pick` runs once per new connection. It never locks or panics, and it allocates nothing except
//! in lblc/lblcr, which insert into a table whose capacity is reserved when the state is built and
//! which evicts rather than grows (see `locality`). Whatever `dests` it is given, an index it
//! returns is in range.
//!
//! The dynamic schedulers read connection counts through [`Loads`]: the caller provides the
//! gateway's counts (every worker's connections to a real server), as IPVS's per-destination
//! counters are. Overload (IPVS's `IP_VS_DEST_F_OVERLOAD`, from the `-x`/`-y` thresholds) is kept
//! here, per service, and evaluated at each `pick` from those counts, only for servers that have an
//! upper threshold (a service without thresholds pays nothing). IPVS sets the flag when a
//! connection is bound (`total >= upper`) and clears it when one is unbound (`total < lower`, or
//! `total * 4 < upper * 3` without a lower threshold). Here the same hysteresis is applied to the
//! counts seen at each decision. With one scheduler per service that is the same thing: between two
//! of its decisions a server's total only falls (connections are added by decisions), so the lowest
//! total in between is the one seen. With several states for a service (one per worker, each with
//! its own flags), a peak that other workers' decisions reach and leave between two of this
//! state's decisions can go unseen, where IPVS would keep the flag until the total falls below the
//! lower threshold; and the counts are as current as the caller's [`Loads`].
//!
//! Files: `rr` (rr, wrr), `cursor` (their shared position and how a change moves it), `least` (lc, wlc, sed, nq, fo, ovf), `hash` (sh, dh), `locality` (the
//! bounded, expiring table of lblc and lblcr), `lblc` (lblc, lblcr), `mh` (Maglev hashing).

mod cursor;
mod hash;
mod lblc;
mod least;
mod locality;
mod mh;
mod rr;
#[cfg(test)]
mod testing;

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;

use super::service::{DestId, RealServer};
pub use ctrl::vocab::{SchedFlags, SchedKind, SchedParseError};

/// A real server's connections: active (TCP ESTABLISHED) and inactive (everything else).
pub use super::loads::Load as DestLoad;
pub use cursor::{Cursor, SchedHistory};

/// Gateway-wide connection counts of a service's real servers, by index in its `dests`.
pub trait Loads {
    /// The connections of real server `dest` (zero for an index out of range).
    fn load(&self, dest: usize) -> DestLoad;
}

impl<F: Fn(usize) -> DestLoad> Loads for F {
    #[inline]
    fn load(&self, dest: usize) -> DestLoad {
        self(dest)
    }
}

impl Loads for Vec<DestLoad> {
    #[inline]
    fn load(&self, dest: usize) -> DestLoad {
        self.get(dest).copied().unwrap_or_default()
    }
}

/// What a scheduling decision may look at.
#[derive(Clone, Copy)]
pub struct SchedCtx<'a> {
    /// The client's address (sh, mh).
    pub src: Ipv4Addr,
    /// The client's port (sh and mh with the `port` flag).
    pub sport: u16,
    /// The destination address of the packet, the VIP (dh, lblc, lblcr).
    pub dst: Ipv4Addr,
    /// Milliseconds on the caller's monotonic clock (lblc, lblcr expiry).
    pub now: u64,
    /// The connection counts of the service's real servers.
    pub loads: &'a dyn Loads,
    /// The service's shared round-robin cursor (rr, wrr), when several workers schedule for it:
    /// the cycle then belongs to the service, not to a worker.
    pub cursor: Option<&'a Cursor>,
}

impl fmt::Debug for SchedCtx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedCtx")
            .field("src", &self.src)
            .field("sport", &self.sport)
            .field("dst", &self.dst)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// The overload flags of a service's real servers (IPVS's `IP_VS_DEST_F_OVERLOAD`), by index.
#[derive(Clone, Debug, Default)]
struct Overload {
    /// Whether each server is overloaded.
    set: Vec<bool>,
    /// The servers with an upper threshold: the only ones whose flag can be set.
    watched: Vec<usize>,
}

impl Overload {
    fn new(dests: &[RealServer]) -> Self {
        let watched = dests.iter().enumerate().filter(|(_, d)| d.upper > 0).map(|(i, _)| i).collect();
        Self { set: vec![false; dests.len()], watched }
    }

    /// Carries the flags over to new servers, as IPVS's `__ip_vs_update_dest`: a flag is kept
    /// unless the upper threshold was removed or raised.
    fn changed(&self, old: &[RealServer], dests: &[RealServer], map: &Remap) -> Self {
        let mut new = Self::new(dests);
        for (j, d) in dests.iter().enumerate() {
            if let Some(i) = map.old_of_new[j]
                && self.is_set(i)
                && d.upper != 0
                && d.upper <= old.get(i).map_or(0, |o| o.upper)
            {
                new.set[j] = true;
            }
        }
        new
    }

    /// IPVS's hysteresis, evaluated from the current counts (see the module documentation).
    #[inline]
    fn update(&mut self, dests: &[RealServer], loads: &dyn Loads) {
        for &i in &self.watched {
            let (Some(d), Some(flag)) = (dests.get(i), self.set.get_mut(i)) else { continue };
            let l = loads.load(i);
            let total = u64::from(l.active) + u64::from(l.inactive);
            if *flag {
                let clear = if d.lower != 0 { total < u64::from(d.lower) } else { total * 4 < u64::from(d.upper) * 3 };
                if clear {
                    *flag = false;
                }
            }
            if !*flag && d.upper != 0 && total >= u64::from(d.upper) {
                *flag = true;
            }
        }
    }

    #[inline]
    fn is_set(&self, i: usize) -> bool {
        self.set.get(i).copied().unwrap_or(false)
    }
}

/// What an algorithm sees of a service's real servers at one decision.
#[derive(Clone, Copy)]
struct View<'a> {
    dests: &'a [RealServer],
    overload: &'a Overload,
    loads: &'a dyn Loads,
}

impl View<'_> {
    #[inline]
    fn len(&self) -> usize {
        self.dests.len()
    }

    #[inline]
    fn weight(&self, i: usize) -> u64 {
        self.dests.get(i).map_or(0, |d| u64::from(d.weight))
    }

    #[inline]
    fn overloaded(&self, i: usize) -> bool {
        self.overload.is_set(i)
    }

    /// IPVS's test for a server that may take a new connection: weight > 0 and not overloaded
    /// (an index out of range is never available).
    #[inline]
    fn available(&self, i: usize) -> bool {
        self.weight(i) > 0 && !self.overloaded(i)
    }

    #[inline]
    fn load(&self, i: usize) -> DestLoad {
        if i < self.dests.len() { self.loads.load(i) } else { DestLoad::default() }
    }

    #[inline]
    fn active(&self, i: usize) -> u64 {
        u64::from(self.load(i).active)
    }

    /// IPVS's `ip_vs_dest_conn_overhead`: active connections weigh 256 inactive ones.
    #[inline]
    fn overhead(&self, i: usize) -> u64 {
        let l = self.load(i);
        u64::from(l.active) * 256 + u64::from(l.inactive)
    }
}

/// How the real servers of a service moved from one list to the next (matched by [`DestId`]).
#[derive(Debug)]
struct Remap {
    /// For each new index, the server's old index, if it was there.
    old_of_new: Vec<Option<usize>>,
    /// For each old index, the server's new index, if it is still there.
    new_of_old: Vec<Option<usize>>,
}

impl Remap {
    fn new(old: &[DestId], dests: &[RealServer]) -> Self {
        let by_id: HashMap<DestId, usize> = old.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let old_of_new: Vec<Option<usize>> = dests.iter().map(|d| by_id.get(&d.id).copied()).collect();
        let mut new_of_old = vec![None; old.len()];
        for (j, i) in old_of_new.iter().enumerate() {
            if let Some(i) = *i {
                new_of_old[i] = Some(j);
            }
        }
        Self { old_of_new, new_of_old }
    }
}

/// The algorithm-specific part of the state.
#[derive(Clone, Debug)]
enum Algo {
    Rr(rr::Rr),
    Wrr(rr::Wrr),
    Sh(Box<hash::Buckets>),
    Dh(Box<hash::Buckets>),
    /// lc, wlc, sed, nq, fo, ovf: nothing but the counts.
    Least,
    Lblc(Box<lblc::Lblc>),
    Lblcr(Box<lblc::Lblcr>),
    Mh(Box<mh::Maglev>),
}

/// The mutable state of one service's scheduler.
#[derive(Clone, Debug)]
pub struct SchedState {
    kind: SchedKind,
    flags: SchedFlags,
    /// The real servers the state was last built for: identities and thresholds.
    dests: Vec<RealServer>,
    overload: Overload,
    algo: Algo,
}

impl SchedState {
    /// Fresh state for a scheduler over these real servers (IPVS `init_service`). lblc and lblcr
    /// reserve their tables here (see `locality`), mh builds its lookup table.
    pub fn new(kind: SchedKind, flags: SchedFlags, dests: &[RealServer]) -> Self {
        let algo = match kind {
            SchedKind::Rr => Algo::Rr(rr::Rr::default()),
            SchedKind::Wrr => Algo::Wrr(rr::Wrr::new(dests)),
            SchedKind::Sh => Algo::Sh(Box::new(hash::Buckets::sh(dests))),
            SchedKind::Dh => Algo::Dh(Box::new(hash::Buckets::dh(dests))),
            SchedKind::Lc | SchedKind::Wlc | SchedKind::Sed | SchedKind::Nq | SchedKind::Fo | SchedKind::Ovf => {
                Algo::Least
            }
            SchedKind::Lblc => Algo::Lblc(Box::new(lblc::Lblc::new())),
            SchedKind::Lblcr => Algo::Lblcr(Box::new(lblc::Lblcr::new())),
            SchedKind::Mh => Algo::Mh(Box::new(mh::Maglev::new(dests, mh::MH_TABLE_SIZE))),
        };
        Self { kind, flags, dests: dests.to_vec(), overload: Overload::new(dests), algo }
    }

    /// The scheduler.
    pub fn kind(&self) -> SchedKind {
        self.kind
    }

    /// The scheduler flags in use.
    pub fn flags(&self) -> SchedFlags {
        self.flags
    }

    /// Changes the flags (IPVS `edit_service` with the same scheduler: the state is kept and the
    /// new flags apply from the next decision).
    pub fn set_flags(&mut self, flags: SchedFlags) {
        self.flags = flags;
    }

    /// Adjusts the state after the real servers changed (IPVS `update_service` / `add_dest` /
    /// `del_dest` / `upd_dest`): rr keeps its place, wrr restarts at the list head with its current
    /// weight clamped into range, sh/dh/mh rebuild their tables, lblc/lblcr follow their servers to their
    /// new indices (entries for removed servers are rescheduled), and overload flags carry over.
    pub fn dests_changed(&mut self, dests: &[RealServer]) {
        let old_ids: Vec<DestId> = self.dests.iter().map(|d| d.id).collect();
        let map = Remap::new(&old_ids, dests);
        self.overload = self.overload.changed(&self.dests, dests, &map);
        match &mut self.algo {
            Algo::Rr(s) => s.dests_changed(&map.new_of_old),
            Algo::Wrr(s) => s.dests_changed(dests),
            Algo::Sh(b) => **b = hash::Buckets::sh(dests),
            Algo::Dh(b) => **b = hash::Buckets::dh(dests),
            Algo::Least => {}
            Algo::Lblc(t) => t.dests_changed(&map),
            Algo::Lblcr(t) => t.dests_changed(&map),
            Algo::Mh(m) => m.dests_changed(dests, &map),
        }
        self.dests = dests.to_vec();
    }

    /// Whether real server `i` is overloaded now (its upper threshold reached, with hysteresis),
    /// from the gateway's counts.
    pub fn is_overloaded(&mut self, dests: &[RealServer], loads: &dyn Loads, i: usize) -> bool {
        self.overload.update(dests, loads);
        self.overload.is_set(i)
    }

    /// Picks the real server for a new connection; `None` when no server is available (IPVS's
    /// "no destination available").
    pub fn pick(&mut self, dests: &[RealServer], ctx: &SchedCtx<'_>) -> Option<usize> {
        self.overload.update(dests, ctx.loads);
        let v = View { dests, overload: &self.overload, loads: ctx.loads };
        let flags = self.flags;
        let found = match &mut self.algo {
            Algo::Rr(s) => match ctx.cursor {
                Some(c) => c.step(|packed| s.pick_from(packed, &v)),
                None => s.pick(&v),
            },
            Algo::Wrr(s) => match ctx.cursor {
                Some(c) => c.step(|packed| s.pick_from(packed, &v)),
                None => s.pick(&v),
            },
            Algo::Sh(b) => b.sh_pick(&v, ctx.src, ctx.sport, flags),
            Algo::Dh(b) => b.dh_pick(&v, ctx.dst),
            Algo::Least => match self.kind {
                SchedKind::Lc => least::lc(&v),
                SchedKind::Sed => least::sed(&v),
                SchedKind::Nq => least::nq(&v),
                SchedKind::Fo => least::fo(&v),
                SchedKind::Ovf => least::ovf(&v),
                _ => least::wlc(&v),
            },
            Algo::Lblc(t) => t.pick(&v, ctx.dst, ctx.now),
            Algo::Lblcr(t) => t.pick(&v, ctx.dst, ctx.now),
            Algo::Mh(m) => m.pick(&v, ctx.src, ctx.sport, flags),
        };
        found.filter(|&i| i < dests.len())
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{Bench, servers};
    use super::*;

    #[test]
    fn overload_is_set_at_upper_and_cleared_below_three_quarters() {
        // upper 4, no lower: set at 4 connections, cleared below 3 (3 * 4 < 4 * 3 is false).
        let mut d = servers(&[1, 1]);
        d[0].upper = 4;
        let mut b = Bench::new(SchedKind::Wlc, &d);
        let mut at = |total: u32| {
            b.loads[0].inactive = total;
            b.loads[1].inactive = 100;
            b.pick()
        };
        assert_eq!(at(3), Some(0));
        assert_eq!(at(4), Some(1));
        assert_eq!(at(3), Some(1), "still overloaded: 3 is not below 3/4 of 4");
        assert_eq!(at(2), Some(0));
        assert_eq!(at(3), Some(0), "cleared: needs the upper threshold again");
    }

    #[test]
    fn overload_with_a_lower_threshold_clears_below_it() {
        let mut d = servers(&[1, 1]);
        d[0].upper = 10;
        d[0].lower = 5;
        let mut b = Bench::new(SchedKind::Wlc, &d);
        let mut at = |total: u32| {
            b.loads[0].inactive = total;
            b.loads[1].inactive = 1000;
            b.pick()
        };
        assert_eq!(at(10), Some(1));
        assert_eq!(at(5), Some(1));
        assert_eq!(at(4), Some(0));
        assert_eq!(at(9), Some(0));
    }

    #[test]
    fn overload_counts_active_and_inactive_connections() {
        let mut d = servers(&[1, 1]);
        d[1].upper = 3;
        let mut b = Bench::new(SchedKind::Rr, &d);
        b.loads[1] = DestLoad { active: 2, inactive: 1 };
        assert_eq!(b.sequence(3), "AAA");
        b.loads[1] = DestLoad { active: 1, inactive: 0 };
        assert_eq!(b.sequence(2), "BA");
    }

    #[test]
    fn overload_survives_a_change_unless_the_threshold_is_raised_or_removed() {
        let mut d = servers(&[1, 1]);
        d[0].upper = 4;
        let mut b = Bench::new(SchedKind::Wlc, &d);
        b.loads[0].inactive = 4;
        b.loads[1].inactive = 100;
        assert_eq!(b.pick(), Some(1));
        b.loads[0].inactive = 3;
        // The same threshold, a weight changed: still overloaded.
        d[1].weight = 2;
        b.change(&d);
        assert_eq!(b.pick(), Some(1));
        // Raised: IPVS clears the flag; 3 is below 5, so it stays clear.
        d[0].upper = 5;
        b.change(&d);
        assert_eq!(b.pick(), Some(0));
        // Removed: never overloaded.
        b.loads[0].inactive = 50;
        d[0].upper = 0;
        b.change(&d);
        assert_eq!(b.pick(), Some(0));
    }

    #[test]
    fn a_service_without_thresholds_watches_nothing() {
        let st = SchedState::new(SchedKind::Wlc, SchedFlags::default(), &servers(&[1, 2, 3]));
        assert!(st.overload.watched.is_empty());
    }

    #[test]
    fn picks_stay_in_range_when_the_caller_passes_fewer_servers() {
        let d = servers(&[1, 1, 1, 1]);
        for kind in SchedKind::ALL {
            let mut st = SchedState::new(kind, SchedFlags::default(), &d);
            let loads: Vec<DestLoad> = vec![DestLoad::default(); 4];
            for k in 0..50u8 {
                let ctx = SchedCtx {
                    src: Ipv4Addr::new(10, 0, 0, k),
                    sport: 1000,
                    dst: Ipv4Addr::new(10, 0, 1, k),
                    now: 0,
                    loads: &loads,
                    cursor: None,
                };
                assert!(st.pick(&d[..1], &ctx).is_none_or(|i| i == 0), "{kind}");
                assert!(st.pick(&[], &ctx).is_none(), "{kind}");
            }
        }
    }

    #[test]
    fn flags_can_change_without_losing_state() {
        let d = servers(&[1, 1, 1]);
        let mut st = SchedState::new(SchedKind::Sh, SchedFlags::default(), &d);
        st.set_flags(SchedFlags { port: true, ..SchedFlags::default() });
        assert_eq!(st.flags(), SchedFlags { port: true, fallback: false, flag3: false });
        assert_eq!(st.kind(), SchedKind::Sh);
    }
}
