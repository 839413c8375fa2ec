//! Round robin (ip_vs_rr.c) and weighted round robin (ip_vs_wrr.c).
//!
//! Both walk the real servers in order from the last choice; a server is a candidate when it is
//! available (weight > 0 and not overloaded).

use super::View;
use super::cursor::{FRESH, pack, unpack_last, wrr_clamp};
use crate::lb::service::RealServer;

/// Round robin: the index of the last server chosen (`None`: start at the first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Rr {
    last: Option<usize>,
}

impl Rr {
    /// The next available server after the last one chosen, cycling.
    pub(super) fn pick(&mut self, v: &View<'_>) -> Option<usize> {
        let n = v.len();
        let start = self.last.map_or(0, |l| l + 1);
        let found = (0..n).map(|k| (start + k) % n).find(|&i| v.available(i))?;
        self.last = Some(found);
        Some(found)
    }

    /// IPVS's rr keeps its place across changes (it has no `upd_dest`); its `del_dest` moves a
    /// cursor on a deleted server back to the nearest one before it that remains (or the head).
    pub(super) fn dests_changed(&mut self, new_of_old: &[Option<usize>]) {
        self.last = self.last.and_then(|l| new_of_old.get(..=l)?.iter().rev().find_map(|&j| j));
    }

    /// One step from a shared position: `(new position, choice)`.
    pub(super) fn pick_from(&mut self, packed: u64, v: &View<'_>) -> (u64, Option<usize>) {
        self.last = unpack_last(packed);
        let choice = self.pick(v);
        (pack(self.last, 0), choice)
    }
}

/// Weighted round robin, IPVS's `ip_vs_wrr_mark`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Wrr {
    /// Last choice (`cl`); `None` is the list head, before the first server.
    pub(super) last: Option<usize>,
    /// Current weight.
    pub(super) cw: i64,
    /// Maximum weight minus (gcd - 1).
    pub(super) mw: i64,
    /// The gcd of the positive weights.
    pub(super) di: i64,
}

impl Wrr {
    pub(super) fn new(dests: &[RealServer]) -> Self {
        let (mw, di) = wrr_bounds(dests);
        Self { last: None, cw: mw, mw, di }
    }

    /// IPVS `ip_vs_wrr_dest_changed`: the cursor returns to the list head and the current weight
    /// is clamped back into range.
    pub(super) fn dests_changed(&mut self, dests: &[RealServer]) {
        self.last = None;
        (self.mw, self.di) = wrr_bounds(dests);
        self.cw = wrr_clamp(self.cw, self.mw, self.di);
    }

    /// One step from a shared position: `(new position, choice)`. The fresh position is IPVS's
    /// initial state (the list head, `cw` = `mw`).
    pub(super) fn pick_from(&mut self, packed: u64, v: &View<'_>) -> (u64, Option<usize>) {
        self.last = unpack_last(packed);
        self.cw = if packed == FRESH { self.mw } else { i64::from(u32::try_from(packed & 0xffff_ffff).unwrap_or(0)) };
        let choice = self.pick(v);
        (pack(self.last, self.cw), choice)
    }

    /// IPVS `ip_vs_wrr_schedule`: walk on from the last choice to the first available server whose
    /// weight reaches `cw`; at the end of the list lower `cw` by `di`, restarting at `mw` below 1.
    /// The `last_pass`/`stop` bookkeeping ends the search once every server was tried at weight >= 1.
    pub(super) fn pick(&mut self, v: &View<'_>) -> Option<usize> {
        if self.mw <= 0 || v.len() == 0 {
            return None;
        }
        let last = self.last;
        let mut pos = self.last;
        let mut stop: Option<usize> = None;
        let mut last_pass = false;
        let mut restarted = false;
        loop {
            let from = pos.map_or(0, |p| p + 1);
            for i in from..v.len() {
                if v.available(i) && i64::try_from(v.weight(i)).unwrap_or(i64::MAX) >= self.cw {
                    self.last = Some(i);
                    return Some(i);
                }
                if stop == Some(i) {
                    self.last = Some(i);
                    return None;
                }
            }
            pos = None;
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                if last_pass || last.is_none() {
                    self.last = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                stop = last;
            }
        }
    }
}

