//! Schedulers: pick a real server for a new connection, with IPVS semantics
//! (see ../shared/IPVS-SEMANTICS.md and Linux's ip_vs_rr.c / ip_vs_wrr.c).
//!
//! The scheduler's mutable state (`SchedState`) is owned by the worker that schedules; the list of
//! destinations comes from the immutable service snapshot. `pick` never allocates.

use std::fmt;
use std::str::FromStr;

use super::service::RealServer;

/// A scheduling algorithm, as named by ipvsadm's `-s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SchedKind {
    /// Round robin.
    Rr,
    /// Weighted round robin (IPVS interleaving).
    Wrr,
}

impl SchedKind {
    /// The ipvsadm name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rr => "rr",
            Self::Wrr => "wrr",
        }
    }
}

impl fmt::Display for SchedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Scheduler flags, ipvsadm's `-b` (IPVS's `IP_VS_SVC_F_SCHED1..3`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SchedFlags {
    /// `flag-1`: `sh-fallback` / `mh-fallback`: look past an unavailable server.
    pub fallback: bool,
    /// `flag-2`: `sh-port` / `mh-port`: hash the source port too.
    pub port: bool,
    /// `flag-3`: no meaning to any scheduler yet; kept as given.
    pub flag3: bool,
}

/// IPVS schedulers that fnat knows by name but does not implement yet.
const NOT_YET: &[&str] = &["wlc", "lc", "sh", "dh", "sed", "nq", "lblc", "lblcr", "fo", "ovf", "mh"];

/// Why a scheduler name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedParseError {
    /// An IPVS scheduler that fnat does not implement yet.
    #[error("scheduler '{0}' is not supported yet (supported: rr, wrr)")]
    NotSupportedYet(String),
    /// Not an IPVS scheduler name at all.
    #[error("unknown scheduler '{0}' (supported: rr, wrr)")]
    Unknown(String),
}

impl FromStr for SchedKind {
    type Err = SchedParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rr" => Ok(Self::Rr),
            "wrr" => Ok(Self::Wrr),
            other if NOT_YET.contains(&other) => Err(SchedParseError::NotSupportedYet(other.to_owned())),
            other => Err(SchedParseError::Unknown(other.to_owned())),
        }
    }
}

/// The mutable state of one service's scheduler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SchedState {
    /// Round robin: the index of the last destination chosen (`None`: start at the first).
    Rr {
        /// Last choice.
        last: Option<usize>,
    },
    /// Weighted round robin, IPVS's `ip_vs_wrr_mark`.
    Wrr {
        /// Last choice (`cl`); `None` is the list head, before the first destination.
        last: Option<usize>,
        /// Current weight.
        cw: i64,
        /// Maximum weight minus (gcd - 1).
        mw: i64,
        /// The gcd of the positive weights.
        di: i64,
    },
}

impl SchedState {
    /// Fresh state for a scheduler over these destinations (IPVS `init_svc`).
    pub fn new(kind: SchedKind, dests: &[RealServer]) -> Self {
        match kind {
            SchedKind::Rr => Self::Rr { last: None },
            SchedKind::Wrr => {
                let (mw, di) = wrr_bounds(dests);
                Self::Wrr { last: None, cw: mw, mw, di }
            }
        }
    }

    /// Adjusts the state after the destinations changed (IPVS `update_svc` / `dest_changed`):
    /// the cursor returns to the list head and wrr's current weight is clamped back into range.
    pub fn dests_changed(&mut self, dests: &[RealServer]) {
        match self {
            Self::Rr { last } => *last = None,
            Self::Wrr { last, cw, mw, di } => {
                *last = None;
                (*mw, *di) = wrr_bounds(dests);
                if *cw > *mw || *cw == 0 {
                    *cw = *mw;
                } else if *di > 1 {
                    *cw = (*cw / *di) * *di + 1;
                }
            }
        }
    }

    /// Picks the destination for a new connection; `None` when no destination is eligible.
    pub fn pick(&mut self, dests: &[RealServer]) -> Option<usize> {
        match self {
            Self::Rr { last } => {
                let n = dests.len();
                let start = last.map_or(0, |l| l + 1);
                let found = (0..n).map(|k| (start + k) % n).find(|&i| dests[i].is_eligible())?;
                *last = Some(found);
                Some(found)
            }
            Self::Wrr { last, cw, mw, di } => wrr_pick(dests, last, cw, *mw, *di),
        }
    }
}

