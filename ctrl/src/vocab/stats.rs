//! Traffic counters and rates as IPVS keeps them (`ipvsadm -L --stats`, `--rate`): what the
//! workers count, what the statistics book folds, and what a listing carries.

use serde::{Deserialize, Serialize};

/// What IPVS counts for a real server, a service or the gateway.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counters {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets from clients.
    pub inpkts: u64,
    /// Packets from real servers.
    pub outpkts: u64,
    /// Bytes from clients (IP packets as received).
    pub inbytes: u64,
    /// Bytes from real servers.
    pub outbytes: u64,
}

impl Counters {
    /// Adds `o`, field by field (saturating).
    pub fn add(&mut self, o: &Counters) {
        self.conns = self.conns.saturating_add(o.conns);
        self.inpkts = self.inpkts.saturating_add(o.inpkts);
        self.outpkts = self.outpkts.saturating_add(o.outpkts);
        self.inbytes = self.inbytes.saturating_add(o.inbytes);
        self.outbytes = self.outbytes.saturating_add(o.outbytes);
    }

    /// What was counted since `earlier`; a field that went down (its counter started again)
    /// counts from zero.
    pub fn since(&self, earlier: &Counters) -> Counters {
        let d = |now: u64, then: u64| now.checked_sub(then).unwrap_or(now);
        Counters {
            conns: d(self.conns, earlier.conns),
            inpkts: d(self.inpkts, earlier.inpkts),
            outpkts: d(self.outpkts, earlier.outpkts),
            inbytes: d(self.inbytes, earlier.inbytes),
            outbytes: d(self.outbytes, earlier.outbytes),
        }
    }
}

/// Rates as `ipvsadm -L --rate` shows them: per second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    /// Connections per second.
    pub cps: u64,
    /// Packets per second from clients.
    pub inpps: u64,
    /// Packets per second from real servers.
    pub outpps: u64,
    /// Bytes per second from clients.
    pub inbps: u64,
    /// Bytes per second from real servers.
    pub outbps: u64,
}