/// (mw, di) for wrr: di is the gcd of the positive weights (1 if none), mw = max weight - (di - 1).
pub(super) fn wrr_bounds(dests: &[RealServer]) -> (i64, i64) {
    let di =
        dests.iter().map(|d| i64::from(d.weight)).filter(|&w| w > 0).fold(0, |g, w| if g == 0 { w } else { gcd(g, w) });
    let di = if di == 0 { 1 } else { di };
    let max = dests.iter().map(|d| i64::from(d.weight)).max().unwrap_or(0);
    // With no positive weight max is 0 and di 1, so mw is 0: "no destination available".
    (max - (di - 1), di)
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Bench, servers};
    use super::super::{Algo, SchedKind};
    use super::*;

    fn sequence(kind: SchedKind, weights: &[u32], n: usize) -> String {
        Bench::new(kind, &servers(weights)).sequence(n)
    }

    #[test]
    fn rr_cycles_over_available_servers() {
        assert_eq!(sequence(SchedKind::Rr, &[1, 1, 1], 7), "ABCABCA");
        assert_eq!(sequence(SchedKind::Rr, &[1, 0, 5], 5), "ACACA");
        assert_eq!(sequence(SchedKind::Rr, &[0, 0], 2), "--");
        assert_eq!(sequence(SchedKind::Rr, &[], 2), "--");
    }

    #[test]
    fn rr_skips_overloaded_servers() {
        let mut d = servers(&[1, 1, 1]);
        d[1].upper = 2;
        let mut b = Bench::new(SchedKind::Rr, &d);
        b.loads[1].inactive = 2;
        assert_eq!(b.sequence(4), "ACAC");
        b.loads[1].inactive = 1;
        assert_eq!(b.sequence(3), "ABC");
    }

    #[test]
    fn wrr_interleaves_like_ipvs() {
        assert_eq!(sequence(SchedKind::Wrr, &[4, 3, 2], 18), "AABABCABCAABABCABC");
        assert_eq!(sequence(SchedKind::Wrr, &[4, 2, 2], 8), "AABCAABC");
        assert_eq!(sequence(SchedKind::Wrr, &[1, 1, 1], 6), "ABCABC");
        assert_eq!(sequence(SchedKind::Wrr, &[0, 3, 0], 3), "BBB");
    }

    #[test]
    fn wrr_shares_follow_weights() {
        let mut b = Bench::new(SchedKind::Wrr, &servers(&[5, 3, 1, 7]));
        let mut count = [0u32; 4];
        for _ in 0..16 * 100 {
            count[b.pick().unwrap()] += 1;
        }
        assert_eq!(count, [500, 300, 100, 700]);
    }

    #[test]
    fn wrr_without_positive_weight_finds_nothing() {
        assert_eq!(sequence(SchedKind::Wrr, &[0, 0, 0], 3), "---");
        assert_eq!(sequence(SchedKind::Wrr, &[], 1), "-");
    }

    #[test]
    fn wrr_skips_overloaded_servers() {
        let mut d = servers(&[4, 3, 2]);
        d[0].upper = 1;
        let mut b = Bench::new(SchedKind::Wrr, &d);
        b.loads[0].active = 1;
        // A is out: the walk gives B and C their IPVS turns (cw 4, 3, 2, 1).
        assert_eq!(b.sequence(5), "BBCBC");
    }

    #[test]
    fn wrr_clamps_after_a_change() {
        let mut b = Bench::new(SchedKind::Wrr, &servers(&[4, 3, 2]));
        b.pick();
        // Weights drop: the current weight is clamped into the new range and the cursor restarts.
        b.change(&servers(&[1, 1]));
        assert!(matches!(&b.state.algo, Algo::Wrr(Wrr { last: None, cw: 1, mw: 1, di: 1 })));
        assert_eq!(b.sequence(2), "AB");
    }
}

#[cfg(test)]
mod shared_tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::lb::sched::{Cursor, DestLoad, SchedCtx, SchedFlags, SchedKind, SchedState};
    use crate::lb::service::{DestId, FwdMethod};

    fn dests(weights: &[u32]) -> Vec<RealServer> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| RealServer {
                id: DestId(u32::try_from(i).unwrap()),
                addr: Ipv4Addr::new(192, 168, 1, u8::try_from(i + 1).unwrap()),
                port: 80,
                weight: w,
                method: FwdMethod::FullNat,
                upper: 0,
                lower: 0,
            })
            .collect()
    }

    /// Three workers taking turns on one service: the shared cursor makes their choices one IPVS
    /// sequence, as a single scheduler would.
    #[test]
    fn workers_sharing_a_cursor_follow_one_ipvs_sequence() {
        for (kind, weights, want) in
            [(SchedKind::Wrr, vec![4, 3, 2], "AABABCABCAABABCABC"), (SchedKind::Rr, vec![1, 0, 5], "ACACACACAC")]
        {
            let d = dests(&weights);
            let cursor = Cursor::default();
            let loads: Vec<DestLoad> = vec![DestLoad::default(); d.len()];
            let mut workers: Vec<SchedState> =
                (0..3).map(|_| SchedState::new(kind, SchedFlags::default(), &d)).collect();
            let ctx = SchedCtx {
                src: Ipv4Addr::new(10, 0, 0, 1),
                sport: 1,
                dst: Ipv4Addr::new(10, 0, 0, 100),
                now: 0,
                loads: &loads,
                cursor: Some(&cursor),
            };
            let got: String = (0..want.len())
                .map(|i| workers[i % 3].pick(&d, &ctx).map_or('-', |j| char::from(b'A' + u8::try_from(j).unwrap())))
                .collect();
            assert_eq!(got, want, "{kind}");
        }
    }
}
