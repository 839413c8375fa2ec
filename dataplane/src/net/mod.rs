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
    /// The port's kernel twin, when it has one: the gateway's own traffic (to the port's
    /// addresses, and what fnatd does not answer itself) goes to the kernel through it.
    pub kernel: Option<KernelPath>,
}

/// A port's exception path to the kernel: its twin interface and the rate of frames it takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelPath {
    /// The twin's interface name in the kernel.
    pub iface: String,
    /// Frames a second the kernel gets from this port at most (the whole gateway's; each worker
    /// has its share).
    pub rate: u32,
    /// Frames the kernel may get at once after a quiet while (the whole gateway's).
    pub burst: u32,
}

impl KernelPath {
    /// Frames a second the twin takes by default: more than the checks of 10,000 real servers a
    /// second need, far less than a flood.
    pub const DEFAULT_RATE: u32 = 100_000;
    /// Frames taken at once by default.
    pub const DEFAULT_BURST: u32 = 10_000;

    /// One worker's share of the bucket among `workers`: the rate and burst divided evenly (at
    /// least one frame each).
    pub fn share(&self, workers: usize) -> TokenBucket {
        let n = u32::try_from(workers.max(1)).unwrap_or(u32::MAX);
        TokenBucket::new((self.rate / n).max(1), (self.burst / n).max(1))
    }
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
