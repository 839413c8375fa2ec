//! Test helpers shared by the schedulers' tests: real servers by weight and a bench that drives one
//! `SchedState` with counts the test sets.

use std::net::Ipv4Addr;

use super::{DestLoad, SchedCtx, SchedFlags, SchedKind, SchedState};
use crate::lb::service::{DestId, FwdMethod, RealServer};

/// Real servers 192.168.1.1, .2, ... port 80 with these weights, identities 0, 1, ...
pub(super) fn servers(weights: &[u32]) -> Vec<RealServer> {
    weights.iter().enumerate().map(|(i, &w)| server(i, w)).collect()
}

/// Real server number `i` (identity `i`, address 192.168.1.(i+1), port 80).
pub(super) fn server(i: usize, weight: u32) -> RealServer {
    RealServer {
        id: DestId(u32::try_from(i).unwrap()),
        addr: Ipv4Addr::new(192, 168, 1, u8::try_from(i + 1).unwrap()),
        port: 80,
        weight,
        method: FwdMethod::FullNat,
        upper: 0,
        lower: 0,
    }
}

/// The letter of a pick: A for the first server, `-` for none.
pub(super) fn letter(pick: Option<usize>) -> char {
    pick.map_or('-', |i| char::from(b'A' + u8::try_from(i).unwrap()))
}

/// One scheduler over a list of real servers, with the connection counts and packet fields the
/// test sets.
pub(super) struct Bench {
    pub(super) dests: Vec<RealServer>,
    pub(super) state: SchedState,
    pub(super) loads: Vec<DestLoad>,
    pub(super) src: Ipv4Addr,
    pub(super) sport: u16,
    pub(super) dst: Ipv4Addr,
    pub(super) now: u64,
}

impl Bench {
    pub(super) fn new(kind: SchedKind, dests: &[RealServer]) -> Self {
        Self::with_flags(kind, SchedFlags::default(), dests)
    }

    pub(super) fn with_flags(kind: SchedKind, flags: SchedFlags, dests: &[RealServer]) -> Self {
        Self {
            dests: dests.to_vec(),
            state: SchedState::new(kind, flags, dests),
            loads: vec![DestLoad::default(); dests.len()],
            src: Ipv4Addr::new(10, 0, 0, 1),
            sport: 40000,
            dst: Ipv4Addr::new(10, 0, 0, 100),
            now: 0,
        }
    }

    pub(super) fn pick(&mut self) -> Option<usize> {
        let ctx = SchedCtx {
            src: self.src,
            sport: self.sport,
            dst: self.dst,
            now: self.now,
            loads: &self.loads,
            cursor: None,
        };
        self.state.pick(&self.dests, &ctx)
    }

    /// A pick for this client address.
    pub(super) fn pick_for(&mut self, src: Ipv4Addr) -> Option<usize> {
        self.src = src;
        self.pick()
    }

    /// `n` picks as letters, the counts unchanged.
    pub(super) fn sequence(&mut self, n: usize) -> String {
        (0..n).map(|_| letter(self.pick())).collect()
    }

    /// `n` picks, each counted as a new active connection of the server picked.
    pub(super) fn sequence_counting(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| {
                let p = self.pick();
                if let Some(i) = p {
                    self.loads[i].active += 1;
                }
                letter(p)
            })
            .collect()
    }

    /// New real servers (counts kept by position, new ones zero).
    pub(super) fn change(&mut self, dests: &[RealServer]) {
        self.dests = dests.to_vec();
        self.loads.resize(dests.len(), DestLoad::default());
        self.state.dests_changed(dests);
    }
}
