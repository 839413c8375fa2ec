//! Locality-based least connections (ip_vs_lblc.c) and its replicated variant (ip_vs_lblcr.c).
//!
//! Both remember, per destination address, where its connections went, in a [`Table`] (bounded,
//! expiring: see `locality`). New servers are chosen by the wlc loop. "Overloaded" here is lblc's
//! own test (`is_overloaded` in both files): more active connections than the weight while some
//! server of the service has fewer than half its weight.
//!
//! lblc keeps the remembered server unless it is gone, has weight 0 or is overloaded in that sense
//! (as in IPVS, the `-x` threshold flag is not consulted for it); otherwise wlc picks anew and the
//! entry is replaced.
//!
//! lblcr remembers a set, newest member first. It uses the set's weighted least-loaded member
//! (skipping threshold-overloaded members); when there is none, or that member is overloaded in
//! lblc's sense, wlc picks a server which joins the set. A set of more than one member unchanged
//! for `lblcr_expiration` (24 h) loses its weighted most-loaded member at the next decision. A set
//! holds at most [`SET_MAX`] members (the kernel's is unbounded): a pick that would join a full
//! set is used but not remembered.
//!
//! When the real servers change, remembered servers follow their new indices; entries naming a
//! removed server are rescheduled (lblc), removed servers leave their sets (lblcr).

use std::net::Ipv4Addr;

use super::least::{self, mul};
use super::locality::{EXPIRATION, Table};
use super::{Remap, View};

/// A remembered server that is no longer in the service.
const GONE: u32 = u32::MAX;
/// The most members of an lblcr set.
pub(super) const SET_MAX: usize = 8;

/// lblc's `is_overloaded`: `d` has more active connections than its weight while some server has
/// fewer than half of its own.
fn overloaded(v: &View<'_>, d: usize) -> bool {
    v.active(d) > v.weight(d) && (0..v.len()).any(|j| v.active(j) * 2 < v.weight(j))
}

/// lblc's state: destination address -> server index.
#[derive(Clone, Debug)]
pub(super) struct Lblc {
    table: Table<u32>,
}

impl Lblc {
    pub(super) fn new() -> Self {
        Self { table: Table::new() }
    }

    /// IPVS `ip_vs_lblc_schedule`.
    pub(super) fn pick(&mut self, v: &View<'_>, dst: Ipv4Addr, now: u64) -> Option<usize> {
        self.table.expire(now);
        if let Some(e) = self.table.get_mut(dst) {
            e.lastuse = now;
            if let Ok(d) = usize::try_from(e.value)
                && d < v.len()
                && v.weight(d) > 0
                && !overloaded(v, d)
            {
                return Some(d);
            }
        }
        let d = least::wlc(v)?;
        let stored = u32::try_from(d).unwrap_or(GONE);
        // `ip_vs_lblc_new`: an entry already naming `d` stays as it is.
        if self.table.get_mut(dst).is_none_or(|e| e.value != stored) {
            self.table.insert(dst, stored, now);
        }
        Some(d)
    }

    pub(super) fn dests_changed(&mut self, map: &Remap) {
        for s in self.table.values_mut() {
            let new = usize::try_from(*s).ok().and_then(|i| map.new_of_old.get(i).copied().flatten());
            *s = new.and_then(|j| u32::try_from(j).ok()).unwrap_or(GONE);
        }
    }
}

/// An lblcr server set, newest member first (the kernel adds at the list head).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct DestSet {
    members: [u16; SET_MAX],
    len: u8,
    /// When a member last joined or left, ms.
    lastmod: u64,
}

impl DestSet {
    fn new(now: u64) -> Self {
        Self { members: [0; SET_MAX], len: 0, lastmod: now }
    }

    fn members(&self) -> impl Iterator<Item = usize> + '_ {
        self.members[..usize::from(self.len)].iter().map(|&m| usize::from(m))
    }

    /// `ip_vs_dest_set_insert` with its duplicate check: `d` joins at the head, unless the set is
    /// full.
    fn insert(&mut self, d: usize, now: u64) {
        let (Ok(m), n) = (u16::try_from(d), usize::from(self.len)) else { return };
        if self.members().any(|x| x == d) || n == SET_MAX {
            return;
        }
        self.members.copy_within(0..n, 1);
        self.members[0] = m;
        self.len += 1;
        self.lastmod = now;
    }

    /// `ip_vs_dest_set_erase`.
    fn erase(&mut self, d: usize, now: u64) {
        let n = usize::from(self.len);
        let found = self.members().position(|x| x == d);
        if let Some(p) = found {
            self.members.copy_within(p + 1..n, p);
            self.len -= 1;
            self.lastmod = now;
        }
    }

    /// `ip_vs_dest_set_min`: the first member not overloaded with weight > 0 starts; later ones
    /// not overloaded replace it when `loh * w(d) > doh * w(least)`.
    fn least(&self, v: &View<'_>) -> Option<usize> {
        let mut it = self.members().filter(|&m| !v.overloaded(m));
        let mut least = it.find(|&m| v.weight(m) > 0)?;
        let mut loh = v.overhead(least);
        for d in it {
            let doh = v.overhead(d);
            if mul(loh, v.weight(d)) > mul(doh, v.weight(least)) {
                (least, loh) = (d, doh);
            }
        }
        Some(least)
    }

    /// `ip_vs_dest_set_max`: the first member with weight > 0 starts; later ones with weight > 0
    /// replace it when `moh * w(d) < doh * w(most)`.
    fn most(&self, v: &View<'_>) -> Option<usize> {
        let mut it = self.members().filter(|&m| v.weight(m) > 0);
        let mut most = it.next()?;
        let mut moh = v.overhead(most);
        for d in it {
            let doh = v.overhead(d);
            if mul(moh, v.weight(d)) < mul(doh, v.weight(most)) {
                (most, moh) = (d, doh);
            }
        }
        Some(most)
    }
}

