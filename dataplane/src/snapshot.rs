//! The immutable forwarding configuration that every worker reads.
//!
//! Built by the control side (at start from the config file); shared by the workers through an `Arc`
//! that each worker derefs without touching the reference count per packet. A configuration change
//! builds a new snapshot; nothing in a snapshot is ever mutated.

use crate::config::Config;
use crate::lb::{Services, Timeouts};
use crate::net::{Interface, NeighTable, RouteTable};
use crate::packet::MacAddr;

/// Everything a worker needs to forward, apart from its own per-core state.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Virtual services and their real servers.
    pub services: Services,
    /// The gateway's ports, indexed by `PortIdx`.
    pub ifaces: Vec<Interface>,
    /// Routes, connected ones included.
    pub routes: RouteTable,
    /// Neighbours (next hops) and their MAC addresses.
    pub neigh: NeighTable,
    /// Connection timeouts.
    pub timeouts: Timeouts,
}

impl Snapshot {
    /// A snapshot over these parts; the route table gains the connected routes of `ifaces`.
    pub fn new(
        services: Services,
        ifaces: Vec<Interface>,
        statics: &[crate::net::Route],
        neigh: NeighTable,
        timeouts: Timeouts,
    ) -> Self {
        let routes = RouteTable::new(&ifaces, statics);
        Self {
            services,
            ifaces,
            routes,
            neigh,
            timeouts,
        }
    }

    /// The snapshot a configuration describes, given the MAC address each port really has.
    pub fn from_config(cfg: &Config, macs: &[MacAddr]) -> Self {
        Self::new(
            cfg.services.clone(),
            cfg.interfaces(macs),
            &cfg.routes,
            NeighTable::new(&cfg.neighbours),
            cfg.timeouts.clone(),
        )
    }
}
