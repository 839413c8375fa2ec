//! The neighbour table: next-hop address -> MAC address and port.
//!
//! Static entries from the configuration for now; ARP resolution and aging extend this table. Shared
//! read-only by the workers.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::net::Ipv4Addr;

use super::PortIdx;
use crate::lb::service::KeyHasher;
use crate::packet::MacAddr;

/// A neighbour: a host on one of the gateway's links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Neighbour {
    /// Its IPv4 address.
    pub addr: Ipv4Addr,
    /// Its MAC address.
    pub mac: MacAddr,
    /// The port it is reached through.
    pub port: PortIdx,
}

/// Neighbours by address.
#[derive(Clone, Debug, Default)]
pub struct NeighTable {
    by_addr: HashMap<Ipv4Addr, Neighbour, BuildHasherDefault<KeyHasher>>,
}

impl NeighTable {
    /// A table of static entries; a later entry for the same address replaces an earlier one.
    pub fn new(entries: &[Neighbour]) -> Self {
        Self {
            by_addr: entries.iter().map(|n| (n.addr, *n)).collect(),
        }
    }

    /// The neighbour with this address, if known.
    #[inline]
    pub fn lookup(&self, addr: Ipv4Addr) -> Option<&Neighbour> {
        self.by_addr.get(&addr)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }
}
