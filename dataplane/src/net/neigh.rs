//! Neighbours: next-hop address -> MAC address and port, learned from ARP and aged.
//!
//! Two halves. [`NeighTable`] is an immutable snapshot that every worker reads (through an `Arc`)
//! when it fills in MAC addresses. [`NeighManager`] lives on the control lcore: it merges what the
//! workers learn from ARP (static entries from the configuration never change), ages learned
//! entries, and builds a new snapshot whenever an entry appears, changes, is reconfirmed after it
//! went stale, or is removed. Workers ask again (ARP) for an entry that is stale; an entry that stays
//! unconfirmed for [`NeighTimers::expire_ms`] after it went stale is removed, so a neighbour that
//! went away is resolved anew.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::net::Ipv4Addr;
use std::sync::Arc;

use super::PortIdx;
use crate::hash::KeyHasher;
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

/// What the table knows of one neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighEntry {
    /// Its MAC address.
    pub mac: MacAddr,
    /// The port it is reached through.
    pub port: PortIdx,
    /// When an ARP message from it was last seen (ms); `u64::MAX` for a static entry.
    pub confirmed_ms: u64,
}

impl NeighEntry {
    /// Whether the entry should be confirmed again (a worker then sends a unicast ARP request).
    #[inline]
    pub fn is_stale(&self, now: u64, timers: &NeighTimers) -> bool {
        now >= self.fresh_until(timers)
    }

    /// When the entry becomes stale: `reachable_ms` after its last confirmation; never for a
    /// static entry.
    #[inline]
    pub fn fresh_until(&self, timers: &NeighTimers) -> u64 {
        if self.confirmed_ms == u64::MAX { u64::MAX } else { self.confirmed_ms.saturating_add(timers.reachable_ms) }
    }
}

/// Aging of learned entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighTimers {
    /// An entry confirmed this long ago is stale: still used, but asked for again.
    pub reachable_ms: u64,
    /// A stale entry unconfirmed for this long more is removed.
    pub expire_ms: u64,
}

impl Default for NeighTimers {
    /// 60 s reachable, removed 30 s after that.
    fn default() -> Self {
        Self { reachable_ms: 60_000, expire_ms: 30_000 }
    }
}

/// The most learned entries kept; beyond it new neighbours are refused (a flood of ARP from
/// spoofed senders cannot grow the table without bound).
pub const MAX_LEARNED: usize = 65_536;

/// Neighbours by address: the snapshot the workers read.
#[derive(Clone, Debug, Default)]
pub struct NeighTable {
    by_addr: HashMap<Ipv4Addr, NeighEntry, BuildHasherDefault<KeyHasher>>,
    /// Aging timers, for the workers' stale checks.
    pub timers: NeighTimers,
}

impl NeighTable {
    /// A table of static entries; a later entry for the same address replaces an earlier one.
    pub fn new(entries: &[Neighbour]) -> Self {
        let by_addr =
            entries.iter().map(|n| (n.addr, NeighEntry { mac: n.mac, port: n.port, confirmed_ms: u64::MAX })).collect();
        Self { by_addr, timers: NeighTimers::default() }
    }

    /// The entry for this address, if known.
    #[inline]
    pub fn lookup(&self, addr: Ipv4Addr) -> Option<&NeighEntry> {
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

    /// All entries.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Addr, &NeighEntry)> {
        self.by_addr.iter().map(|(a, e)| (*a, e))
    }
}

/// The control side's neighbour table: learns, ages, publishes.
#[derive(Debug)]
pub struct NeighManager {
    table: NeighTable,
    learned: usize,
    published: Arc<NeighTable>,
    dirty: bool,
}

/// What happened to a learned address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learn {
    /// A new entry.
    Added,
    /// The MAC address or port changed, or a stale entry was confirmed.
    Updated,
    /// Confirmed, nothing the workers need to know yet.
    Confirmed,
    /// A static entry, left as configured.
    Static,
    /// The table is full.
    Full,
}

impl NeighManager {
    /// A manager starting from the static entries of the configuration.
    pub fn new(statics: &[Neighbour], timers: NeighTimers) -> Self {
        let mut table = NeighTable::new(statics);
        table.timers = timers;
        let published = Arc::new(table.clone());
        Self { table, learned: 0, published, dirty: false }
    }

