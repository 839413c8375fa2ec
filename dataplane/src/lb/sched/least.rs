//! The schedulers that look only at weights and connection counts: lc (ip_vs_lc.c), wlc
//! (ip_vs_wlc.c), sed (ip_vs_sed.c), nq (ip_vs_nq.c), fo (ip_vs_fo.c) and ovf (ip_vs_ovf.c).
//!
//! Each follows its kernel file's loop exactly, including which servers it skips and how it
//! breaks ties (the earlier server is kept). The kernel compares `overhead * weight` products in
//! `s64`; here they are `u128`, which no count or weight can overflow.

use super::View;

/// `a * b` without overflow, for the weighted comparisons.
#[inline]
pub(super) fn mul(a: u64, b: u64) -> u128 {
    u128::from(a) * u128::from(b)
}

/// lc: the server with the smallest overhead (active * 256 + inactive) among those with weight > 0
/// and not overloaded; a later server replaces the least only when strictly smaller.
pub(super) fn lc(v: &View<'_>) -> Option<usize> {
    let mut least: Option<(usize, u64)> = None;
    for i in 0..v.len() {
        if v.overloaded(i) || v.weight(i) == 0 {
            continue;
        }
        let doh = v.overhead(i);
        if least.is_none_or(|(_, loh)| doh < loh) {
            least = Some((i, doh));
        }
    }
    least.map(|(i, _)| i)
}

/// wlc: the smallest overhead / weight, compared as `loh * w(d) > doh * w(least)` to replace.
pub(super) fn wlc(v: &View<'_>) -> Option<usize> {
    weighted_least(v, |i| v.overhead(i))
}

/// sed: as wlc with the expected delay, active + 1, as the overhead.
pub(super) fn sed(v: &View<'_>) -> Option<usize> {
    weighted_least(v, |i| v.active(i) + 1)
}

/// The loop shared by wlc and sed (and the wlc pick of lblc and lblcr): the first server that is
/// not overloaded and has weight > 0 starts; later servers are skipped only when overloaded (one
/// with weight 0 cannot win: `loh * 0 > doh * w` never holds).
fn weighted_least(v: &View<'_>, cost: impl Fn(usize) -> u64) -> Option<usize> {
    let first = (0..v.len()).find(|&i| !v.overloaded(i) && v.weight(i) > 0)?;
    let (mut least, mut loh) = (first, cost(first));
    for i in first + 1..v.len() {
        if v.overloaded(i) {
            continue;
        }
        let doh = cost(i);
        if mul(loh, v.weight(i)) > mul(doh, v.weight(least)) {
            (least, loh) = (i, doh);
        }
    }
    Some(least)
}

/// nq: the first idle server (no active connection) among those with weight > 0 and not
/// overloaded; otherwise as sed.
pub(super) fn nq(v: &View<'_>) -> Option<usize> {
    let mut least: Option<(usize, u64)> = None;
    for i in 0..v.len() {
        if v.overloaded(i) || v.weight(i) == 0 {
            continue;
        }
        let active = v.active(i);
        if active == 0 {
            return Some(i);
        }
        let doh = active + 1;
        if least.is_none_or(|(l, loh)| mul(loh, v.weight(i)) > mul(doh, v.weight(l))) {
            least = Some((i, doh));
        }
    }
    least.map(|(i, _)| i)
}

/// fo: the server with the highest weight that is not overloaded; the first on ties.
pub(super) fn fo(v: &View<'_>) -> Option<usize> {
    let mut best: Option<usize> = None;
    let mut hw = 0;
    for i in 0..v.len() {
        if !v.overloaded(i) && v.weight(i) > hw {
            (best, hw) = (Some(i), v.weight(i));
        }
    }
    best
}