/// lblcr's state: destination address -> server set.
#[derive(Clone, Debug)]
pub(super) struct Lblcr {
    table: Table<DestSet>,
}

impl Lblcr {
    pub(super) fn new() -> Self {
        Self { table: Table::new() }
    }

    /// IPVS `ip_vs_lblcr_schedule`.
    pub(super) fn pick(&mut self, v: &View<'_>, dst: Ipv4Addr, now: u64) -> Option<usize> {
        self.table.expire(now);
        if let Some(e) = self.table.get_mut(dst) {
            e.lastuse = now;
            let set = &mut e.value;
            let dest = set.least(v);
            if set.len > 1
                && now > set.lastmod.saturating_add(EXPIRATION)
                && let Some(m) = set.most(v)
            {
                set.erase(m, now);
            }
            if let Some(d) = dest
                && !overloaded(v, d)
            {
                return Some(d);
            }
            let d = least::wlc(v)?;
            set.insert(d, now);
            return Some(d);
        }
        let d = least::wlc(v)?;
        let mut set = DestSet::new(now);
        set.insert(d, now);
        self.table.insert(dst, set, now);
        Some(d)
    }

    pub(super) fn dests_changed(&mut self, map: &Remap) {
        for set in self.table.values_mut() {
            let mut kept = DestSet::new(set.lastmod);
            for m in set.members() {
                if let Some(Some(j)) = map.new_of_old.get(m)
                    && let Ok(j) = u16::try_from(*j)
                {
                    kept.members[usize::from(kept.len)] = j;
                    kept.len += 1;
                }
            }
            *set = kept;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Bench, letter, servers};
    use super::super::{Algo, DestLoad, SchedKind};
    use super::*;

    const HOUR: u64 = 3_600_000;

    fn set(b: &mut Bench) -> Vec<usize> {
        let dst = b.dst;
        match &mut b.state.algo {
            Algo::Lblcr(t) => t.table.get_mut(dst).map_or(vec![], |e| e.value.members().collect()),
            _ => unreachable!(),
        }
    }

    fn active(b: &mut Bench, counts: &[u32]) {
        b.loads = counts.iter().map(|&active| DestLoad { active, inactive: 0 }).collect();
    }

    #[test]
    fn lblc_keeps_a_destination_on_its_server() {
        let mut b = Bench::new(SchedKind::Lblc, &servers(&[2, 2, 2]));
        b.dst = Ipv4Addr::new(10, 9, 0, 1);
        active(&mut b, &[1, 0, 0]);
        assert_eq!(b.pick(), Some(1));
        // wlc would now pick A or C, but B is not overloaded (2 active <= weight 2): it stays.
        active(&mut b, &[0, 2, 0]);
        assert_eq!(b.sequence(3), "BBB");
        // Another destination is scheduled on its own.
        b.dst = Ipv4Addr::new(10, 9, 0, 2);
        assert_eq!(b.pick(), Some(0));
        b.dst = Ipv4Addr::new(10, 9, 0, 1);
        assert_eq!(b.pick(), Some(1));
    }

    #[test]
    fn lblc_moves_an_overloaded_destination_while_another_server_has_room() {
        let mut b = Bench::new(SchedKind::Lblc, &servers(&[2, 2]));
        assert_eq!(b.pick(), Some(0));
        // A has 3 > 2 active and B has 0 * 2 < 2: overloaded, wlc picks B, which is remembered.
        active(&mut b, &[3, 0]);
        assert_eq!(b.pick(), Some(1));
        active(&mut b, &[0, 0]);
        assert_eq!(b.pick(), Some(1));
        // When nobody has room, an overloaded server keeps its destination.
        active(&mut b, &[1, 3]);
        assert_eq!(b.pick(), Some(1));
    }

    #[test]
    fn lblc_ignores_the_threshold_of_a_remembered_server_like_ipvs() {
        let mut d = servers(&[1, 1]);
        d[0].upper = 1;
        let mut b = Bench::new(SchedKind::Lblc, &d);
        assert_eq!(b.pick(), Some(0));
        b.loads[0].inactive = 5;
        assert_eq!(b.pick(), Some(0));
        // A new destination is scheduled by wlc, which skips it.
        b.dst = Ipv4Addr::new(10, 9, 9, 9);
        assert_eq!(b.pick(), Some(1));
    }

    #[test]
    fn lblc_reschedules_a_quiesced_or_removed_server() {
        let mut d = servers(&[1, 1, 1]);
        let mut b = Bench::new(SchedKind::Lblc, &d);
        active(&mut b, &[1, 1, 0]);
        assert_eq!(b.pick(), Some(2));
        // B removed: C is now index 1 and keeps the destination.
        d.remove(1);
        b.change(&d);
        active(&mut b, &[0, 1]);
        assert_eq!(b.pick(), Some(1));
        // C quiesced: wlc picks A.
        d[1].weight = 0;
        b.change(&d);
        assert_eq!(b.pick(), Some(0));
        d[1].weight = 1;
        b.change(&d);
        assert_eq!(b.pick(), Some(0));
        // A removed: rescheduled on what is left.
        d.remove(0);
        b.change(&d);
        assert_eq!(b.pick(), Some(0));
        b.change(&[]);
        assert_eq!(b.pick(), None);
    }

    #[test]
    fn lblc_forgets_a_destination_unused_for_a_day() {
        let mut b = Bench::new(SchedKind::Lblc, &servers(&[1, 1]));
        active(&mut b, &[1, 0]);
        assert_eq!(b.pick(), Some(1));
        active(&mut b, &[0, 1]);
        b.now = 23 * HOUR;
        assert_eq!(b.pick(), Some(1));
        // Last used at 23 h: gone by 47 h 31 min, when wlc picks A.
        b.now = 47 * HOUR + 31 * 60_000;
        assert_eq!(b.pick(), Some(0));
    }

    #[test]
    fn lblcr_grows_a_set_when_its_member_is_overloaded() {
        let mut b = Bench::new(SchedKind::Lblcr, &servers(&[2, 2, 2]));
        assert_eq!(b.pick(), Some(0));
        assert_eq!(set(&mut b), [0]);
        // A overloaded (3 > 2, C has room): wlc picks C, which joins at the head.
        active(&mut b, &[3, 1, 0]);
        assert_eq!(b.pick(), Some(2));
        assert_eq!(set(&mut b), [2, 0]);
        // The least loaded member serves; ties go to the newest.
        active(&mut b, &[0, 0, 0]);
        assert_eq!(b.sequence(2), "CC");
        active(&mut b, &[0, 0, 1]);
        assert_eq!(b.pick(), Some(0));
        // B is not a member: never used for this destination while a member is fine.
        active(&mut b, &[1, 0, 1]);
        assert_eq!(b.pick(), Some(2));
        assert_eq!(set(&mut b), [2, 0]);
    }

    #[test]
    fn lblcr_shrinks_a_set_unchanged_for_a_day() {
        let mut b = Bench::new(SchedKind::Lblcr, &servers(&[2, 2]));
        assert_eq!(b.pick(), Some(0));
        active(&mut b, &[3, 0]);
        b.now = HOUR;
        assert_eq!(b.pick(), Some(1));
        assert_eq!(set(&mut b), [1, 0]);
        // Used every 10 hours, unchanged since 1 h.
        active(&mut b, &[0, 1]);
        for h in [11, 21] {
            b.now = h * HOUR;
            assert_eq!(b.pick(), Some(0));
        }
        b.now = 25 * HOUR;
        assert_eq!(set(&mut b), [1, 0]);
        // Past 1 h + 24 h: the most loaded member (B) leaves; the least loaded still serves.
        b.now = 25 * HOUR + 1;
        assert_eq!(b.pick(), Some(0));
        assert_eq!(set(&mut b), [0]);
    }

    #[test]
    fn lblcr_skips_members_over_their_threshold() {
        let mut d = servers(&[1, 1]);
        d[0].upper = 2;
        let mut b = Bench::new(SchedKind::Lblcr, &d);
        assert_eq!(b.pick(), Some(0));
        b.loads[0].inactive = 2;
        assert_eq!(b.pick(), Some(1));
        assert_eq!(set(&mut b), [1, 0]);
    }

    #[test]
    fn lblcr_sets_follow_server_changes_and_stay_bounded() {
        let mut d = servers(&[1; 12]);
        let mut b = Bench::new(SchedKind::Lblcr, &d);
        // Grow the set: every pick finds its least member overloaded and others with room.
        for k in 0..8 {
            let mut counts = vec![0; 12];
            for m in set(&mut b) {
                counts[m] = 2;
            }
            active(&mut b, &counts);
            assert_eq!(letter(b.pick()), char::from(b'A' + u8::try_from(k).unwrap()));
        }
        assert_eq!(set(&mut b), [7, 6, 5, 4, 3, 2, 1, 0]);
        // Full: the next pick (I) is used but not remembered.
        let mut counts = vec![2; 8];
        counts.extend([0; 4]);
        active(&mut b, &counts);
        assert_eq!(b.pick(), Some(8));
        assert_eq!(set(&mut b), [7, 6, 5, 4, 3, 2, 1, 0]);
        // Removing B and D: the others move down, order kept.
        d.remove(3);
        d.remove(1);
        b.change(&d);
        assert_eq!(set(&mut b), [5, 4, 3, 2, 1, 0]);
    }
}