/// (mw, di) for wrr: di is the gcd of the positive weights (1 if none), mw = max weight - (di - 1).
fn wrr_bounds(dests: &[RealServer]) -> (i64, i64) {
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

/// IPVS `ip_vs_wrr_schedule`: walk on from the last choice to the first eligible destination whose
/// weight reaches `cw`; at the end of the list lower `cw` by `di`, restarting at `mw` below 1. The
/// `last_pass`/`stop` bookkeeping ends the search once every destination was tried at weight >= 1.
fn wrr_pick(dests: &[RealServer], cl: &mut Option<usize>, cw: &mut i64, mw: i64, di: i64) -> Option<usize> {
    if mw <= 0 || dests.is_empty() {
        return None;
    }
    let last = *cl;
    let mut pos = *cl;
    let mut stop: Option<usize> = None;
    let mut last_pass = false;
    let mut restarted = false;
    loop {
        let from = pos.map_or(0, |p| p + 1);
        for (i, d) in dests.iter().enumerate().skip(from) {
            if d.is_eligible() && i64::from(d.weight) >= *cw {
                *cl = Some(i);
                return Some(i);
            }
            if stop == Some(i) {
                *cl = Some(i);
                return None;
            }
        }
        pos = None;
        *cw -= di;
        if *cw <= 0 {
            *cw = mw;
            if last_pass || last.is_none() {
                *cl = None;
                return None;
            }
            restarted = true;
        }
        last_pass = *cw <= di;
        if last_pass && restarted && last.is_some() {
            stop = last;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
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

    fn sequence(kind: SchedKind, d: &[RealServer], n: usize) -> String {
        let mut st = SchedState::new(kind, d);
        (0..n).map(|_| st.pick(d).map_or('-', |i| char::from(b'A' + u8::try_from(i).unwrap()))).collect()
    }

    #[test]
    fn rr_cycles_over_eligible_servers() {
        assert_eq!(sequence(SchedKind::Rr, &dests(&[1, 1, 1]), 7), "ABCABCA");
        assert_eq!(sequence(SchedKind::Rr, &dests(&[1, 0, 5]), 5), "ACACA");
        assert_eq!(sequence(SchedKind::Rr, &dests(&[0, 0]), 2), "--");
        assert_eq!(sequence(SchedKind::Rr, &[], 2), "--");
    }

    #[test]
    fn wrr_interleaves_like_ipvs() {
        assert_eq!(sequence(SchedKind::Wrr, &dests(&[4, 3, 2]), 18), "AABABCABCAABABCABC");
        assert_eq!(sequence(SchedKind::Wrr, &dests(&[4, 2, 2]), 8), "AABCAABC");
        assert_eq!(sequence(SchedKind::Wrr, &dests(&[1, 1, 1]), 6), "ABCABC");
        assert_eq!(sequence(SchedKind::Wrr, &dests(&[0, 3, 0]), 3), "BBB");
    }

    #[test]
    fn wrr_shares_follow_weights() {
        let d = dests(&[5, 3, 1, 7]);
        let mut st = SchedState::new(SchedKind::Wrr, &d);
        let mut count = [0u32; 4];
        for _ in 0..16 * 100 {
            count[st.pick(&d).unwrap()] += 1;
        }
        assert_eq!(count, [500, 300, 100, 700]);
    }

    #[test]
    fn wrr_without_positive_weight_finds_nothing() {
        assert_eq!(sequence(SchedKind::Wrr, &dests(&[0, 0, 0]), 3), "---");
        assert_eq!(sequence(SchedKind::Wrr, &[], 1), "-");
    }

    #[test]
    fn wrr_clamps_after_a_change() {
        let d = dests(&[4, 3, 2]);
        let mut st = SchedState::new(SchedKind::Wrr, &d);
        st.pick(&d);
        // Weights drop: the current weight is clamped into the new range and the cursor restarts.
        let smaller = dests(&[1, 1]);
        st.dests_changed(&smaller);
        assert!(matches!(st, SchedState::Wrr { last: None, cw: 1, mw: 1, di: 1 }));
        assert_eq!(st.pick(&smaller), Some(0));
        assert_eq!(st.pick(&smaller), Some(1));
    }

    #[test]
    fn scheduler_names_parse() {
        assert_eq!("wrr".parse::<SchedKind>(), Ok(SchedKind::Wrr));
        assert!(matches!("wlc".parse::<SchedKind>(), Err(SchedParseError::NotSupportedYet(_))));
        assert!(matches!("fastest".parse::<SchedKind>(), Err(SchedParseError::Unknown(_))));
    }
}