    /// Records that `addr` answers at `mac` behind `port` at `now`.
    pub fn learn(&mut self, addr: Ipv4Addr, mac: MacAddr, port: PortIdx, now: u64) -> Learn {
        let timers = self.table.timers;
        match self.table.by_addr.get_mut(&addr) {
            Some(e) if e.confirmed_ms == u64::MAX => Learn::Static,
            Some(e) => {
                let changed = e.mac != mac || e.port != port || e.is_stale(now, &timers);
                *e = NeighEntry { mac, port, confirmed_ms: now };
                if changed {
                    self.dirty = true;
                    Learn::Updated
                } else {
                    Learn::Confirmed
                }
            }
            None if self.learned >= MAX_LEARNED => Learn::Full,
            None => {
                self.table.by_addr.insert(addr, NeighEntry { mac, port, confirmed_ms: now });
                self.learned += 1;
                self.dirty = true;
                Learn::Added
            }
        }
    }

    /// Removes learned entries that stayed unconfirmed too long. Returns how many.
    pub fn age(&mut self, now: u64) -> usize {
        let t = self.table.timers;
        let before = self.table.by_addr.len();
        self.table.by_addr.retain(|_, e| {
            e.confirmed_ms == u64::MAX || now.saturating_sub(e.confirmed_ms) < t.reachable_ms + t.expire_ms
        });
        let removed = before - self.table.by_addr.len();
        if removed > 0 {
            self.learned -= removed;
            self.dirty = true;
        }
        removed
    }

    /// A new snapshot for the workers if anything they need changed since the last one.
    pub fn publish(&mut self) -> Option<Arc<NeighTable>> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        self.published = Arc::new(self.table.clone());
        Some(Arc::clone(&self.published))
    }

    /// The last snapshot handed out.
    pub fn current(&self) -> Arc<NeighTable> {
        Arc::clone(&self.published)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 11);
    const MAC1: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const MAC2: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
    const T: NeighTimers = NeighTimers { reachable_ms: 1000, expire_ms: 500 };

    #[test]
    fn learning_publishes_only_what_workers_need() {
        let mut m = NeighManager::new(&[], T);
        assert!(m.publish().is_none());
        assert_eq!(m.learn(A, MAC1, 1, 0), Learn::Added);
        let t = m.publish().unwrap();
        assert_eq!(t.lookup(A).map(|e| (e.mac, e.port)), Some((MAC1, 1)));
        assert_eq!(m.learn(A, MAC1, 1, 10), Learn::Confirmed);
        assert!(m.publish().is_none(), "a fresh confirmation changes nothing for the workers");
        assert_eq!(m.learn(A, MAC2, 1, 20), Learn::Updated);
        assert_eq!(m.publish().unwrap().lookup(A).unwrap().mac, MAC2);
        // Stale, then confirmed again: the workers must learn that it is fresh.
        assert!(m.current().lookup(A).unwrap().is_stale(1020, &T));
        assert_eq!(m.learn(A, MAC2, 1, 1100), Learn::Updated);
        assert!(!m.publish().unwrap().lookup(A).unwrap().is_stale(1200, &T));
    }

    #[test]
    fn unconfirmed_entries_age_out_and_statics_stay() {
        let stat = Neighbour { addr: Ipv4Addr::new(10, 0, 0, 254), mac: MAC1, port: 0 };
        let mut m = NeighManager::new(&[stat], T);
        m.learn(A, MAC1, 1, 0);
        m.publish();
        assert_eq!(m.age(1499), 0);
        assert_eq!(m.age(1500), 1);
        let t = m.publish().unwrap();
        assert!(t.lookup(A).is_none());
        assert!(t.lookup(stat.addr).is_some());
        assert_eq!(m.learn(stat.addr, MAC2, 0, 5), Learn::Static);
        assert_eq!(m.current().lookup(stat.addr).unwrap().mac, MAC1);
        assert!(!m.current().lookup(stat.addr).unwrap().is_stale(u64::MAX - 1, &T));
    }

    #[test]
    fn the_learned_table_is_bounded() {
        let mut m = NeighManager::new(&[], T);
        for i in 0..MAX_LEARNED {
            let ip = Ipv4Addr::from(0x0a00_0000 + u32::try_from(i).unwrap());
            assert_eq!(m.learn(ip, MAC1, 0, 0), Learn::Added);
        }
        assert_eq!(m.learn(Ipv4Addr::new(192, 0, 2, 1), MAC1, 0, 0), Learn::Full);
        assert_eq!(m.age(10_000), MAX_LEARNED);
        assert_eq!(m.learn(Ipv4Addr::new(192, 0, 2, 1), MAC1, 0, 0), Learn::Added);
    }
}
