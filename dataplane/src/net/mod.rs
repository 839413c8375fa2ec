//! L2/L3 around the load balancer: the gateway's interfaces and addresses, static routes, and the
//! neighbour table that gives next hops their MAC addresses.
//!
//! Built by the control side from the configuration and shared read-only by the workers. Lookups do
//! not allocate.

pub mod addr;
pub mod arp;
pub mod neigh;
pub mod reasm;
pub mod route;
pub mod token_bucket;

pub use addr::{Ipv4Net, NetParseError};
pub use neigh::{Learn, NeighEntry, NeighManager, NeighTable, NeighTimers, Neighbour};
pub use route::{Route, RouteTable};
pub use token_bucket::TokenBucket;

use std::net::Ipv4Addr;

use crate::packet::MacAddr;

/// Index of a port (interface) of the gateway, in configuration order.
pub type PortIdx = u16;

/// One interface of the gateway as the forwarding code sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// The operator's name for the port.
    pub name: String,
    /// The port's MAC address: the source of every frame sent on it.
    pub mac: MacAddr,
    /// The port's own addresses, with their connected prefixes.
    pub addrs: Vec<Ipv4Net>,
    /// The largest IPv4 packet the port sends (bytes, Ethernet header excluded).
    pub mtu: u16,
}

/// The MTU of a port unless configured otherwise.
pub const DEFAULT_MTU: u16 = 1500;

impl Interface {
    /// Whether `addr` is one of this port's own addresses.
    pub fn owns(&self, addr: Ipv4Addr) -> bool {
        self.addrs.iter().any(|n| n.addr == addr)
    }

    /// The address this port speaks from to `peer`: its address on `peer`'s prefix, else its first
    /// (`None` for a port without addresses).
    pub fn addr_toward(&self, peer: Ipv4Addr) -> Option<Ipv4Addr> {
        self.addrs.iter().find(|n| n.contains(peer)).or(self.addrs.first()).map(|n| n.addr)
    }
}