/// ovf: the server with the highest weight among those not overloaded, with weight > 0 and no more
/// active connections than their weight; the first on ties.
pub(super) fn ovf(v: &View<'_>) -> Option<usize> {
    let mut best: Option<(usize, u64)> = None;
    for i in 0..v.len() {
        let w = v.weight(i);
        if v.overloaded(i) || v.active(i) > w || w == 0 {
            continue;
        }
        if best.is_none_or(|(_, hw)| w > hw) {
            best = Some((i, w));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Bench, letter, servers};
    use super::super::{DestLoad, SchedKind};

    /// One pick of `kind` over servers with these weights and (active, inactive) counts.
    fn pick(kind: SchedKind, weights: &[u32], counts: &[(u32, u32)]) -> char {
        let mut b = Bench::new(kind, &servers(weights));
        b.loads = counts.iter().map(|&(active, inactive)| DestLoad { active, inactive }).collect();
        letter(b.pick())
    }

    #[test]
    fn lc_takes_the_smallest_overhead_and_keeps_the_earlier_on_ties() {
        // Overheads 256*1+0, 0*256+200, 0*256+100.
        assert_eq!(pick(SchedKind::Lc, &[1, 1, 1], &[(1, 0), (0, 200), (0, 100)]), 'C');
        // One active connection outweighs 255 inactive ones.
        assert_eq!(pick(SchedKind::Lc, &[1, 1], &[(1, 0), (0, 255)]), 'B');
        assert_eq!(pick(SchedKind::Lc, &[1, 1], &[(1, 0), (0, 256)]), 'A');
        // Weights do not matter, except 0 which quiesces.
        assert_eq!(pick(SchedKind::Lc, &[1, 100], &[(0, 5), (0, 6)]), 'A');
        assert_eq!(pick(SchedKind::Lc, &[0, 1], &[(0, 0), (9, 9)]), 'B');
        assert_eq!(pick(SchedKind::Lc, &[0, 0], &[(0, 0), (0, 0)]), '-');
    }

    #[test]
    fn lc_spreads_new_connections_evenly() {
        let mut b = Bench::new(SchedKind::Lc, &servers(&[1, 5, 1]));
        assert_eq!(b.sequence_counting(7), "ABCABCA");
    }

    #[test]
    fn wlc_minimises_overhead_per_weight() {
        // 256/1 vs 512/3: B.
        assert_eq!(pick(SchedKind::Wlc, &[1, 3], &[(1, 0), (2, 0)]), 'B');
        // 256/1 vs 768/3 tie: the earlier stays.
        assert_eq!(pick(SchedKind::Wlc, &[1, 3], &[(1, 0), (3, 0)]), 'A');
        assert_eq!(pick(SchedKind::Wlc, &[2, 1, 2], &[(0, 0), (0, 0), (0, 0)]), 'A');
        // Weight 0 never starts nor wins.
        assert_eq!(pick(SchedKind::Wlc, &[0, 1], &[(0, 0), (50, 0)]), 'B');
        assert_eq!(pick(SchedKind::Wlc, &[1, 0], &[(50, 0), (0, 0)]), 'A');
        assert_eq!(pick(SchedKind::Wlc, &[0, 0], &[(0, 0), (0, 0)]), '-');
    }

    #[test]
    fn wlc_follows_weights_as_connections_grow() {
        let mut b = Bench::new(SchedKind::Wlc, &servers(&[1, 2]));
        // Ties keep the earlier server: A(0/1) = B(0/2); then B until it has twice A's load.
        assert_eq!(b.sequence_counting(9), "ABBABBABB");
    }

    #[test]
    fn sed_counts_the_new_connection() {
        // wlc: 0/1 vs 0/4 tie, A. sed: 1/1 vs 1/4, B.
        assert_eq!(pick(SchedKind::Wlc, &[1, 4], &[(0, 0), (0, 0)]), 'A');
        assert_eq!(pick(SchedKind::Sed, &[1, 4], &[(0, 0), (0, 0)]), 'B');
        // Inactive connections do not count: (2+1)/1 vs (3+1)/4.
        assert_eq!(pick(SchedKind::Sed, &[1, 4], &[(2, 0), (3, 900)]), 'B');
        let mut b = Bench::new(SchedKind::Sed, &servers(&[1, 4]));
        assert_eq!(b.sequence_counting(10), "BBBABBBBAB");
    }

    #[test]
    fn nq_takes_the_first_idle_server_then_behaves_as_sed() {
        // C is idle: taken although B is better by sed.
        assert_eq!(pick(SchedKind::Nq, &[1, 10, 1], &[(1, 0), (1, 0), (0, 7)]), 'C');
        // None idle: sed, (1+1)/1 vs (1+1)/10.
        assert_eq!(pick(SchedKind::Nq, &[1, 10, 1], &[(1, 0), (1, 0), (3, 0)]), 'B');
        // An idle server with weight 0 is skipped.
        assert_eq!(pick(SchedKind::Nq, &[0, 1], &[(0, 0), (5, 0)]), 'B');
        // Ties keep the earlier.
        assert_eq!(pick(SchedKind::Nq, &[2, 2], &[(1, 0), (1, 0)]), 'A');
    }

    #[test]
    fn fo_takes_the_highest_weight_first_on_ties() {
        assert_eq!(pick(SchedKind::Fo, &[1, 3, 3, 2], &[(0, 0); 4]), 'B');
        assert_eq!(pick(SchedKind::Fo, &[0, 0], &[(0, 0); 2]), '-');
        // Load does not matter.
        assert_eq!(pick(SchedKind::Fo, &[5, 1], &[(1000, 0), (0, 0)]), 'A');
    }

    #[test]
    fn ovf_overflows_once_active_connections_exceed_the_weight() {
        let mut b = Bench::new(SchedKind::Ovf, &servers(&[1, 3, 2]));
        // B takes 4 (active 0..=3 is <= 3), then C 3, then A 2, then nothing.
        assert_eq!(b.sequence_counting(10), "BBBBCCCAA-");
        // Inactive connections do not count.
        assert_eq!(pick(SchedKind::Ovf, &[1, 3], &[(0, 0), (3, 500)]), 'B');
        assert_eq!(pick(SchedKind::Ovf, &[2, 2], &[(0, 0), (0, 0)]), 'A');
        assert_eq!(pick(SchedKind::Ovf, &[0, 1], &[(0, 0), (0, 0)]), 'B');
    }

    #[test]
    fn overloaded_servers_are_skipped_by_every_least_scheduler() {
        for kind in [SchedKind::Lc, SchedKind::Wlc, SchedKind::Sed, SchedKind::Nq, SchedKind::Fo, SchedKind::Ovf] {
            let mut d = servers(&[5, 1]);
            d[0].upper = 1;
            let mut b = Bench::new(kind, &d);
            b.loads[1].active = 1;
            assert_eq!(letter(b.pick()), 'A', "{kind}");
            b.loads[0].inactive = 1;
            assert_eq!(letter(b.pick()), 'B', "{kind}");
            // And with nobody else available, nothing.
            b.loads[1].active = 0;
            b.dests[1].weight = 0;
            assert_eq!(letter(b.pick()), '-', "{kind}");
        }
    }
}
